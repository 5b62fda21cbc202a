// The runtime-independent behaviour scenarios, included once per runtime by `runtimes.rs`
// (which defines `block_on` and `ON_TOKIO` beside them). The tests' own waits use smol's
// channels and async-io's timers, which work under either runtime; what differs between the
// two inclusions is where the engine spawns its tasks and arms its timers.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::{join, join_all};
use futures_util::FutureExt;
use memocache::codec::Codec;
use memocache::fs::{FileOptions, FileStore};
use memocache::key::Namespace;
use memocache::{memoize, Cache, Error, Tier};
use smol::channel::{Receiver, Sender};

type Io = std::io::Error;

/// A gate the test opens once (by dropping the sender): every loader waiting on it goes on.
fn gate() -> (Sender<()>, Receiver<()>) {
    smol::channel::bounded(1)
}

/// Fails the test if `future` is not done within 10 s (a hang must fail, not stall CI).
async fn within<F: std::future::Future>(what: &str, future: F) -> F::Output {
    let limit = async {
        smol::Timer::after(Duration::from_secs(10)).await;
        panic!("{what}: still waiting after 10 s");
    };
    smol::future::or(future, limit).await
}

/// A loader for `key` that counts its calls, says it started, waits for `gate` and returns
/// `key * 10`.
fn gated(
    calls: &Arc<AtomicUsize>,
    started: &Sender<()>,
    gate: &Receiver<()>,
) -> impl FnOnce() -> futures_util::future::BoxFuture<'static, Result<u32, Io>> + Send + 'static
{
    let (calls, started, gate) = (Arc::clone(calls), started.clone(), gate.clone());
    move || {
        async move {
            let n = calls.fetch_add(1, SeqCst) as u32;
            let _ = started.try_send(());
            let _ = gate.recv().await;
            Ok(70 + n)
        }
        .boxed()
    }
}

#[test]
fn loads_run_on_the_callers_runtime() {
    block_on(async {
        let cache: Cache<u32, bool> = Cache::new();
        let on_tokio = cache
            .get_or_load(1, || async {
                Ok::<_, Io>(tokio::runtime::Handle::try_current().is_ok())
            })
            .await
            .unwrap();
        assert_eq!(on_tokio, ON_TOKIO);
    });
}

#[test]
fn concurrent_misses_share_one_load() {
    block_on(async {
        let cache: Cache<u32, u32> = Cache::new();
        let calls = Arc::new(AtomicUsize::new(0));
        let (open, closed) = gate();
        let (started, started_rx) = smol::channel::unbounded();
        // join_all registers all 50 callers in its first poll, before the gate opens.
        let gets = join_all((0..50).map(|_| cache.get_or_load(7, gated(&calls, &started, &closed))));
        let opener = async {
            started_rx.recv().await.unwrap();
            drop(open);
        };
        let (results, ()) = within("50 callers", join(gets, opener)).await;
        assert!(results.into_iter().all(|r| r.unwrap() == 70));
        assert_eq!(calls.load(SeqCst), 1);
        assert_eq!(cache.get(&7).await, Some(70));
    });
}

#[test]
fn every_waiter_gets_the_one_error_and_the_next_call_loads_again() {
    block_on(async {
        let cache: Cache<u32, u32> = Cache::new();
        let calls = Arc::new(AtomicUsize::new(0));
        let (open, closed) = gate();
        let gets = join_all((0..20).map(|_| {
            let (calls, closed) = (Arc::clone(&calls), closed.clone());
            cache.get_or_load(3, move || async move {
                calls.fetch_add(1, SeqCst);
                let _ = closed.recv().await;
                Err::<u32, _>(Io::other("database down"))
            })
        }));
        let (results, ()) = within("20 callers", join(gets, async { drop(open) })).await;
        for r in results {
            let err = r.unwrap_err();
            assert_eq!(err.load_error().unwrap().to_string(), "database down");
        }
        assert_eq!(calls.load(SeqCst), 1);
        let v = cache.get_or_load(3, || async { Ok::<_, Io>(30) }).await.unwrap();
        assert_eq!(v, 30);
    });
}

#[test]
fn a_loader_past_the_method_timeout_fails_with_timeout() {
    block_on(async {
        let cache: Cache<u32, u32> = Cache::builder()
            .method_timeout(Duration::from_millis(50))
            .build()
            .unwrap();
        let err = within(
            "the method timeout",
            cache.get_or_load(1, std::future::pending::<Result<u32, Io>>),
        )
        .await
        .unwrap_err();
        assert!(err.is_timeout(), "{err:?}");
        assert_eq!(cache.stats().timeouts, 1);
        let v = cache.get_or_load(1, || async { Ok::<_, Io>(1) }).await.unwrap();
        assert_eq!(v, 1);
    });
}

#[test]
fn a_panicking_loader_is_an_error_and_poisons_nothing() {
    block_on(async {
        let cache: Cache<u32, u32> = Cache::new();
        let err = cache
            .get_or_load(1, || async {
                if true {
                    panic!("driver bug");
                }
                Ok::<u32, Io>(0)
            })
            .await
            .unwrap_err();
        assert!(matches!(&err, Error::Panicked(m) if &**m == "driver bug"), "{err:?}");
        let v = cache.get_or_load(1, || async { Ok::<_, Io>(5) }).await.unwrap();
        assert_eq!(v, 5);
    });
}

#[test]
fn a_dropped_first_caller_neither_cancels_nor_restarts_the_load() {
    block_on(async {
        let cache: Cache<u32, u32> = Cache::new();
        let calls = Arc::new(AtomicUsize::new(0));
        let (open, closed) = gate();
        let (started, started_rx) = smol::channel::unbounded();
        // Polled once (the load starts), then dropped: the load goes on in a task.
        let first = cache.get_or_load(9, gated(&calls, &started, &closed));
        assert!(first.now_or_never().is_none());
        within("the load to start", started_rx.recv()).await.unwrap();
        let second = cache.get_or_load(9, || async { Ok::<_, Io>(0) });
        let (v, ()) = within("the second caller", join(second, async { drop(open) })).await;
        assert_eq!(v.unwrap(), 70);
        assert_eq!(calls.load(SeqCst), 1);
    });
}

#[test]
fn a_stale_value_is_served_at_once_and_refreshed_in_the_background() {
    block_on(async {
        let cache: Cache<u32, u32> = Cache::builder()
            .update_after(Duration::from_millis(100))
            .expire_after(Duration::from_secs(60))
            .build()
            .unwrap();
        cache.get_or_load(5, || async { Ok::<_, Io>(1) }).await.unwrap();
        smol::Timer::after(Duration::from_millis(150)).await;
        let (open, closed) = gate();
        let refreshed = cache.get_or_load(5, move || async move {
            let _ = closed.recv().await;
            Ok::<_, Io>(2)
        });
        // Served while the refresh still waits for the gate.
        assert_eq!(within("the stale hit", refreshed).await.unwrap(), 1);
        assert_eq!(cache.stats().hits_stale, 1);
        drop(open);
        within("the refresh", cache.idle()).await;
        assert_eq!(cache.get(&5).await, Some(2));
    });
}

#[test]
fn a_remembered_error_is_served_without_calling_the_loader() {
    block_on(async {
        let cache: Cache<u32, u32> = Cache::builder()
            .cache_errors(Duration::from_secs(60))
            .build()
            .unwrap();
        let calls = Arc::new(AtomicUsize::new(0));
        for _ in 0..3 {
            let calls = Arc::clone(&calls);
            let err = cache
                .get_or_load(4, move || async move {
                    calls.fetch_add(1, SeqCst);
                    Err::<u32, _>(Io::other("not found"))
                })
                .await
                .unwrap_err();
            assert_eq!(err.load_error().unwrap().to_string(), "not found");
        }
        assert_eq!(calls.load(SeqCst), 1);
        assert_eq!(cache.stats().errors_recalled, 2);
    });
}

#[test]
fn a_batcher_loads_one_window_of_misses_in_one_call() {
    block_on(async {
        let cache: Cache<u32, u32> = Cache::new();
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&calls);
        let batcher = cache.batcher(Duration::from_millis(50), 100, move |ids: Vec<u32>| {
            counted.fetch_add(1, SeqCst);
            async move { Ok::<_, Io>(ids.into_iter().map(|id| (id, id + 1)).collect::<Vec<_>>()) }
        });
        let gets = join_all((0..20).map(|id| batcher.get(id)));
        let results = within("the batch window", gets).await;
        let values: Vec<u32> = results.into_iter().map(Result::unwrap).collect();
        assert_eq!(values, (1..=20).collect::<Vec<_>>());
        assert_eq!(calls.load(SeqCst), 1);
    });
}

#[test]
fn get_all_and_invalidation() {
    block_on(async {
        let cache: Cache<u32, String> = Cache::new();
        let load_all =
            |ids: Vec<u32>| async move { Ok::<_, Io>(ids.into_iter().map(|id| (id, format!("#{id}"))).collect::<Vec<_>>()) };
        let got = cache.get_all([3, 1, 3], load_all).await;
        let got: Vec<String> = got.into_iter().map(Result::unwrap).collect();
        assert_eq!(got, ["#3", "#1", "#3"]);
        cache.invalidate(&3).await.unwrap();
        assert_eq!(cache.get(&3).await, None);
        assert_eq!(cache.get(&1).await.as_deref(), Some("#1"));
        cache.invalidate_all().await.unwrap();
        assert_eq!(cache.get(&1).await, None);
    });
}

#[test]
fn a_file_tier_serves_a_new_cache_without_a_load() {
    block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let tiered = || async {
            let files = FileStore::open(dir.path(), FileOptions::default()).await.unwrap();
            Cache::<String, String>::builder()
                .tier(Tier::new(files.typed(Namespace::new("pages"), Codec::json())))
                .build()
                .unwrap()
        };
        let first = tiered().await;
        let page = first
            .get_or_load("/".into(), || async { Ok::<_, Io>("home".to_string()) })
            .await
            .unwrap();
        assert_eq!(page, "home");
        within("the tier write", first.idle()).await;
        let second = tiered().await;
        let page = second
            .get_or_load("/".into(), || async { Ok::<_, Io>("reloaded".to_string()) })
            .await
            .unwrap();
        assert_eq!(page, "home");
        assert_eq!(second.stats().tiers[0].hits_fresh, 1);
    });
}

static SQUARE_CALLS: AtomicUsize = AtomicUsize::new(0);

#[memoize(update_after = "1m", expire_after = "5m")]
async fn square(n: u64) -> u64 {
    SQUARE_CALLS.fetch_add(1, SeqCst);
    n * n
}

#[test]
fn a_memoized_function_loads_once_per_argument() {
    block_on(async {
        let results = join_all((0..10).map(|_| square(12))).await;
        assert!(results.iter().all(|&v| v == 144));
        assert_eq!(square(3).await, 9);
        assert_eq!(SQUARE_CALLS.load(SeqCst), 2);
        square_memo().invalidate((12,)).await.unwrap();
        assert_eq!(square(12).await, 144);
        assert_eq!(SQUARE_CALLS.load(SeqCst), 3);
    });
}

#[derive(Clone, Hash, PartialEq, Eq, Debug)]
struct Score {
    id: u32,
}

static SCORE_BATCHES: AtomicUsize = AtomicUsize::new(0);

#[memocache::node(key = "score:{id}", batch_window = "20ms", max_batch = 100)]
impl Score {
    async fn load(&self) -> Result<u32, Io> {
        Ok(self.id * 3)
    }

    async fn load_all(nodes: Vec<Self>) -> Vec<(Self, Result<u32, Io>)> {
        SCORE_BATCHES.fetch_add(1, SeqCst);
        nodes.into_iter().map(|n| (n.clone(), Ok(n.id * 3))).collect()
    }
}

#[test]
fn a_typed_node_batches_its_single_misses_in_one_window() {
    block_on(async {
        let gets = join_all((0..30).map(|id| async move { memocache::node::get(&Score { id }).await }));
        let scores: Vec<u32> = within("the node's window", gets)
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(scores, (0..30).map(|id| id * 3).collect::<Vec<_>>());
        assert_eq!(SCORE_BATCHES.load(SeqCst), 1);
        assert_eq!(memocache::node::get(&Score { id: 7 }).await.unwrap(), 21);
        assert_eq!(memocache::node::stats::<Score>().hit_count, 1);
    });
}
