//! One shard of the memory: its entries in a slab of two parallel records per entry (the
//! *hot* one a hit reads, the *cold* bookkeeping), the hash index over the slab, the eviction
//! policy's queues and the timer wheel threaded through it, and the shard's read buffer.
//!
//! Everything here runs under the shard's lock (shared for [`Shard::find`] and
//! [`read_entry`], exclusive for the rest); the [`Memory`](super::Memory) picks the shard and
//! takes the lock.

use crate::sync::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::borrow::Borrow;
use std::hash::{BuildHasher, Hash};
use std::num::NonZeroU64;

use hashbrown::HashTable;

use super::buffer::ReadBuffer;
use super::list::{Linked, NIL};
use super::policy::{Policy, RemovalCause};
use super::timer::{Timed, TimerWheel, NO_BUCKET};
use super::{Backoff, Lookup, Memory, NewEntry};

/// No limit on hits.
pub(super) const UNLIMITED: u32 = u32::MAX;
/// `refresh` packs the failures in a row (top 8 bits) and the backoff deadline in
/// milliseconds since the epoch (low 56 bits).
const FAILURE_SHIFT: u32 = 56;
const NOT_BEFORE_MASK: u64 = (1 << FAILURE_SHIFT) - 1;

/// What a hit reads of an entry, in the shard's `hot` slab: the key, the value, the time it
/// goes stale and its hit budget. Kept apart from the bookkeeping ([`Cold`]) so a hit touches
/// one small record (32 bytes for `u64 -> u64`) and the slab a lookup walks stays compact.
#[repr(C)]
pub(super) struct Hot<K, V> {
    pub(super) key: K,
    value: V,
    /// `update_after` deadline in nanoseconds since the clock's epoch (never past
    /// `Cold::expire_at`): before it, a hit needs nothing else. Never zero (the clock starts
    /// at 1), which lets `Option<Hot>` mark a vacant slot at no cost in size.
    update_at: NonZeroU64,
    /// Hits this entry may still serve (`max_hits`), or `UNLIMITED`.
    hits_left: AtomicU32,
}

/// An entry's bookkeeping, in the shard's `cold` slab at the same index as its [`Hot`]
/// record: policy and timer-wheel links, the hard deadline, weight and refresh backoff. Hits
/// read it only once the entry is stale.
pub(super) struct Cold {
    /// `[prev, next]` in the policy's list (0) and the timer wheel's bucket (1).
    links: [[u32; 2]; 2],
    /// `expire_after` deadline in nanoseconds since the clock's epoch.
    expire_at: u64,
    /// Refresh backoff (see `FAILURE_SHIFT`).
    refresh: AtomicU64,
    weight: u32,
    bucket: u16,
    queue: u8,
}

impl Linked for Cold {
    #[inline]
    fn links(&self, list: usize) -> [u32; 2] {
        self.links[list]
    }
    #[inline]
    fn links_mut(&mut self, list: usize) -> &mut [u32; 2] {
        &mut self.links[list]
    }
    #[inline]
    fn weight(&self) -> u32 {
        self.weight
    }
    #[inline]
    fn queue(&self) -> u8 {
        self.queue
    }
    #[inline]
    fn set_queue(&mut self, queue: u8) {
        self.queue = queue;
    }
}

impl Timed for Cold {
    #[inline]
    fn expire_at(&self) -> u64 {
        self.expire_at
    }
    #[inline]
    fn bucket(&self) -> u16 {
        self.bucket
    }
    #[inline]
    fn set_bucket(&mut self, bucket: u16) {
        self.bucket = bucket;
    }
}

/// The entry at slot `i`, which the index or a policy list points to (so it is occupied).
#[inline]
pub(super) fn occupied<K, V>(hot: &[Option<Hot<K, V>>], i: u32) -> &Hot<K, V> {
    hot[i as usize]
        .as_ref()
        .expect("an indexed or listed slot holds an entry")
}

/// One shard: its slab, index, policy, timer wheel and read buffer.
pub(super) struct Shard<K, V> {
    /// First, so its counter shares the cache line of the lock word readers write anyway.
    pub(super) buffer: ReadBuffer,
    pub(super) table: HashTable<u32>,
    /// The entries: `hot[i]` and `cold[i]` are one entry; `None` marks a vacant slot, listed
    /// in `free` and reused by the next new entry. A removal leaves its slot vacant instead of
    /// moving another entry into it, which would relink that entry's neighbours and re-index
    /// it: an eviction touches only the evicted entry.
    pub(super) hot: Vec<Option<Hot<K, V>>>,
    pub(super) cold: Vec<Cold>,
    pub(super) free: Vec<u32>,
    pub(super) policy: Policy,
    wheel: TimerWheel,
    /// Capacity in weight units (entries when there is no weigher).
    pub(super) capacity: u64,
    /// Slab growth stops here (the capacity in entries; unbounded with a weigher).
    max_nodes: usize,
    /// Entries have weights: the entry count is not known from the capacity, so the policy's
    /// sketch grows with it.
    weighted: bool,
    /// Writes to this shard, counted to sweep another shard every few of them.
    pub(super) writes: u32,
}

/// Entries removed during one exclusive section, handed to the listener after it.
pub(super) struct Removals<K, V> {
    keep: bool,
    pub(super) items: Vec<(K, V, RemovalCause)>,
    pub(super) evicted: u64,
}

impl<K, V> Removals<K, V> {
    pub(super) fn new(keep: bool) -> Self {
        Removals {
            keep,
            items: Vec::new(),
            evicted: 0,
        }
    }

    #[inline]
    fn push(&mut self, key: K, value: V, cause: RemovalCause) {
        if cause == RemovalCause::Size {
            self.evicted += 1;
        }
        if self.keep {
            self.items.push((key, value, cause));
        }
    }
}

/// Reads one entry that is stale or has a hit budget; the flag says it is expired or this
/// read used its last hit.
pub(super) fn read_entry<K, V: Clone>(
    entry: &Hot<K, V>,
    cold: &Cold,
    now: u64,
) -> (Lookup<V>, bool) {
    if now >= cold.expire_at {
        return (Lookup::Miss, true);
    }
    let mut last = false;
    if entry.hits_left.load(Relaxed) != UNLIMITED {
        // Take one hit; an entry with none left is a miss.
        let taken = entry
            .hits_left
            .fetch_update(Relaxed, Relaxed, |h| h.checked_sub(1));
        match taken {
            Ok(1) => last = true,
            Ok(_) => {}
            Err(_) => return (Lookup::Miss, true),
        }
    }
    let value = entry.value.clone();
    let lookup = if now < entry.update_at.get() {
        Lookup::Fresh(value)
    } else {
        let not_before = cold.refresh.load(Relaxed) & NOT_BEFORE_MASK;
        Lookup::Stale {
            value,
            refresh_due: now / 1_000_000 >= not_before,
        }
    };
    (lookup, last)
}

impl<K, V> Hot<K, V> {
    #[inline]
    pub(super) fn value(&self) -> &V {
        &self.value
    }

    /// The `update_after` deadline.
    #[inline]
    pub(super) fn update_at(&self) -> u64 {
        self.update_at.get()
    }

    /// `true` when the entry has no `max_hits` budget.
    #[inline]
    pub(super) fn unlimited(&self) -> bool {
        self.hits_left.load(Relaxed) == UNLIMITED
    }
}

impl<K, V> Shard<K, V>
where
    K: Hash + Eq,
{
    /// An empty shard of `capacity` weight units, holding at most `max_nodes` entries
    /// (`usize::MAX`: weighted, no bound but the weight).
    pub(super) fn new(policy: Policy, capacity: u64, max_nodes: usize) -> Self {
        Shard {
            buffer: ReadBuffer::new(),
            table: HashTable::new(),
            hot: Vec::new(),
            cold: Vec::new(),
            free: Vec::new(),
            policy,
            wheel: TimerWheel::new(0),
            capacity,
            max_nodes,
            weighted: max_nodes == usize::MAX,
            writes: 0,
        }
    }

    /// Applies buffered hits, then removes what the timer wheel says is due.
    pub(super) fn maintain(&mut self, store: &Memory<K, V>, now: u64, out: &mut Removals<K, V>) {
        if store.records_reads {
            let Shard {
                buffer,
                hot,
                cold,
                policy,
                ..
            } = self;
            buffer.drain(|i| {
                // Buffered indices are live: entries only leave after a drain.
                if let Some(Some(entry)) = hot.get(i as usize) {
                    policy.on_access(cold, i, store.access_hash(&entry.key));
                }
            });
            if let Some(climber) = &store.climber {
                self.policy.set_window_fraction(climber.fraction());
            }
        }
        self.wheel.advance(&mut self.cold, now);
        while let Some(i) = self.wheel.pop_due(&mut self.cold) {
            if self.cold[i as usize].expire_at <= now {
                self.remove_node(store, i, RemovalCause::Expired, out);
            } else {
                self.wheel.schedule(&mut self.cold, i);
            }
        }
    }

    #[inline]
    pub(super) fn find<Q>(&self, hash: u64, key: &Q) -> Option<u32>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hot = &self.hot;
        self.table
            .find(hash, |&i| {
                hot[i as usize]
                    .as_ref()
                    .is_some_and(|e| e.key.borrow() == key)
            })
            .copied()
    }

    /// The entry at an indexed slot.
    #[inline]
    pub(super) fn entry(&self, i: u32) -> &Hot<K, V> {
        occupied(&self.hot, i)
    }

    /// The bookkeeping of an indexed slot.
    #[inline]
    pub(super) fn cold(&self, i: u32) -> &Cold {
        &self.cold[i as usize]
    }

    /// `true` when entry `i` is stale at `now` — servable, past `update_after` — and no
    /// backoff holds its refresh back. Reads only (counts no hit).
    pub(super) fn refresh_due(&self, i: u32, now: u64) -> bool {
        let (hot, cold) = (self.entry(i), &self.cold[i as usize]);
        now >= hot.update_at.get()
            && now < cold.expire_at
            && hot.hits_left.load(Relaxed) != 0
            && now / 1_000_000 >= cold.refresh.load(Relaxed) & NOT_BEFORE_MASK
    }

    /// The nanoseconds before `update_after` of entry `i` when it is fresh at `now` but its
    /// `update_after` comes within `window` nanoseconds and no backoff holds its refresh back
    /// (an early refresh's test); else `None`.
    pub(super) fn early_due(&self, i: u32, now: u64, window: u64) -> Option<u64> {
        let (hot, cold) = (self.entry(i), &self.cold[i as usize]);
        let update_at = hot.update_at.get();
        (now < update_at
            && now.saturating_add(window) >= update_at
            && hot.hits_left.load(Relaxed) != 0
            && now / 1_000_000 >= cold.refresh.load(Relaxed) & NOT_BEFORE_MASK)
            .then(|| update_at - now)
    }

    /// `true` when entry `i` is expired at `now` or has used its last hit.
    pub(super) fn is_spent(&self, i: u32, now: u64) -> bool {
        self.entry(i).hits_left.load(Relaxed) == 0 || now >= self.cold[i as usize].expire_at
    }

    /// Stores `new` (whose key hashes to `hash`), replacing the entry of its key, then evicts
    /// to capacity. An entry heavier than the shard's whole capacity is not stored.
    pub(super) fn put(
        &mut self,
        store: &Memory<K, V>,
        hash: u64,
        new: NewEntry<K, V>,
        out: &mut Removals<K, V>,
    ) {
        let NewEntry {
            key,
            value,
            weight,
            update_at,
            expire_at,
            max_hits,
        } = new;
        // The clock starts at 1, so deadlines are never 0.
        let update_at = NonZeroU64::new(update_at.min(expire_at)).unwrap_or(NonZeroU64::MIN);
        let hits_left = max_hits.unwrap_or(UNLIMITED);
        let existing = self.find(hash, &key);
        if u64::from(weight) > self.capacity {
            // Too heavy to ever fit: not stored (and not an error).
            if let Some(i) = existing {
                self.remove_node(store, i, RemovalCause::Replaced, out);
            }
            out.push(key, value, RemovalCause::Size);
            return;
        }
        if let Some(i) = existing {
            let entry = self.hot[i as usize]
                .as_mut()
                .expect("an indexed or listed slot holds an entry");
            let old_value = std::mem::replace(&mut entry.value, value);
            entry.update_at = update_at;
            *entry.hits_left.get_mut() = hits_left;
            let cold = &mut self.cold[i as usize];
            let old_weight = std::mem::replace(&mut cold.weight, weight);
            cold.expire_at = expire_at;
            *cold.refresh.get_mut() = 0;
            self.policy.reweigh(&self.cold, i, old_weight);
            self.policy
                .on_update(&mut self.cold, i, store.write_hash(hash));
            self.wheel.deschedule(&mut self.cold, i);
            self.wheel.schedule(&mut self.cold, i);
            out.push(key, old_value, RemovalCause::Replaced);
        } else {
            let hot = Hot {
                key,
                value,
                update_at,
                hits_left: AtomicU32::new(hits_left),
            };
            let cold = Cold {
                links: [[NIL; 2]; 2],
                expire_at,
                refresh: AtomicU64::new(0),
                weight,
                bucket: NO_BUCKET,
                queue: 0,
            };
            let i = self.vacant_slot(hot, cold);
            let Shard { table, hot, .. } = self;
            table.insert_unique(hash, i, |&x| store.hasher.hash_one(&occupied(hot, x).key));
            if self.weighted {
                self.policy.ensure_capacity(self.len());
            }
            self.policy.on_insert(&mut self.cold, i, hash);
            self.wheel.schedule(&mut self.cold, i);
        }
        self.evict(store, out);
    }

    /// Puts a new entry's records in a vacant slot (or a new one) and returns its index.
    fn vacant_slot(&mut self, hot: Hot<K, V>, cold: Cold) -> u32 {
        if let Some(i) = self.free.pop() {
            self.hot[i as usize] = Some(hot);
            self.cold[i as usize] = cold;
            return i;
        }
        if self.hot.len() == self.hot.capacity() {
            // Grow by doubling, but never past the capacity in entries (plus the one slot a
            // new entry holds until the eviction it causes).
            let len = self.hot.len();
            let target = (len * 2).max(4).min(self.max_nodes).max(len + 1);
            self.hot.reserve_exact(target - len);
            self.cold.reserve_exact(target - len);
        }
        self.hot.push(Some(hot));
        self.cold.push(cold);
        (self.hot.len() - 1) as u32
    }

    /// Removes entry `i`, leaving its slot vacant for the next new entry.
    pub(super) fn remove_node(
        &mut self,
        store: &Memory<K, V>,
        i: u32,
        cause: RemovalCause,
        out: &mut Removals<K, V>,
    ) {
        self.policy.on_remove(&mut self.cold, i);
        self.wheel.deschedule(&mut self.cold, i);
        let entry = self.hot[i as usize]
            .take()
            .expect("a removed slot holds an entry");
        let hash = store.hasher.hash_one(&entry.key);
        match self.table.find_entry(hash, |&x| x == i) {
            Ok(found) => {
                found.remove();
            }
            Err(_) => unreachable!("every entry is indexed"),
        }
        self.free.push(i);
        out.push(entry.key, entry.value, cause);
    }

    /// Evicts by the policy until the shard fits its capacity.
    fn evict(&mut self, store: &Memory<K, V>, out: &mut Removals<K, V>) {
        while self.policy.weight() > self.capacity {
            let (hasher, hot) = (&store.hasher, &self.hot);
            let key_hash = |i: u32| hasher.hash_one(&occupied(hot, i).key);
            let Some(v) = self.policy.victim(key_hash) else {
                break;
            };
            debug_assert_ne!(v, NIL);
            self.remove_node(store, v, RemovalCause::Size, out);
        }
        self.policy.end_eviction();
    }

    /// Records a failed refresh of entry `i`: the next waits for a backoff that doubles with
    /// each failure in a row (from `backoff.base` up to `backoff.max`). Callable under the
    /// shared lock.
    pub(super) fn note_refresh_failure(&self, i: u32, now: u64, backoff: &Backoff) {
        let now_ms = now / 1_000_000;
        let _ = self.cold[i as usize]
            .refresh
            .fetch_update(Relaxed, Relaxed, |r| {
                let failures = (r >> FAILURE_SHIFT).min(16);
                let wait = backoff.base.saturating_mul(1 << failures).min(backoff.max);
                let wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
                let not_before = now_ms.saturating_add(wait_ms).min(NOT_BEFORE_MASK);
                Some((failures + 1) << FAILURE_SHIFT | not_before)
            });
    }

    /// Removes every entry (cause `Explicit`).
    pub(super) fn clear(&mut self, out: &mut Removals<K, V>) {
        self.table.clear();
        self.policy.clear();
        self.wheel.clear();
        self.cold.clear();
        self.free.clear();
        for entry in self.hot.drain(..).flatten() {
            out.push(entry.key, entry.value, RemovalCause::Explicit);
        }
        self.buffer.drain(|_| {});
    }

    /// Entries held, including expired ones not yet removed.
    pub(super) fn len(&self) -> usize {
        self.hot.len() - self.free.len()
    }
}
