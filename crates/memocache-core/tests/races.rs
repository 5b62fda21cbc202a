//! The races between reads, loads and writes (issue 11), each made deterministic: a storage
//! tier whose operations stop at gates the test opens ([`Held`]), futures polled exactly once
//! and dropped, paused Tokio time. No sleeps.
//!
//! What must hold: a write is all-or-nothing even when its caller goes away; a read or load
//! never writes back a value that an `insert` or `invalidate` replaced or removed meanwhile;
//! after `invalidate` returns, the old value is never served; `invalidate` frees a key whose
//! load is stuck.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use common::{in_memory, loader, tiered, until, Held};
use futures_util::FutureExt;
use memocache_core::Cache;

// --- Writes are all-or-nothing even when their caller goes away -------------------------

#[tokio::test(start_paused = true)]
async fn an_invalidate_dropped_after_one_poll_still_removes_the_key_from_every_tier() {
    let tier = Held::new();
    let c = tiered(&tier);
    c.insert(1, 10).await;
    tier.remove.close();
    assert!(
        c.invalidate(&1).now_or_never().is_none(),
        "held at the tier"
    );
    // The caller is gone; memory has already dropped the key, the tier removal goes on.
    assert_eq!(c.len(), 0);
    until(|| tier.remove.waiting() == 1).await;
    tier.remove.open();
    until(|| c.loads_in_flight() == 0).await;
    assert_eq!(tier.value(1).await, None, "the tier agrees with memory");
    let calls = Arc::new(AtomicUsize::new(0));
    assert_eq!(c.get_or_load(1, loader(&calls, 11)).await.unwrap(), 11);
    assert_eq!(
        calls.load(SeqCst),
        1,
        "reloaded, not resurrected from the tier"
    );
}

#[tokio::test(start_paused = true)]
async fn an_insert_dropped_after_one_poll_still_writes_every_tier() {
    let tier = Held::new();
    let c = tiered(&tier);
    c.insert(1, 10).await;
    tier.set.close();
    assert!(c.insert(1, 20).now_or_never().is_none(), "held at the tier");
    assert_eq!(in_memory(&c, 1).await, Some(20), "memory has the new value");
    until(|| tier.set.waiting() == 1).await;
    tier.set.open();
    until(|| c.loads_in_flight() == 0).await;
    assert_eq!(tier.value(1).await, Some(20), "the tier agrees with memory");
    c.invalidate_memory(&1);
    assert_eq!(
        c.get(&1).await,
        Some(20),
        "read back from the tier: the new value"
    );
}

#[tokio::test(start_paused = true)]
async fn an_invalidate_all_dropped_after_one_poll_still_clears_every_tier() {
    let tier = Held::new();
    let c = tiered(&tier);
    for k in 0..5 {
        c.insert(k, u64::from(k) * 10).await;
    }
    tier.clear.close();
    assert!(
        c.invalidate_all().now_or_never().is_none(),
        "held at the tier"
    );
    assert_eq!(c.len(), 0);
    until(|| tier.clear.waiting() == 1).await;
    // While the tier is being cleared, a miss waits instead of reading what is being cleared.
    let calls = Arc::new(AtomicUsize::new(0));
    let waiting = tokio::spawn({
        let (c, l) = (c.clone(), loader(&calls, 33));
        async move { c.get_or_load(3, l).await }
    });
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    assert!(!waiting.is_finished(), "a miss waits for the clear");
    tier.clear.open();
    assert_eq!(
        waiting.await.unwrap().unwrap(),
        33,
        "loaded after the clear"
    );
    until(|| c.loads_in_flight() == 0).await;
    for k in [0, 1, 2, 4] {
        assert_eq!(tier.value(k).await, None, "key {k} cleared from the tier");
    }
    assert_eq!(calls.load(SeqCst), 1);
}

// --- A slow read never writes back what a write replaced or removed ---------------------

#[tokio::test(start_paused = true)]
async fn a_slow_tier_read_racing_an_insert_does_not_overwrite_the_new_value() {
    let tier = Held::new();
    let c = tiered(&tier);
    c.insert(1, 10).await;
    c.invalidate_memory(&1); // memory misses, the tier has 10
    tier.get.close();
    let read = tokio::spawn({
        let c = c.clone();
        async move { c.get(&1).await }
    });
    until(|| tier.get.waiting() == 1).await; // it has read 10 and is held
    c.insert(1, 20).await;
    tier.get.open();
    assert_eq!(
        read.await.unwrap(),
        Some(10),
        "a read concurrent with the insert"
    );
    until(|| c.loads_in_flight() == 0).await;
    assert_eq!(
        in_memory(&c, 1).await,
        Some(20),
        "the insert wins in memory"
    );
    assert_eq!(tier.value(1).await, Some(20), "and in the tier");
}

#[tokio::test(start_paused = true)]
async fn a_slow_tier_read_racing_an_invalidate_does_not_bring_the_value_back() {
    let tier = Held::new();
    let c = tiered(&tier);
    c.insert(1, 10).await;
    c.invalidate_memory(&1);
    tier.get.close();
    let read = tokio::spawn({
        let c = c.clone();
        async move { c.get(&1).await }
    });
    until(|| tier.get.waiting() == 1).await;
    c.invalidate(&1).await.unwrap();
    tier.get.open();
    let _ = read.await.unwrap();
    until(|| c.loads_in_flight() == 0).await;
    assert_eq!(c.len(), 0, "nothing written back to memory");
    assert_eq!(tier.value(1).await, None, "nor to the tier");
    let calls = Arc::new(AtomicUsize::new(0));
    assert_eq!(c.get_or_load(1, loader(&calls, 11)).await.unwrap(), 11);
    assert_eq!(calls.load(SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn a_load_reading_a_tier_while_an_insert_lands_does_not_store_the_old_value() {
    let tier = Held::new();
    let c = tiered(&tier);
    c.insert(1, 10).await;
    c.invalidate_memory(&1);
    tier.get.close();
    let calls = Arc::new(AtomicUsize::new(0));
    let load = tokio::spawn({
        let (c, l) = (c.clone(), loader(&calls, 99));
        async move { c.get_or_load(1, l).await }
    });
    until(|| tier.get.waiting() == 1).await;
    c.insert(1, 20).await;
    tier.get.open();
    assert_eq!(
        load.await.unwrap().unwrap(),
        10,
        "its caller was concurrent"
    );
    until(|| c.loads_in_flight() == 0).await;
    assert_eq!(in_memory(&c, 1).await, Some(20));
    assert_eq!(tier.value(1).await, Some(20));
    assert_eq!(calls.load(SeqCst), 0, "the tier answered; no loader call");
}

// --- After invalidate returns, the old value is never served -----------------------------

#[tokio::test(start_paused = true)]
async fn a_load_between_the_halves_of_an_invalidate_never_serves_the_old_value() {
    let tier = Held::new();
    let c = tiered(&tier);
    c.insert(1, 10).await;
    tier.remove.close();
    let invalidate = tokio::spawn({
        let c = c.clone();
        async move { c.invalidate(&1).await }
    });
    until(|| tier.remove.waiting() == 1).await;
    // Memory no longer has the key; the tier still does. A request now must not read it.
    let calls = Arc::new(AtomicUsize::new(0));
    let load = tokio::spawn({
        let (c, l) = (c.clone(), loader(&calls, 11));
        async move { c.get_or_load(1, l).await }
    });
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    tier.remove.open();
    invalidate.await.unwrap().unwrap();
    assert_eq!(load.await.unwrap().unwrap(), 11, "loaded after the removal");
    assert_eq!(c.get(&1).await, Some(11));
    assert_eq!(calls.load(SeqCst), 1);
    assert_eq!(tier.value(1).await, Some(11));
}

#[tokio::test(start_paused = true)]
async fn a_load_in_flight_when_invalidate_returns_is_not_joined_by_later_callers() {
    let tier = Held::new();
    let c = tiered(&tier);
    c.insert(1, 10).await;
    c.invalidate_memory(&1);
    tier.get.close();
    let first = tokio::spawn({
        let c = c.clone();
        async move { c.get_or_load(1, || async { Ok::<u64, String>(0) }).await }
    });
    until(|| tier.get.waiting() == 1).await; // the load has read 10 from the tier
    c.invalidate(&1).await.unwrap();
    // Invalidated: a caller arriving now must not get the 10 the first load read.
    let calls = Arc::new(AtomicUsize::new(0));
    let later = tokio::spawn({
        let (c, l) = (c.clone(), loader(&calls, 11));
        async move { c.get_or_load(1, l).await }
    });
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    tier.get.open();
    assert_eq!(
        first.await.unwrap().unwrap(),
        10,
        "the first caller was concurrent"
    );
    assert_eq!(later.await.unwrap().unwrap(), 11);
    until(|| c.loads_in_flight() == 0).await;
    assert_eq!(c.get(&1).await, Some(11));
}

#[tokio::test(start_paused = true)]
async fn a_load_writing_the_tiers_when_invalidated_is_removed_after_its_write_lands() {
    let tier = Held::new();
    let c = tiered(&tier);
    tier.set.close();
    let load = tokio::spawn({
        let c = c.clone();
        async move { c.get_or_load(1, || async { Ok::<u64, String>(10) }).await }
    });
    until(|| tier.set.waiting() == 1).await; // loaded 10, its tier write is held
    let invalidate = tokio::spawn({
        let c = c.clone();
        async move { c.invalidate(&1).await }
    });
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    assert!(
        !invalidate.is_finished(),
        "the removal waits for the write it follows"
    );
    tier.set.open();
    invalidate.await.unwrap().unwrap();
    assert_eq!(load.await.unwrap().unwrap(), 10);
    until(|| c.loads_in_flight() == 0).await;
    assert_eq!(c.len(), 0);
    assert_eq!(
        tier.value(1).await,
        None,
        "the removal landed after the write"
    );
}

// --- A stuck key can be freed -----------------------------------------------------------

async fn stuck_load_is_freed_by_invalidate(c: Cache<u32, u64>) {
    let stuck = tokio::spawn({
        let c = c.clone();
        async move {
            c.get_or_load(1, std::future::pending::<Result<u64, String>>)
                .await
        }
    });
    until(|| c.loads_in_flight() == 1).await;
    c.invalidate(&1).await.unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let v = tokio::time::timeout(Duration::from_secs(1), c.get_or_load(1, loader(&calls, 5)))
        .await
        .expect("a new load, not a wait for the stuck one");
    assert_eq!(v.unwrap(), 5);
    assert_eq!(calls.load(SeqCst), 1);
    assert!(
        !stuck.is_finished(),
        "the stuck load's own callers still wait for it"
    );
    stuck.abort();
}

#[tokio::test(start_paused = true)]
async fn invalidate_frees_a_key_whose_load_is_stuck() {
    stuck_load_is_freed_by_invalidate(Cache::new()).await;
}

#[tokio::test(start_paused = true)]
async fn invalidate_frees_a_key_whose_load_is_stuck_with_tiers() {
    stuck_load_is_freed_by_invalidate(tiered(&Held::new())).await;
}

// --- The storage trait's defaults --------------------------------------------------------

/// [`Held`] implements only the required methods; `get_many` and `set_many` come from the
/// trait's defaults, which must keep the storage contract.
#[tokio::test(start_paused = true)]
async fn a_storage_with_only_the_required_methods_keeps_the_contract() {
    let (a, b) = (Held::<String, String>::new(), Held::<String, String>::new());
    memocache_core::storage::contract::check_storage(&*a, &*b).await;
}
