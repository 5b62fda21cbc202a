//! `distributed` (issue 15): cacheme's trace split over several OS processes sharing one Redis
//! — this runner started again as `distributed-child` — with and without cross-process single
//! flight ([`memocache::Distributed`]), and the latency of an invalidation from one process to
//! the memory of the others.
//!
//! Trace rows: every process builds the same cache (a 3,000-entry W-TinyLFU memory in front of
//! Redis, as the trace's `memocache-memory+redis` row), waits for the others, then drains its
//! share of the 200k Zipf requests (request `i` goes to process `i % processes`) with
//! `workers / processes` workers. The row sums the loader calls over the processes (with
//! cross-process single flight: the distinct keys, less what the memory evicted and reloaded
//! from Redis costs nothing), the CPU time, and takes the longest wall time; `redis_commands`
//! is the server's `total_commands_processed` over the row.
//!
//! Latency row: the parent writes `invalidations` keys through its cache, the other processes
//! read them into their memory, then the parent invalidates them one by one; each process
//! records when each key left its memory (eviction listener, wall clock: the processes share
//! the machine's clock). p50 / p99 over every (key, process).

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use memocache::codec::{Codec, Compression, Format};
use memocache::key::Namespace;
use memocache::redis::redis::{self, aio::MultiplexedConnection};
use memocache::redis::RedisStore;
use memocache::{Cache, Distributed, RemovalCause, Tier};

use crate::report::Row;
use crate::trace::{drive, Loader, Memocache, Params, TIER_POLICY};
use crate::Opts;

/// `distributed`'s command-line arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// OS processes sharing the Redis.
    #[arg(long, default_value_t = 4)]
    pub processes: usize,
    /// Workers in all (split over the processes).
    #[arg(long, default_value_t = 1_000)]
    pub workers: usize,
    /// Invalidations of the latency row.
    #[arg(long, default_value_t = 1_000)]
    pub invalidations: u64,
    /// The Redis server.
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    pub redis: String,
}

/// The hidden `distributed-child` arguments: one process of a row.
#[derive(Debug, Clone, clap::Args)]
pub struct ChildArgs {
    /// `trace` or `observe`.
    #[arg(long)]
    pub role: String,
    /// This process's index.
    #[arg(long)]
    pub index: usize,
    /// Processes in the row.
    #[arg(long)]
    pub processes: usize,
    /// Workers of this process.
    #[arg(long)]
    pub workers: usize,
    /// Cross-process single flight on.
    #[arg(long)]
    pub flight: bool,
    /// The row's key prefix in Redis.
    #[arg(long)]
    pub prefix: String,
    /// Invalidations to observe.
    #[arg(long, default_value_t = 0)]
    pub invalidations: u64,
    /// The Redis server.
    #[arg(long)]
    pub redis: String,
}

fn namespace(prefix: &str) -> Namespace {
    Namespace::new("distributed").prefix(prefix)
}

fn trace_cache(store: &RedisStore, prefix: &str, p: &Params, flight: bool) -> Cache<u64, u64> {
    let ns = namespace(prefix);
    let codec = Codec::new(Format::MessagePack, Compression::None);
    let mut builder = Cache::builder()
        .capacity(p.tier_capacity)
        .eviction_policy(TIER_POLICY)
        .method_timeout(Duration::from_secs(30))
        .tier(Tier::new(store.typed(ns.clone(), codec)));
    if flight {
        builder = builder.distributed(Distributed::new(Arc::new(store.clone()), ns));
    }
    builder.build().expect("valid options")
}

async fn admin(url: &str) -> Result<MultiplexedConnection, String> {
    let client = redis::Client::open(url).map_err(|e| e.to_string())?;
    client
        .get_multiplexed_async_connection()
        .await
        .map_err(|e| e.to_string())
}

/// Counts in `{prefix}:ready` and waits until `n` processes have.
async fn barrier(c: &mut MultiplexedConnection, prefix: &str, n: usize) {
    let key = format!("{prefix}:ready");
    // Expires even if the run dies before its cleanup.
    let (_, _): (i64, i64) = redis::pipe()
        .cmd("INCR")
        .arg(&key)
        .cmd("EXPIRE")
        .arg(&key)
        .arg(600)
        .query_async(c)
        .await
        .expect("INCR");
    loop {
        let ready: Option<usize> = redis::cmd("GET")
            .arg(&key)
            .query_async(c)
            .await
            .expect("GET");
        if ready >= Some(n) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// A child process: runs its part of a row and prints one JSON line.
pub async fn child(args: &ChildArgs, opts: &Opts) {
    let store = RedisStore::connect(&args.redis).await.expect("Redis");
    let mut c = admin(&args.redis).await.expect("Redis");
    let p = Params::for_opts(opts);
    match args.role.as_str() {
        "trace" => {
            let cache = trace_cache(&store, &args.prefix, &p, args.flight);
            cache.subscribed().await;
            let all = p.keys();
            let mine: Arc<[u64]> = all
                .keys
                .iter()
                .skip(args.index)
                .step_by(args.processes)
                .copied()
                .collect();
            let loader = Arc::new(Loader::new(p.load_time));
            let contender = Arc::new(Memocache {
                cache: cache.clone(),
                loader: loader.clone(),
            });
            barrier(&mut c, &args.prefix, args.processes).await;
            let label = format!("process {}", args.index);
            let m = drive(&label, mine, args.workers, contender).await;
            cache.idle().await;
            let d = cache.distributed_stats().unwrap_or_default();
            println!(
                "{{\"loader_calls\":{},\"wall_s\":{},\"cpu_s\":{},\"p99_us\":{},\"leases\":{},\"waits\":{},\"served_by_others\":{}}}",
                loader.calls(),
                m.wall.as_secs_f64(),
                m.cpu.as_secs_f64(),
                m.latency.p99_us,
                d.leases_taken,
                d.lease_waits,
                d.served_by_others
            );
        }
        "observe" => {
            let seen = Arc::new(Mutex::new(HashMap::new()));
            let cache: Cache<u64, u64> = Cache::builder()
                .capacity(args.invalidations as usize * 4 + 1_000)
                .tier(Tier::new(
                    store.typed(namespace(&args.prefix), Codec::json()),
                ))
                .distributed(Distributed::new(
                    Arc::new(store.clone()),
                    namespace(&args.prefix),
                ))
                .eviction_listener({
                    let seen = seen.clone();
                    move |k: u64, _, cause| {
                        if cause == RemovalCause::Explicit {
                            seen.lock().unwrap().insert(k, unix_micros());
                        }
                    }
                })
                .build()
                .expect("valid options");
            cache.subscribed().await;
            // The parent wrote the keys before starting us.
            for k in 0..args.invalidations {
                assert_eq!(cache.get(&k).await, Some(k), "the parent's value");
            }
            barrier(&mut c, &args.prefix, args.processes).await;
            let deadline = Instant::now() + Duration::from_secs(60);
            while (seen.lock().unwrap().len() as u64) < args.invalidations
                && Instant::now() < deadline
            {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            let seen = seen.lock().unwrap();
            let times: Vec<String> = (0..args.invalidations)
                .map(|k| seen.get(&k).map_or("null".into(), |t| t.to_string()))
                .collect();
            println!("{{\"seen_us\":[{}]}}", times.join(","));
        }
        other => panic!("unknown role {other}"),
    }
}

fn unix_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

fn spawn(args: &ChildArgs, opts: &Opts) -> tokio::process::Child {
    let mut cmd = tokio::process::Command::new(std::env::current_exe().expect("current exe"));
    if opts.quick {
        cmd.arg("--quick");
    }
    cmd.args(["distributed-child", "--role", &args.role])
        .args(["--index", &args.index.to_string()])
        .args(["--processes", &args.processes.to_string()])
        .args(["--workers", &args.workers.to_string()])
        .args(["--prefix", &args.prefix, "--redis", &args.redis])
        .args(["--invalidations", &args.invalidations.to_string()]);
    if args.flight {
        cmd.arg("--flight");
    }
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn a child process")
}

async fn output(child: tokio::process::Child) -> serde_json::Value {
    let out = child.wait_with_output().await.expect("child output");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or("{}");
    serde_json::from_str(line).unwrap_or_default()
}

async fn total_commands(c: &mut MultiplexedConnection) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("stats")
        .query_async(c)
        .await
        .unwrap_or_default();
    info.lines()
        .find_map(|l| l.trim().strip_prefix("total_commands_processed:"))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

async fn cleanup(c: &mut MultiplexedConnection, prefix: &str) {
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(c)
        .await
        .unwrap_or_default();
    for chunk in keys.chunks(10_000) {
        let _: Result<i64, _> = redis::cmd("UNLINK").arg(chunk).query_async(c).await;
    }
}

async fn trace_row(args: &Args, opts: &Opts, c: &mut MultiplexedConnection, flight: bool) -> Row {
    let p = Params::for_opts(opts);
    let prefix = format!("memocache-bench-dist-{}-{flight}", std::process::id());
    let before = total_commands(c).await;
    let t0 = Instant::now();
    let children: Vec<_> = (0..args.processes)
        .map(|index| {
            let child = ChildArgs {
                role: "trace".into(),
                index,
                processes: args.processes,
                workers: (args.workers / args.processes).max(1),
                flight,
                prefix: prefix.clone(),
                invalidations: 0,
                redis: args.redis.clone(),
            };
            spawn(&child, opts)
        })
        .collect();
    let mut outs = Vec::new();
    for child in children {
        outs.push(output(child).await);
    }
    let elapsed = t0.elapsed();
    let after = total_commands(c).await;
    cleanup(c, &prefix).await;
    let sum = |f: &str| outs.iter().filter_map(|o| o[f].as_f64()).sum::<f64>();
    let max = |f: &str| {
        outs.iter()
            .filter_map(|o| o[f].as_f64())
            .fold(0.0, f64::max)
    };
    let complete = outs.iter().all(|o| o["loader_calls"].is_number());
    Row::new("distributed", "memocache-memory+redis")
        .field("processes", args.processes as u64)
        .field("workers", args.workers as u64)
        .field("requests", p.requests as u64)
        .field("distinct_keys", p.keys().distinct as u64)
        .field("cross_process_flight", flight)
        .field("loader_calls", sum("loader_calls") as u64)
        .field("leases", sum("leases") as u64)
        .field("served_by_others", sum("served_by_others") as u64)
        .field("redis_commands", after.saturating_sub(before))
        .field("wall_s", (max("wall_s") * 1000.0).round() / 1000.0)
        .field("cpu_s", (sum("cpu_s") * 1000.0).round() / 1000.0)
        .field("p99_us", max("p99_us") as u64)
        .field(
            "processes_total_s",
            (elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
        )
        .field("complete", complete)
}

async fn latency_row(args: &Args, opts: &Opts, c: &mut MultiplexedConnection) -> Row {
    let prefix = format!("memocache-bench-dist-{}-latency", std::process::id());
    let store = RedisStore::connect(&args.redis).await.expect("Redis");
    let origin: Cache<u64, u64> = Cache::builder()
        .capacity(args.invalidations as usize * 4 + 1_000)
        .tier(Tier::new(store.typed(namespace(&prefix), Codec::json())))
        .distributed(Distributed::new(
            Arc::new(store.clone()),
            namespace(&prefix),
        ))
        .build()
        .expect("valid options");
    for k in 0..args.invalidations {
        origin.insert(k, k).await;
    }
    let observers = args.processes.saturating_sub(1).max(1);
    let children: Vec<_> = (0..observers)
        .map(|index| {
            let child = ChildArgs {
                role: "observe".into(),
                index,
                processes: observers + 1,
                workers: 1,
                flight: true,
                prefix: prefix.clone(),
                invalidations: args.invalidations,
                redis: args.redis.clone(),
            };
            spawn(&child, opts)
        })
        .collect();
    barrier(c, &prefix, observers + 1).await;
    let mut sent = Vec::with_capacity(args.invalidations as usize);
    for k in 0..args.invalidations {
        sent.push(unix_micros());
        origin.invalidate(&k).await.expect("invalidate");
    }
    let mut latencies = Vec::new();
    let mut missing = 0u64;
    for child in children {
        let out = output(child).await;
        let seen = out["seen_us"].as_array().cloned().unwrap_or_default();
        for (k, t) in sent.iter().enumerate() {
            match seen.get(k).and_then(|v| v.as_u64()) {
                Some(at) => latencies.push(at.saturating_sub(*t)),
                None => missing += 1,
            }
        }
    }
    cleanup(c, &prefix).await;
    latencies.sort_unstable();
    let pct = |q: f64| {
        latencies
            .get(((latencies.len().max(1) - 1) as f64 * q) as usize)
            .map_or(0.0, |&us| us as f64 / 1000.0)
    };
    Row::new("distributed", "memocache-memory+redis")
        .field("processes", (observers + 1) as u64)
        .field("invalidations", args.invalidations)
        .field("observations", latencies.len() as u64)
        .field("missed", missing)
        .field("invalidation_p50_ms", pct(0.5))
        .field("invalidation_p99_ms", pct(0.99))
        .field("invalidation_max_ms", pct(1.0))
}

/// Runs the scenario: the trace rows without and with cross-process single flight, then the
/// latency row; one row saying why if Redis cannot be reached.
pub async fn run(args: &Args, opts: &Opts) -> Vec<Row> {
    let mut c = match tokio::time::timeout(Duration::from_secs(3), admin(&args.redis)).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => {
            return vec![Row::new("distributed", "memocache-memory+redis").field(
                "skipped",
                format!("Redis at {} unreachable: {e}", args.redis),
            )]
        }
        Err(_) => {
            return vec![Row::new("distributed", "memocache-memory+redis")
                .field("skipped", format!("Redis at {} did not answer", args.redis))]
        }
    };
    let args = Args {
        invalidations: if opts.quick {
            args.invalidations / 10
        } else {
            args.invalidations
        },
        ..args.clone()
    };
    let mut rows = Vec::new();
    for flight in [false, true] {
        rows.push(trace_row(&args, opts, &mut c, flight).await);
    }
    rows.push(latency_row(&args, opts, &mut c).await);
    rows
}
