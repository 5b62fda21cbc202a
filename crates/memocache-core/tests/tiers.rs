//! Storage tiers without a server: the storage contract of `MemoryStorage`, a chain
//! [memory, memory storage] (fill, backfill, invalidate, lifespan caps), the single flight
//! over the chain, and the failure policy (skip and propagate). Paused Tokio time.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use memocache_core::storage::{
    contract, Fetched, MemoryStorage, Storage, StorageError, StoredEntry,
};
use memocache_core::tier::{CircuitBreaker, OnError};
use memocache_core::{BuildError, Cache, Error, Tier};

/// Counts the reads and writes that reach the inner storage; `fail` makes every call fail.
struct Probe {
    inner: MemoryStorage<u32, u64>,
    gets: AtomicUsize,
    sets: AtomicUsize,
    fail: bool,
}

impl Probe {
    fn new(fail: bool) -> Arc<Probe> {
        Arc::new(Probe {
            inner: MemoryStorage::new(1_000),
            gets: AtomicUsize::new(0),
            sets: AtomicUsize::new(0),
            fail,
        })
    }
    /// A failure after a millisecond, as a refused connection takes a round trip (requests
    /// that arrive meanwhile join the flight; an inline load would otherwise fail before
    /// the next request is even polled).
    fn down<T: Send + 'static>() -> BoxFuture<'static, Result<T, StorageError>> {
        async {
            tokio::time::sleep(Duration::from_millis(1)).await;
            Err(StorageError::backend(std::io::Error::other(
                "connection refused",
            )))
        }
        .boxed()
    }
}

impl Storage<u32, u64> for Probe {
    fn name(&self) -> &str {
        "probe"
    }
    fn get<'a>(
        &'a self,
        key: &'a u32,
    ) -> BoxFuture<'a, Result<Option<StoredEntry<u64>>, StorageError>> {
        self.gets.fetch_add(1, SeqCst);
        if self.fail {
            return Probe::down();
        }
        self.inner.get(key)
    }
    fn get_many<'a>(
        &'a self,
        keys: &'a [u32],
    ) -> BoxFuture<'a, Result<Vec<Fetched<u64>>, StorageError>> {
        self.inner.get_many(keys)
    }
    fn set<'a>(
        &'a self,
        key: &'a u32,
        entry: StoredEntry<u64>,
    ) -> BoxFuture<'a, Result<(), StorageError>> {
        self.sets.fetch_add(1, SeqCst);
        if self.fail {
            return Probe::down();
        }
        self.inner.set(key, entry)
    }
    fn set_many<'a>(
        &'a self,
        entries: Vec<(u32, StoredEntry<u64>)>,
    ) -> BoxFuture<'a, Result<(), StorageError>> {
        self.inner.set_many(entries)
    }
    fn remove<'a>(&'a self, key: &'a u32) -> BoxFuture<'a, Result<(), StorageError>> {
        if self.fail {
            return Probe::down();
        }
        self.inner.remove(key)
    }
    fn clear(&self) -> BoxFuture<'_, Result<(), StorageError>> {
        self.inner.clear()
    }
}

fn value(v: u64) -> impl FnOnce() -> std::future::Ready<Result<u64, String>> + Send + 'static {
    move || std::future::ready(Ok(v))
}

fn never() -> impl FnOnce() -> std::future::Ready<Result<u64, String>> + Send + 'static {
    || std::future::ready(Err("the loader must not be called".to_string()))
}

#[tokio::test(start_paused = true)]
async fn memory_storage_keeps_the_contract() {
    let a = MemoryStorage::<String, String>::new(100);
    let b = MemoryStorage::<String, String>::new(100);
    contract::check_storage(&a, &b).await;
}

#[tokio::test(start_paused = true)]
async fn chain_fills_backfills_and_invalidates_every_tier() {
    let lower = Probe::new(false);
    let cache: Cache<u32, u64> = Cache::builder()
        .tier(Tier::new(lower.clone()))
        .build()
        .unwrap();
    assert_eq!(cache.get_or_load(1, value(10)).await.unwrap(), 10);
    assert_eq!(
        lower.inner.get(&1).await.unwrap().unwrap().value,
        10,
        "lower tier filled"
    );
    assert_eq!(cache.len(), 1);

    cache.invalidate_memory(&1);
    assert_eq!(
        cache.get_or_load(1, never()).await.unwrap(),
        10,
        "no load: tier answered"
    );
    assert_eq!(cache.len(), 1, "memory refilled");
    assert_eq!(cache.get(&1).await, Some(10));

    cache.invalidate(&1).await.unwrap();
    assert_eq!(cache.len(), 0);
    assert!(lower.inner.get(&1).await.unwrap().is_none(), "tier emptied");

    cache.insert(2, 20).await;
    assert_eq!(
        lower.inner.get(&2).await.unwrap().unwrap().value,
        20,
        "insert reaches the tier"
    );
    cache.invalidate_memory(&2);
    assert_eq!(cache.get(&2).await, Some(20), "get reads the tier");

    cache.invalidate_all().await.unwrap();
    assert!(lower.inner.is_empty());

    let s = cache.stats();
    assert_eq!(s.tiers.len(), 1);
    assert_eq!(s.tiers[0].name, "probe");
    assert_eq!(s.tiers[0].hits_fresh, 2);
    assert_eq!(s.loads_started, 1, "one loader call in all");
}

#[tokio::test(start_paused = true)]
async fn n_concurrent_misses_read_each_tier_once_and_write_once() {
    let upper = Probe::new(false);
    let lower = Probe::new(false);
    let cache: Cache<u32, u64> = Cache::builder()
        .tier(Tier::new(upper.clone()))
        .tier(Tier::new(lower.clone()))
        .build()
        .unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let (cache, calls) = (cache.clone(), calls.clone());
            tokio::spawn(async move {
                cache
                    .get_or_load(5, move || async move {
                        calls.fetch_add(1, SeqCst);
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        Ok::<_, String>(50)
                    })
                    .await
                    .unwrap()
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), 50);
    }
    assert_eq!(calls.load(SeqCst), 1);
    assert_eq!((upper.gets.load(SeqCst), lower.gets.load(SeqCst)), (1, 1));
    assert_eq!((upper.sets.load(SeqCst), lower.sets.load(SeqCst)), (1, 1));

    // A hit in the lowest tier backfills the one above, once.
    upper.inner.clear().await.unwrap();
    cache.invalidate_memory(&5);
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let cache = cache.clone();
            tokio::spawn(async move { cache.get_or_load(5, never()).await.unwrap() })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), 50);
    }
    assert_eq!((upper.gets.load(SeqCst), lower.gets.load(SeqCst)), (2, 2));
    assert_eq!(
        (upper.sets.load(SeqCst), lower.sets.load(SeqCst)),
        (2, 1),
        "backfill of the upper tier only"
    );
    assert_eq!(upper.inner.get(&5).await.unwrap().unwrap().value, 50);
    let s = cache.stats();
    assert_eq!((s.tiers[0].hits(), s.tiers[1].hits()), (0, 1));
}

#[tokio::test(start_paused = true)]
async fn each_tier_has_its_own_lifespan_cap() {
    let lower = Probe::new(false);
    let cache: Cache<u32, u64> = Cache::builder()
        .update_after(Duration::from_secs(3_600))
        .expire_after(Duration::from_secs(3_600))
        .memory_expire_cap(Duration::from_secs(10))
        .tier(Tier::new(lower.clone()).expire_cap(Duration::from_secs(1_800)))
        .build()
        .unwrap();
    cache.get_or_load(1, value(7)).await.unwrap();
    let in_tier = lower.inner.get(&1).await.unwrap().unwrap();
    let ttl = in_tier.expire_at.duration_since(in_tier.created).unwrap();
    assert!(ttl < Duration::from_secs(1_801), "tier capped: {ttl:?}");
    tokio::time::advance(Duration::from_secs(11)).await;
    // Memory expired at its cap; the tier still has it: no load.
    assert_eq!(cache.get_or_load(1, never()).await.unwrap(), 7);
    assert_eq!(cache.stats().tiers[0].hits_fresh, 1);
}

#[tokio::test(start_paused = true)]
async fn a_failing_tier_is_skipped_and_counted() {
    let down = Probe::new(true);
    let cache: Cache<u32, u64> = Cache::builder()
        .tier(Tier::new(down.clone()).circuit_breaker(CircuitBreaker {
            failure_threshold: 2,
            cool_down: Duration::from_secs(5),
        }))
        .build()
        .unwrap();
    for k in 0..10 {
        assert_eq!(
            cache.get_or_load(k, value(u64::from(k))).await.unwrap(),
            u64::from(k)
        );
    }
    let s = cache.stats();
    assert_eq!(s.load_successes, 10, "the loader answered every request");
    assert_eq!(s.tier_errors, 2, "two failures opened the breaker");
    assert_eq!(
        s.tiers[0].skipped, 18,
        "then the dead tier was not even tried"
    );
    assert_eq!(down.gets.load(SeqCst) + down.sets.load(SeqCst), 2);
    tokio::time::advance(Duration::from_secs(5)).await;
    cache.get_or_load(100, value(1)).await.unwrap();
    assert_eq!(
        cache.stats().tier_errors,
        3,
        "one probe after the cool-down"
    );
}

#[tokio::test(start_paused = true)]
async fn propagate_hands_tier_errors_to_every_waiter() {
    let down = Probe::new(true);
    let cache: Cache<u32, u64> = Cache::builder()
        .tier(Tier::new(down.clone()).on_error(OnError::Propagate))
        .build()
        .unwrap();
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let cache = cache.clone();
            tokio::spawn(async move { cache.get_or_load(1, value(1)).await })
        })
        .collect();
    for t in tasks {
        let e = t.await.unwrap().unwrap_err();
        assert!(
            matches!(e, Error::Storage(StorageError::Backend(_))),
            "{e:?}"
        );
    }
    assert_eq!(down.gets.load(SeqCst), 1, "one read for all waiters");
    let s = cache.stats();
    assert_eq!(
        (s.loads_started, s.load_failures, s.tier_errors),
        (0, 0, 1),
        "no loader call"
    );
}

#[test]
fn tier_options_are_validated() {
    let r = Cache::<u32, u64>::builder()
        .tier(Tier::new(Probe::new(false)).timeout(Duration::ZERO))
        .build();
    assert_eq!(r.unwrap_err(), BuildError::ZeroTierTimeout);
    let r = Cache::<u32, u64>::builder()
        .tier(
            Tier::new(Probe::new(false)).circuit_breaker(CircuitBreaker {
                failure_threshold: 0,
                cool_down: Duration::from_secs(1),
            }),
        )
        .build();
    assert_eq!(r.unwrap_err(), BuildError::ZeroFailureThreshold);
}

#[tokio::test(start_paused = true)]
async fn memory_storage_entries_expire_while_stored() {
    let s = MemoryStorage::<u32, u64>::new(10);
    s.set(
        &1,
        StoredEntry::new(1, Duration::from_secs(5), Duration::from_secs(10)),
    )
    .await
    .unwrap();
    tokio::time::advance(Duration::from_secs(9)).await;
    assert!(s.get(&1).await.unwrap().is_some());
    tokio::time::advance(Duration::from_secs(2)).await;
    assert!(
        s.get(&1).await.unwrap().is_none(),
        "a lifespan that has passed is a miss"
    );
}

#[tokio::test(start_paused = true)]
async fn without_a_memory_tier_values_live_only_in_the_tiers() {
    let lower = Probe::new(false);
    let cache: Cache<u32, u64> = Cache::builder()
        .without_memory_tier()
        .tier(Tier::new(lower.clone()))
        .build()
        .unwrap();
    let loads = Arc::new(AtomicUsize::new(0));
    let load = |loads: &Arc<AtomicUsize>| {
        let loads = loads.clone();
        move || async move {
            loads.fetch_add(1, SeqCst);
            tokio::time::sleep(Duration::from_millis(10)).await;
            Ok::<_, String>(7)
        }
    };
    // 20 concurrent misses: one tier read, one load, one tier write
    let waiters: Vec<_> = (0..20)
        .map(|_| {
            let (cache, load) = (cache.clone(), load(&loads));
            tokio::spawn(async move { cache.get_or_load(1, load).await.unwrap() })
        })
        .collect();
    for w in waiters {
        assert_eq!(w.await.unwrap(), 7);
    }
    assert_eq!(loads.load(SeqCst), 1);
    assert_eq!(lower.gets.load(SeqCst), 1);
    assert_eq!(lower.sets.load(SeqCst), 1);
    assert_eq!(cache.len(), 0, "nothing in memory");
    // the next request reads the tier again (no memory hit) and does not load
    assert_eq!(cache.get_or_load(1, load(&loads)).await.unwrap(), 7);
    assert_eq!(lower.gets.load(SeqCst), 2);
    assert_eq!(loads.load(SeqCst), 1);
    assert_eq!(cache.len(), 0);
}

#[tokio::test(start_paused = true)]
async fn without_any_tier_the_cache_only_coalesces() {
    let cache: Cache<u32, u64> = Cache::builder().without_memory_tier().build().unwrap();
    let loads = Arc::new(AtomicUsize::new(0));
    let waiters: Vec<_> = (0..50)
        .map(|_| {
            let (cache, loads) = (cache.clone(), loads.clone());
            tokio::spawn(async move {
                cache
                    .get_with(1, move || async move {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        loads.fetch_add(1, SeqCst) as u64
                    })
                    .await
                    .unwrap()
            })
        })
        .collect();
    for w in waiters {
        assert_eq!(w.await.unwrap(), 0);
    }
    assert_eq!(loads.load(SeqCst), 1, "concurrent calls coalesce");
    let l = loads.clone();
    let again = cache
        .get_with(1, move || async move { l.fetch_add(1, SeqCst) as u64 })
        .await
        .unwrap();
    assert_eq!(again, 1, "nothing was kept: the next call loads again");
    assert_eq!(cache.len(), 0);
}
