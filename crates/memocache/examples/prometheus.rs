//! A cache's statistics as Prometheus metrics (feature `metrics`): the `metrics` crate's
//! Prometheus recorder is installed, a scripted mix of requests runs, `publish_metrics` sets
//! the counters and gauges, and the scrape is printed (the `memocache_` lines).
//!
//! `cargo run -p memocache --features metrics --example prometheus`

use std::io::Write;

use memocache::storage::MemoryStorage;
use memocache::{Cache, Tier};
use metrics_exporter_prometheus::PrometheusBuilder;

pub async fn run(out: &mut impl Write) -> std::io::Result<()> {
    let scrape = PrometheusBuilder::new()
        .install_recorder()
        .map_err(std::io::Error::other)?;
    let users: Cache<u64, String> = Cache::builder()
        .name("users")
        .tier(Tier::new(MemoryStorage::<u64, String>::new(1_000)))
        .build()
        .map_err(std::io::Error::other)?;
    // The mix: 3 loads (one failing), 2 hits, a lookup of a missing key.
    for id in [1, 2, 1, 1] {
        users
            .get_or_load(id, move || async move {
                Ok::<_, std::io::Error>(format!("user {id}"))
            })
            .await
            .map_err(std::io::Error::other)?;
    }
    let failed = users
        .get_or_load(3, || async {
            Err::<String, _>(std::io::Error::other("db down"))
        })
        .await;
    assert!(failed.is_err());
    assert_eq!(users.get(&4).await, None);
    users.idle().await;
    users.publish_metrics();
    let mut lines: Vec<String> = scrape
        .render()
        .lines()
        .filter(|l| l.starts_with("memocache_") && !l.contains("quantile"))
        .map(str::to_owned)
        .collect();
    lines.sort();
    for line in lines {
        writeln!(out, "{line}")?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    run(&mut std::io::stdout().lock()).await
}
