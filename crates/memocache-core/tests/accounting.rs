//! Statistics that add up, refresh backoff as configured, panicking user callbacks counted
//! and contained, and the options that configure them validated (issue 11). Paused Tokio
//! time; no sleeps.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use common::until;
use memocache_core::{BuildError, Cache, Error, Lifespan, Stats};
use tokio::time::{advance, sleep};

fn ok(v: u64) -> impl FnOnce() -> std::future::Ready<Result<u64, String>> + Send + 'static {
    move || std::future::ready(Ok(v))
}

fn failing() -> impl FnOnce() -> std::future::Ready<Result<u64, String>> + Send + 'static {
    || std::future::ready(Err("backend down".to_string()))
}

/// The identities `Stats` documents, for a snapshot taken when nothing is in flight.
fn assert_identities(s: &Stats) {
    assert_eq!(s.requests, s.hits_fresh + s.hits_stale + s.misses, "{s:?}");
    assert_eq!(s.loads_started, s.load_successes + s.load_failures, "{s:?}");
    assert_eq!(
        s.refreshes_started,
        s.refreshes_succeeded + s.refreshes_failed,
        "{s:?}"
    );
    assert!(
        s.timeouts + s.panics <= s.load_failures + s.refreshes_failed,
        "{s:?}"
    );
    assert!(s.coalesced <= s.misses, "{s:?}");
}

#[tokio::test(start_paused = true)]
async fn refresh_backoff_is_honoured_at_the_configured_values() {
    let c: Cache<u32, u64> = Cache::builder()
        .update_after(Duration::from_secs(10))
        .expire_after(Duration::from_secs(600))
        .refresh_backoff(Duration::from_millis(200))
        .refresh_backoff_max(Duration::from_millis(500))
        .build()
        .unwrap();
    c.get_or_load(1, ok(1)).await.unwrap();
    advance(Duration::from_secs(11)).await;
    assert_eq!(
        c.get_or_load(1, failing()).await.unwrap(),
        1,
        "stale, served"
    );
    until(|| c.stats().refreshes_failed == 1).await;
    // 200 ms, doubling (400 ms), capped at 500 ms, and staying there.
    for (n, wait) in [(2, 200), (3, 400), (4, 500), (5, 500)] {
        advance(Duration::from_millis(wait - 1)).await;
        assert_eq!(c.get_or_load(1, failing()).await.unwrap(), 1);
        tokio::task::yield_now().await;
        assert_eq!(
            c.stats().refreshes_started,
            n - 1,
            "{wait} ms backoff: no retry 1 ms early"
        );
        advance(Duration::from_millis(1)).await;
        assert_eq!(c.get_or_load(1, failing()).await.unwrap(), 1);
        assert_eq!(c.stats().refreshes_started, n, "retried after {wait} ms");
        until(|| c.stats().refreshes_failed == n).await;
    }
    // A success resets the backoff: the next stale hit refreshes at once.
    advance(Duration::from_millis(500)).await;
    c.get_or_load(1, ok(2)).await.unwrap();
    until(|| c.stats().refreshes_succeeded == 1).await;
    advance(Duration::from_secs(11)).await;
    assert_eq!(c.get_or_load(1, failing()).await.unwrap(), 2);
    assert_eq!(c.stats().refreshes_started, 7);
    until(|| c.loads_in_flight() == 0).await;
    assert_identities(&c.stats());
}

#[test]
fn backoff_and_cap_options_are_validated_by_name() {
    let b = || Cache::<u32, u32>::builder();
    assert_eq!(
        b().memory_expire_cap(Duration::ZERO).build().unwrap_err(),
        BuildError::ZeroMemoryExpireCap
    );
    assert!(BuildError::ZeroMemoryExpireCap
        .to_string()
        .contains("memory_expire_cap"));
    assert_eq!(
        b().refresh_backoff(Duration::ZERO).build().unwrap_err(),
        BuildError::ZeroRefreshBackoff
    );
    let err = b()
        .refresh_backoff(Duration::from_secs(2))
        .refresh_backoff_max(Duration::from_secs(1))
        .build()
        .unwrap_err();
    assert_eq!(
        err,
        BuildError::RefreshBackoffMaxBelowBackoff {
            backoff: Duration::from_secs(2),
            max: Duration::from_secs(1)
        }
    );
    assert!(err.to_string().contains("refresh_backoff_max"));
    assert!(b()
        .refresh_backoff(Duration::from_secs(5))
        .refresh_backoff_max(Duration::from_secs(5))
        .build()
        .is_ok());
}

/// Every kind of request and outcome once or more, then every counter checked exactly.
#[tokio::test(start_paused = true)]
async fn statistics_add_up_after_a_scripted_mix() {
    let c: Cache<u32, u64> = Cache::builder()
        .update_after(Duration::from_secs(10))
        .expire_after(Duration::from_secs(60))
        .method_timeout(Duration::from_secs(1))
        .weigher(|_k: &u32, v: &u64| {
            assert_ne!(*v, 666, "weigher bug");
            1
        })
        .entry_builder(|_k: &u32, v: &u64| {
            assert_ne!(*v, 777, "entry builder bug");
            Lifespan::new(Duration::from_secs(10), Duration::from_secs(60))
        })
        .eviction_listener(|k: u32, _v, _cause| assert_ne!(k, 5, "listener bug"))
        .build()
        .unwrap();
    let slow = |v: u64| {
        move || async move {
            sleep(Duration::from_secs(2)).await;
            Ok::<u64, String>(v)
        }
    };

    c.get_or_load(1, ok(1)).await.unwrap(); // miss, load ok
    c.get_or_load(1, ok(0)).await.unwrap(); // fresh hit
    assert_eq!(c.get(&2).await, None); // miss, no load
    assert!(c.get_or_load(3, failing()).await.is_err()); // miss, load error
    let e = c.get_or_load(4, slow(4)).await.unwrap_err(); // miss, timeout
    assert!(e.is_timeout());
    let e = c
        .get_or_load(5, || async {
            if true {
                panic!("loader bug");
            }
            Ok::<u64, String>(5)
        })
        .await
        .unwrap_err(); // miss, loader panic
    assert!(matches!(&e, Error::Panicked(m) if m.contains("loader bug")));
    let e = c.get_or_load(6, ok(666)).await.unwrap_err(); // weigher panic
    assert!(
        matches!(&e, Error::Panicked(m) if m.contains("weigher bug")),
        "{e:?}"
    );
    let e = c.get_or_load(7, ok(777)).await.unwrap_err(); // entry builder panic
    assert!(
        matches!(&e, Error::Panicked(m) if m.contains("entry builder bug")),
        "{e:?}"
    );
    assert_eq!(c.len(), 1, "nothing stored for a failed load");

    c.insert(8, 666).await; // weigher panic outside a load
    assert_eq!(c.get(&8).await, None, "not stored"); // miss
    c.insert(5, 55).await;
    c.invalidate(&5).await.unwrap(); // listener panic
    assert_eq!(c.len(), 1);

    advance(Duration::from_secs(11)).await;
    assert_eq!(c.get_or_load(1, slow(10)).await.unwrap(), 1); // stale hit, refresh
                                                              // Paused time moves on only when every task waits: the refresh's 1 s timeout fires first.
    sleep(Duration::from_millis(1_500)).await;
    assert_eq!(c.stats().refreshes_failed, 1, "the refresh timed out");
    advance(Duration::from_secs(1)).await; // past the 1 s backoff
    assert_eq!(c.get_or_load(1, ok(11)).await.unwrap(), 1); // stale hit, refresh
    until(|| c.stats().refreshes_succeeded == 1).await;
    assert_eq!(c.get_or_load(1, ok(0)).await.unwrap(), 11); // fresh hit

    let calls = Arc::new(AtomicUsize::new(0));
    let waiters: Vec<_> = (0..10)
        .map(|_| {
            let (c, calls) = (c.clone(), calls.clone());
            tokio::spawn(async move {
                c.get_or_load(9, move || async move {
                    calls.fetch_add(1, SeqCst);
                    sleep(Duration::from_millis(10)).await;
                    Ok::<u64, String>(9)
                })
                .await
            })
        })
        .collect();
    for w in waiters {
        assert_eq!(w.await.unwrap().unwrap(), 9);
    }
    assert_eq!(calls.load(SeqCst), 1);
    until(|| c.loads_in_flight() == 0).await;

    let s = c.stats();
    assert_identities(&s);
    assert_eq!(
        (s.requests, s.hits_fresh, s.hits_stale, s.misses),
        (22, 2, 2, 18)
    );
    assert_eq!(
        (s.loads_started, s.load_successes, s.load_failures),
        (7, 2, 5)
    );
    assert_eq!(
        (
            s.refreshes_started,
            s.refreshes_succeeded,
            s.refreshes_failed
        ),
        (2, 1, 1)
    );
    assert_eq!((s.timeouts, s.panics), (2, 3), "{s:?}");
    assert_eq!(s.callback_panics, 2, "insert's weigher and the listener");
    assert_eq!(s.coalesced, 9);
    assert_eq!(s.evictions, 0);
}

#[tokio::test(start_paused = true)]
async fn a_panicking_listener_does_not_stop_invalidate_all_half_way() {
    let c: Cache<u32, u64> = Cache::builder()
        .eviction_listener(|k: u32, _v, _cause| {
            assert!(k.is_multiple_of(2), "odd keys make me panic")
        })
        .build()
        .unwrap();
    for k in 0..100 {
        c.insert(k, u64::from(k)).await;
    }
    c.invalidate_all().await.unwrap();
    assert_eq!(c.len(), 0);
    for k in 0..100 {
        assert_eq!(c.get(&k).await, None, "key {k} survived");
    }
    assert_eq!(c.stats().callback_panics, 50);
}
