//! Floors a cache tier is measured against, computed offline on the request sequence itself:
//! the misses of Bélády's optimal policy (MIN: on a miss with the tier full, evict the key whose
//! next use lies furthest in the future), of plain LRU and of exact least-recently-updated (one
//! list, evict the key written longest ago), for a tier of a given size; and of A0 with the
//! frequencies known in hindsight (hold the most requested keys), the best an online policy
//! can do on a stream of independent requests.
//!
//! Each counts every miss, compulsory ones (the first request of each key) included, so none
//! can be below the number of distinct keys. MIN here always admits the missed key (a demand-
//! fetch cache, as a memory tier in front of Redis is), which is the classic formulation.

use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet, VecDeque};
use std::hash::Hash;

/// Misses of Bélády's optimal policy with `capacity` entries over `keys`.
///
/// ```
/// // a b c a b c with room for 2: MIN misses a, b, c, then keeps a and one of b/c.
/// assert_eq!(memocache_bench::floor::belady_misses(&[1, 2, 3, 1, 2, 3], 2), 4);
/// ```
pub fn belady_misses<K: Hash + Eq + Copy + Ord>(keys: &[K], capacity: usize) -> u64 {
    if capacity == 0 {
        return keys.len() as u64;
    }
    // next[i]: index of the next request of keys[i], or "never" (distinct values past the end so
    // that heap entries never tie on the position).
    let never = keys.len();
    let mut next = vec![0usize; keys.len()];
    let mut seen: HashMap<K, usize> = HashMap::new();
    for (i, k) in keys.iter().enumerate().rev() {
        next[i] = seen.insert(*k, i).unwrap_or(never + i);
    }
    // Resident keys with the position of their next use; the heap holds (next use, key) and
    // may carry outdated entries, skipped when popped.
    let mut resident: HashMap<K, usize> = HashMap::with_capacity(capacity + 1);
    let mut heap: BinaryHeap<(usize, K)> = BinaryHeap::new();
    let mut misses = 0u64;
    for (i, k) in keys.iter().enumerate() {
        if !resident.contains_key(k) {
            misses += 1;
            if resident.len() == capacity {
                while let Some((at, victim)) = heap.pop() {
                    if resident.get(&victim) == Some(&at) {
                        resident.remove(&victim);
                        break;
                    }
                }
            }
        }
        resident.insert(*k, next[i]);
        heap.push((next[i], *k));
        // Keep the heap from growing without bound on long sequences.
        if heap.len() > 4 * capacity + 1024 {
            heap = resident.iter().map(|(k, &at)| (at, *k)).collect();
        }
    }
    misses
}

/// Misses of a tier that holds, from their first request on, the `capacity` keys requested
/// most often over the whole of `keys`, and admits no other: Aho, Denning and Ullman's A0
/// (optimal for independent requests, which a Zipf sample is) with the frequencies known in
/// hindsight. On an independent stream no online policy misses fewer in expectation (it can
/// only learn the frequencies this one is given; Bélády's MIN also knows the order), so it
/// bounds what any eviction or admission policy can reach on such a trace.
///
/// ```
/// // 1 is requested three times, 2 and 3 once: holding 1 misses it once, and 2 and 3.
/// assert_eq!(memocache_bench::floor::hindsight_a0_misses(&[1, 2, 1, 3, 1], 1), 3);
/// ```
pub fn hindsight_a0_misses<K: Hash + Eq + Copy>(keys: &[K], capacity: usize) -> u64 {
    let mut counts: HashMap<K, u64> = HashMap::new();
    for k in keys {
        *counts.entry(*k).or_default() += 1;
    }
    // The most requested counts first (which of tied keys is held changes no total).
    let mut ranked: Vec<u64> = counts.into_values().collect();
    ranked.sort_unstable_by(|a, b| b.cmp(a));
    let held: u64 = ranked.iter().take(capacity).sum();
    let first_requests = ranked.len().min(capacity) as u64;
    keys.len() as u64 - held + first_requests
}

/// Misses of an LRU tier with `capacity` entries over `keys`.
///
/// ```
/// assert_eq!(memocache_bench::floor::lru_misses(&[1, 2, 3, 1, 2, 3], 2), 6);
/// assert_eq!(memocache_bench::floor::lru_misses(&[1, 2, 1, 2], 2), 2);
/// ```
pub fn lru_misses<K: Hash + Eq + Copy>(keys: &[K], capacity: usize) -> u64 {
    if capacity == 0 {
        return keys.len() as u64;
    }
    let mut last_use: HashMap<K, usize> = HashMap::with_capacity(capacity + 1);
    let mut by_age: BTreeMap<usize, K> = BTreeMap::new();
    let mut misses = 0u64;
    for (i, k) in keys.iter().enumerate() {
        match last_use.insert(*k, i) {
            Some(prev) => {
                by_age.remove(&prev);
            }
            None => {
                misses += 1;
                if last_use.len() > capacity {
                    let (_, victim) = by_age.pop_first().expect("a full tier has an oldest key");
                    last_use.remove(&victim);
                }
            }
        }
        by_age.insert(i, *k);
    }
    misses
}

/// Misses of an exact least-recently-updated tier with `capacity` entries over `keys`, each
/// key written when it misses (a read-through tier): reads do not reorder, so the victim is the
/// key inserted longest ago, i.e. FIFO. memocache's default policy approximates it per shard.
///
/// ```
/// // 1 stays the oldest although it is read: the miss on 3 evicts it.
/// assert_eq!(memocache_bench::floor::lru_update_misses(&[1, 2, 1, 3, 1], 2), 4);
/// assert_eq!(memocache_bench::floor::lru_misses(&[1, 2, 1, 3, 1], 2), 3);
/// ```
pub fn lru_update_misses<K: Hash + Eq + Copy>(keys: &[K], capacity: usize) -> u64 {
    if capacity == 0 {
        return keys.len() as u64;
    }
    let mut resident: HashSet<K> = HashSet::with_capacity(capacity + 1);
    let mut by_write: VecDeque<K> = VecDeque::with_capacity(capacity + 1);
    let mut misses = 0u64;
    for k in keys {
        if resident.insert(*k) {
            misses += 1;
            by_write.push_back(*k);
            if by_write.len() > capacity {
                let victim = by_write.pop_front().expect("a full tier has an oldest key");
                resident.remove(&victim);
            }
        }
    }
    misses
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Exhaustive optimum by trying every eviction choice (tiny inputs only).
    fn brute_force(keys: &[u8], capacity: usize) -> u64 {
        fn go(keys: &[u8], cap: usize, resident: Vec<u8>) -> u64 {
            let Some((&k, rest)) = keys.split_first() else {
                return 0;
            };
            if resident.contains(&k) {
                return go(rest, cap, resident);
            }
            if resident.len() < cap {
                let mut r = resident;
                r.push(k);
                return 1 + go(rest, cap, r);
            }
            (0..resident.len())
                .map(|i| {
                    let mut r = resident.clone();
                    r[i] = k;
                    1 + go(rest, cap, r)
                })
                .min()
                .unwrap_or(0)
        }
        go(keys, capacity, Vec::new())
    }

    #[test]
    fn belady_is_optimal_and_never_worse_than_lru() {
        let mut x = 12345u64;
        for _ in 0..200 {
            let len = 1 + (x % 12) as usize;
            let keys: Vec<u8> = (0..len)
                .map(|_| {
                    x = x
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    ((x >> 33) % 5) as u8
                })
                .collect();
            for cap in 1..=3 {
                let opt = belady_misses(&keys, cap);
                assert_eq!(opt, brute_force(&keys, cap), "{keys:?} cap {cap}");
                assert!(opt <= lru_misses(&keys, cap));
                assert!(opt <= lru_update_misses(&keys, cap));
            }
        }
    }

    #[test]
    fn unbounded_tier_misses_only_first_uses() {
        let keys = [5, 1, 5, 2, 1, 5, 3];
        assert_eq!(belady_misses(&keys, 100), 4);
        assert_eq!(lru_misses(&keys, 100), 4);
        assert_eq!(lru_update_misses(&keys, 100), 4);
        assert_eq!(belady_misses(&keys, 0), 7);
    }
}
