//! [`Serialized`]: a typed [`Storage`] over a [`ByteStore`], with remote keys from a
//! [`Namespace`] and records from a [`Codec`].

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::SystemTime;

use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{
    ByteStore, Fetched, Stamp, Storage, StorageError, StoredEntry, TagStore, GENERATION_TTL,
};
use crate::codec::{Codec, EncodeError};
use crate::key::{CacheKey, Namespace};
use crate::tags::Tag;

/// A typed [`Storage`] over a [`ByteStore`]: keys become `{prefix}:{name}:{version}:{key}`
/// ([`Namespace`], [`CacheKey`]) and entries become records of the [`Codec`] (a header with the
/// wall-clock lifespan, then the serialized, optionally compressed value).
///
/// Records that fail to decode are reported as [`StorageError::Decode`], which a cache counts
/// as a miss (`decode_errors`), logs, and then overwrites with a fresh load.
///
/// ```no_run
/// # extern crate memocache_core as memocache;
/// # fn demo(redis: impl memocache::storage::ByteStore) {
/// use memocache::codec::Codec;
/// use memocache::key::Namespace;
/// use memocache::storage::Serialized;
///
/// let users: Serialized<_, u64, String> =
///     Serialized::new(redis, Namespace::new("users").version("2"), Codec::json());
/// # }
/// ```
pub struct Serialized<B, K, V> {
    /// Shared with the storages of the caches [`Storage::for_cache`] makes.
    store: Arc<B>,
    namespace: Namespace,
    codec: Codec,
    _types: PhantomData<fn(K) -> V>,
}

impl<B, K, V> fmt::Debug for Serialized<B, K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Serialized")
            .field("namespace", &self.namespace)
            .field("codec", &self.codec)
            .finish_non_exhaustive()
    }
}

impl<B: ByteStore, K, V> Serialized<B, K, V> {
    /// Entries of `store` under `namespace`, encoded with `codec`.
    pub fn new(store: B, namespace: Namespace, codec: Codec) -> Self {
        Serialized {
            store: Arc::new(store),
            namespace,
            codec,
            _types: PhantomData,
        }
    }

    /// The namespace.
    pub fn namespace(&self) -> &Namespace {
        &self.namespace
    }

    /// The codec.
    pub fn codec(&self) -> &Codec {
        &self.codec
    }

    /// The byte store.
    pub fn byte_store(&self) -> &B {
        &self.store
    }
}

impl<B, K, V> Serialized<B, K, V>
where
    B: ByteStore,
    K: CacheKey + Send + Sync + 'static,
    V: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    fn decode(&self, bytes: &[u8], now: SystemTime) -> Fetched<V> {
        let (stamp, record) = Stamp::split(bytes)?;
        let entry = self.codec.decode::<V>(record)?.with_stamp(stamp);
        Ok((!entry.is_expired(now)).then_some(entry))
    }

    /// The record of `entry`: the codec's, behind the envelope of its stamp if it has one.
    fn encode(&self, entry: &StoredEntry<V>) -> Result<Vec<u8>, StorageError> {
        let record = self.codec.encode(entry)?;
        if entry.stamp().is_empty() {
            return Ok(record);
        }
        let mut out = Vec::with_capacity(record.len() + 64);
        entry
            .stamp()
            .write_envelope(&mut out)
            .map_err(|e| StorageError::Encode(EncodeError::Serialize(e.to_string())))?;
        out.extend_from_slice(&record);
        Ok(out)
    }

    /// The remote key of `tag`'s generation: `{prefix}:{name}:{version}::{tag}`. No entry's
    /// key starts with `:` (the key encoding escapes it), so the two never meet, and clearing
    /// the namespace removes the generations too (which invalidates, never revives).
    fn generation_key(&self, tag: &Tag) -> String {
        let full = self.namespace.key(tag.as_str());
        let prefix = self.namespace.key_prefix();
        format!("{prefix}:{}", &full[prefix.len()..])
    }
}

impl<B, K, V> Storage<K, V> for Serialized<B, K, V>
where
    B: ByteStore,
    K: CacheKey + Send + Sync + 'static,
    V: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    fn name(&self) -> &str {
        self.store.name()
    }

    fn get<'a>(
        &'a self,
        key: &'a K,
    ) -> BoxFuture<'a, Result<Option<StoredEntry<V>>, StorageError>> {
        async move {
            let k = self.namespace.key(key);
            // A record over the codec's limit is refused before it is downloaded whole.
            match self.store.get_bounded(&k, self.codec.size_limit()).await? {
                None => Ok(None),
                Some(bytes) => Ok(self.decode(&bytes, SystemTime::now())?),
            }
        }
        .boxed()
    }

    fn get_many<'a>(
        &'a self,
        keys: &'a [K],
    ) -> BoxFuture<'a, Result<Vec<Fetched<V>>, StorageError>> {
        async move {
            if keys.is_empty() {
                return Ok(Vec::new());
            }
            let ks: Vec<String> = keys.iter().map(|k| self.namespace.key(k)).collect();
            let raw = self.store.get_many(&ks).await?;
            let now = SystemTime::now();
            Ok(raw
                .into_iter()
                .map(|b| match b {
                    None => Ok(None),
                    Some(bytes) => self.decode(&bytes, now),
                })
                .collect())
        }
        .boxed()
    }

    fn set<'a>(
        &'a self,
        key: &'a K,
        entry: StoredEntry<V>,
    ) -> BoxFuture<'a, Result<(), StorageError>> {
        async move {
            let k = self.namespace.key(key);
            match entry.time_to_live(SystemTime::now()) {
                None => self.store.remove(&k).await,
                Some(ttl) => {
                    let bytes = self.encode(&entry)?;
                    self.store.set(&k, bytes, ttl).await
                }
            }
        }
        .boxed()
    }

    fn set_many<'a>(
        &'a self,
        entries: Vec<(K, StoredEntry<V>)>,
    ) -> BoxFuture<'a, Result<(), StorageError>> {
        async move {
            let now = SystemTime::now();
            let mut items = Vec::with_capacity(entries.len());
            let mut expired = Vec::new();
            for (key, entry) in &entries {
                let k = self.namespace.key(key);
                match entry.time_to_live(now) {
                    Some(ttl) => items.push((k, self.encode(entry)?, ttl)),
                    None => expired.push(k),
                }
            }
            for k in &expired {
                self.store.remove(k).await?;
            }
            if items.is_empty() {
                return Ok(());
            }
            self.store.set_many(items).await
        }
        .boxed()
    }

    fn remove<'a>(&'a self, key: &'a K) -> BoxFuture<'a, Result<(), StorageError>> {
        async move { self.store.remove(&self.namespace.key(key)).await }.boxed()
    }

    fn clear(&self) -> BoxFuture<'_, Result<(), StorageError>> {
        async move {
            if self.namespace.is_versioned_last() {
                // `{prefix}:` is every node's and every cache's of the prefix: refuse.
                return Err(StorageError::backend(std::io::Error::other(
                    "a `{prefix}:{key}:{version}` namespace (typed nodes) has no key prefix of \
                     its own: clearing it would clear every entry of the prefix; invalidate \
                     keys one by one",
                )));
            }
            self.store.clear_prefix(self.namespace.key_prefix()).await
        }
        .boxed()
    }

    fn tag_store(&self) -> Option<&dyn TagStore> {
        Some(self)
    }

    fn for_cache(&self, cache: &str) -> Option<Arc<dyn Storage<K, V>>> {
        Some(Arc::new(Serialized {
            store: Arc::clone(&self.store),
            namespace: self.namespace.clone().cache(cache),
            codec: self.codec,
            _types: PhantomData,
        }))
    }
}

/// Generations are 8-byte records (u64 LE) under `{prefix}:{name}:{version}::{tag}`;
/// anything else there counts as no generation (a miss for the entries, never a match).
impl<B, K, V> TagStore for Serialized<B, K, V>
where
    B: ByteStore,
    K: CacheKey + Send + Sync + 'static,
    V: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    fn generations<'a>(
        &'a self,
        tags: &'a [Tag],
    ) -> BoxFuture<'a, Result<Vec<Option<u64>>, StorageError>> {
        async move {
            if tags.is_empty() {
                return Ok(Vec::new());
            }
            let keys: Vec<String> = tags.iter().map(|t| self.generation_key(t)).collect();
            let raw = self.store.get_many(&keys).await?;
            Ok(raw
                .into_iter()
                .map(|b| b.and_then(|b| Some(u64::from_le_bytes(b.try_into().ok()?))))
                .collect())
        }
        .boxed()
    }

    fn set_generations<'a>(
        &'a self,
        generations: &'a [(Tag, u64)],
    ) -> BoxFuture<'a, Result<(), StorageError>> {
        async move {
            let items = generations
                .iter()
                .map(|(t, g)| {
                    (
                        self.generation_key(t),
                        g.to_le_bytes().to_vec(),
                        GENERATION_TTL,
                    )
                })
                .collect();
            self.store.set_many(items).await
        }
        .boxed()
    }
}
