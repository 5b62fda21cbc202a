//! # memocache
//!
//! Caching and memoization for async Rust. A [`Cache`] loads each missing key once however
//! many tasks ask for it at the same moment (stampede protection), serves a stale value at
//! once while refreshing it in the background (`update_after`), never serves a value past its
//! `expire_after`, survives cancelled callers and panicking loaders, and counts everything it
//! does ([`Stats`]).
//!
//! Memoize an `async fn` with one attribute (cargo feature `macros`, on by default); see
//! [`macro@memoize`] for the options, keys, methods and the `fetch_user_memo()` handle:
//!
//! ```
//! # #[cfg(feature = "macros")] {
//! use memocache::memoize;
//!
//! #[memoize(update_after = "1m", expire_after = "10m")]
//! async fn fetch_user(id: u64) -> Result<String, std::io::Error> {
//!     Ok(format!("user {id}")) // a database query in real life
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! assert_eq!(fetch_user(42).await.unwrap(), "user 42"); // loads
//! assert_eq!(fetch_user(42).await.unwrap(), "user 42"); // served from the cache
//! assert_eq!(fetch_user_memo().stats().loads_started, 1);
//! # });
//! # }
//! ```
//!
//! Or use a [`Cache`] directly:
//!
//! ```
//! use std::time::Duration;
//! use memocache::Cache;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let cache: Cache<String, u64> = Cache::builder()
//!     .capacity(10_000)
//!     .update_after(Duration::from_secs(60))
//!     .expire_after(Duration::from_secs(600))
//!     .build()?;
//!
//! let len = cache
//!     .get_or_load("hello".to_string(), || async { Ok::<_, std::io::Error>(5) })
//!     .await?;
//! assert_eq!(len, 5);
//! assert_eq!(cache.stats().loads_started, 1);
//! # Ok(())
//! # }
//! ```
//!
//! # How a request flows
//! A request hashes its key once and looks in the cache's own memory. A **fresh** value is
//! returned at once; a **stale** one (older than `update_after`) is returned at once too, and
//! one background refresh replaces it; an **expired** or missing one is a miss. A miss joins the
//! load already running for that key, if any (so *N* concurrent callers make one loader call
//! and all get its one result or its one error), or starts one: the storage tiers below the
//! memory are read in order (a hit there is copied into the tiers above and the memory), then
//! the loader runs, under the method timeout, with panics caught, and its value is written to
//! every tier and the memory. The load runs in a task of its own, or, in a cache without
//! tiers, in the first caller's future until that caller is dropped and then in a task: a
//! caller dropped meanwhile cancels nothing. `ARCHITECTURE.md` follows a key and a value
//! through the modules.
//!
//! # Choosing an eviction policy
//! | policy | pick it when | cost of a hit |
//! |---|---|---|
//! | [`EvictionPolicy::LeastRecentlyUpdated`] (default) | entries expire anyway (TTL caches): evicts the entry written longest ago | lowest: a hit writes nothing |
//! | [`EvictionPolicy::Lru`] | recency matters and there is no TTL | a hit is recorded in a per-shard buffer |
//! | [`EvictionPolicy::WTinyLfu`] | the best hit ratio on skewed traffic, resistant to scans | as LRU, plus a frequency sketch |
//!
//! `BENCHMARKS.md` has each one's hit latency, throughput and hit ratio beside moka's and
//! quick_cache's.
//!
//! # Errors and cancellation
//! A load's outcome is an [`Error`]: [`Error::Load`] holds the loader's own error in an `Arc`
//! (every waiter gets the same one), [`Error::Timeout`], [`Error::Panicked`] (a loader panic
//! never unwinds into the callers), [`Error::Cancelled`] (the runtime shut down),
//! [`Error::Storage`] (a tier set to fail loudly), [`Error::NotLoaded`] (a batch loader left
//! the key out). Nothing failed is stored, except when negative caching
//! ([`CacheBuilder::cache_errors`]) is asked for. Every public async method documents its
//! `# Cancel safety`: refreshes and tier writes run in tasks of their own, and a load moves to
//! one if the caller running it is dropped, so dropping a caller's future only stops it
//! waiting.
//!
//! # Tiers, Redis and several processes
//! [`CacheBuilder::tier`] puts storages below the memory — [`storage::MemoryStorage`], Redis
//! (`redis`), SQLite / PostgreSQL / MySQL (`sqlite`, `postgres`, `mysql`), files (`fs`), by
//! URL ([`url`], [`registry`]) or by name (`#[memoize(storage = "redis")]`). A tier error is a
//! counted miss by default (timeout 1 s, circuit breaker); records carry wall-clock
//! lifespans, so processes sharing a Redis share stale-while-revalidate.
//! [`CacheBuilder::distributed`] makes one loader call per key across every process and sends
//! invalidations to the others' memory.
//!
//! # Groups of entries and typed nodes
//! Zones, tags and shared caches ([`Zone`], [`Tag`], [`Scoped`]) invalidate groups of entries
//! at once, in every tier and process, at the cost of one write per tag. Typed cache nodes
//! ([`node`](mod@node), cacheme's API) put a key type, its loader, version, storages and statistics in
//! one place, with batch loads ([`Cache::get_all`]) and a dataloader ([`Batcher`]).
//!
//! # Runtimes: Tokio and smol
//! The engine spawns tasks (for a tiered cache's loads, refreshes, tier writes, and a memory
//! cache's load whose caller is dropped mid-way) and times loads, refreshes and tier calls;
//! it does so through one seam that picks the runtime per call. Inside a Tokio runtime it
//! uses Tokio's `spawn` and timers. With the `smol` feature, a call made outside any Tokio
//! runtime spawns on smol's global executor and times on async-io, and the file store's blocking
//! I/O goes to smol's blocking pool — so caches, `#[memoize]`, batch loads, the dataloader,
//! negative caching and the memory and file tiers work under `smol::block_on`, with the same
//! single flight, timeouts, panic and cancel safety (`tests/runtimes.rs` runs one behaviour
//! suite on both). The Redis and SQL stores and distributed coordination use Tokio-based
//! clients (redis-rs, sqlx) and still need a Tokio runtime. smol's global executor runs on
//! one thread unless `SMOL_THREADS` says more: off Tokio, every cache's spawned loads,
//! timers and batch windows share those threads, so set it to the cores the service should
//! use.
//!
//! ```toml
//! [dependencies]
//! memocache = { version = "0.1", features = ["smol"] }
//! ```
//!
//! # Observability
//! [`Cache::stats`] (and each tier's counters), tracing spans `memocache.flight` and
//! `memocache.tier` (never keys or values), and with feature `metrics`,
//! `Cache::publish_metrics` through the `metrics` crate facade (example `prometheus`).
//!
//! This crate is a facade: the engine lives in `memocache-core` and is re-exported here
//! whole, `#[memoize]` comes from `memocache-macros` (feature `macros`, default), and the
//! optional backends are re-exported behind cargo features as they land.
//!
//! # Cargo features
//! | feature | what |
//! |---|---|
//! | `json` (default) | serialized records as JSON |
//! | `msgpack`, `postcard` | serialized records as MessagePack, postcard |
//! | `zstd`, `lz4`, `zlib` | compression of serialized records |
//! | `codecs` | all of the above |
//! | `macros` (default) | `#[memoize]` |
//! | `redis` | `memocache::redis`: the Redis store (single node and Cluster) |
//! | `sqlite` | `memocache::sql`: the SQLite store (embedded, persistent; WAL) |
//! | `postgres`, `mysql` | `memocache::sql`: the PostgreSQL, MySQL / MariaDB stores |
//! | `fs` | `memocache::fs`: the file store (one file per entry) |
//! | `config` (implied by every backend) | `memocache::url` (storages by URL) and `memocache::registry` (storages by name) |
//! | `node` (default) | `memocache::node`: typed cache nodes (cacheme's API) and the `#[node]` attribute |
//! | `smol` | run on smol as well as Tokio (see [Runtimes](#runtimes-tokio-and-smol)) |
//! | `metrics` | `Cache::publish_metrics` and a load-time histogram through the `metrics` crate facade |
//! | `serialized` (implied by every format) | `storage::Serialized` and the `key` module: byte stores as typed storages |
//! | `test-util` | read Tokio's clock, which tests can pause, instead of the kernel's coarse clock |
//!
//! (`tests/features.rs` checks this table against `Cargo.toml`.)
//!
//! # Time, and testing with Tokio's paused clock
//! Every hit checks the entry's `update_after` and `expire_after` against the clock, so the
//! clock must be cheap: by default memocache reads the kernel's coarse monotonic clock
//! (`CLOCK_MONOTONIC_COARSE` on Linux, a few nanoseconds, resolution 1–4 ms), which Tokio's
//! `tokio::time::pause` does not stop. Tests that pause and advance Tokio's clock to watch
//! entries go stale and expire enable the `test-util` feature, next to Tokio's own:
//!
//! ```toml
//! [dev-dependencies]
//! memocache = { version = "0.1", features = ["test-util"] }
//! tokio = { version = "1", features = ["test-util"] }
//! ```
//!
//! Cargo turns dev-dependency features on only for tests, examples and benchmarks, so the
//! program itself keeps the fast clock.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub use memocache_core::*;

pub mod memo;
pub use memo::{KeyFn, Memo};

#[cfg(feature = "macros")]
pub use memocache_macros::memoize;
#[cfg(all(feature = "macros", feature = "node"))]
pub use memocache_macros::node;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

/// The Redis store (feature `redis`): see `memocache_redis`.
#[cfg(feature = "redis")]
pub mod redis {
    pub use memocache_redis::*;
}

/// The SQL stores (features `sqlite`, `postgres`, `mysql`): see `memocache_sql`.
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
pub mod sql {
    pub use memocache_sql::*;
}

/// The file store (feature `fs`): see `memocache_fs`.
#[cfg(feature = "fs")]
pub mod fs {
    pub use memocache_fs::*;
}

#[cfg(feature = "config")]
mod lazy_tier;
#[cfg(feature = "node")]
pub mod node;
#[cfg(feature = "config")]
pub mod registry;
#[cfg(feature = "config")]
pub mod url;
