//! A tier over a storage *name*, resolved in the process-wide [`Registry`] on first use
//! ([`lazy_tier`]): what `#[memoize(storage = "...")]` builds, so that a memoized function
//! can name a storage that `register_storage` connects later (it is async; the function's
//! cache is built on its first call). Until the name is registered, every operation of the
//! tier is a [`StorageError`] — under the tier's default `OnError::Skip` a counted, logged
//! miss: the function still runs, cached in memory only. Once registered it is that storage,
//! for good.

use std::sync::{Arc, OnceLock};

use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use memocache_core::codec::Codec;
use memocache_core::key::Namespace;
use memocache_core::storage::{Fetched, Storage, StorageError, StoredEntry, TagStore};
use memocache_core::{Tag, Tier};

use crate::registry::{ConfigError, Registry, TierKey, TierValue};

/// The storage behind a [`lazy_tier`].
struct Lazy<K, V> {
    name: String,
    namespace: Namespace,
    codec: Codec,
    /// The cache's key space, once the builder gave it ([`Storage::for_cache`]).
    cache: Option<String>,
    resolved: OnceLock<Arc<dyn Storage<K, V>>>,
}

impl<K: TierKey, V: TierValue> Lazy<K, V> {
    /// The storage, resolved now if the name is registered.
    fn storage(&self) -> Result<&Arc<dyn Storage<K, V>>, StorageError> {
        if let Some(s) = self.resolved.get() {
            return Ok(s);
        }
        let handle = Registry::global().get(&self.name).ok_or_else(|| {
            StorageError::backend(ConfigError::UnknownName {
                name: self.name.clone(),
            })
        })?;
        let storage = handle.storage::<K, V>(self.namespace.clone(), self.codec);
        let storage = match &self.cache {
            Some(cache) => storage.for_cache(cache).unwrap_or(storage),
            None => storage,
        };
        Ok(self.resolved.get_or_init(|| storage))
    }
}

/// A tier over the storage registered (now or later) as `name` in the process-wide
/// [`Registry`], with its entries under `namespace`, encoded with `codec`: what
/// `#[memoize(storage = "...")]` builds. The name is looked up on the tier's first use, so
/// it may be registered after the cache is built (`register_storage` is async); until then
/// every operation is a [`StorageError`] — under the tier's default `OnError::Skip` a
/// counted, logged miss. Once found, it is that storage for good.
pub fn lazy_tier<K: TierKey, V: TierValue>(
    name: &str,
    namespace: Namespace,
    codec: Codec,
) -> Tier<K, V> {
    Tier::new(Lazy::<K, V> {
        name: name.to_owned(),
        namespace,
        codec,
        cache: None,
        resolved: OnceLock::new(),
    })
}

impl<K: TierKey, V: TierValue> Storage<K, V> for Lazy<K, V> {
    fn name(&self) -> &str {
        &self.name
    }

    fn get<'a>(
        &'a self,
        key: &'a K,
    ) -> BoxFuture<'a, Result<Option<StoredEntry<V>>, StorageError>> {
        async move { self.storage()?.get(key).await }.boxed()
    }

    fn get_many<'a>(
        &'a self,
        keys: &'a [K],
    ) -> BoxFuture<'a, Result<Vec<Fetched<V>>, StorageError>> {
        async move { self.storage()?.get_many(keys).await }.boxed()
    }

    fn set<'a>(
        &'a self,
        key: &'a K,
        entry: StoredEntry<V>,
    ) -> BoxFuture<'a, Result<(), StorageError>> {
        async move { self.storage()?.set(key, entry).await }.boxed()
    }

    fn set_many<'a>(
        &'a self,
        entries: Vec<(K, StoredEntry<V>)>,
    ) -> BoxFuture<'a, Result<(), StorageError>> {
        async move { self.storage()?.set_many(entries).await }.boxed()
    }

    fn remove<'a>(&'a self, key: &'a K) -> BoxFuture<'a, Result<(), StorageError>> {
        async move { self.storage()?.remove(key).await }.boxed()
    }

    fn clear(&self) -> BoxFuture<'_, Result<(), StorageError>> {
        async move { self.storage()?.clear().await }.boxed()
    }

    /// Every storage a registry name can stand for keeps tags (byte stores through
    /// `Serialized`, and `MemoryStorage`), so this one does, once resolved.
    fn tag_store(&self) -> Option<&dyn TagStore> {
        Some(self)
    }

    fn for_cache(&self, cache: &str) -> Option<Arc<dyn Storage<K, V>>> {
        Some(Arc::new(Lazy::<K, V> {
            name: self.name.clone(),
            namespace: self.namespace.clone(),
            codec: self.codec,
            cache: Some(cache.to_owned()),
            resolved: OnceLock::new(),
        }))
    }
}

impl<K: TierKey, V: TierValue> TagStore for Lazy<K, V> {
    fn generations<'a>(
        &'a self,
        tags: &'a [Tag],
    ) -> BoxFuture<'a, Result<Vec<Option<u64>>, StorageError>> {
        async move {
            let store = self.storage()?;
            let tags_of = store.tag_store().ok_or_else(no_tags)?;
            tags_of.generations(tags).await
        }
        .boxed()
    }

    fn set_generations<'a>(
        &'a self,
        generations: &'a [(Tag, u64)],
    ) -> BoxFuture<'a, Result<(), StorageError>> {
        async move {
            let store = self.storage()?;
            let tags_of = store.tag_store().ok_or_else(no_tags)?;
            tags_of.set_generations(generations).await
        }
        .boxed()
    }
}

fn no_tags() -> StorageError {
    StorageError::backend(std::io::Error::other(
        "the registered storage keeps no tags",
    ))
}
