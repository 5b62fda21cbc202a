//! The caches under test: the [`Subject`] trait (`get`, get-or-load, `insert` on `u64 -> u64`)
//! and its implementations for memocache (each of [`MEMOCACHE_POLICIES`], and without expiry),
//! moka, quick_cache, cached, the `lru` crate, a `Mutex<HashMap>` and the exact single-list
//! least-recently-updated reference ([`LruUpdateExact`]); [`all_subjects`] names them.

use std::collections::HashMap;
use std::convert::Infallible;
use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::time::Duration;

use cached::Cached;
use memocache::{Cache, EvictionPolicy};

use super::ready;

/// A cache of `u64 -> u64` as the scenarios use it.
pub trait Subject: Send + Sync {
    /// The value of `k`, if cached.
    fn get(&self, k: u64) -> Option<u64>;
    /// The crate's get-or-load path (loading `k` itself on a miss).
    fn get_or_load(&self, k: u64) -> u64;
    /// Stores `v` for `k`.
    fn insert(&self, k: u64, v: u64);
}

/// memocache's policies in the benchmarks, with their `impl` names.
pub const MEMOCACHE_POLICIES: [(&str, EvictionPolicy); 4] = [
    ("memocache-lru-update", EvictionPolicy::LeastRecentlyUpdated),
    ("memocache-lru", EvictionPolicy::Lru),
    ("memocache-wtinylfu", EvictionPolicy::W_TINY_LFU),
    (
        "memocache-wtinylfu-doorkeeper",
        EvictionPolicy::WTinyLfu { doorkeeper: true },
    ),
];

/// A memocache `Cache` of `capacity` entries with `policy`.
pub fn memocache(capacity: usize, policy: EvictionPolicy) -> Cache<u64, u64> {
    Cache::builder()
        .capacity(capacity)
        .eviction_policy(policy)
        .update_after(Duration::from_secs(3_600))
        .expire_after(Duration::from_secs(3_600))
        .hasher_seed(SEED)
        .build()
        .expect("valid options")
}

/// The hash seed of every memocache subject (`CacheBuilder::hasher_seed`): single-threaded
/// tables (hit ratio, the climber's workloads) then repeat exactly from run to run.
pub const SEED: u64 = 1;

/// The default policy with no expiry, configured like the anchors of tables 1 and 2 (which
/// are built without one): its entries never go stale, so a hit reads no clock.
pub fn memocache_without_expiry(capacity: usize) -> Cache<u64, u64> {
    Cache::builder()
        .capacity(capacity)
        .update_after(Duration::MAX)
        .expire_after(Duration::MAX)
        .hasher_seed(SEED)
        .build()
        .expect("valid options")
}

/// The `impl` name of [`memocache_without_expiry`] in tables 1 and 2.
pub const NO_EXPIRY: &str = "memocache-lru-update-no-expiry";

impl Subject for Cache<u64, u64> {
    #[inline]
    fn get(&self, k: u64) -> Option<u64> {
        ready(Cache::get(self, &k))
    }
    #[inline]
    fn get_or_load(&self, k: u64) -> u64 {
        ready(Cache::get_or_load(self, k, move || async move {
            Ok::<_, Infallible>(k)
        }))
        .expect("the loader cannot fail")
    }
    #[inline]
    fn insert(&self, k: u64, v: u64) {
        ready(Cache::insert(self, k, v))
    }
}

impl Subject for moka::future::Cache<u64, u64> {
    #[inline]
    fn get(&self, k: u64) -> Option<u64> {
        ready(moka::future::Cache::get(self, &k))
    }
    #[inline]
    fn get_or_load(&self, k: u64) -> u64 {
        ready(self.get_with(k, async move { k }))
    }
    #[inline]
    fn insert(&self, k: u64, v: u64) {
        ready(moka::future::Cache::insert(self, k, v))
    }
}

impl Subject for quick_cache::sync::Cache<u64, u64> {
    #[inline]
    fn get(&self, k: u64) -> Option<u64> {
        quick_cache::sync::Cache::get(self, &k)
    }
    #[inline]
    fn get_or_load(&self, k: u64) -> u64 {
        match ready(self.get_value_or_guard_async(&k)) {
            Ok(v) => v,
            Err(guard) => {
                let _ = guard.insert(k);
                k
            }
        }
    }
    #[inline]
    fn insert(&self, k: u64, v: u64) {
        quick_cache::sync::Cache::insert(self, k, v)
    }
}

/// The `lru` crate behind a mutex.
pub struct LruCrate(Mutex<lru::LruCache<u64, u64>>);

impl LruCrate {
    /// An LRU of `capacity` entries.
    pub fn new(capacity: usize) -> Self {
        LruCrate(Mutex::new(lru::LruCache::new(
            NonZeroUsize::new(capacity.max(1)).expect("non-zero"),
        )))
    }
}

impl Subject for LruCrate {
    fn get(&self, k: u64) -> Option<u64> {
        self.0.lock().unwrap().get(&k).copied()
    }
    fn get_or_load(&self, k: u64) -> u64 {
        *self.0.lock().unwrap().get_or_insert(k, || k)
    }
    fn insert(&self, k: u64, v: u64) {
        self.0.lock().unwrap().put(k, v);
    }
}

/// Exact least-recently-updated with one list: the `lru` crate behind a mutex, read with
/// `peek` (no reordering) and written with `put` (the key becomes the most recent). The
/// reference for `memocache-lru-update` in table 3, whose store keeps one such list per shard
/// and evicts the oldest entry of the shard being written, not of the whole cache.
pub struct LruUpdateExact(Mutex<lru::LruCache<u64, u64>>);

/// The `impl` name of [`LruUpdateExact`] in table 3.
pub const LRU_UPDATE_EXACT: &str = "lru-update-exact";

impl LruUpdateExact {
    /// A least-recently-updated cache of `capacity` entries.
    pub fn new(capacity: usize) -> Self {
        LruUpdateExact(Mutex::new(lru::LruCache::new(
            NonZeroUsize::new(capacity.max(1)).expect("non-zero"),
        )))
    }
}

impl Subject for LruUpdateExact {
    fn get(&self, k: u64) -> Option<u64> {
        self.0.lock().unwrap().peek(&k).copied()
    }
    fn get_or_load(&self, k: u64) -> u64 {
        let mut lru = self.0.lock().unwrap();
        match lru.peek(&k) {
            Some(&v) => v,
            None => {
                lru.put(k, k);
                k
            }
        }
    }
    fn insert(&self, k: u64, v: u64) {
        self.0.lock().unwrap().put(k, v);
    }
}

/// cached's `SizedCache` (LRU) behind a mutex, as its `#[cached(size = ...)]` uses it.
pub struct CachedCrate(Mutex<cached::SizedCache<u64, u64>>);

impl CachedCrate {
    /// A `SizedCache` of `capacity` entries.
    pub fn new(capacity: usize) -> Self {
        CachedCrate(Mutex::new(cached::SizedCache::with_size(capacity.max(1))))
    }
}

impl Subject for CachedCrate {
    fn get(&self, k: u64) -> Option<u64> {
        self.0.lock().unwrap().cache_get(&k).copied()
    }
    fn get_or_load(&self, k: u64) -> u64 {
        *self.0.lock().unwrap().cache_get_or_set_with(k, || k)
    }
    fn insert(&self, k: u64, v: u64) {
        self.0.lock().unwrap().cache_set(k, v);
    }
}

/// A `Mutex<HashMap>` with std's hasher: unbounded, no eviction.
#[derive(Default)]
pub struct MutexMap(Mutex<HashMap<u64, u64>>);

impl Subject for MutexMap {
    fn get(&self, k: u64) -> Option<u64> {
        self.0.lock().unwrap().get(&k).copied()
    }
    fn get_or_load(&self, k: u64) -> u64 {
        *self.0.lock().unwrap().entry(k).or_insert(k)
    }
    fn insert(&self, k: u64, v: u64) {
        self.0.lock().unwrap().insert(k, v);
    }
}

/// Every cache of tables 1 and 2 with `capacity`, named.
pub fn all_subjects(capacity: usize) -> Vec<(String, Box<dyn Subject>)> {
    let mut out: Vec<(String, Box<dyn Subject>)> = MEMOCACHE_POLICIES
        .iter()
        .map(|&(name, p)| {
            (
                name.to_string(),
                Box::new(memocache(capacity, p)) as Box<dyn Subject>,
            )
        })
        .collect();
    out.push((
        NO_EXPIRY.into(),
        Box::new(memocache_without_expiry(capacity)),
    ));
    out.push((
        "moka".into(),
        Box::new(moka::future::Cache::new(capacity as u64)),
    ));
    out.push((
        "quick_cache".into(),
        Box::new(quick_cache::sync::Cache::new(capacity)),
    ));
    out.push(("cached".into(), Box::new(CachedCrate::new(capacity))));
    out.push(("lru".into(), Box::new(LruCrate::new(capacity))));
    out.push(("mutex-hashmap".into(), Box::new(MutexMap::default())));
    out
}
