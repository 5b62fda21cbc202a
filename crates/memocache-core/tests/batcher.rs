//! The dataloader ([`Batcher`]), forced refreshes (`Cache::refresh`), and what batches do
//! beyond the basics of `tests/batch.rs`: per-key outcomes, backfill of the tiers above the
//! one that answered, the refresh of a stale entry met by a batch.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::until;
use memocache_core::storage::{MemoryStorage, Storage};
use memocache_core::{Cache, Error, Tier};
use tokio::sync::Notify;

type Io = std::io::Error;

/// A batch loader counting its calls and the keys asked; values `v{key}`.
#[derive(Clone, Default)]
struct Calls(Arc<Mutex<Vec<Vec<u32>>>>);

impl Calls {
    fn load(&self, keys: Vec<u32>) -> Result<Vec<(u32, String)>, Io> {
        self.0.lock().unwrap().push(keys.clone());
        Ok(keys.into_iter().map(|k| (k, format!("v{k}"))).collect())
    }
    fn count(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

#[tokio::test(start_paused = true)]
async fn a_window_gathers_one_hundred_concurrent_misses_into_one_load_all_call() {
    let cache: Cache<u32, String> = Cache::new();
    let calls = Calls::default();
    let c = calls.clone();
    let batcher = cache.batcher(Duration::from_millis(1), 1_000, move |keys| {
        let c = c.clone();
        async move { c.load(keys) }
    });
    let gets = (0..100u32).map(|i| {
        let b = batcher.clone();
        tokio::spawn(async move { b.get(i % 60).await })
    });
    let got = futures_util::future::join_all(gets).await;
    for (i, r) in got.into_iter().enumerate() {
        assert_eq!(r.unwrap().unwrap(), format!("v{}", i % 60));
    }
    assert_eq!(calls.count(), 1, "one load_all call");
    assert_eq!(calls.0.lock().unwrap()[0].len(), 60, "distinct keys once");
    let stats = cache.stats();
    assert_eq!((stats.misses, stats.loads_started), (100, 60));
}

#[tokio::test(start_paused = true)]
async fn a_hit_is_never_delayed_and_a_full_batch_leaves_before_its_window() {
    let cache: Cache<u32, String> = Cache::new();
    cache.insert(1, "one".into()).await;
    let calls = Calls::default();
    let c = calls.clone();
    let batcher = cache.batcher(Duration::from_secs(3600), 3, move |keys| {
        let c = c.clone();
        async move { c.load(keys) }
    });
    let start = tokio::time::Instant::now();
    assert_eq!(batcher.get(1).await.unwrap(), "one");
    assert_eq!(start.elapsed(), Duration::ZERO, "a hit waits for no window");
    // Three misses fill the batch: it leaves at once, long before the hour's window.
    let (a, b, c2) = tokio::join!(batcher.get(2), batcher.get(3), batcher.get(4));
    assert_eq!((a.unwrap(), b.unwrap(), c2.unwrap()).2, "v4");
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_eq!(calls.count(), 1);
    assert_eq!(
        calls.count(),
        1,
        "the window's timer does not send it again"
    );
}

#[tokio::test(start_paused = true)]
async fn a_batch_error_reaches_each_waiter_and_a_dropped_request_still_loads() {
    let cache: Cache<u32, String> = Cache::new();
    let batcher = cache.batcher(Duration::from_millis(5), 100, |keys: Vec<u32>| async move {
        keys.into_iter()
            .map(|k| match k {
                0 => (k, Err(Io::other("no zero"))),
                _ => (k, Ok(format!("v{k}"))),
            })
            .collect::<Vec<_>>()
    });
    let dropped = {
        let b = batcher.clone();
        tokio::spawn(async move { b.get(7).await })
    };
    until(|| cache.stats().misses == 1).await; // it is in the pending batch
    dropped.abort();
    let (zero, one) = tokio::join!(batcher.get(0), batcher.get(1));
    assert!(matches!(zero, Err(Error::Load(e)) if e.to_string() == "no zero"));
    assert_eq!(one.unwrap(), "v1");
    assert_eq!(
        cache.get(&7).await.as_deref(),
        Some("v7"),
        "loaded with its batch"
    );
}

#[tokio::test]
async fn refresh_reloads_now_coalesces_and_keeps_the_old_value_on_failure() {
    let cache: Cache<u32, u32> = Cache::new();
    cache.insert(1, 10).await;
    let runs = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let refresh = |value: u32| {
        let (cache, runs, gate) = (cache.clone(), runs.clone(), gate.clone());
        tokio::spawn(async move {
            cache
                .refresh(1, move || async move {
                    runs.fetch_add(1, SeqCst);
                    let _permit = gate.acquire().await;
                    Ok::<_, Io>(value)
                })
                .await
        })
    };
    let first = refresh(11);
    until(|| runs.load(SeqCst) == 1).await;
    let second = refresh(12);
    tokio::task::yield_now().await;
    assert_eq!(
        cache.get(&1).await,
        Some(10),
        "the old value is served meanwhile"
    );
    gate.add_permits(10);
    assert_eq!(first.await.unwrap().unwrap(), 11);
    assert_eq!(
        second.await.unwrap().unwrap(),
        11,
        "joined the refresh in flight"
    );
    assert_eq!(runs.load(SeqCst), 1);
    assert_eq!(cache.get(&1).await, Some(11));
    let failed = cache.refresh(1, || async { Err::<u32, _>(Io::other("down")) });
    assert!(matches!(failed.await, Err(Error::Load(_))));
    assert_eq!(
        cache.get(&1).await,
        Some(11),
        "a failed refresh keeps the value"
    );
}

#[tokio::test]
async fn a_batch_backfills_the_tiers_above_the_one_that_answered() {
    let upper = Arc::new(MemoryStorage::<u32, String>::new(100));
    let lower = Arc::new(MemoryStorage::<u32, String>::new(100));
    let writer: Cache<u32, String> = Cache::builder()
        .tier(Tier::new(lower.clone()))
        .build()
        .unwrap();
    let calls = Calls::default();
    let c = calls.clone();
    let load = move |keys| {
        let c = c.clone();
        async move { c.load(keys) }
    };
    writer.get_all([1, 2, 3], load.clone()).await;
    let reader: Cache<u32, String> = Cache::builder()
        .tier(Tier::new(upper.clone()))
        .tier(Tier::new(lower.clone()))
        .build()
        .unwrap();
    let got = reader.get_all([1, 2, 3], load).await;
    assert_eq!(got[2].as_deref().unwrap(), "v3");
    assert_eq!(calls.count(), 1, "the lower tier answered");
    let upper_has = upper.get_many(&[1, 2, 3]).await.unwrap();
    assert!(
        upper_has.iter().all(|e| matches!(e, Ok(Some(_)))),
        "backfilled"
    );
}

#[tokio::test(start_paused = true)]
async fn a_stale_entry_met_by_a_batch_is_refreshed_by_a_call_of_its_own() {
    let cache: Cache<u32, String> = Cache::builder()
        .update_after(Duration::from_secs(10))
        .expire_after(Duration::from_secs(100))
        .build()
        .unwrap();
    let calls = Calls::default();
    let c = calls.clone();
    let load = move |keys| {
        let c = c.clone();
        async move { c.load(keys) }
    };
    cache.get_all([1, 2], load.clone()).await;
    tokio::time::advance(Duration::from_secs(11)).await;
    cache.insert(2, "two".into()).await; // fresh again
    let got = cache.get_all([1, 2], load).await;
    assert_eq!(got[0].as_deref().unwrap(), "v1", "the stale value, at once");
    until(|| calls.count() == 2).await;
    assert_eq!(calls.0.lock().unwrap()[1], vec![1], "only the stale key");
    cache.idle().await;
    assert_eq!(cache.stats().refreshes_succeeded, 1);
}

#[tokio::test]
async fn a_key_a_tier_answers_does_not_wait_for_the_batch_loader() {
    let tier = Arc::new(MemoryStorage::<u32, String>::new(100));
    let build = || -> Cache<u32, String> {
        Cache::builder()
            .tier(Tier::new(tier.clone()))
            .build()
            .unwrap()
    };
    build().insert(1, "from the tier".into()).await;
    let cache = build();
    let gate = Arc::new(Notify::new());
    let g = gate.clone();
    let batcher = cache.batcher(Duration::from_millis(1), 2, move |keys: Vec<u32>| {
        let g = g.clone();
        async move {
            g.notified().await;
            Ok::<_, Io>(keys.into_iter().map(|k| (k, format!("v{k}"))).collect())
        }
    });
    let (b1, b2) = (batcher.clone(), batcher.clone());
    let one = tokio::spawn(async move { b1.get(1).await });
    let two = tokio::spawn(async move { b2.get(2).await });
    // Key 1 is answered while the loader of key 2 is still held.
    let one = tokio::time::timeout(Duration::from_secs(10), one).await;
    assert_eq!(
        one.expect("not held back").unwrap().unwrap(),
        "from the tier"
    );
    assert!(!two.is_finished());
    gate.notify_one();
    assert_eq!(two.await.unwrap().unwrap(), "v2");
}

#[tokio::test(start_paused = true)]
async fn refresh_does_not_join_a_stale_hits_refresh_started_before_it() {
    // (A stale hit's refresh may also be answered by a tier without loading.)
    let cache: Cache<u32, u32> = Cache::builder()
        .update_after(Duration::from_secs(10))
        .expire_after(Duration::from_secs(100))
        .build()
        .unwrap();
    cache.get_with(1, || async { 1 }).await.unwrap();
    tokio::time::advance(Duration::from_secs(11)).await;
    // A stale hit starts a background refresh, held in its loader.
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let g = gate.clone();
    let stale = cache.get_or_load(1, move || async move {
        let _permit = g.acquire().await;
        Ok::<_, Io>(2)
    });
    assert_eq!(stale.await.unwrap(), 1);
    until(|| cache.loads_in_flight() == 1).await;
    // `refresh` waits that one out (its loader began before), then calls its own loader.
    let c = cache.clone();
    let forced = tokio::spawn(async move { c.refresh(1, || async { Ok::<_, Io>(3) }).await });
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert!(!forced.is_finished());
    gate.add_permits(1);
    assert_eq!(
        forced.await.unwrap().unwrap(),
        3,
        "its own loader ran, not the stale one's 2"
    );
    assert_eq!(cache.get(&1).await, Some(3));
}

#[tokio::test(start_paused = true)]
async fn a_skip_lifespan_stores_nothing_and_removes_nothing() {
    let tier = Arc::new(MemoryStorage::<u32, u32>::new(100));
    let cache: Cache<u32, u32> = Cache::builder()
        .update_after(Duration::from_secs(10))
        .expire_after(Duration::from_secs(100))
        .entry_builder(|_: &u32, v: &u32| {
            if *v >= 100 {
                memocache_core::Lifespan::Skip
            } else {
                memocache_core::Lifespan::new(Duration::from_secs(10), Duration::from_secs(100))
            }
        })
        .tier(Tier::new(tier.clone()))
        .build()
        .unwrap();
    // A miss whose value is skipped: handed out, stored nowhere.
    assert_eq!(cache.get_with(1, || async { 100 }).await.unwrap(), 100);
    assert_eq!(cache.len(), 0);
    assert!(matches!(tier.get(&1).await, Ok(None)));
    // A stored value, then a refresh whose value is skipped: the old entry stays everywhere
    // (`DoNotStore` would remove it from memory and the tier).
    cache.get_with(2, || async { 7 }).await.unwrap();
    let refreshed = cache
        .refresh(2, || async { Ok::<_, Io>(200) })
        .await
        .unwrap();
    assert_eq!(refreshed, 200, "handed to the caller");
    assert_eq!(cache.get(&2).await, Some(7));
    assert!(matches!(tier.get(&2).await, Ok(Some(e)) if e.value == 7));
}

#[tokio::test]
async fn a_batcher_whose_window_timer_died_with_its_runtime_still_works() {
    let cache: Cache<u32, u32> = Cache::new();
    let batcher = cache.batcher(
        Duration::from_millis(1),
        1_000,
        |keys: Vec<u32>| async move { Ok::<_, Io>(keys.into_iter().map(|k| (k, k + 1)).collect()) },
    );
    // A request in a runtime that shuts down inside the window: its timer task is dropped.
    let b = batcher.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let got =
            rt.block_on(async { tokio::time::timeout(Duration::from_micros(10), b.get(1)).await });
        assert!(got.is_err(), "timed out inside the window");
        drop(rt);
    })
    .join()
    .unwrap();
    // The next request starts a window of its own and is answered.
    let got = tokio::time::timeout(Duration::from_secs(10), batcher.get(2)).await;
    assert_eq!(got.expect("not wedged").unwrap(), 3);
}
