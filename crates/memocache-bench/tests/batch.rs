//! The runner's `batch` scenario, quick: every row loads each distinct id once (ids in flight in
//! another batch are joined) and, over Redis, asks with MGETs only; the `dataloader` rows
//! (single gets batched for 1 ms) make far fewer loader calls than keys. Redis unreachable: its rows
//! say so (a failure under `CI`).

use memocache_bench::batch::{self, Args};
use memocache_bench::Opts;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_rows_load_each_distinct_id_once() {
    let args = Args {
        workers: vec![1_000],
        redis: std::env::var("MEMOCACHE_REDIS_URL")
            .unwrap_or_else(|_| "redis://127.0.0.1:6379".into()),
    };
    let rows = batch::run(&args, &Opts { quick: true }).await;
    assert_eq!(rows.len(), 5, "3 batch rows, 2 dataloader rows");
    for row in &rows {
        if let Some(why) = row.get("skipped") {
            assert!(std::env::var_os("CI").is_none(), "{why}");
            eprintln!("\n!!!!! SKIP: {why} !!!!!\n");
            continue;
        }
        let field = |name: &str| row.get(name).and_then(|v| v.as_u64()).unwrap();
        assert_eq!(
            field("keys_loaded"),
            field("distinct_keys"),
            "{}",
            row.to_json()
        );
        if row.get("scenario").and_then(|v| v.as_str()) == Some("dataloader") {
            assert!(
                field("loader_calls") * 10 < field("keys_loaded"),
                "batched: {}",
                row.to_json()
            );
        }
        if row.get("redis_mget").is_some() {
            assert_eq!(field("redis_get"), 0, "{}", row.to_json());
            assert!(
                field("redis_mget") <= field("requests"),
                "{}",
                row.to_json()
            );
        }
    }
}
