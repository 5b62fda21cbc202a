//! The engine of [memocache](https://docs.rs/memocache): an async cache that loads each missing
//! key once however many callers ask for it (stampede protection), serves stale values while
//! refreshing them in the background (stale-while-revalidate), bounds its memory, and counts
//! what it does.
//!
//! Users depend on the `memocache` facade crate, which re-exports everything here together
//! with the optional backends and the `#[memoize]` macro.
//!
//! Modules, one concept each:
//! - [`cache`] — [`Cache`], the request path;
//! - [`builder`] — [`CacheBuilder`], options and their defaults;
//! - [`entry`] — [`Lifespan`] and [`EntryBuilder`], per-entry `update_after` / `expire_after`;
//! - `flight` — the in-flight table (single flight per key);
//! - `store` — the embedded in-memory store (sharded slab + index, read buffer, timer wheel);
//! - [`policy`] — [`EvictionPolicy`], [`RemovalCause`]; `sketch` — TinyLFU's frequency sketch;
//!   `buffer` — the hit buffer; `timer` — the expiry timer wheel;
//! - [`storage`] — the async [`Storage`](storage::Storage) trait, byte stores and the in-memory
//!   storage;
//! - [`codec`] — record header, serde formats, compression;
//! - [`key`] — stable remote keys ([`CacheKey`](key::CacheKey), [`Namespace`](key::Namespace));
//! - [`tier`] — chained storage tiers and their failure policy;
//! - [`stats`] — [`Stats`];
//! - [`error`] — [`Error`] and [`BuildError`].
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod buffer;
pub mod builder;
pub mod cache;
mod clock;
pub mod codec;
pub mod entry;
pub mod error;
mod flight;
pub mod key;
pub mod policy;
mod sketch;
pub mod stats;
pub mod storage;
mod store;
pub mod tier;
mod timer;

pub use builder::CacheBuilder;
pub use cache::Cache;
pub use entry::{EntryBuilder, FixedLifespan, Lifespan};
pub use error::{BuildError, Error};
pub use policy::{EvictionPolicy, RemovalCause};
pub use stats::Stats;
pub use tier::{Tier, TierStats};
