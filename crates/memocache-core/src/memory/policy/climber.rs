//! W-TinyLFU's hill climber: how large the admission window should be.
//!
//! It probes: moves the window/main boundary by a step and keeps the move only if the next
//! sample's hit rate is better by more than the sampling noise, growing the step after a gain
//! and halving it otherwise, so recency-biased workloads get a large window within a few
//! samples and the window of a stationary frequency-biased one settles small and stays (see
//! [`ClimbState`]). One climber serves every shard of a store (so its samples are large and
//! the shards move together); the shards apply its share with `TinyLfu::set_window_fraction`.

use crate::sync::{AtomicU64, Mutex, Ordering::Relaxed};

/// The window's share before the climber has measured anything (Caffeine's).
pub(crate) const INITIAL_WINDOW: f64 = 0.01;
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
}
