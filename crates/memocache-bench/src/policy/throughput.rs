//! Table 2, hit throughput: threads doing a `get`, then an `insert` on a miss, on Zipf(1.0)
//! keys; operations per second ([`throughput`]).

use std::sync::Barrier;
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Zipf};

use crate::report::Row;

use super::all_subjects;
use super::numbers::{add_ratios, round2, round4};

/// Table 2: `threads` threads, each `ops` operations (`get`, then `insert` on a miss) on keys
/// drawn from Zipf(1.0) over `keys` keys, capacity `capacity`; after an untimed warm-up pass.
pub fn throughput(threads: usize, keys: u64, capacity: usize, ops: usize) -> Vec<Row> {
    let zipf = Zipf::new(keys as f64, 1.0).expect("valid Zipf");
    let streams: Vec<Vec<u64>> = (0..threads)
        .map(|t| {
            let mut rng = ChaCha8Rng::seed_from_u64(100 + t as u64);
            (0..ops).map(|_| zipf.sample(&mut rng) as u64).collect()
        })
        .collect();
    let mut rows = Vec::new();
    for (name, s) in all_subjects(capacity) {
        let run = |timed: bool| -> (Duration, u64) {
            let barrier = Barrier::new(threads);
            let results: Vec<(Duration, u64)> = std::thread::scope(|scope| {
                let handles: Vec<_> = streams
                    .iter()
                    .map(|stream| {
                        let (s, barrier) = (&s, &barrier);
                        scope.spawn(move || {
                            let stream = if timed {
                                &stream[..]
                            } else {
                                &stream[..stream.len() / 4]
                            };
                            barrier.wait();
                            let start = Instant::now();
                            let mut hits = 0u64;
                            for &k in stream {
                                if s.get(k).is_some() {
                                    hits += 1;
                                } else {
                                    s.insert(k, k);
                                }
                            }
                            (start.elapsed(), hits)
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().expect("bench thread"))
                    .collect()
            });
            let wall = results.iter().map(|r| r.0).max().unwrap_or_default();
            (wall, results.iter().map(|r| r.1).sum())
        };
        run(false);
        let (wall, hits) = run(true);
        let total = (threads * ops) as f64;
        rows.push(
            Row::new("throughput", &name)
                .field("threads", threads as u64)
                .field("capacity", capacity as u64)
                .field("hit_ratio", round4(hits as f64 / total))
                .field("mops_per_s", round2(total / wall.as_secs_f64() / 1e6)),
        );
    }
    add_ratios(&mut rows, &["mops_per_s"]);
    rows
}
