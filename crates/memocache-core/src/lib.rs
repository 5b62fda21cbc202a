//! The engine of [memocache](https://docs.rs/memocache): an async cache that loads each missing
//! key once however many callers ask for it (stampede protection), serves stale values while
//! refreshing them in the background (stale-while-revalidate), bounds its memory, and counts
//! what it does.
//!
//! Users depend on the `memocache` facade crate, which re-exports everything here together
//! with the optional backends and the `#[memoize]` macro.
//!
//! # The pieces
//! At the top, what a user touches: [`Cache`] (the public API and the hit path),
//! [`CacheBuilder`], [`Lifespan`] / [`EntryBuilder`], [`Stats`], [`Error`]. Below them, three
//! subsystems, one folder each:
//! - `memory/` — the cache's own in-memory store: shards of a slab with a hash index, the
//!   eviction policies ([`EvictionPolicy`]; least-recently-updated, LRU, W-TinyLFU with its
//!   frequency sketch and hill climber), the read buffer and the expiry timer wheel;
//! - `load/` — what a miss does: the in-flight table (one flight per key), a flight's task
//!   step by step (tiers, loader, tiers, memory), and the writes (`insert`, invalidations)
//!   whose tier half completes in a flight of its own;
//! - `tiers/` — everything below the memory: the [`storage`] trait and its implementations,
//!   the [`codec`], remote [`key`]s, the [`tier`] failure policy, and the chain ([`Tier`]s
//!   read through with backfill, written to all).
//!
//! The public modules: [`storage`], [`tier`], [`codec`], [`key`] (feature `serialized`); every
//! other public type is at the crate root.
//!
//! # Cargo features
//! | feature | what |
//! |---|---|
//! | `json` (default), `msgpack`, `postcard` | serde formats of stored records (each implies `serialized`) |
//! | `zstd`, `lz4`, `zlib` | compression of stored records |
//! | `serialized` | [`storage::Serialized`] and the [`key`] module: byte stores (Redis, SQL) as typed storages (sha2 for long keys) |
//! | `test-util` | read Tokio's clock, which tests can pause, instead of the kernel's coarse clock |
//! | `smol` | run on smol too: outside a Tokio runtime, tasks go to smol's global executor and timers to async-io (`runtime.rs`) |
//! | `metrics` | `Cache::publish_metrics` and a load-time histogram through the `metrics` crate facade |
//! | `contract` | [`storage::contract::check_storage`], the storage contract for implementers' tests |
//!
//! A memory-only cache needs none of them: without default features the engine compiles no
//! serde format, no compressor and no SHA-256.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod builder;
mod cache;
mod clock;
mod coord;
mod entry;
mod error;
mod load;
mod memory;
mod runtime;
mod shared;
mod stats;
mod sync;
mod tags;
mod tiers;

pub use builder::{
    CacheBuilder, DEFAULT_CAPACITY, DEFAULT_EXPIRE_AFTER, DEFAULT_METHOD_TIMEOUT,
    DEFAULT_REFRESH_BACKOFF, DEFAULT_REFRESH_BACKOFF_MAX, DEFAULT_UPDATE_AFTER,
};
pub use cache::{BatchItems, BatchResult, Batcher, Cache};
pub use coord::Coordinator;
#[cfg(feature = "json")]
pub use coord::{
    Distributed, DistributedStats, DEFAULT_COORDINATION_TIMEOUT, DEFAULT_LEASE, DEFAULT_POLL,
};
pub use entry::{EntryBuilder, FixedLifespan, Lifespan};
pub use error::{BuildError, Error};
pub use memory::policy::{EvictionPolicy, RemovalCause};
pub use stats::Stats;
pub use tags::{Scope, Scoped, Tag, Zone};
#[cfg(feature = "serialized")]
pub use tiers::key;
pub use tiers::{codec, storage, tier, Tier, TierStats};
