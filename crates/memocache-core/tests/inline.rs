//! The request that misses a key in a cache without tiers runs the load itself (no task per
//! miss), and hands it to a task when it is dropped mid-load: the load is never cancelled nor
//! restarted, wherever the request is dropped (its own task aborted, another thread, an
//! unwinding panic), and the method timeout, panics and statistics behave as for a load
//! spawned from the start (`spawn_loads(true)`); a runtime that has shut down fails the
//! waiters with `Cancelled`. Tiered caches spawn their loads (a parked leader must not hold a
//! tier write claim); a memoized recursion does not nest its levels on one stack without
//! bound; `get_or_load`'s future stays `Send + Sync`.

mod common;

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use common::{in_memory, tiered, until, Gate, Held};
use memocache_core::{Cache, Error, Stats};
use tokio::sync::Notify;
use tokio::time::{sleep, Instant};

/// Polls `fut` once, in the caller's context.
async fn poll_once<F: std::future::Future + ?Sized>(
    mut fut: std::pin::Pin<&mut F>,
) -> std::task::Poll<F::Output> {
    std::future::poll_fn(|cx| std::task::Poll::Ready(fut.as_mut().poll(cx))).await
}

/// What a loader did: calls, polls after its gate opened, and its future dropped.
#[derive(Default)]
struct Trace {
    called: AtomicUsize,
    resumed: AtomicUsize,
    dropped: AtomicUsize,
}

struct OnDrop(Arc<Trace>);

impl Drop for OnDrop {
    fn drop(&mut self) {
        self.0.dropped.fetch_add(1, SeqCst);
    }
}

/// A loader that records itself in `trace`, waits for `gate`, then returns `value`.
fn traced(
    trace: &Arc<Trace>,
    gate: &Arc<Notify>,
    value: u64,
) -> impl FnOnce() -> std::pin::Pin<Box<dyn Future<Output = Result<u64, String>> + Send>> + Send + 'static
{
    let (trace, gate) = (trace.clone(), gate.clone());
    move || {
        Box::pin(async move {
            trace.called.fetch_add(1, SeqCst);
            let _guard = OnDrop(trace.clone());
            gate.notified().await;
            trace.resumed.fetch_add(1, SeqCst);
            Ok(value)
        })
    }
}

fn memory_cache(spawn_loads: bool) -> Cache<u32, u64> {
    Cache::builder()
        .update_after(Duration::from_secs(10))
        .expire_after(Duration::from_secs(60))
        .spawn_loads(spawn_loads)
        .build()
        .unwrap()
}

/// Spawns a `get_or_load` of key 1 with `loader`.
fn request<L, Fut>(
    c: &Cache<u32, u64>,
    loader: L,
) -> tokio::task::JoinHandle<Result<u64, Error<String>>>
where
    L: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<u64, String>> + Send + 'static,
{
    let c = c.clone();
    tokio::spawn(async move { c.get_or_load(1, loader).await })
}

#[tokio::test(start_paused = true)]
async fn a_leader_aborted_mid_loader_hands_the_same_loader_future_to_a_task() {
    let c = memory_cache(false);
    let (trace, gate) = (Arc::new(Trace::default()), Arc::new(Notify::new()));
    let leader = request(&c, traced(&trace, &gate, 7));
    until(|| trace.called.load(SeqCst) == 1).await;
    let follower = request(&c, traced(&trace, &gate, 8));
    until(|| c.stats().coalesced == 1).await;
    leader.abort();
    assert!(leader.await.unwrap_err().is_cancelled());
    assert_eq!(
        trace.dropped.load(SeqCst),
        0,
        "the loader's future lives on"
    );
    assert_eq!(c.loads_in_flight(), 1);
    gate.notify_one();
    assert_eq!(follower.await.unwrap().unwrap(), 7);
    c.idle().await;
    // One call, resumed once where it stopped, dropped once when it had finished.
    assert_eq!(trace.called.load(SeqCst), 1);
    assert_eq!(trace.resumed.load(SeqCst), 1);
    assert_eq!(trace.dropped.load(SeqCst), 1);
    assert_eq!(c.get(&1).await, Some(7), "stored");
    let s = c.stats();
    assert_eq!((s.loads_started, s.load_successes, s.coalesced), (1, 1, 1));
}

/// A tiered cache's leader aborted while its (spawned) load waits at `gate` of the tier: the
/// follower gets the value of one loader call, written to the tier once and to memory.
/// `held_write`: the gate holds the tier write, which has not landed before it opens.
async fn tiered_leader_dropped_at(gate: fn(&Held) -> &Gate, held_write: bool) {
    let tier = Held::new();
    let c = tiered(&tier);
    gate(&tier).close();
    let calls = Arc::new(AtomicUsize::new(0));
    let leader = request(&c, common::loader(&calls, 7));
    until(|| gate(&tier).waiting() == 1).await;
    let follower = request(&c, common::loader(&calls, 8));
    until(|| c.stats().coalesced == 1).await;
    leader.abort();
    assert!(leader.await.unwrap_err().is_cancelled());
    if held_write {
        assert_eq!(tier.value(1).await, None, "the write is still held");
    }
    gate(&tier).open();
    assert_eq!(follower.await.unwrap().unwrap(), 7);
    c.idle().await;
    assert_eq!(calls.load(SeqCst), 1);
    assert_eq!(c.stats().tiers[0].writes, 1);
    assert_eq!(tier.value(1).await, Some(7));
    assert_eq!(in_memory(&c, 1).await, Some(7));
}

#[tokio::test(start_paused = true)]
async fn a_tiered_leader_dropped_mid_tier_read_changes_nothing() {
    tiered_leader_dropped_at(|t| &t.get, false).await;
}

#[tokio::test(start_paused = true)]
async fn a_tiered_leader_dropped_mid_tier_write_changes_nothing() {
    tiered_leader_dropped_at(|t| &t.set, true).await;
}

#[test]
fn a_leader_dropped_on_another_thread_hands_the_load_to_its_runtime() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let c = memory_cache(false);
    let (trace, gate) = (Arc::new(Trace::default()), Arc::new(Notify::new()));
    // Polled once inside the runtime (the load starts), then sent to a plain thread and
    // dropped there, outside every runtime.
    let mut leader = Box::pin(c.get_or_load(1, traced(&trace, &gate, 7)));
    rt.block_on(async { assert!(poll_once(leader.as_mut()).await.is_pending()) });
    assert_eq!(trace.called.load(SeqCst), 1);
    std::thread::scope(|s| s.spawn(move || drop(leader)).join().unwrap());
    assert_eq!(trace.dropped.load(SeqCst), 0);
    rt.block_on(async {
        let follower = request(&c, traced(&trace, &gate, 8));
        until(|| c.stats().coalesced == 1).await;
        gate.notify_one();
        assert_eq!(follower.await.unwrap().unwrap(), 7);
        c.idle().await;
    });
    assert_eq!(trace.called.load(SeqCst), 1);
    assert_eq!(trace.resumed.load(SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn a_leader_dropped_by_a_panic_hands_the_load_on() {
    let c = memory_cache(false);
    let (trace, gate) = (Arc::new(Trace::default()), Arc::new(Notify::new()));
    let panicking = {
        let (c, loader) = (c.clone(), traced(&trace, &gate, 7));
        tokio::spawn(async move {
            let mut leader = std::pin::pin!(c.get_or_load(1, loader));
            assert!(poll_once(leader.as_mut()).await.is_pending());
            panic!("the leader's task panics with the load in flight");
        })
    };
    assert!(panicking.await.unwrap_err().is_panic());
    assert_eq!(trace.called.load(SeqCst), 1);
    assert_eq!(trace.dropped.load(SeqCst), 0);
    let follower = request(&c, traced(&trace, &gate, 8));
    until(|| c.stats().coalesced == 1).await;
    gate.notify_one();
    assert_eq!(follower.await.unwrap().unwrap(), 7);
    assert_eq!(trace.resumed.load(SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn a_handed_off_load_still_times_out_at_its_deadline() {
    let c: Cache<u32, u64> = Cache::builder()
        .method_timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let (trace, gate) = (Arc::new(Trace::default()), Arc::new(Notify::new()));
    let start = Instant::now();
    let leader = request(&c, traced(&trace, &gate, 7));
    until(|| trace.called.load(SeqCst) == 1).await;
    sleep(Duration::from_secs(1)).await;
    let follower = request(&c, traced(&trace, &gate, 8));
    until(|| c.stats().coalesced == 1).await;
    leader.abort();
    let e = follower.await.unwrap().unwrap_err();
    assert!(
        matches!(e, Error::Timeout(d) if d == Duration::from_secs(2)),
        "{e:?}"
    );
    assert_eq!(
        start.elapsed(),
        Duration::from_secs(2),
        "the deadline of the first poll"
    );
    assert_eq!(
        trace.dropped.load(SeqCst),
        1,
        "the loader was cancelled once"
    );
    assert_eq!(trace.resumed.load(SeqCst), 0);
    let s = c.stats();
    assert_eq!((s.timeouts, s.load_failures, s.loads_started), (1, 1, 1));
}

fn boom() -> Result<u64, String> {
    panic!("loader panics after its leader is gone")
}

#[tokio::test(start_paused = true)]
async fn a_handed_off_load_that_panics_fails_its_waiters_once() {
    let c = memory_cache(false);
    let gate = Arc::new(Notify::new());
    let loader = |gate: &Arc<Notify>| {
        let gate = gate.clone();
        move || async move {
            gate.notified().await;
            boom()
        }
    };
    let leader = request(&c, loader(&gate));
    until(|| c.loads_in_flight() == 1).await;
    let follower = request(&c, loader(&gate));
    until(|| c.stats().coalesced == 1).await;
    leader.abort();
    assert!(leader.await.unwrap_err().is_cancelled());
    gate.notify_one();
    let e = follower.await.unwrap().unwrap_err();
    assert!(
        matches!(&e, Error::Panicked(m) if m.contains("leader is gone")),
        "{e:?}"
    );
    let s = c.stats();
    assert_eq!((s.panics, s.load_failures, s.loads_started), (1, 1, 1));
    assert_eq!(c.loads_in_flight(), 0);
}

/// The statistics of one scenario: 3 keys, 4 callers each, one dropped leader, an error.
async fn scenario(spawn_loads: bool) -> Stats {
    let c = memory_cache(spawn_loads);
    let gate = Arc::new(Notify::new());
    let mut waiting = Vec::new();
    for key in 0..3u32 {
        for _ in 0..4 {
            let (c, gate) = (c.clone(), gate.clone());
            waiting.push(tokio::spawn(async move {
                c.get_or_load(key, move || async move {
                    gate.notified().await;
                    if key == 2 {
                        return Err("two fails".to_string());
                    }
                    Ok(u64::from(key))
                })
                .await
            }));
        }
    }
    until(|| c.stats().coalesced == 9).await;
    waiting.remove(0).abort();
    tokio::task::yield_now().await;
    gate.notify_waiters();
    for (i, w) in waiting.into_iter().enumerate() {
        let key = (i + 1) / 4;
        let got = w.await.unwrap();
        match key {
            2 => assert!(got.is_err()),
            _ => assert_eq!(got.unwrap(), key as u64),
        }
    }
    c.idle().await;
    assert_eq!(
        c.get_or_load(0, || async { Ok::<u64, String>(9) })
            .await
            .unwrap(),
        0
    );
    c.stats()
}

#[tokio::test(start_paused = true)]
async fn inline_and_spawned_loads_count_the_same() {
    let (inline, spawned) = (scenario(false).await, scenario(true).await);
    let fields = |s: &Stats| {
        (
            s.hits(),
            s.misses,
            s.loads_started,
            s.load_successes,
            s.load_failures,
            s.coalesced,
            s.timeouts,
            s.panics,
        )
    };
    assert_eq!(fields(&inline), fields(&spawned));
    assert_eq!((inline.loads_started, inline.coalesced), (3, 9));
}

/// A leader polled once and then kept alive without being polled (parked) holds its load
/// back until it is polled or dropped — unless loads are spawned (the documented hazard, and
/// its escape hatch).
#[tokio::test(start_paused = true)]
async fn a_parked_leader_holds_its_waiters_back_unless_loads_are_spawned() {
    let c = memory_cache(false);
    let gate = Arc::new(Notify::new());
    let (trace, other) = (Arc::new(Trace::default()), Arc::new(Trace::default()));
    let mut leader = Box::pin(c.get_or_load(1, traced(&trace, &gate, 7)));
    assert!(poll_once(leader.as_mut()).await.is_pending());
    let follower = request(&c, traced(&other, &gate, 8));
    until(|| c.stats().coalesced == 1).await;
    // The loader's gate opens, but nobody polls the load: the follower stays waiting.
    gate.notify_one();
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    assert!(
        !follower.is_finished(),
        "inline: a parked leader holds its load back"
    );
    assert_eq!(trace.resumed.load(SeqCst), 0);
    // Dropping it hands the load on; the wake-up it missed is not lost.
    drop(leader);
    assert_eq!(follower.await.unwrap().unwrap(), 7);
    assert_eq!(other.called.load(SeqCst), 0);

    // The same with `spawn_loads(true)`: the follower is served while the leader is parked.
    let c = memory_cache(true);
    let trace = Arc::new(Trace::default());
    let mut leader = Box::pin(c.get_or_load(1, traced(&trace, &gate, 7)));
    assert!(poll_once(leader.as_mut()).await.is_pending());
    let follower = request(&c, traced(&other, &gate, 8));
    until(|| c.stats().coalesced == 1).await;
    until(|| trace.called.load(SeqCst) == 1).await;
    gate.notify_one();
    assert_eq!(follower.await.unwrap().unwrap(), 7);
    assert_eq!(leader.await.unwrap(), 7);
}

#[tokio::test(start_paused = true)]
async fn a_get_dropped_mid_tier_read_lets_the_read_finish_and_backfill_memory() {
    let tier = Held::new();
    let c = tiered(&tier);
    let entry = memocache_core::storage::StoredEntry::new(
        5u64,
        Duration::from_secs(10),
        Duration::from_secs(60),
    );
    memocache_core::storage::Storage::set(tier.inner(), &1, entry)
        .await
        .unwrap();
    tier.get.close();
    let leader = {
        let c = c.clone();
        tokio::spawn(async move { c.get(&1).await })
    };
    until(|| tier.get.waiting() == 1).await;
    let follower = {
        let c = c.clone();
        tokio::spawn(async move { c.get(&1).await })
    };
    until(|| c.stats().coalesced == 1).await;
    leader.abort();
    assert!(leader.await.unwrap_err().is_cancelled());
    tier.get.open();
    assert_eq!(follower.await.unwrap(), Some(5));
    c.idle().await;
    assert_eq!(c.stats().tiers[0].hits(), 1, "one tier read");
    assert_eq!(in_memory(&c, 1).await, Some(5), "backfilled");
}

#[tokio::test(start_paused = true)]
async fn a_refresh_dropped_mid_loader_still_stores_and_answers_its_joiners() {
    let c = memory_cache(false);
    c.insert(1, 1).await;
    let (trace, gate) = (Arc::new(Trace::default()), Arc::new(Notify::new()));
    let leader = {
        let (c, loader) = (c.clone(), traced(&trace, &gate, 7));
        tokio::spawn(async move { c.refresh(1, loader).await })
    };
    until(|| trace.called.load(SeqCst) == 1).await;
    leader.abort();
    assert!(leader.await.unwrap_err().is_cancelled());
    assert_eq!(trace.dropped.load(SeqCst), 0, "the refresh lives on");
    // A refresh asked for after the leader is gone joins the handed-off one.
    let joiner = {
        let (c, loader) = (c.clone(), traced(&trace, &gate, 8));
        tokio::spawn(async move { c.refresh(1, loader).await })
    };
    assert_eq!(c.get(&1).await, Some(1), "the old value meanwhile");
    gate.notify_one();
    assert_eq!(joiner.await.unwrap().unwrap(), 7);
    c.idle().await;
    assert_eq!(trace.called.load(SeqCst), 1);
    assert_eq!(c.get(&1).await, Some(7));
}

#[test]
fn a_leader_dropped_after_its_runtime_shut_down_fails_its_waiters_with_cancelled() {
    let runtime = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    };
    let c = memory_cache(false);
    let (trace, gate) = (Arc::new(Trace::default()), Arc::new(Notify::new()));
    let (first, second) = (runtime(), runtime());
    let mut leader = Box::pin(c.get_or_load(1, traced(&trace, &gate, 7)));
    first.block_on(async { assert!(poll_once(leader.as_mut()).await.is_pending()) });
    let waiter = {
        let (c, loader) = (c.clone(), traced(&trace, &gate, 8));
        second.spawn(async move { c.get_or_load(1, loader).await })
    };
    second.block_on(until(|| c.stats().coalesced == 1));
    drop(first);
    // The handoff goes to the runtime the load started on, which has shut down: the load is
    // dropped, its waiter fails with `Cancelled`, and the key is free.
    drop(leader);
    assert_eq!(trace.dropped.load(SeqCst), 1);
    let e = second.block_on(waiter).unwrap().unwrap_err();
    assert!(matches!(e, Error::Cancelled), "{e:?}");
    let next = second.block_on(c.get_or_load(1, || async { Ok::<u64, String>(9) }));
    assert_eq!(next.unwrap(), 9);
    assert_eq!(trace.called.load(SeqCst), 1);
}

/// `n` levels of a memoized recursion: each level's loader awaits the level below.
fn depth(c: Cache<u64, u64>, n: u64) -> std::pin::Pin<Box<dyn Future<Output = u64> + Send>> {
    Box::pin(async move {
        let below = c.clone();
        c.get_or_load(n, move || async move {
            match n {
                0 => Ok::<u64, String>(0),
                _ => Ok(depth(below, n - 1).await + 1),
            }
        })
        .await
        .unwrap()
    })
}

#[test]
fn a_deep_memoized_recursion_does_not_nest_on_one_stack() {
    // 10,000 levels inline on one stack overflow a 1 MiB one; every 16th level starts a task.
    let run = std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let c: Cache<u64, u64> = Cache::builder().capacity(20_000).build().unwrap();
            rt.block_on(depth(c.clone(), 10_000))
        })
        .unwrap();
    assert_eq!(run.join().unwrap(), 10_000);
}

#[tokio::test(start_paused = true)]
async fn a_tiered_cache_spawns_its_loads_so_a_parked_leader_holds_nothing_back() {
    let tier = Held::new();
    let c = tiered(&tier);
    let (trace, gate) = (Arc::new(Trace::default()), Arc::new(Notify::new()));
    let mut leader = Box::pin(c.get_or_load(1, traced(&trace, &gate, 7)));
    assert!(poll_once(leader.as_mut()).await.is_pending());
    until(|| trace.called.load(SeqCst) == 1).await;
    // Parked mid-load: an invalidate_all (which waits for tier writes in progress) and a
    // follower still finish.
    gate.notify_one();
    let follower = request(&c, traced(&trace, &gate, 8));
    let hour = Duration::from_secs(3_600);
    let served = tokio::time::timeout(hour, follower).await;
    assert_eq!(
        served
            .expect("the parked leader held the load")
            .unwrap()
            .unwrap(),
        7
    );
    tokio::time::timeout(hour, c.invalidate_all())
        .await
        .expect("invalidate_all waited for the parked leader")
        .unwrap();
    assert_eq!(leader.await.unwrap(), 7);
}

fn assert_send_sync<T: Send + Sync>(_: &T) {}

#[test]
fn get_or_load_futures_are_send_and_sync() {
    let c = memory_cache(false);
    assert_send_sync(&c.get_or_load(1, || async { Ok::<u64, String>(1) }));
    assert_send_sync(&c.refresh(1, || async { Ok::<u64, String>(1) }));
}
