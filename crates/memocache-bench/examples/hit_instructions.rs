//! The hit path, for an instruction count: fills a cache with 100k keys, then does `ops`
//! `get` hits (or get-or-load hits) in a shuffled order. Run it under callgrind twice, with
//! `ops` = N and 0; the difference of the two totals over N is the instructions per hit
//! (setup cancels out), a figure the shared host's noise does not move.
//!
//! ```sh
//! cargo build --release -p memocache-bench --example hit_instructions
//! for ops in 0 1000000; do
//!   valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/examples/hit_instructions lru-update get $ops 2>&1 | grep refs
//! done
//! ```
//!
//! Policies: `lru-update` (default, 1 h TTL), `lru-update-no-expiry`, `lru`, `wtinylfu`,
//! `quick_cache` (the anchor, no expiry); calls: `get`, `get_or_load`.

use std::hint::black_box;
use std::time::Duration;

use memocache::{Cache, EvictionPolicy};
use memocache_bench::policy::ready;

const KEYS: u64 = 100_000;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (policy, call, ops) = match &args[1..] {
        [p, c, n] => (p.as_str(), c.as_str(), n.parse::<u64>().expect("ops")),
        _ => panic!("usage: hit_instructions <policy> <get|get_or_load> <ops>"),
    };
    // A fixed permutation of the keys (an LCG over 2^17 > KEYS, skipping the gaps).
    let order: Vec<u64> = (0..1u64 << 17)
        .map(|i| (i.wrapping_mul(0x9e37_79b9) + 12_345) & ((1 << 17) - 1))
        .filter(|&k| k < KEYS)
        .collect();
    if policy == "quick_cache" {
        let q: quick_cache::sync::Cache<u64, u64> =
            quick_cache::sync::Cache::new(2 * KEYS as usize);
        for k in 0..KEYS {
            q.insert(k, k);
        }
        for i in 0..ops {
            let k = order[(i % KEYS) as usize];
            black_box(q.get(&k));
        }
        return;
    }
    let hour = Duration::from_secs(3_600);
    let (policy, ttl) = match policy {
        "lru-update" => (EvictionPolicy::LeastRecentlyUpdated, hour),
        "lru-update-no-expiry" => (EvictionPolicy::LeastRecentlyUpdated, Duration::MAX),
        "lru" => (EvictionPolicy::Lru, hour),
        "wtinylfu" => (EvictionPolicy::W_TINY_LFU, hour),
        other => panic!("unknown policy {other}"),
    };
    let c: Cache<u64, u64> = Cache::builder()
        .capacity(2 * KEYS as usize)
        .eviction_policy(policy)
        .update_after(ttl)
        .expire_after(ttl)
        .hasher_seed(1) // the same shard layout in every run: counts repeat exactly
        .build()
        .expect("valid options");
    for k in 0..KEYS {
        ready(c.insert(k, k));
    }
    for i in 0..ops {
        let k = order[(i % KEYS) as usize];
        match call {
            "get" => black_box(ready(c.get(&k))),
            _ => black_box(ready(c.get_or_load(k, move || async move { Ok::<u64, ()>(k) })).ok()),
        };
    }
}
