//! The dog-piling scenario on paused time: memocache makes the predicted number of backend
//! calls (at most one more), the naive cache one per concurrent request at each expiry.

use memocache_bench::dogpile::{run, Params};

#[tokio::test(start_paused = true)]
async fn dogpile_memocache_matches_prediction_and_naive_piles_up() {
    let p = Params::default();
    let rows = run(p).await;
    let calls = |i: usize| {
        rows[i]
            .get("loader_calls")
            .and_then(|v| v.as_u64())
            .unwrap()
    };
    assert_eq!(p.predicted(), 17);
    let memo = calls(0);
    assert!((17..=18).contains(&memo), "memocache made {memo} calls");
    assert_eq!(calls(1), 85, "naive: 17 expiries x 5 concurrent misses");
}
