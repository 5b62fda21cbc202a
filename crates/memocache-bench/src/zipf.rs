//! The key generator of cacheme's benchmarks (`benchmarks/zipf.py`): a Zipf distribution over
//! `0..=imax` with exponent `s` and offset `v`, P(k) ∝ (v + k)^(-s), sampled by Hörmann and
//! Derflinger's rejection-inversion ("Rejection-inversion to generate variates from monotone
//! discrete distributions", ACM TOMACS 6(3), 1996), the same algorithm as Go's `rand.Zipf` and
//! Apache Commons' `ZipfDistribution` sampler.
//!
//! Written here rather than taken from `rand_distr`, whose `Zipf` has no offset `v` and so cannot
//! reproduce cacheme's key stream (`Zipf(s = 1.001, v = 10, imax = 200,000)` gives about 55.5k
//! distinct keys in 200,000 draws). Seeded with ChaCha8, so a seed gives the same keys on every
//! machine and build.

use std::collections::HashSet;
use std::fmt;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Invalid Zipf parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InvalidZipf {
    /// The exponent given (must be > 1).
    pub s: f64,
    /// The offset given (must be ≥ 1).
    pub v: f64,
}

impl fmt::Display for InvalidZipf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid Zipf parameters s = {}, v = {}: need s > 1 and v >= 1",
            self.s, self.v
        )
    }
}

impl std::error::Error for InvalidZipf {}

/// A Zipf distribution over `0..=imax`: P(k) ∝ (v + k)^(-s).
#[derive(Debug, Clone, Copy)]
pub struct Zipf {
    v: f64,
    q: f64,
    one_minus_q: f64,
    one_minus_q_inv: f64,
    hxm: f64,
    hx0_minus_hxm: f64,
    /// Squeeze bound: a candidate `k` with `k - x <= s` is accepted without evaluating `h`.
    squeeze: f64,
}

impl Zipf {
    /// The distribution with exponent `s > 1`, offset `v >= 1`, over `0..=imax`.
    ///
    /// ```
    /// let z = memocache_bench::zipf::Zipf::new(1.001, 10.0, 200_000).unwrap();
    /// # let _ = z;
    /// assert!(memocache_bench::zipf::Zipf::new(1.0, 10.0, 10).is_err());
    /// ```
    pub fn new(s: f64, v: f64, imax: u64) -> Result<Self, InvalidZipf> {
        // NaN fails both comparisons, hence the negated form.
        if !(s > 1.0 && v >= 1.0) {
            return Err(InvalidZipf { s, v });
        }
        let mut z = Zipf {
            v,
            q: s,
            one_minus_q: 1.0 - s,
            one_minus_q_inv: 1.0 / (1.0 - s),
            hxm: 0.0,
            hx0_minus_hxm: 0.0,
            squeeze: 0.0,
        };
        z.hxm = z.h(imax as f64 + 0.5);
        z.hx0_minus_hxm = z.h(0.5) - (v.ln() * -s).exp() - z.hxm;
        z.squeeze = 1.0 - z.h_inv(z.h(1.5) - (-s * (v + 1.0).ln()).exp());
        Ok(z)
    }

    /// H(x) = (v + x)^(1 - q) / (1 - q), an antiderivative of the (continuous) hat function.
    fn h(&self, x: f64) -> f64 {
        (self.one_minus_q * (self.v + x).ln()).exp() * self.one_minus_q_inv
    }

    /// The inverse of [`h`](Self::h).
    fn h_inv(&self, x: f64) -> f64 {
        (self.one_minus_q_inv * (self.one_minus_q * x).ln()).exp() - self.v
    }

    /// One draw.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> u64 {
        loop {
            let r: f64 = rng.random();
            let ur = self.hxm + r * self.hx0_minus_hxm;
            let x = self.h_inv(ur);
            let k = (x + 0.5).floor();
            if k - x <= self.squeeze || ur >= self.h(k + 0.5) - (-(k + self.v).ln() * self.q).exp()
            {
                return k as u64;
            }
        }
    }
}

/// A seeded key sequence: `n` draws of `Zipf(s, v, imax)`.
#[derive(Debug, Clone)]
pub struct KeyStream {
    /// The keys, in request order.
    pub keys: Vec<u64>,
    /// How many distinct keys they contain.
    pub distinct: usize,
}

impl KeyStream {
    /// Draws `n` keys from `Zipf(s, v, imax)` with a ChaCha8 generator seeded with `seed`.
    pub fn generate(z: &Zipf, n: usize, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let keys: Vec<u64> = (0..n).map(|_| z.sample(&mut rng)).collect();
        let distinct = keys.iter().collect::<HashSet<_>>().len();
        KeyStream { keys, distinct }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_stay_in_range_and_favour_small_keys() {
        let z = Zipf::new(1.1, 1.0, 100).unwrap();
        let ks = KeyStream::generate(&z, 100_000, 7);
        assert!(ks.keys.iter().all(|&k| k <= 100));
        let zeros = ks.keys.iter().filter(|&&k| k == 0).count();
        let fifties = ks.keys.iter().filter(|&&k| k == 50).count();
        // P(0) / P(50) = 51^1.1 ≈ 75.
        let ratio = zeros as f64 / fifties.max(1) as f64;
        assert!((50.0..110.0).contains(&ratio), "P(0)/P(50) = {ratio}");
    }

    #[test]
    fn same_seed_same_keys() {
        let z = Zipf::new(1.001, 10.0, 1000).unwrap();
        assert_eq!(
            KeyStream::generate(&z, 1000, 3).keys,
            KeyStream::generate(&z, 1000, 3).keys
        );
        assert_ne!(
            KeyStream::generate(&z, 1000, 3).keys,
            KeyStream::generate(&z, 1000, 4).keys
        );
    }

    #[test]
    fn rejects_invalid_parameters() {
        assert!(Zipf::new(1.0, 10.0, 10).is_err());
        assert!(Zipf::new(1.5, 0.5, 10).is_err());
        assert!(Zipf::new(f64::NAN, 10.0, 10).is_err());
    }
}
