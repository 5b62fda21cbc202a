//! W-TinyLFU's window sizing: how large the admission window should be, chosen by running
//! miniature copies of the cache at other window shares side by side.
//!
//! Caffeine's hill climber (and this module's first version) moves the window and compares
//! the hit rate after the move with the one before. That comparison is fooled by anything
//! else that moves the hit rate between the two samples: a cache still filling (every window
//! hits alike, so "no evidence" decides), the fall once it is full, a workload's phase change.
//! Measured on table 5 of the bench, it lost 10–34 points to LRU on recency-heavy streams.
//!
//! Here every candidate window share ([`FRACTIONS`]) runs in a [`Mini`] cache over the same
//! sample of keys, all at once, so two candidates are compared on the very same requests: a
//! trend moves them alike and cancels out. The store applies the share of the candidate that
//! hits most, once its lead over the current one is significant ([`Shadows::decide`]).
//! The store passes each access to a sampled key (a hit, a write) as it happens
//! ([`HillClimber::record`]), so the miniature caches see the requests in the order the
//! cache does (fed from the shards' read buffers instead, a miniature LRU scored 52 % on a
//! loop where LRU scores 0).
//!
//! The window starts at Caffeine's 1 %: while the cache fills, every share hits alike and the
//! window stays, so a scan at the start does not flush the first hot keys. Cost: a sampled
//! access runs through six miniature caches. A cache of more than 16k entries samples about
//! 2,048 entries' worth of its keys, one of 512 to 16k entries an eighth, a smaller one
//! enough keys for 64 entries (all of them at 64 entries or fewer); a weighted cache samples
//! a sixteenth. BENCHMARKS.md gives the instructions per hit.
//!
//! What the simulation does not see: removals (an invalidated or expired key's next write
//! counts as a hit in a miniature cache that still holds it), and weight changes of an
//! entry written over. Both move every candidate alike, unless lifespans are short next to
//! the time keys stay cached.

use crate::sync::{AtomicU64, Mutex, MutexGuard, Ordering::Relaxed};

use crate::memory::sketch::FrequencySketch;

use super::mini::Mini;

/// The window's share before the climber has decided anything (Caffeine's).
pub(crate) const INITIAL_WINDOW: f64 = 0.01;
/// The window shares simulated and chosen among: none (new entries duel at once: loops, and
/// frequency-heavy streams over small caches), Caffeine's 1 % (frequency-heavy streams),
/// steps up to 100 % (the window is then an LRU of the whole capacity, for recency-heavy
/// streams). Each costs one miniature cache.
const FRACTIONS: [f64; 6] = [0.0, INITIAL_WINDOW, 0.05, 0.2, 0.5, 1.0];
/// Index of [`INITIAL_WINDOW`] in [`FRACTIONS`].
const INITIAL: usize = 1;
/// The simulated capacity aimed at, in entries: the sample rate is this over the capacity
/// (the miniature-simulation paper measured caches of ~100 entries within a point or two of
/// the full ones; a larger sample tracks small differences better).
const MINI_ENTRIES: u64 = 2_048;
/// Largest share of the keys sampled (the cost of a sampled access is one access to each
/// miniature cache), unless that leaves fewer than [`MIN_MINI_ENTRIES`] simulated.
const MAX_RATE: f64 = 1.0 / 8.0;
/// Fewest entries simulated: smaller caches sample more of their keys, up to all of them.
const MIN_MINI_ENTRIES: u64 = 64;
/// A weighted cache's entry count is unknown: it samples at this rate.
const WEIGHTED_RATE: f64 = 1.0 / 16.0;
/// Sampled accesses over which the evidence decays by [`DECAY`], at least (and at least the
/// simulated capacity).
const MIN_EPOCH: u64 = 512;
/// Sampled accesses between two looks at the evidence (a clear lead moves the window before
/// the epoch ends).
const LOOK_EVERY: u64 = 32;
/// A candidate replaces the current window when its lead in hits exceeds this many standard
/// deviations of the lead (McNemar: the square root of the requests where the two differ).
const SIGNIFICANCE: f64 = 3.0;
/// ... and this share of the requests counted (so a lead of a rounding error never moves
/// the window).
const MIN_LEAD: f64 = 0.002;
/// At each decision the counts are multiplied by this, so old phases fade.
const DECAY: f64 = 0.5;

/// Picks which keys are sampled: bits of the hash that neither the shard choice, the hash
/// tables nor the sketch use as such.
#[inline(always)]
pub(crate) fn sample_point(hash: u64) -> u64 {
    hash.rotate_left(23).wrapping_mul(0xd6e8_feb8_6659_fd93) >> 40
}

/// `sample_point` ranges over `0..SAMPLE_SPACE`.
const SAMPLE_SPACE: u64 = 1 << 24;

/// The window sizing of one store, shared by its shards (see the module docs).
pub(crate) struct HillClimber {
    /// A key is simulated when `sample_point(hash) < threshold`.
    threshold: u64,
    /// The window's share of the capacity, as `f64` bits.
    fraction: AtomicU64,
    state: Mutex<Shadows>,
}

impl HillClimber {
    /// The climber of a store of `capacity` weight units (`weighted`: entries have weights,
    /// so their count is unknown).
    pub(crate) fn new(capacity: u64, weighted: bool, doorkeeper: bool) -> Self {
        let rate = if weighted {
            WEIGHTED_RATE
        } else {
            let capacity = capacity.max(1) as f64;
            (MINI_ENTRIES as f64 / capacity)
                .min(MAX_RATE)
                .max(MIN_MINI_ENTRIES as f64 / capacity)
                .min(1.0)
        };
        let threshold = ((rate * SAMPLE_SPACE as f64).ceil() as u64).clamp(1, SAMPLE_SPACE);
        let rate = threshold as f64 / SAMPLE_SPACE as f64;
        let mini = ((capacity as f64 * rate).round() as u64).max(1);
        HillClimber {
            threshold,
            fraction: AtomicU64::new(INITIAL_WINDOW.to_bits()),
            state: Mutex::new(Shadows::new(mini, weighted, doorkeeper)),
        }
    }

    /// The window's current share of the capacity.
    #[inline]
    pub(crate) fn fraction(&self) -> f64 {
        f64::from_bits(self.fraction.load(Relaxed))
    }

    /// Accesses to keys with a [`sample_point`] below this are simulated.
    pub(crate) fn sample_below(&self) -> u64 {
        self.threshold
    }

    /// Whether accesses to the key with `hash` are simulated.
    #[cfg(test)]
    fn samples(&self, hash: u64) -> bool {
        sample_point(hash) < self.threshold
    }

    /// Runs a hit on a sampled key through the miniature caches, unless another thread holds
    /// the climber: then the sample is dropped, as a full read buffer drops a hit for the real
    /// policy, and no reader waits for the climber.
    pub(crate) fn try_record(&self, hash: u64) {
        if let Some(state) = self.state.try_lock() {
            self.run(state, hash, 0);
        }
    }

    /// Runs a write of a sampled key (an entry of `weight`) through the miniature caches,
    /// waiting for the climber if it is busy: the real cache never drops a write, and a
    /// simulation that missed some would see fewer distinct keys than the cache does (on a
    /// loop slightly larger than the capacity, the large windows would score hits LRU cannot).
    /// The climber takes no other lock while it is held.
    pub(crate) fn record_write(&self, hash: u64, weight: u32) {
        self.run(self.state.lock(), hash, weight);
    }

    fn run(&self, mut state: MutexGuard<'_, Shadows>, hash: u64, weight: u32) {
        if let Some(fraction) = state.access(hash, weight) {
            self.fraction.store(fraction.to_bits(), Relaxed);
        }
    }
}

/// The miniature caches, one per window share in [`FRACTIONS`], and the evidence gathered
/// for each against the share in use.
pub(crate) struct Shadows {
    minis: Vec<Mini>,
    /// The sampled stream's frequencies, which every miniature cache's duels read.
    sketch: FrequencySketch,
    /// Entries have weights: the sketch and the epoch follow the entry count.
    weighted: bool,
    /// Index in [`FRACTIONS`] of the share the store uses.
    current: usize,
    /// Per candidate, its hits minus the current one's (decayed).
    lead: [f64; FRACTIONS.len()],
    /// Per candidate, the requests where it and the current one differ (decayed).
    differ: [f64; FRACTIONS.len()],
    /// Requests counted (decayed).
    counted: f64,
    /// Sampled accesses since the last decision, and between two.
    since: u64,
    epoch: u64,
}

impl Shadows {
    /// Miniature caches of `capacity` weight units (`weighted`: entries have weights, so the
    /// capacity says nothing of their count, and the sketch grows with the entries held).
    pub(crate) fn new(capacity: u64, weighted: bool, doorkeeper: bool) -> Self {
        let entries = if weighted {
            0
        } else {
            capacity.min(1 << 20) as usize
        };
        Shadows {
            minis: FRACTIONS.iter().map(|&f| Mini::new(capacity, f)).collect(),
            sketch: FrequencySketch::new(entries, doorkeeper),
            weighted,
            current: INITIAL,
            lead: [0.0; FRACTIONS.len()],
            differ: [0.0; FRACTIONS.len()],
            counted: 0.0,
            since: 0,
            epoch: (entries as u64).max(MIN_EPOCH),
        }
    }

    /// One sampled access; the new window share when it decided to move.
    pub(crate) fn access(&mut self, hash: u64, weight: u32) -> Option<f64> {
        let mut hits = [false; FRACTIONS.len()];
        self.sketch.increment(hash);
        for (hit, mini) in hits.iter_mut().zip(&mut self.minis) {
            *hit = mini.access(&self.sketch, hash, weight);
        }
        let base = i32::from(hits[self.current]);
        for (k, &hit) in hits.iter().enumerate() {
            let d = i32::from(hit) - base;
            self.lead[k] += f64::from(d);
            self.differ[k] += f64::from(d.abs());
        }
        self.counted += 1.0;
        self.since += 1;
        if !self.since.is_multiple_of(LOOK_EVERY) {
            return None;
        }
        if self.weighted {
            let held = self.minis.iter().map(Mini::len).max().unwrap_or(0);
            self.sketch.ensure_capacity(held);
            self.epoch = (held as u64).max(MIN_EPOCH);
        }
        let moved = self.decide();
        if moved.is_none() && self.since >= self.epoch {
            self.since = 0;
            for x in self.lead.iter_mut().chain(&mut self.differ) {
                *x *= DECAY;
            }
            self.counted *= DECAY;
        }
        moved
    }

    /// Moves to the candidate with the largest lead if that lead is significant.
    fn decide(&mut self) -> Option<f64> {
        let mut best = self.current;
        for k in 0..FRACTIONS.len() {
            if self.lead[k] > self.lead[best] {
                best = k;
            }
        }
        let lead = self.lead[best];
        if best != self.current
            && lead > SIGNIFICANCE * self.differ[best].sqrt()
            && lead > MIN_LEAD * self.counted
        {
            self.current = best;
            self.lead = [0.0; FRACTIONS.len()];
            self.differ = [0.0; FRACTIONS.len()];
            self.counted = 0.0;
            self.since = 0;
            return Some(FRACTIONS[best]);
        }
        None
    }

    /// The share in use.
    #[cfg(test)]
    fn fraction(&self) -> f64 {
        FRACTIONS[self.current]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// xorshift64*: deterministic test streams.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        /// A key of a Zipf(1)-like stream over `1..=n` (log-uniform).
        fn skewed(&mut self, n: u64) -> u64 {
            let u = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
            ((n as f64).powf(u) as u64).max(1)
        }
    }

    /// Recency-heavy: every 4th request a new key, the others one of the last `span` new ones.
    fn recency(rng: &mut Rng, i: u64, span: u64) -> u64 {
        let newest = i / 4;
        if i.is_multiple_of(4) {
            newest
        } else {
            newest.saturating_sub(rng.next() % span)
        }
    }

    /// A key's hash as the store would give it (the simulation sees hashes only).
    fn h(key: u64) -> u64 {
        key.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5555
    }

    #[test]
    fn the_window_stays_small_on_a_frequency_heavy_stream() {
        let mut s = Shadows::new(500, false, false);
        let mut rng = Rng(7);
        for _ in 0..400_000 {
            s.access(h(rng.skewed(20_000)), 1);
        }
        assert!(s.fraction() <= 0.05, "window {}", s.fraction());
    }

    #[test]
    fn the_window_grows_on_a_recency_heavy_stream_once_it_matters() {
        let mut s = Shadows::new(500, false, false);
        let mut rng = Rng(8);
        let mut moved_at = None;
        for i in 0..200_000 {
            if s.access(h(recency(&mut rng, i, 250)), 1).is_some() && moved_at.is_none() {
                moved_at = Some(i);
            }
        }
        assert!(s.fraction() >= 0.5, "window {}", s.fraction());
        // While the caches fill, every window hits alike: no move before the first eviction
        // (the old climber drifted to its smallest window then).
        let moved_at = moved_at.expect("moved");
        assert!(moved_at >= 4 * 500, "moved at {moved_at}");
        assert!(moved_at <= 20 * 500, "moved at {moved_at}");
    }

    #[test]
    fn the_window_follows_phase_changes() {
        let mut s = Shadows::new(500, false, false);
        let mut rng = Rng(9);
        let mut at_phase_end = Vec::new();
        for phase in 0..4u64 {
            for i in 0..150_000 {
                let key = if phase % 2 == 0 {
                    rng.skewed(20_000)
                } else {
                    1 << 40 | recency(&mut rng, phase * 150_000 + i, 250)
                };
                s.access(h(key), 1);
            }
            at_phase_end.push(s.fraction());
        }
        assert!(at_phase_end[0] <= 0.05, "{at_phase_end:?}");
        assert!(at_phase_end[1] >= 0.5, "{at_phase_end:?}");
        assert!(at_phase_end[2] <= 0.05, "{at_phase_end:?}");
        assert!(at_phase_end[3] >= 0.5, "{at_phase_end:?}");
    }

    #[test]
    fn noise_does_not_move_the_window() {
        // Uniform over far more keys than fit: every window hits about alike.
        let mut s = Shadows::new(500, false, false);
        let mut rng = Rng(10);
        let mut moves = 0;
        for _ in 0..500_000 {
            if s.access(h(rng.next() % 50_000), 1).is_some() {
                moves += 1;
            }
        }
        assert!(moves <= 1, "{moves} moves");
    }

    #[test]
    fn the_sample_rate_keeps_the_simulation_small_and_large_enough() {
        let sampled = |c: &HillClimber| (0..100_000u64).filter(|&k| c.samples(h(k))).count();
        // Large: ~2,048 entries' worth of keys.
        let c = HillClimber::new(1_000_000, false, false);
        let n = sampled(&c);
        assert!((150..260).contains(&n), "{n} of 100k sampled");
        // Medium: an eighth.
        let n = sampled(&HillClimber::new(10_000, false, false));
        assert!((12_000..13_000).contains(&n), "{n}");
        // Small: all keys, so the simulation has 64 entries.
        let n = sampled(&HillClimber::new(64, false, false));
        assert_eq!(n, 100_000);
    }
}
