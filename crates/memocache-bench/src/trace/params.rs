//! What a trace run is made of: the workload's parameters ([`Params`], cacheme's by default),
//! which rows to run ([`Rows`]) and who runs in them ([`Contestant`], with each row's `impl`
//! name), and `trace`'s command-line arguments ([`Args`]).

use std::time::Duration;

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
    /// memocache on its embedded in-memory store with `spawn_loads(true)` (every miss's load
    /// in a task of its own, as before loads ran in their first caller): run only when named
    /// with `--only`.
    MemocacheMemorySpawned,
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
    /// The in-memory contestants (`memocache-memory-spawned` only when named with `--only`).
    pub const MEMORY: [Contestant; 4] = [
        Contestant::MemocacheMemory,
        Contestant::MemocacheMemorySpawned,
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

    /// Run only when named with `--only` (an A/B row, not part of the comparison).
    pub fn named_only(self) -> bool {
        self == Contestant::MemocacheMemorySpawned
    }

    /// The row's `impl` name.
    pub fn name(self) -> &'static str {
        match self {
            Contestant::MemocacheMemory => "memocache-memory",
            Contestant::MemocacheMemorySpawned => "memocache-memory-spawned",
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
    /// Send each Redis read and write on its own (`RedisOptions::auto_pipeline = false`)
    /// instead of concurrent reads together as one `MGET` and concurrent writes as one pipeline.
    #[arg(long)]
    pub no_auto_pipeline: bool,
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
            no_auto_pipeline: false,
        }
    }

    pub(super) fn wants(&self, c: Contestant) -> bool {
        let named = self.only.iter().any(|n| n == c.name());
        named || (self.only.is_empty() && !c.named_only())
    }
}
