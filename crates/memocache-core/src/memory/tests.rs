//! Store-level tests: each policy's order against a reference model, capacity bounds, the slab
//! and index staying consistent through removals.

use std::collections::VecDeque;
use std::sync::Mutex;

use proptest::prelude::*;

use super::shard::{Cold, Hot};
use super::*;

const BACKOFF: Backoff = Backoff {
    base: Duration::from_secs(1),
    max: Duration::from_secs(60),
};

pub(super) fn options<K, V>(capacity: u64, policy: EvictionPolicy) -> MemoryOptions<K, V> {
    MemoryOptions {
        capacity,
        policy,
        weighted: false,
        seed: None,
        listener: None,
        backoff: BACKOFF,
    }
}

pub(super) fn store(capacity: u64, policy: EvictionPolicy) -> Memory<u32, u32> {
    Memory::new(options(capacity, policy))
}

/// Stores `key -> value` with the given deadlines and hit budget.
fn insert(
    store: &Memory<u32, u32>,
    key: u32,
    value: u32,
    deadlines: (u64, u64),
    max_hits: Option<u32>,
) -> u64 {
    let entry = NewEntry {
        key,
        value,
        weight: 1,
        update_at: deadlines.0,
        expire_at: deadlines.1,
        max_hits,
    };
    store.notify(store.insert(store.hash(&key), entry, store.now()))
}

pub(super) fn t(store: &Memory<u32, u32>, k: u32) -> Option<u32> {
    match store.get(store.hash(&k), &k) {
        Lookup::Fresh(v) | Lookup::Stale { value: v, .. } => Some(v),
        Lookup::Miss => None,
    }
}

pub(super) fn put(store: &Memory<u32, u32>, k: u32) -> u64 {
    let far = Clock::deadline(store.now(), Duration::from_secs(3600));
    insert(store, k, k, (far, far), None)
}

/// Applies buffered hits, then checks the slab, index, lists and weights agree; returns
/// the keys of each shard in policy order (single-list policies: oldest first).
fn check(store: &Memory<u32, u32>) -> Vec<u32> {
    let mut keys = Vec::new();
    for lock in store.shards.iter() {
        let mut shard = lock.write();
        let mut out = store.removals();
        shard.maintain(store, store.now(), &mut out);
        let live = shard.hot.iter().filter(|e| e.is_some()).count();
        assert_eq!(shard.table.len(), live);
        assert_eq!(shard.cold.len(), shard.hot.len());
        assert_eq!(
            shard.free.len(),
            shard.hot.len() - live,
            "vacant slots are listed"
        );
        for &f in &shard.free {
            assert!(shard.hot[f as usize].is_none(), "a listed slot is vacant");
        }
        for (i, n) in shard.hot.iter().enumerate() {
            if let Some(n) = n {
                assert_eq!(shard.find(store.hash(&n.key), &n.key), Some(i as u32));
            }
        }
        let order = shard.policy.order(&shard.cold);
        let linked: u64 = shard.policy.weight();
        assert_eq!(linked, live as u64, "every entry linked once");
        assert_eq!(order.len(), live, "every entry listed once");
        assert!(linked <= shard.capacity, "{linked} > {}", shard.capacity);
        keys.extend(order.iter().map(|&i| shard.entry(i).key));
    }
    keys
}

#[test]
fn least_recently_updated_ignores_reads() {
    let store = store(2, EvictionPolicy::LeastRecentlyUpdated);
    put(&store, 1);
    put(&store, 2);
    assert_eq!(t(&store, 1), Some(1));
    assert_eq!(put(&store, 3), 1);
    assert_eq!(
        t(&store, 1),
        None,
        "1 was written first, reads do not count"
    );
    assert_eq!(t(&store, 2), Some(2));
}

#[test]
fn lru_keeps_what_was_read() {
    let store = store(2, EvictionPolicy::Lru);
    put(&store, 1);
    put(&store, 2);
    assert_eq!(t(&store, 1), Some(1));
    assert_eq!(put(&store, 3), 1);
    assert_eq!(t(&store, 1), Some(1));
    assert_eq!(t(&store, 2), None);
}

#[test]
fn max_hits_drops_the_entry() {
    let store = store(8, EvictionPolicy::LeastRecentlyUpdated);
    let far = Clock::deadline(store.now(), Duration::from_secs(60));
    insert(&store, 7, 70, (far, far), Some(2));
    assert_eq!(t(&store, 7), Some(70));
    assert_eq!(t(&store, 7), Some(70));
    assert_eq!(t(&store, 7), None);
    assert_eq!(store.len(), 0);
}

#[test]
fn shards_split_capacity_exactly() {
    for cap in [1, 2, 31, 32, 100, 4096, 100_000] {
        let store = store(cap, EvictionPolicy::Lru);
        let total: u64 = store.shards.iter().map(|s| s.read().capacity).sum();
        assert_eq!(total, cap);
    }
}

#[test]
fn entries_stay_compact() {
    // What a hit reads: key + value + update deadline + hits left.
    assert_eq!(std::mem::size_of::<Hot<u64, u64>>(), 32);
    // A vacant slot costs nothing: `None` is `update_at`'s zero.
    assert_eq!(std::mem::size_of::<Option<Hot<u64, u64>>>(), 32);
    assert_eq!(std::mem::size_of::<Hot<u64, [u8; 64]>>(), 88);
    // 4 links + expire deadline + refresh + weight + bucket + queue.
    assert_eq!(std::mem::size_of::<Cold>(), 40);
}

#[test]
fn w_tinylfu_keeps_a_hot_key_through_a_scan_of_ten_times_the_capacity() {
    let store = store(100, EvictionPolicy::W_TINY_LFU);
    for round in 0..20 {
        for k in 0..10 {
            if t(&store, k).is_none() {
                assert!(round < 2, "hot key {k} lost in round {round}");
                put(&store, k);
            }
        }
    }
    for k in 1_000..2_000 {
        if t(&store, k).is_none() {
            put(&store, k);
        }
    }
    for k in 0..10 {
        assert_eq!(t(&store, k), Some(k), "hot key {k} evicted by the scan");
    }
    check(&store);
}

/// Hit ratio of `policy` on `keys`, inserting on a miss.
fn hit_ratio(cap: u64, policy: EvictionPolicy, keys: impl Iterator<Item = u32>) -> f64 {
    let store = store(cap, policy);
    let (mut hits, mut n) = (0u32, 0u32);
    for k in keys {
        n += 1;
        if t(&store, k).is_some() {
            hits += 1;
        } else {
            put(&store, k);
        }
    }
    check(&store);
    f64::from(hits) / f64::from(n)
}

/// A recency-biased stream: each new key is used again a few times within a short window,
/// then never.
fn short_reuse(n: u32) -> impl Iterator<Item = u32> {
    let mut x = 0x2545_f491u32;
    (0..n).map(move |i| {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        // Mostly a key from the last ~40 positions, sometimes a new one.
        let back = x % 40;
        (i / 4).saturating_sub(back)
    })
}

/// The climber grows the window from 1 % to most of the capacity on a pure recency workload
/// (at 64 entries it simulates all keys, at 500 an eighth), and on a loop keeps it small. Over
/// 1.5M requests it must stay within 2 points of LRU (the synthetic workloads of
/// `window_tests` hold it to 1); without adaptation W-TinyLFU scores ~20 % here.
#[test]
fn w_tinylfu_adapts_to_recency_biased_workloads() {
    for cap in [64u64, 500] {
        let lru = hit_ratio(cap, EvictionPolicy::Lru, short_reuse(1_500_000));
        let tlfu = hit_ratio(cap, EvictionPolicy::W_TINY_LFU, short_reuse(1_500_000));
        assert!(
            tlfu >= lru - 0.02,
            "cap {cap}: w-tinylfu {tlfu:.4} < lru {lru:.4} - 2 pt"
        );
        let c = cap as u32 * 6 / 5;
        let lru = hit_ratio(cap, EvictionPolicy::Lru, (0..1_500_000).map(|i| i % c));
        let tlfu = hit_ratio(
            cap,
            EvictionPolicy::W_TINY_LFU,
            (0..1_500_000).map(|i| i % c),
        );
        assert!(
            tlfu >= lru - 0.01,
            "loop, cap {cap}: w-tinylfu {tlfu:.4} < lru {lru:.4}"
        );
    }
}

/// A stationary frequency-biased stream: keys `1..=n` with probability about `1 / k`
/// (log-uniform, a Zipf distribution of exponent 1).
pub(super) fn skewed(n: u32, len: u32) -> impl Iterator<Item = u32> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..len).map(move |_| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let u = (x >> 11) as f64 / (1u64 << 53) as f64;
        (f64::from(n).powf(u) as u32).max(1)
    })
}

/// On a stationary skewed stream the climber finds nothing to gain from a window: it ends
/// small (the old Caffeine-style climber wandered to 10–40 % here and lost hit ratio), and
/// W-TinyLFU keeps its lead over LRU.
#[test]
fn w_tinylfu_keeps_a_small_window_on_a_stationary_skewed_workload() {
    for cap in [100u64, 1_000] {
        let store = store(cap, EvictionPolicy::W_TINY_LFU);
        let (mut hits, mut n) = (0u32, 0u32);
        for k in skewed(20 * cap as u32, 1_000_000) {
            n += 1;
            if t(&store, k).is_some() {
                hits += 1;
            } else {
                put(&store, k);
            }
        }
        let window = store.climber.as_ref().unwrap().fraction();
        assert!(window <= 0.05, "cap {cap}: window {window}");
        let tlfu = f64::from(hits) / f64::from(n);
        let lru = hit_ratio(cap, EvictionPolicy::Lru, skewed(20 * cap as u32, 1_000_000));
        assert!(
            tlfu > lru + 0.03,
            "cap {cap}: w-tinylfu {tlfu:.4}, lru {lru:.4}"
        );
    }
}

#[derive(Debug, Clone)]
enum Op {
    Get(u32),
    Insert(u32),
    Remove(u32),
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        prop_oneof![
            3 => (0..48u32).prop_map(Op::Get),
            3 => (0..48u32).prop_map(Op::Insert),
            1 => (0..48u32).prop_map(Op::Remove),
        ],
        1..400,
    )
}

/// Runs `ops` on a one-shard store and on the reference model: a recency list where a hit
/// moves the key to the back iff `reads_reorder`, a write always does, and eviction pops the
/// front. Checks presence, order and the bound after every operation.
fn against_model(cap: u64, policy: EvictionPolicy, reads_reorder: bool, ops: &[Op]) {
    let store = store(cap, policy);
    assert_eq!(store.shards.len(), 1);
    let mut model: VecDeque<u32> = VecDeque::new();
    for op in ops {
        match *op {
            Op::Get(k) => {
                let present = model.contains(&k);
                assert_eq!(t(&store, k).is_some(), present, "get {k}");
                if present && reads_reorder {
                    model.retain(|&x| x != k);
                    model.push_back(k);
                }
            }
            Op::Insert(k) => {
                let existed = model.contains(&k);
                model.retain(|&x| x != k);
                model.push_back(k);
                let mut evicted = 0;
                while model.len() as u64 > cap {
                    model.pop_front();
                    evicted += 1;
                }
                assert_eq!(put(&store, k), evicted, "insert {k} (existed {existed})");
            }
            Op::Remove(k) => {
                let present = model.contains(&k);
                model.retain(|&x| x != k);
                let removed = store.remove(store.hash(&k), &k, RemovalCause::Explicit);
                let found = removed.found;
                store.notify(removed);
                assert_eq!(found, present);
            }
        }
        assert_eq!(check(&store), Vec::from(model.clone()));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn lru_matches_the_reference_model(cap in 1u64..40, ops in ops()) {
        against_model(cap, EvictionPolicy::Lru, true, &ops);
    }

    #[test]
    fn least_recently_updated_matches_the_reference_model(cap in 1u64..40, ops in ops()) {
        against_model(cap, EvictionPolicy::LeastRecentlyUpdated, false, &ops);
    }

    /// W-TinyLFU (with and without doorkeeper), many shards: the bound holds after every
    /// operation, what the store answers matches what it holds, and the structure stays
    /// consistent; the listener sees each removal once.
    #[test]
    fn w_tinylfu_respects_the_capacity(cap in 1u64..300, doorkeeper: bool, ops in ops()) {
        let removed = Arc::new(Mutex::new(Vec::new()));
        let log = removed.clone();
        let store: Memory<u32, u32> = Memory::new(MemoryOptions {
            listener: Some(Arc::new(move |k, _v, cause| log.lock().unwrap().push((k, cause)))),
            ..options(cap, EvictionPolicy::WTinyLfu { doorkeeper })
        });
        let mut inserted = 0u64;
        for op in &ops {
            match *op {
                Op::Get(k) => { t(&store, k); }
                Op::Insert(k) => { put(&store, k); inserted += 1; }
                Op::Remove(k) => { store.notify(store.remove(store.hash(&k), &k, RemovalCause::Explicit)); }
            }
            prop_assert!(store.len() as u64 <= cap);
        }
        let held = check(&store);
        prop_assert_eq!(held.len(), store.len());
        // Every insert either is still held or was removed exactly once (as itself or as the
        // value it replaced).
        prop_assert_eq!(removed.lock().unwrap().len() as u64 + store.len() as u64, inserted);
    }
}

/// Small integer keys spread evenly over the shards whatever the hasher's seed (some foldhash
/// seeds left the top bits of such keys' hashes alike, crowding one shard of every store in
/// that process).
#[test]
fn small_integer_keys_spread_over_the_shards() {
    for _ in 0..20 {
        let store =
            Memory::<u64, u64>::new(options(8 * 4096, EvictionPolicy::LeastRecentlyUpdated));
        let n = store.shards.len();
        let mut counts = vec![0u32; n];
        for k in 0..1000u64 {
            let shard = store.shard(store.hash(&k));
            let i = store
                .shards
                .iter()
                .position(|s| std::ptr::eq::<RwLock<Shard<u64, u64>>>(&**s, shard))
                .expect("a shard of the store");
            counts[i] += 1;
        }
        let fair = 1000 / n as u32;
        let worst = *counts.iter().max().expect("shards");
        assert!(worst <= fair * 3 / 2, "{counts:?}: {worst} > 1.5 x {fair}");
    }
}

/// A hit on an entry without deadlines reads no clock (nothing can make it stale or
/// expired); a hit on an entry with one reads it once.
#[test]
fn a_hit_reads_the_clock_only_for_an_entry_with_a_deadline() {
    use crate::clock::{reads_on_this_thread, NEVER};
    let s = store(100, EvictionPolicy::LeastRecentlyUpdated);
    insert(&s, 1, 10, (NEVER, NEVER), None);
    put(&s, 2);
    let before = reads_on_this_thread();
    assert_eq!(t(&s, 1), Some(10));
    assert_eq!(reads_on_this_thread(), before, "no deadline, no clock read");
    assert_eq!(t(&s, 2), Some(2));
    assert_eq!(reads_on_this_thread(), before + 1, "a deadline is checked");
    // A hit budget is still counted without the clock.
    insert(&s, 3, 30, (NEVER, NEVER), Some(1));
    assert_eq!(t(&s, 3), Some(30));
    assert_eq!(t(&s, 3), None, "the one hit was used");
}

/// A weighted W-TinyLFU store sizes its frequency sketch by the entries it holds, not by its
/// capacity in weight units: `capacity(64 MiB)` with a byte weigher used to allocate a sketch
/// for 64 Mi entries per store (8 bytes each: 512 MiB) before storing anything.
#[test]
fn a_weighted_sketch_grows_with_the_entries_not_the_capacity() {
    let capacity = 64 << 20;
    let store: Memory<u32, u32> = Memory::new(MemoryOptions {
        weighted: true,
        ..options(capacity, EvictionPolicy::W_TINY_LFU)
    });
    let sketch_bytes = |s: &Memory<u32, u32>| -> usize {
        s.shards
            .iter()
            .map(|sh| sh.read().policy.sketch_bytes())
            .sum()
    };
    let empty = sketch_bytes(&store);
    assert!(
        empty <= 64 * 2048,
        "{empty} bytes of sketch for an empty store"
    );
    let far = Clock::deadline(store.now(), Duration::from_secs(3600));
    for k in 0..40_000u32 {
        let entry = NewEntry {
            key: k,
            value: k,
            weight: 1_000,
            update_at: far,
            expire_at: far,
            max_hits: None,
        };
        store.notify(store.insert(store.hash(&k), entry, store.now()));
    }
    assert_eq!(store.len(), 40_000, "40 MB of 64 MiB: nothing evicted");
    let grown = sketch_bytes(&store);
    // At least a counter word (8 bytes) per entry held; far from the 512 MiB of before.
    assert!(grown >= 40_000 * 8, "{grown} bytes for 40,000 entries");
    assert!(grown <= 40_000 * 8 * 4, "{grown} bytes for 40,000 entries");
}
