//! Why moka leads W-TinyLFU by a few tenths of a point in the 0.5 % column of the hit-ratio
//! grid (a cache of 50 entries): moka applies its policy in batches, so between two batches
//! it holds and serves more entries than its capacity. This runs the grid's Zipf streams
//! (10k keys, 5M lookups, cap 50) through moka as the grid does, through moka with
//! `run_pending_tasks` after every insert (the policy applied at once, as memocache does),
//! and through memocache's W-TinyLFU.
//!
//! ```sh
//! cargo run --release -p memocache-bench --example moka_pending
//! ```
use memocache::{Cache, EvictionPolicy};
use memocache_bench::policy::ready;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Zipf};

const CAPACITY: u64 = 50;
const LOOKUPS: u64 = 5_000_000;

/// Hit ratio of `get` / `insert` (inserting on a miss) over the grid's stream for `s`.
fn ratio(s: f64, get: impl Fn(u64) -> bool, insert: impl Fn(u64)) -> f64 {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let zipf = Zipf::new(10_000.0, s).expect("valid Zipf");
    let mut hits = 0u64;
    for _ in 0..LOOKUPS {
        let k = zipf.sample(&mut rng) as u64;
        if get(k) {
            hits += 1;
        } else {
            insert(k);
        }
    }
    100.0 * hits as f64 / LOOKUPS as f64
}

fn main() {
    println!("s      moka   moka-applied-at-once   memocache-wtinylfu");
    for s in [0.9, 1.0, 1.05, 1.1, 1.5] {
        let lazy: moka::future::Cache<u64, u64> = moka::future::Cache::new(CAPACITY);
        let a = ratio(
            s,
            |k| ready(lazy.get(&k)).is_some(),
            |k| ready(lazy.insert(k, k)),
        );
        let eager: moka::future::Cache<u64, u64> = moka::future::Cache::new(CAPACITY);
        let b = ratio(
            s,
            |k| ready(eager.get(&k)).is_some(),
            |k| {
                ready(eager.insert(k, k));
                ready(eager.run_pending_tasks());
            },
        );
        let mc: Cache<u64, u64> = Cache::builder()
            .capacity(CAPACITY as usize)
            .eviction_policy(EvictionPolicy::W_TINY_LFU)
            .hasher_seed(1)
            .build()
            .expect("valid cache");
        let c = ratio(
            s,
            |k| ready(mc.get(&k)).is_some(),
            |k| ready(mc.insert(k, k)),
        );
        println!("{s:<5}  {a:.2}  {b:.2}                  {c:.2}");
    }
}
