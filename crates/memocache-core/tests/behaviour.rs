//! The behaviours the core promises (issue 2), one test or more each. Timing uses paused
//! Tokio time; ordering uses explicit gates (oneshot channels / Notify), never wall-clock sleeps.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use memocache_core::{BuildError, Cache, Error, Lifespan};
use tokio::sync::Notify;
use tokio::time::{advance, sleep};

type Calls = Arc<AtomicUsize>;

fn calls() -> Calls {
    Arc::new(AtomicUsize::new(0))
}

/// Yields until `cond` holds (the spawned load tasks make progress meanwhile).
async fn until(mut cond: impl FnMut() -> bool) {
    for _ in 0..10_000 {
        if cond() {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("condition not reached");
}

fn cache(update: u64, expire: u64) -> Cache<u32, u64> {
    Cache::builder()
        .update_after(Duration::from_secs(update))
        .expire_after(Duration::from_secs(expire))
        .build()
        .unwrap()
}

/// A loader that counts its calls and returns the call number.
fn counting(
    calls: &Calls,
) -> impl FnOnce() -> std::future::Ready<Result<u64, String>> + Send + 'static {
    let calls = calls.clone();
    move || std::future::ready(Ok(calls.fetch_add(1, SeqCst) as u64 + 1))
}

/// A loader that counts, then waits for `gate` before returning the call number.
fn gated(
    calls: &Calls,
    gate: &Arc<Notify>,
) -> impl FnOnce() -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<u64, String>> + Send>>
       + Send
       + 'static {
    let (calls, gate) = (calls.clone(), gate.clone());
    move || {
        Box::pin(async move {
            let n = calls.fetch_add(1, SeqCst) as u64 + 1;
            gate.notified().await;
            Ok(n)
        })
    }
}

// 1. Fresh hit: the loader is not called.
#[tokio::test(start_paused = true)]
async fn fresh_hit_does_not_call_the_loader() {
    let c = cache(10, 60);
    let n = calls();
    assert_eq!(c.get_or_load(1, counting(&n)).await.unwrap(), 1);
    advance(Duration::from_secs(9)).await;
    assert_eq!(c.get_or_load(1, counting(&n)).await.unwrap(), 1);
    assert_eq!(n.load(SeqCst), 1);
    let s = c.stats();
    assert_eq!((s.hits_fresh, s.misses, s.loads_started), (1, 1, 1));
}

// 2. Stale: old value at once, exactly one refresh for many callers, then the new value.
#[tokio::test(start_paused = true)]
async fn stale_entry_is_served_at_once_and_refreshed_exactly_once() {
    let c = cache(10, 60);
    let n = calls();
    c.get_or_load(1, counting(&n)).await.unwrap();
    advance(Duration::from_secs(11)).await;
    let gate = Arc::new(Notify::new());
    for _ in 0..100 {
        assert_eq!(
            c.get_or_load(1, gated(&n, &gate)).await.unwrap(),
            1,
            "stale value at once"
        );
    }
    until(|| n.load(SeqCst) == 2).await;
    assert_eq!(c.stats().refreshes_started, 1);
    assert_eq!(c.loads_in_flight(), 1);
    gate.notify_one();
    until(|| c.loads_in_flight() == 0).await;
    assert_eq!(
        c.get_or_load(1, counting(&n)).await.unwrap(),
        2,
        "refreshed value"
    );
    let s = c.stats();
    assert_eq!(s.hits_stale, 100);
    assert_eq!(s.refreshes_succeeded, 1);
    assert_eq!(n.load(SeqCst), 2);
}

// 3. A failed refresh keeps the stale value until expire_after; retries after a backoff, one
//    at a time.
#[tokio::test(start_paused = true)]
async fn failed_refresh_keeps_stale_value_and_retries_after_backoff() {
    let c = cache(10, 60);
    let n = calls();
    c.get_or_load(1, counting(&n)).await.unwrap();
    advance(Duration::from_secs(11)).await;
    let failing = |n: &Calls| {
        let n = n.clone();
        move || async move {
            n.fetch_add(1, SeqCst);
            Err::<u64, String>("backend down".into())
        }
    };
    assert_eq!(c.get_or_load(1, failing(&n)).await.unwrap(), 1);
    until(|| c.stats().refreshes_failed == 1).await;
    // Within the backoff: stale value served, no new refresh.
    for _ in 0..10 {
        assert_eq!(c.get_or_load(1, failing(&n)).await.unwrap(), 1);
    }
    tokio::task::yield_now().await;
    assert_eq!(c.stats().refreshes_started, 1);
    // After the backoff (1 s): one more try.
    advance(Duration::from_millis(1_100)).await;
    assert_eq!(c.get_or_load(1, failing(&n)).await.unwrap(), 1);
    until(|| c.stats().refreshes_failed == 2).await;
    assert_eq!(c.stats().refreshes_started, 2);
    // Second failure backs off longer (2 s): 1.1 s later still nothing.
    advance(Duration::from_millis(1_100)).await;
    assert_eq!(c.get_or_load(1, failing(&n)).await.unwrap(), 1);
    tokio::task::yield_now().await;
    assert_eq!(c.stats().refreshes_started, 2);
    // Past expire_after the stale value is gone: the caller waits and gets the error.
    advance(Duration::from_secs(60)).await;
    let err = c.get_or_load(1, failing(&n)).await.unwrap_err();
    assert_eq!(err.load_error().map(String::as_str), Some("backend down"));
    // ...and a successful refresh afterwards is stored.
    assert_eq!(c.get_or_load(1, counting(&n)).await.unwrap(), 5);
}

// 4. N concurrent callers for a missing key: exactly one loader call, the same value for all.
#[tokio::test(start_paused = true)]
async fn ten_thousand_concurrent_callers_cause_one_load() {
    let c = cache(10, 60);
    let n = calls();
    let tasks: Vec<_> = (0..10_000)
        .map(|_| {
            let (c, n) = (c.clone(), n.clone());
            tokio::spawn(async move {
                c.get_or_load(7, move || async move {
                    n.fetch_add(1, SeqCst);
                    sleep(Duration::from_millis(100)).await;
                    Ok::<_, String>(77)
                })
                .await
                .unwrap()
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), 77);
    }
    assert_eq!(n.load(SeqCst), 1);
    let s = c.stats();
    assert_eq!(s.loads_started, 1);
    assert_eq!(s.misses, 10_000);
    assert_eq!(s.coalesced, 9_999);
}

// 4b. The same on a multi-threaded runtime (real parallelism, no paused time needed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_callers_on_two_threads_cause_one_load() {
    let c = cache(10, 60);
    let n = calls();
    let gate = Arc::new(Notify::new());
    let tasks: Vec<_> = (0..2_000)
        .map(|_| {
            let (c, loader) = (c.clone(), gated(&n, &gate));
            tokio::spawn(async move { c.get_or_load(3, loader).await.unwrap() })
        })
        .collect();
    while c.stats().requests < 2_000 {
        tokio::task::yield_now().await;
    }
    gate.notify_one();
    for t in tasks {
        assert_eq!(t.await.unwrap(), 1);
    }
    assert_eq!(n.load(SeqCst), 1);
}

// 5. Loader error: every waiter gets it, nothing stored, next request loads again.
#[tokio::test(start_paused = true)]
async fn loader_error_reaches_every_waiter_and_is_not_stored() {
    #[derive(Debug)]
    struct NotClone(&'static str);
    let c = cache(10, 60);
    let n = calls();
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (c, n) = (c.clone(), n.clone());
            tokio::spawn(async move {
                c.get_or_load(1, move || async move {
                    n.fetch_add(1, SeqCst);
                    sleep(Duration::from_millis(10)).await;
                    Err::<u64, _>(NotClone("nope"))
                })
                .await
            })
        })
        .collect();
    let mut errors = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            Err(Error::Load(e)) => errors.push(e),
            other => panic!("expected the load error, got {other:?}"),
        }
    }
    assert_eq!(n.load(SeqCst), 1);
    assert!(
        errors.iter().all(|e| Arc::ptr_eq(e, &errors[0])),
        "one shared error"
    );
    assert_eq!(errors[0].0, "nope");
    assert_eq!(c.len(), 0);
    assert_eq!(c.get_or_load(1, counting(&n)).await.unwrap(), 2);
    let s = c.stats();
    assert_eq!((s.load_failures, s.load_successes), (1, 1));
}

// 6. Method timeout: the loader is cancelled, every waiter gets Timeout, next request loads.
#[tokio::test(start_paused = true)]
async fn slow_loader_times_out_for_every_waiter_and_is_cancelled() {
    let c: Cache<u32, u64> = Cache::builder()
        .method_timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let dropped = Arc::new(AtomicUsize::new(0));
    struct OnDrop(Arc<AtomicUsize>);
    impl Drop for OnDrop {
        fn drop(&mut self) {
            self.0.fetch_add(1, SeqCst);
        }
    }
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (c, dropped) = (c.clone(), dropped.clone());
            tokio::spawn(async move {
                c.get_or_load(1, move || async move {
                    let _guard = OnDrop(dropped);
                    sleep(Duration::from_secs(3600)).await;
                    Ok::<_, String>(1)
                })
                .await
            })
        })
        .collect();
    for t in tasks {
        let e = t.await.unwrap().unwrap_err();
        assert!(e.is_timeout(), "{e:?}");
        assert!(matches!(e, Error::Timeout(d) if d == Duration::from_secs(2)));
    }
    // the loader future was dropped (cancelled); the 19 others were never called
    assert_eq!(dropped.load(SeqCst), 1);
    assert_eq!(c.len(), 0);
    let n = calls();
    assert_eq!(c.get_or_load(1, counting(&n)).await.unwrap(), 1);
    assert_eq!(c.stats().timeouts, 1);
}

// 7a. Dropping the leader (the caller whose loader runs) cancels nothing.
#[tokio::test(start_paused = true)]
async fn dropping_the_first_waiter_does_not_cancel_the_load() {
    let c = cache(10, 60);
    let n = calls();
    let gate = Arc::new(Notify::new());
    let leader = {
        let (c, loader) = (c.clone(), gated(&n, &gate));
        tokio::spawn(async move { c.get_or_load(1, loader).await })
    };
    until(|| n.load(SeqCst) == 1).await;
    let follower = {
        let (c, loader) = (c.clone(), gated(&n, &gate));
        tokio::spawn(async move { c.get_or_load(1, loader).await })
    };
    until(|| c.stats().coalesced == 1).await;
    leader.abort();
    assert!(leader.await.unwrap_err().is_cancelled());
    // a new caller still joins the same load, no second load starts
    let late = {
        let (c, loader) = (c.clone(), gated(&n, &gate));
        tokio::spawn(async move { c.get_or_load(1, loader).await })
    };
    until(|| c.stats().coalesced == 2).await;
    gate.notify_one();
    assert_eq!(follower.await.unwrap().unwrap(), 1);
    assert_eq!(late.await.unwrap().unwrap(), 1);
    assert_eq!(n.load(SeqCst), 1);
}

// 7b. Dropping every waiter: the load runs on, stores its value, the key is not stuck.
#[tokio::test(start_paused = true)]
async fn dropping_every_waiter_lets_the_load_finish_and_store() {
    let c = cache(10, 60);
    let n = calls();
    let fut = c.get_or_load(1, move || {
        let n = n.clone();
        async move {
            n.fetch_add(1, SeqCst);
            sleep(Duration::from_secs(1)).await;
            Ok::<_, String>(10)
        }
    });
    // poll once so the load starts, then drop the only waiter
    assert!(tokio::time::timeout(Duration::from_millis(1), fut)
        .await
        .is_err());
    assert_eq!(c.loads_in_flight(), 1);
    sleep(Duration::from_secs(2)).await;
    until(|| c.loads_in_flight() == 0).await;
    let n2 = calls();
    assert_eq!(c.get_or_load(1, counting(&n2)).await.unwrap(), 10);
    assert_eq!(n2.load(SeqCst), 0, "served from the stored value");
}

// 8. Panic in the loader: every waiter gets Panicked, no hang, next request loads again.
#[tokio::test(start_paused = true)]
async fn loader_panic_reaches_every_waiter_and_the_next_request_loads() {
    let c = cache(10, 60);
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move {
                c.get_or_load(1, || async {
                    sleep(Duration::from_millis(5)).await;
                    if true {
                        panic!("boom");
                    }
                    Ok::<u64, String>(0)
                })
                .await
            })
        })
        .collect();
    for t in tasks {
        match t.await.unwrap() {
            Err(Error::Panicked(msg)) => assert_eq!(&*msg, "boom"),
            other => panic!("expected a panic error, got {other:?}"),
        }
    }
    let n = calls();
    assert_eq!(c.get_or_load(1, counting(&n)).await.unwrap(), 1);
    assert_eq!(c.stats().panics, 1);
}

// 9a. invalidate(key) racing a load: waiters get the value, it is not stored.
#[tokio::test(start_paused = true)]
async fn invalidate_during_a_load_hands_the_value_out_but_does_not_store_it() {
    let c = cache(10, 60);
    let n = calls();
    let gate = Arc::new(Notify::new());
    let waiter = {
        let (c, loader) = (c.clone(), gated(&n, &gate));
        tokio::spawn(async move { c.get_or_load(1, loader).await })
    };
    until(|| n.load(SeqCst) == 1).await;
    c.invalidate(&1).await.unwrap();
    gate.notify_one();
    assert_eq!(waiter.await.unwrap().unwrap(), 1);
    assert_eq!(c.len(), 0);
    assert_eq!(c.get_or_load(1, counting(&n)).await.unwrap(), 2);
}

// 9b. invalidate_all racing loads of several keys.
#[tokio::test(start_paused = true)]
async fn invalidate_all_during_loads_stores_none_of_them() {
    let c = cache(10, 60);
    c.insert(100, 100).await;
    let n = calls();
    let gate = Arc::new(Notify::new());
    let waiters: Vec<_> = (0..5)
        .map(|k| {
            let (c, loader) = (c.clone(), gated(&n, &gate));
            tokio::spawn(async move { c.get_or_load(k, loader).await })
        })
        .collect();
    until(|| n.load(SeqCst) == 5).await;
    c.invalidate_all().await.unwrap();
    assert!(c.get(&100).await.is_none());
    gate.notify_waiters();
    for w in waiters {
        assert!(w.await.unwrap().is_ok());
    }
    assert_eq!(c.len(), 0);
}

// 10. Capacity: never exceeded after any operation, also with 2 threads; evictions counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capacity_holds_under_concurrent_inserts_from_two_threads() {
    let cap = 1_000;
    let c: Cache<u64, u64> = Cache::builder().capacity(cap).build().unwrap();
    let writers: Vec<_> = (0..2u64)
        .map(|t| {
            let c = c.clone();
            tokio::spawn(async move {
                for i in 0..20_000u64 {
                    let k = t * 1_000_000 + i;
                    if i % 2 == 0 {
                        c.insert(k, k).await;
                    } else {
                        c.get_with(k, move || async move { k }).await.unwrap();
                    }
                    assert!(c.len() <= cap, "len {} > capacity", c.len());
                }
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    assert_eq!(c.len(), cap);
    assert_eq!(c.stats().evictions, 40_000 - cap as u64);
}

#[tokio::test(start_paused = true)]
async fn small_capacities_are_exact() {
    for cap in [1usize, 2, 3, 50] {
        let c: Cache<u64, u64> = Cache::builder().capacity(cap).build().unwrap();
        for k in 0..500 {
            c.insert(k, k).await;
            assert!(c.len() <= cap);
        }
        assert_eq!(c.len(), cap);
    }
}

// 11. A slow load of A does not delay a hit on B (nor a load of B).
#[tokio::test(start_paused = true)]
async fn slow_load_of_one_key_does_not_block_another() {
    let c = cache(10, 60);
    c.insert(2, 20).await;
    let n = calls();
    let gate = Arc::new(Notify::new());
    let slow = {
        let (c, loader) = (c.clone(), gated(&n, &gate));
        tokio::spawn(async move { c.get_or_load(1, loader).await })
    };
    until(|| n.load(SeqCst) == 1).await;
    let start = tokio::time::Instant::now();
    assert_eq!(c.get_or_load(2, counting(&n)).await.unwrap(), 20);
    assert_eq!(c.get_or_load(3, counting(&n)).await.unwrap(), 2);
    assert_eq!(
        start.elapsed(),
        Duration::ZERO,
        "no waiting on key 1's load"
    );
    assert!(!slow.is_finished());
    gate.notify_one();
    assert_eq!(slow.await.unwrap().unwrap(), 1);
}

// 12. Stats add up and match what was done.
#[tokio::test(start_paused = true)]
async fn stats_add_up() {
    let c = cache(10, 60);
    let n = calls();
    c.get_or_load(1, counting(&n)).await.unwrap(); // miss, load
    c.get_or_load(1, counting(&n)).await.unwrap(); // fresh hit
    assert!(c.get(&2).await.is_none()); // miss, no load
    let _ = c
        .get_or_load(3, || async { Err::<u64, _>("x".to_string()) })
        .await; // miss, failed load
    advance(Duration::from_secs(11)).await;
    c.get_or_load(1, counting(&n)).await.unwrap(); // stale hit + refresh
    until(|| c.loads_in_flight() == 0).await;
    let s = c.stats();
    assert_eq!(s.requests, 5);
    assert_eq!(s.requests, s.hits() + s.misses);
    assert_eq!((s.hits_fresh, s.hits_stale, s.misses), (1, 1, 3));
    assert_eq!(
        (s.loads_started, s.load_successes, s.load_failures),
        (2, 1, 1)
    );
    assert_eq!((s.refreshes_started, s.refreshes_succeeded), (1, 1));
    assert_eq!(s.coalesced, 0);
    assert_eq!(s.load_count(), 3);
    assert!((s.hit_ratio() - 0.4).abs() < 1e-9);
}

#[test]
fn builder_rejects_invalid_options() {
    let b = || Cache::<u32, u32>::builder();
    assert_eq!(
        b().capacity(0).build().unwrap_err(),
        BuildError::ZeroCapacity
    );
    assert_eq!(
        b().method_timeout(Duration::ZERO).build().unwrap_err(),
        BuildError::ZeroTimeout
    );
    assert_eq!(
        b().expire_after(Duration::ZERO)
            .update_after(Duration::ZERO)
            .build()
            .unwrap_err(),
        BuildError::ZeroExpireAfter
    );
    assert_eq!(
        b().max_hits(0).build().unwrap_err(),
        BuildError::ZeroMaxHits
    );
    assert!(matches!(
        b().update_after(Duration::from_secs(61))
            .expire_after(Duration::from_secs(60))
            .build(),
        Err(BuildError::UpdateAfterExceedsExpireAfter { .. })
    ));
    let e = b().capacity(0).build().unwrap_err();
    assert_eq!(e.to_string(), "capacity must be at least 1");
}

#[test]
fn defaults_are_py_memoizes() {
    let c = Cache::<u32, u32>::new();
    assert_eq!(c.capacity(), 4096);
    let dbg = format!("{c:?}");
    assert!(dbg.contains("method_timeout: 120s"), "{dbg}");
    assert!(dbg.contains("update_after: 600s"), "{dbg}");
    assert!(dbg.contains("expire_after: 1800s"), "{dbg}");
    assert!(dbg.contains("LeastRecentlyUpdated"), "{dbg}");
}

#[tokio::test(start_paused = true)]
async fn expired_entry_is_never_served() {
    let c = cache(10, 60);
    let n = calls();
    c.get_or_load(1, counting(&n)).await.unwrap();
    advance(Duration::from_secs(61)).await;
    assert_eq!(c.get(&1).await, None);
    assert_eq!(c.get_or_load(1, counting(&n)).await.unwrap(), 2);
}

#[tokio::test(start_paused = true)]
async fn entry_builder_sets_per_entry_lifespans_or_refuses_to_store() {
    // value = its own TTL in seconds; 0 means "do not store"
    let c: Cache<u32, u64> = Cache::builder()
        .entry_builder(|_k: &u32, v: &u64| {
            if *v == 0 {
                Lifespan::DoNotStore
            } else {
                let ttl = Duration::from_secs(*v);
                Lifespan::new(ttl, ttl + ttl / 10)
            }
        })
        .build()
        .unwrap();
    c.get_with(1, || async { 5 }).await.unwrap();
    c.get_with(2, || async { 50 }).await.unwrap();
    c.get_with(3, || async { 0 }).await.unwrap();
    assert_eq!(c.len(), 2);
    advance(Duration::from_secs(6)).await; // key 1: 5 s update, 5.5 s expire
    assert_eq!(c.get(&1).await, None);
    assert_eq!(c.get(&2).await, Some(50));
}

#[tokio::test(start_paused = true)]
async fn max_hits_drops_the_entry_after_n_hits() {
    let c: Cache<u32, u64> = Cache::builder().max_hits(3).build().unwrap();
    let n = calls();
    assert_eq!(c.get_or_load(1, counting(&n)).await.unwrap(), 1);
    for _ in 0..3 {
        assert_eq!(c.get_or_load(1, counting(&n)).await.unwrap(), 1);
    }
    assert_eq!(
        c.get_or_load(1, counting(&n)).await.unwrap(),
        2,
        "4th hit reloads"
    );
    assert_eq!(n.load(SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn postprocessing_applies_to_every_served_value() {
    let c: Cache<u32, u64> = Cache::builder().postprocess(|v| v * 10).build().unwrap();
    assert_eq!(c.get_with(1, || async { 1 }).await.unwrap(), 10);
    assert_eq!(c.get_with(1, || async { 99 }).await.unwrap(), 10);
    assert_eq!(c.get(&1).await, Some(10));
}

#[tokio::test(start_paused = true)]
async fn insert_during_a_load_wins_over_the_loaded_value() {
    let c = cache(10, 60);
    let n = calls();
    let gate = Arc::new(Notify::new());
    let waiter = {
        let (c, loader) = (c.clone(), gated(&n, &gate));
        tokio::spawn(async move { c.get_or_load(1, loader).await })
    };
    until(|| n.load(SeqCst) == 1).await;
    c.insert(1, 999).await;
    gate.notify_one();
    assert_eq!(waiter.await.unwrap().unwrap(), 1);
    assert_eq!(c.get(&1).await, Some(999));
}

#[tokio::test(start_paused = true)]
async fn a_waiter_with_another_error_type_never_runs_a_concurrent_load() {
    let c = cache(10, 60);
    let n = calls();
    let first = {
        let (c, n) = (c.clone(), n.clone());
        tokio::spawn(async move {
            c.get_or_load(1, move || async move {
                n.fetch_add(1, SeqCst);
                sleep(Duration::from_millis(10)).await;
                Err::<u64, &'static str>("str error")
            })
            .await
        })
    };
    until(|| n.load(SeqCst) == 1).await;
    let second = {
        let (c, n) = (c.clone(), n.clone());
        tokio::spawn(async move {
            c.get_or_load(1, move || async move {
                assert_eq!(
                    n.fetch_add(1, SeqCst),
                    1,
                    "runs only after the first load ended"
                );
                Ok::<u64, std::io::Error>(5)
            })
            .await
        })
    };
    assert_eq!(
        first.await.unwrap().unwrap_err().load_error(),
        Some(&"str error")
    );
    assert_eq!(second.await.unwrap().unwrap(), 5);
    assert_eq!(n.load(SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn borrowed_lookups_work_for_string_keys() {
    let c: Cache<String, usize> = Cache::new();
    c.get_with("abc".to_string(), || async { 3 }).await.unwrap();
    assert_eq!(c.get("abc").await, Some(3));
    c.invalidate("abc").await.unwrap();
    assert_eq!(c.get("abc").await, None);
}

#[tokio::test(start_paused = true)]
async fn lazy_loader_is_built_only_on_a_miss_or_a_due_refresh() {
    let c = cache(10, 60);
    let built = calls();
    let n = calls();
    let make = |built: &Calls, n: &Calls| {
        let (built, n) = (built.clone(), n.clone());
        move || {
            built.fetch_add(1, SeqCst);
            counting(&n)
        }
    };
    assert_eq!(c.get_or_load_lazy(1, make(&built, &n)).await.unwrap(), 1);
    assert_eq!(built.load(SeqCst), 1, "built for the miss");
    for _ in 0..5 {
        assert_eq!(c.get_or_load_lazy(1, make(&built, &n)).await.unwrap(), 1);
    }
    assert_eq!(built.load(SeqCst), 1, "never built on a fresh hit");
    advance(Duration::from_secs(11)).await;
    assert_eq!(c.get_or_load_lazy(1, make(&built, &n)).await.unwrap(), 1);
    assert_eq!(built.load(SeqCst), 2, "built for the due refresh");
    until(|| c.loads_in_flight() == 0).await;
    assert_eq!(c.get_or_load_lazy(1, make(&built, &n)).await.unwrap(), 2);
    assert_eq!(built.load(SeqCst), 2);
}

/// A load whose runtime shuts down before it finishes (its task is dropped) fails its waiters
/// elsewhere with `Error::Cancelled` instead of leaving them waiting, and the key is not left
/// marked as loading.
#[test]
fn a_load_dropped_with_its_runtime_fails_every_waiter_with_cancelled() {
    let c: Cache<u32, u64> = Cache::new();
    let loads = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (started, is_started) = std::sync::mpsc::channel();
    loads.block_on(async {
        let leader = tokio::spawn({
            let c = c.clone();
            async move {
                c.get_or_load(1, move || async move {
                    started.send(()).unwrap();
                    std::future::pending::<Result<u64, std::io::Error>>().await
                })
                .await
            }
        });
        while is_started.try_recv().is_err() {
            tokio::task::yield_now().await;
        }
        drop(leader);
    });
    let waiters = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let waiter = waiters.spawn({
        let c = c.clone();
        async move {
            c.get_or_load(1, || async { Ok::<u64, std::io::Error>(2) })
                .await
        }
    });
    while c.stats().coalesced == 0 {
        std::thread::yield_now(); // until the waiter has joined the flight
    }
    drop(loads); // drops the load's task
    let got = waiters
        .block_on(async { tokio::time::timeout(Duration::from_secs(30), waiter).await })
        .expect("the waiter is woken, not left waiting")
        .unwrap();
    assert!(matches!(got, Err(Error::Cancelled)), "{got:?}");
    let again = waiters.block_on(c.get_or_load(1, || async { Ok::<u64, std::io::Error>(3) }));
    assert_eq!(again.unwrap(), 3, "the key is not stuck in a dead flight");
}
