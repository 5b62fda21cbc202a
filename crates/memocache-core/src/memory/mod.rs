//! The cache's memory: the embedded in-memory store every [`Cache`](crate::Cache) reads first.
//! A sharded hash map of entries, each shard bounded by its share of the capacity (in
//! entries, or in weight with a weigher), ordered for eviction by the configured
//! [`EvictionPolicy`], and swept of expired entries by a [timer wheel](timer).
//!
//! A key's shard is chosen from a remix of its hash, so one hash serves both the shard choice
//! and the in-flight table ([`crate::load`]). Each [shard](shard) keeps its entries in a slab
//! (two parallel `Vec`s: the hot records a hit reads, the cold bookkeeping) indexed by a
//! `hashbrown::HashTable<u32>`: 4 bytes of index per slot and no per-entry allocation. The
//! [policy](policy)'s queues and the wheel's buckets are [lists](list) threaded through the
//! slab as `u32` links; a removal leaves its slot vacant (on a free list) for the next new
//! entry, so no other entry moves.
//!
//! Reads take the shard's shared lock and record the hit in the shard's [read buffer](buffer)
//! (nothing is recorded for least-recently-updated); every exclusive section first applies
//! the buffered hits, then advances the wheel. The eviction listener is called after the
//! shard lock is released, each call with panics caught. The memory knows nothing about
//! loading: it answers "fresh, stale or miss" and keeps the capacity.
//!
//! # Least-recently-updated at scale
//! Each shard evicts its *own* oldest entry, so a cache is exactly least-recently-updated
//! (or exactly LRU) per shard, and approximately so as a whole: an evicted entry is the oldest
//! of its shard, not necessarily of the cache. A shard holds at least 32 entries, so a cache of
//! fewer than 64 has one shard and is exact. Against an exact single list, on the runner's
//! hit-ratio grid and trace, the approximation costs at most 0.25 points of hit ratio (worst
//! seed; −0.09 pt at worst on average, with 16 CPUs' 16–64 shards); below 16 entries per shard
//! it would cost more than 0.5 (BENCHMARKS.md), which is why the minimum is 32.

mod buffer;
pub(crate) mod list;
pub(crate) mod policy;
mod shard;
mod sketch;
mod timer;

use crate::sync::{AtomicU64, AtomicUsize, Ordering::Relaxed, RwLock};
use std::borrow::Borrow;
use std::hash::{BuildHasher, Hash};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_utils::CachePadded;

use crate::clock::{Clock, NEVER};
use policy::{climber, EvictionPolicy, HillClimber, Policy, RemovalCause};
use shard::{read_entry, Removals, Shard};

type Hasher = foldhash::fast::SeedableRandomState;
/// A shard behind its lock, on cache lines of its own.
type PaddedShard<K, V> = CachePadded<RwLock<Shard<K, V>>>;

/// A user eviction listener.
pub(crate) type Listener<K, V> = Arc<dyn Fn(K, V, RemovalCause) + Send + Sync>;

/// Writes to a shard between two sweeps of another shard's timer wheel.
const SWEEP_EVERY: u32 = 16;

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

/// Entries a write removed (replaced, evicted, expired), not yet reported to the eviction
/// listener: hand them to [`Memory::notify`] once no lock is held.
#[must_use = "removed entries must be handed to Memory::notify"]
pub(crate) struct Removed<K, V> {
    out: Removals<K, V>,
    /// [`Memory::remove`] found its key (the store's own tests check it).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) found: bool,
}

impl<K, V> Removed<K, V> {
    fn new(out: Removals<K, V>) -> Self {
        Removed { out, found: false }
    }
}

/// The delay before retrying a failed refresh: `base` after the first failure, doubling with
/// each failure in a row, at most `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Backoff {
    pub(crate) base: Duration,
    pub(crate) max: Duration,
}

/// The memory's options.
pub(crate) struct MemoryOptions<K, V> {
    pub(crate) capacity: u64,
    pub(crate) policy: EvictionPolicy,
    /// Entries have weights (`capacity` is a total weight, slabs are not sized by it).
    pub(crate) weighted: bool,
    /// The keys' hash seed (`CacheBuilder::hasher_seed`); `None`: random.
    pub(crate) seed: Option<u64>,
    pub(crate) listener: Option<Listener<K, V>>,
    pub(crate) backoff: Backoff,
}

/// An entry to store, with its deadlines in the memory's time base (see [`Memory::now`]).
pub(crate) struct NewEntry<K, V> {
    pub(crate) key: K,
    pub(crate) value: V,
    /// Its weight (1 without a weigher).
    pub(crate) weight: u32,
    /// Stale from this moment on (cut to `expire_at`).
    pub(crate) update_at: u64,
    /// Never served from this moment on.
    pub(crate) expire_at: u64,
    /// Hits it may serve before it is dropped; `None` for no limit.
    pub(crate) max_hits: Option<u32>,
}

/// The cache's memory (see the module docs).
pub(crate) struct Memory<K, V> {
    shards: Box<[PaddedShard<K, V>]>,
    hasher: Hasher,
    /// `shards.len() - 1` (a power of two minus one).
    shard_mask: usize,
    records_reads: bool,
    counts_frequency: bool,
    listener: Option<Listener<K, V>>,
    /// Eviction listener calls that panicked (caught).
    listener_panics: AtomicU64,
    /// W-TinyLFU's window sizing, shared by the shards.
    /// Boxed: the climber's state, written at every sampled access, stays off the cache
    /// lines of the fields every hit reads.
    climber: Option<Box<HillClimber>>,
    /// Keys whose `climber::sample_point` is below this are simulated by the climber (0: no
    /// climber), copied here so a hit tests it without reaching into the climber.
    sample_below: u64,
    /// Round-robin cursor: every `SWEEP_EVERY`-th write of a shard also advances the wheel of
    /// one other shard.
    sweep: AtomicUsize,
    backoff: Backoff,
    clock: Clock,
}

impl<K: Hash, V> Memory<K, V> {
    /// The hash the policy is given when `key` is read: its hash if the policy counts
    /// frequency, else 0 (not computed).
    #[inline]
    fn access_hash(&self, key: &K) -> u64 {
        if self.counts_frequency {
            self.hasher.hash_one(key)
        } else {
            0
        }
    }

    /// The hash the policy is given when a key with `hash` is written over.
    #[inline]
    fn write_hash(&self, hash: u64) -> u64 {
        if self.counts_frequency {
            hash
        } else {
            0
        }
    }
}

/// Shards for a capacity: four per CPU, at most 64, each holding at least 32 entries.
fn shard_count(capacity: u64) -> usize {
    let cpus = std::thread::available_parallelism().map_or(4, |n| n.get());
    let mut n = (cpus * 4).next_power_of_two().min(64);
    while n > 1 && capacity / (n as u64) < 32 {
        n /= 2;
    }
    n
}

impl<K, V> Memory<K, V>
where
    K: Hash + Eq + Clone,
    V: Clone,
{
    pub(crate) fn new(options: MemoryOptions<K, V>) -> Self {
        let MemoryOptions {
            capacity,
            policy,
            weighted,
            seed,
            listener,
            backoff,
        } = options;
        let climber = match policy {
            EvictionPolicy::WTinyLfu { doorkeeper } => {
                Some(Box::new(HillClimber::new(capacity, weighted, doorkeeper)))
            }
            _ => None,
        };
        let n = shard_count(capacity) as u64;
        let shards = (0..n)
            .map(|i| {
                let cap = capacity / n + u64::from(i < capacity % n);
                // A weighted shard's entry count is unknown: its sketch starts small and
                // grows with it.
                let (entries, max_nodes) = if weighted {
                    (0, usize::MAX)
                } else {
                    let entries = cap.min(1 << 24) as usize;
                    (entries, entries)
                };
                let shard = Shard::new(Policy::new(policy, cap, entries), cap, max_nodes);
                CachePadded::new(RwLock::new(shard))
            })
            .collect();
        Memory {
            shards,
            hasher: match seed {
                Some(seed) => Hasher::with_seed(seed, foldhash::SharedSeed::global_fixed()),
                None => Hasher::random(),
            },
            shard_mask: n as usize - 1,
            records_reads: policy.records_reads(),
            counts_frequency: policy.counts_frequency(),
            listener,
            listener_panics: AtomicU64::new(0),
            sample_below: climber.as_ref().map_or(0, |c| c.sample_below()),
            climber,
            sweep: AtomicUsize::new(0),
            backoff,
            clock: Clock::new(),
        }
    }

    /// Whether the hill climber simulates the key with `hash` (never without a climber).
    #[inline(always)]
    fn sampled(&self, hash: u64) -> bool {
        climber::sample_point(hash) < self.sample_below
    }

    /// Records a hit on entry `i` (key hash `hash`) for a policy that records reads: in the
    /// shard's read buffer (`true`: it is full) and, with a climber, maybe with the climber.
    #[inline(always)]
    fn record_read(&self, shard: &Shard<K, V>, i: u32, hash: u64) -> bool {
        let full = shard.buffer.push(i);
        if self.sample_below != 0 {
            self.sample_read(hash);
        }
        full
    }

    /// Passes a hit on a sampled key to the climber, which never waits: if it is busy, the
    /// sample is dropped. It runs under the shard's read lock (a sampled hit holds it for the
    /// six miniature accesses, so a writer of that shard may wait that long): measured with
    /// callgrind, handing the sample on after the lock instead cost least-recently-updated's
    /// and LRU's hits, which sample nothing, 2 and 9 instructions more than this, and
    /// W-TinyLFU's 6. Out of line: LRU's hit pays one comparison for it.
    #[inline(never)]
    fn sample_read(&self, hash: u64) {
        if self.sampled(hash) {
            if let Some(climber) = &self.climber {
                climber.try_record(hash);
            }
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

    /// Now, in the time base of the memory's deadlines (see [`crate::clock`]).
    #[inline]
    pub(crate) fn now(&self) -> u64 {
        self.clock.now()
    }

    fn removals(&self) -> Removals<K, V> {
        Removals::new(self.listener.is_some())
    }

    /// Calls the listener once per removal (call it with no lock held: the listener may use
    /// the cache); returns the evictions for size. A panicking call is caught, logged and
    /// counted, and the next removals are still reported.
    pub(crate) fn notify(&self, removed: Removed<K, V>) -> u64 {
        let out = removed.out;
        if let Some(listener) = &self.listener {
            for (k, v, cause) in out.items {
                let call = std::panic::catch_unwind(AssertUnwindSafe(|| listener(k, v, cause)));
                if let Err(panic) = call {
                    self.listener_panics.fetch_add(1, Relaxed);
                    tracing::error!(
                        panic = %crate::error::panic_message(&*panic),
                        ?cause,
                        "the eviction listener panicked; the removal stands"
                    );
                }
            }
        }
        out.evicted
    }

    /// Eviction listener calls that panicked.
    pub(crate) fn listener_panics(&self) -> u64 {
        self.listener_panics.load(Relaxed)
    }

    /// Looks `key` up now, counting a hit against `max_hits`. An entry found expired or used
    /// up is removed at once (and the listener told), so call it with no lock held.
    #[inline(always)]
    pub(crate) fn get<Q>(&self, hash: u64, key: &Q) -> Lookup<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.lookup(hash, key, true)
    }

    /// Like [`get`](Self::get), but leaves expired or used-up entries for the next write or
    /// read to remove: callable under a flight-shard lock (no listener call).
    pub(crate) fn peek<Q>(&self, hash: u64, key: &Q) -> Lookup<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.lookup(hash, key, false)
    }

    #[inline(always)]
    fn lookup<Q>(&self, hash: u64, key: &Q, clean: bool) -> Lookup<V>
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
                    let update_at = entry.update_at();
                    // An entry that never goes stale never expires either (`insert` keeps
                    // `update_at <= expire_at`): it needs no clock read. The rarer paths (a
                    // stale entry or a hit budget, a clean-up) read the clock again rather
                    // than carry the first reading: carrying it measured 4-9 instructions more
                    // on every fresh hit.
                    let (lookup, done) = if entry.unlimited()
                        && (update_at == NEVER || self.clock.now() < update_at)
                    {
                        // The common case: fresh, no hit budget. One record read.
                        (Lookup::Fresh(entry.value().clone()), false)
                    } else {
                        read_entry(entry, shard.cold(i), self.clock.now())
                    };
                    let full = self.records_reads
                        && !matches!(lookup, Lookup::Miss)
                        && self.record_read(&shard, i, hash);
                    (lookup, full || done)
                }
                None => (Lookup::Miss, false),
            }
        };
        if cleanup && clean {
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
                if shard.is_spent(i, now) {
                    shard.remove_node(self, i, RemovalCause::Expired, &mut out);
                }
            }
            drop(shard);
            self.notify(Removed::new(out));
        }
    }

    /// Stores `entry` (whose key hashes to `hash`; `now` is when the caller read
    /// [`now`](Self::now)), replacing any entry of its key. Returns the entries it removed,
    /// for [`notify`](Self::notify) once the caller's locks are released (an entry heavier
    /// than its shard's capacity is not stored and is among them, evicted for size).
    pub(crate) fn insert(&self, hash: u64, entry: NewEntry<K, V>, now: u64) -> Removed<K, V> {
        if self.sampled(hash) {
            if let Some(climber) = &self.climber {
                climber.record_write(hash, entry.weight);
            }
        }
        let lock = self.shard(hash);
        let mut out = self.removals();
        let mut shard = lock.write();
        shard.maintain(self, now, &mut out);
        shard.writes = shard.writes.wrapping_add(1);
        let sweep = shard.writes.is_multiple_of(SWEEP_EVERY);
        shard.put(self, hash, entry, &mut out);
        drop(shard);
        if sweep {
            self.sweep_one(now, lock, &mut out);
        }
        Removed::new(out)
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

    /// Removes `key` (the listener will be told `cause`). Returns the entries removed, for
    /// [`notify`](Self::notify) once the caller's locks are released.
    pub(crate) fn remove<Q>(&self, hash: u64, key: &Q, cause: RemovalCause) -> Removed<K, V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let now = self.clock.now();
        let mut out = self.removals();
        let mut shard = self.shard(hash).write();
        shard.maintain(self, now, &mut out);
        let found = shard.find(hash, key);
        if let Some(i) = found {
            shard.remove_node(self, i, cause, &mut out);
        }
        Removed {
            out,
            found: found.is_some(),
        }
    }

    /// Whether `key` has a stale entry due for a refresh now (see [`Lookup::Stale`]); counts
    /// no hit.
    pub(crate) fn refresh_due<Q>(&self, hash: u64, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.inspect(hash, key, |shard, i, now| {
            shard.refresh_due(i, now).then_some(())
        })
        .is_some()
    }

    /// The nanoseconds before `update_after` of `key`'s entry if it is fresh, its
    /// `update_after` comes within `window` nanoseconds and no backoff holds its refresh back
    /// (an early refresh's test); else `None`.
    pub(crate) fn due_within<Q>(&self, hash: u64, key: &Q, window: u64) -> Option<u64>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.inspect(hash, key, |shard, i, now| shard.early_due(i, now, window))
    }

    /// `inspect` of `key`'s entry at the clock's now, under its shard's shared lock; `None`
    /// without an entry.
    fn inspect<Q, T>(
        &self,
        hash: u64,
        key: &Q,
        inspect: impl Fn(&Shard<K, V>, u32, u64) -> Option<T>,
    ) -> Option<T>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let now = self.clock.now();
        let shard = self.shard(hash).read();
        let i = shard.find(hash, key)?;
        inspect(&shard, i, now)
    }

    /// Records a failed background refresh of `key`: the next one waits for the backoff.
    pub(crate) fn note_refresh_failure<Q>(&self, hash: u64, key: &Q)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let now = self.clock.now();
        let shard = self.shard(hash).read();
        if let Some(i) = shard.find(hash, key) {
            shard.note_refresh_failure(i, now, &self.backoff);
        }
    }

    /// Removes every entry (cause `Explicit`), shard by shard.
    pub(crate) fn clear(&self) {
        for shard in self.shards.iter() {
            let mut out = self.removals();
            shard.write().clear(&mut out);
            self.notify(Removed::new(out));
        }
    }

    /// Calls `f` with the keys of each shard in turn (copied under the shard's read lock,
    /// `f` called outside it).
    pub(crate) fn for_each_shard_keys(&self, mut f: impl FnMut(Vec<K>)) {
        for shard in self.shards.iter() {
            let keys = shard
                .read()
                .hot
                .iter()
                .flatten()
                .map(|e| e.key.clone())
                .collect();
            f(keys);
        }
    }

    /// Entries held, including expired ones not yet removed.
    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(|s| s.read().len()).sum()
    }

    /// Total weight held (entries when there is no weigher), including expired entries not
    /// yet removed.
    pub(crate) fn weighted_size(&self) -> u64 {
        self.shards.iter().map(|s| s.read().policy.weight()).sum()
    }

    /// The largest entry weight this memory can hold (its smallest shard's capacity).
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
#[cfg(test)]
mod window_tests;
