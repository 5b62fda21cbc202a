//! Negative caching ([`CacheBuilder::cache_errors`](crate::CacheBuilder::cache_errors)): a
//! load's own error ([`Error::Load`](crate::Error::Load)) remembered for a short lifespan, so
//! requests for that key meanwhile get the same error without calling their loader (cached's
//! `cache_err`, cashews' `with_exceptions`). Timeouts, panics, cancellations and storage errors
//! are transient and never remembered. Memory only: nothing goes to the tiers.
//!
//! Remembered errors live beside the memory in a bounded map (as many keys as the cache's
//! capacity): a value stored for the key, an `insert`, an invalidation or a clear forgets them.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::sync::Mutex;

/// One remembered error.
struct Remembered {
    until: Instant,
    error: Arc<dyn Any + Send + Sync>,
    /// The loader's error type: only a request whose loader fails with it gets the error.
    error_type: TypeId,
}

/// The remembered errors of a cache with negative caching on.
pub(crate) struct Negatives<K> {
    lifespan: Duration,
    capacity: usize,
    map: Mutex<HashMap<K, Remembered>>,
}

impl<K: Hash + Eq + Clone> Negatives<K> {
    pub(crate) fn new(lifespan: Duration, capacity: usize) -> Self {
        Negatives {
            lifespan,
            capacity: capacity.max(1),
            map: Mutex::new(HashMap::new()),
        }
    }

    /// The error remembered for `key`, if its lifespan has not passed and it is an `E`.
    pub(crate) fn recall<E: Send + Sync + 'static>(&self, key: &K) -> Option<Arc<E>> {
        let mut map = self.map.lock();
        let found = map.get(key)?;
        if found.until <= Instant::now() {
            map.remove(key);
            return None;
        }
        if found.error_type != TypeId::of::<E>() {
            return None;
        }
        Arc::clone(&found.error).downcast().ok()
    }

    /// Remembers the error of `key`'s failed load (of the loader error type `error_type`).
    pub(crate) fn remember(&self, key: &K, error: Arc<dyn Any + Send + Sync>, error_type: TypeId) {
        let now = Instant::now();
        let mut map = self.map.lock();
        if map.len() >= self.capacity && !map.contains_key(key) {
            map.retain(|_, r| r.until > now);
            if map.len() >= self.capacity {
                // Still full of live errors: forget any one to make room.
                if let Some(k) = map.keys().next().cloned() {
                    map.remove(&k);
                }
            }
        }
        let until = now + self.lifespan;
        map.insert(
            key.clone(),
            Remembered {
                until,
                error,
                error_type,
            },
        );
    }

    /// Forgets `key`'s error (a value was stored, or the key written or invalidated).
    pub(crate) fn forget<Q>(&self, key: &Q)
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let mut map = self.map.lock();
        if !map.is_empty() {
            map.remove(key);
        }
    }

    /// Forgets every error (an `invalidate_all`, or an invalidation by tag).
    pub(crate) fn clear(&self) {
        self.map.lock().clear();
    }
}
