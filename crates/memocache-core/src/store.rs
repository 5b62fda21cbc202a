//! The embedded in-memory store: a sharded hash map of entries, each shard bounded by its share
//! of the capacity and ordered for eviction by the configured [`EvictionPolicy`].
//!
//! A key's shard is chosen by the high bits of its hash, so one hash serves both the shard
//! choice and the in-flight table ([`crate::flight`]). Reads take the shard's shared lock
//! (unless the policy reorders on read); writes take its exclusive lock. The store knows
//! nothing about loading: it answers "fresh, stale or miss" and keeps the capacity.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use crossbeam_utils::CachePadded;
use parking_lot::RwLock;
use tokio::time::Instant;

use crate::policy::{EvictionPolicy, OrderList};

type Hasher = foldhash::fast::RandomState;

/// No limit on hits.
const UNLIMITED: u32 = u32::MAX;

/// One stored value and its lifespans.
struct Slot<V> {
    value: V,
    update_at: Instant,
    expire_at: Instant,
    /// Hits this entry may still serve (`max_hits`), or `UNLIMITED`.
    hits_left: AtomicU32,
    /// Node in the shard's order list.
    node: u32,
    /// Background refreshes that failed in a row.
    refresh_failures: AtomicU32,
    /// No refresh before this many nanoseconds after the store's epoch (backoff).
    refresh_not_before: AtomicU64,
}

/// What a lookup found.
pub(crate) enum Lookup<V> {
    /// A value younger than its `update_after`.
    Fresh(V),
    /// A value past `update_after` but not `expire_after`; `refresh_due` when no backoff holds
    /// the refresh back.
    Stale { value: V, refresh_due: bool },
    /// Nothing servable.
    Miss,
}

struct Shard<K, V> {
    map: HashMap<K, Slot<V>, Hasher>,
    order: OrderList<K>,
    capacity: usize,
}

type PaddedShard<K, V> = CachePadded<RwLock<Shard<K, V>>>;

/// The in-memory store.
pub(crate) struct MemoryStore<K, V> {
    shards: Box<[PaddedShard<K, V>]>,
    hasher: Hasher,
    shard_bits: u32,
    policy: EvictionPolicy,
    epoch: Instant,
}

/// Refresh backoff: the first failure waits `BACKOFF_BASE`, doubling up to `BACKOFF_MAX`.
pub(crate) const BACKOFF_BASE: Duration = Duration::from_secs(1);
pub(crate) const BACKOFF_MAX: Duration = Duration::from_secs(60);

fn shard_count(capacity: usize) -> usize {
    let cpus = std::thread::available_parallelism().map_or(4, |n| n.get());
    let mut n = (cpus * 4).next_power_of_two().min(64);
    while n > 1 && capacity / n < 32 {
        n /= 2;
    }
    n
}

impl<K, V> MemoryStore<K, V>
where
    K: Hash + Eq + Clone,
    V: Clone,
{
    pub(crate) fn new(capacity: usize, policy: EvictionPolicy) -> Self {
        let n = shard_count(capacity);
        let hasher = Hasher::default();
        let shards = (0..n)
            .map(|i| {
                let cap = capacity / n + usize::from(i < capacity % n);
                CachePadded::new(RwLock::new(Shard {
                    map: HashMap::with_hasher(hasher),
                    order: OrderList::new(),
                    capacity: cap,
                }))
            })
            .collect();
        MemoryStore {
            shards,
            hasher,
            shard_bits: n.trailing_zeros(),
            policy,
            epoch: Instant::now(),
        }
    }

    /// The hash used for shard choice here and in the flight table.
    #[inline]
    pub(crate) fn hash<Q: Hash + ?Sized>(&self, key: &Q) -> u64 {
        self.hasher.hash_one(key)
    }

    #[inline]
    fn shard(&self, hash: u64) -> &RwLock<Shard<K, V>> {
        let i = if self.shard_bits == 0 {
            0
        } else {
            (hash >> (64 - self.shard_bits)) as usize
        };
        &self.shards[i]
    }

    fn nanos_since_epoch(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.epoch).as_nanos() as u64
    }

    /// Looks `key` up at time `now`, counting a hit against `max_hits`.
    pub(crate) fn get<Q>(&self, hash: u64, key: &Q, now: Instant) -> Lookup<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let lock = self.shard(hash);
        let (lookup, exhausted) = if self.policy.reorders_on_read() {
            let mut shard = lock.write();
            let shard = &mut *shard;
            match shard.map.get(key) {
                Some(slot) => {
                    let r = self.read_slot(slot, now);
                    if !matches!(r.0, Lookup::Miss) {
                        shard.order.move_to_back(slot.node);
                    }
                    r
                }
                None => (Lookup::Miss, false),
            }
        } else {
            let shard = lock.read();
            match shard.map.get(key) {
                Some(slot) => self.read_slot(slot, now),
                None => (Lookup::Miss, false),
            }
        };
        if exhausted {
            self.remove_exhausted(lock, key);
        }
        lookup
    }

    /// Reads one slot; the flag says this read used the entry's last allowed hit.
    fn read_slot(&self, slot: &Slot<V>, now: Instant) -> (Lookup<V>, bool) {
        if now >= slot.expire_at {
            return (Lookup::Miss, false);
        }
        let mut last = false;
        if slot.hits_left.load(Relaxed) != UNLIMITED {
            // Take one hit; an entry with none left is a miss.
            let taken = slot
                .hits_left
                .fetch_update(Relaxed, Relaxed, |h| h.checked_sub(1));
            match taken {
                Ok(1) => last = true,
                Ok(_) => {}
                Err(_) => return (Lookup::Miss, false),
            }
        }
        let value = slot.value.clone();
        let lookup = if now < slot.update_at {
            Lookup::Fresh(value)
        } else {
            let not_before = slot.refresh_not_before.load(Relaxed);
            Lookup::Stale {
                value,
                refresh_due: self.nanos_since_epoch(now) >= not_before,
            }
        };
        (lookup, last)
    }

    fn remove_exhausted<Q>(&self, lock: &RwLock<Shard<K, V>>, key: &Q)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let mut shard = lock.write();
        if shard
            .map
            .get(key)
            .is_some_and(|s| s.hits_left.load(Relaxed) == 0)
        {
            if let Some(slot) = shard.map.remove(key) {
                shard.order.remove(slot.node);
            }
        }
    }

    /// Stores `value` with the given deadlines, replacing any entry of `key`. Returns how many
    /// entries were evicted to make room.
    pub(crate) fn insert(
        &self,
        hash: u64,
        key: K,
        value: V,
        update_at: Instant,
        expire_at: Instant,
        max_hits: Option<u32>,
    ) -> u64 {
        let mut shard = self.shard(hash).write();
        let shard = &mut *shard;
        let hits_left = AtomicU32::new(max_hits.unwrap_or(UNLIMITED));
        let update_at = update_at.min(expire_at);
        if let Some(slot) = shard.map.get_mut(&key) {
            shard.order.move_to_back(slot.node);
            slot.value = value;
            slot.update_at = update_at;
            slot.expire_at = expire_at;
            slot.hits_left = hits_left;
            slot.refresh_failures = AtomicU32::new(0);
            slot.refresh_not_before = AtomicU64::new(0);
            return 0;
        }
        let node = shard.order.push_back(key.clone());
        shard.map.insert(
            key,
            Slot {
                value,
                update_at,
                expire_at,
                hits_left,
                node,
                refresh_failures: AtomicU32::new(0),
                refresh_not_before: AtomicU64::new(0),
            },
        );
        let mut evicted = 0;
        while shard.map.len() > shard.capacity {
            let Some((idx, victim)) = shard.order.front() else {
                break;
            };
            let victim = victim.clone();
            shard.order.remove(idx);
            shard.map.remove(&victim);
            evicted += 1;
        }
        evicted
    }

    /// Removes `key`; `true` if it was present.
    pub(crate) fn remove<Q>(&self, hash: u64, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let mut shard = self.shard(hash).write();
        match shard.map.remove(key) {
            Some(slot) => {
                shard.order.remove(slot.node);
                true
            }
            None => false,
        }
    }

    /// Records a failed background refresh of `key`: the next one waits for a backoff that
    /// doubles with each failure in a row.
    pub(crate) fn note_refresh_failure<Q>(&self, hash: u64, key: &Q, now: Instant)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let shard = self.shard(hash).read();
        if let Some(slot) = shard.map.get(key) {
            let failures = slot.refresh_failures.fetch_add(1, Relaxed).min(16);
            let backoff = BACKOFF_BASE.saturating_mul(1 << failures).min(BACKOFF_MAX);
            slot.refresh_not_before
                .store(self.nanos_since_epoch(now + backoff), Relaxed);
        }
    }

    /// Removes every entry.
    pub(crate) fn clear(&self) {
        for shard in self.shards.iter() {
            let mut shard = shard.write();
            shard.map.clear();
            shard.order.clear();
        }
    }

    /// Entries held, including expired ones not yet removed.
    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(|s| s.read().map.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(store: &MemoryStore<u32, u32>, k: u32) -> Option<u32> {
        match store.get(store.hash(&k), &k, Instant::now()) {
            Lookup::Fresh(v) | Lookup::Stale { value: v, .. } => Some(v),
            Lookup::Miss => None,
        }
    }

    fn put(store: &MemoryStore<u32, u32>, k: u32) -> u64 {
        let now = Instant::now();
        let far = now + Duration::from_secs(3600);
        store.insert(store.hash(&k), k, k, far, far, None)
    }

    #[test]
    fn least_recently_updated_ignores_reads() {
        let store = MemoryStore::new(2, EvictionPolicy::LeastRecentlyUpdated);
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
        let store = MemoryStore::new(2, EvictionPolicy::Lru);
        put(&store, 1);
        put(&store, 2);
        assert_eq!(t(&store, 1), Some(1));
        assert_eq!(put(&store, 3), 1);
        assert_eq!(t(&store, 1), Some(1));
        assert_eq!(t(&store, 2), None);
    }

    #[test]
    fn max_hits_drops_the_entry() {
        let store = MemoryStore::new(8, EvictionPolicy::LeastRecentlyUpdated);
        let now = Instant::now();
        let far = now + Duration::from_secs(60);
        store.insert(store.hash(&7), 7, 70, far, far, Some(2));
        assert_eq!(t(&store, 7), Some(70));
        assert_eq!(t(&store, 7), Some(70));
        assert_eq!(t(&store, 7), None);
        assert_eq!(store.len(), 0);
    }

    #[test]
    fn shards_split_capacity_exactly() {
        for cap in [1, 2, 31, 32, 100, 4096, 100_000] {
            let store: MemoryStore<u32, u32> = MemoryStore::new(cap, EvictionPolicy::Lru);
            let total: usize = store.shards.iter().map(|s| s.read().capacity).sum();
            assert_eq!(total, cap);
        }
    }
}
