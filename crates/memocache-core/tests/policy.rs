//! Eviction policies, weighted capacity, the eviction listener and expiry without reads
//! (issue 3), through the public API. Timing uses paused Tokio time.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use memocache_core::{Cache, EvictionPolicy, Lifespan, RemovalCause};
use tokio::time::advance;

type Log = Arc<Mutex<Vec<(u64, u64, RemovalCause)>>>;

fn logged(capacity: usize, policy: EvictionPolicy) -> (Cache<u64, u64>, Log) {
    let log: Log = Arc::default();
    let l = log.clone();
    let cache = Cache::builder()
        .capacity(capacity)
        .eviction_policy(policy)
        .update_after(Duration::from_secs(10))
        .expire_after(Duration::from_secs(10))
        .eviction_listener(move |k, v, cause| l.lock().unwrap().push((k, v, cause)))
        .build()
        .unwrap();
    (cache, log)
}

fn take(log: &Log) -> Vec<(u64, u64, RemovalCause)> {
    std::mem::take(&mut *log.lock().unwrap())
}

#[tokio::test(start_paused = true)]
async fn listener_sees_every_removal_once_with_its_cause() {
    use RemovalCause::*;
    let (c, log) = logged(2, EvictionPolicy::LeastRecentlyUpdated);
    c.insert(1, 10).await;
    c.insert(2, 20).await;
    assert_eq!(take(&log), []);
    c.insert(3, 30).await;
    assert_eq!(take(&log), [(1, 10, Size)]);
    c.insert(2, 21).await;
    assert_eq!(take(&log), [(2, 20, Replaced)]);
    c.invalidate(&3).await.unwrap();
    assert_eq!(take(&log), [(3, 30, Explicit)]);
    c.invalidate(&3).await.unwrap();
    assert_eq!(take(&log), [], "nothing left to remove");
    // A load that replaces a value.
    c.invalidate_all().await.unwrap();
    assert_eq!(take(&log), [(2, 21, Explicit)]);
    c.get_with(4, || async { 40 }).await.unwrap();
    advance(Duration::from_secs(11)).await;
    // Expired, removed by the next write without being read.
    c.insert(5, 50).await;
    assert_eq!(take(&log), [(4, 40, Expired)]);
    // A read of an expired entry removes it too (once).
    advance(Duration::from_secs(11)).await;
    assert_eq!(c.get(&5).await, None);
    assert_eq!(take(&log), [(5, 50, Expired)]);
    assert_eq!(c.get(&5).await, None);
    assert_eq!(take(&log), []);
    assert_eq!(
        c.stats().evictions,
        1,
        "only size evictions count as evictions"
    );
}

#[tokio::test(start_paused = true)]
async fn used_up_max_hits_are_reported_as_expired() {
    let log: Log = Arc::default();
    let l = log.clone();
    let c: Cache<u64, u64> = Cache::builder()
        .max_hits(2)
        .eviction_listener(move |k, v, cause| l.lock().unwrap().push((k, v, cause)))
        .build()
        .unwrap();
    c.insert(1, 10).await;
    assert_eq!(c.get(&1).await, Some(10));
    assert_eq!(c.get(&1).await, Some(10));
    assert_eq!(c.get(&1).await, None);
    assert_eq!(take(&log), [(1, 10, RemovalCause::Expired)]);
}

#[tokio::test(start_paused = true)]
async fn weighted_capacity_is_never_exceeded_and_oversized_entries_are_not_stored() {
    for policy in [
        EvictionPolicy::LeastRecentlyUpdated,
        EvictionPolicy::Lru,
        EvictionPolicy::W_TINY_LFU,
    ] {
        let log: Log = Arc::default();
        let l = log.clone();
        let c: Cache<u64, u64> = Cache::builder()
            .capacity(1_000)
            .eviction_policy(policy)
            .weigher(|_k: &u64, v: &u64| *v as u32)
            .eviction_listener(move |k, v, cause| l.lock().unwrap().push((k, v, cause)))
            .build()
            .unwrap();
        let max = c.max_entry_weight();
        assert!((1..=1_000).contains(&max));
        let mut x = 7u64;
        for k in 0..5_000u64 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let w = (x >> 33) % max.min(40) + 1;
            if k % 3 == 0 {
                c.get_with(k, move || async move { w }).await.unwrap();
            } else {
                c.insert(k, w).await;
            }
            assert!(
                c.weighted_size() <= 1_000,
                "{policy:?}: {}",
                c.weighted_size()
            );
        }
        // Heavier than the whole capacity: handed out, not stored, no error.
        assert_eq!(c.get_with(9_999, || async { 5_000 }).await.unwrap(), 5_000);
        assert_eq!(c.get(&9_999).await, None);
        assert!(c.weighted_size() <= 1_000);
        let log = take(&log);
        assert_eq!(log.last(), Some(&(9_999, 5_000, RemovalCause::Size)));
        // Weight accounting: what is held plus what left adds up to what was stored.
        let held: u64 = c.weighted_size();
        let sizes: u64 = log.iter().filter(|e| e.0 != 9_999).map(|e| e.1).sum();
        let stored: u64 = {
            let mut x = 7u64;
            (0..5_000u64)
                .map(|_| {
                    x = x
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    (x >> 33) % max.min(40) + 1
                })
                .sum()
        };
        assert_eq!(held + sizes, stored, "{policy:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn expired_entries_stop_counting_toward_capacity_without_being_read() {
    let log: Log = Arc::default();
    let l = log.clone();
    // Odd keys live 5 s, even keys an hour.
    // Room to spare in every shard: nothing should need evicting.
    let c: Cache<u64, u64> = Cache::builder()
        .capacity(4_000)
        .eviction_policy(EvictionPolicy::W_TINY_LFU)
        .entry_builder(|k: &u64, _v: &u64| {
            let d = Duration::from_secs(if k % 2 == 1 { 5 } else { 3_600 });
            Lifespan::new(d, d)
        })
        .eviction_listener(move |k, v, cause| l.lock().unwrap().push((k, v, cause)))
        .build()
        .unwrap();
    for k in 0..400 {
        c.insert(k, k).await;
    }
    assert_eq!(c.len(), 400);
    advance(Duration::from_secs(10)).await;
    // Writes of other keys only: the 200 expired entries leave, every live one stays.
    for k in 1_000..1_000 + 2 * 64 {
        c.insert(k, k).await;
    }
    let log = take(&log);
    assert!(log.iter().all(|e| e.2 == RemovalCause::Expired), "{log:?}");
    assert_eq!(log.len(), 200, "every expired entry removed exactly once");
    assert!(log.iter().all(|e| e.0 % 2 == 1));
    assert_eq!(c.len(), 200 + 128);
    assert_eq!(c.stats().evictions, 0, "nothing live was evicted");
    for k in (0..400).step_by(2) {
        assert_eq!(c.get(&k).await, Some(k));
    }
}

#[tokio::test]
async fn w_tinylfu_keeps_frequent_keys_through_a_scan() {
    let c: Cache<u64, u64> = Cache::builder()
        .capacity(1_000)
        .eviction_policy(EvictionPolicy::W_TINY_LFU)
        .build()
        .unwrap();
    for _ in 0..10 {
        for k in 0..100 {
            c.get_with(k, move || async move { k }).await.unwrap();
        }
    }
    for k in 10_000..20_000 {
        c.get_with(k, move || async move { k }).await.unwrap();
        assert!(c.len() <= 1_000);
    }
    let kept = futures_count(&c, 0..100).await;
    assert!(
        kept >= 95,
        "only {kept} of 100 frequent keys survived a 10× scan"
    );
}

/// Hits of a single-threaded skewed stream (keys drawn as the square of a uniform variable,
/// so small keys are hot) over a cache of `capacity`, a miss inserting its key.
async fn hits_of_a_skewed_stream(cache: &Cache<u64, u64>) -> (u64, Vec<u64>) {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut hits = 0;
    for _ in 0..200_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let u = (x >> 40) as f64 / (1u64 << 24) as f64;
        let k = (u * u * 20_000.0) as u64;
        match cache.get(&k).await {
            Some(_) => hits += 1,
            None => cache.insert(k, k).await,
        }
    }
    let mut resident: Vec<u64> = Vec::new();
    for k in 0..20_000 {
        if cache.get(&k).await.is_some() {
            resident.push(k);
        }
    }
    (hits, resident)
}

#[tokio::test]
async fn a_fixed_hasher_seed_makes_the_same_decisions_in_every_run() {
    for policy in [
        EvictionPolicy::W_TINY_LFU,
        EvictionPolicy::Lru,
        EvictionPolicy::LeastRecentlyUpdated,
    ] {
        let seeded = |seed: u64| {
            Cache::<u64, u64>::builder()
                .capacity(1_000)
                .eviction_policy(policy)
                .hasher_seed(seed)
                .build()
                .unwrap()
        };
        let first = hits_of_a_skewed_stream(&seeded(7)).await;
        let again = hits_of_a_skewed_stream(&seeded(7)).await;
        assert_eq!(
            first, again,
            "{policy:?}: the same seed, the same hits and entries"
        );
        assert!(first.0 > 20_000, "{policy:?}: {} hits", first.0);
        // Other seeds give other shard layouts, hence (here) other decisions.
        let mut others = Vec::new();
        for seed in 8..12 {
            others.push(hits_of_a_skewed_stream(&seeded(seed)).await);
        }
        assert!(
            others.iter().any(|o| *o != first),
            "{policy:?}: the seed is not used"
        );
    }
}

async fn futures_count(c: &Cache<u64, u64>, keys: std::ops::Range<u64>) -> usize {
    let mut n = 0;
    for k in keys {
        n += usize::from(c.get(&k).await == Some(k));
    }
    n
}

/// 2 threads × 500k mixed get / get_with / insert / invalidate on 5k keys with capacity 1k:
/// capacity respected, values never mixed between keys, and every value stored is either
/// still held or reported removed exactly once; size evictions match the counter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_threads_one_million_mixed_operations_stay_consistent() {
    for policy in [EvictionPolicy::Lru, EvictionPolicy::W_TINY_LFU] {
        let removed = Arc::new(Mutex::new(HashMap::<RemovalCause, u64>::new()));
        let r = removed.clone();
        let cap = 1_000;
        // The entry builder runs exactly once per value about to be stored.
        let stored = Arc::new(AtomicU64::new(0));
        let s = stored.clone();
        let c: Cache<u64, u64> = Cache::builder()
            .capacity(cap)
            .eviction_policy(policy)
            .entry_builder(move |_k: &u64, _v: &u64| {
                s.fetch_add(1, SeqCst);
                Lifespan::new(Duration::from_secs(600), Duration::from_secs(1_800))
            })
            .eviction_listener(move |k, v, cause| {
                assert_eq!(v % 10_000, k, "listener got a mixed value");
                *r.lock().unwrap().entry(cause).or_default() += 1;
            })
            .build()
            .unwrap();
        let tasks: Vec<_> = (0..2u64)
            .map(|t| {
                let c = c.clone();
                tokio::spawn(async move {
                    let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ t;
                    for i in 0..500_000u64 {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        // Skewed keys: a hot set and a long tail.
                        let k = if x.is_multiple_of(4) {
                            x % 5_000
                        } else {
                            x % 200
                        };
                        let v = (i % 1_000) * 10_000 + k;
                        match (x >> 40) % 10 {
                            0..=5 => {
                                if let Some(got) = c.get(&k).await {
                                    assert_eq!(got % 10_000, k, "mixed data");
                                }
                            }
                            6 | 7 => {
                                let got = c.get_with(k, move || async move { v }).await.unwrap();
                                assert_eq!(got % 10_000, k, "mixed data");
                            }
                            8 => {
                                c.insert(k, v).await;
                            }
                            _ => c.invalidate(&k).await.unwrap(),
                        }
                        if i % 1_000 == 0 {
                            assert!(c.len() <= cap);
                        }
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        // Let the last loads finish storing.
        while c.loads_in_flight() > 0 {
            tokio::task::yield_now().await;
        }
        assert!(c.len() <= cap);
        let removed = removed.lock().unwrap().clone();
        let total: u64 = removed.values().sum();
        assert_eq!(
            total + c.len() as u64,
            stored.load(SeqCst),
            "{policy:?}: a stored value vanished or was reported twice: {removed:?}"
        );
        let s = c.stats();
        assert_eq!(
            s.evictions,
            removed.get(&RemovalCause::Size).copied().unwrap_or(0)
        );
        assert_eq!(s.requests, s.hits() + s.misses);
    }
}
