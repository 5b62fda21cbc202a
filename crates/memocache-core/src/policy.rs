//! Eviction policies: which entry leaves when a store shard is full.
//!
//! [`EvictionPolicy`] is what a user picks on the builder; [`RemovalCause`] is what the
//! eviction listener is told. Inside, [`Policy`] is the per-shard state: up to three intrusive
//! doubly linked lists ([`Deque`]) threaded through the shard's slab of entries, and for
//! W-TinyLFU the [frequency sketch](crate::sketch) and the hill climber that sizes the
//! admission window (Caffeine's design):
//!
//! - **window** (LRU, initially 1 % of the capacity): every new entry lands here;
//! - **probation** and **protected** (segmented LRU, protected ≤ 80 % of the main space): an
//!   entry pushed out of the window enters probation only if the sketch says it is seen more
//!   often than probation's oldest entry (the victim), otherwise it is evicted; a hit in
//!   probation promotes to protected, whose overflow is demoted back to probation;
//! - the **hill climber** measures the hit rate over each sample of `10 × capacity` requests
//!   and moves the window/main boundary in the direction that improved it (step 6.25 % of the
//!   capacity, decaying by 0.98, restarting after a 5-point swing), so recency-biased
//!   workloads get a large window and frequency-biased ones a small one.
//!
//! LRU and least-recently-updated use one list (probation's slot) in access / write order.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use parking_lot::Mutex;

use crate::sketch::FrequencySketch;

/// Which entry is evicted when the cache is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum EvictionPolicy {
    /// Evict the entry written (loaded, refreshed or inserted) longest ago; reads do not
    /// change the order. py-memoize's default. Hits take only a shared lock and record
    /// nothing.
    #[default]
    LeastRecentlyUpdated,
    /// Evict the entry read or written longest ago (classic LRU). Hits are recorded in a
    /// per-shard buffer applied in batches, so readers do not serialise; under contention a
    /// few records may be dropped (the order is then approximate), single-threaded it is
    /// exact.
    Lru,
    /// W-TinyLFU (Caffeine's policy, cacheme's `tlfu`): an LRU admission window in front of a
    /// segmented LRU main space guarded by a count-min frequency sketch, with the window
    /// sized adaptively by hill climbing on the hit rate. Best hit ratio on skewed workloads
    /// and resistant to scans; hits are buffered like [`Lru`](Self::Lru)'s.
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

    /// Whether hits are recorded for the policy (reordering or frequency counting).
    pub(crate) fn records_reads(self) -> bool {
        !matches!(self, EvictionPolicy::LeastRecentlyUpdated)
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

/// "No node".
pub(crate) const NIL: u32 = u32::MAX;

/// Queue ids stored in each node.
pub(crate) const WINDOW: u8 = 0;
pub(crate) const PROBATION: u8 = 1;
pub(crate) const PROTECTED: u8 = 2;

/// A slab node that can be linked into lists: `list` 0 is the policy's, 1 the timer wheel's.
pub(crate) trait Linked {
    fn links(&self, list: usize) -> [u32; 2];
    fn links_mut(&mut self, list: usize) -> &mut [u32; 2];
    fn weight(&self) -> u32;
    /// The policy queue the node is in.
    fn queue(&self) -> u8;
    fn set_queue(&mut self, queue: u8);
}

/// An intrusive doubly linked list over a slab: head = oldest, tail = newest. Tracks the total
/// weight of its nodes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deque {
    pub(crate) head: u32,
    pub(crate) tail: u32,
    pub(crate) weight: u64,
    list: usize,
}

impl Deque {
    pub(crate) const fn new(list: usize) -> Self {
        Deque {
            head: NIL,
            tail: NIL,
            weight: 0,
            list,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.head == NIL
    }

    pub(crate) fn push_back<N: Linked>(&mut self, nodes: &mut [N], i: u32) {
        *nodes[i as usize].links_mut(self.list) = [self.tail, NIL];
        if self.tail == NIL {
            self.head = i;
        } else {
            nodes[self.tail as usize].links_mut(self.list)[1] = i;
        }
        self.tail = i;
        self.weight += u64::from(nodes[i as usize].weight());
    }

    pub(crate) fn unlink<N: Linked>(&mut self, nodes: &mut [N], i: u32) {
        let [prev, next] = nodes[i as usize].links(self.list);
        if prev == NIL {
            self.head = next;
        } else {
            nodes[prev as usize].links_mut(self.list)[1] = next;
        }
        if next == NIL {
            self.tail = prev;
        } else {
            nodes[next as usize].links_mut(self.list)[0] = prev;
        }
        *nodes[i as usize].links_mut(self.list) = [NIL, NIL];
        self.weight -= u64::from(nodes[i as usize].weight());
    }

    pub(crate) fn move_to_back<N: Linked>(&mut self, nodes: &mut [N], i: u32) {
        if self.tail != i {
            self.unlink(nodes, i);
            self.push_back(nodes, i);
        }
    }

    /// The node at `from` now lives at `to` (the slab compacted): repoint its neighbours.
    pub(crate) fn relocate<N: Linked>(&mut self, nodes: &mut [N], from: u32, to: u32) {
        let [prev, next] = nodes[to as usize].links(self.list);
        if prev == NIL {
            debug_assert_eq!(self.head, from);
            self.head = to;
        } else {
            nodes[prev as usize].links_mut(self.list)[1] = to;
        }
        if next == NIL {
            debug_assert_eq!(self.tail, from);
            self.tail = to;
        } else {
            nodes[next as usize].links_mut(self.list)[0] = to;
        }
    }

    pub(crate) fn clear(&mut self) {
        *self = Deque::new(self.list);
    }

    /// Node indices from head to tail (tests only).
    #[cfg(test)]
    pub(crate) fn indices<N: Linked>(&self, nodes: &[N]) -> Vec<u32> {
        let mut out = Vec::new();
        let mut i = self.head;
        while i != NIL {
            out.push(i);
            i = nodes[i as usize].links(self.list)[1];
        }
        out
    }
}

/// Caffeine's constants.
const PERCENT_MAIN_PROTECTED: f64 = 0.8;
const INITIAL_WINDOW: f64 = 0.01;
const HILL_CLIMBER_STEP_PERCENT: f64 = 0.0625;
const HILL_CLIMBER_STEP_DECAY_RATE: f64 = 0.98;
const HILL_CLIMBER_RESTART_THRESHOLD: f64 = 0.05;
/// Caffeine samples `10 × capacity` requests; for small caches that is a few hundred, and the
/// noise of such samples makes the window wander (measured: −2 points of hit ratio on Zipf
/// streams at 50 entries), so samples are never smaller than this.
const MIN_SAMPLE: u64 = 1_000;
/// A candidate at least this frequent is admitted over an equally frequent victim with
/// probability 1/128, so an attacker cannot pin the main space with colliding hashes.
const ADMIT_HASHDOS_THRESHOLD: u8 = 6;

/// The W-TinyLFU part of a shard's policy.
struct TinyLfu {
    sketch: FrequencySketch,
    window_max: u64,
    /// The window's share of the capacity last applied.
    window_fraction: f64,
    protected_max: u64,
    /// The node last pushed from the window into probation, not yet weighed against a victim.
    candidate: u32,
    rng: u64,
}

/// The eviction order of one shard.
pub(crate) struct Policy {
    kind: EvictionPolicy,
    capacity: u64,
    /// Window, probation (the only list of LRU / least-recently-updated), protected.
    lists: [Deque; 3],
    tlfu: Option<Box<TinyLfu>>,
}

impl Policy {
    /// The policy of a shard of `capacity` weight units expected to hold about `entries`.
    pub(crate) fn new(kind: EvictionPolicy, capacity: u64, entries: usize) -> Self {
        let tlfu = match kind {
            EvictionPolicy::WTinyLfu { doorkeeper } => {
                let window_max = ((capacity as f64 * INITIAL_WINDOW) as u64).max(1);
                Some(Box::new(TinyLfu {
                    sketch: FrequencySketch::new(entries, doorkeeper),
                    window_max,
                    window_fraction: INITIAL_WINDOW,
                    protected_max: (capacity.saturating_sub(window_max) as f64
                        * PERCENT_MAIN_PROTECTED) as u64,
                    candidate: NIL,
                    rng: 0x853c_49e6_748f_ea9b ^ capacity,
                }))
            }
            _ => None,
        };
        Policy {
            kind,
            capacity,
            lists: [Deque::new(0), Deque::new(0), Deque::new(0)],
            tlfu,
        }
    }

    /// Node indices of window, probation, protected, each oldest first (tests only); for the
    /// single-list policies, their one list.
    #[cfg(test)]
    pub(crate) fn order<N: Linked>(&self, nodes: &[N]) -> Vec<u32> {
        self.lists.iter().flat_map(|l| l.indices(nodes)).collect()
    }

    /// Links a new node (window for W-TinyLFU, the single list otherwise), then moves the
    /// window's overflow into probation and runs the hill climber when a sample is complete.
    pub(crate) fn on_insert<N: Linked>(&mut self, nodes: &mut [N], i: u32, hash: u64) {
        let Some(t) = &mut self.tlfu else {
            nodes[i as usize].set_queue(PROBATION);
            self.lists[PROBATION as usize].push_back(nodes, i);
            return;
        };
        t.sketch.increment(hash);
        nodes[i as usize].set_queue(WINDOW);
        let [window, probation, _] = &mut self.lists;
        window.push_back(nodes, i);
        while window.weight > t.window_max && !window.is_empty() {
            let h = window.head;
            window.unlink(nodes, h);
            probation.push_back(nodes, h);
            nodes[h as usize].set_queue(PROBATION);
            t.candidate = h;
        }
    }

    /// A hit on node `i`.
    pub(crate) fn on_access<N: Linked>(&mut self, nodes: &mut [N], i: u32, hash: u64) {
        match self.kind {
            EvictionPolicy::LeastRecentlyUpdated => {}
            EvictionPolicy::Lru => {
                let q = nodes[i as usize].queue();
                self.lists[q as usize].move_to_back(nodes, i);
            }
            EvictionPolicy::WTinyLfu { .. } => self.reposition(nodes, i, hash),
        }
    }

    /// A new value written over node `i`: moves it as a write does in this policy.
    pub(crate) fn on_update<N: Linked>(&mut self, nodes: &mut [N], i: u32, hash: u64) {
        match self.kind {
            EvictionPolicy::WTinyLfu { .. } => self.reposition(nodes, i, hash),
            _ => {
                let q = nodes[i as usize].queue();
                self.lists[q as usize].move_to_back(nodes, i);
            }
        }
    }

    fn reposition<N: Linked>(&mut self, nodes: &mut [N], i: u32, hash: u64) {
        let Some(t) = &mut self.tlfu else { return };
        t.sketch.increment(hash);
        let [window, probation, protected] = &mut self.lists;
        match nodes[i as usize].queue() {
            WINDOW => window.move_to_back(nodes, i),
            PROBATION => {
                probation.unlink(nodes, i);
                protected.push_back(nodes, i);
                nodes[i as usize].set_queue(PROTECTED);
                if t.candidate == i {
                    t.candidate = NIL;
                }
                // Demote protected's overflow (never the node just promoted).
                while protected.weight > t.protected_max && protected.head != i {
                    let h = protected.head;
                    protected.unlink(nodes, h);
                    probation.push_back(nodes, h);
                    nodes[h as usize].set_queue(PROBATION);
                }
            }
            _ => protected.move_to_back(nodes, i),
        }
    }

    /// The weight of node `i` changed from `old` to its current weight.
    pub(crate) fn reweigh<N: Linked>(&mut self, nodes: &[N], i: u32, old: u32) {
        let list = &mut self.lists[nodes[i as usize].queue() as usize];
        list.weight = list.weight - u64::from(old) + u64::from(nodes[i as usize].weight());
    }

    /// Unlinks node `i` (it is being removed).
    pub(crate) fn on_remove<N: Linked>(&mut self, nodes: &mut [N], i: u32) {
        let q = nodes[i as usize].queue();
        self.lists[q as usize].unlink(nodes, i);
        if let Some(t) = &mut self.tlfu {
            if t.candidate == i {
                t.candidate = NIL;
            }
        }
    }

    /// The node at `from` moved to `to`.
    pub(crate) fn relocate<N: Linked>(&mut self, nodes: &mut [N], from: u32, to: u32) {
        let q = nodes[to as usize].queue();
        self.lists[q as usize].relocate(nodes, from, to);
        if let Some(t) = &mut self.tlfu {
            if t.candidate == from {
                t.candidate = to;
            }
        }
    }

    /// Total weight of the linked nodes.
    pub(crate) fn weight(&self) -> u64 {
        self.lists.iter().map(|l| l.weight).sum()
    }

    /// The next node to evict while the shard is over capacity; `hash_of` gives the key hash
    /// of the node at an index (for the frequency duel). `None` only when the shard is empty.
    pub(crate) fn victim(&mut self, hash_of: impl Fn(u32) -> u64) -> Option<u32> {
        let [window, probation, protected] = &self.lists;
        let Some(t) = &mut self.tlfu else {
            return (!probation.is_empty()).then_some(probation.head);
        };
        // The candidate: the node just pushed out of the window, else the window's oldest
        // (as in Caffeine, a window that grew meanwhile still makes its entries compete).
        let cand = if t.candidate != NIL {
            t.candidate
        } else {
            window.head
        };
        let victim = [probation.head, protected.head]
            .into_iter()
            .find(|&h| h != NIL && h != cand);
        match (cand, victim) {
            (NIL, v) => v,
            (c, None) => {
                t.candidate = NIL;
                Some(c)
            }
            (c, Some(v)) => {
                let fc = t.sketch.frequency(hash_of(c));
                let fv = t.sketch.frequency(hash_of(v));
                let admit = fc > fv || (fc >= ADMIT_HASHDOS_THRESHOLD && t.random() & 127 == 0);
                if admit {
                    Some(v)
                } else {
                    t.candidate = NIL;
                    Some(c)
                }
            }
        }
    }

    /// Eviction is over for this write: an undecided candidate stays admitted.
    pub(crate) fn end_eviction(&mut self) {
        if let Some(t) = &mut self.tlfu {
            t.candidate = NIL;
        }
    }

    /// Applies the window share chosen by the [`HillClimber`]: entries follow lazily (a larger
    /// window keeps new entries out of the duel, a smaller one pushes its overflow into
    /// probation at the next insert).
    pub(crate) fn set_window_fraction(&mut self, fraction: f64) {
        let Some(t) = &mut self.tlfu else { return };
        if fraction == t.window_fraction {
            return;
        }
        t.window_fraction = fraction;
        let max_window = self.capacity.saturating_sub(1).max(1);
        t.window_max = ((self.capacity as f64 * fraction).round() as u64).clamp(1, max_window);
        t.protected_max =
            (self.capacity.saturating_sub(t.window_max) as f64 * PERCENT_MAIN_PROTECTED) as u64;
    }

    /// Forgets every node (the slab was cleared); the frequency history is kept.
    pub(crate) fn clear(&mut self) {
        for l in &mut self.lists {
            l.clear();
        }
        if let Some(t) = &mut self.tlfu {
            t.candidate = NIL;
        }
    }
}

/// Caffeine's hill climber, shared by all shards of a store so its hit-rate samples are
/// large (`10 × capacity` requests, at least 1,000) and every shard moves its window together. Shards add
/// their hits (per drained batch) and misses (per new entry) to relaxed counters; the one that
/// completes a sample takes the mutex (once per sample) and moves the window share.
pub(crate) struct HillClimber {
    hits: AtomicU64,
    misses: AtomicU64,
    sample: u64,
    /// The window's share of the capacity, as `f64` bits.
    fraction: AtomicU64,
    state: Mutex<ClimbState>,
}

struct ClimbState {
    previous_hit_rate: f64,
    /// Signed step, as a share of the capacity.
    step: f64,
}

impl HillClimber {
    pub(crate) fn new(capacity: u64) -> Self {
        HillClimber {
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            sample: capacity.saturating_mul(10).max(MIN_SAMPLE),
            fraction: AtomicU64::new(INITIAL_WINDOW.to_bits()),
            state: Mutex::new(ClimbState {
                previous_hit_rate: 0.0,
                step: HILL_CLIMBER_STEP_PERCENT,
            }),
        }
    }

    /// The window's current share of the capacity.
    #[inline]
    pub(crate) fn fraction(&self) -> f64 {
        f64::from_bits(self.fraction.load(Relaxed))
    }

    /// Counts `hits` and `misses`; climbs when a sample is complete.
    pub(crate) fn record(&self, hits: u64, misses: u64) {
        let h = if hits > 0 {
            self.hits.fetch_add(hits, Relaxed) + hits
        } else {
            self.hits.load(Relaxed)
        };
        let m = if misses > 0 {
            self.misses.fetch_add(misses, Relaxed) + misses
        } else {
            self.misses.load(Relaxed)
        };
        if h + m < self.sample {
            return;
        }
        let Some(mut state) = self.state.try_lock() else {
            return;
        };
        let hits = self.hits.swap(0, Relaxed);
        let misses = self.misses.swap(0, Relaxed);
        let requests = hits + misses;
        if requests < self.sample {
            return; // another thread just climbed
        }
        let hit_rate = hits as f64 / requests as f64;
        let change = hit_rate - state.previous_hit_rate;
        let amount = if change >= 0.0 {
            state.step
        } else {
            -state.step
        };
        state.step = if change.abs() >= HILL_CLIMBER_RESTART_THRESHOLD {
            HILL_CLIMBER_STEP_PERCENT * amount.signum()
        } else {
            HILL_CLIMBER_STEP_DECAY_RATE * amount
        };
        state.previous_hit_rate = hit_rate;
        let fraction = (self.fraction() + amount).clamp(0.0, 1.0);
        self.fraction.store(fraction.to_bits(), Relaxed);
    }
}

impl TinyLfu {
    fn random(&mut self) -> u64 {
        // xorshift64*
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}
