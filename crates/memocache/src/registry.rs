//! Storages opened from URLs and kept under names (cacheme's `register_storage`):
//! [`StorageHandle`] (an open storage: a connection pool, a file, a directory, or the
//! settings of an in-memory tier), [`tier`] (a URL to a [`Tier`] in one call), and the
//! [`Registry`] of named storages, with a process-wide one behind [`register_storage`],
//! [`storage`] and [`named_tier`] — by which configuration, typed nodes and `#[memoize]` can
//! refer to a storage by name.
//!
//! ```no_run
//! use memocache::codec::Codec;
//! use memocache::key::Namespace;
//! use memocache::registry::{named_tier, register_storage};
//! use memocache::Cache;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! register_storage("my-redis", "redis://localhost:6379").await?;   // connects once
//! let users: Cache<u64, String> = Cache::builder()
//!     .tier(named_tier("my-redis", Namespace::new("users"), Codec::json())?)
//!     .build()?;
//! # Ok(())
//! # }
//! ```

use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::sync::{Arc, OnceLock, RwLock};

use memocache_core::codec::Codec;
use memocache_core::key::{CacheKey, Namespace};
use memocache_core::storage::{ByteStore, MemoryStorage, Serialized, Storage};
use memocache_core::{EvictionPolicy, Tier};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::url::{StorageUrl, UrlError};

/// Why a storage could not be opened or found.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The URL is wrong.
    #[error("storage URL: {0}")]
    Url(#[from] UrlError),
    /// The storage could not be opened (server unreachable, refused, file not writable…).
    #[error("opening the {kind} storage failed: {source}")]
    Open {
        /// `redis`, `sqlite`, `postgres`, `mysql` or `file`.
        kind: &'static str,
        /// The backend's error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// No storage is registered under this name.
    #[error("no storage is registered as {name:?}")]
    UnknownName {
        /// The name asked for.
        name: String,
    },
}

/// What a key of a tier made from a URL must be: a remote key ([`CacheKey`]) that an
/// in-memory tier can also hold. Every such type is one.
pub trait TierKey: CacheKey + Hash + Eq + Clone + Send + Sync + 'static {}
impl<T: CacheKey + Hash + Eq + Clone + Send + Sync + 'static> TierKey for T {}

/// What a value of a tier made from a URL must be: serializable for a remote store, and
/// cloneable for an in-memory one. Every such type is one.
pub trait TierValue: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {}
impl<T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static> TierValue for T {}

#[derive(Clone)]
enum Opened {
    Memory { policy: EvictionPolicy, size: usize },
    Bytes(Arc<dyn ByteStore>),
}

/// An open storage: for a remote or persistent URL, the store (its connection pool, file or
/// directory), shared by every tier made from it; for a `memory://` URL, the settings each
/// tier made from it gets a store of its own with. Cheap to clone.
#[derive(Clone)]
pub struct StorageHandle {
    opened: Opened,
    kind: &'static str,
}

impl fmt::Debug for StorageHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StorageHandle")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

fn open_error(
    kind: &'static str,
) -> impl FnOnce(Box<dyn std::error::Error + Send + Sync>) -> ConfigError {
    move |source| ConfigError::Open { kind, source }
}

impl StorageHandle {
    /// Parses `url` ([`StorageUrl`]) and opens its storage: connects to a server, opens (or
    /// creates) a SQLite file or a directory.
    ///
    /// # Errors
    /// [`ConfigError::Url`] for a bad URL, [`ConfigError::Open`] when the storage cannot be
    /// opened.
    ///
    /// # Cancel safety
    /// Cancel safe: dropping the future abandons the connection attempt; no handle exists
    /// until it returns.
    pub async fn open(url: &str) -> Result<Self, ConfigError> {
        Self::open_parsed(&StorageUrl::parse(url)?).await
    }

    /// Opens the storage of an already parsed URL.
    ///
    /// # Errors
    /// [`ConfigError::Open`] when the storage cannot be opened.
    ///
    /// # Cancel safety
    /// Cancel safe, as [`open`](Self::open).
    pub async fn open_parsed(url: &StorageUrl) -> Result<Self, ConfigError> {
        let kind = url.kind();
        #[allow(unused_variables)] // without backends
        let err = open_error(kind);
        let opened = match url {
            StorageUrl::Memory { policy, size } => Opened::Memory {
                policy: *policy,
                size: *size,
            },
            #[cfg(feature = "redis")]
            StorageUrl::Redis {
                url,
                cluster,
                lazy,
                options,
            } => {
                use memocache_redis::RedisStore;
                let store = if *cluster {
                    RedisStore::connect_cluster_with([url.as_str()], *options).await
                } else if *lazy {
                    RedisStore::connect_lazy(url, *options)
                } else {
                    RedisStore::connect_with(url, *options).await
                };
                Opened::Bytes(Arc::new(store.map_err(|e| err(e.into()))?))
            }
            #[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
            StorageUrl::Sql {
                url,
                table,
                options,
            } => {
                let store = memocache_sql::SqlStore::connect(url, table.clone(), *options).await;
                Opened::Bytes(Arc::new(store.map_err(|e| err(e.into()))?))
            }
            #[cfg(feature = "fs")]
            StorageUrl::File { dir, options } => {
                let store = memocache_fs::FileStore::open(dir, *options).await;
                Opened::Bytes(Arc::new(store.map_err(|e| err(e.into()))?))
            }
        };
        Ok(StorageHandle { opened, kind })
    }

    /// A handle over a byte store opened by other means, to register it under a name.
    pub fn from_byte_store(store: impl ByteStore, kind: &'static str) -> Self {
        StorageHandle {
            opened: Opened::Bytes(Arc::new(store)),
            kind,
        }
    }

    /// `memory`, `redis`, `sqlite`, `postgres`, `mysql`, `file`, or the kind given to
    /// [`from_byte_store`](Self::from_byte_store).
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    /// The size and policy of an in-memory storage (`memory://`), `None` for the others.
    #[cfg(feature = "node")]
    pub(crate) fn memory_settings(&self) -> Option<(EvictionPolicy, usize)> {
        match &self.opened {
            Opened::Memory { policy, size } => Some((*policy, *size)),
            Opened::Bytes(_) => None,
        }
    }

    /// The byte store, unless this is an in-memory storage.
    pub fn byte_store(&self) -> Option<Arc<dyn ByteStore>> {
        match &self.opened {
            Opened::Bytes(b) => Some(b.clone()),
            Opened::Memory { .. } => None,
        }
    }

    /// A tier for one cache, with the tier defaults ([`Tier::new`]; adjust the returned
    /// tier's timeout, failure policy and breaker as needed). Remote and persistent
    /// storages keep its entries under `namespace`, encoded with `codec`, and share this
    /// handle's connection; an in-memory storage gives each tier a store of its own (and
    /// needs neither).
    pub fn tier<K: TierKey, V: TierValue>(&self, namespace: Namespace, codec: Codec) -> Tier<K, V> {
        Tier::from_arc(self.storage(namespace, codec))
    }

    /// The typed storage [`tier`](Self::tier) puts in its tier.
    pub(crate) fn storage<K: TierKey, V: TierValue>(
        &self,
        namespace: Namespace,
        codec: Codec,
    ) -> Arc<dyn Storage<K, V>> {
        match &self.opened {
            Opened::Memory { policy, size } => {
                Arc::new(MemoryStorage::<K, V>::with_policy(*size, *policy))
            }
            Opened::Bytes(store) => Arc::new(Serialized::new(store.clone(), namespace, codec)),
        }
    }
}

/// Opens the storage of `url` and makes a tier of it (see [`StorageHandle::tier`]): the
/// one call from a URL to a tier.
///
/// # Errors
/// [`ConfigError::Url`] for a bad URL, [`ConfigError::Open`] when the storage cannot be
/// opened.
///
/// # Cancel safety
/// Cancel safe, as [`StorageHandle::open`].
pub async fn tier<K: TierKey, V: TierValue>(
    url: &str,
    namespace: Namespace,
    codec: Codec,
) -> Result<Tier<K, V>, ConfigError> {
    Ok(StorageHandle::open(url).await?.tier(namespace, codec))
}

/// Storages under names. [`Registry::global`] is the process's, used by
/// [`register_storage`], [`storage`] and [`named_tier`]; others can be made for tests or
/// for dependency injection.
#[derive(Debug, Default)]
pub struct Registry {
    storages: RwLock<HashMap<String, StorageHandle>>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Registry::default()
    }

    /// The process-wide registry.
    pub fn global() -> &'static Registry {
        static GLOBAL: OnceLock<Registry> = OnceLock::new();
        GLOBAL.get_or_init(Registry::new)
    }

    /// Opens the storage of `url` and keeps it as `name`, replacing (and returning) any
    /// storage of that name, as cacheme's `register_storage` does.
    ///
    /// # Errors
    /// As [`StorageHandle::open`]; the registry is then unchanged.
    ///
    /// # Cancel safety
    /// Cancel safe: the storage is registered only once it is open, in one step.
    pub async fn register(
        &self,
        name: &str,
        url: &str,
    ) -> Result<Option<StorageHandle>, ConfigError> {
        let handle = StorageHandle::open(url).await?;
        Ok(self.insert(name, handle))
    }

    /// Keeps `handle` as `name`, returning the storage it replaces.
    pub fn insert(&self, name: &str, handle: StorageHandle) -> Option<StorageHandle> {
        let mut map = self.storages.write().unwrap_or_else(|e| e.into_inner());
        map.insert(name.to_owned(), handle)
    }

    /// The storage registered as `name`.
    pub fn get(&self, name: &str) -> Option<StorageHandle> {
        let map = self.storages.read().unwrap_or_else(|e| e.into_inner());
        map.get(name).cloned()
    }

    /// Forgets `name`, returning its storage (tiers made from it keep working).
    pub fn remove(&self, name: &str) -> Option<StorageHandle> {
        let mut map = self.storages.write().unwrap_or_else(|e| e.into_inner());
        map.remove(name)
    }

    /// The registered names, sorted.
    pub fn names(&self) -> Vec<String> {
        let map = self.storages.read().unwrap_or_else(|e| e.into_inner());
        let mut names: Vec<String> = map.keys().cloned().collect();
        names.sort();
        names
    }

    /// A tier of the storage registered as `name` (see [`StorageHandle::tier`]).
    ///
    /// # Errors
    /// [`ConfigError::UnknownName`] when nothing is registered as `name`.
    pub fn tier<K: TierKey, V: TierValue>(
        &self,
        name: &str,
        namespace: Namespace,
        codec: Codec,
    ) -> Result<Tier<K, V>, ConfigError> {
        let handle = self.get(name).ok_or_else(|| ConfigError::UnknownName {
            name: name.to_owned(),
        })?;
        Ok(handle.tier(namespace, codec))
    }
}

/// Opens the storage of `url` and registers it process-wide as `name` (replacing any), as
/// cacheme's `register_storage`.
///
/// # Errors
/// As [`StorageHandle::open`].
///
/// # Cancel safety
/// Cancel safe, as [`Registry::register`].
pub async fn register_storage(name: &str, url: &str) -> Result<(), ConfigError> {
    Registry::global().register(name, url).await.map(drop)
}

/// The storage registered process-wide as `name`.
pub fn storage(name: &str) -> Option<StorageHandle> {
    Registry::global().get(name)
}

pub use crate::lazy_tier::lazy_tier;

/// A tier of the storage registered process-wide as `name`.
///
/// # Errors
/// [`ConfigError::UnknownName`] when nothing is registered as `name`.
pub fn named_tier<K: TierKey, V: TierValue>(
    name: &str,
    namespace: Namespace,
    codec: Codec,
) -> Result<Tier<K, V>, ConfigError> {
    Registry::global().tier(name, namespace, codec)
}
