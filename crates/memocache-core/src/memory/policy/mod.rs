//! Eviction policies: which entry leaves when a store shard is full.
//!
//! [`EvictionPolicy`] is what a user picks on the builder; [`RemovalCause`] is what the
//! eviction listener is told. Inside, [`Policy`] is one shard's state, dispatching to one
//! module per policy: [`recency`] (least-recently-updated and LRU, one list) and [`tinylfu`]
//! (W-TinyLFU: window, probation, protected and a frequency sketch), whose window the store's
//! [`climber`] sizes by running [`mini`]ature copies of it. The queues are
//! [`Deque`](crate::memory::list::Deque)s threaded through the shard's slab.

pub(crate) mod climber;
mod mini;
pub(crate) mod recency;
pub(crate) mod tinylfu;

use crate::memory::list::Linked;

pub(crate) use climber::HillClimber;
use recency::Recency;
use tinylfu::TinyLfu;

/// Which entry is evicted when the cache is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum EvictionPolicy {
    /// Evict the entry written (loaded, refreshed or inserted) longest ago; reads do not
    /// change the order. py-memoize's default. Hits take only a shared lock and record
    /// nothing.
    ///
    /// The order is kept per shard of the in-memory store (like [`Lru`](Self::Lru)'s): a
    /// cache of fewer than 64 entries has one shard and is exact; a larger one evicts the
    /// oldest entry of the shard being written, which is not always the oldest of the cache
    /// (every shard holds at least 32 entries; measured against an exact single list, the
    /// hit ratio differs by at most 0.25 points on the benchmark workloads, BENCHMARKS.md).
    #[default]
    LeastRecentlyUpdated,
    /// Evict the entry read or written longest ago (classic LRU). Hits are recorded in a
    /// per-shard buffer applied in batches, so readers do not serialise; under contention a
    /// few records may be dropped (the order is then approximate), single-threaded it is
    /// exact.
    Lru,
    /// W-TinyLFU (Caffeine's policy, cacheme's `tlfu`): an LRU admission window in front of a
    /// segmented LRU main space guarded by a count-min frequency sketch. The window's size
    /// adapts to the workload: miniature copies of the cache, run on a sample of the keys,
    /// try window sizes from none to the whole capacity side by side, and the cache takes the
    /// one that hits most once its lead is significant — a small window on frequency-heavy
    /// streams, up to LRU's behaviour on recency-heavy ones (BENCHMARKS.md, table 5). Best
    /// hit ratio on skewed workloads and resistant to scans; hits are buffered like
    /// [`Lru`](Self::Lru)'s.
    WTinyLfu {
        /// Put a Bloom-filter doorkeeper in front of the sketch (TinyLFU's doorkeeper,
        /// cacheme's `doorkeeper`): a key's first sighting only sets its bits, so one-hit
        /// wonders do not occupy the counters. Off by default; see BENCHMARKS.md for its
        /// measured effect.
        doorkeeper: bool,
    },
}

impl EvictionPolicy {
    /// W-TinyLFU without doorkeeper.
    pub const W_TINY_LFU: EvictionPolicy = EvictionPolicy::WTinyLfu { doorkeeper: false };

    /// Whether hits are recorded for the policy (reordering or frequency counting). This and
    /// [`counts_frequency`](Self::counts_frequency) are the only questions the store asks of
    /// the policy on the hit path.
    #[inline]
    pub(crate) fn records_reads(self) -> bool {
        !matches!(self, EvictionPolicy::LeastRecentlyUpdated)
    }

    /// Whether the policy counts how often keys are seen, and so needs a key's hash when it is
    /// read or written.
    #[inline]
    pub(crate) fn counts_frequency(self) -> bool {
        matches!(self, EvictionPolicy::WTinyLfu { .. })
    }
}

/// Why an entry left the cache, as told to the eviction listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RemovalCause {
    /// Evicted by the policy to respect the capacity (also an entry too heavy to store, or
    /// refused admission by W-TinyLFU).
    Size,
    /// Its `expire_after` passed (removed by the timer wheel or found expired), or its
    /// `max_hits` were used up.
    Expired,
    /// Removed by `invalidate` or `invalidate_all`.
    Explicit,
    /// Overwritten by a new value for the same key (insert, load or refresh).
    Replaced,
}

/// The eviction order of one shard.
pub(crate) enum Policy {
    /// Least-recently-updated or LRU.
    Recency(Recency),
    /// W-TinyLFU (boxed: its sketch and bookkeeping are larger than the other variants).
    TinyLfu(Box<TinyLfu>),
}

impl Policy {
    /// The policy of a shard of `capacity` weight units expected to hold about `entries`.
    pub(crate) fn new(kind: EvictionPolicy, capacity: u64, entries: usize) -> Self {
        match kind {
            EvictionPolicy::WTinyLfu { doorkeeper } => {
                Policy::TinyLfu(Box::new(TinyLfu::new(capacity, entries, doorkeeper)))
            }
            EvictionPolicy::Lru => Policy::Recency(Recency::new(true)),
            EvictionPolicy::LeastRecentlyUpdated => Policy::Recency(Recency::new(false)),
        }
    }

    /// Node indices of every queue, each oldest first (tests only).
    #[cfg(test)]
    pub(crate) fn order<N: Linked>(&self, nodes: &[N]) -> Vec<u32> {
        match self {
            Policy::Recency(r) => r.list().indices(nodes),
            Policy::TinyLfu(t) => t.lists().iter().flat_map(|l| l.indices(nodes)).collect(),
        }
    }

    /// Links a new node; `hash` is its key's hash.
    #[inline]
    pub(crate) fn on_insert<N: Linked>(&mut self, nodes: &mut [N], i: u32, hash: u64) {
        match self {
            Policy::Recency(r) => r.on_insert(nodes, i),
            Policy::TinyLfu(t) => t.on_insert(nodes, i, hash),
        }
    }

    /// A hit on node `i` (`hash`: its key's hash, 0 unless the policy counts frequency).
    #[inline]
    pub(crate) fn on_access<N: Linked>(&mut self, nodes: &mut [N], i: u32, hash: u64) {
        match self {
            Policy::Recency(r) => r.on_access(nodes, i),
            Policy::TinyLfu(t) => t.reposition(nodes, i, hash),
        }
    }

    /// A new value written over node `i`: moves it as a write does in this policy.
    #[inline]
    pub(crate) fn on_update<N: Linked>(&mut self, nodes: &mut [N], i: u32, hash: u64) {
        match self {
            Policy::Recency(r) => r.on_update(nodes, i),
            Policy::TinyLfu(t) => t.reposition(nodes, i, hash),
        }
    }

    /// The weight of node `i` changed from `old` to its current weight.
    pub(crate) fn reweigh<N: Linked>(&mut self, nodes: &[N], i: u32, old: u32) {
        let node = &nodes[i as usize];
        let list = match self {
            Policy::Recency(r) => r.list_mut(),
            Policy::TinyLfu(t) => &mut t.lists_mut()[node.queue() as usize],
        };
        list.weight = list.weight - u64::from(old) + u64::from(node.weight());
    }

    /// Unlinks node `i` (it is being removed).
    #[inline]
    pub(crate) fn on_remove<N: Linked>(&mut self, nodes: &mut [N], i: u32) {
        match self {
            Policy::Recency(r) => r.on_remove(nodes, i),
            Policy::TinyLfu(t) => t.on_remove(nodes, i),
        }
    }

    /// Total weight of the linked nodes.
    pub(crate) fn weight(&self) -> u64 {
        match self {
            Policy::Recency(r) => r.list().weight,
            Policy::TinyLfu(t) => t.weight(),
        }
    }

    /// The next node to evict while the shard is over capacity; `hash_of` gives the key hash
    /// of the node at an index (for W-TinyLFU's frequency duel). `None` only when the shard is
    /// empty.
    #[inline]
    pub(crate) fn victim(&mut self, hash_of: impl Fn(u32) -> u64) -> Option<u32> {
        match self {
            Policy::Recency(r) => r.victim(),
            Policy::TinyLfu(t) => t.victim(hash_of),
        }
    }

    /// The shard holds `entries` now (a weighted shard, whose sketch grows with its entry
    /// count).
    #[inline]
    pub(crate) fn ensure_capacity(&mut self, entries: usize) {
        if let Policy::TinyLfu(t) = self {
            t.ensure_capacity(entries);
        }
    }

    /// Bytes held by W-TinyLFU's frequency sketch (0 for the other policies).
    #[cfg(test)]
    pub(crate) fn sketch_bytes(&self) -> usize {
        match self {
            Policy::TinyLfu(t) => t.sketch_bytes(),
            Policy::Recency(_) => 0,
        }
    }

    /// Eviction is over for this write.
    #[inline]
    pub(crate) fn end_eviction(&mut self) {
        if let Policy::TinyLfu(t) = self {
            t.end_eviction();
        }
    }

    /// Applies the window share the [`HillClimber`] chose (W-TinyLFU only).
    #[inline]
    pub(crate) fn set_window_fraction(&mut self, fraction: f64) {
        if let Policy::TinyLfu(t) = self {
            t.set_window_fraction(fraction);
        }
    }

    /// Forgets every node (the slab was cleared); W-TinyLFU keeps its frequency history.
    pub(crate) fn clear(&mut self) {
        match self {
            Policy::Recency(r) => r.clear(),
            Policy::TinyLfu(t) => t.clear(),
        }
    }
}
