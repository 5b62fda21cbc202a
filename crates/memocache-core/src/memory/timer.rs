//! Expiry without reads: a hierarchical timer wheel per store shard (Caffeine's layout).
//!
//! Every entry with a finite `expire_at` sits in one bucket, chosen by how far away its
//! deadline is: 64 buckets of 2^30 ns (≈1.07 s), 64 of 2^36 ns (≈1.1 min), 32 of 2^42 ns
//! (≈1.2 h), 4 of 2^47 ns (≈1.6 days), and one overflow bucket. Whenever the shard is written
//! or its read buffer drained, the wheel advances to the current time: each bucket whose span
//! has passed is taken out whole; its entries that are due are removed (cause `Expired`) and
//! the others are scheduled again, into finer buckets. So an entry stops counting toward the
//! capacity at most one level-0 tick (≈1.07 s) after its deadline, at the next write (or
//! drained read) of its shard, or after a few writes to any shard, since every 16th write of a
//! shard also advances one other shard in rotation, without ever being read. Advancing costs O(1) when no tick passed.

use super::list::{Deque, Linked, NIL};

const BUCKETS: [usize; 5] = [64, 64, 32, 4, 1];
const SHIFT: [u32; 5] = [30, 36, 42, 47, 49];
const OFFSET: [usize; 5] = [0, 64, 128, 160, 164];
const TOTAL: usize = 165;

/// Bucket id of a node in no bucket (no deadline, or not stored).
pub(crate) const NO_BUCKET: u16 = u16::MAX;
/// Bucket id of the nodes taken out of their bucket by [`TimerWheel::advance`] and not yet
/// handed out by [`TimerWheel::pop_due`].
const PENDING: u16 = TOTAL as u16;

/// A node the wheel can schedule.
pub(crate) trait Timed: Linked {
    /// Deadline in nanoseconds since the store's epoch; `u64::MAX` for none.
    fn expire_at(&self) -> u64;
    fn bucket(&self) -> u16;
    fn set_bucket(&mut self, bucket: u16);
}

/// The timer wheel of one shard.
pub(crate) struct TimerWheel {
    buckets: Box<[Deque]>,
    pending: Deque,
    /// Nanoseconds since the epoch of the last advance.
    time: u64,
}

impl TimerWheel {
    pub(crate) fn new(now: u64) -> Self {
        TimerWheel {
            buckets: (0..TOTAL).map(|_| Deque::new(1)).collect(),
            pending: Deque::new(1),
            time: now,
        }
    }

    fn deque(&mut self, bucket: u16) -> &mut Deque {
        if bucket == PENDING {
            &mut self.pending
        } else {
            &mut self.buckets[bucket as usize]
        }
    }

    /// Puts node `i` into the bucket of its deadline.
    pub(crate) fn schedule<N: Timed>(&mut self, nodes: &mut [N], i: u32) {
        let expire = nodes[i as usize].expire_at();
        if expire == u64::MAX {
            nodes[i as usize].set_bucket(NO_BUCKET);
            return;
        }
        let delta = expire.saturating_sub(self.time);
        let level = (0..4).find(|&l| delta < 1 << SHIFT[l + 1]).unwrap_or(4);
        let b = OFFSET[level] + ((expire >> SHIFT[level]) as usize & (BUCKETS[level] - 1));
        self.buckets[b].push_back(nodes, i);
        nodes[i as usize].set_bucket(b as u16);
    }

    /// Takes node `i` out of its bucket.
    pub(crate) fn deschedule<N: Timed>(&mut self, nodes: &mut [N], i: u32) {
        let b = nodes[i as usize].bucket();
        if b != NO_BUCKET {
            self.deque(b).unlink(nodes, i);
            nodes[i as usize].set_bucket(NO_BUCKET);
        }
    }

    /// Advances to `now`: every bucket whose span passed moves to the pending list, to be
    /// taken with [`pop_due`](Self::pop_due).
    pub(crate) fn advance<N: Timed>(&mut self, nodes: &mut [N], now: u64) {
        let previous = self.time;
        if now <= previous {
            return;
        }
        self.time = now;
        for level in 0..SHIFT.len() {
            let prev_ticks = previous >> SHIFT[level];
            let ticks = now >> SHIFT[level];
            if ticks == prev_ticks {
                break;
            }
            let len = BUCKETS[level];
            let steps = (ticks - prev_ticks + 1).min(len as u64) as usize;
            let start = prev_ticks as usize;
            for s in start..start + steps {
                let b = OFFSET[level] + (s & (len - 1));
                self.take_bucket(nodes, b);
            }
        }
    }

    fn take_bucket<N: Timed>(&mut self, nodes: &mut [N], b: usize) {
        loop {
            let h = self.buckets[b].head;
            if h == NIL {
                return;
            }
            self.buckets[b].unlink(nodes, h);
            self.pending.push_back(nodes, h);
            nodes[h as usize].set_bucket(PENDING);
        }
    }

    /// The next node taken out by `advance`: the caller removes it if its deadline passed,
    /// else [`schedule`](Self::schedule)s it again.
    pub(crate) fn pop_due<N: Timed>(&mut self, nodes: &mut [N]) -> Option<u32> {
        let h = self.pending.head;
        if h == NIL {
            return None;
        }
        self.pending.unlink(nodes, h);
        nodes[h as usize].set_bucket(NO_BUCKET);
        Some(h)
    }

    /// Forgets every node.
    pub(crate) fn clear(&mut self) {
        for b in self.buckets.iter_mut() {
            b.clear();
        }
        self.pending.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::list::TestNode as N;

    impl Timed for N {
        fn expire_at(&self) -> u64 {
            self.expire
        }
        fn bucket(&self) -> u16 {
            self.bucket
        }
        fn set_bucket(&mut self, b: u16) {
            self.bucket = b;
        }
    }

    const SEC: u64 = 1_000_000_000;

    /// Advances and returns the expired nodes, rescheduling the others.
    fn expire(w: &mut TimerWheel, nodes: &mut [N], now: u64) -> Vec<u32> {
        w.advance(nodes, now);
        let mut out = Vec::new();
        let mut again = Vec::new();
        while let Some(i) = w.pop_due(nodes) {
            if nodes[i as usize].expire <= now {
                out.push(i);
            } else {
                again.push(i);
            }
        }
        for i in again {
            w.schedule(nodes, i);
        }
        out.sort();
        out
    }

    #[test]
    fn every_deadline_fires_within_one_tick_and_never_early() {
        // Deadlines from 0.5 s to ~3 days.
        let deadlines: Vec<u64> = (0..95u64).map(|i| SEC / 2 + i * i * i * SEC / 3).collect();
        let mut nodes: Vec<N> = deadlines
            .iter()
            .map(|&e| N {
                links: [[NIL; 2]; 2],
                weight: 1,
                expire: e,
                bucket: NO_BUCKET,
                ..N::default()
            })
            .collect();
        let mut w = TimerWheel::new(0);
        for i in 0..nodes.len() as u32 {
            w.schedule(&mut nodes, i);
        }
        let mut fired = vec![None; nodes.len()];
        let mut now = 0;
        while now < 4 * 24 * 3600 * SEC {
            now += SEC / 4 + 12_345;
            for i in expire(&mut w, &mut nodes, now) {
                assert!(fired[i as usize].is_none(), "fired twice");
                fired[i as usize] = Some(now);
            }
        }
        for (i, f) in fired.iter().enumerate() {
            let f = f.unwrap_or_else(|| panic!("node {i} never fired"));
            assert!(f >= deadlines[i], "early");
            assert!(
                f - deadlines[i] <= (1 << 30) + SEC / 4 + 12_345,
                "late by {}",
                f - deadlines[i]
            );
        }
    }
}
