//! [`Tier`]: one storage placed below a cache's memory, with its options (timeout, lifespan
//! cap, failure policy, circuit breaker), and their validation.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::storage::Storage;
use super::tier::{CircuitBreaker, OnError, DEFAULT_TIMEOUT};
use crate::BuildError;

/// A storage placed below a cache's memory, with its options. Add it with
/// [`CacheBuilder::tier`](crate::CacheBuilder::tier).
///
/// ```
/// # extern crate memocache_core as memocache;
/// use std::time::Duration;
/// use memocache::storage::MemoryStorage;
/// use memocache::tier::CircuitBreaker;
/// use memocache::Tier;
/// use memocache::Cache;
///
/// let second_level = MemoryStorage::<u64, String>::new(100_000);
/// let cache: Cache<u64, String> = Cache::builder()
///     .tier(
///         Tier::new(second_level)
///             .timeout(Duration::from_millis(200))
///             .expire_cap(Duration::from_secs(3600))
///             .circuit_breaker(CircuitBreaker { failure_threshold: 5, cool_down: Duration::from_secs(10) }),
///     )
///     .build()?;
/// # Ok::<(), memocache::BuildError>(())
/// ```
pub struct Tier<K, V> {
    pub(crate) storage: Arc<dyn Storage<K, V>>,
    pub(crate) name: Arc<str>,
    pub(crate) timeout: Duration,
    pub(crate) expire_cap: Option<Duration>,
    pub(crate) on_error: OnError,
    pub(crate) breaker: CircuitBreaker,
}

impl<K, V> fmt::Debug for Tier<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tier")
            .field("storage", &self.name)
            .field("timeout", &self.timeout)
            .field("expire_cap", &self.expire_cap)
            .field("on_error", &self.on_error)
            .field("breaker", &self.breaker)
            .finish()
    }
}

impl<K, V> Tier<K, V> {
    /// The tier with its storage in the key space of the cache `cache`
    /// ([`Storage::for_cache`]), if the storage has such spaces.
    pub(crate) fn for_cache(mut self, cache: &str) -> Self
    where
        K: 'static,
        V: 'static,
    {
        if let Some(storage) = self.storage.for_cache(cache) {
            self.storage = storage;
        }
        self
    }

    /// A tier over `storage` with the defaults: 1 s timeout, no lifespan cap, errors skipped,
    /// breaker opening after 3 failures for 5 s.
    pub fn new(storage: impl Storage<K, V>) -> Self
    where
        K: 'static,
        V: 'static,
    {
        Self::from_arc(Arc::new(storage))
    }

    /// A tier over a shared storage.
    pub fn from_arc(storage: Arc<dyn Storage<K, V>>) -> Self
    where
        K: 'static,
        V: 'static,
    {
        Tier {
            name: Arc::from(storage.name()),
            storage,
            timeout: DEFAULT_TIMEOUT,
            expire_cap: None,
            on_error: OnError::Skip,
            breaker: CircuitBreaker::default(),
        }
    }

    /// The per-operation timeout (default 1 s). Must be positive.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Entries written to this tier (by loads and backfills) expire at most this long after
    /// being written. Default: no cap, the entry's own lifespan.
    pub fn expire_cap(mut self, cap: Duration) -> Self {
        self.expire_cap = Some(cap);
        self
    }

    /// What errors do (default [`OnError::Skip`]).
    pub fn on_error(mut self, on_error: OnError) -> Self {
        self.on_error = on_error;
        self
    }

    /// The circuit breaker settings.
    pub fn circuit_breaker(mut self, breaker: CircuitBreaker) -> Self {
        self.breaker = breaker;
        self
    }
}

/// Validates tier options for the builder.
pub(crate) fn validate<K, V>(tiers: &[Tier<K, V>]) -> Result<(), BuildError> {
    if tiers.len() > super::chain::MAX_TIERS {
        return Err(BuildError::TooManyTiers(tiers.len()));
    }
    for t in tiers {
        if t.timeout.is_zero() {
            return Err(BuildError::ZeroTierTimeout);
        }
        if t.breaker.failure_threshold == 0 {
            return Err(BuildError::ZeroFailureThreshold);
        }
    }
    Ok(())
}
