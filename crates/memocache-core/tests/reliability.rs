//! Faults and hostile use (issue 18), each a test that failed before its fix: invalidations
//! report the tiers they could not reach; a hung tier costs a miss one timeout, not two; a
//! record's deadlines are not trusted past the reader's own lifespan; a panicking
//! post-processing function is contained and counted; a runtime without timers is refused
//! at build time. Paused Tokio time, gates; no sleeps.

mod common;

use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use common::{tiered, Held};
use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use memocache_core::storage::{MemoryStorage, Storage, StorageError, StoredEntry};
use memocache_core::{BuildError, Cache, Error, Tier};

/// A storage that answers, or fails every operation once `down` is set; `hang`: its reads
/// and writes never answer instead.
struct Flaky {
    inner: MemoryStorage<u32, u64>,
    down: AtomicBool,
    hang: AtomicBool,
}

impl Flaky {
    fn new() -> Arc<Flaky> {
        Arc::new(Flaky {
            inner: MemoryStorage::new(100),
            down: AtomicBool::new(false),
            hang: AtomicBool::new(false),
        })
    }

    fn outcome<'a, T: Send + 'a>(
        &'a self,
        op: BoxFuture<'a, Result<T, StorageError>>,
    ) -> BoxFuture<'a, Result<T, StorageError>> {
        if self.hang.load(SeqCst) {
            return std::future::pending().boxed();
        }
        if self.down.load(SeqCst) {
            let refused = std::io::Error::other("connection refused");
            return async move { Err(StorageError::backend(refused)) }.boxed();
        }
        op
    }
}

impl Storage<u32, u64> for Flaky {
    fn name(&self) -> &str {
        "flaky"
    }
    fn get<'a>(
        &'a self,
        key: &'a u32,
    ) -> BoxFuture<'a, Result<Option<StoredEntry<u64>>, StorageError>> {
        self.outcome(self.inner.get(key))
    }
    fn set<'a>(
        &'a self,
        key: &'a u32,
        entry: StoredEntry<u64>,
    ) -> BoxFuture<'a, Result<(), StorageError>> {
        self.outcome(self.inner.set(key, entry))
    }
    fn remove<'a>(&'a self, key: &'a u32) -> BoxFuture<'a, Result<(), StorageError>> {
        self.outcome(self.inner.remove(key))
    }
    fn clear(&self) -> BoxFuture<'_, Result<(), StorageError>> {
        self.outcome(self.inner.clear())
    }
}

fn over(flaky: &Arc<Flaky>) -> Cache<u32, u64> {
    Cache::builder()
        .tier(Tier::from_arc(flaky.clone()).timeout(Duration::from_secs(1)))
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn invalidations_report_the_tiers_they_could_not_reach() {
    let flaky = Flaky::new();
    let c = over(&flaky);
    c.insert(1, 10).await;
    flaky.down.store(true, SeqCst);
    // The tier keeps the old value: the caller must know (it used to get `()`).
    let err = c.invalidate(&1).await.unwrap_err();
    assert!(matches!(err, StorageError::Backend(_)), "{err:?}");
    assert_eq!(c.len(), 0, "memory is cleared in any case");
    assert!(matches!(
        c.invalidate_all().await,
        Err(StorageError::Backend(_))
    ));
    // Errors pass through `?` into a load's error type.
    let through: Result<(), Error<std::io::Error>> = async {
        c.invalidate(&1).await?;
        Ok(())
    }
    .await;
    assert!(matches!(through, Err(Error::Storage(_))));
    // Three failures opened the breaker: an invalidation it skips is reported too.
    assert!(matches!(
        c.invalidate(&1).await,
        Err(StorageError::CircuitOpen)
    ));
    flaky.down.store(false, SeqCst);
    tokio::time::advance(Duration::from_secs(5)).await; // the cool-down
    c.invalidate(&1).await.unwrap();
    c.invalidate_all().await.unwrap();
    // A memory-only cache never fails.
    let plain: Cache<u32, u64> = Cache::new();
    plain.invalidate(&1).await.unwrap();
    plain.invalidate_all().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_hung_tier_costs_a_miss_one_timeout_not_one_per_operation() {
    let flaky = Flaky::new();
    let c = over(&flaky);
    flaky.hang.store(true, SeqCst);
    let start = tokio::time::Instant::now();
    let v = c
        .get_or_load(1, || async { Ok::<u64, String>(7) })
        .await
        .unwrap();
    assert_eq!(v, 7);
    // The read timed out (1 s); the write to the same hung tier is skipped, not timed out
    // again (it used to take 2 s).
    assert_eq!(start.elapsed(), Duration::from_secs(1));
    let t = &c.stats().tiers[0];
    assert_eq!((t.timeouts, t.writes), (1, 0), "{t:?}");
}

#[tokio::test(start_paused = true)]
async fn a_records_deadlines_are_not_trusted_past_the_readers_own_lifespan() {
    let tier = Held::<u32, u64>::new();
    // Written by a process (or a corruption) with a lifespan of a year.
    let year = Duration::from_secs(365 * 24 * 3600);
    let entry = StoredEntry::new(10, year, year);
    tier.inner().set(&1, entry).await.unwrap();
    let c = tiered(&tier); // update_after 10 s, expire_after 60 s
    assert_eq!(c.get(&1).await, Some(10), "read through the tier");
    tokio::time::advance(Duration::from_secs(61)).await;
    // Expired by this cache's own 60 s, not served from memory for a year.
    let stats = c.stats();
    let v = c
        .get_or_load(1, || async { Ok::<u64, String>(11) })
        .await
        .unwrap();
    assert_eq!(c.stats().misses, stats.misses + 1, "a miss in memory");
    // The tier itself still has the year-long record: it answers, and is capped again.
    assert_eq!(v, 10);
}

#[tokio::test(start_paused = true)]
async fn a_panicking_post_processing_function_is_contained_and_counted() {
    let c: Cache<u32, u64> = Cache::builder()
        .postprocess(|v| {
            assert_ne!(v, 13, "unlucky");
            v * 2
        })
        .build()
        .unwrap();
    let err = c
        .get_or_load(1, || async { Ok::<u64, String>(13) })
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Panicked(m) if m.contains("unlucky")),
        "{err:?}"
    );
    assert_eq!(c.get(&1).await, None, "a counted miss for `get`");
    assert_eq!(c.stats().callback_panics, 2);
    // The value itself is stored and fine; other keys are served.
    assert_eq!(c.len(), 1);
    assert_eq!(c.get_with(2, || async { 4 }).await.unwrap(), 8);
}

#[test]
fn a_runtime_without_timers_is_refused_at_build_time() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let _inside = rt.enter();
    let err = Cache::<u32, u64>::builder().build().unwrap_err();
    assert_eq!(err, BuildError::TimersDisabled);
    assert!(err.to_string().contains("enable_time"));
}
