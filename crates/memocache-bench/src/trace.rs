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
//! [`trace_sql`](crate::trace_sql).

use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use memocache::codec::{Codec, Compression, Format};
use memocache::key::Namespace;
use memocache::{Cache, EvictionPolicy, Tier};

use crate::floor::{belady_misses, lru_misses, lru_update_misses};
use crate::measure::{cpu_time, micros, secs, Percentiles, Progress};
use crate::remote::Server;
use crate::report::Row;
use crate::trace_sql::{run_sql_row, SqlServers};
use crate::zipf::{KeyStream, Zipf};
use crate::Opts;

/// The workload's parameters (cacheme's by default).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Params {
    /// Requests in the queue.
    pub requests: usize,
    /// Zipf exponent.
    pub s: f64,
    /// Zipf offset.
    pub v: f64,
    /// Largest key.
    pub imax: u64,
    /// How long one loader call sleeps.
    pub load_time: Duration,
    /// Entries of the bounded memory tier in front of Redis (and of the Bélády / LRU floors).
    pub tier_capacity: usize,
    /// Seed of the key stream.
    pub seed: u64,
}

impl Default for Params {
    /// cacheme's `trace.py`: 200,000 requests, `Zipf(1.001, 10, 200_000)`, 100 ms loads, a
    /// 3,000-entry local tier.
    fn default() -> Self {
        Params {
            requests: 200_000,
            s: 1.001,
            v: 10.0,
            imax: 200_000,
            load_time: Duration::from_millis(100),
            tier_capacity: 3_000,
            seed: 1,
        }
    }
}

impl Params {
    /// The parameters for `opts`: with `--quick`, 10x fewer requests over 10x fewer keys (as
    /// cacheme ties `imax` to the request count).
    pub fn for_opts(opts: &Opts) -> Self {
        let p = Params::default();
        if opts.quick {
            Params {
                requests: p.requests / 10,
                imax: p.imax / 10,
                ..p
            }
        } else {
            p
        }
    }

    /// The key stream these parameters give.
    pub fn keys(&self) -> KeyStream {
        let z = Zipf::new(self.s, self.v, self.imax).expect("valid Zipf parameters");
        KeyStream::generate(&z, self.requests, self.seed)
    }
}

/// Which rows to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Rows {
    /// The in-memory rows: memocache, moka, quick_cache.
    Memory,
    /// The Redis rows: memocache over Redis alone, with a 3,000-entry and with an unbounded
    /// memory tier in front.
    Redis,
    /// The SQL rows: memocache over SQLite alone, and a 3,000-entry memory tier in front of
    /// SQLite and of PostgreSQL.
    Sql,
    /// All of them.
    All,
}

/// A contestant of the trace scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contestant {
    /// memocache on its embedded in-memory store, unbounded for this workload.
    MemocacheMemory,
    /// `moka::future::Cache::get_with`.
    Moka,
    /// `quick_cache::sync::Cache::get_value_or_guard_async`.
    QuickCache,
    /// memocache over Redis alone.
    MemocacheRedis,
    /// memocache with a 3,000-entry W-TinyLFU memory tier in front of Redis.
    MemocacheMemoryRedis,
    /// memocache with a memory tier holding every key in front of Redis.
    MemocacheUnboundedRedis,
    /// memocache over a SQLite file alone.
    MemocacheSqlite,
    /// memocache with a 3,000-entry W-TinyLFU memory tier in front of SQLite.
    MemocacheMemorySqlite,
    /// memocache with a 3,000-entry W-TinyLFU memory tier in front of PostgreSQL.
    MemocacheMemoryPostgres,
}

impl Contestant {
    /// The in-memory contestants.
    pub const MEMORY: [Contestant; 3] = [
        Contestant::MemocacheMemory,
        Contestant::Moka,
        Contestant::QuickCache,
    ];
    /// The contestants that need a Redis server.
    pub const REDIS: [Contestant; 3] = [
        Contestant::MemocacheRedis,
        Contestant::MemocacheMemoryRedis,
        Contestant::MemocacheUnboundedRedis,
    ];
    /// The contestants over SQL stores.
    pub const SQL: [Contestant; 3] = [
        Contestant::MemocacheSqlite,
        Contestant::MemocacheMemorySqlite,
        Contestant::MemocacheMemoryPostgres,
    ];

    /// The row's `impl` name.
    pub fn name(self) -> &'static str {
        match self {
            Contestant::MemocacheMemory => "memocache-memory",
            Contestant::Moka => "moka",
            Contestant::QuickCache => "quick_cache",
            Contestant::MemocacheRedis => "memocache-redis",
            Contestant::MemocacheMemoryRedis => "memocache-memory+redis",
            Contestant::MemocacheUnboundedRedis => "memocache-unbounded+redis",
            Contestant::MemocacheSqlite => "memocache-sqlite",
            Contestant::MemocacheMemorySqlite => "memocache-memory+sqlite",
            Contestant::MemocacheMemoryPostgres => "memocache-memory+postgres",
        }
    }
}

/// `trace`'s command-line arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Worker counts to run, comma separated.
    #[arg(long, value_delimiter = ',', default_values_t = [1_000usize, 10_000, 100_000])]
    pub workers: Vec<usize>,
    /// Which rows to run.
    #[arg(long, value_enum, default_value_t = Rows::All)]
    pub rows: Rows,
    /// The Redis server of the Redis rows.
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    pub redis: String,
    /// Seed of the key stream.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The PostgreSQL server of the `memocache-memory+postgres` row.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/test")]
    pub postgres: String,
    /// Timeout of one Redis (or SQL) operation, in milliseconds (the tier's and the client's). The
    /// library's default is 1,000; the runner waits longer by default, as cacheme's connection
    /// pool (no timeout) does, because 100,000 simultaneous requests on 2 cores queue for more
    /// than a second and a timed-out read is a miss that reloads the key.
    #[arg(long, default_value_t = 10_000)]
    pub redis_timeout_ms: u64,
    /// Run each row this many times and report the run with the median wall time.
    #[arg(long, default_value_t = 1)]
    pub repeat: usize,
    /// Run only these contestants (`impl` names, comma separated); default: all of `--rows`.
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
}

impl Args {
    /// The arguments of a run of the given rows at the given worker counts.
    pub fn new(rows: Rows, workers: &[usize]) -> Self {
        Args {
            workers: workers.to_vec(),
            rows,
            redis: "redis://127.0.0.1:6379".into(),
            postgres: "postgres://postgres@127.0.0.1:5432/test".into(),
            seed: 1,
            redis_timeout_ms: 10_000,
            repeat: 1,
            only: Vec::new(),
        }
    }

    fn wants(&self, c: Contestant) -> bool {
        self.only.is_empty() || self.only.iter().any(|n| n == c.name())
    }
}

/// The loader: counts its calls, sleeps, returns the key.
#[derive(Debug)]
pub struct Loader {
    calls: AtomicU64,
    load_time: Duration,
}

impl Loader {
    /// A loader that sleeps `load_time` per call.
    pub fn new(load_time: Duration) -> Self {
        Loader {
            calls: AtomicU64::new(0),
            load_time,
        }
    }

    /// One call: the value of `key` is `key`.
    pub async fn load(&self, key: u64) -> u64 {
        self.calls.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(self.load_time).await;
        key
    }

    /// Calls so far.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }
}

/// A cache under test: serves `key`, loading it with the shared [`Loader`] on a miss.
pub trait Contender: Send + Sync + 'static {
    /// The value of `key`.
    fn get(&self, key: u64) -> impl Future<Output = u64> + Send + '_;
}

/// memocache, on its in-memory store alone or with a Redis or SQL tier.
pub(crate) struct Memocache {
    pub(crate) cache: Cache<u64, u64>,
    pub(crate) loader: Arc<Loader>,
}

impl Contender for Memocache {
    async fn get(&self, key: u64) -> u64 {
        let loader = self.loader.clone();
        self.cache
            .get_with(key, move || async move { loader.load(key).await })
            .await
            .expect("the loader neither fails nor times out")
    }
}

struct Moka {
    cache: moka::future::Cache<u64, u64>,
    loader: Arc<Loader>,
}

impl Contender for Moka {
    async fn get(&self, key: u64) -> u64 {
        self.cache.get_with(key, self.loader.load(key)).await
    }
}

struct QuickCache {
    cache: quick_cache::sync::Cache<u64, u64>,
    loader: Arc<Loader>,
}

impl Contender for QuickCache {
    async fn get(&self, key: u64) -> u64 {
        match self.cache.get_value_or_guard_async(&key).await {
            Ok(v) => v,
            Err(guard) => {
                let v = self.loader.load(key).await;
                // Fails only if the entry was meanwhile inserted another way; `v` is still right.
                let _ = guard.insert(v);
                v
            }
        }
    }
}

/// What one run of the queue measured.
#[derive(Debug, Clone, Copy)]
pub struct Measured {
    /// Wall time from the first worker's start to the last one's end.
    pub wall: Duration,
    /// Process CPU time over the same span.
    pub cpu: Duration,
    /// Request latencies.
    pub latency: Percentiles,
}

/// Drains `keys` with `workers` Tokio tasks calling `contender`, checking every value.
pub async fn drive<C: Contender>(
    label: &str,
    keys: Arc<[u64]>,
    workers: usize,
    contender: Arc<C>,
) -> Measured {
    let cursor = Arc::new(AtomicUsize::new(0));
    let progress = Progress::start(label, keys.len() as u64, {
        let cursor = cursor.clone();
        move || cursor.load(Ordering::Relaxed) as u64
    });
    let cpu0 = cpu_time();
    let t0 = Instant::now();
    let tasks: Vec<_> = (0..workers)
        .map(|_| {
            let (keys, cursor, contender) = (keys.clone(), cursor.clone(), contender.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                loop {
                    let i = cursor.fetch_add(1, Ordering::Relaxed);
                    let Some(&key) = keys.get(i) else { break };
                    let start = Instant::now();
                    let v = contender.get(key).await;
                    latencies.push(micros(start.elapsed()));
                    assert_eq!(v, key, "a cache served the wrong value");
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(keys.len());
    for t in tasks {
        latencies.extend(t.await.expect("a worker panicked"));
    }
    let wall = t0.elapsed();
    let cpu = cpu_time().saturating_sub(cpu0);
    progress.finish();
    Measured {
        wall,
        cpu,
        latency: Percentiles::of(&mut latencies),
    }
}

/// Runs one in-memory row.
pub async fn run_memory_row(
    contestant: Contestant,
    keys: &KeyStream,
    workers: usize,
    p: &Params,
) -> Row {
    let shared: Arc<[u64]> = keys.keys.clone().into();
    let loader = Arc::new(Loader::new(p.load_time));
    let label = format!("trace {} x{}", contestant.name(), workers);
    // Room for every key: these rows measure coalescing and overhead, not eviction.
    let capacity = p.requests.max(1);
    let m = match contestant {
        Contestant::MemocacheMemory => {
            let cache = Cache::builder()
                .capacity(capacity)
                .build()
                .expect("valid options");
            let c = Arc::new(Memocache {
                cache,
                loader: loader.clone(),
            });
            drive(&label, shared, workers, c).await
        }
        Contestant::Moka => {
            let cache = moka::future::Cache::builder()
                .max_capacity(capacity as u64)
                .build();
            let c = Arc::new(Moka {
                cache,
                loader: loader.clone(),
            });
            drive(&label, shared, workers, c).await
        }
        Contestant::QuickCache => {
            let c = Arc::new(QuickCache {
                cache: quick_cache::sync::Cache::new(capacity),
                loader: loader.clone(),
            });
            drive(&label, shared, workers, c).await
        }
        _ => unreachable!("{} is not an in-memory row", contestant.name()),
    };
    row(contestant, keys, workers, p, loader.calls(), &m)
}

/// The result row of a measured run.
pub(crate) fn row(
    contestant: Contestant,
    keys: &KeyStream,
    workers: usize,
    p: &Params,
    loader_calls: u64,
    m: &Measured,
) -> Row {
    let floor = p
        .load_time
        .mul_f64(keys.distinct as f64 / workers.max(1) as f64);
    Row::new("trace", contestant.name())
        .field("workers", workers as u64)
        .field("requests", p.requests as u64)
        .field("distinct_keys", keys.distinct as u64)
        .field("loader_calls", loader_calls)
        .field("floor_s", secs(floor))
        .field("wall_s", secs(m.wall))
        .field("cpu_s", secs(m.cpu))
        .field("p50_us", m.latency.p50_us)
        .field("p99_us", m.latency.p99_us)
}

/// The eviction policy of the bounded memory tier in front of Redis (cacheme's `local://tlfu`
/// is W-TinyLFU).
pub const TIER_POLICY: EvictionPolicy = EvictionPolicy::W_TINY_LFU;

/// The name of [`TIER_POLICY`] in result rows.
pub const TIER_POLICY_NAME: &str = "wtinylfu";

/// The policies replayed beside the floors, with their names in result rows: the tier's, and
/// the default (least-recently-updated, beside its exact single-list `lru-update` floor).
pub const REPLAYED: [(&str, EvictionPolicy); 2] = [
    (TIER_POLICY_NAME, TIER_POLICY),
    ("lru-update", EvictionPolicy::LeastRecentlyUpdated),
];

/// What a row over a remote tier starts with: the keys, the loader, the progress label, a
/// namespace of its own (`run_id` makes it unique) and the codec (MessagePack, as cacheme's
/// benchmark).
pub(crate) struct RemoteRow {
    pub(crate) shared: Arc<[u64]>,
    pub(crate) loader: Arc<Loader>,
    pub(crate) label: String,
    pub(crate) namespace: Namespace,
    pub(crate) codec: Codec,
}

impl RemoteRow {
    pub(crate) fn new(
        contestant: Contestant,
        keys: &KeyStream,
        workers: usize,
        p: &Params,
        run_id: &str,
    ) -> Self {
        RemoteRow {
            shared: keys.keys.clone().into(),
            loader: Arc::new(Loader::new(p.load_time)),
            label: format!("trace {} x{}", contestant.name(), workers),
            namespace: Namespace::new(format!("trace-{run_id}-{}-{workers}", contestant.name()))
                .prefix("memocache-bench"),
            codec: Codec::new(Format::MessagePack, Compression::None),
        }
    }
}

/// Runs one Redis row against `server`, in a namespace of its own (`run_id` makes it unique),
/// which it clears afterwards. `redis_get` / `redis_mget` are the server's command counts over
/// the row; `tier_reads` the Redis reads the cache itself counted.
pub async fn run_redis_row(
    contestant: Contestant,
    keys: &KeyStream,
    workers: usize,
    p: &Params,
    server: &mut Server,
    run_id: &str,
    timeout: Duration,
) -> Row {
    let RemoteRow {
        shared,
        loader,
        label,
        namespace,
        codec,
    } = RemoteRow::new(contestant, keys, workers, p, run_id);
    let builder = Cache::builder()
        .name(contestant.name())
        .tier(Tier::new(server.store.typed::<u64, u64>(namespace, codec)).timeout(timeout));
    let (builder, memory) = match contestant {
        // No in-memory tier: every request that is not coalesced reads Redis, as cacheme's
        // Redis-only node does.
        Contestant::MemocacheRedis => (builder.without_memory_tier(), "none".to_string()),
        Contestant::MemocacheMemoryRedis => (
            builder
                .capacity(p.tier_capacity)
                .eviction_policy(TIER_POLICY),
            format!("{TIER_POLICY_NAME} {}", p.tier_capacity),
        ),
        Contestant::MemocacheUnboundedRedis => {
            (builder.capacity(p.requests.max(1)), "unbounded".to_string())
        }
        _ => unreachable!("{} is not a Redis row", contestant.name()),
    };
    let cache = builder.build().expect("valid options");
    let c = Arc::new(Memocache {
        cache: cache.clone(),
        loader: loader.clone(),
    });
    let before = match server.commands().await {
        Ok(c) => c,
        Err(e) => return skipped(contestant, workers, &format!("INFO commandstats: {e}")),
    };
    let m = drive(&label, shared, workers, c).await;
    let after = match server.commands().await {
        Ok(c) => c,
        Err(e) => return skipped(contestant, workers, &format!("INFO commandstats: {e}")),
    };
    let (tier_reads, tier_errors) = tier_reads_and_errors(&cache);
    // Clear this row's namespace (SCAN + UNLINK of its keys only).
    cache.invalidate_all().await.unwrap();
    row(contestant, keys, workers, p, loader.calls(), &m)
        .field("memory_tier", memory)
        .field("redis_get", after.get.saturating_sub(before.get))
        .field("redis_mget", after.mget.saturating_sub(before.mget))
        .field("tier_reads", tier_reads)
        .field("tier_errors", tier_errors)
}

/// The reads (hits and misses) and errors the cache counted on its first tier.
pub(crate) fn tier_reads_and_errors(cache: &Cache<u64, u64>) -> (u64, u64) {
    cache
        .stats()
        .tiers
        .first()
        .map_or((0, 0), |t| (t.hits() + t.misses, t.errors))
}

/// A row that did not run, and why.
pub(crate) fn skipped(contestant: Contestant, workers: usize, why: &str) -> Row {
    Row::new("trace", contestant.name())
        .field("workers", workers as u64)
        .field("skipped", why)
}

/// The misses of a `capacity`-entry tier on this key sequence under Bélády's policy (the
/// floor), LRU and exact least-recently-updated (the single list memocache's sharded default
/// approximates).
pub fn floor_rows(keys: &KeyStream, capacity: usize) -> Vec<Row> {
    let floor = |imp: &str, misses: u64| {
        Row::new("trace-floor", imp)
            .field("capacity", capacity as u64)
            .field("requests", keys.keys.len() as u64)
            .field("distinct_keys", keys.distinct as u64)
            .field("misses", misses)
    };
    vec![
        floor("belady", belady_misses(&keys.keys, capacity)),
        floor("lru", lru_misses(&keys.keys, capacity)),
        floor("lru-update", lru_update_misses(&keys.keys, capacity)),
    ]
}

/// Misses of memocache's own in-memory store with `capacity` entries and `policy` when the
/// sequence is replayed one request at a time (`get`, then `insert` on a miss): the policy's
/// hit ratio on this trace without concurrency, beside the Bélády and LRU floors.
pub async fn replay_misses(keys: &[u64], capacity: usize, policy: EvictionPolicy) -> u64 {
    let cache: Cache<u64, u64> = Cache::builder()
        .capacity(capacity)
        .eviction_policy(policy)
        .build()
        .expect("valid options");
    let mut misses = 0;
    for &k in keys {
        if cache.get(&k).await.is_none() {
            misses += 1;
            cache.insert(k, k).await;
        }
    }
    misses
}

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
        rows.extend(floor_rows(&keys, p.tier_capacity));
        for (name, policy) in REPLAYED {
            let replayed = replay_misses(&keys.keys, p.tier_capacity, policy).await;
            rows.push(
                Row::new("trace-floor", &format!("memocache-{name} (replay)"))
                    .field("capacity", p.tier_capacity as u64)
                    .field("requests", keys.keys.len() as u64)
                    .field("distinct_keys", keys.distinct as u64)
                    .field("misses", replayed),
            );
        }
        eprintln!(
            "trace: Redis at {}, operation timeout {redis_timeout:?}",
            args.redis
        );
        server = Server::connect(&args.redis, redis_timeout)
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
