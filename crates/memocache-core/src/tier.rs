//! Tiers: the storages a [`Cache`](crate::Cache) chains below its own in-memory store
//! (cacheme's `caches=[local, redis]`), and the failure policy each one runs under.
//!
//! A cache with tiers `[t1, t2, …]` reads its memory, then `t1`, `t2`, … in order, inside the
//! single flight of the key: N concurrent misses make at most one read of each tier and at
//! most one loader call. The first tier that has a servable entry answers; the tiers above it
//! (memory included) are backfilled with that entry, each with its own lifespan cap
//! ([`Tier::expire_cap`]). A loaded value is written to every tier, once per load. A fresh
//! lower-tier entry ends the flight without calling the loader; a stale one is served at once
//! and refreshed in the background, so stale-while-revalidate works across processes sharing
//! a tier.
//!
//! # Failure policy
//! By default ([`OnError::Skip`]) a tier that fails or times out (per-operation timeout,
//! [`DEFAULT_TIMEOUT`]) is treated as a miss on read and skipped on write: the loader still
//! answers, the error is counted ([`TierStats`]) and logged with `tracing`. A circuit breaker
//! stops paying the timeout on every request while a server is down: after
//! [`CircuitBreaker::failure_threshold`] failures in a row the tier is skipped for
//! [`CircuitBreaker::cool_down`], then one request probes it; success closes the breaker,
//! failure reopens it. With [`OnError::Propagate`] every tier error reaches the caller as
//! [`Error::Storage`](crate::Error::Storage) instead.
//!
//! Bytes that fail to decode are not a tier failure: they are a miss counted in
//! `decode_errors`, and the reload overwrites them.
//!
//! # Consistency
//! Within one cache the memory is exact: `invalidate` and `insert` win over a load in flight.
//! The tiers are last-writer-wins: a load's tier write that began before an `invalidate` may
//! land after the invalidation's removal, and processes sharing a tier see each other's writes
//! in the order the server applied them. Entries carry absolute wall-clock deadlines, so
//! processes agree on freshness up to their clocks' skew.
//!
//! # Cost
//! None on a memory hit: the tiers are reached only from the load task of a miss (or from
//! `get`, `insert` and the invalidations). Their futures are boxed, one allocation per tier
//! operation, next to a network round trip.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use crate::storage::{Storage, StorageError, StoredEntry};

/// Default per-operation timeout of a tier: 1 second.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);

/// What a tier's errors (failures and timeouts) do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum OnError {
    /// Count and log the error; a failed read is a miss, a failed write is skipped (default).
    #[default]
    Skip,
    /// Hand the error to the caller as [`Error::Storage`](crate::Error::Storage) (every waiter
    /// of the load gets it). The circuit breaker still applies: an open breaker is reported
    /// as [`StorageError::CircuitOpen`].
    Propagate,
}

/// The circuit breaker settings of a tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CircuitBreaker {
    /// Failures in a row that open the breaker (default 3). `u32::MAX` never opens it.
    pub failure_threshold: u32,
    /// How long an open breaker skips the tier before one request probes it (default 5 s).
    pub cool_down: Duration,
}

impl Default for CircuitBreaker {
    fn default() -> Self {
        CircuitBreaker {
            failure_threshold: 3,
            cool_down: Duration::from_secs(5),
        }
    }
}

/// A storage placed below a cache's memory, with its options. Add it with
/// [`CacheBuilder::tier`](crate::CacheBuilder::tier).
///
/// ```
/// # extern crate memocache_core as memocache;
/// use std::time::Duration;
/// use memocache::storage::MemoryStorage;
/// use memocache::tier::{CircuitBreaker, Tier};
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
    name: Arc<str>,
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

/// The counters of one tier, in [`Stats::tiers`](crate::Stats::tiers).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TierStats {
    /// The storage's name.
    pub name: String,
    /// Reads that found a fresh entry.
    pub hits_fresh: u64,
    /// Reads that found a stale entry (served, then refreshed).
    pub hits_stale: u64,
    /// Reads that found nothing (decode errors included).
    pub misses: u64,
    /// Records that failed to decode (counted as misses too).
    pub decode_errors: u64,
    /// Entries written (loads, backfills, inserts).
    pub writes: u64,
    /// Operations that failed (timeouts included).
    pub errors: u64,
    /// Operations that timed out (also in `errors`).
    pub timeouts: u64,
    /// Operations not attempted because the circuit breaker was open.
    pub skipped: u64,
    /// Times the circuit breaker opened.
    pub breaker_opened: u64,
}

impl TierStats {
    /// Fresh plus stale hits.
    pub fn hits(&self) -> u64 {
        self.hits_fresh + self.hits_stale
    }
}

#[derive(Default)]
struct TierCounters {
    hits_fresh: AtomicU64,
    hits_stale: AtomicU64,
    misses: AtomicU64,
    decode_errors: AtomicU64,
    writes: AtomicU64,
    errors: AtomicU64,
    timeouts: AtomicU64,
    skipped: AtomicU64,
    breaker_opened: AtomicU64,
}

/// A tier at run time: its options, breaker state and counters.
pub(crate) struct TierState<K, V> {
    tier: Tier<K, V>,
    epoch: Instant,
    failures: AtomicU32,
    open_until: AtomicU64,
    probing: AtomicBool,
    counters: TierCounters,
}

enum Admit {
    Go,
    Probe,
    Skip,
}

/// What a chain read found.
pub(crate) struct Found<V> {
    /// Index of the tier that answered.
    pub(crate) index: usize,
    pub(crate) entry: StoredEntry<V>,
}

impl<K, V> TierState<K, V> {
    fn name(&self) -> &str {
        &self.tier.name
    }
}

impl<K, V> TierState<K, V>
where
    K: Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    fn new(tier: Tier<K, V>) -> Self {
        TierState {
            tier,
            epoch: Instant::now(),
            failures: AtomicU32::new(0),
            open_until: AtomicU64::new(0),
            probing: AtomicBool::new(false),
            counters: TierCounters::default(),
        }
    }

    fn nanos(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.epoch).as_nanos() as u64
    }

    fn admit(&self) -> Admit {
        if self.failures.load(Relaxed) < self.tier.breaker.failure_threshold {
            return Admit::Go;
        }
        if self.nanos(Instant::now()) < self.open_until.load(Relaxed) {
            return Admit::Skip;
        }
        match self.probing.compare_exchange(false, true, Relaxed, Relaxed) {
            Ok(_) => Admit::Probe,
            Err(_) => Admit::Skip,
        }
    }

    fn succeeded(&self, probe: bool) {
        if probe {
            tracing::info!(
                tier = self.name(),
                "storage tier reachable again: circuit breaker closed"
            );
        }
        self.failures.store(0, Relaxed);
        self.probing.store(false, Relaxed);
    }

    fn failed(&self, op: &str, cache: &str, e: &StorageError) {
        let c = &self.counters;
        c.errors.fetch_add(1, Relaxed);
        if matches!(e, StorageError::Timeout(_)) {
            c.timeouts.fetch_add(1, Relaxed);
        }
        let n = self.failures.fetch_add(1, Relaxed).saturating_add(1);
        let threshold = self.tier.breaker.failure_threshold;
        if n >= threshold {
            let until = Instant::now() + self.tier.breaker.cool_down;
            self.open_until.store(self.nanos(until), Relaxed);
            self.probing.store(false, Relaxed);
            // Reached the threshold, or a probe failed: (re)opened.
            c.breaker_opened.fetch_add(1, Relaxed);
            tracing::warn!(
                cache,
                tier = self.name(),
                op,
                error = %e,
                cool_down = ?self.tier.breaker.cool_down,
                "storage tier failed; circuit breaker open"
            );
        } else {
            tracing::warn!(cache, tier = self.name(), op, error = %e, "storage tier failed");
        }
    }

    /// Runs one operation under the breaker and the timeout. `Ok(None)` = not attempted
    /// (breaker open) or failed under [`OnError::Skip`].
    async fn run<'a, T, Fut>(
        &'a self,
        op: &str,
        cache: &str,
        call: impl FnOnce(&'a dyn Storage<K, V>) -> Fut,
    ) -> Result<Option<T>, StorageError>
    where
        Fut: std::future::Future<Output = Result<T, StorageError>>,
    {
        let probe = match self.admit() {
            Admit::Go => false,
            Admit::Probe => true,
            Admit::Skip => {
                self.counters.skipped.fetch_add(1, Relaxed);
                return match self.tier.on_error {
                    OnError::Skip => Ok(None),
                    OnError::Propagate => Err(StorageError::CircuitOpen),
                };
            }
        };
        let fut = call(&*self.tier.storage);
        let result = match tokio::time::timeout(self.tier.timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(StorageError::Timeout(self.tier.timeout)),
        };
        match result {
            Ok(v) => {
                self.succeeded(probe);
                Ok(Some(v))
            }
            // Bad bytes are the record's fault, not the server's.
            Err(e @ StorageError::Decode(_)) => {
                self.succeeded(probe);
                Err(e)
            }
            Err(e) => {
                self.failed(op, cache, &e);
                match self.tier.on_error {
                    OnError::Skip => Ok(None),
                    OnError::Propagate => Err(e),
                }
            }
        }
    }
}

/// The chain below a cache's memory.
pub(crate) struct Tiers<K, V> {
    tiers: Box<[TierState<K, V>]>,
}

impl<K, V> Tiers<K, V>
where
    K: Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    pub(crate) fn new(tiers: Vec<Tier<K, V>>) -> Option<Self> {
        if tiers.is_empty() {
            None
        } else {
            Some(Tiers {
                tiers: tiers.into_iter().map(TierState::new).collect(),
            })
        }
    }

    /// Reads the tiers in order; the first servable entry answers.
    pub(crate) async fn read(
        &self,
        cache: &str,
        key: &K,
    ) -> Result<Option<Found<V>>, StorageError> {
        for (index, t) in self.tiers.iter().enumerate() {
            let c = &t.counters;
            match t.run("get", cache, |s| s.get(key)).await {
                Ok(Some(Some(entry))) => {
                    let now = SystemTime::now();
                    if entry.is_expired(now) {
                        c.misses.fetch_add(1, Relaxed);
                        continue;
                    }
                    if entry.is_fresh(now) {
                        c.hits_fresh.fetch_add(1, Relaxed);
                    } else {
                        c.hits_stale.fetch_add(1, Relaxed);
                    }
                    return Ok(Some(Found { index, entry }));
                }
                Ok(Some(None)) | Ok(None) => {
                    c.misses.fetch_add(1, Relaxed);
                }
                Err(StorageError::Decode(e)) => {
                    c.misses.fetch_add(1, Relaxed);
                    c.decode_errors.fetch_add(1, Relaxed);
                    tracing::warn!(
                        cache,
                        tier = t.name(),
                        error = %e,
                        "stored record could not be decoded: treated as a miss, will be overwritten"
                    );
                }
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }

    /// Writes `entry` to the tiers before `upto` (all of them for `usize::MAX`), each with its
    /// own cap, concurrently. The first error is returned under [`OnError::Propagate`].
    pub(crate) async fn write(
        &self,
        cache: &str,
        key: &K,
        entry: &StoredEntry<V>,
        upto: usize,
    ) -> Result<(), StorageError> {
        let now = SystemTime::now();
        let writes = self.tiers.iter().take(upto).map(|t| {
            let e = entry.clone().capped(now, t.tier.expire_cap);
            async move {
                let r = t.run("set", cache, |s| s.set(key, e)).await;
                if let Ok(Some(())) = r {
                    t.counters.writes.fetch_add(1, Relaxed);
                }
                r.map(drop)
            }
        });
        first_error(futures_util::future::join_all(writes).await)
    }

    /// Removes `key` from every tier.
    pub(crate) async fn remove(&self, cache: &str, key: &K) -> Result<(), StorageError> {
        let ops = self
            .tiers
            .iter()
            .map(|t| async move { t.run("remove", cache, |s| s.remove(key)).await.map(drop) });
        first_error(futures_util::future::join_all(ops).await)
    }

    /// Clears every tier's namespace.
    pub(crate) async fn clear(&self, cache: &str) -> Result<(), StorageError> {
        let ops = self
            .tiers
            .iter()
            .map(|t| async move { t.run("clear", cache, |s| s.clear()).await.map(drop) });
        first_error(futures_util::future::join_all(ops).await)
    }
}

impl<K, V> Tiers<K, V> {
    pub(crate) fn stats(&self) -> Vec<TierStats> {
        self.tiers
            .iter()
            .map(|t| {
                let c = &t.counters;
                TierStats {
                    name: t.name().to_owned(),
                    hits_fresh: c.hits_fresh.load(Relaxed),
                    hits_stale: c.hits_stale.load(Relaxed),
                    misses: c.misses.load(Relaxed),
                    decode_errors: c.decode_errors.load(Relaxed),
                    writes: c.writes.load(Relaxed),
                    errors: c.errors.load(Relaxed),
                    timeouts: c.timeouts.load(Relaxed),
                    skipped: c.skipped.load(Relaxed),
                    breaker_opened: c.breaker_opened.load(Relaxed),
                }
            })
            .collect()
    }

    pub(crate) fn describe(&self) -> Vec<&str> {
        self.tiers.iter().map(|t| t.name()).collect()
    }
}

fn first_error(results: Vec<Result<(), StorageError>>) -> Result<(), StorageError> {
    results.into_iter().collect()
}

/// Validates tier options for the builder.
pub(crate) fn validate<K, V>(tiers: &[Tier<K, V>]) -> Result<(), crate::BuildError> {
    for t in tiers {
        if t.timeout.is_zero() {
            return Err(crate::BuildError::ZeroTierTimeout);
        }
        if t.breaker.failure_threshold == 0 {
            return Err(crate::BuildError::ZeroFailureThreshold);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemoryStorage;
    use futures_util::future::BoxFuture;
    use futures_util::FutureExt;

    /// A storage whose every operation fails.
    struct Down;
    impl Storage<u32, u32> for Down {
        fn name(&self) -> &str {
            "down"
        }
        fn get<'a>(
            &'a self,
            _: &'a u32,
        ) -> BoxFuture<'a, Result<Option<StoredEntry<u32>>, StorageError>> {
            async { Err(StorageError::backend(std::io::Error::other("refused"))) }.boxed()
        }
        fn get_many<'a>(
            &'a self,
            _: &'a [u32],
        ) -> BoxFuture<'a, Result<Vec<crate::storage::Fetched<u32>>, StorageError>> {
            async { Err(StorageError::backend(std::io::Error::other("refused"))) }.boxed()
        }
        fn set<'a>(
            &'a self,
            _: &'a u32,
            _: StoredEntry<u32>,
        ) -> BoxFuture<'a, Result<(), StorageError>> {
            async { Err(StorageError::backend(std::io::Error::other("refused"))) }.boxed()
        }
        fn set_many<'a>(
            &'a self,
            _: Vec<(u32, StoredEntry<u32>)>,
        ) -> BoxFuture<'a, Result<(), StorageError>> {
            async { Err(StorageError::backend(std::io::Error::other("refused"))) }.boxed()
        }
        fn remove<'a>(&'a self, _: &'a u32) -> BoxFuture<'a, Result<(), StorageError>> {
            async { Err(StorageError::backend(std::io::Error::other("refused"))) }.boxed()
        }
        fn clear(&self) -> BoxFuture<'_, Result<(), StorageError>> {
            async { Err(StorageError::backend(std::io::Error::other("refused"))) }.boxed()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn breaker_opens_skips_then_probes() {
        let tiers = Tiers::new(vec![Tier::new(Down).circuit_breaker(CircuitBreaker {
            failure_threshold: 2,
            cool_down: Duration::from_secs(5),
        })])
        .unwrap();
        for _ in 0..2 {
            assert!(tiers.read("c", &1).await.unwrap().is_none());
        }
        let s = &tiers.stats()[0];
        assert_eq!((s.errors, s.skipped, s.breaker_opened), (2, 0, 1));
        for _ in 0..10 {
            assert!(tiers.read("c", &1).await.unwrap().is_none());
        }
        let s = &tiers.stats()[0];
        assert_eq!((s.errors, s.skipped), (2, 10), "open: not attempted");
        tokio::time::advance(Duration::from_secs(5)).await;
        assert!(tiers.read("c", &1).await.unwrap().is_none());
        let s = &tiers.stats()[0];
        assert_eq!(
            (s.errors, s.skipped, s.breaker_opened),
            (3, 10, 2),
            "one probe, reopened"
        );
        assert!(tiers.read("c", &1).await.unwrap().is_none());
        assert_eq!(tiers.stats()[0].skipped, 11);
    }

    #[tokio::test(start_paused = true)]
    async fn propagate_reports_errors_and_open_breaker() {
        let tiers = Tiers::new(vec![Tier::new(Down)
            .on_error(OnError::Propagate)
            .circuit_breaker(CircuitBreaker {
                failure_threshold: 1,
                cool_down: Duration::from_secs(5),
            })])
        .unwrap();
        assert!(matches!(
            tiers.read("c", &1).await,
            Err(StorageError::Backend(_))
        ));
        assert!(matches!(
            tiers.read("c", &1).await,
            Err(StorageError::CircuitOpen)
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn writes_respect_each_tier_cap() {
        let a = Arc::new(MemoryStorage::<u32, u32>::new(8));
        let b = Arc::new(MemoryStorage::<u32, u32>::new(8));
        let tiers = Tiers::new(vec![
            Tier::from_arc(a.clone()).expire_cap(Duration::from_secs(10)),
            Tier::from_arc(b.clone()),
        ])
        .unwrap();
        let e = StoredEntry::new(7, Duration::from_secs(60), Duration::from_secs(600));
        tiers.write("c", &1, &e, usize::MAX).await.unwrap();
        let in_a = a.get(&1).await.unwrap().unwrap();
        let in_b = b.get(&1).await.unwrap().unwrap();
        assert!(in_a.expire_at <= SystemTime::now() + Duration::from_secs(10));
        assert_eq!(in_b.expire_at, e.expire_at);
        assert_eq!(in_a.update_at, in_a.expire_at, "update_at cut to the cap");
    }
}
