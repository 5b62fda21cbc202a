//! Storage: the async [`Storage`] trait a tier below a cache's memory implements, the
//! [`StoredEntry`] it keeps, the typed [`StorageError`] it reports, and the implementations
//! that come with the engine:
//!
//! - [`MemoryStorage`] keeps values in this process (an extra in-memory tier, or a storage of
//!   its own);
//! - a [`ByteStore`] keeps bytes under string keys (Redis, SQL, files), and [`Serialized`]
//!   (feature `serialized`) makes one typed, with a [`Namespace`](crate::key::Namespace) and a
//!   [`Codec`](crate::codec::Codec);
//! - [`contract::check_storage`] (feature `contract`) checks an implementation's contract.
//!
//! A storage reports its own failures as errors; what the cache does with them (count, log,
//! treat as a miss, trip a circuit breaker, or hand them to the caller) is decided by the
//! [`tier`](crate::tier) it sits in. Lifespans are wall-clock deadlines (see [`StoredEntry`]).
//!
//! The methods return boxed futures so that tiers of different types can sit in one chain
//! (`dyn Storage`). Only a cache with storage tiers calls them, and only on a miss of its own
//! memory: a memory hit never goes through this trait.

mod bytes;
#[cfg(feature = "contract")]
pub mod contract;
mod memory;
#[cfg(feature = "serialized")]
mod serialized;

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::FutureExt;

use crate::codec::{DecodeError, EncodeError};

pub use super::stamp::{new_generation, Stamp, TagStore, GENERATION_TTL};
pub use super::stored::StoredEntry;
pub use bytes::ByteStore;
pub use memory::MemoryStorage;
#[cfg(feature = "serialized")]
pub use serialized::Serialized;

/// The error a storage operation reports.
///
/// Cloneable (the inner backend error is shared) so that one failure can reach every caller
/// waiting for the same load when a tier is set to propagate errors.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The operation did not finish within the tier's per-operation timeout.
    #[error("storage operation timed out after {0:?}")]
    Timeout(Duration),
    /// The tier's circuit breaker is open after repeated failures: the operation was not
    /// attempted.
    #[error("storage skipped: circuit breaker open after repeated failures")]
    CircuitOpen,
    /// The stored bytes could not be decoded (corrupt, another codec, another version, over
    /// the size limit).
    #[error("stored record could not be decoded: {0}")]
    Decode(#[from] DecodeError),
    /// The value could not be encoded for storage.
    #[error("value could not be encoded: {0}")]
    Encode(#[from] EncodeError),
    /// The operation's task was dropped before it finished (its runtime shut down): whether
    /// it took effect is unknown.
    #[error("storage operation cancelled before it finished (runtime shut down)")]
    Cancelled,
    /// The backend failed (connection refused or lost, command error, ...).
    #[error("storage backend failed: {0}")]
    Backend(Arc<dyn std::error::Error + Send + Sync + 'static>),
}

impl StorageError {
    /// Wraps a backend's own error.
    pub fn backend(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        StorageError::Backend(Arc::new(e))
    }
}

/// What a batch read gives for each key: the entry, nothing, or bytes that failed to decode.
pub type Fetched<V> = Result<Option<StoredEntry<V>>, DecodeError>;

/// An async store of entries, usable as a tier of a [`Cache`](crate::Cache) (see
/// [`tier`](crate::tier)).
///
/// Contract (checked for every store by the `contract` feature's `check_storage`):
/// - `get` after `set` returns the entry; an entry whose `expire_at` has passed is a miss
///   (and `set` of an already-expired entry removes the key);
/// - `get_many` returns one item per key, in order; `get_many(&[])` is empty;
/// - `remove` makes the key a miss; `clear` removes this storage's entries only (its
///   namespace), never another's sharing the same server.
///
/// Implementations report failures as [`StorageError`]s and never panic on bad data: bytes
/// that fail to decode are [`StorageError::Decode`] (single `get`) or an `Err` item
/// (`get_many`).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a storage of `{K}` keys and `{V}` values",
    label = "not a `Storage<{K}, {V}>`",
    note = "a byte store (Redis, SQL, files) wrapped in `Serialized` (`RedisStore::typed`, \
            `registry::tier`, ...) stores keys that implement `memocache::key::CacheKey` and \
            values that implement `serde::Serialize` and `serde::Deserialize`: derive them for \
            `{V}` (and `Clone`), or implement `CacheKey` for `{K}`"
)]
pub trait Storage<K, V>: Send + Sync + 'static {
    /// A short name for logs and statistics (`"memory"`, `"redis"`, ...).
    fn name(&self) -> &str;

    /// The entry of `key`, if any and not expired.
    fn get<'a>(&'a self, key: &'a K)
        -> BoxFuture<'a, Result<Option<StoredEntry<V>>, StorageError>>;

    /// The entries of `keys`, one item per key in the same order.
    ///
    /// The default asks [`get`](Self::get) for each key, one after another: an undecodable
    /// record becomes that key's `Err` item, any other error fails the whole call. Backends
    /// with a multi-get (Redis `MGET`, SQL `IN`) override it with one round trip.
    fn get_many<'a>(&'a self, keys: &'a [K]) -> BoxFuture<'a, Result<Vec<Fetched<V>>, StorageError>>
    where
        K: Sync,
        V: Send,
    {
        async move {
            let mut out = Vec::with_capacity(keys.len());
            for key in keys {
                out.push(match self.get(key).await {
                    Ok(found) => Ok(found),
                    Err(StorageError::Decode(e)) => Err(e),
                    Err(e) => return Err(e),
                });
            }
            Ok(out)
        }
        .boxed()
    }

    /// Stores `entry` for `key` until its `expire_at`, replacing any entry.
    fn set<'a>(
        &'a self,
        key: &'a K,
        entry: StoredEntry<V>,
    ) -> BoxFuture<'a, Result<(), StorageError>>;

    /// Stores every entry (pipelined where the backend can).
    ///
    /// The default calls [`set`](Self::set) for each entry, one after another, and stops at
    /// the first error. Backends that can pipeline or batch override it.
    fn set_many<'a>(
        &'a self,
        entries: Vec<(K, StoredEntry<V>)>,
    ) -> BoxFuture<'a, Result<(), StorageError>>
    where
        K: Send + Sync + 'static,
        V: Send + 'static,
    {
        async move {
            for (key, entry) in entries {
                self.set(&key, entry).await?;
            }
            Ok(())
        }
        .boxed()
    }

    /// Removes the entry of `key`, if any.
    fn remove<'a>(&'a self, key: &'a K) -> BoxFuture<'a, Result<(), StorageError>>;

    /// Removes every entry of this storage's namespace.
    fn clear(&self) -> BoxFuture<'_, Result<(), StorageError>>;

    /// Where this storage keeps tag generations, if it can hold the entries of a cache with
    /// tags (zones, `tags`, shared-cache scopes): it must then store each entry's
    /// [`stamp`](StoredEntry::stamp) with it. The default: `None`, the storage cannot (a cache
    /// with tags refuses it at build). [`Serialized`] and [`MemoryStorage`] can.
    fn tag_store(&self) -> Option<&dyn TagStore> {
        None
    }

    /// This storage as a tier of the cache named `cache` (or of the memoized function of that
    /// path): the same store with a key space of the cache's own, so that caches sharing the
    /// storage never share an entry. The default: `None`, the cache uses the storage as it is
    /// (its keys are then shared by every cache using it). [`Serialized`] adds the cache to its
    /// [`Namespace`](crate::key::Namespace) ([`Namespace::cache`](crate::key::Namespace::cache)).
    fn for_cache(&self, cache: &str) -> Option<Arc<dyn Storage<K, V>>> {
        let _ = cache;
        None
    }
}

impl<K, V, S: Storage<K, V> + ?Sized> Storage<K, V> for Arc<S> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn get<'a>(
        &'a self,
        key: &'a K,
    ) -> BoxFuture<'a, Result<Option<StoredEntry<V>>, StorageError>> {
        (**self).get(key)
    }
    fn get_many<'a>(&'a self, keys: &'a [K]) -> BoxFuture<'a, Result<Vec<Fetched<V>>, StorageError>>
    where
        K: Sync,
        V: Send,
    {
        (**self).get_many(keys)
    }
    fn set<'a>(
        &'a self,
        key: &'a K,
        entry: StoredEntry<V>,
    ) -> BoxFuture<'a, Result<(), StorageError>> {
        (**self).set(key, entry)
    }
    fn set_many<'a>(
        &'a self,
        entries: Vec<(K, StoredEntry<V>)>,
    ) -> BoxFuture<'a, Result<(), StorageError>>
    where
        K: Send + Sync + 'static,
        V: Send + 'static,
    {
        (**self).set_many(entries)
    }
    fn remove<'a>(&'a self, key: &'a K) -> BoxFuture<'a, Result<(), StorageError>> {
        (**self).remove(key)
    }
    fn clear(&self) -> BoxFuture<'_, Result<(), StorageError>> {
        (**self).clear()
    }
    fn tag_store(&self) -> Option<&dyn TagStore> {
        (**self).tag_store()
    }
    fn for_cache(&self, cache: &str) -> Option<Arc<dyn Storage<K, V>>> {
        (**self).for_cache(cache)
    }
}
