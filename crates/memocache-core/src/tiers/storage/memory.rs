//! [`MemoryStorage`]: a [`Storage`] keeping values in this process, on the same sharded
//! [memory](crate::memory) a cache reads first.

use std::borrow::Borrow;
use std::fmt;
use std::hash::Hash;
use std::time::{Duration, SystemTime};

use futures_util::future::BoxFuture;
use futures_util::FutureExt;

use std::collections::HashMap;

use super::{Fetched, Storage, StorageError, StoredEntry, TagStore};
use crate::memory::policy::{EvictionPolicy, RemovalCause};
use crate::memory::{Backoff, Lookup, Memory, MemoryOptions, NewEntry};
use crate::sync::Mutex;
use crate::tags::Tag;

/// An in-memory [`Storage`] keeping values (not bytes): the same bounded, sharded store a
/// [`Cache`](crate::Cache) uses for its first tier, usable as an extra tier or on its own.
///
/// Deadlines are kept both as wall-clock times (returned with the entry) and on the in-memory
/// store's clock (used for expiry: the kernel's coarse clock, or with the `test-util` feature
/// Tokio's, so paused test time applies).
///
/// It can hold the entries of a cache with tags: it keeps their stamps, and its tags'
/// generations in a map of at most four per entry of capacity (at least 4096), emptied when
/// full (which makes every tagged entry it holds a miss: a generation lost never revives an
/// entry).
pub struct MemoryStorage<K, V> {
    store: Memory<K, StoredEntry<V>>,
    generations: Mutex<HashMap<Tag, u64>>,
    max_generations: usize,
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
        Self::with_policy(capacity, EvictionPolicy::LeastRecentlyUpdated)
    }

    /// A store of at most `capacity` entries (at least 1), evicting by `policy` (cacheme's
    /// `local://lru` and `local://tlfu`).
    pub fn with_policy(capacity: usize, policy: EvictionPolicy) -> Self {
        MemoryStorage {
            generations: Mutex::new(HashMap::new()),
            max_generations: capacity.saturating_mul(4).max(4096),
            store: Memory::new(MemoryOptions {
                capacity: capacity.max(1) as u64,
                policy,
                weighted: false,
                seed: None,
                listener: None,
                // Refreshes are the cache's business, not this storage's.
                backoff: Backoff {
                    base: Duration::ZERO,
                    max: Duration::ZERO,
                },
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
                let removed = self.store.remove(hash, &key, RemovalCause::Explicit);
                self.store.notify(removed);
            }
            Some((update_at, expire_at)) => {
                let entry = NewEntry {
                    key,
                    value: entry,
                    weight: 1,
                    update_at,
                    expire_at,
                    max_hits: None,
                };
                let removed = self.store.insert(hash, entry, t);
                self.store.notify(removed);
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
        let removed = self
            .store
            .remove(self.store.hash(key), key, RemovalCause::Explicit);
        self.store.notify(removed);
        std::future::ready(Ok(())).boxed()
    }

    fn clear(&self) -> BoxFuture<'_, Result<(), StorageError>> {
        self.store.clear();
        std::future::ready(Ok(())).boxed()
    }

    fn tag_store(&self) -> Option<&dyn TagStore> {
        Some(self)
    }
}

impl<K, V> TagStore for MemoryStorage<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    fn generations<'a>(
        &'a self,
        tags: &'a [Tag],
    ) -> BoxFuture<'a, Result<Vec<Option<u64>>, StorageError>> {
        let map = self.generations.lock();
        let found = tags.iter().map(|t| map.get(t).copied()).collect();
        std::future::ready(Ok(found)).boxed()
    }

    fn set_generations<'a>(
        &'a self,
        generations: &'a [(Tag, u64)],
    ) -> BoxFuture<'a, Result<(), StorageError>> {
        let mut map = self.generations.lock();
        if map.len() + generations.len() > self.max_generations {
            map.clear();
        }
        map.extend(generations.iter().cloned());
        std::future::ready(Ok(())).boxed()
    }
}
