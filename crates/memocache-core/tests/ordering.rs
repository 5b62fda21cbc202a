//! The order of one key's writes, and what a refresh or a write may wait for (issue 11's
//! review): a chain of writes keeps its order; a refresh's loader holds nothing back; a
//! refresh decided on a stale lookup does not overwrite what replaced that entry; a task the
//! runtime cannot run does not wedge its key; concurrent failures open a breaker once. Paused
//! time, gates, channels; the only real-time waits are the timeouts of `hangs`, which elapse
//! only if a call deadlocks.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use common::{loader, tiered, until, Gate, Held};
use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use memocache_core::storage::{Storage, StorageError, StoredEntry};
use memocache_core::{Cache, Tier};

/// Lets the spawned tasks run until they wait on something.
async fn settle() {
    for _ in 0..200 {
        tokio::task::yield_now().await;
    }
}

// --- A chain of writes keeps its order --------------------------------------------------

/// load L is writing 10 (held); insert(1, 20) displaces L and its tier half W1 waits for L;
/// invalidate(1) displaces W1, which is not yet writing, so its W2 waits for nothing: the
/// removal lands first, invalidate returns, then L's write lands 10 in the tier.
#[tokio::test(start_paused = true)]
async fn an_invalidate_after_an_insert_waits_for_the_write_the_insert_was_waiting_for() {
    let tier = Held::new();
    let c = tiered(&tier);
    tier.set.close();
    let load = tokio::spawn({
        let c = c.clone();
        async move { c.get_or_load(1, || async { Ok::<u64, String>(10) }).await }
    });
    until(|| tier.set.waiting() == 1).await; // L is writing 10
                                             // insert: polled once and dropped (its tier half W1 goes on, waiting for L)
    assert!(c.insert(1, 20).now_or_never().is_none());
    let inv = tokio::spawn({
        let c = c.clone();
        async move { c.invalidate(&1).await }
    });
    settle().await;
    assert!(
        !inv.is_finished(),
        "invalidate waits for the write it follows"
    );
    tier.set.open();
    assert_eq!(load.await.unwrap().unwrap(), 10);
    inv.await.unwrap().unwrap();
    settle().await;
    assert_eq!(tier.value(1).await, None, "the tier agrees");
    let got = c.get(&1).await;
    assert_eq!(
        got, None,
        "invalidate returned, yet the old value is served"
    );
}

/// The same with invalidate_all: it drains W1 (not writing) and L is no longer in the table,
/// so the clear is sent without waiting for L's write.
#[tokio::test(start_paused = true)]
async fn an_invalidate_all_after_an_insert_waits_for_the_write_the_insert_was_waiting_for() {
    let tier = Held::new();
    let c = tiered(&tier);
    tier.set.close();
    let load = tokio::spawn({
        let c = c.clone();
        async move { c.get_or_load(1, || async { Ok::<u64, String>(10) }).await }
    });
    until(|| tier.set.waiting() == 1).await;
    assert!(c.insert(1, 20).now_or_never().is_none());
    let inv = tokio::spawn({
        let c = c.clone();
        async move { c.invalidate_all().await }
    });
    settle().await;
    assert!(
        !inv.is_finished(),
        "invalidate_all waits for the write it follows"
    );
    tier.set.open();
    assert_eq!(load.await.unwrap().unwrap(), 10);
    inv.await.unwrap().unwrap();
    settle().await;
    let got = c.get(&1).await;
    assert_eq!(tier.value(1).await, None, "the tier agrees");
    assert_eq!(
        got, None,
        "invalidate_all returned, yet the old value is served"
    );
}

// --- A refresh's loader holds no write back ---------------------------------------------

/// Memory stale (tokio clock), the tier's copy stale too (wall clock), as after any load once
/// update_after has passed. A stale hit starts a refresh whose loader hangs.
async fn stale_everywhere_with_a_hanging_refresh(tier: &Arc<Held>) -> Cache<u32, u64> {
    let c = tiered(tier);
    c.insert(1, 10).await;
    // the tier's copy, as written 20 s ago (stale, not expired; wall clock)
    let old = SystemTime::now() - Duration::from_secs(20);
    tier.inner()
        .set(
            &1,
            StoredEntry::created_at(old, 10, Duration::from_secs(10), Duration::from_secs(60)),
        )
        .await
        .unwrap();
    tokio::time::advance(Duration::from_secs(11)).await; // memory stale
    let v = c
        .get_or_load(1, std::future::pending::<Result<u64, String>>)
        .await
        .unwrap();
    assert_eq!(v, 10, "stale hit");
    until(|| c.stats().refreshes_started == 1).await;
    settle().await; // the refresh has read the stale tier entry and is in its loader
    c
}

#[tokio::test(start_paused = true)]
async fn invalidate_does_not_wait_for_a_refresh_loader() {
    let tier = Held::new();
    let c = stale_everywhere_with_a_hanging_refresh(&tier).await;
    let t0 = tokio::time::Instant::now();
    let inv = tokio::spawn({
        let c = c.clone();
        async move { c.invalidate(&1).await }
    });
    tokio::task::yield_now().await; // the invalidate's first poll: memory removed
    assert_eq!(c.len(), 0);
    // a miss on the key (memory already removed) joins the invalidate's write flight
    let calls = Arc::new(AtomicUsize::new(0));
    let r2 =
        tokio::time::timeout(Duration::from_secs(5), c.get_or_load(1, loader(&calls, 5))).await;
    assert_eq!(
        r2.expect("a miss after the invalidate loads at once")
            .unwrap(),
        5
    );
    inv.await.unwrap().unwrap();
    assert!(
        t0.elapsed() < Duration::from_secs(1),
        "invalidate held by the refresh's loader"
    );
}

#[tokio::test(start_paused = true)]
async fn insert_does_not_wait_for_a_refresh_loader() {
    let tier = Held::new();
    let c = stale_everywhere_with_a_hanging_refresh(&tier).await;
    let r = tokio::time::timeout(Duration::from_secs(5), c.insert(1, 20)).await;
    assert!(r.is_ok(), "insert held by the refresh's loader");
}

#[tokio::test(start_paused = true)]
async fn invalidate_all_and_other_misses_do_not_wait_for_a_refresh_loader() {
    let tier = Held::new();
    let c = stale_everywhere_with_a_hanging_refresh(&tier).await;
    assert!(c.invalidate_all().now_or_never().is_none());
    // another key entirely: a miss waits at the clear gate
    let calls = Arc::new(AtomicUsize::new(0));
    let r = tokio::time::timeout(Duration::from_secs(5), c.get_or_load(2, loader(&calls, 2))).await;
    assert!(r.is_ok(), "every miss held by one refresh's loader");
}

// --- A refresh decided on a stale lookup ------------------------------------------------

fn memory_only() -> Cache<u32, u64> {
    Cache::builder()
        .update_after(Duration::from_secs(10))
        .expire_after(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// The window is between the stale lookup and `refresh()`; `make_loader` runs in it, so an
/// insert made there is deterministic.
#[tokio::test(start_paused = true)]
async fn a_refresh_decided_before_an_insert_does_not_overwrite_the_inserted_value() {
    let c = memory_only();
    c.insert(1, 10).await;
    tokio::time::advance(Duration::from_secs(11)).await;
    let c2 = c.clone();
    let v = c
        .get_or_load_lazy(1, move || {
            // another caller's insert lands between the stale lookup and the refresh
            assert!(c2.insert(1, 20).now_or_never().is_some());
            || async { Ok::<u64, String>(99) }
        })
        .await
        .unwrap();
    assert_eq!(v, 10);
    until(|| c.loads_in_flight() == 0).await;
    let got = c.get(&1).await;
    assert_eq!(
        got,
        Some(20),
        "the fresh inserted value was replaced by a refresh"
    );
}

/// Two callers see the entry stale; the first's refresh finishes before the second reaches
/// refresh(): the second starts another refresh of a now-fresh entry (2 loader calls).
/// (Value 10 is stored already stale; refreshed values are fresh for 60 s.)
#[test]
fn two_stale_hits_refresh_once() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let c: Cache<u32, u64> = Cache::builder()
        .entry_builder(|_: &u32, v: &u64| {
            let update = if *v == 10 {
                Duration::ZERO
            } else {
                Duration::from_secs(60)
            };
            memocache_core::Lifespan::new(update, Duration::from_secs(600))
        })
        .build()
        .unwrap();
    rt.block_on(c.insert(1, 10));
    let calls = Arc::new(AtomicUsize::new(0));
    let (go, wait) = std::sync::mpsc::channel::<()>();
    let (inside, is_inside) = std::sync::mpsc::channel::<()>();
    let second = std::thread::spawn({
        let (c, calls, h) = (c.clone(), calls.clone(), rt.handle().clone());
        move || {
            h.block_on(c.get_or_load_lazy(1, move || {
                inside.send(()).unwrap();
                wait.recv().unwrap(); // held between its stale lookup and refresh()
                loader(&calls, 2)
            }))
        }
    });
    is_inside.recv().unwrap();
    rt.block_on(async {
        assert_eq!(c.get_or_load(1, loader(&calls, 1)).await.unwrap(), 10);
        until(|| c.stats().refreshes_succeeded == 1).await;
        assert_eq!(c.get(&1).await, Some(1), "refreshed: fresh now");
    });
    go.send(()).unwrap();
    assert_eq!(second.join().unwrap().unwrap(), 10);
    rt.block_on(until(|| {
        c.stats().refreshes_succeeded + c.stats().refreshes_failed == c.stats().refreshes_started
    }));
    assert_eq!(calls.load(SeqCst), 1, "one refresh for one stale period");
}

// --- A task the runtime cannot run -----------------------------------------------------

fn hangs(name: &str, f: impl FnOnce() + Send + 'static) -> bool {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        let _ = tx.send(r.is_err());
    });
    match rx.recv_timeout(Duration::from_secs(10)) {
        Ok(panicked) => {
            let _ = (name, panicked);
            false
        }
        Err(_) => {
            eprintln!("{name}: still blocked after 10 s (deadlocked)");
            true
        }
    }
}

#[test]
fn get_or_load_outside_a_runtime_panics_or_runs_on_smol_and_never_wedges_the_key() {
    let c: Cache<u32, u64> = Cache::new();
    let hung = hangs("get_or_load outside a runtime", {
        let c = c.clone();
        move || {
            let _ = c
                .get_or_load(1, || async { Ok::<u64, String>(1) })
                .now_or_never();
        }
    });
    assert!(!hung);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let v = rt.block_on(c.get_or_load(1, || async { Ok::<u64, String>(2) }));
    if cfg!(feature = "smol") {
        // With `smol`, the first call's load ran on smol's executor: this one joins or hits it.
        assert_eq!(v.unwrap(), 1);
    } else {
        // The key is free: in a runtime, the next request loads it.
        assert_eq!(v.unwrap(), 2);
    }
}

/// Runs `f` in the context of a runtime that has shut down (spawns are dropped at once).
fn on_a_shut_down_runtime(f: impl FnOnce()) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let handle = rt.handle().clone();
    drop(rt);
    let _enter = handle.enter();
    f();
}

#[test]
fn get_or_load_on_a_shut_down_runtime_returns() {
    let hung = hangs("get_or_load on a shut-down runtime's handle", || {
        on_a_shut_down_runtime(|| {
            let c: Cache<u32, u64> = Cache::new();
            let load = c.get_or_load(1, || async { Ok::<u64, String>(1) });
            let _ = load.now_or_never();
        })
    });
    assert!(!hung);
}

#[test]
fn a_tiered_insert_on_a_shut_down_runtime_returns() {
    let hung = hangs("tiered insert on a shut-down runtime's handle", || {
        on_a_shut_down_runtime(|| {
            let c = tiered(&Held::new());
            let _ = c.insert(1, 1).now_or_never();
        })
    });
    assert!(!hung);
}

// --- The circuit breaker under concurrent failures ---------------------------------------

struct FailingHeld {
    gate: Gate,
}
impl Storage<u32, u64> for FailingHeld {
    fn name(&self) -> &str {
        "failing"
    }
    fn get<'a>(
        &'a self,
        _: &'a u32,
    ) -> BoxFuture<'a, Result<Option<StoredEntry<u64>>, StorageError>> {
        async move {
            self.gate.pass().await;
            Err(StorageError::backend(std::io::Error::other("down")))
        }
        .boxed()
    }
    fn set<'a>(
        &'a self,
        _: &'a u32,
        _: StoredEntry<u64>,
    ) -> BoxFuture<'a, Result<(), StorageError>> {
        async { Ok(()) }.boxed()
    }
    fn remove<'a>(&'a self, _: &'a u32) -> BoxFuture<'a, Result<(), StorageError>> {
        async { Ok(()) }.boxed()
    }
    fn clear(&self) -> BoxFuture<'_, Result<(), StorageError>> {
        async { Ok(()) }.boxed()
    }
}

#[tokio::test(start_paused = true)]
async fn concurrent_failures_count_one_opening_each() {
    let s = Arc::new(FailingHeld {
        gate: Gate::default(),
    });
    s.gate.close();
    let c: Cache<u32, u64> = Cache::builder()
        .tier(
            Tier::from_arc(s.clone()).circuit_breaker(memocache_core::tier::CircuitBreaker {
                failure_threshold: 1,
                cool_down: Duration::from_secs(5),
            }),
        )
        .build()
        .unwrap();
    let reads: Vec<_> = (0..3)
        .map(|k| {
            let c = c.clone();
            tokio::spawn(async move { c.get(&k).await })
        })
        .collect();
    until(|| s.gate.waiting() == 3).await;
    s.gate.open();
    for r in reads {
        assert_eq!(r.await.unwrap(), None);
    }
    let t = &c.stats().tiers[0];
    assert_eq!(t.errors, 3);
    assert_eq!(t.breaker_opened, 1, "the breaker opened once");
}
