//! W-TinyLFU (Caffeine's design) for one shard: three queues threaded through the shard's slab
//! and a frequency sketch deciding admission.
//!
//! - **window** (LRU, initially 1 % of the capacity, possibly empty): every new entry lands
//!   here (or, with an empty window, goes straight to the admission duel);
//! - **probation** and **protected** (segmented LRU, protected ≤ 80 % of the main space): an
//!   entry pushed out of the window enters probation only if the sketch says it is seen more
//!   often than probation's oldest entry (the victim), otherwise it is evicted; a hit in
//!   probation promotes to protected, whose overflow is demoted back to probation.
//!
//! The window's size follows the store's [climber](super::climber); a window that grows takes
//! entries from main at once, as Caffeine's `increaseWindow` does, but main's newest, put in
//! front of its own so it stays in recency order ([`Queues::on_insert`]).

use crate::memory::list::{Deque, Linked, NIL};
use crate::memory::sketch::FrequencySketch;

use super::climber::INITIAL_WINDOW;

/// Queue ids stored in each node.
pub(crate) const WINDOW: u8 = 0;
pub(crate) const PROBATION: u8 = 1;
pub(crate) const PROTECTED: u8 = 2;

/// Protected's share of the main space (Caffeine's).
const PERCENT_MAIN_PROTECTED: f64 = 0.8;
/// Most entries moved from main into a window that grew, per insert (Caffeine's
/// `QUEUE_TRANSFER_THRESHOLD`); the rest move at the next inserts.
const WINDOW_TRANSFER_LIMIT: u32 = 1_000;
/// A candidate at least this frequent is admitted over an equally frequent victim with
/// probability 1/128, so an attacker cannot pin the main space with colliding hashes.
const ADMIT_HASHDOS_THRESHOLD: u8 = 6;

/// The W-TinyLFU state of one shard: its queues and its frequency sketch.
pub(crate) struct TinyLfu {
    queues: Queues,
    sketch: FrequencySketch,
}

impl TinyLfu {
    /// The policy of a shard of `capacity` weight units expected to hold about `entries`.
    pub(crate) fn new(capacity: u64, entries: usize, doorkeeper: bool) -> Self {
        TinyLfu {
            queues: Queues::new(capacity),
            sketch: FrequencySketch::new(entries, doorkeeper),
        }
    }

    /// The window, probation and protected queues (tests).
    #[cfg(test)]
    pub(crate) fn lists(&self) -> &[Deque; 3] {
        &self.queues.lists
    }

    pub(crate) fn lists_mut(&mut self) -> &mut [Deque; 3] {
        &mut self.queues.lists
    }

    /// Total weight of the linked nodes.
    pub(crate) fn weight(&self) -> u64 {
        self.queues.weight()
    }

    /// Counts the key and links its new node `i` ([`Queues::on_insert`]).
    #[inline]
    pub(crate) fn on_insert<N: Linked>(&mut self, nodes: &mut [N], i: u32, hash: u64) {
        self.sketch.increment(hash);
        self.queues.on_insert(nodes, i);
    }

    /// Counts the key and moves its node `i`: a hit, or a new value written over it.
    #[inline]
    pub(crate) fn reposition<N: Linked>(&mut self, nodes: &mut [N], i: u32, hash: u64) {
        self.sketch.increment(hash);
        self.queues.reposition(nodes, i);
    }

    /// Unlinks node `i` (it is being removed).
    pub(crate) fn on_remove<N: Linked>(&mut self, nodes: &mut [N], i: u32) {
        self.queues.on_remove(nodes, i);
    }

    /// The next node to evict ([`Queues::victim`]).
    pub(crate) fn victim(&mut self, hash_of: impl Fn(u32) -> u64) -> Option<u32> {
        self.queues.victim(&self.sketch, hash_of)
    }

    /// The shard holds `entries` now: grows the sketch if it was sized for fewer.
    pub(crate) fn ensure_capacity(&mut self, entries: usize) {
        self.sketch.ensure_capacity(entries);
    }

    /// Bytes held by the frequency sketch.
    #[cfg(test)]
    pub(crate) fn sketch_bytes(&self) -> usize {
        self.sketch.heap_bytes()
    }

    /// Eviction is over for this write: an undecided candidate stays admitted.
    pub(crate) fn end_eviction(&mut self) {
        self.queues.end_eviction();
    }

    /// Applies the window share chosen by the climber ([`Queues::set_window_fraction`]).
    pub(crate) fn set_window_fraction(&mut self, fraction: f64) {
        self.queues.set_window_fraction(fraction);
    }

    /// Forgets every node (the slab was cleared); the frequency history is kept.
    pub(crate) fn clear(&mut self) {
        self.queues.clear();
    }
}

/// W-TinyLFU's queues and their sizes, without the sketch: the admission duel reads a sketch
/// it is given, so the climber's miniature caches, which all see one stream, share one.
pub(crate) struct Queues {
    capacity: u64,
    /// Window, probation, protected.
    lists: [Deque; 3],
    window_max: u64,
    /// The window's share of the capacity last applied.
    window_fraction: f64,
    protected_max: u64,
    /// The node last pushed from the window into probation, not yet weighed against a victim.
    candidate: u32,
    rng: u64,
}

impl Queues {
    /// Total weight of the linked nodes.
    pub(crate) fn weight(&self) -> u64 {
        self.lists.iter().map(|l| l.weight).sum()
    }

    /// The capacity in weight units.
    pub(crate) fn capacity(&self) -> u64 {
        self.capacity
    }

    /// The queues of `capacity` weight units, the window at its initial share.
    pub(crate) fn new(capacity: u64) -> Self {
        let window_max = (capacity as f64 * INITIAL_WINDOW).round() as u64;
        Queues {
            capacity,
            lists: [Deque::new(0), Deque::new(0), Deque::new(0)],
            window_max,
            window_fraction: INITIAL_WINDOW,
            protected_max: (capacity.saturating_sub(window_max) as f64 * PERCENT_MAIN_PROTECTED)
                as u64,
            candidate: NIL,
            rng: 0x853c_49e6_748f_ea9b ^ capacity,
        }
    }

    /// Links a new node into the window. First moves main's newest entries into a window that
    /// grew (or a shrunk window's overflow into probation), then the window's overflow into
    /// probation (the last one moved is the candidate of the next admission duel).
    pub(crate) fn on_insert<N: Linked>(&mut self, nodes: &mut [N], i: u32) {
        let [window, probation, protected] = &mut self.lists;
        // A window that grew takes entries from main until main is back to its share (as
        // Caffeine's `increaseWindow` does: otherwise main's entries keep winning duels
        // against the window's and the window never fills). It takes main's newest
        // (probation's, then protected's) and puts them in front of its own entries, which
        // are newer still, in their order: the window's own entries stay its newest, and a
        // window grown to most of the capacity evicts roughly as LRU would (main's two queues
        // are each in recency order, not with each other). Caffeine moves main's oldest
        // behind the window's newest; measured on a recency-heavy stream at the jump from a
        // 1 % window to 100 %, that evicted the newest keys first and cost up to 10 points of
        // hit rate for 4 x capacity lookups.
        let main_max = self.capacity.saturating_sub(self.window_max);
        for _ in 0..WINDOW_TRANSFER_LIMIT {
            if probation.weight + protected.weight <= main_max || window.weight >= self.window_max {
                break;
            }
            let list = if probation.is_empty() {
                &mut *protected
            } else {
                &mut *probation
            };
            if list.tail == NIL {
                break;
            }
            let h = list.move_tail_to_front(nodes, window);
            nodes[h as usize].set_queue(WINDOW);
            if self.candidate == h {
                self.candidate = NIL;
            }
        }
        nodes[i as usize].set_queue(WINDOW);
        window.push_back(nodes, i);
        // A window that shrank pushes its overflow into probation, at most as many entries per
        // insert as a growing one takes (a jump from the whole capacity to none would move a
        // shard's every entry under one write).
        for _ in 0..WINDOW_TRANSFER_LIMIT {
            if window.weight <= self.window_max || window.is_empty() {
                break;
            }
            let h = window.move_head_to(nodes, probation);
            nodes[h as usize].set_queue(PROBATION);
            self.candidate = h;
        }
    }

    /// A hit on, or a new value written over, node `i`.
    pub(crate) fn reposition<N: Linked>(&mut self, nodes: &mut [N], i: u32) {
        let [window, probation, protected] = &mut self.lists;
        match nodes[i as usize].queue() {
            WINDOW => window.move_to_back(nodes, i),
            PROBATION => {
                probation.unlink(nodes, i);
                protected.push_back(nodes, i);
                nodes[i as usize].set_queue(PROTECTED);
                if self.candidate == i {
                    self.candidate = NIL;
                }
                // Demote protected's overflow (never the node just promoted).
                while protected.weight > self.protected_max && protected.head != i {
                    let h = protected.move_head_to(nodes, probation);
                    nodes[h as usize].set_queue(PROBATION);
                }
            }
            _ => protected.move_to_back(nodes, i),
        }
    }

    /// Unlinks node `i` (it is being removed).
    pub(crate) fn on_remove<N: Linked>(&mut self, nodes: &mut [N], i: u32) {
        let q = nodes[i as usize].queue();
        self.lists[q as usize].unlink(nodes, i);
        if self.candidate == i {
            self.candidate = NIL;
        }
    }

    /// The next node to evict; `hash_of` gives the key hash of the node at an index, whose
    /// frequency in `sketch` decides the duel. `None` only when there is no node.
    pub(crate) fn victim(
        &mut self,
        sketch: &FrequencySketch,
        hash_of: impl Fn(u32) -> u64,
    ) -> Option<u32> {
        let [window, probation, protected] = &self.lists;
        // The candidate: the node just pushed out of the window, else the window's oldest
        // (as in Caffeine, a window that grew meanwhile still makes its entries compete).
        let cand = if self.candidate != NIL {
            self.candidate
        } else {
            window.head
        };
        let victim = [probation.head, protected.head]
            .into_iter()
            .find(|&h| h != NIL && h != cand);
        match (cand, victim) {
            (NIL, v) => v,
            (c, None) => {
                self.candidate = NIL;
                Some(c)
            }
            (c, Some(v)) => {
                let fc = sketch.frequency(hash_of(c));
                let fv = sketch.frequency(hash_of(v));
                let admit = fc > fv || (fc >= ADMIT_HASHDOS_THRESHOLD && self.random() & 127 == 0);
                if admit {
                    Some(v)
                } else {
                    self.candidate = NIL;
                    Some(c)
                }
            }
        }
    }

    /// Eviction is over for this write: an undecided candidate stays admitted.
    pub(crate) fn end_eviction(&mut self) {
        self.candidate = NIL;
    }

    /// Applies the window share chosen by the climber; entries follow from the next insert on
    /// (a smaller window pushes its overflow into probation, a larger one takes main's newest
    /// entries), at most [`WINDOW_TRANSFER_LIMIT`] per insert.
    pub(crate) fn set_window_fraction(&mut self, fraction: f64) {
        if fraction == self.window_fraction {
            return;
        }
        self.window_fraction = fraction;
        let max_window = self.capacity.saturating_sub(1).max(1);
        self.window_max = ((self.capacity as f64 * fraction).round() as u64).min(max_window);
        self.protected_max =
            (self.capacity.saturating_sub(self.window_max) as f64 * PERCENT_MAIN_PROTECTED) as u64;
    }

    /// Forgets every node (the slab was cleared); the frequency history is kept.
    pub(crate) fn clear(&mut self) {
        for l in &mut self.lists {
            l.clear();
        }
        self.candidate = NIL;
    }

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
    use crate::memory::list::TestNode;

    #[test]
    fn a_grown_window_takes_mains_newest_entries_in_order_at_the_next_insert() {
        let mut nodes = TestNode::many(101);
        let mut p = TinyLfu::new(100, 100, false);
        for i in 0..100 {
            p.on_insert(&mut nodes, i, u64::from(i));
            p.end_eviction();
        }
        assert_eq!(p.queues.lists[WINDOW as usize].weight, 1);
        p.set_window_fraction(0.5);
        p.on_insert(&mut nodes, 100, 100);
        // 49 of main's newest (50..=98) joined the window in front of its one entry (99), in
        // their order; the new one came last, and the window's oldest (50) overflowed back
        // into probation: the window holds the 50 newest, oldest first, as an LRU would.
        assert_eq!(p.queues.lists[WINDOW as usize].weight, 50);
        assert_eq!(p.queues.lists[PROBATION as usize].weight, 51);
        let window = p.queues.lists[WINDOW as usize].indices(&nodes);
        assert_eq!(window, (51..=100).collect::<Vec<u32>>());
        assert_eq!(p.queues.lists[PROBATION as usize].tail, 50);
        // Shrinking pushes the overflow back into probation at the next insert.
        p.set_window_fraction(0.0);
        p.on_remove(&mut nodes, 100);
        p.on_insert(&mut nodes, 100, 100);
        assert_eq!(p.queues.lists[WINDOW as usize].weight, 0);
        assert_eq!(p.lists().iter().map(|l| l.weight).sum::<u64>(), 101);
    }
}
