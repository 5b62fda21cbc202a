//! What cached and cashews users expect: negative caching (`cache_errors`: a load's error
//! remembered for its own lifespan), empty results kept for a shorter time (an entry builder
//! giving `None` its own lifespan), and a condition deciding whether a value is stored
//! (`store_if`). On Tokio's paused clock.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use common::until;
use memocache_core::storage::MemoryStorage;
use memocache_core::{BuildError, Cache, Error, Lifespan, Tier};
use tokio::time::advance;

type Io = std::io::Error;

fn counter() -> Arc<AtomicUsize> {
    Arc::new(AtomicUsize::new(0))
}

/// A loader counting its calls and failing with "down".
fn failing(
    calls: &Arc<AtomicUsize>,
) -> impl FnOnce() -> std::future::Ready<Result<u32, Io>> + Send + 'static {
    let calls = calls.clone();
    move || {
        calls.fetch_add(1, SeqCst);
        std::future::ready(Err(Io::other("down")))
    }
}

#[tokio::test(start_paused = true)]
async fn a_load_error_is_remembered_for_its_lifespan_then_loaded_again() {
    let cache: Cache<u32, u32> = Cache::builder()
        .cache_errors(Duration::from_secs(5))
        .build()
        .unwrap();
    let calls = counter();
    let first = cache.get_or_load(1, failing(&calls)).await.unwrap_err();
    let again = cache.get_or_load(1, failing(&calls)).await.unwrap_err();
    assert_eq!(
        calls.load(SeqCst),
        1,
        "the second request got the remembered error"
    );
    match (&first, &again) {
        (Error::Load(a), Error::Load(b)) => assert!(Arc::ptr_eq(a, b), "the very same error"),
        other => panic!("{other:?}"),
    }
    let s = cache.stats();
    assert_eq!((s.misses, s.errors_recalled, s.load_failures), (2, 1, 1));
    // Another key is not affected; nor is a request whose loader has another error type.
    let other = cache
        .get_or_load(2, || async { Ok::<_, Io>(2) })
        .await
        .unwrap();
    assert_eq!(other, 2);
    let typed = cache
        .get_or_load(1, || async { Ok::<_, std::fmt::Error>(7) })
        .await;
    assert_eq!(typed.unwrap(), 7, "another error type's loader loads");
    cache.invalidate(&1).await.unwrap();
    // After the lifespan the loader runs again.
    cache.get_or_load(3, failing(&calls)).await.unwrap_err();
    advance(Duration::from_secs(6)).await;
    cache.get_or_load(3, failing(&calls)).await.unwrap_err();
    assert_eq!(calls.load(SeqCst), 3);
}

#[tokio::test(start_paused = true)]
async fn writes_and_stored_values_forget_a_remembered_error() {
    let cache: Cache<u32, u32> = Cache::builder()
        .cache_errors(Duration::from_secs(60))
        .build()
        .unwrap();
    let calls = counter();
    for key in [1, 2, 3] {
        cache.get_or_load(key, failing(&calls)).await.unwrap_err();
    }
    cache.insert(1, 10).await;
    cache.invalidate(&2).await.unwrap();
    cache.invalidate_memory(&1); // the value goes; the error does not come back
    let ok = |v| move || async move { Ok::<_, Io>(v) };
    assert_eq!(cache.get_or_load(1, ok(11)).await.unwrap(), 11);
    assert_eq!(cache.get_or_load(2, ok(20)).await.unwrap(), 20);
    assert!(
        cache.get_or_load(3, ok(30)).await.is_err(),
        "3 is still remembered"
    );
    cache.invalidate_all().await.unwrap();
    assert_eq!(cache.get_or_load(3, ok(30)).await.unwrap(), 30);
    // A value loaded for the key (another error type's loader) forgets the error too.
    cache.get_or_load(4, failing(&calls)).await.unwrap_err();
    let typed = cache
        .get_or_load(4, || async { Ok::<_, std::fmt::Error>(40) })
        .await;
    assert_eq!(typed.unwrap(), 40);
    cache.invalidate_memory(&4);
    assert_eq!(cache.get_or_load(4, ok(41)).await.unwrap(), 41);
}

#[tokio::test(start_paused = true)]
async fn timeouts_and_panics_are_never_remembered() {
    let cache: Cache<u32, u32> = Cache::builder()
        .cache_errors(Duration::from_secs(60))
        .method_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let slow = cache.get_or_load(1, || async {
        tokio::time::sleep(Duration::from_secs(5)).await;
        Ok::<_, Io>(1)
    });
    assert!(matches!(slow.await, Err(Error::Timeout(_))));
    let panicked = cache.get_or_load(2, || async {
        if true {
            panic!("bug");
        }
        Ok::<_, Io>(2)
    });
    assert!(matches!(panicked.await, Err(Error::Panicked(_))));
    let ok = |v| move || async move { Ok::<_, Io>(v) };
    assert_eq!(cache.get_or_load(1, ok(1)).await.unwrap(), 1);
    assert_eq!(cache.get_or_load(2, ok(2)).await.unwrap(), 2);
    assert_eq!(cache.stats().errors_recalled, 0);
}

#[tokio::test]
async fn a_zero_error_lifespan_is_refused() {
    let built: Result<Cache<u32, u32>, _> = Cache::builder().cache_errors(Duration::ZERO).build();
    assert!(matches!(built, Err(BuildError::ZeroErrorLifespan)));
}

#[tokio::test(start_paused = true)]
async fn an_empty_result_lives_shorter_through_the_entry_builder() {
    let cache: Cache<u32, Option<String>> = Cache::builder()
        .entry_builder(|_: &u32, v: &Option<String>| match v {
            None => Lifespan::new(Duration::from_secs(5), Duration::from_secs(5)),
            Some(_) => Lifespan::new(Duration::from_secs(600), Duration::from_secs(600)),
        })
        .build()
        .unwrap();
    cache.get_with(1, || async { None }).await.unwrap();
    cache
        .get_with(2, || async { Some("x".to_string()) })
        .await
        .unwrap();
    advance(Duration::from_secs(6)).await;
    assert_eq!(cache.get(&1).await, None, "the empty result expired");
    assert_eq!(cache.get(&2).await, Some(Some("x".to_string())));
}

#[tokio::test(start_paused = true)]
async fn store_if_hands_a_refused_value_out_and_keeps_what_was_there() {
    let cache: Cache<u32, i64> = Cache::builder()
        .store_if(|_: &u32, v: &i64| *v >= 0)
        .update_after(Duration::from_secs(10))
        .expire_after(Duration::from_secs(100))
        .build()
        .unwrap();
    assert_eq!(cache.get_with(1, || async { -1 }).await.unwrap(), -1);
    assert_eq!(cache.len(), 0, "refused: stored nowhere");
    assert_eq!(cache.get_with(2, || async { 5 }).await.unwrap(), 5);
    // A stale value whose refresh is refused stays; the next due refresh may replace it.
    advance(Duration::from_secs(11)).await;
    assert_eq!(cache.get_with(2, || async { -5 }).await.unwrap(), 5);
    until(|| cache.stats().refreshes_succeeded == 1).await;
    assert_eq!(
        cache.get(&2).await,
        Some(5),
        "the refused refresh left the old value"
    );
    // An insert of a refused value removes the old one.
    cache.insert(2, -7).await;
    assert_eq!(cache.get(&2).await, None);
}

/// A cache whose loader takes 1 s (so the recent load time is 1 s) and returns how many
/// times it ran; entries fresh for 100 s, no stale phase.
fn timed(early: Option<f64>) -> (Cache<u32, usize>, Arc<AtomicUsize>) {
    let mut builder = Cache::builder()
        .update_after(Duration::from_secs(100))
        .expire_after(Duration::from_secs(100));
    if let Some(beta) = early {
        builder = builder.early_refresh(beta);
    }
    (builder.build().unwrap(), counter())
}

fn slow_count(
    calls: &Arc<AtomicUsize>,
) -> impl FnOnce() -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<usize, Io>> + Send>>
       + Send
       + 'static {
    let calls = calls.clone();
    move || {
        Box::pin(async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            Ok(calls.fetch_add(1, SeqCst))
        })
    }
}

#[tokio::test(start_paused = true)]
async fn early_refresh_refreshes_a_fresh_entry_before_its_deadline() {
    // β so large that the window (1 s · β · −ln u) covers the 50 s left but with a chance
    // of about 5e-8.
    let (cache, calls) = timed(Some(1e9));
    assert_eq!(cache.get_or_load(1, slow_count(&calls)).await.unwrap(), 0);
    advance(Duration::from_secs(50)).await;
    assert_eq!(
        cache.get_or_load(1, slow_count(&calls)).await.unwrap(),
        0,
        "served at once"
    );
    assert_eq!(cache.stats().refreshes_started, 1, "an early refresh began");
    cache.idle().await; // the loader's second runs on the paused clock
    assert_eq!(
        cache.get_or_load(1, slow_count(&calls)).await.unwrap(),
        1,
        "refreshed early"
    );
    assert_eq!(cache.stats().hits_stale, 0, "it never went stale");
}

#[tokio::test(start_paused = true)]
async fn early_refresh_leaves_an_entry_far_from_its_deadline_and_is_off_by_default() {
    // β tiny: the window is at most 1 s · 1e-9 · 37 (−ln of the smallest draw), never 50 s.
    for early in [Some(1e-9), None] {
        let (cache, calls) = timed(early);
        cache.get_or_load(1, slow_count(&calls)).await.unwrap();
        advance(Duration::from_secs(50)).await;
        for _ in 0..1_000 {
            cache.get_or_load(1, slow_count(&calls)).await.unwrap();
        }
        cache.idle().await;
        assert_eq!(cache.stats().refreshes_started, 0, "{early:?}");
        assert_eq!(calls.load(SeqCst), 1);
    }
}

/// Two caches (two processes), each with a local tier of its own above one shared tier, on the
/// real clock (the tier's records carry wall-clock deadlines, which Tokio's paused clock does
/// not move): the first early refresh finds entries as old as its own and calls the loader;
/// the second passes over its local tier's same-age copy, finds the newer entry the first
/// wrote in the shared tier and takes it, with no loader call.
#[tokio::test]
async fn an_early_refresh_takes_a_newer_entry_another_process_wrote() {
    let shared = Arc::new(MemoryStorage::<u32, usize>::new(100));
    let process = || {
        Cache::builder()
            .update_after(Duration::from_secs(2))
            .expire_after(Duration::from_secs(60))
            .early_refresh(1e9)
            .tier(Tier::new(Arc::new(MemoryStorage::<u32, usize>::new(100))))
            .tier(Tier::new(shared.clone()))
            .build()
            .unwrap()
    };
    let (a, b): (Cache<u32, usize>, Cache<u32, usize>) = (process(), process());
    let calls = counter();
    let count = |calls: &Arc<AtomicUsize>| {
        let calls = calls.clone();
        move || async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok::<_, Io>(calls.fetch_add(1, SeqCst))
        }
    };
    assert_eq!(a.get_or_load(1, count(&calls)).await.unwrap(), 0);
    // b's memory and local tier hold the same entry, read from the shared tier.
    b.get(&1).await.unwrap();
    // An early refresh needs the cache's recent load time: b's first load gives it one.
    b.get_or_load(2, count(&calls)).await.unwrap();
    // Half-way to update_after with β huge, each cache's next hit draws an early refresh.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        a.get_or_load(1, count(&calls)).await.unwrap(),
        0,
        "served at once"
    );
    a.idle().await;
    assert_eq!(calls.load(SeqCst), 3, "a's early refresh called the loader");
    assert_eq!(a.get(&1).await, Some(2));
    assert_eq!(
        b.get_or_load(1, count(&calls)).await.unwrap(),
        0,
        "served at once"
    );
    b.idle().await;
    assert_eq!(
        calls.load(SeqCst),
        3,
        "b took a's newer entry, no loader call"
    );
    assert_eq!(b.get(&1).await, Some(2));
    assert_eq!((a.stats().hits_stale, b.stats().hits_stale), (0, 0));
    assert_eq!(b.stats().refreshes_started, 1);
    let b_local = &b.stats().tiers[0];
    assert_eq!(
        b_local.misses, 3,
        "b's local tier: two misses and the same-age copy"
    );
}

#[tokio::test]
async fn an_invalid_beta_is_refused() {
    for beta in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let built: Result<Cache<u32, u32>, _> = Cache::builder().early_refresh(beta).build();
        assert!(
            matches!(built, Err(BuildError::InvalidEarlyRefresh(_))),
            "{beta}"
        );
    }
}
