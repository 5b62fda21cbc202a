//! Issue 16's shard-sizing question: a cache's capacity is split over shards, each evicting on
//! its own once its share is full, so a small cache may evict before it is full. This prints,
//! per capacity, how full an LRU cache is at its first eviction (mean of 5 hash seeds) and its
//! hit ratio on a Zipf(1.01) trace of 400k requests against exact (unsharded) LRU's.
//!
//! ```sh
//! cargo run --release -p memocache-bench --example shard_fill
//! ```
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use memocache::{Cache, EvictionPolicy, RemovalCause};
use memocache_bench::floor::lru_misses;
use memocache_bench::policy::ready;
use memocache_bench::zipf::{KeyStream, Zipf};

fn main() {
    let z = Zipf::new(1.01, 1.0, 100_000).unwrap();
    let trace = KeyStream::generate(&z, 400_000, 42);
    let keys: Vec<u64> = trace.keys.clone();
    for cap in [64usize, 128, 256, 512, 1000, 4096, 10_000] {
        let mut fills = Vec::new();
        for seed in 0..5u64 {
            let evicted = Arc::new(AtomicBool::new(false));
            let e = evicted.clone();
            let c: Cache<u64, u64> = Cache::builder()
                .capacity(cap)
                .eviction_policy(EvictionPolicy::Lru)
                .hasher_seed(seed)
                .eviction_listener(move |_, _, cause| {
                    if cause == RemovalCause::Size {
                        e.store(true, Ordering::SeqCst)
                    }
                })
                .build()
                .unwrap();
            let mut k = 0u64;
            while !evicted.load(Ordering::SeqCst) {
                ready(c.insert(k, k));
                k += 1;
            }
            fills.push((c.len() as f64 - 0.0) / cap as f64);
        }
        let mean = fills.iter().sum::<f64>() / fills.len() as f64;
        let c: Cache<u64, u64> = Cache::builder()
            .capacity(cap)
            .eviction_policy(EvictionPolicy::Lru)
            .hasher_seed(1)
            .build()
            .unwrap();
        let mut misses = 0u64;
        for &k in &keys {
            if ready(c.get(&k)).is_none() {
                misses += 1;
                ready(c.insert(k, k));
            }
        }
        let exact = lru_misses(&keys, cap);
        let n = keys.len() as f64;
        println!("cap {cap:>6}: fill at first eviction {:.3}; LRU hit ratio sharded {:.4} exact {:.4} (diff {:+.2} pt)", mean, 1.0 - misses as f64 / n, 1.0 - exact as f64 / n, 100.0 * (exact as f64 - misses as f64) / n);
    }
}
