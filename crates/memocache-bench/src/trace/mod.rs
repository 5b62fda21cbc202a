//! cacheme's `benchmarks/trace.py`, reproduced: 200,000 requests whose keys come from
//! `Zipf(s = 1.001, v = 10, imax = 200,000)` (about 55.5k distinct keys) are all queued first,
//! then drained by N concurrent workers (Tokio tasks, each taking the next request until the
//! queue is empty), for N in {1,000, 10,000, 100,000}. The loader counts its calls and sleeps
//! 100 ms.
//!
//! Rows: memocache on its embedded in-memory store (`memocache-memory`), moka's
//! `future::Cache::get_with`, quick_cache's async guard API, and memocache over Redis
//! (`memocache-redis`), with a 3,000-entry W-TinyLFU memory tier in front of Redis
//! (`memocache-memory+redis`, cacheme's "Cacheme-2") and with a memory tier holding every key
//! (`memocache-unbounded+redis`); each Redis row runs in a namespace of its own, cleared after.
//!
//! Measured per row: wall time, process CPU time (user + system), loader calls, the distinct
//! keys requested (the ideal loader-call count), request latency p50 / p99. The physical floor
//! of the wall time is the total loader sleep divided by the workers (`floor_s`). For the
//! 3,000-entry tier the runner also prints the misses on the same request sequence of Bélády's
//! optimal policy (the floor for that tier's Redis reads), of LRU and of exact (single-list)
//! least-recently-updated, and of memocache's own W-TinyLFU and least-recently-updated stores
//! replaying it one request at a time. The Redis rows add the server's GET and MGET counts over
//! the row (`INFO commandstats`) and the Redis reads the cache counted. The SQL rows (SQLite
//! alone, and a 3,000-entry memory tier in front of SQLite and of PostgreSQL) are run by
//! [`sql`].
//!
//! This module owns the run ([`run`]: for each worker count, the chosen rows, each the median
//! of its repeats); its parts:
//!
//! - `params`: the workload's [`Params`], the [`Rows`] and [`Contestant`]s, `trace`'s [`Args`];
//! - `contenders`: the [`Loader`] and the caches under test ([`Contender`]);
//! - `drive`: draining the queue with N workers ([`drive`], [`Measured`]);
//! - `row`: the fields every result row has;
//! - `memory`: the in-memory rows ([`run_memory_row`]);
//! - `remote`: what the Redis and SQL rows share ([`TIER_POLICY`]);
//! - `redis`: the Redis rows ([`run_redis_row`]);
//! - [`sql`]: the SQL rows;
//! - `floors`: the Bélády / LRU floors and the replays ([`floor_rows`], [`replay_misses`]).

mod contenders;
mod drive;
mod floors;
mod memory;
mod params;
mod redis;
mod remote;
mod row;
pub mod sql;

use std::time::Duration;

use crate::remote::Server;
use crate::report::Row;
use crate::Opts;
pub(crate) use contenders::Memocache;
use floors::floor_and_replay_rows;
use row::{row, skipped};
use sql::{run_sql_row, SqlServers};

pub use contenders::{Contender, Loader};
pub use drive::{drive, Measured};
pub use floors::{floor_rows, replay_misses, REPLAYED};
pub use memory::run_memory_row;
pub use params::{Args, Contestant, Params, Rows};
pub use redis::run_redis_row;
pub use remote::{TIER_POLICY, TIER_POLICY_NAME};

/// Of the repeated runs of one row, the one with the median wall time, with a `runs` field
/// saying how many there were (none when there was one).
fn median_run(mut runs: Vec<Row>) -> Row {
    let n = runs.len();
    let wall = |r: &Row| r.get("wall_s").and_then(|v| v.as_f64()).unwrap_or(f64::MAX);
    runs.sort_by(|a, b| wall(a).total_cmp(&wall(b)));
    let row = runs.swap_remove(n / 2);
    if n > 1 {
        row.field("runs", n as u64)
    } else {
        row
    }
}

/// Runs the scenario: for each worker count, the chosen rows.
pub async fn run(args: &Args, opts: &Opts) -> Vec<Row> {
    let p = Params {
        seed: args.seed,
        ..Params::for_opts(opts)
    };
    let keys = p.keys();
    eprintln!(
        "trace: {} requests, Zipf(s = {}, v = {}, imax = {}) seed {}: {} distinct keys; loader {:?}",
        p.requests, p.s, p.v, p.imax, p.seed, keys.distinct, p.load_time
    );
    let mut rows = Vec::new();
    let redis = matches!(args.rows, Rows::Redis | Rows::All);
    let mut server = Err(String::new());
    let redis_timeout = Duration::from_millis(args.redis_timeout_ms.max(1));
    if redis {
        rows.extend(floor_and_replay_rows(&keys, p.tier_capacity).await);
        eprintln!(
            "trace: Redis at {}, operation timeout {redis_timeout:?}, auto-pipelining {}",
            args.redis,
            if args.no_auto_pipeline { "off" } else { "on" }
        );
        server = Server::connect(&args.redis, redis_timeout, !args.no_auto_pipeline)
            .await
            .map_err(|e| format!("no Redis server answers at {} ({e})", args.redis));
    }
    let run_id = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis())
    );
    let repeat = args.repeat.max(1);
    let sql = match args.rows {
        Rows::Sql | Rows::All => {
            Some(SqlServers::open(&args.postgres, &run_id, redis_timeout).await)
        }
        Rows::Memory | Rows::Redis => None,
    };
    for &workers in &args.workers {
        if matches!(args.rows, Rows::Memory | Rows::All) {
            for c in Contestant::MEMORY.into_iter().filter(|&c| args.wants(c)) {
                let mut runs = Vec::with_capacity(repeat);
                for _ in 0..repeat {
                    runs.push(run_memory_row(c, &keys, workers, &p).await);
                }
                rows.push(median_run(runs));
            }
        }
        if redis {
            for c in Contestant::REDIS.into_iter().filter(|&c| args.wants(c)) {
                let mut runs = Vec::with_capacity(repeat);
                for rep in 0..repeat {
                    let row = match server.as_mut() {
                        Ok(server) => {
                            let id = format!("{run_id}-{rep}");
                            run_redis_row(c, &keys, workers, &p, server, &id, redis_timeout).await
                        }
                        Err(why) => skipped(c, workers, why),
                    };
                    runs.push(row);
                }
                rows.push(median_run(runs));
            }
        }
        if let Some(servers) = &sql {
            for c in Contestant::SQL.into_iter().filter(|&c| args.wants(c)) {
                let mut runs = Vec::with_capacity(repeat);
                for rep in 0..repeat {
                    let id = format!("{run_id}-{rep}");
                    runs.push(
                        run_sql_row(c, &keys, workers, &p, servers, &id, redis_timeout).await,
                    );
                }
                rows.push(median_run(runs));
            }
        }
    }
    if let Some(servers) = sql {
        servers.close().await;
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_run_keeps_the_middle_wall_time_whole() {
        let run = |wall: f64, cpu: f64| {
            Row::new("trace", "x")
                .field("wall_s", wall)
                .field("cpu_s", cpu)
        };
        let m = median_run(vec![run(3.0, 0.3), run(1.0, 0.1), run(2.0, 0.2)]);
        assert_eq!(m.get("wall_s").and_then(|v| v.as_f64()), Some(2.0));
        assert_eq!(
            m.get("cpu_s").and_then(|v| v.as_f64()),
            Some(0.2),
            "from the same run"
        );
        assert_eq!(m.get("runs").and_then(|v| v.as_u64()), Some(3));
        let one = median_run(vec![run(1.0, 0.1)]);
        assert!(one.get("runs").is_none());
    }
}
