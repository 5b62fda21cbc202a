//! Eviction policies: which entry leaves when a store shard is full.
//!
//! [`EvictionPolicy`] is what a user picks on the builder; [`RemovalCause`] is what the
//! eviction listener is told. Inside, `Policy` is the per-shard state: up to three intrusive
//! doubly linked lists (`Deque`) threaded through the shard's slab of entries, and for
//! W-TinyLFU the frequency sketch (module `sketch`) and the hill climber that sizes the
//! admission window (Caffeine's design):
//!
//! - **window** (LRU, initially 1 % of the capacity, possibly empty): every new entry lands
//!   here (or, with an empty window, goes straight to the admission duel);
//! - **probation** and **protected** (segmented LRU, protected ≤ 80 % of the main space): an
//!   entry pushed out of the window enters probation only if the sketch says it is seen more
//!   often than probation's oldest entry (the victim), otherwise it is evicted; a hit in
//!   probation promotes to protected, whose overflow is demoted back to probation;
//! - the **hill climber** sizes the window (0 to all but one entry): it probes a move of the
//!   window/main boundary and keeps it only if the next sample's hit rate is better by more
//!   than the sampling noise, growing the step after a gain and halving it otherwise, so
//!   recency-biased workloads get a large window within a few samples and the window of a
//!   stationary frequency-biased one settles small and stays (see `ClimbState`); a window
//!   that grows takes main's oldest entries at once (Caffeine's `increaseWindow`).
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

/// Protected's share of the main space (Caffeine's).
const PERCENT_MAIN_PROTECTED: f64 = 0.8;
/// The window's share before the climber has measured anything (Caffeine's).
const INITIAL_WINDOW: f64 = 0.01;
/// Most entries moved from main into a window that grew, per insert (Caffeine's
/// `QUEUE_TRANSFER_THRESHOLD`); the rest move at the next inserts.
const WINDOW_TRANSFER_LIMIT: u32 = 1_000;
/// The climber's first probe, as a share of the capacity (twice Caffeine's step: with
/// [`STEP_GROWTH`], a recency-biased workload reaches a large window in three probes).
const INITIAL_STEP: f64 = 0.125;
/// A probe of this size is measured over one nominal sample (`10 × capacity` requests);
/// larger ones over proportionally fewer requests, smaller ones over more (Caffeine's step).
const REFERENCE_STEP: f64 = 0.0625;
/// A probe that helped is followed by one this many times larger.
const STEP_GROWTH: f64 = 2.0;
/// Largest probe.
const MAX_STEP: f64 = 0.5;
/// Probes smaller than this are not made: the window has settled.
const MIN_STEP: f64 = 1.0 / 256.0;
/// A hit-rate difference between two samples counts beyond this many standard deviations of
/// the difference (one: a larger window must show a gain at least as large as the noise;
/// two cost recency-biased workloads up to two standard deviations of hit rate, measured
/// 1–2 points at 50–100 entries).
const SIGNIFICANCE: f64 = 1.0;
/// A settled climber starts probing again when the hit rate moves this much (and by
/// `2 × SIGNIFICANCE` standard deviations).
const RESTART_THRESHOLD: f64 = 0.05;
/// Caffeine samples `10 × capacity` requests; for small caches that is a few hundred, whose
/// noise (measured: hit rates 2–12 % at one window on a recency workload of 50 entries and
/// 1,000-request samples) hides the effect of a move, so samples are never smaller than this.
const MIN_SAMPLE: u64 = 5_000;
/// After a move, this share of a sample passes before measuring (the transition: entries
/// moving between window and main, main refilling after the window shrank).
const SETTLE_SHARE: f64 = 0.25;
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
                let window_max = (capacity as f64 * INITIAL_WINDOW).round() as u64;
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

    /// Links a new node (window for W-TinyLFU, the single list otherwise). For W-TinyLFU, first
    /// moves main's oldest entries into a window that grew, then the window's overflow into
    /// probation (the last one moved is the candidate of the next admission duel).
    pub(crate) fn on_insert<N: Linked>(&mut self, nodes: &mut [N], i: u32, hash: u64) {
        let Some(t) = &mut self.tlfu else {
            nodes[i as usize].set_queue(PROBATION);
            self.lists[PROBATION as usize].push_back(nodes, i);
            return;
        };
        t.sketch.increment(hash);
        let [window, probation, protected] = &mut self.lists;
        // A window that grew takes main's oldest entries (probation's, then protected's) until
        // main is back to its share, as Caffeine's `increaseWindow` does: otherwise main's
        // entries keep winning duels against the window's and the window never fills.
        let main_max = self.capacity.saturating_sub(t.window_max);
        for _ in 0..WINDOW_TRANSFER_LIMIT {
            if probation.weight + protected.weight <= main_max || window.weight >= t.window_max {
                break;
            }
            let list = if probation.is_empty() {
                &mut *protected
            } else {
                &mut *probation
            };
            let h = list.head;
            if h == NIL {
                break;
            }
            list.unlink(nodes, h);
            window.push_back(nodes, h);
            nodes[h as usize].set_queue(WINDOW);
            if t.candidate == h {
                t.candidate = NIL;
            }
        }
        nodes[i as usize].set_queue(WINDOW);
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

    /// Applies the window share chosen by the [`HillClimber`]; entries follow at the next
    /// insert (a smaller window pushes its overflow into probation, a larger one takes main's
    /// oldest entries).
    pub(crate) fn set_window_fraction(&mut self, fraction: f64) {
        let Some(t) = &mut self.tlfu else { return };
        if fraction == t.window_fraction {
            return;
        }
        t.window_fraction = fraction;
        let max_window = self.capacity.saturating_sub(1).max(1);
        t.window_max = ((self.capacity as f64 * fraction).round() as u64).min(max_window);
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

/// The hill climber, shared by all shards of a store so its hit-rate samples are large
/// (`10 × capacity` requests, at least [`MIN_SAMPLE`]) and every shard moves its window
/// together. Shards add their hits (per drained batch) and misses (per new entry) to relaxed
/// counters; the one that completes a sample takes the mutex (once per sample) and lets
/// [`ClimbState::next`] move the window share.
pub(crate) struct HillClimber {
    hits: AtomicU64,
    misses: AtomicU64,
    sample: u64,
    /// Requests until the next decision: a sample, or a shorter settling period after a move.
    due: AtomicU64,
    /// The window's share of the capacity, as `f64` bits.
    fraction: AtomicU64,
    state: Mutex<ClimbState>,
}

impl HillClimber {
    pub(crate) fn new(capacity: u64) -> Self {
        let sample = capacity.saturating_mul(10).max(MIN_SAMPLE);
        HillClimber {
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            sample,
            due: AtomicU64::new(sample),
            fraction: AtomicU64::new(INITIAL_WINDOW.to_bits()),
            state: Mutex::new(ClimbState::new()),
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
        let due = self.due.load(Relaxed);
        if h + m < due {
            return;
        }
        let Some(mut state) = self.state.try_lock() else {
            return;
        };
        let hits = self.hits.swap(0, Relaxed);
        let misses = self.misses.swap(0, Relaxed);
        let requests = hits + misses;
        if requests < due {
            return; // another thread just climbed
        }
        let fraction = state.next(self.fraction(), hits, requests);
        self.due.store(state.next_sample(self.sample), Relaxed);
        self.fraction.store(fraction.to_bits(), Relaxed);
    }
}

/// The climber's memory between samples. It probes: moves the window by `step`, and compares
/// the next sample's hit rate with the one measured before the move (the baseline). A
/// difference counts only if it exceeds [`SIGNIFICANCE`] standard deviations of the
/// difference of two independent samples, so the noise of a stationary workload does not
/// move the window:
///
/// - **better**: the move is kept and the next probe goes the same way, [`STEP_GROWTH`]
///   times larger (a recency-biased workload gets its large window in a few samples);
/// - **worse**: the move is undone, and the next probe goes the other way, half as far;
/// - **no evidence** either way: the window nearer the extreme it started from is kept (the
///   smaller one below half the capacity: a window costs frequency-biased workloads hit
///   ratio while the climber cannot see it; the larger one above: the window got there by
///   gains from recency), and the step halves (reversed if the move was undone).
///
/// Steps shrink to nothing on a stationary workload: the window then stays put, and only a
/// real shift (the hit rate moving by [`RESTART_THRESHOLD`] and by `2 × SIGNIFICANCE`
/// standard deviations between two samples) restarts the probing at [`INITIAL_STEP`].
pub(crate) struct ClimbState {
    /// Hit rate measured at the accepted window (NaN: measure it with the next sample).
    baseline: f64,
    /// The move of the probe under way (0: none).
    probe: f64,
    /// Signed size of the next probe, as a share of the capacity.
    step: f64,
    /// The window just changed: the next sample measures the transition, not the window.
    settling: bool,
}

impl ClimbState {
    pub(crate) fn new() -> Self {
        ClimbState {
            baseline: f64::NAN,
            probe: 0.0,
            step: INITIAL_STEP,
            settling: true,
        }
    }

    /// Requests in the next sample, given the nominal `sample`: a quarter of it to settle
    /// after a move; to measure a probe, inversely proportional to the probe's size (a large
    /// move has a large effect, visible in a shorter sample; a small one needs a longer one).
    pub(crate) fn next_sample(&self, sample: u64) -> u64 {
        let sample = sample as f64;
        let len = if self.settling {
            sample * SETTLE_SHARE
        } else {
            let moved = if self.probe != 0.0 {
                self.probe
            } else {
                self.step
            };
            if moved.abs() < MIN_STEP {
                sample
            } else {
                sample * (REFERENCE_STEP / moved.abs()).clamp(0.25, 4.0)
            }
        };
        (len as u64).max(1)
    }

    /// The window share after a sample of `requests` with `hits`, the share being `fraction`.
    pub(crate) fn next(&mut self, fraction: f64, hits: u64, requests: u64) -> f64 {
        if self.settling {
            self.settling = false;
            return fraction;
        }
        let z = SIGNIFICANCE;
        let rate = hits as f64 / requests as f64;
        // Standard deviation of the difference of two sample hit rates (at least one hit or
        // miss in the sample, so a perfect rate is not infinitely precise).
        let p = rate.clamp(1.0 / requests as f64, 1.0 - 1.0 / requests as f64);
        let noise = (2.0 * p * (1.0 - p) / requests as f64).sqrt();
        let change = rate - self.baseline;
        let mut fraction = fraction;
        if self.probe != 0.0 {
            let probe = std::mem::take(&mut self.probe);
            // Without evidence either way, keep the window nearer the extreme it is on:
            // small if it never showed a gain from recency, large once it did.
            let prefer_larger = fraction - probe >= 0.5;
            if change > z * noise {
                self.baseline = rate;
                self.step = (self.step * STEP_GROWTH).clamp(-MAX_STEP, MAX_STEP);
            } else if change < -z * noise || (probe > 0.0) != prefer_larger {
                self.baseline = f64::NAN;
                self.step = -self.step / 2.0;
                self.settling = true;
                return (fraction - probe).clamp(0.0, 1.0);
            } else {
                self.baseline = rate;
                self.step /= 2.0;
            }
        } else {
            if change.abs() >= RESTART_THRESHOLD && change.abs() >= 2.0 * z * noise {
                self.step = if fraction < 0.5 {
                    INITIAL_STEP
                } else {
                    -INITIAL_STEP
                };
            }
            self.baseline = rate;
        }
        if self.step.abs() >= MIN_STEP {
            let mut next = (fraction + self.step).clamp(0.0, 1.0);
            if next == fraction {
                // At a bound: probe the other way.
                self.step = -self.step;
                next = (fraction + self.step).clamp(0.0, 1.0);
            }
            self.probe = next - fraction;
            self.settling = true;
            fraction = next;
        }
        fraction
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic standard normal deviate (xorshift64* and Box–Muller).
    struct Noise(u64);

    impl Noise {
        fn uniform(&mut self) -> f64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            ((self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        }

        fn normal(&mut self) -> f64 {
            let (u, v) = (self.uniform(), self.uniform());
            (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
        }
    }

    /// Runs the climber on a workload whose hit rate at window share `f` is `rate(f)`, with
    /// the binomial noise of each sample; returns the window share after each decision.
    fn climb(samples: usize, seed: u64, rate: impl Fn(f64, usize) -> f64) -> Vec<f64> {
        const SAMPLE: u64 = 10_000;
        let mut noise = Noise(seed);
        let mut state = ClimbState::new();
        let mut fraction = INITIAL_WINDOW;
        let mut trace = Vec::new();
        for i in 0..samples {
            let requests = state.next_sample(SAMPLE);
            let p: f64 = rate(fraction, i);
            let sd = (p * (1.0 - p) / requests as f64).sqrt();
            let hits = ((p + sd * noise.normal()).clamp(0.0, 1.0) * requests as f64) as u64;
            fraction = state.next(fraction, hits, requests);
            assert!((0.0..=1.0).contains(&fraction));
            trace.push(fraction);
        }
        trace
    }

    /// Frequency-biased: every point of window costs hit rate (as on a Zipf stream).
    fn frequency(f: f64) -> f64 {
        0.5 - 0.08 * f
    }

    /// Recency-biased: the hit rate grows with the window up to 60 % of the capacity.
    fn recency(f: f64) -> f64 {
        0.2 + 0.55 * (f / 0.6).min(1.0)
    }

    #[test]
    fn climber_settles_small_and_still_on_a_stationary_frequency_workload() {
        for seed in 1..=20 {
            let trace = climb(300, seed, |f, _| frequency(f));
            let last = trace[trace.len() - 1];
            assert!(last <= 0.05, "seed {seed}: window {last}");
            // Settled: no move in the last 200 samples.
            assert!(
                trace[100..].iter().all(|&f| f == last),
                "seed {seed}: still moving"
            );
        }
    }

    #[test]
    fn climber_stays_small_on_a_flat_workload() {
        // Pure noise: nothing to gain from a window. A probe passes for a gain with
        // probability 1/6 (one standard deviation), so the window may creep, but not far.
        let ends: Vec<f64> = (1..=100)
            .map(|seed| climb(300, seed, |_, _| 0.5)[299])
            .collect();
        let mean = ends.iter().sum::<f64>() / ends.len() as f64;
        let max = ends.iter().copied().fold(0.0, f64::max);
        assert!(mean <= 0.03 && max <= 0.2, "mean {mean}, max {max}");
    }

    #[test]
    fn climber_grows_the_window_quickly_on_a_recency_workload() {
        for seed in 1..=20 {
            let trace = climb(300, seed, |f, _| recency(f));
            // A few probes (each: a settling period and a measure) reach the plateau.
            assert!(
                trace[..16].iter().any(|&f| f >= 0.6),
                "seed {seed}: {:?}",
                &trace[..16]
            );
            let last = trace[299];
            assert!(last >= 0.5, "seed {seed}: window {last}");
            let lost = 0.75 - recency(last);
            assert!(lost < 0.02, "seed {seed}: window {last} loses {lost}");
        }
    }

    #[test]
    fn climber_restarts_when_the_workload_shifts() {
        for seed in 1..=10 {
            let trace = climb(
                600,
                seed,
                |f, i| {
                    if i < 300 {
                        frequency(f)
                    } else {
                        recency(f)
                    }
                },
            );
            assert!(trace[299] <= 0.05, "seed {seed}: {}", trace[299]);
            assert!(trace[599] >= 0.5, "seed {seed}: {}", trace[599]);
        }
    }

    /// A slab node for list tests.
    #[derive(Default)]
    struct N {
        links: [[u32; 2]; 2],
        queue: u8,
    }

    impl Linked for N {
        fn links(&self, list: usize) -> [u32; 2] {
            self.links[list]
        }
        fn links_mut(&mut self, list: usize) -> &mut [u32; 2] {
            &mut self.links[list]
        }
        fn weight(&self) -> u32 {
            1
        }
        fn queue(&self) -> u8 {
            self.queue
        }
        fn set_queue(&mut self, queue: u8) {
            self.queue = queue;
        }
    }

    #[test]
    fn a_grown_window_takes_mains_oldest_entries_at_the_next_insert() {
        let mut nodes: Vec<N> = (0..101).map(|_| N::default()).collect();
        let mut p = Policy::new(EvictionPolicy::W_TINY_LFU, 100, 100);
        for i in 0..100 {
            p.on_insert(&mut nodes, i, u64::from(i));
            p.end_eviction();
        }
        assert_eq!(p.lists[WINDOW as usize].weight, 1);
        p.set_window_fraction(0.5);
        p.on_insert(&mut nodes, 100, 100);
        // 49 of main's oldest joined the window behind its one entry, the new one came last,
        // and the window's oldest overflowed into probation.
        assert_eq!(p.lists[WINDOW as usize].weight, 50);
        assert_eq!(p.lists[PROBATION as usize].weight, 51);
        let window = p.lists[WINDOW as usize].indices(&nodes);
        assert_eq!(&window[..49], &(0..49).collect::<Vec<u32>>()[..]);
        assert_eq!(window[49], 100);
        assert_eq!(p.lists[PROBATION as usize].tail, 99);
        // Shrinking pushes the overflow back into probation at the next insert.
        p.set_window_fraction(0.0);
        p.on_remove(&mut nodes, 100);
        p.on_insert(&mut nodes, 100, 100);
        assert_eq!(p.lists[WINDOW as usize].weight, 0);
        assert_eq!(p.weight(), 101);
    }
}
