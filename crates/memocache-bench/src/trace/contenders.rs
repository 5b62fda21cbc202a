//! The caches under test and what they load: the counting, sleeping [`Loader`], the
//! [`Contender`] trait the workers call, and its implementations for memocache (any store),
//! moka's `future::Cache::get_with` and quick_cache's async guard API.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use memocache::Cache;

/// The loader: counts its calls, sleeps, returns the key.
#[derive(Debug)]
pub struct Loader {
    calls: AtomicU64,
    load_time: Duration,
}

impl Loader {
    /// A loader that sleeps `load_time` per call.
    pub fn new(load_time: Duration) -> Self {
        Loader {
            calls: AtomicU64::new(0),
            load_time,
        }
    }

    /// One call: the value of `key` is `key`.
    pub async fn load(&self, key: u64) -> u64 {
        self.calls.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(self.load_time).await;
        key
    }

    /// Calls so far.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }
}

/// A cache under test: serves `key`, loading it with the shared [`Loader`] on a miss.
pub trait Contender: Send + Sync + 'static {
    /// The value of `key`.
    fn get(&self, key: u64) -> impl Future<Output = u64> + Send + '_;
}

/// memocache, on its in-memory store alone or with a Redis or SQL tier.
pub(crate) struct Memocache {
    pub(crate) cache: Cache<u64, u64>,
    pub(crate) loader: Arc<Loader>,
}

impl Contender for Memocache {
    async fn get(&self, key: u64) -> u64 {
        let loader = self.loader.clone();
        self.cache
            .get_with(key, move || async move { loader.load(key).await })
            .await
            .expect("the loader neither fails nor times out")
    }
}

/// moka's `future::Cache`, loading with `get_with`.
pub(super) struct Moka {
    pub(super) cache: moka::future::Cache<u64, u64>,
    pub(super) loader: Arc<Loader>,
}

impl Contender for Moka {
    async fn get(&self, key: u64) -> u64 {
        self.cache.get_with(key, self.loader.load(key)).await
    }
}

/// quick_cache's `sync::Cache`, loading through its async guard API.
pub(super) struct QuickCache {
    pub(super) cache: quick_cache::sync::Cache<u64, u64>,
    pub(super) loader: Arc<Loader>,
}

impl Contender for QuickCache {
    async fn get(&self, key: u64) -> u64 {
        match self.cache.get_value_or_guard_async(&key).await {
            Ok(v) => v,
            Err(guard) => {
                let v = self.loader.load(key).await;
                // Fails only if the entry was meanwhile inserted another way; `v` is still right.
                let _ = guard.insert(v);
                v
            }
        }
    }
}
