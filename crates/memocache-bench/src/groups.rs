//! The cost of a memoized function's `invalidate_all` on a shared Redis (issue 13): a Redis
//! holding `--unrelated` keys of others (1,000,000 by default), one shared cache with a Redis
//! tier holding `--entries` entries of each of two functions (scopes). It times
//!
//! - `invalidate_function`: one function's `invalidate_all` (`Cache::invalidate_scope`): a
//!   generation bump, one `SET`, whatever the server holds;
//! - `clear_namespace`: `Cache::invalidate_all` of the cache's namespace, the alternative a
//!   per-function namespace would need: a `SCAN` over every key of the server (fresco-memoize's
//!   "must check every cache key"), then `UNLINK`s;
//!
//! and checks each did its job (the invalidated function's entries are misses for a fresh
//! instance, the other function's still hit). The unrelated keys carry a 30-minute TTL and are
//! deleted at the end.

use std::sync::LazyLock;
use std::time::{Duration, Instant};

use memocache::codec::Codec;
use memocache::key::Namespace;
use memocache::redis::redis::{self, aio::MultiplexedConnection};
use memocache::redis::RedisStore;
use memocache::{Cache, Scope, Scoped, Tier};

use crate::report::Row;

/// `invalidate`'s command-line arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Keys of others the server holds during the run.
    #[arg(long, default_value_t = 1_000_000)]
    pub unrelated: usize,
    /// Entries of each of the two functions.
    #[arg(long, default_value_t = 1_000)]
    pub entries: u64,
    /// The Redis server.
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    pub redis: String,
}

static FIRST: LazyLock<Scope<u64>> = LazyLock::new(|| Scope::new("bench::first"));
static SECOND: LazyLock<Scope<u64>> = LazyLock::new(|| Scope::new("bench::second"));

fn shared(store: &RedisStore, ns: &Namespace) -> Cache<Scoped<u64>, String> {
    let cache = Cache::builder()
        .capacity(100_000)
        .tier(Tier::new(store.typed(ns.clone(), Codec::json())))
        .build()
        .expect("valid options");
    cache.join_scope(&FIRST);
    cache.join_scope(&SECOND);
    cache
}

async fn fill(c: &mut MultiplexedConnection, prefix: &str, n: usize) -> Result<(), String> {
    for start in (0..n).step_by(10_000) {
        let mut pipe = redis::pipe();
        for i in start..(start + 10_000).min(n) {
            pipe.cmd("SET")
                .arg(format!("{prefix}:{i}"))
                .arg("x")
                .arg("PX")
                .arg(30 * 60 * 1000)
                .ignore();
        }
        pipe.query_async::<()>(c).await.map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Counts of `first` and `second` entries a fresh instance still reads from Redis.
async fn readable(store: &RedisStore, ns: &Namespace, entries: u64) -> (u64, u64) {
    let fresh = shared(store, ns);
    let (mut first, mut second) = (0, 0);
    for k in 0..entries {
        first += u64::from(fresh.get(&Scoped::new(&FIRST, k)).await.is_some());
        second += u64::from(fresh.get(&Scoped::new(&SECOND, k)).await.is_some());
    }
    (first, second)
}

async fn measure(
    args: &Args,
    c: &mut MultiplexedConnection,
    store: &RedisStore,
) -> Result<Row, String> {
    let run = format!("memocache-bench-groups-{}", std::process::id());
    let unrelated = format!("{run}-unrelated");
    let started = Instant::now();
    fill(c, &unrelated, args.unrelated).await?;
    let fill_time = started.elapsed();
    let ns = Namespace::new("groups").prefix(run.clone());
    let cache = shared(store, &ns);
    for k in 0..args.entries {
        for scope in [&FIRST, &SECOND] {
            let value =
                move || async move { Ok::<_, std::io::Error>(format!("{}:{k}", scope.name())) };
            cache
                .get_or_load(Scoped::new(scope, k), value)
                .await
                .map_err(|e| e.to_string())?;
        }
    }
    let dbsize: u64 = redis::cmd("DBSIZE")
        .query_async(c)
        .await
        .map_err(|e| e.to_string())?;

    let t = Instant::now();
    cache
        .invalidate_scope(&FIRST)
        .await
        .map_err(|e| e.to_string())?;
    let by_generation = t.elapsed();
    let after_generation = readable(store, &ns, args.entries).await;

    let t = Instant::now();
    cache.invalidate_all().await.map_err(|e| e.to_string())?;
    let by_scan = t.elapsed();
    let after_scan = readable(store, &ns, args.entries).await;

    let ok = after_generation == (0, args.entries) && after_scan == (0, 0);
    Ok(Row::new("invalidate", "memocache-redis")
        .field("server_keys", dbsize)
        .field("entries_per_function", args.entries)
        .field("fill_s", fill_time.as_secs_f64())
        .field("invalidate_function_ms", ms(by_generation))
        .field("clear_namespace_ms", ms(by_scan))
        .field("readable_after_function", format!("{after_generation:?}"))
        .field("readable_after_clear", format!("{after_scan:?}"))
        .field("checked", if ok { "ok" } else { "WRONG" }))
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

async fn cleanup(c: &mut MultiplexedConnection, pattern: &str) -> Result<(), String> {
    let mut cursor = 0u64;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(10_000)
            .query_async(c)
            .await
            .map_err(|e| e.to_string())?;
        if !keys.is_empty() {
            redis::cmd("UNLINK")
                .arg(&keys)
                .query_async::<()>(c)
                .await
                .map_err(|e| e.to_string())?;
        }
        if next == 0 {
            return Ok(());
        }
        cursor = next;
    }
}

/// Runs the scenario: one row, or one saying why it was skipped.
pub async fn run(args: &Args) -> Vec<Row> {
    let skipped =
        |why: String| vec![Row::new("invalidate", "memocache-redis").field("skipped", why)];
    let connect = async {
        let client = redis::Client::open(args.redis.as_str()).map_err(|e| e.to_string())?;
        let admin = client
            .get_multiplexed_async_connection()
            .await
            .map_err(|e| e.to_string())?;
        let store = RedisStore::connect(&args.redis)
            .await
            .map_err(|e| e.to_string())?;
        Ok::<_, String>((admin, store))
    };
    let (mut admin, store) = match tokio::time::timeout(Duration::from_secs(3), connect).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => return skipped(format!("Redis at {} unreachable: {e}", args.redis)),
        Err(_) => return skipped(format!("Redis at {} did not answer", args.redis)),
    };
    let result = measure(args, &mut admin, &store).await;
    let pattern = format!("memocache-bench-groups-{}*", std::process::id());
    if let Err(e) = cleanup(&mut admin, &pattern).await {
        eprintln!("invalidate: cleaning up {pattern} failed: {e} (the keys expire within 30 min)");
    }
    match result {
        Ok(row) => vec![row],
        Err(e) => skipped(format!("failed: {e}")),
    }
}
