//! Table 1, hit latency: one thread, every key resident, nanoseconds per `get` and per
//! get-or-load hit ([`hit_latency`]).

use std::hint::black_box;
use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::report::Row;

use super::all_subjects;
use super::numbers::{add_ratios, round1, round4};

/// A shuffled permutation of `0..n`.
fn shuffled(n: u64, seed: u64) -> Vec<u64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut keys: Vec<u64> = (0..n).collect();
    for i in (1..keys.len()).rev() {
        keys.swap(i, rng.random_range(0..=i));
    }
    keys
}

/// Nanoseconds per call of `op` over `keys`, cycling: the best of `reps` runs of `ops` calls.
fn ns_per_op(keys: &[u64], ops: usize, reps: usize, op: impl Fn(u64)) -> f64 {
    (0..reps)
        .map(|_| {
            let start = Instant::now();
            for i in 0..ops {
                op(keys[i % keys.len()]);
            }
            start.elapsed().as_nanos() as f64 / ops as f64
        })
        .fold(f64::INFINITY, f64::min)
}

/// Table 1: ns per hit, one thread, `resident` keys all present (capacity twice that, so no
/// sharded cache evicts any).
pub fn hit_latency(resident: u64, ops: usize) -> Vec<Row> {
    let keys = shuffled(resident, 1);
    let mut rows = Vec::new();
    for (name, s) in all_subjects(2 * resident as usize) {
        for &k in &keys {
            s.insert(k, k);
        }
        let hits = keys.iter().filter(|&&k| s.get(k) == Some(k)).count();
        let get = ns_per_op(&keys, ops, 3, |k| {
            black_box(s.get(black_box(k)));
        });
        let gol = ns_per_op(&keys, ops, 3, |k| {
            black_box(s.get_or_load(black_box(k)));
        });
        rows.push(
            Row::new("hit_latency", &name)
                .field("resident", resident)
                .field("hit_ratio", round4(hits as f64 / keys.len() as f64))
                .field("get_ns", round1(get))
                .field("get_or_load_ns", round1(gol)),
        );
    }
    add_ratios(&mut rows, &["get_ns", "get_or_load_ns"]);
    rows
}
