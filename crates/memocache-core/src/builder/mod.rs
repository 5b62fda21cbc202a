//! The builder: every option of a [`Cache`], its default (py-memoize's), and its validation.

mod results;

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use crate::cache::Cache;
use crate::entry::{EntryBuilder, FixedLifespan};
use crate::error::BuildError;
use crate::memory::policy::{EvictionPolicy, RemovalCause};
use crate::memory::{Backoff, Listener, MemoryOptions};
use crate::shared::{Config, Postprocess, StoreIf, Weigher};
use crate::tags::{Tagging, Zone};
use crate::tiers::{self, Tier, Tiers};

/// Default capacity: 4096 entries.
pub const DEFAULT_CAPACITY: usize = 4096;
/// Default method timeout: 2 minutes.
pub const DEFAULT_METHOD_TIMEOUT: Duration = Duration::from_secs(2 * 60);
/// Default `update_after`: 10 minutes.
pub const DEFAULT_UPDATE_AFTER: Duration = Duration::from_secs(10 * 60);
/// Default `expire_after`: 30 minutes.
pub const DEFAULT_EXPIRE_AFTER: Duration = Duration::from_secs(30 * 60);
/// Default delay before retrying a failed background refresh: 1 second (doubling with each
/// failure in a row).
pub const DEFAULT_REFRESH_BACKOFF: Duration = Duration::from_secs(1);
/// Default longest delay between retries of a failing background refresh: 60 seconds.
pub const DEFAULT_REFRESH_BACKOFF_MAX: Duration = Duration::from_secs(60);

/// Whether the Tokio runtime this thread is in, if any, has a time driver (loads run under
/// the method timeout). Outside a runtime there is nothing to check yet: a runtime without
/// one then fails each load with a `Panicked` error that says so.
fn timers_available() -> bool {
    match tokio::runtime::Handle::try_current() {
        Err(_) => true,
        // Creating a timer in a runtime without a time driver panics (and the panic hook
        // prints it: the one message such a build shows besides the error).
        Ok(_) => std::panic::catch_unwind(|| drop(tokio::time::sleep(Duration::ZERO))).is_ok(),
    }
}

/// Makes a distributed cache's coordination once its key space (its name) is known.
#[cfg(feature = "json")]
type MakeNode<K> = Box<dyn FnOnce(Option<&str>) -> crate::coord::Node<K> + Send>;

/// Builds a [`Cache`]. Get one from [`Cache::builder`].
///
/// Defaults (py-memoize's): capacity 4096 entries, method timeout 2 minutes, `update_after`
/// 10 minutes, `expire_after` 30 minutes, eviction [`EvictionPolicy::LeastRecentlyUpdated`], no
/// `max_hits`, no post-processing; a failed background refresh is retried after 1 s, doubling
/// up to 60 s.
///
/// ```
/// # extern crate memocache_core as memocache;
/// use std::time::Duration;
/// use memocache::{Cache, EvictionPolicy};
///
/// let cache: Cache<u64, String> = Cache::builder()
///     .capacity(10_000)
///     .update_after(Duration::from_secs(60))
///     .expire_after(Duration::from_secs(300))
///     .method_timeout(Duration::from_secs(5))
///     .eviction_policy(EvictionPolicy::Lru)
///     .name("users")
///     .build()?;
/// # Ok::<(), memocache::BuildError>(())
/// ```
pub struct CacheBuilder<K, V> {
    capacity: usize,
    method_timeout: Duration,
    update_after: Duration,
    expire_after: Duration,
    policy: EvictionPolicy,
    entry_builder: Option<Arc<dyn EntryBuilder<K, V>>>,
    postprocess: Option<Postprocess<V>>,
    max_hits: Option<u32>,
    store_if: Option<StoreIf<K, V>>,
    error_lifespan: Option<Duration>,
    early_refresh: Option<f64>,
    hasher_seed: Option<u64>,
    name: Option<Arc<str>>,
    weigher: Option<Weigher<K, V>>,
    listener: Option<Listener<K, V>>,
    tiers: Vec<Tier<K, V>>,
    memory_cap: Option<Duration>,
    memory: bool,
    spawn_loads: bool,
    refresh_backoff: Duration,
    refresh_backoff_max: Duration,
    tagging: Tagging<K>,
    /// The key space of the tiers: the memoized function's path, else the cache's name.
    space: Option<Arc<str>>,
    /// `distributed`: the coordination, made once the key space is known.
    #[cfg(feature = "json")]
    distributed: Option<MakeNode<K>>,
    _types: PhantomData<fn(K) -> V>,
}

impl<K, V> Default for CacheBuilder<K, V> {
    fn default() -> Self {
        CacheBuilder {
            capacity: DEFAULT_CAPACITY,
            method_timeout: DEFAULT_METHOD_TIMEOUT,
            update_after: DEFAULT_UPDATE_AFTER,
            expire_after: DEFAULT_EXPIRE_AFTER,
            policy: EvictionPolicy::default(),
            entry_builder: None,
            postprocess: None,
            max_hits: None,
            store_if: None,
            error_lifespan: None,
            early_refresh: None,
            hasher_seed: None,
            name: None,
            weigher: None,
            listener: None,
            tiers: Vec::new(),
            memory_cap: None,
            memory: true,
            spawn_loads: false,
            refresh_backoff: DEFAULT_REFRESH_BACKOFF,
            refresh_backoff_max: DEFAULT_REFRESH_BACKOFF_MAX,
            tagging: Tagging::default(),
            space: None,
            #[cfg(feature = "json")]
            distributed: None,
            _types: PhantomData,
        }
    }
}

impl<K, V> fmt::Debug for CacheBuilder<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheBuilder")
            .field("capacity", &self.capacity)
            .field("method_timeout", &self.method_timeout)
            .field("update_after", &self.update_after)
            .field("expire_after", &self.expire_after)
            .field("policy", &self.policy)
            .field("custom_entry_builder", &self.entry_builder.is_some())
            .field("postprocess", &self.postprocess.is_some())
            .field("max_hits", &self.max_hits)
            .field("hasher_seed", &self.hasher_seed)
            .field("name", &self.name)
            .field("weigher", &self.weigher.is_some())
            .field("eviction_listener", &self.listener.is_some())
            .field("tiers", &self.tiers)
            .field("memory_cap", &self.memory_cap)
            .field("memory", &self.memory)
            .field("spawn_loads", &self.spawn_loads)
            .field("refresh_backoff", &self.refresh_backoff)
            .field("refresh_backoff_max", &self.refresh_backoff_max)
            .field("zone", &self.tagging.zone.as_ref().map(Zone::name))
            .field("zone_key", &self.tagging.zone_key.is_some())
            .field("tags", &self.tagging.tags.len())
            .finish()
    }
}

impl<K, V> CacheBuilder<K, V>
where
    K: std::hash::Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// A builder with the default options.
    pub fn new() -> Self {
        Self::default()
    }

    /// The most entries the in-memory store holds (default 4096), or with a
    /// [`weigher`](Self::weigher) the most total weight. Must be at least 1.
    pub fn capacity(mut self, entries: usize) -> Self {
        self.capacity = entries;
        self
    }

    /// How long a loader may run before it is cancelled and its waiters get
    /// [`Error::Timeout`](crate::Error::Timeout) (default 2 minutes). Must be positive.
    pub fn method_timeout(mut self, timeout: Duration) -> Self {
        self.method_timeout = timeout;
        self
    }

    /// Runs every miss's load in a task of its own (default `false`).
    ///
    /// By default, in a cache without tiers, the request that misses a key runs the load (or
    /// [`Cache::refresh`](crate::Cache::refresh)) inside its own future, and the others wait
    /// for it: a miss costs no task. Dropped mid-load, it hands the load to a task, which
    /// finishes it. But a request that stays alive without being polled (a future parked in
    /// a `select!` loop, or leaked) holds its load, its method timeout and its waiters back
    /// until it is polled or dropped: set this if your code parks futures that way. Tiered
    /// caches and loads nested over 16 deep on a thread are spawned regardless, as are
    /// background refreshes, `get`'s tier reads, batch loads and tier writes.
    pub fn spawn_loads(mut self, spawn: bool) -> Self {
        self.spawn_loads = spawn;
        self
    }

    /// Age after which an entry is stale: served at once while one background refresh
    /// replaces it (default 10 minutes). Must not exceed `expire_after`.
    ///
    /// Deadlines are checked against a coarse clock (the kernel tick, 1–4 ms on Linux), or
    /// Tokio's clock with the `test-util` feature (see the crate docs on paused time).
    pub fn update_after(mut self, after: Duration) -> Self {
        self.update_after = after;
        self
    }

    /// Age after which an entry is never served again; the next request waits for a load
    /// (default 30 minutes). Must be positive.
    pub fn expire_after(mut self, after: Duration) -> Self {
        self.expire_after = after;
        self
    }

    /// The eviction policy (default least-recently-updated).
    pub fn eviction_policy(mut self, policy: EvictionPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Bounds the store by total weight instead of entry count: `capacity` becomes the most
    /// total weight, and each entry weighs `weigher(key, value)` (computed once, when it is
    /// stored). An entry heavier than its shard's share of the capacity (`capacity / shards`,
    /// see [`Cache::max_entry_weight`]) is not stored, which is not an error: callers still
    /// get the value, and the eviction listener sees it with [`RemovalCause::Size`].
    ///
    /// The weigher may run while the cache holds an internal lock for the key: it must not
    /// call back into the same cache (not even to format it with `{:?}`), which could
    /// deadlock. A panic in it is caught: see [`Stats::callback_panics`](crate::Stats).
    /// Zero-weight entries are allowed and never evicted for size alone.
    ///
    /// ```
    /// # extern crate memocache_core as memocache;
    /// use memocache::Cache;
    ///
    /// // At most about 64 MiB of values.
    /// let blobs: Cache<String, Vec<u8>> = Cache::builder()
    ///     .capacity(64 << 20)
    ///     .weigher(|_key: &String, blob: &Vec<u8>| blob.len().try_into().unwrap_or(u32::MAX))
    ///     .build()?;
    /// # Ok::<(), memocache::BuildError>(())
    /// ```
    pub fn weigher(mut self, weigher: impl Fn(&K, &V) -> u32 + Send + Sync + 'static) -> Self {
        self.weigher = Some(Arc::new(weigher));
        self
    }

    /// Called with the key, the value and the [`RemovalCause`] of every entry that leaves the
    /// in-memory store: evicted for size, expired, invalidated, or replaced by a new value.
    /// It runs synchronously on the thread that removed the entry, after the store's lock is
    /// released (so it may use the cache), and should be cheap. Each removal is reported
    /// exactly once.
    ///
    /// ```
    /// # extern crate memocache_core as memocache;
    /// use std::sync::{Arc, Mutex};
    /// use memocache::{Cache, RemovalCause};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), memocache::BuildError> {
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let log = seen.clone();
    /// let cache: Cache<u32, String> = Cache::builder()
    ///     .capacity(1)
    ///     .eviction_listener(move |k, _v, cause| log.lock().unwrap().push((k, cause)))
    ///     .build()?;
    /// cache.insert(1, "one".into()).await;
    /// cache.insert(2, "two".into()).await;
    /// assert_eq!(*seen.lock().unwrap(), [(1, RemovalCause::Size)]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn eviction_listener(
        mut self,
        listener: impl Fn(K, V, RemovalCause) + Send + Sync + 'static,
    ) -> Self {
        self.listener = Some(Arc::new(listener));
        self
    }

    /// Decides each loaded entry's lifespan, replacing the fixed `update_after` and
    /// `expire_after` (which are then only validated). See [`EntryBuilder`], including what
    /// it must not do (call back into the same cache).
    pub fn entry_builder(mut self, builder: impl EntryBuilder<K, V>) -> Self {
        self.entry_builder = Some(Arc::new(builder));
        self
    }

    /// A function applied to every value served, hits and freshly loaded values alike
    /// (py-memoize's post-processing), for example a deep copy. Default: none.
    pub fn postprocess(mut self, f: impl Fn(V) -> V + Send + Sync + 'static) -> Self {
        self.postprocess = Some(Arc::new(f));
        self
    }

    /// Drops an entry after it has been served this many times from the cache (fresco-memoize's
    /// `max_hits`); the next request loads again. The request that loaded the value does not
    /// count. Must be at least 1. Default: unlimited.
    pub fn max_hits(mut self, hits: u32) -> Self {
        self.max_hits = Some(hits);
        self
    }

    /// Fixes the seed of the hash the memory gives its keys (shard choice, hash table,
    /// W-TinyLFU's frequency sketch) instead of drawing a random one per cache, so that the
    /// same single-threaded sequence of requests makes the same eviction decisions — the same
    /// hit ratio to the entry — in every run and every process (of one build: the hash is
    /// foldhash's, whose output may differ between its versions and between 32- and 64-bit
    /// targets). For tests and benchmarks; a cache whose keys come from untrusted input should
    /// keep the random default, which makes flooding one shard with colliding keys impractical.
    ///
    /// The hash is foldhash's (`foldhash::fast`, fixed shared constants with this per-cache
    /// seed). There is no way to plug a different hasher: the one hash indexes the shards,
    /// their tables, the sketch and the in-flight table, and a type parameter for it on
    /// every cache would buy little over a seed.
    pub fn hasher_seed(mut self, seed: u64) -> Self {
        self.hasher_seed = Some(seed);
        self
    }

    /// A name for this cache, shown in `Debug` and logs, and the cache's own key space in its
    /// storage tiers: a [`Serialized`](crate::storage::Serialized) tier keys entries
    /// `{prefix}:{name}:{version}:{cache name}:{key}`
    /// ([`Namespace::cache`](crate::key::Namespace::cache)), so caches with different names
    /// never share an entry even in one namespace, and two processes share a cache's entries
    /// when they give it the same name. (A memoized function's key space is its path.)
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(Arc::from(name.into()));
        self
    }

    /// Makes the cache a member of `zone` (fresco-memoize's `zone=`): the zone's
    /// [`invalidate_all`](Zone::invalidate_all) clears it, and its
    /// [`invalidate`](Zone::invalidate) clears the entries whose zone key (below) is the
    /// dependency given. See the [`Zone`] documentation.
    pub fn zone(mut self, zone: &Zone) -> Self {
        self.tagging.zone = Some(zone.clone());
        self
    }

    /// The cache's own zone key (fresco-memoize's `zonekey=`): the dependency of the entry of
    /// `key` in the cache's zone (its `Display` text names it), instead of the zone's key
    /// function. Without a zone, it is a tag of its own, invalidated with
    /// [`Cache::invalidate_tags`](crate::Cache::invalidate_tags).
    ///
    /// It runs when a load starts and during invalidations, never on a hit; it must be a pure
    /// function of the key (see [`Tag`](crate::Tag)). A panic in it is caught and counted; the key then
    /// counts as depending on everything (an invalidation removes it).
    pub fn zone_key<D: fmt::Display>(
        mut self,
        key: impl Fn(&K) -> D + Send + Sync + 'static,
    ) -> Self {
        self.tagging.set_zone_key(key);
        self
    }

    /// Explicit tags of each entry (cashews' tags, `#[memoize(tags = [...])]`): every item's
    /// `Display` text is a dependency, like a zone key's (in the cache's zone if it has one).
    /// Invalidate them with [`Cache::invalidate_tags`](crate::Cache::invalidate_tags) (or the
    /// zone's [`invalidate`](Zone::invalidate)). Same rules as [`zone_key`](Self::zone_key).
    ///
    /// ```
    /// # extern crate memocache_core as memocache;
    /// use memocache::Cache;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// // (user, post) -> rendered post, tagged with its user.
    /// let posts: Cache<(u32, u32), String> = Cache::builder()
    ///     .tags(|&(user, _post): &(u32, u32)| [format!("user:{user}")])
    ///     .build()?;
    /// posts.insert((1, 10), "hello".into()).await;
    /// posts.insert((2, 20), "world".into()).await;
    /// posts.invalidate_tags(["user:1"]).await?;
    /// assert_eq!(posts.len(), 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn tags<I>(mut self, tags: impl Fn(&K) -> I + Send + Sync + 'static) -> Self
    where
        I: IntoIterator,
        I::Item: fmt::Display,
    {
        self.tagging.add_tags(tags);
        self
    }

    /// Tags every entry with the tag of the memoized function named `name`, so that one
    /// generation bump invalidates them all in every tier (`Memo::invalidate_all`).
    #[doc(hidden)]
    pub fn own_tag(mut self, name: &str) -> Self {
        self.tagging.own = Some(Tagging::<K>::own_tag(name));
        self.space = Some(Arc::from(name));
        self
    }

    /// Adds a storage tier below the memory (and below the tiers added before it): cacheme's
    /// chain `caches=[local, redis]` is a cache with one tier. See the [`tier` module](crate::tier) for
    /// how the chain is read, backfilled and written, and for the failure policy.
    ///
    /// A memory-only cache (no tier) pays nothing for this: tiers are consulted only on a
    /// miss of the in-memory store.
    pub fn tier(mut self, tier: Tier<K, V>) -> Self {
        self.tiers.push(tier);
        self
    }

    /// How long a stale entry's failed background refresh waits before the next one is tried
    /// (default 1 s); each further failure in a row doubles the wait, up to
    /// [`refresh_backoff_max`](Self::refresh_backoff_max). Meanwhile the stale value is served
    /// and no refresh is started; a successful refresh (or any new value) resets it. Must be
    /// positive.
    ///
    /// ```
    /// # extern crate memocache_core as memocache;
    /// use std::time::Duration;
    ///
    /// let cache: memocache::Cache<u32, u32> = memocache::Cache::builder()
    ///     .refresh_backoff(Duration::from_millis(200)) // 0.2 s, 0.4 s, 0.8 s, ...
    ///     .refresh_backoff_max(Duration::from_secs(5)) // ... at most 5 s
    ///     .build()?;
    /// # Ok::<(), memocache::BuildError>(())
    /// ```
    pub fn refresh_backoff(mut self, first_retry: Duration) -> Self {
        self.refresh_backoff = first_retry;
        self
    }

    /// The longest wait between two tries of a failing background refresh (default 60 s). Must
    /// not be less than [`refresh_backoff`](Self::refresh_backoff).
    pub fn refresh_backoff_max(mut self, max: Duration) -> Self {
        self.refresh_backoff_max = max;
        self
    }

    /// Entries written to the in-memory store (loaded, inserted or backfilled from a tier)
    /// expire at most this long after being written, whatever their own lifespan (cacheme's
    /// per-cache `ttl` for the local cache). Default: no cap. Must be positive.
    pub fn memory_expire_cap(mut self, cap: Duration) -> Self {
        self.memory_cap = Some(cap);
        self
    }

    /// Writes nothing to the in-memory store: values live only in the storage tiers (a
    /// remote-only cache, such as cacheme's Redis-only node), and every request reads the
    /// tiers, still inside the single flight (N concurrent requests for a key cause one tier
    /// read and at most one loader call). Without any tier the cache stores nothing at all and
    /// only coalesces concurrent loads of a key (Go's `singleflight`).
    ///
    /// ```
    /// # extern crate memocache_core as memocache;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let dedup: memocache::Cache<u32, u32> =
    ///     memocache::Cache::builder().without_memory_tier().build().unwrap();
    /// assert_eq!(dedup.get_with(1, || async { 10 }).await.unwrap(), 10);
    /// assert_eq!(dedup.len(), 0); // nothing kept: the next call loads again
    /// # }
    /// ```
    pub fn without_memory_tier(mut self) -> Self {
        self.memory = false;
        self
    }

    /// Builds the cache, or says which option is invalid.
    pub fn build(self) -> Result<Cache<K, V>, BuildError> {
        if self.capacity == 0 {
            return Err(BuildError::ZeroCapacity);
        }
        if self.method_timeout.is_zero() {
            return Err(BuildError::ZeroTimeout);
        }
        if self.expire_after.is_zero() {
            return Err(BuildError::ZeroExpireAfter);
        }
        if self.update_after > self.expire_after {
            return Err(BuildError::UpdateAfterExceedsExpireAfter {
                update_after: self.update_after,
                expire_after: self.expire_after,
            });
        }
        if self.max_hits == Some(0) {
            return Err(BuildError::ZeroMaxHits);
        }
        if let Some(beta) = self.early_refresh.filter(|b| !(b.is_finite() && *b > 0.0)) {
            return Err(BuildError::InvalidEarlyRefresh(beta.to_string()));
        }
        if self.error_lifespan.is_some_and(|l| l.is_zero()) {
            return Err(BuildError::ZeroErrorLifespan);
        }
        if self.memory_cap.is_some_and(|c| c.is_zero()) {
            return Err(BuildError::ZeroMemoryExpireCap);
        }
        if self.refresh_backoff.is_zero() {
            return Err(BuildError::ZeroRefreshBackoff);
        }
        if self.refresh_backoff_max < self.refresh_backoff {
            return Err(BuildError::RefreshBackoffMaxBelowBackoff {
                backoff: self.refresh_backoff,
                max: self.refresh_backoff_max,
            });
        }
        tiers::validate(&self.tiers)?;
        if !timers_available() {
            return Err(BuildError::TimersDisabled);
        }
        let fixed = FixedLifespan {
            update_after: self.update_after,
            expire_after: self.expire_after,
        };
        let memory = MemoryOptions {
            capacity: self.capacity as u64,
            policy: self.policy,
            weighted: self.weigher.is_some(),
            seed: self.hasher_seed,
            listener: self.listener,
            backoff: Backoff {
                base: self.refresh_backoff,
                max: self.refresh_backoff_max,
            },
        };
        let name = self.name.as_deref().unwrap_or("");
        let space = self.space.as_ref().or(self.name.as_ref());
        let tiers = self.tiers.into_iter().map(|t| match space {
            Some(space) => t.for_cache(space),
            None => t,
        });
        let tiers = Tiers::new(tiers.collect(), name);
        #[cfg(feature = "json")]
        let distributed = match self.distributed {
            Some(_) if tiers.is_none() => return Err(BuildError::DistributedWithoutTier),
            Some(node) => Some(node(space.map(|s| &**s))),
            None => None,
        };
        #[cfg(not(feature = "json"))]
        let distributed = None;
        if let (true, Some(tiers)) = (self.tagging.has_deps(), &tiers) {
            tiers
                .keep_tags()
                .map_err(|tier| BuildError::TagsUnsupported { tier })?;
        }
        let config = Config {
            capacity: self.capacity,
            method_timeout: self.method_timeout,
            lifespan: fixed,
            policy: self.policy,
            custom_lifespans: self.entry_builder.is_some(),
            entry_builder: self.entry_builder.unwrap_or_else(|| Arc::new(fixed)),
            postprocess: self.postprocess,
            max_hits: self.max_hits,
            store_if: self.store_if,
            error_lifespan: self.error_lifespan,
            early_refresh: self.early_refresh,
            name: self.name,
            weigher: self.weigher,
            memory_cap: self.memory_cap,
            memory: self.memory,
            tagging: self.tagging,
            spawn_loads: self.spawn_loads,
        };
        Ok(Cache::from_parts(config, memory, tiers, distributed))
    }
}

#[cfg(feature = "json")]
impl<K, V> CacheBuilder<K, V>
where
    K: crate::key::CacheKey
        + serde::Serialize
        + serde::de::DeserializeOwned
        + std::hash::Hash
        + Eq
        + Clone
        + Send
        + Sync
        + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// Makes the cache one of many sharing a server (see [`Distributed`](crate::Distributed)):
    /// one loader call per key across every process (a lease in the server), and
    /// invalidations that reach every process's memory (events on the cache's channel). Needs a
    /// storage tier; keys travel in events as JSON (`K: Serialize + DeserializeOwned`). The
    /// cache's name (or memoized function's path) is added to the namespace, as for its tiers.
    pub fn distributed(mut self, distributed: crate::Distributed) -> Self {
        self.distributed = Some(Box::new(move |space: Option<&str>| {
            let mut d = distributed;
            if let Some(space) = space {
                d.namespace = d.namespace.cache(space);
            }
            crate::coord::Node::new(d)
        }));
        self
    }
}
