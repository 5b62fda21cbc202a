//! The tier chain: everything below a cache's memory.
//!
//! - [`storage`] (public): the [`Storage`](storage::Storage) trait a tier implements, the
//!   byte-store adapter [`Serialized`](storage::Serialized), the in-process
//!   [`MemoryStorage`](storage::MemoryStorage) and the contract check;
//! - [`stored`]: [`StoredEntry`](storage::StoredEntry), a value with its wall-clock lifespan,
//!   what every storage keeps and the codec encodes (it depends on neither);
//! - [`codec`] (public): records — header, serde format, compression;
//! - [`key`] (public, feature `serialized`): stable remote keys and namespaces;
//! - [`tier`] (public): the failure policy (`OnError`, `CircuitBreaker`) and its docs;
//! - [`options`]: [`Tier`](crate::Tier), one storage with its options, and their validation;
//! - [`breaker`]: a tier at run time — breaker, timeout, counters;
//! - [`chain`]: [`Tiers`], the chain: read-through with backfill, write-to-all;
//! - [`stamp`]: tags below the memory — the [`Stamp`](storage::Stamp) of a tagged entry, the
//!   [`TagStore`](storage::TagStore) of generations, the record envelope.
//!
//! The memory never calls into this folder on a hit; the [load](crate::load) does, inside a
//! key's single flight.

mod breaker;
mod chain;
pub mod codec;
#[cfg(feature = "serialized")]
pub mod key;
mod options;
mod stamp;
pub mod storage;
mod stored;
pub mod tier;

pub use breaker::TierStats;
pub(crate) use chain::{Found, Tiers, Unavailable};
pub(crate) use options::validate;
pub use options::Tier;
pub(crate) use stamp::Tagged;
