//! `memocache-bench trace --quick --json --rows redis` against the real Redis of DEVELOPERS.md
//! (`MEMOCACHE_REDIS_URL`, default redis://127.0.0.1:6379), at 1,000 workers: every row loads
//! each distinct key once; with a memory tier holding every key, the cache reads Redis exactly
//! once per distinct key; the server counted at least the GETs the cache made; the row's
//! namespace is gone afterwards. A loud SKIP when no server answers, a failure under `CI`.

mod common;

use common::run_runner;
use memocache::redis::redis::{self, Commands};
use serde_json::Value;

/// Keys left in the runner's namespaces (`memocache-bench:*`).
fn leftover_keys(url: &str) -> usize {
    let mut con = redis::Client::open(url)
        .and_then(|c| c.get_connection())
        .expect("Redis answered the runner, so it answers here");
    let keys: Vec<String> = con.scan_match("memocache-bench:*").expect("SCAN").collect();
    keys.len()
}

#[test]
fn quick_trace_redis_rows_read_redis_once_per_key_with_an_unbounded_memory_tier() {
    let url =
        std::env::var("MEMOCACHE_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let (rows, _tables) = run_runner(&[
        "trace",
        "--quick",
        "--json",
        "--rows",
        "redis",
        "--workers",
        "1000",
        "--redis",
        &url,
    ]);
    let trace: Vec<&Value> = rows.iter().filter(|r| r["scenario"] == "trace").collect();
    assert_eq!(trace.len(), 3, "three Redis rows: {rows:?}");
    if let Some(why) = trace[0]["skipped"].as_str() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set and the Redis rows were skipped: {why}"
        );
        eprintln!("SKIP quick_trace_redis_rows_read_redis_once_per_key_with_an_unbounded_memory_tier: {why}");
        return;
    }
    let floor = |imp: &str| {
        rows.iter()
            .find(|r| r["scenario"] == "trace-floor" && r["impl"] == imp)
            .and_then(|r| r["misses"].as_u64())
            .unwrap_or_else(|| panic!("no {imp} floor: {rows:?}"))
    };
    let belady = floor("belady");
    assert!(belady <= floor("lru"));
    assert!(belady <= floor("lru-update"));
    assert!(belady <= floor("memocache-lru-update (replay)"));
    assert!(belady <= floor("memocache-wtinylfu (replay)"));
    for r in &trace {
        assert!(r.get("skipped").is_none(), "{r}");
        let distinct = r["distinct_keys"].as_u64().expect("distinct_keys");
        assert_eq!(r["loader_calls"].as_u64(), Some(distinct), "{r}");
        assert_eq!(r["tier_errors"], 0, "{r}");
        let reads = r["tier_reads"].as_u64().expect("tier_reads");
        assert!(
            reads >= distinct,
            "every key is read from Redis at least once: {r}"
        );
        // Concurrent reads go out together as one MGET (auto-pipelining): the server runs
        // at least one command, and never more than one per read.
        let commands = r["redis_get"].as_u64().expect("redis_get")
            + r["redis_mget"].as_u64().expect("redis_mget");
        assert!(
            (1..=reads).contains(&commands),
            "server GET + MGET within 1..=reads: {r}"
        );
    }
    let unbounded = trace
        .iter()
        .find(|r| r["impl"] == "memocache-unbounded+redis")
        .expect("the unbounded row");
    assert_eq!(
        unbounded["tier_reads"], unbounded["distinct_keys"],
        "{unbounded}"
    );
    let bounded = trace
        .iter()
        .find(|r| r["impl"] == "memocache-memory+redis")
        .expect("the 3,000-entry row");
    assert!(
        bounded["tier_reads"].as_u64() >= Some(belady),
        "no policy beats Bélády: {bounded}"
    );
    assert_eq!(leftover_keys(&url), 0, "each row clears its namespace");
}
