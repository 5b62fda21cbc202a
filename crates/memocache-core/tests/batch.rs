//! `Cache::get_all` (cacheme's batch): order and duplicates, one loader call per batch, joins
//! with single loads in flight, per-key errors, one multi-get and one multi-set per tier, and
//! an invalidation racing a batch.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};

use common::until;
use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use memocache_core::storage::{Fetched, MemoryStorage, Storage, StorageError, StoredEntry};
use memocache_core::{Cache, Error, Tier};
use tokio::sync::Notify;

type Io = std::io::Error;

/// What a batch loader's call resolves to.
type Batch = BoxFuture<'static, Result<Vec<(u32, String)>, Io>>;

/// A batch loader recording each call's keys; values are `v{key}`.
#[derive(Clone, Default)]
struct Recorder {
    calls: Arc<Mutex<Vec<Vec<u32>>>>,
    gate: Option<Arc<Notify>>,
}

impl Recorder {
    fn gated() -> Self {
        Recorder {
            gate: Some(Arc::new(Notify::new())),
            ..Recorder::default()
        }
    }

    fn loader(&self) -> impl Fn(Vec<u32>) -> Batch + Send + Sync + 'static {
        let this = self.clone();
        move |keys: Vec<u32>| {
            let this = this.clone();
            async move {
                this.calls.lock().unwrap().push(keys.clone());
                if let Some(gate) = &this.gate {
                    gate.notified().await;
                }
                Ok(keys.into_iter().map(|k| (k, format!("v{k}"))).collect())
            }
            .boxed()
        }
    }

    fn calls(&self) -> Vec<Vec<u32>> {
        self.calls.lock().unwrap().clone()
    }
}

fn values(results: Vec<Result<String, Error<Io>>>) -> Vec<String> {
    results.into_iter().map(Result::unwrap).collect()
}

#[tokio::test]
async fn results_in_order_duplicates_once_and_one_loader_call_for_the_missing() {
    let cache: Cache<u32, String> = Cache::new();
    let r = Recorder::default();
    assert_eq!(
        values(cache.get_all([3, 1, 3, 2], r.loader()).await),
        ["v3", "v1", "v3", "v2"]
    );
    assert_eq!(r.calls(), [vec![3, 1, 2]]);
    assert_eq!(
        values(cache.get_all([1, 4], r.loader()).await),
        ["v1", "v4"]
    );
    assert_eq!(r.calls()[1], [4], "only the key memory lacks");
    let stats = cache.stats();
    assert_eq!((stats.loads_started, stats.load_successes), (4, 4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_batches_over_three_keys_load_three_keys() {
    let cache: Cache<u32, String> = Cache::new();
    let r = Recorder::gated();
    let batches: Vec<_> = (0..200)
        .map(|_| {
            let (cache, loader) = (cache.clone(), r.loader());
            tokio::spawn(async move { cache.get_all([1, 2, 3], loader).await })
        })
        .collect();
    // Every batch has missed memory (3 keys each), and so joined the keys' flights (nothing
    // awaits in between), before the one loader call is released.
    until(|| cache.stats().misses >= 600 && !r.calls().is_empty()).await;
    r.gate.as_ref().unwrap().notify_waiters();
    for b in batches {
        assert_eq!(values(b.await.unwrap()), ["v1", "v2", "v3"]);
    }
    let loaded: usize = r.calls().iter().map(Vec::len).sum();
    assert_eq!(loaded, 3, "calls: {:?}", r.calls());
}

#[tokio::test]
async fn a_batch_joins_a_single_load_in_flight() {
    let cache: Cache<u32, String> = Cache::new();
    let gate = Arc::new(Notify::new());
    let single = tokio::spawn({
        let (cache, gate) = (cache.clone(), gate.clone());
        async move {
            cache
                .get_or_load(5, move || async move {
                    gate.notified().await;
                    Ok::<_, Io>("single".to_string())
                })
                .await
        }
    });
    until(|| cache.loads_in_flight() == 1).await;
    let r = Recorder::default();
    let batch = tokio::spawn({
        let (cache, loader) = (cache.clone(), r.loader());
        async move { cache.get_all([5, 6], loader).await }
    });
    until(|| !r.calls().is_empty()).await;
    assert_eq!(r.calls(), [vec![6]], "key 5 is joined, not loaded again");
    gate.notify_waiters();
    assert_eq!(single.await.unwrap().unwrap(), "single");
    assert_eq!(values(batch.await.unwrap()), ["single", "v6"]);
}

#[tokio::test]
async fn a_key_left_out_is_not_loaded_and_errors_reach_every_key() {
    let cache: Cache<u32, String> = Cache::new();
    let partial = |keys: Vec<u32>| async move {
        Ok::<_, Io>(
            keys.into_iter()
                .filter(|k| k % 2 == 0)
                .map(|k| (k, format!("v{k}")))
                .collect(),
        )
    };
    let got = cache.get_all([1, 2], partial).await;
    assert!(matches!(got[0], Err(Error::NotLoaded)), "{:?}", got[0]);
    assert_eq!(got[1].as_deref().unwrap(), "v2");
    assert_eq!(cache.len(), 1);
    let failing = |_: Vec<u32>| async { Err::<Vec<(u32, String)>, _>(Io::other("down")) };
    let got = cache.get_all([7, 8], failing).await;
    assert!(got
        .iter()
        .all(|r| matches!(r, Err(Error::Load(e)) if e.to_string() == "down")));
    let panicking = |_: Vec<u32>| async { panic!("boom") as Result<Vec<(u32, String)>, Io> };
    let got = cache.get_all([9], panicking).await;
    assert!(matches!(&got[0], Err(Error::Panicked(m)) if m.contains("boom")));
    assert_eq!(cache.len(), 1, "nothing stored for failed keys");
}

/// A memory storage counting multi-gets and multi-sets.
struct Counting {
    inner: MemoryStorage<u32, String>,
    get_many: AtomicUsize,
    set_many: AtomicUsize,
    single: AtomicUsize,
}

impl Counting {
    fn new() -> Arc<Self> {
        Arc::new(Counting {
            inner: MemoryStorage::new(1_000),
            get_many: AtomicUsize::new(0),
            set_many: AtomicUsize::new(0),
            single: AtomicUsize::new(0),
        })
    }
}

impl Storage<u32, String> for Counting {
    fn name(&self) -> &str {
        "counting"
    }
    fn get<'a>(
        &'a self,
        key: &'a u32,
    ) -> BoxFuture<'a, Result<Option<StoredEntry<String>>, StorageError>> {
        self.single.fetch_add(1, SeqCst);
        self.inner.get(key)
    }
    fn get_many<'a>(
        &'a self,
        keys: &'a [u32],
    ) -> BoxFuture<'a, Result<Vec<Fetched<String>>, StorageError>> {
        self.get_many.fetch_add(1, SeqCst);
        self.inner.get_many(keys)
    }
    fn set<'a>(
        &'a self,
        key: &'a u32,
        entry: StoredEntry<String>,
    ) -> BoxFuture<'a, Result<(), StorageError>> {
        self.single.fetch_add(1, SeqCst);
        self.inner.set(key, entry)
    }
    fn set_many<'a>(
        &'a self,
        entries: Vec<(u32, StoredEntry<String>)>,
    ) -> BoxFuture<'a, Result<(), StorageError>> {
        self.set_many.fetch_add(1, SeqCst);
        self.inner.set_many(entries)
    }
    fn remove<'a>(&'a self, key: &'a u32) -> BoxFuture<'a, Result<(), StorageError>> {
        self.inner.remove(key)
    }
    fn clear(&self) -> BoxFuture<'_, Result<(), StorageError>> {
        self.inner.clear()
    }
}

#[tokio::test]
async fn a_batch_over_a_tier_costs_one_multi_get_and_one_multi_set() {
    let tier = Counting::new();
    let build = || -> Cache<u32, String> {
        Cache::builder()
            .tier(Tier::new(Arc::clone(&tier)))
            .build()
            .unwrap()
    };
    let r = Recorder::default();
    let keys: Vec<u32> = (0..10).collect();
    assert_eq!(
        values(build().get_all(keys.clone(), r.loader()).await).len(),
        10
    );
    assert_eq!(
        (tier.get_many.load(SeqCst), tier.set_many.load(SeqCst)),
        (1, 1)
    );
    // Another instance reads all ten with one multi-get, no load, no write.
    let other = build();
    assert_eq!(values(other.get_all(keys, r.loader()).await)[9], "v9");
    assert_eq!(r.calls().len(), 1);
    assert_eq!(
        (tier.get_many.load(SeqCst), tier.set_many.load(SeqCst)),
        (2, 1)
    );
    assert_eq!(tier.single.load(SeqCst), 0, "no single-key operation");
    assert_eq!(other.len(), 10, "memory filled from the tier");
}

#[tokio::test]
async fn an_invalidation_during_a_batch_wins() {
    let cache: Cache<u32, String> = Cache::new();
    let r = Recorder::gated();
    let batch = tokio::spawn({
        let (cache, loader) = (cache.clone(), r.loader());
        async move { cache.get_all([1, 2], loader).await }
    });
    until(|| !r.calls().is_empty()).await;
    cache.invalidate(&1).await.unwrap();
    r.gate.as_ref().unwrap().notify_waiters();
    assert_eq!(
        values(batch.await.unwrap()),
        ["v1", "v2"],
        "the batch's callers get its values"
    );
    cache.idle().await;
    assert_eq!(
        cache.get(&1).await,
        None,
        "but key 1 was invalidated during it: not stored"
    );
    assert_eq!(cache.get(&2).await.as_deref(), Some("v2"));
}
