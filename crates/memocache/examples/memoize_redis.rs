//! `#[memoize]` over Redis: the function names a storage (`storage = "redis"`) that
//! `register_storage` connects at start-up; its values are then shared by every process
//! running it, through the memory first and Redis second.
//!
//! `cargo run -p memocache --features redis --example memoize_redis` (a Redis on
//! 127.0.0.1:6379, or `MEMOCACHE_REDIS_URL`).

use std::time::Instant;

use memocache::memoize;
use memocache::registry::register_storage;

#[memoize(
    storage = "redis",
    update_after = "1m",
    expire_after = "10m",
    timeout = "5s"
)]
async fn exchange_rate(from: String, to: String) -> Result<f64, std::io::Error> {
    tokio::time::sleep(std::time::Duration::from_millis(300)).await; // a slow API
    Ok(if from == to { 1.0 } else { 1.08 })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url =
        std::env::var("MEMOCACHE_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    register_storage("redis", &url).await?;
    for round in 1..=3 {
        let start = Instant::now();
        let rate = exchange_rate("EUR".into(), "USD".into()).await?;
        println!("round {round}: EUR/USD {rate} in {:?}", start.elapsed());
        if round == 2 {
            // As a fresh process would: memory empty, the value still in Redis.
            exchange_rate_memo()
                .cache()
                .invalidate_memory(&("EUR".to_string(), "USD".to_string()));
        }
    }
    let stats = exchange_rate_memo().stats();
    println!(
        "loads {}, memory hits {}, Redis hits {}",
        stats.loads_started,
        stats.hits(),
        stats.tiers[0].hits()
    );
    exchange_rate_memo()
        .invalidate(("EUR".into(), "USD".into()))
        .await?;
    Ok(())
}
