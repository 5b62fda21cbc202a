//! The embedded in-memory store: a sharded hash map of entries, each shard bounded by its share
//! of the capacity (in entries, or in weight with a weigher), ordered for eviction by the
//! configured [`EvictionPolicy`], and swept of expired entries by a [timer wheel](crate::timer).
//!
//! A key's shard is chosen from a remix of its hash, so one hash serves both the shard
//! choice and the in-flight table ([`crate::flight`]). Each shard keeps its entries in a slab
//! (two parallel `Vec`s: the hot records a hit reads, the cold bookkeeping) indexed by a
//! `hashbrown::HashTable<u32>`: 4 bytes of index per slot and no per-entry allocation. The
//! policy's lists and the wheel's buckets are threaded through the slab as `u32` links; a
//! removal leaves its slot vacant (on a free list) for the next new entry, so no other entry
//! moves.
//!
//! Reads take the shard's shared lock and record the hit in the shard's
//! [read buffer](crate::buffer) (nothing is recorded for least-recently-updated); every
//! exclusive section first applies the buffered hits, then advances the wheel. The eviction
//! listener is called after the shard lock is released. The store knows nothing about
//! loading: it answers "fresh, stale or miss" and keeps the capacity.

use std::borrow::Borrow;
use std::hash::{BuildHasher, Hash};
use std::num::NonZeroU64;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_utils::CachePadded;
use hashbrown::HashTable;
use parking_lot::RwLock;

use crate::buffer::ReadBuffer;
use crate::clock::{Clock, NEVER};
use crate::policy::{EvictionPolicy, HillClimber, Linked, Policy, RemovalCause, NIL};
use crate::timer::{Timed, TimerWheel, NO_BUCKET};

type Hasher = foldhash::fast::RandomState;

/// A user weigher: the weight of one entry.
pub(crate) type Weigher<K, V> = Arc<dyn Fn(&K, &V) -> u32 + Send + Sync>;
/// A user eviction listener.
pub(crate) type Listener<K, V> = Arc<dyn Fn(K, V, RemovalCause) + Send + Sync>;

/// Writes to a shard between two sweeps of another shard's timer wheel.
const SWEEP_EVERY: u32 = 16;

/// New entries a shard counts before telling the hill climber.
const CLIMBER_BATCH: u32 = 32;

/// No limit on hits.
const UNLIMITED: u32 = u32::MAX;
/// `refresh` packs the failures in a row (top 8 bits) and the backoff deadline in
/// milliseconds since the epoch (low 56 bits).
const FAILURE_SHIFT: u32 = 56;
const NOT_BEFORE_MASK: u64 = (1 << FAILURE_SHIFT) - 1;

/// What a hit reads of an entry, in the shard's `hot` slab: the key, the value, the time it
/// goes stale and its hit budget. Kept apart from the bookkeeping ([`Cold`]) so a hit touches
/// one small record (32 bytes for `u64 -> u64`) and the slab a lookup walks stays compact.
#[repr(C)]
struct Hot<K, V> {
    key: K,
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
struct Cold {
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
fn occupied<K, V>(hot: &[Option<Hot<K, V>>], i: u32) -> &Hot<K, V> {
    hot[i as usize]
        .as_ref()
        .expect("an indexed or listed slot holds an entry")
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
    /// First, so its counter shares the cache line of the lock word readers write anyway.
    buffer: ReadBuffer,
    table: HashTable<u32>,
    /// The entries: `hot[i]` and `cold[i]` are one entry; `None` marks a vacant slot, listed
    /// in `free` and reused by the next new entry. A removal leaves its slot vacant instead of
    /// moving another entry into it, which would relink that entry's neighbours and re-index
    /// it: an eviction touches only the evicted entry.
    hot: Vec<Option<Hot<K, V>>>,
    cold: Vec<Cold>,
    free: Vec<u32>,
    policy: Policy,
    wheel: TimerWheel,
    /// Capacity in weight units (entries when there is no weigher).
    capacity: u64,
    /// Slab growth stops here (the capacity in entries; unbounded with a weigher).
    max_nodes: usize,
    /// New entries not yet reported to the hill climber (reported in batches, so writers do
    /// not all write its shared counters).
    unreported_misses: u32,
    /// Writes to this shard, counted to sweep another shard every `SWEEP_EVERY` of them.
    writes: u32,
}

type PaddedShard<K, V> = CachePadded<RwLock<Shard<K, V>>>;

/// Entries removed during one exclusive section, handed to the listener after it.
struct Removals<K, V> {
    keep: bool,
    items: Vec<(K, V, RemovalCause)>,
    evicted: u64,
}

impl<K, V> Removals<K, V> {
    fn new(keep: bool) -> Self {
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

/// The store's options.
pub(crate) struct StoreOptions<K, V> {
    pub(crate) capacity: u64,
    pub(crate) policy: EvictionPolicy,
    pub(crate) weigher: Option<Weigher<K, V>>,
    pub(crate) listener: Option<Listener<K, V>>,
}

/// The in-memory store.
pub(crate) struct MemoryStore<K, V> {
    shards: Box<[PaddedShard<K, V>]>,
    hasher: Hasher,
    /// `shards.len() - 1` (a power of two minus one).
    shard_mask: usize,
    records_reads: bool,
    hashes_on_access: bool,
    weigher: Option<Weigher<K, V>>,
    listener: Option<Listener<K, V>>,
    /// W-TinyLFU's window sizing, shared by the shards.
    climber: Option<HillClimber>,
    /// Round-robin cursor: every `SWEEP_EVERY`-th write of a shard also advances the wheel of
    /// one other shard.
    sweep: AtomicUsize,
    clock: Clock,
}

/// Refresh backoff: the first failure waits `BACKOFF_BASE`, doubling up to `BACKOFF_MAX`.
pub(crate) const BACKOFF_BASE: Duration = Duration::from_secs(1);
pub(crate) const BACKOFF_MAX: Duration = Duration::from_secs(60);

fn shard_count(capacity: u64) -> usize {
    let cpus = std::thread::available_parallelism().map_or(4, |n| n.get());
    let mut n = (cpus * 4).next_power_of_two().min(64);
    while n > 1 && capacity / (n as u64) < 32 {
        n /= 2;
    }
    n
}

impl<K, V> Shard<K, V>
where
    K: Hash + Eq,
{
    /// Applies buffered hits, then removes what the timer wheel says is due.
    fn maintain(&mut self, store: &MemoryStore<K, V>, now: u64, out: &mut Removals<K, V>) {
        if store.records_reads {
            let Shard {
                buffer,
                hot,
                cold,
                policy,
                ..
            } = self;
            let mut hits = 0;
            buffer.drain(|i| {
                hits += 1;
                // Buffered indices are live: entries only leave after a drain.
                if let Some(Some(entry)) = hot.get(i as usize) {
                    let hash = if store.hashes_on_access {
                        store.hasher.hash_one(&entry.key)
                    } else {
                        0
                    };
                    policy.on_access(cold, i, hash);
                }
            });
            if let Some(climber) = &store.climber {
                if hits > 0 {
                    climber.record(hits, 0);
                }
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
    fn find<Q>(&self, hash: u64, key: &Q) -> Option<u32>
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
    fn entry(&self, i: u32) -> &Hot<K, V> {
        occupied(&self.hot, i)
    }

    /// Removes entry `i`, leaving its slot vacant for the next new entry.
    fn remove_node(
        &mut self,
        store: &MemoryStore<K, V>,
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
    fn evict(&mut self, store: &MemoryStore<K, V>, out: &mut Removals<K, V>) {
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

    fn clear(&mut self, out: &mut Removals<K, V>) {
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
}

impl<K, V> MemoryStore<K, V>
where
    K: Hash + Eq + Clone,
    V: Clone,
{
    pub(crate) fn new(options: StoreOptions<K, V>) -> Self {
        let StoreOptions {
            capacity,
            policy,
            weigher,
            listener,
        } = options;
        let n = shard_count(capacity) as u64;
        let hasher = Hasher::default();
        let weighted = weigher.is_some();
        let shards = (0..n)
            .map(|i| {
                let cap = capacity / n + u64::from(i < capacity % n);
                // Weighted shards size their sketch for an entry per weight unit, capped.
                let entries = cap.min(1 << 24) as usize;
                CachePadded::new(RwLock::new(Shard {
                    buffer: ReadBuffer::new(),
                    table: HashTable::new(),
                    hot: Vec::new(),
                    free: Vec::new(),
                    cold: Vec::new(),
                    policy: Policy::new(policy, cap, entries),
                    wheel: TimerWheel::new(0),
                    capacity: cap,
                    max_nodes: if weighted { usize::MAX } else { entries },
                    unreported_misses: 0,
                    writes: 0,
                }))
            })
            .collect();
        MemoryStore {
            shards,
            hasher,
            shard_mask: n as usize - 1,
            records_reads: policy.records_reads(),
            hashes_on_access: matches!(policy, EvictionPolicy::WTinyLfu { .. }),
            weigher,
            listener,
            climber: matches!(policy, EvictionPolicy::WTinyLfu { .. })
                .then(|| HillClimber::new(capacity)),
            sweep: AtomicUsize::new(0),
            clock: Clock::new(),
        }
    }

    /// The hash used for shard choice here and in the flight table.
    #[inline]
    pub(crate) fn hash<Q: Hash + ?Sized>(&self, key: &Q) -> u64 {
        self.hasher.hash_one(key)
    }

    #[inline]
    fn shard(&self, hash: u64) -> &RwLock<Shard<K, V>> {
        // The top bits of the hash times an odd constant: they depend on every bit of the hash,
        // so a hasher seed that leaves some bits of small keys' hashes alike cannot crowd
        // one shard, and keys that share a shard still differ in the bits the shard's hash
        // table uses (low bits for the bucket, the top seven for the tag).
        let i = (hash.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 58) as usize & self.shard_mask;
        &self.shards[i]
    }

    /// Now, in the time base of the store's deadlines (see [`crate::clock`]).
    #[inline]
    pub(crate) fn now(&self) -> u64 {
        self.clock.now()
    }

    fn removals(&self) -> Removals<K, V> {
        Removals::new(self.listener.is_some())
    }

    /// Calls the listener (no lock held).
    fn notify(&self, out: Removals<K, V>) -> u64 {
        if let Some(listener) = &self.listener {
            for (k, v, cause) in out.items {
                listener(k, v, cause);
            }
        }
        out.evicted
    }

    /// Looks `key` up now, counting a hit against `max_hits`.
    #[inline(always)]
    pub(crate) fn get<Q>(&self, hash: u64, key: &Q) -> Lookup<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let lock = self.shard(hash);
        let (lookup, cleanup) = {
            let shard = lock.read();
            match shard.find(hash, key) {
                Some(i) => {
                    let entry = shard.entry(i);
                    let update_at = entry.update_at.get();
                    // An entry that never goes stale never expires either (`insert` keeps
                    // `update_at <= expire_at`): it needs no clock read. The rarer paths (a
                    // stale entry or a hit budget, a clean-up) read the clock again rather
                    // than carry the first reading: carrying it measured 4-9 instructions more
                    // on every fresh hit.
                    let (lookup, done) = if entry.hits_left.load(Relaxed) == UNLIMITED
                        && (update_at == NEVER || self.clock.now() < update_at)
                    {
                        // The common case: fresh, no hit budget. One record read.
                        (Lookup::Fresh(entry.value.clone()), false)
                    } else {
                        Self::read_entry(entry, &shard.cold[i as usize], self.clock.now())
                    };
                    let full = !matches!(lookup, Lookup::Miss)
                        && self.records_reads
                        && shard.buffer.push(i);
                    (lookup, full || done)
                }
                None => (Lookup::Miss, false),
            }
        };
        if cleanup {
            self.clean_up(lock, hash, key, self.clock.now());
        }
        lookup
    }

    /// After a read that filled the read buffer or found `key` used up / expired: one
    /// exclusive section, skipped if another thread holds the lock (it maintains the shard).
    #[cold]
    fn clean_up<Q>(&self, lock: &RwLock<Shard<K, V>>, hash: u64, key: &Q, now: u64)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if let Some(mut shard) = lock.try_write() {
            let mut out = self.removals();
            shard.maintain(self, now, &mut out);
            if let Some(i) = shard.find(hash, key) {
                let i = i as usize;
                let used_up = shard.entry(i as u32).hits_left.load(Relaxed) == 0;
                if used_up || now >= shard.cold[i].expire_at {
                    shard.remove_node(self, i as u32, RemovalCause::Expired, &mut out);
                }
            }
            drop(shard);
            self.notify(out);
        }
    }

    /// Reads one entry that is stale or has a hit budget; the flag says it is expired or this
    /// read used its last hit.
    fn read_entry(entry: &Hot<K, V>, cold: &Cold, now: u64) -> (Lookup<V>, bool) {
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

    /// Stores `value` with the given deadlines (nanoseconds since the clock's epoch, as
    /// [`now`](Self::now) gives; `now` is when the caller read it), replacing any entry of
    /// `key`. Returns how many entries were evicted for size (an entry heavier than its
    /// shard's capacity is not stored and counts as evicted).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn insert(
        &self,
        hash: u64,
        key: K,
        value: V,
        now: u64,
        update_at: u64,
        expire_at: u64,
        max_hits: Option<u32>,
    ) -> u64 {
        let weight = self.weigher.as_ref().map_or(1, |w| w(&key, &value));
        // The clock starts at 1, so deadlines are never 0.
        let update_at = NonZeroU64::new(update_at.min(expire_at)).unwrap_or(NonZeroU64::MIN);
        let hits_left = max_hits.unwrap_or(UNLIMITED);
        let lock = self.shard(hash);
        let mut out = self.removals();
        let mut guard = lock.write();
        let shard = &mut *guard;
        shard.maintain(self, now, &mut out);
        shard.writes = shard.writes.wrapping_add(1);
        let sweep = shard.writes % SWEEP_EVERY == 0;
        let existing = shard.find(hash, &key);
        if u64::from(weight) > shard.capacity {
            // Too heavy to ever fit: not stored (and not an error).
            if let Some(i) = existing {
                shard.remove_node(self, i, RemovalCause::Replaced, &mut out);
            }
            out.push(key, value, RemovalCause::Size);
        } else if let Some(i) = existing {
            let entry = shard.hot[i as usize]
                .as_mut()
                .expect("an indexed or listed slot holds an entry");
            let old_value = std::mem::replace(&mut entry.value, value);
            entry.update_at = update_at;
            *entry.hits_left.get_mut() = hits_left;
            let cold = &mut shard.cold[i as usize];
            let old_weight = std::mem::replace(&mut cold.weight, weight);
            cold.expire_at = expire_at;
            *cold.refresh.get_mut() = 0;
            shard.policy.reweigh(&shard.cold, i, old_weight);
            let h = if self.hashes_on_access { hash } else { 0 };
            shard.policy.on_update(&mut shard.cold, i, h);
            shard.wheel.deschedule(&mut shard.cold, i);
            shard.wheel.schedule(&mut shard.cold, i);
            out.push(key, old_value, RemovalCause::Replaced);
            shard.evict(self, &mut out);
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
            let i = if let Some(i) = shard.free.pop() {
                shard.hot[i as usize] = Some(hot);
                shard.cold[i as usize] = cold;
                i
            } else {
                if shard.hot.len() == shard.hot.capacity() {
                    // Grow by doubling, but never past the capacity in entries (plus the one
                    // slot a new entry holds until the eviction it causes).
                    let len = shard.hot.len();
                    let target = (len * 2).max(4).min(shard.max_nodes).max(len + 1);
                    shard.hot.reserve_exact(target - len);
                    shard.cold.reserve_exact(target - len);
                }
                shard.hot.push(Some(hot));
                shard.cold.push(cold);
                (shard.hot.len() - 1) as u32
            };
            let Shard { table, hot, .. } = shard;
            table.insert_unique(hash, i, |&x| self.hasher.hash_one(&occupied(hot, x).key));
            if let Some(climber) = &self.climber {
                shard.unreported_misses += 1;
                if shard.unreported_misses >= CLIMBER_BATCH {
                    climber.record(0, u64::from(shard.unreported_misses));
                    shard.unreported_misses = 0;
                }
            }
            shard.policy.on_insert(&mut shard.cold, i, hash);
            shard.wheel.schedule(&mut shard.cold, i);
            shard.evict(self, &mut out);
        }
        drop(guard);
        if sweep {
            self.sweep_one(now, lock, &mut out);
        }
        self.notify(out)
    }

    /// Piggybacks on every `SWEEP_EVERY`-th write of a shard: advances the wheel of one more
    /// shard, in rotation, so expired entries leave every shard even if it is never written
    /// (without every write touching the shared rotation cursor).
    fn sweep_one(&self, now: u64, written: &RwLock<Shard<K, V>>, out: &mut Removals<K, V>) {
        if self.shards.len() < 2 {
            return;
        }
        let j = self.sweep.fetch_add(1, Relaxed) & (self.shards.len() - 1);
        let lock: &RwLock<Shard<K, V>> = &self.shards[j];
        if !std::ptr::eq(lock, written) {
            if let Some(mut shard) = lock.try_write() {
                shard.maintain(self, now, out);
            }
        }
    }

    /// Removes `key`, telling the listener `cause`; `true` if it was present.
    pub(crate) fn remove<Q>(&self, hash: u64, key: &Q, cause: RemovalCause) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let now = self.clock.now();
        let mut out = self.removals();
        let found = {
            let mut shard = self.shard(hash).write();
            shard.maintain(self, now, &mut out);
            match shard.find(hash, key) {
                Some(i) => {
                    shard.remove_node(self, i, cause, &mut out);
                    true
                }
                None => false,
            }
        };
        self.notify(out);
        found
    }

    /// Records a failed background refresh of `key`: the next one waits for a backoff that
    /// doubles with each failure in a row.
    pub(crate) fn note_refresh_failure<Q>(&self, hash: u64, key: &Q)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let now_ms = self.clock.now() / 1_000_000;
        let shard = self.shard(hash).read();
        if let Some(i) = shard.find(hash, key) {
            let cold = &shard.cold[i as usize];
            let _ = cold.refresh.fetch_update(Relaxed, Relaxed, |r| {
                let failures = (r >> FAILURE_SHIFT).min(16);
                let backoff = BACKOFF_BASE.saturating_mul(1 << failures).min(BACKOFF_MAX);
                let not_before = (now_ms + backoff.as_millis() as u64).min(NOT_BEFORE_MASK);
                Some((failures + 1) << FAILURE_SHIFT | not_before)
            });
        }
    }

    /// Removes every entry (cause `Explicit`).
    pub(crate) fn clear(&self) {
        for shard in self.shards.iter() {
            let mut out = self.removals();
            shard.write().clear(&mut out);
            self.notify(out);
        }
    }

    /// Entries held, including expired ones not yet removed.
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                let s = s.read();
                s.hot.len() - s.free.len()
            })
            .sum()
    }

    /// Total weight held (entries when there is no weigher), including expired entries not
    /// yet removed.
    pub(crate) fn weighted_size(&self) -> u64 {
        self.shards.iter().map(|s| s.read().policy.weight()).sum()
    }

    /// The largest entry weight this store can hold (its smallest shard's capacity).
    pub(crate) fn max_entry_weight(&self) -> u64 {
        self.shards
            .iter()
            .map(|s| s.read().capacity)
            .min()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests;
