//! Table 5, the window sizing's workloads (issue 16): synthetic streams that reproduce the
//! three ways W-TinyLFU's old sequential hill climber was seen to lose to LRU on real traces
//! (its samples of 10 × capacity requests, its drift to the small window without evidence,
//! its reading of phase changes as window effects), each run over the caches of table 3:
//! - `phases`: a frequency-heavy stream (Zipf(1.0) over 10k keys) and a recency-heavy one
//!   (every 4th lookup a new key, the others one of the last `capacity / 2` new keys)
//!   alternating every 200 × capacity lookups — per-sample hit rates swing with the phase,
//!   not with the window;
//! - `recency-100k`: the recency-heavy stream over a cache of 100k for 50 × capacity lookups
//!   — long, but each of the old climber's samples was 10 × capacity;
//! - `short-100k`: the same over 10 × capacity lookups — shorter than the old climber's first
//!   decisions, and the cache fills only after 4 × capacity;
//! - `zipf-short-100k`: Zipf(1.0) over 1M keys, 10 × capacity lookups at 100k — frequency-heavy
//!   and short: the small window is right here, and must stay.

use crate::report::Row;

use super::ratio::{hit_ratios, recency_keys as recency, zipf_keys as zipf};

/// Alternates `phase` lookups of Zipf(1.0) over 10k keys with `phase` of the recency stream
/// (over keys from 10^9 up, never the Zipf's), `lookups` in all.
fn phases(capacity: usize, phase: usize, lookups: usize) -> impl Iterator<Item = u64> {
    let mut frequent = zipf(10_000, 1.0, usize::MAX, 11);
    let mut recent = recency(capacity, usize::MAX, 1_000_000_000, 12);
    (0..lookups).map(move |i| {
        let next = if (i / phase).is_multiple_of(2) {
            frequent.next()
        } else {
            recent.next()
        };
        next.expect("endless")
    })
}

/// One workload of table 5.
struct Workload {
    name: &'static str,
    capacity: usize,
    lookups: usize,
}

/// The workloads, with lookups divided by `scale` (`--quick`).
fn workloads(scale: usize) -> Vec<Workload> {
    let w = |name, capacity: usize, times: usize| Workload {
        name,
        capacity,
        lookups: capacity * times / scale,
    };
    vec![
        w("phases", 1_000, 2_000),
        w("recency-100k", 100_000, 50),
        w("short-100k", 100_000, 10),
        w("zipf-short-100k", 100_000, 10),
    ]
}

/// Runs every workload: one row per workload and cache (`hit_ratio`).
pub fn climber_table(scale: usize) -> Vec<Row> {
    let mut rows = Vec::new();
    for w in workloads(scale) {
        eprintln!(
            "policy: table 5, {} ({} lookups, capacity {})",
            w.name, w.lookups, w.capacity
        );
        let ratios = match w.name {
            "phases" => hit_ratios(
                w.capacity,
                phases(w.capacity, 200 * w.capacity / scale, w.lookups),
            ),
            "zipf-short-100k" => hit_ratios(w.capacity, zipf(1_000_000, 1.0, w.lookups, 13)),
            _ => hit_ratios(w.capacity, recency(w.capacity, w.lookups, 0, 14)),
        };
        for (imp, ratio) in ratios {
            rows.push(
                Row::new("climber", &imp)
                    .field("workload", w.name)
                    .field("capacity", w.capacity as u64)
                    .field("lookups", w.lookups as u64)
                    .field("hit_ratio", ratio),
            );
        }
    }
    rows
}
