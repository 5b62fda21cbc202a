//! The dog-piling scenario. On paused time: memocache makes the predicted number of backend
//! calls (at most one more) and only the first batch waits for a load (stale-while-revalidate);
//! the naive cache makes one call per concurrent request at each expiry, and all of them wait.
//! In real time (moka reads its own clock): moka coalesces (one call per expiry) but every
//! caller of an expiring batch waits.

use memocache_bench::dogpile::{run, Params};
use memocache_bench::report::Row;

fn num(rows: &[Row], imp: &str, field: &str) -> u64 {
    let row = rows
        .iter()
        .find(|r| r.get("impl").and_then(|v| v.as_str()) == Some(imp))
        .unwrap_or_else(|| panic!("no {imp} row"));
    row.get(field)
        .and_then(|v| v.as_u64())
        .unwrap_or_else(|| panic!("{imp}: no {field}"))
}

#[tokio::test(start_paused = true)]
async fn dogpile_memocache_matches_prediction_and_naive_piles_up() {
    let p = Params::default();
    let rows = run(p).await;
    assert_eq!(p.predicted(), 17);
    let memo = num(&rows, "memocache", "loader_calls");
    assert!((17..=18).contains(&memo), "memocache made {memo} calls");
    assert_eq!(
        num(&rows, "memocache", "waited"),
        5,
        "only the first batch waits"
    );
    assert_eq!(
        num(&rows, "memocache", "warm_p99_us"),
        0,
        "no warm request waits"
    );
    assert_eq!(
        num(&rows, "memocache", "p99_us"),
        10_000,
        "p99 is the first batch's load"
    );
    assert_eq!(
        num(&rows, "naive", "loader_calls"),
        85,
        "17 expiries x 5 concurrent misses"
    );
    assert_eq!(num(&rows, "naive", "waited"), 85);
    assert_eq!(num(&rows, "naive", "warm_p99_us"), 10_000);
    for imp in ["memocache", "naive", "moka"] {
        assert_eq!(num(&rows, imp, "requests"), 250);
        assert_eq!(num(&rows, imp, "predicted"), 17);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dogpile_moka_coalesces_but_every_expiry_blocks_its_batch() {
    let p = Params::default();
    let rows = run(p).await;
    let calls = num(&rows, "moka", "loader_calls");
    // One load per expiry; the 200 ms TTL expires every third 70 ms batch (give or take a
    // batch when the machine is loaded).
    assert!((14..=20).contains(&calls), "moka made {calls} calls");
    // Each load is awaited by all 5 concurrent callers of its batch.
    assert_eq!(num(&rows, "moka", "waited"), 5 * calls);
    let memo_waited = num(&rows, "memocache", "waited");
    assert!(
        memo_waited <= 10,
        "memocache: {memo_waited} requests waited"
    );
}
