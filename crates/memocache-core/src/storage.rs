//! Storage: the async [`Storage`] trait a cache tier implements, the [`StoredEntry`] it keeps,
//! the typed [`StorageError`] it reports, and the two kinds of implementation: a store that
//! keeps values ([`MemoryStorage`]) and a byte store ([`ByteStore`], e.g. Redis) made typed by
//! [`Serialized`] with a [`Namespace`] and a [`Codec`].
//!
//! A storage reports its own failures as errors; what the cache does with them (count, log,
//! treat as a miss, trip a circuit breaker, or hand them to the caller) is decided by the
//! [`tier`](crate::tier) it sits in. Lifespans are wall-clock ([`SystemTime`]) deadlines so
//! that entries written by one process are judged fresh, stale or expired the same way by any
//! other.
//!
//! The methods return boxed futures so that tiers of different types can sit in one chain
//! (`dyn Storage`). Only a cache with storage tiers calls them, and only on a miss of its own
//! in-memory store: a memory hit never goes through this trait.

use std::borrow::Borrow;
use std::fmt;
use std::hash::Hash;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::clock::Clock;
use crate::codec::{Codec, DecodeError, EncodeError};
use crate::key::{CacheKey, Namespace};
use crate::policy::{EvictionPolicy, RemovalCause};
use crate::store::{Lookup, MemoryStore, StoreOptions};

/// One value with its lifespan, as a storage keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEntry<V> {
    /// The value.
    pub value: V,
    /// When the value was loaded.
    pub created: SystemTime,
    /// From this moment on the entry is stale: served, and refreshed in the background.
    pub update_at: SystemTime,
    /// From this moment on the entry is never served.
    pub expire_at: SystemTime,
}

impl<V> StoredEntry<V> {
    /// An entry created now that is stale after `update_after` and expires after
    /// `expire_after` (an `update_after` past `expire_after` is cut to it).
    pub fn new(value: V, update_after: Duration, expire_after: Duration) -> Self {
        Self::created_at(SystemTime::now(), value, update_after, expire_after)
    }

    /// An entry created at `created`, with the same rules as [`StoredEntry::new`].
    pub fn created_at(
        created: SystemTime,
        value: V,
        update_after: Duration,
        expire_after: Duration,
    ) -> Self {
        let expire_at = wall_deadline(created, expire_after);
        let update_at = wall_deadline(created, update_after).min(expire_at);
        StoredEntry {
            value,
            created,
            update_at,
            expire_at,
        }
    }

    /// `true` when the entry must not be served at `now`.
    pub fn is_expired(&self, now: SystemTime) -> bool {
        now >= self.expire_at
    }

    /// `true` when the entry is servable and not yet stale at `now`.
    pub fn is_fresh(&self, now: SystemTime) -> bool {
        now < self.update_at && now < self.expire_at
    }

    /// Time left before expiry at `now`, or `None` when expired.
    pub fn time_to_live(&self, now: SystemTime) -> Option<Duration> {
        match self.expire_at.duration_since(now) {
            Ok(d) if !d.is_zero() => Some(d),
            _ => None,
        }
    }

    /// The entry's wall-clock deadlines seen from `now` (wall clock) as deadlines of the
    /// in-memory store's clock, which reads `store_now` at this moment: `(update_at,
    /// expire_at)`, or `None` when the entry has expired.
    pub(crate) fn store_deadlines(&self, now: SystemTime, store_now: u64) -> Option<(u64, u64)> {
        let ttl = self.time_to_live(now)?;
        let to_update = self.update_at.duration_since(now).unwrap_or_default();
        Some((
            Clock::deadline(store_now, to_update),
            Clock::deadline(store_now, ttl),
        ))
    }

    /// The same entry with its deadlines cut so that it expires at most `cap` after `now`
    /// (a tier's lifespan limit).
    pub fn capped(mut self, now: SystemTime, cap: Option<Duration>) -> Self {
        if let Some(cap) = cap {
            let limit = wall_deadline(now, cap);
            self.expire_at = self.expire_at.min(limit);
            self.update_at = self.update_at.min(self.expire_at);
        }
        self
    }
}

/// `t + d`, saturating a century ahead instead of overflowing.
pub(crate) fn wall_deadline(t: SystemTime, d: Duration) -> SystemTime {
    t.checked_add(d)
        .or_else(|| t.checked_add(Duration::from_secs(100 * 365 * 24 * 3600)))
        .unwrap_or(t)
}

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
pub trait Storage<K, V>: Send + Sync + 'static {
    /// A short name for logs and statistics (`"memory"`, `"redis"`, ...).
    fn name(&self) -> &str;

    /// The entry of `key`, if any and not expired.
    fn get<'a>(&'a self, key: &'a K)
        -> BoxFuture<'a, Result<Option<StoredEntry<V>>, StorageError>>;

    /// The entries of `keys`, one item per key in the same order.
    fn get_many<'a>(
        &'a self,
        keys: &'a [K],
    ) -> BoxFuture<'a, Result<Vec<Fetched<V>>, StorageError>>;

    /// Stores `entry` for `key` until its `expire_at`, replacing any entry.
    fn set<'a>(
        &'a self,
        key: &'a K,
        entry: StoredEntry<V>,
    ) -> BoxFuture<'a, Result<(), StorageError>>;

    /// Stores every entry (pipelined where the backend can).
    fn set_many<'a>(
        &'a self,
        entries: Vec<(K, StoredEntry<V>)>,
    ) -> BoxFuture<'a, Result<(), StorageError>>;

    /// Removes the entry of `key`, if any.
    fn remove<'a>(&'a self, key: &'a K) -> BoxFuture<'a, Result<(), StorageError>>;

    /// Removes every entry of this storage's namespace.
    fn clear(&self) -> BoxFuture<'_, Result<(), StorageError>>;
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
    fn get_many<'a>(
        &'a self,
        keys: &'a [K],
    ) -> BoxFuture<'a, Result<Vec<Fetched<V>>, StorageError>> {
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
    ) -> BoxFuture<'a, Result<(), StorageError>> {
        (**self).set_many(entries)
    }
    fn remove<'a>(&'a self, key: &'a K) -> BoxFuture<'a, Result<(), StorageError>> {
        (**self).remove(key)
    }
    fn clear(&self) -> BoxFuture<'_, Result<(), StorageError>> {
        (**self).clear()
    }
}

/// An async store of bytes under string keys with a time to live: what a remote server
/// (Redis, SQL, files) provides. [`Serialized`] turns one into a typed [`Storage`].
pub trait ByteStore: Send + Sync + 'static {
    /// A short name for logs and statistics.
    fn name(&self) -> &str;

    /// The bytes under `key`.
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, StorageError>>;

    /// The bytes under each key, in order.
    fn get_many<'a>(
        &'a self,
        keys: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<Option<Vec<u8>>>, StorageError>>;

    /// Stores `bytes` under `key` for `ttl` (at least one millisecond).
    fn set<'a>(
        &'a self,
        key: &'a str,
        bytes: Vec<u8>,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), StorageError>>;

    /// Stores every `(key, bytes, ttl)`.
    fn set_many(
        &self,
        items: Vec<(String, Vec<u8>, Duration)>,
    ) -> BoxFuture<'_, Result<(), StorageError>>;

    /// Removes `key`.
    fn remove<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StorageError>>;

    /// Removes every key that starts with `prefix`.
    fn clear_prefix<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<(), StorageError>>;
}

impl<B: ByteStore + ?Sized> ByteStore for Arc<B> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, StorageError>> {
        (**self).get(key)
    }
    fn get_many<'a>(
        &'a self,
        keys: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<Option<Vec<u8>>>, StorageError>> {
        (**self).get_many(keys)
    }
    fn set<'a>(
        &'a self,
        key: &'a str,
        bytes: Vec<u8>,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), StorageError>> {
        (**self).set(key, bytes, ttl)
    }
    fn set_many(
        &self,
        items: Vec<(String, Vec<u8>, Duration)>,
    ) -> BoxFuture<'_, Result<(), StorageError>> {
        (**self).set_many(items)
    }
    fn remove<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StorageError>> {
        (**self).remove(key)
    }
    fn clear_prefix<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<(), StorageError>> {
        (**self).clear_prefix(prefix)
    }
}

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
    store: B,
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
            store,
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
        let entry = self.codec.decode::<V>(bytes)?;
        Ok((!entry.is_expired(now)).then_some(entry))
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
            match self.store.get(&k).await? {
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
                    let bytes = self.codec.encode(&entry)?;
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
                    Some(ttl) => items.push((k, self.codec.encode(entry)?, ttl)),
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
        async move { self.store.clear_prefix(self.namespace.key_prefix()).await }.boxed()
    }
}

/// An in-memory [`Storage`] keeping values (not bytes): the same bounded, sharded store a
/// [`Cache`](crate::Cache) uses for its first tier, usable as an extra tier or on its own.
///
/// Deadlines are kept both as wall-clock times (returned with the entry) and as Tokio
/// instants (used for expiry, so paused test time applies).
pub struct MemoryStorage<K, V> {
    store: MemoryStore<K, StoredEntry<V>>,
}

impl<K, V> fmt::Debug for MemoryStorage<K, V>
where
    K: Hash + Eq + Clone,
    V: Clone,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStorage")
            .field("len", &self.store.len())
            .finish()
    }
}

impl<K, V> MemoryStorage<K, V>
where
    K: Hash + Eq + Clone,
    V: Clone,
{
    /// A store of at most `capacity` entries (at least 1), evicting the least recently
    /// updated.
    pub fn new(capacity: usize) -> Self {
        MemoryStorage {
            store: MemoryStore::new(StoreOptions {
                capacity: capacity.max(1) as u64,
                policy: EvictionPolicy::LeastRecentlyUpdated,
                weigher: None,
                listener: None,
            }),
        }
    }

    /// Entries held, including expired ones not yet removed.
    pub fn len(&self) -> usize {
        self.store.len()
    }

    /// `true` when no entry is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lookup<Q>(&self, key: &Q) -> Option<StoredEntry<V>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        match self.store.get(self.store.hash(key), key) {
            Lookup::Fresh(e) | Lookup::Stale { value: e, .. } => Some(e),
            Lookup::Miss => None,
        }
    }

    fn put(&self, key: K, entry: StoredEntry<V>) {
        let hash = self.store.hash(&key);
        let t = self.store.now();
        match entry.store_deadlines(SystemTime::now(), t) {
            None => {
                self.store.remove(hash, &key, RemovalCause::Explicit);
            }
            Some((update_at, expire_at)) => {
                self.store
                    .insert(hash, key, entry, t, update_at, expire_at, None);
            }
        }
    }
}

impl<K, V> Storage<K, V> for MemoryStorage<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    fn name(&self) -> &str {
        "memory"
    }

    fn get<'a>(
        &'a self,
        key: &'a K,
    ) -> BoxFuture<'a, Result<Option<StoredEntry<V>>, StorageError>> {
        std::future::ready(Ok(self.lookup(key))).boxed()
    }

    fn get_many<'a>(
        &'a self,
        keys: &'a [K],
    ) -> BoxFuture<'a, Result<Vec<Fetched<V>>, StorageError>> {
        std::future::ready(Ok(keys.iter().map(|k| Ok(self.lookup(k))).collect())).boxed()
    }

    fn set<'a>(
        &'a self,
        key: &'a K,
        entry: StoredEntry<V>,
    ) -> BoxFuture<'a, Result<(), StorageError>> {
        self.put(key.clone(), entry);
        std::future::ready(Ok(())).boxed()
    }

    fn set_many<'a>(
        &'a self,
        entries: Vec<(K, StoredEntry<V>)>,
    ) -> BoxFuture<'a, Result<(), StorageError>> {
        for (k, e) in entries {
            self.put(k, e);
        }
        std::future::ready(Ok(())).boxed()
    }

    fn remove<'a>(&'a self, key: &'a K) -> BoxFuture<'a, Result<(), StorageError>> {
        self.store
            .remove(self.store.hash(key), key, RemovalCause::Explicit);
        std::future::ready(Ok(())).boxed()
    }

    fn clear(&self) -> BoxFuture<'_, Result<(), StorageError>> {
        self.store.clear();
        std::future::ready(Ok(())).boxed()
    }
}

/// The storage contract as a reusable check, for the test suites of storage
/// implementations (enabled by the `contract` feature).
#[cfg(feature = "contract")]
pub mod contract {
    use std::time::{Duration, SystemTime};

    use super::{Storage, StoredEntry};

    /// Checks the [`Storage`] contract on `store`, using `other` — a storage of another
    /// namespace on the same backend — to check that `clear` stays in its namespace. Both
    /// should start empty. Uses keys `k0`…`k4` and `unknown`.
    ///
    /// # Panics
    /// On the first broken rule, with a message saying which.
    pub async fn check_storage<S>(store: &S, other: &S)
    where
        S: Storage<String, String> + ?Sized,
    {
        let k = |i: u32| format!("k{i}");
        let entry = |v: &str| {
            StoredEntry::new(
                v.to_owned(),
                Duration::from_secs(60),
                Duration::from_secs(600),
            )
        };

        // set then get
        let e = entry("v0");
        store.set(&k(0), e.clone()).await.expect("set");
        let got = store
            .get(&k(0))
            .await
            .expect("get")
            .expect("set then get: a hit");
        assert_eq!(got.value, "v0", "set then get: the value");
        let ms = |t: SystemTime| {
            t.duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_millis()
        };
        assert_eq!(ms(got.expire_at), ms(e.expire_at), "expire_at kept (ms)");
        assert_eq!(ms(got.update_at), ms(e.update_at), "update_at kept (ms)");
        assert_eq!(ms(got.created), ms(e.created), "created kept (ms)");

        // a lifespan that has passed is a miss
        let past = SystemTime::now() - Duration::from_secs(10);
        let expired = StoredEntry::created_at(
            past,
            "old".to_owned(),
            Duration::from_secs(1),
            Duration::from_secs(2),
        );
        store.set(&k(1), expired).await.expect("set expired");
        assert!(
            store.get(&k(1)).await.expect("get").is_none(),
            "an entry whose lifespan has passed is a miss"
        );
        store
            .set(
                &k(0),
                StoredEntry::created_at(
                    past,
                    "old".to_owned(),
                    Duration::from_secs(1),
                    Duration::from_secs(2),
                ),
            )
            .await
            .expect("set expired over live");
        assert!(
            store.get(&k(0)).await.expect("get").is_none(),
            "setting an expired entry removes the live one"
        );

        // get_many of [] is []
        assert!(
            store.get_many(&[]).await.expect("get_many []").is_empty(),
            "get_many of [] is []"
        );

        // set_many of 3, get_many of those 3 plus one unknown: exactly 3, in order
        store
            .set_many((2..5).map(|i| (k(i), entry(&format!("v{i}")))).collect())
            .await
            .expect("set_many");
        let keys = vec![k(2), "unknown".to_owned(), k(3), k(4)];
        let got = store.get_many(&keys).await.expect("get_many");
        assert_eq!(got.len(), 4, "one item per key");
        let values: Vec<Option<String>> = got
            .into_iter()
            .map(|r| r.expect("decodes").map(|e| e.value))
            .collect();
        assert_eq!(
            values,
            vec![
                Some("v2".to_owned()),
                None,
                Some("v3".to_owned()),
                Some("v4".to_owned())
            ],
            "get_many returns exactly the 3 set, in order"
        );

        // remove then miss
        store.remove(&k(2)).await.expect("remove");
        assert!(
            store.get(&k(2)).await.expect("get").is_none(),
            "remove then miss"
        );
        store
            .remove(&k(2))
            .await
            .expect("removing a missing key is fine");

        // clear removes only this namespace
        other.set(&k(3), entry("theirs")).await.expect("other set");
        store.clear().await.expect("clear");
        assert!(
            store.get(&k(3)).await.expect("get").is_none(),
            "clear removes ours"
        );
        assert!(
            store.get(&k(4)).await.expect("get").is_none(),
            "clear removes ours"
        );
        let theirs = other.get(&k(3)).await.expect("other get");
        assert_eq!(
            theirs.map(|e| e.value).as_deref(),
            Some("theirs"),
            "clear leaves other namespaces alone"
        );
        other.clear().await.expect("other clear");
    }
}
