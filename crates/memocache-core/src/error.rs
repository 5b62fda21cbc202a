//! Errors: what a caller of a loading method can get back ([`Error`]) and why a
//! builder refused its options ([`BuildError`]).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::storage::StorageError;

/// The error of a loading call such as [`Cache::get_or_load`](crate::Cache::get_or_load).
///
/// One load is shared by every caller waiting for the same key, so its outcome is shared
/// too: the loader's own error is wrapped in an [`Arc`] and every waiter receives a clone of
/// the same `Arc<E>`; `E` need not be `Clone`.
#[non_exhaustive]
pub enum Error<E> {
    /// The loader returned this error. Nothing was stored; the next request loads again
    /// (unless negative caching, [`CacheBuilder::cache_errors`](crate::CacheBuilder::cache_errors),
    /// remembers the error for its own lifespan).
    Load(Arc<E>),
    /// The loader did not finish within the cache's method timeout and was cancelled
    /// (dropped). Nothing was stored; the next request loads again.
    Timeout(Duration),
    /// The loader panicked (or the entry builder or weigher did, on the loaded value); the
    /// text is the panic message. The panic was caught: no lock is poisoned, every waiter got
    /// this error, nothing was stored, and the next request loads again.
    Panicked(Arc<str>),
    /// The load task was cancelled before finishing, which happens only when the runtime that
    /// ran it shut down (a Tokio runtime dropped while the load ran; smol's global executor
    /// never shuts down).
    Cancelled,
    /// A storage tier failed and is set to hand its errors to the caller
    /// ([`OnError::Propagate`](crate::tier::OnError::Propagate)). Tiers left at the default
    /// never produce this: their failures are counted, logged and treated as misses.
    Storage(StorageError),
    /// A batch loader ([`Cache::get_all`](crate::Cache::get_all)) returned no value for this
    /// key. Nothing was stored; the next request loads again.
    NotLoaded,
}

impl<E> Error<E> {
    /// The loader's own error, if this is [`Error::Load`].
    pub fn load_error(&self) -> Option<&E> {
        match self {
            Error::Load(e) => Some(e),
            _ => None,
        }
    }

    /// `true` for [`Error::Timeout`].
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout(_))
    }

    /// `true` for [`Error::Panicked`].
    pub fn is_panic(&self) -> bool {
        matches!(self, Error::Panicked(_))
    }
}

/// A storage tier's failure outside a load (an `invalidate` or `invalidate_all` that could
/// not reach a tier), so that `?` carries it into a function returning `Result<_, Error<E>>`.
impl<E> From<StorageError> for Error<E> {
    fn from(e: StorageError) -> Self {
        Error::Storage(e)
    }
}

impl<E> Clone for Error<E> {
    fn clone(&self) -> Self {
        match self {
            Error::Load(e) => Error::Load(Arc::clone(e)),
            Error::Timeout(d) => Error::Timeout(*d),
            Error::Panicked(m) => Error::Panicked(Arc::clone(m)),
            Error::Cancelled => Error::Cancelled,
            Error::Storage(e) => Error::Storage(e.clone()),
            Error::NotLoaded => Error::NotLoaded,
        }
    }
}

impl<E: fmt::Debug> fmt::Debug for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Load(e) => f.debug_tuple("Load").field(e).finish(),
            Error::Timeout(d) => f.debug_tuple("Timeout").field(d).finish(),
            Error::Panicked(m) => f.debug_tuple("Panicked").field(m).finish(),
            Error::Cancelled => f.write_str("Cancelled"),
            Error::Storage(e) => f.debug_tuple("Storage").field(e).finish(),
            Error::NotLoaded => f.write_str("NotLoaded"),
        }
    }
}

impl<E: fmt::Display> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Load(e) => write!(f, "the loader failed: {e}"),
            Error::Timeout(d) => write!(f, "the loader timed out after {d:?}"),
            Error::Panicked(m) => write!(f, "the loader panicked: {m}"),
            Error::Cancelled => f.write_str("the load was cancelled (runtime shut down)"),
            Error::Storage(e) => write!(f, "a storage tier failed: {e}"),
            Error::NotLoaded => f.write_str("the batch loader returned no value for this key"),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for Error<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Load(e) => Some(&**e),
            Error::Storage(e) => Some(e),
            _ => None,
        }
    }
}

/// Why [`CacheBuilder::build`](crate::CacheBuilder::build) refused its options.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A capacity of zero entries (or zero weight) can hold nothing.
    #[error("capacity must be at least 1")]
    ZeroCapacity,
    /// The method timeout must be positive.
    #[error("the method timeout must be greater than zero")]
    ZeroTimeout,
    /// `expire_after` must be positive.
    #[error("expire_after must be greater than zero")]
    ZeroExpireAfter,
    /// `max_hits` of zero would serve nothing from the cache.
    #[error("max_hits must be at least 1")]
    ZeroMaxHits,
    /// `early_refresh` was given a β that is not a positive finite number.
    #[error("early_refresh's beta must be a positive finite number, not {0}")]
    InvalidEarlyRefresh(String),
    /// `cache_errors` was given a zero lifespan.
    #[error("cache_errors' lifespan must be greater than zero")]
    ZeroErrorLifespan,
    /// An entry cannot become stale after it has expired.
    #[error(
        "update_after ({update_after:?}) must not be greater than expire_after ({expire_after:?})"
    )]
    UpdateAfterExceedsExpireAfter {
        /// The `update_after` given.
        update_after: Duration,
        /// The `expire_after` given.
        expire_after: Duration,
    },
    /// A storage tier's per-operation timeout must be positive.
    #[error("a tier's timeout must be greater than zero")]
    ZeroTierTimeout,
    /// A circuit breaker that opens after zero failures would never try the tier.
    #[error("a tier's circuit breaker failure_threshold must be at least 1")]
    ZeroFailureThreshold,
    /// The Tokio runtime the cache is built in has no time driver, which every load needs
    /// (the method timeout): build the runtime with `enable_time()` or `enable_all()`.
    #[error(
        "the Tokio runtime has no time driver (timers are disabled): build it with \
         enable_time() or enable_all()"
    )]
    TimersDisabled,
    /// A cache chains at most 64 storage tiers.
    #[error("a cache takes at most 64 storage tiers, not {0}")]
    TooManyTiers(usize),
    /// `memory_expire_cap` of zero would expire every entry as it is written.
    #[error("memory_expire_cap must be greater than zero")]
    ZeroMemoryExpireCap,
    /// `refresh_backoff` of zero would retry a failing refresh on every stale hit.
    #[error("refresh_backoff must be greater than zero")]
    ZeroRefreshBackoff,
    /// The cache has tags (a zone, a zone key, tags) and one of its tiers cannot keep them
    /// (its storage's [`tag_store`](crate::storage::Storage::tag_store) is `None`).
    #[error("the tier {tier:?} cannot keep tagged entries (zones, zone keys, tags): its storage has no tag store")]
    TagsUnsupported {
        /// The tier's storage name.
        tier: String,
    },
    /// A distributed cache ([`CacheBuilder::distributed`](crate::CacheBuilder::distributed))
    /// needs a storage tier, where one process's load is read by the others.
    #[error("a distributed cache needs a storage tier shared by its processes")]
    DistributedWithoutTier,
    /// The longest refresh backoff cannot be shorter than the first one.
    #[error("refresh_backoff_max ({max:?}) must not be less than refresh_backoff ({backoff:?})")]
    RefreshBackoffMaxBelowBackoff {
        /// The `refresh_backoff` given.
        backoff: Duration,
        /// The `refresh_backoff_max` given.
        max: Duration,
    },
}

/// The text of a caught panic.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> Arc<str> {
    if let Some(s) = payload.downcast_ref::<&str>() {
        Arc::from(*s)
    } else if let Some(s) = payload.downcast_ref::<String>() {
        Arc::from(s.as_str())
    } else {
        Arc::from("(non-string panic payload)")
    }
}
