//! Helpers shared by the integration tests that use them (`mod common;`): `until`, and a
//! storage whose operations stop at gates the test opens ([`Held`]).
#![allow(dead_code)] // each test crate uses its own part

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use memocache_core::storage::{MemoryStorage, Storage, StorageError, StoredEntry, TagStore};
use memocache_core::{Cache, Tier};
use tokio::sync::Notify;

/// Yields until `cond` holds (the spawned tasks make progress meanwhile); panics after
/// 10,000 yields.
pub async fn until(mut cond: impl FnMut() -> bool) {
    for _ in 0..10_000 {
        if cond() {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("condition not reached");
}

/// A gate one kind of storage operation stops at while it is closed.
#[derive(Default)]
pub struct Gate {
    closed: AtomicBool,
    waiting: AtomicUsize,
    opened: Notify,
}

impl Gate {
    pub fn close(&self) {
        self.closed.store(true, SeqCst);
    }

    pub fn open(&self) {
        self.closed.store(false, SeqCst);
        self.opened.notify_waiters();
    }

    /// Operations stopped at the gate right now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(SeqCst)
    }

    pub async fn pass(&self) {
        if !self.closed.load(SeqCst) {
            return;
        }
        self.waiting.fetch_add(1, SeqCst);
        loop {
            let opened = self.opened.notified();
            tokio::pin!(opened);
            opened.as_mut().enable();
            if !self.closed.load(SeqCst) {
                break;
            }
            opened.await;
        }
        self.waiting.fetch_sub(1, SeqCst);
    }
}

/// A [`MemoryStorage`] whose reads, writes, removals and clears can be held back: a held read
/// has already read (it returns what the storage had when it arrived); a held write, removal
/// or clear lands when its gate opens.
pub struct Held<K = u32, V = u64> {
    inner: MemoryStorage<K, V>,
    pub get: Gate,
    pub set: Gate,
    pub remove: Gate,
    pub clear: Gate,
}

impl<K, V> Held<K, V>
where
    K: std::hash::Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    pub fn new() -> Arc<Self> {
        Arc::new(Held {
            inner: MemoryStorage::new(1_000),
            get: Gate::default(),
            set: Gate::default(),
            remove: Gate::default(),
            clear: Gate::default(),
        })
    }

    pub fn inner(&self) -> &MemoryStorage<K, V> {
        &self.inner
    }

    /// The value the storage holds for `key` now (no gate).
    pub async fn value(&self, key: K) -> Option<V> {
        self.inner().get(&key).await.unwrap().map(|e| e.value)
    }
}

impl<K, V> Storage<K, V> for Held<K, V>
where
    K: std::hash::Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    fn name(&self) -> &str {
        "held"
    }
    fn get<'a>(
        &'a self,
        key: &'a K,
    ) -> BoxFuture<'a, Result<Option<StoredEntry<V>>, StorageError>> {
        async move {
            let found = self.inner().get(key).await;
            self.get.pass().await;
            found
        }
        .boxed()
    }
    fn set<'a>(
        &'a self,
        key: &'a K,
        entry: StoredEntry<V>,
    ) -> BoxFuture<'a, Result<(), StorageError>> {
        async move {
            self.set.pass().await;
            self.inner().set(key, entry).await
        }
        .boxed()
    }
    fn tag_store(&self) -> Option<&dyn TagStore> {
        self.inner.tag_store()
    }
    fn remove<'a>(&'a self, key: &'a K) -> BoxFuture<'a, Result<(), StorageError>> {
        async move {
            self.remove.pass().await;
            self.inner().remove(key).await
        }
        .boxed()
    }
    fn clear(&self) -> BoxFuture<'_, Result<(), StorageError>> {
        async move {
            self.clear.pass().await;
            self.inner().clear().await
        }
        .boxed()
    }
}

/// A cache over one [`Held`] tier whose operations never time out on their own (the gates
/// decide), with 10 s / 60 s lifespans.
pub fn tiered(tier: &Arc<Held>) -> Cache<u32, u64> {
    Cache::builder()
        .update_after(Duration::from_secs(10))
        .expire_after(Duration::from_secs(60))
        .tier(Tier::from_arc(tier.clone()).timeout(Duration::from_secs(3_600)))
        .build()
        .unwrap()
}

/// A loader that counts its calls and returns `value`.
pub fn loader(
    calls: &Arc<AtomicUsize>,
    value: u64,
) -> impl FnOnce() -> std::future::Ready<Result<u64, String>> + Send + 'static {
    let calls = calls.clone();
    move || {
        calls.fetch_add(1, SeqCst);
        std::future::ready(Ok(value))
    }
}

/// What the memory alone holds for `key` (the tiers are not asked: `Lookup` only).
pub async fn in_memory(c: &Cache<u32, u64>, key: u32) -> Option<u64> {
    // A memory-only view: a miss here must not read the tier.
    let before = c.stats().tiers[0].hits();
    let before_misses = c.stats().tiers[0].misses;
    let v = c.get(&key).await;
    let s = c.stats();
    if s.tiers[0].hits() != before || s.tiers[0].misses != before_misses {
        return None; // came from the tier: memory did not have it
    }
    v
}
