//! `memocache-bench trace --quick --json` for the in-memory rows, run as a user would run the
//! binary: every row parses as JSON, and every cache made exactly one loader call per distinct
//! key requested (perfect single flight) at 1,000 and 10,000 workers.

mod common;

use common::run_runner;

#[test]
fn quick_trace_memory_rows_load_each_distinct_key_once() {
    let (rows, stderr) = run_runner(&[
        "trace",
        "--quick",
        "--json",
        "--rows",
        "memory",
        "--workers",
        "1000,10000",
    ]);
    let mut seen = Vec::new();
    for r in &rows {
        assert_eq!(r["scenario"], "trace", "{r}");
        let imp = r["impl"].as_str().expect("impl");
        let workers = r["workers"].as_u64().expect("workers");
        assert_eq!(r["requests"], 20_000, "--quick: 10x fewer requests: {r}");
        let distinct = r["distinct_keys"].as_u64().expect("distinct_keys");
        assert!((5_000..20_000).contains(&distinct), "{r}");
        assert_eq!(
            r["loader_calls"].as_u64(),
            Some(distinct),
            "{imp} x{workers}: {r}"
        );
        for f in ["wall_s", "cpu_s", "floor_s"] {
            assert!(r[f].as_f64().is_some_and(|x| x > 0.0), "{f}: {r}");
        }
        assert!(r["wall_s"].as_f64() >= r["floor_s"].as_f64(), "{r}");
        assert!(r["p99_us"].as_u64() >= r["p50_us"].as_u64(), "{r}");
        seen.push((imp.to_string(), workers));
    }
    for w in [1000, 10000] {
        for imp in ["memocache-memory", "moka", "quick_cache"] {
            assert!(
                seen.contains(&(imp.to_string(), w)),
                "no {imp} x{w} row: {rows:?}"
            );
        }
    }
    assert!(
        stderr.contains("memocache-memory"),
        "the table goes to stderr: {stderr}"
    );
}
