//! `memocache-bench trace --quick --json --rows sql` at 1,000 workers, against a new SQLite
//! file and the machine's PostgreSQL (`MEMOCACHE_POSTGRES_URL`, default
//! postgres://postgres@127.0.0.1:5432/test): every row loads each distinct key once, reads
//! its tier at least once per distinct key and writes it once per load (the statements the
//! store counted cover both), with no tier error; the SQLite file is gone afterwards. The
//! PostgreSQL row is a loud SKIP when no server answers, a failure under `CI`.

mod common;

use common::run_runner;
use serde_json::Value;

#[test]
fn quick_trace_sql_rows_load_each_key_once_and_count_their_statements() {
    let url = std::env::var("MEMOCACHE_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let files = || -> Vec<String> {
        std::fs::read_dir(std::env::temp_dir())
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.starts_with("memocache-bench-"))
            .collect()
    };
    let before = files();
    let (rows, _tables) = run_runner(&[
        "trace",
        "--quick",
        "--json",
        "--rows",
        "sql",
        "--workers",
        "1000",
        "--postgres",
        &url,
    ]);
    let trace: Vec<&Value> = rows.iter().filter(|r| r["scenario"] == "trace").collect();
    let names: Vec<&str> = trace.iter().map(|r| r["impl"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "memocache-sqlite",
            "memocache-memory+sqlite",
            "memocache-memory+postgres"
        ],
        "{rows:?}"
    );
    for r in &trace {
        if let Some(why) = r["skipped"].as_str() {
            assert_eq!(
                r["impl"], "memocache-memory+postgres",
                "SQLite needs no server: {r}"
            );
            assert!(
                std::env::var_os("CI").is_none(),
                "CI is set and the PostgreSQL row was skipped: {why}"
            );
            eprintln!("\n!!!!! SKIP: the PostgreSQL trace row: {why} !!!!!\n");
            continue;
        }
        let distinct = r["distinct_keys"].as_u64().expect("distinct_keys");
        assert_eq!(r["loader_calls"].as_u64(), Some(distinct), "{r}");
        assert_eq!(r["tier_errors"], 0, "{r}");
        let reads = r["tier_reads"].as_u64().expect("tier_reads");
        assert!(
            reads >= distinct,
            "every key is read from its tier at least once: {r}"
        );
        assert!(
            r["statements"].as_u64() >= Some(reads + distinct),
            "one SELECT per read, one upsert per load: {r}"
        );
    }
    let left: Vec<String> = files()
        .into_iter()
        .filter(|f| !before.contains(f))
        .collect();
    assert!(
        left.is_empty(),
        "the runner's SQLite files are removed: {left:?}"
    );
}
