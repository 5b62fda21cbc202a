//! The key generator reproduces cacheme's trace workload: `Zipf(1.001, 10, 200,000)` over
//! 200,000 draws gives about 55.5k distinct keys (cacheme's published loader calls: 55,579 and
//! 55,632 at 1k workers), within 2%, for any seed.

use memocache_bench::zipf::{KeyStream, Zipf};

#[test]
fn cacheme_trace_parameters_give_55_5k_distinct_keys() {
    let z = Zipf::new(1.001, 10.0, 200_000).unwrap();
    for seed in [1, 2, 3] {
        let ks = KeyStream::generate(&z, 200_000, seed);
        assert_eq!(ks.keys.len(), 200_000);
        assert!(ks.keys.iter().all(|&k| k <= 200_000));
        let off = (ks.distinct as f64 - 55_500.0).abs() / 55_500.0;
        assert!(
            off <= 0.02,
            "seed {seed}: {} distinct keys, {:.1}% from 55.5k",
            ks.distinct,
            off * 100.0
        );
    }
}
