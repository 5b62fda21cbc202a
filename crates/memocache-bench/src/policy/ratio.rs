//! Table 3, hit ratio: TinyUFO's grid settings ([`ITEMS`], [`LOOKUPS`], [`EXPONENTS`],
//! [`SIZES`]), the key streams ([`Variant`]), the caches compared (those of tables 1 and 2
//! less `cached`, the `Mutex<HashMap>` and the no-expiry row, plus [`LruUpdateExact`]) and
//! one cell of the grid ([`hit_ratio_cell`]).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Zipf};

use crate::report::Row;

use super::numbers::round4;
use super::{all_subjects, LruUpdateExact, Subject, LRU_UPDATE_EXACT, NO_EXPIRY};

/// TinyUFO's `bench_hit_ratio` settings.
pub const ITEMS: u64 = 10_000;
/// Lookups per cell.
pub const LOOKUPS: usize = 5_000_000;
/// Zipf exponents of the grid.
pub const EXPONENTS: [f64; 5] = [0.9, 1.0, 1.05, 1.1, 1.5];
/// Cache sizes of the grid, as shares of `ITEMS`.
pub const SIZES: [f64; 5] = [0.005, 0.01, 0.05, 0.1, 0.25];

/// A key stream of table 3.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Variant {
    /// `Zipf::new(10_000, s)`, TinyUFO's stream.
    Zipf(f64),
    /// The Zipf(1.0) stream, interrupted after every 45,000 lookups by a scan of 5,000
    /// sequential keys never seen before or again (10 % of the lookups; 2× the largest cache).
    Scan,
    /// A loop over `1.2 × capacity` distinct keys (LRU's worst case).
    Loop,
    /// Recency-biased: every fourth lookup is a new key, the others repeat one of the last
    /// `capacity / 2` keys (uniformly); no key is used after it leaves that window.
    ShortReuse,
}

impl Variant {
    fn scenario(self) -> &'static str {
        match self {
            Variant::Zipf(_) => "hit_ratio",
            Variant::Scan => "hit_ratio_scan",
            Variant::Loop => "hit_ratio_loop",
            Variant::ShortReuse => "hit_ratio_short_reuse",
        }
    }

    /// The key stream for a cache of `capacity` entries.
    pub fn keys(self, capacity: usize, lookups: usize) -> Box<dyn Iterator<Item = u64>> {
        match self {
            Variant::Zipf(s) => Box::new(zipf_keys(ITEMS, s, lookups, SEED)),
            Variant::Scan => {
                let mut rng = ChaCha8Rng::seed_from_u64(SEED);
                let zipf = Zipf::new(ITEMS as f64, 1.0).expect("valid Zipf");
                let mut fresh = 1_000_000_000u64;
                Box::new((0..lookups).map(move |i| {
                    if i % 50_000 >= 45_000 {
                        fresh += 1;
                        fresh
                    } else {
                        zipf.sample(&mut rng) as u64
                    }
                }))
            }
            Variant::Loop => {
                let n = ((capacity as f64 * 1.2).round() as u64).max(2);
                Box::new((0..lookups as u64).map(move |i| i % n))
            }
            Variant::ShortReuse => Box::new(recency_keys(capacity, lookups, 0, SEED)),
        }
    }
}

/// The seed of table 3's key streams.
const SEED: u64 = 7;

/// `lookups` draws of Zipf(`s`) over `items` keys, from a generator seeded with `seed`.
pub(super) fn zipf_keys(
    items: u64,
    s: f64,
    lookups: usize,
    seed: u64,
) -> impl Iterator<Item = u64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let zipf = Zipf::new(items as f64, s).expect("valid Zipf");
    (0..lookups).map(move |_| zipf.sample(&mut rng) as u64)
}

/// The recency-heavy stream for a cache of `capacity`: every fourth lookup a new key (from
/// `base` up), the others one of the last `capacity / 2` new keys, uniformly.
pub(super) fn recency_keys(
    capacity: usize,
    lookups: usize,
    base: u64,
    seed: u64,
) -> impl Iterator<Item = u64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let window = (capacity as u64 / 2).max(1);
    (0..lookups as u64).map(move |i| {
        let newest = i / 4;
        base + if i % 4 == 0 {
            newest
        } else {
            newest.saturating_sub(rng.random_range(0..window))
        }
    })
}

/// The caches of table 3, with `capacity`: those of tables 1 and 2 but `cached`, the
/// `Mutex<HashMap>` and the no-expiry row, plus [`LruUpdateExact`] right after
/// `memocache-lru-update`, the policy it is the single-list reference of.
fn ratio_subjects(capacity: usize) -> Vec<(String, Box<dyn Subject>)> {
    let mut out = Vec::new();
    for (name, s) in all_subjects(capacity) {
        if name == "cached" || name == "mutex-hashmap" || name == NO_EXPIRY {
            continue;
        }
        let anchor = name == "memocache-lru-update";
        out.push((name, s));
        if anchor {
            out.push((
                LRU_UPDATE_EXACT.into(),
                Box::new(LruUpdateExact::new(capacity)),
            ));
        }
    }
    out
}

/// Hit ratio of every cache of table 3 with `capacity` on `keys`, all fed the same key in the
/// same loop (a miss inserts it): `(impl, hit ratio)`.
pub fn hit_ratios(capacity: usize, keys: impl Iterator<Item = u64>) -> Vec<(String, f64)> {
    let subjects = ratio_subjects(capacity);
    let mut hits = vec![0u64; subjects.len()];
    let mut lookups = 0u64;
    for k in keys {
        lookups += 1;
        for (i, (_, s)) in subjects.iter().enumerate() {
            if s.get(k).is_some() {
                hits[i] += 1;
            } else {
                s.insert(k, k);
            }
        }
    }
    subjects
        .into_iter()
        .zip(hits)
        .map(|((name, _), h)| (name, round4(h as f64 / lookups.max(1) as f64)))
        .collect()
}

/// Hit ratio of every cache on one stream, all fed the same key in the same loop.
pub fn hit_ratio_cell(variant: Variant, size: f64, lookups: usize) -> Vec<Row> {
    let capacity = (size * ITEMS as f64).round() as usize;
    hit_ratios(capacity, variant.keys(capacity, lookups))
        .into_iter()
        .map(|(name, ratio)| {
            let mut row = Row::new(variant.scenario(), &name);
            if let Variant::Zipf(s) = variant {
                row = row.field("s", s);
            }
            row.field("size", size).field("hit_ratio", ratio)
        })
        .collect()
}
