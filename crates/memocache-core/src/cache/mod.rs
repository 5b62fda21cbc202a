//! The [`Cache`]: the public API, and the hit path.
//!
//! A request hashes its key once and looks it up in the [memory](crate::memory): a fresh
//! value returns at once; a stale one returns at once and, when due, starts a background
//! refresh; a miss goes to the [load](crate::load), which joins the flight that owns the key
//! or starts one. `insert` and the invalidations ([`writes`]) go to
//! [`load::write`](crate::load::write); invalidations by tag, zone or scope ([`groups`]) to
//! [`load::untag`](crate::load::untag).
//! Nothing here touches a tier or holds a lock across an await.

use std::borrow::Borrow;
use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;

use crate::builder::CacheBuilder;
use crate::error::Error;
use crate::load;
use crate::load::clear::ClearGate;
use crate::load::flight::Flights;
use crate::memory::{Lookup, Memory, MemoryOptions};
use crate::shared::{Config, Running, Shared};
use crate::stats::{Stats, StatsCounter};
use crate::tiers::Tiers;

mod batch;
mod batcher;
#[cfg(feature = "metrics")]
pub(crate) mod metrics;
pub use batch::{BatchItems, BatchResult};
pub use batcher::Batcher;
mod groups;
mod writes;

/// An async cache that loads each missing key once, however many callers ask for it, and
/// refreshes stale entries in the background.
///
/// `Cache` is a handle: cloning it is cheap and every clone shares the same entries.
/// Values are cloned out on every hit; wrap large values in [`Arc`] to make that a reference
/// count increment.
///
/// # Lifespans
/// Each stored entry has two deadlines (see [`Lifespan`](crate::Lifespan)): after `update_after` it is *stale*,
/// still served at once while one background refresh replaces it; after `expire_after` it is
/// never served again and the next request waits for a load.
///
/// # Example
/// ```
/// # extern crate memocache_core as memocache;
/// use std::time::Duration;
/// use memocache::Cache;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let cache: Cache<u64, String> = Cache::builder()
///     .update_after(Duration::from_secs(60))
///     .expire_after(Duration::from_secs(600))
///     .build()?;
///
/// let user = cache
///     .get_or_load(42, || async { Ok::<_, std::io::Error>("user 42".to_string()) })
///     .await?;
/// assert_eq!(user, "user 42");
/// // served from the cache: this loader is not called
/// let again = cache.get_or_load(42, || async { unreachable!() as Result<String, std::io::Error> }).await?;
/// assert_eq!(again, "user 42");
/// # Ok(())
/// # }
/// ```
pub struct Cache<K, V> {
    inner: Arc<Shared<K, V>>,
}

impl<K, V> Clone for Cache<K, V> {
    fn clone(&self) -> Self {
        Cache {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<K, V> fmt::Debug for Cache<K, V>
where
    K: Hash + Eq + Clone,
    V: Clone,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.inner.config;
        f.debug_struct("Cache")
            .field("name", &c.name)
            .field("len", &self.inner.memory.len())
            .field("capacity", &c.capacity)
            .field("policy", &c.policy)
            .field("method_timeout", &c.method_timeout)
            .field("lifespan", &c.lifespan)
            .field("max_hits", &c.max_hits)
            .field("loads_in_flight", &self.inner.running.count())
            .field(
                "tiers",
                &self
                    .inner
                    .tiers
                    .as_ref()
                    .map(|t| t.describe())
                    .unwrap_or_default(),
            )
            .finish()
    }
}

impl<K, V> Default for Cache<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    fn default() -> Self {
        Self::new()
    }
}

impl<K, V> Cache<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// A cache with the default options (see [`CacheBuilder`]).
    pub fn new() -> Self {
        CacheBuilder::new()
            .build()
            .expect("the default options are valid")
    }

    /// A builder to set the options.
    pub fn builder() -> CacheBuilder<K, V> {
        CacheBuilder::new()
    }

    pub(crate) fn from_parts(
        config: Config<K, V>,
        memory: MemoryOptions<K, V>,
        tiers: Option<Tiers<K, V>>,
        distributed: crate::coord::hooks::Slot<K>,
    ) -> Self {
        let negatives = config
            .error_lifespan
            .map(|lifespan| load::negative::Negatives::new(lifespan, config.capacity));
        let cache = Cache {
            inner: Arc::new(Shared {
                negatives,
                load_time: load::early::LoadTime::new(),
                memory: Memory::new(memory),
                flights: Flights::new(),
                tiers,
                clearing: ClearGate::new(),
                running: Arc::new(Running::new()),
                stats: StatsCounter::new(),
                tagger: std::sync::OnceLock::new(),
                distributed,
                config,
            }),
        };
        let inner = &cache.inner;
        if let Some(tagger) = inner.config.tagging.clone().into_tagger() {
            let _ = inner.tagger.set(tagger);
        }
        if let Some(zone) = &inner.config.tagging.zone {
            zone.join(Arc::downgrade(inner) as std::sync::Weak<dyn crate::tags::Member>);
        }
        crate::coord::hooks::start(inner);
        cache
    }

    /// The name given on the builder, if any.
    pub fn name(&self) -> Option<&str> {
        self.inner.config.name.as_deref()
    }

    /// The capacity: in entries, or in total weight when the cache has a weigher.
    pub fn capacity(&self) -> usize {
        self.inner.config.capacity
    }

    /// Total weight of the entries held (their number when there is no weigher), including
    /// expired ones not yet removed.
    pub fn weighted_size(&self) -> u64 {
        self.inner.memory.weighted_size()
    }

    /// The heaviest entry the memory can hold: it is sharded, and each shard holds its share
    /// of the capacity.
    pub fn max_entry_weight(&self) -> u64 {
        self.inner.memory.max_entry_weight()
    }

    /// The value as served: post-processed, if the cache has a post-processing function. A
    /// panic in it is caught, counted (`Stats::callback_panics`) and logged, and is this
    /// request's `Error::Panicked` (for `get`, a miss): the cache is untouched.
    #[inline]
    pub(super) fn post<E>(&self, v: V) -> Result<V, Error<E>> {
        match &self.inner.config.postprocess {
            None => Ok(v),
            Some(p) => self.inner.postprocess(p, v).map_err(Error::Panicked),
        }
    }

    /// Returns the value of `key`, loading it with `loader` if the cache has no servable value.
    ///
    /// - **Fresh** entry: returned; `loader` is not called.
    /// - **Stale** entry (older than `update_after`): returned at once, and `loader` is started
    ///   in the background to replace it, unless a load of this key is already in flight or a
    ///   failed refresh is backing off ([`CacheBuilder::refresh_backoff`], by default 1 s after
    ///   the first failure, doubling up to 60 s). A failed refresh keeps the stale value until
    ///   it expires.
    /// - **Missing or expired**: the caller waits for a load, started by `loader` or already in
    ///   flight.
    ///
    /// The loader's value is stored with the lifespan the entry builder gives it, unless the
    /// key was invalidated or inserted while it loaded. Loader errors, timeouts and panics are
    /// never stored.
    ///
    /// # Concurrent calls on the same key
    /// Only one load of a key runs at a time (unless `insert` or `invalidate` took the key from
    /// a load still running: the next caller then starts a new one). Every caller that finds no
    /// value while a load is
    /// in flight waits for that load and receives its outcome: a clone of the value, or the
    /// same error (`Error::Load` holds one `Arc<E>` shared by all of them). Their own loaders
    /// are dropped without being called.
    ///
    /// ```
    /// # extern crate memocache_core as memocache;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// use memocache::Cache;
    ///
    /// # #[tokio::main]
    /// # async fn main() {
    /// let cache: Cache<&'static str, u32> = Cache::new();
    /// let calls = Arc::new(AtomicUsize::new(0));
    /// let tasks: Vec<_> = (0..100)
    ///     .map(|_| {
    ///         let (cache, calls) = (cache.clone(), calls.clone());
    ///         tokio::spawn(async move {
    ///             cache
    ///                 .get_or_load("answer", move || async move {
    ///                     calls.fetch_add(1, Ordering::SeqCst);
    ///                     tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    ///                     Ok::<_, std::convert::Infallible>(42)
    ///                 })
    ///                 .await
    ///                 .unwrap()
    ///         })
    ///     })
    ///     .collect();
    /// for t in tasks {
    ///     assert_eq!(t.await.unwrap(), 42);
    /// }
    /// assert_eq!(calls.load(Ordering::SeqCst), 1);
    /// # }
    /// ```
    ///
    /// # Cancel safety
    /// This method is cancel safe. Dropping the future of any caller — including the one
    /// whose loader is running — neither cancels the load nor affects the other waiters; the
    /// load runs to completion (or to the method timeout) and stores its value. No key is
    /// ever left marked as loading. In a cache without tiers the caller that starts a load
    /// runs it inside its own future (a miss costs no task); dropped mid-load, it hands the
    /// load, as far as it got, to a task on the runtime it was started in, which finishes it
    /// (a runtime that has shut down drops it: its waiters get [`Error::Cancelled`]). Such a
    /// caller that stays alive but is no longer polled holds its load back until it is
    /// polled or dropped; see [`CacheBuilder::spawn_loads`](crate::CacheBuilder::spawn_loads).
    /// A cache with tiers runs every load in a task of its own. Dropping any other caller's
    /// future while it waits leaves nothing behind.
    ///
    /// Where the loader runs: on the caller's task until a handoff, then on a task of its
    /// own. A loader should not rely on the caller's task-locals (`tokio::task_local!`): they
    /// are gone after a handoff, or from the start in a tiered cache. Its tracing events
    /// belong to the `memocache.flight` span when a subscriber takes debug spans; else, for
    /// a load its caller runs, to the caller's span (also after a handoff), and for a
    /// spawned one to none.
    ///
    /// ```
    /// # extern crate memocache_core as memocache;
    /// use std::convert::Infallible;
    /// use memocache::Cache;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let cache: Cache<u32, u32> = Cache::new();
    /// let (release, gate) = tokio::sync::oneshot::channel::<()>();
    /// let first = tokio::spawn({
    ///     let cache = cache.clone();
    ///     async move {
    ///         cache
    ///             .get_or_load(1, || async move {
    ///                 gate.await.ok(); // a slow backend
    ///                 Ok::<_, Infallible>(7)
    ///             })
    ///             .await
    ///     }
    /// });
    /// while cache.loads_in_flight() == 0 {
    ///     tokio::task::yield_now().await;
    /// }
    /// first.abort(); // the caller whose loader is running goes away...
    /// let second = tokio::spawn({
    ///     let cache = cache.clone();
    ///     // ...a later caller joins the same load; its own loader is never called
    ///     async move { cache.get_or_load(1, || async { Ok::<u32, Infallible>(0) }).await }
    /// });
    /// while cache.stats().coalesced == 0 {
    ///     tokio::task::yield_now().await;
    /// }
    /// release.send(()).unwrap();
    /// assert_eq!(second.await.unwrap().unwrap(), 7);
    /// assert_eq!(cache.stats().loads_started, 1);
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`Error::Load`] with the loader's error, [`Error::Timeout`] when the loader ran longer
    /// than the method timeout (it is then dropped), [`Error::Panicked`] when it panicked,
    /// [`Error::Cancelled`] when the runtime shut down during the load, [`Error::Storage`] when
    /// a tier set to [`OnError::Propagate`](crate::tier::OnError::Propagate) failed. In every
    /// case nothing is stored and the next request for the key starts a new load — except an
    /// [`Error::Load`] that negative caching
    /// ([`CacheBuilder::cache_errors`](crate::CacheBuilder::cache_errors)) remembers for its
    /// lifespan. A panic in
    /// the entry builder or the weigher (user callbacks run on the loaded value) is a
    /// [`Error::Panicked`] too.
    ///
    /// # Panics
    /// A panic inside `loader` does not unwind into the caller: it is caught and every waiter
    /// gets [`Error::Panicked`] with the panic message. This method panics only when called
    /// outside a Tokio runtime without the `smol` feature, as `tokio::spawn` does (with the
    /// feature, a call outside Tokio hands a dropped caller's load to smol's global
    /// executor).
    ///
    /// ```
    /// # extern crate memocache_core as memocache;
    /// use memocache::{Cache, Error};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let cache: Cache<u32, u32> = Cache::new();
    /// let err = cache
    ///     .get_or_load(1, || async {
    ///         if true {
    ///             panic!("driver bug");
    ///         }
    ///         Ok::<u32, std::io::Error>(0)
    ///     })
    ///     .await
    ///     .unwrap_err();
    /// assert!(matches!(&err, Error::Panicked(message) if &**message == "driver bug"));
    /// // Nothing was stored and nothing is poisoned: the next request loads again.
    /// let v = cache.get_or_load(1, || async { Ok::<_, std::io::Error>(5) }).await.unwrap();
    /// assert_eq!(v, 5);
    /// # }
    /// ```
    pub async fn get_or_load<F, Fut, E>(&self, key: K, loader: F) -> Result<V, Error<E>>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<V, E>> + Send + 'static,
        E: Send + Sync + 'static,
    {
        self.get_or_load_lazy(key, move || loader).await
    }

    /// Like [`get_or_load`](Self::get_or_load), but the loader is built by `make_loader` only
    /// when one is needed: on a miss, or on a stale hit that is due for a refresh. A fresh hit
    /// never calls `make_loader`, except one that starts an early refresh
    /// ([`CacheBuilder::early_refresh`](crate::CacheBuilder::early_refresh)).
    ///
    /// The loader must be `'static` (it may run in the background after the caller is gone),
    /// so building it usually means cloning what it needs — arguments, a client handle.
    /// `make_loader` itself may borrow, which moves that cloning off the hit path: this is what
    /// `#[memoize]` expands to.
    ///
    /// ```
    /// # extern crate memocache_core as memocache;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// struct Client { base: String }
    /// impl Client {
    ///     async fn fetch(base: String, id: u32) -> Result<String, std::io::Error> {
    ///         Ok(format!("{base}/{id}"))
    ///     }
    /// }
    /// let client = Client { base: "https://api".into() };
    /// let cache: memocache::Cache<u32, String> = memocache::Cache::new();
    /// let v = cache
    ///     .get_or_load_lazy(1, || {
    ///         let base = client.base.clone(); // runs only on a miss or a due refresh
    ///         move || Client::fetch(base, 1)
    ///     })
    ///     .await
    ///     .unwrap();
    /// assert_eq!(v, "https://api/1");
    /// # }
    /// ```
    ///
    /// `make_loader` runs on the caller's task, outside every lock of the cache, at most once.
    ///
    /// # Cancel safety, errors and panics
    /// As for [`get_or_load`](Self::get_or_load). A panic in `make_loader` itself unwinds into
    /// the caller (it runs before any load starts, so no other caller is affected).
    pub async fn get_or_load_lazy<M, F, Fut, E>(
        &self,
        key: K,
        make_loader: M,
    ) -> Result<V, Error<E>>
    where
        M: FnOnce() -> F,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<V, E>> + Send + 'static,
        E: Send + Sync + 'static,
    {
        // `&Shared`, not `&Arc<Shared>`: one pointer chase fewer on every hit.
        let inner = &*self.inner;
        let hash = inner.memory.hash(&key);
        match inner.memory.get(hash, &key) {
            Lookup::Fresh(v) => {
                inner.stats.add(|c| &c.hits_fresh, 1);
                if let Some(beta) = inner.config.early_refresh {
                    load::early::maybe_refresh(&self.inner, hash, &key, beta, make_loader);
                }
                return self.post(v);
            }
            Lookup::Stale { value, refresh_due } => {
                inner.stats.add(|c| &c.hits_stale, 1);
                if refresh_due {
                    let of = load::RefreshOf::StaleHit;
                    load::refresh(&self.inner, hash, key, make_loader(), of);
                }
                return self.post(value);
            }
            Lookup::Miss => {}
        }
        inner.stats.add(|c| &c.misses, 1);
        // Out of line (boxed): the hit path's future stays small, which is what every hit
        // moves when it is pinned.
        let loaded = Box::pin(load::get_or_load(&self.inner, hash, key, make_loader())).await;
        self.post(loaded?)
    }

    /// Like [`get_or_load`](Self::get_or_load) for a loader that cannot fail. The result is
    /// still a `Result`: the load may time out or panic.
    ///
    /// ```
    /// # extern crate memocache_core as memocache;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let cache: memocache::Cache<u32, u32> = memocache::Cache::new();
    /// let square = cache.get_with(7, || async { 49 }).await.unwrap();
    /// assert_eq!(square, 49);
    /// # }
    /// ```
    ///
    /// # Cancel safety
    /// As for `get_or_load`: cancel safe.
    pub async fn get_with<F, Fut>(&self, key: K, loader: F) -> Result<V, Error<Infallible>>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = V> + Send + 'static,
    {
        self.get_or_load(key, move || async move { Ok(loader().await) })
            .await
    }

    /// Reloads `key` now with `loader`, whatever memory holds, stores the new value (memory
    /// and tiers, as a load would) and returns it: cacheme's `refresh`, moka's
    /// `Entry::refresh`-like forced reload. Until it lands, requests are served the old value;
    /// if it fails, the old value stays and the error is returned.
    ///
    /// Concurrent refreshes of one key coalesce: while a `refresh` of `key` is in flight,
    /// another `refresh` (with the same error type) waits for it instead of loading again. Any
    /// other flight of `key` — a load, a stale entry's background refresh, a tier read, a
    /// write — is waited for first, so the value returned was loaded after this call began.
    /// The tiers are not read: the loader always runs (in a distributed cache, unless another
    /// process's load of the key ends while this one waits for its lease).
    ///
    /// ```
    /// # extern crate memocache_core as memocache;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let cache: memocache::Cache<u32, u32> = memocache::Cache::new();
    /// cache.insert(1, 10).await;
    /// let v = cache.refresh(1, || async { Ok::<_, std::io::Error>(11) }).await.unwrap();
    /// assert_eq!(v, 11);
    /// assert_eq!(cache.get(&1).await, Some(11));
    /// # }
    /// ```
    ///
    /// # Cancel safety
    /// Cancel safe: the refresh stores its value even if every caller waiting for it is
    /// dropped. Like [`get_or_load`](Self::get_or_load)'s load, it runs in the future of the
    /// caller that starts it (in a cache without tiers) and is handed to a task if that
    /// caller is dropped mid-way.
    pub async fn refresh<F, Fut, E>(&self, key: K, loader: F) -> Result<V, Error<E>>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<V, E>> + Send + 'static,
        E: Send + Sync + 'static,
    {
        let hash = self.inner.memory.hash(&key);
        let v = Box::pin(load::reload(&self.inner, hash, key, loader)).await?;
        self.post(v)
    }

    /// The value of `key` if one is servable (fresh or stale), without loading. A stale value
    /// is returned but does not start a refresh (there is no loader). Counted as a request
    /// (see [`Stats`]).
    ///
    /// With storage tiers, a memory miss reads the tiers in order inside the key's single
    /// flight (concurrent `get`s of a key make one read; a `get` that finds a load in flight
    /// waits for it) and backfills the tiers above the one that answered, and the memory.
    /// Tier errors are misses here, whatever the tier's
    /// [`OnError`](crate::tier::OnError).
    ///
    /// `Q: ToOwned<Owned = K>` (as for `str` and `String`, or any `Clone` key looked up by
    /// itself) lets a cache with storage tiers build the owned key those tiers are asked for.
    ///
    /// # Cancel safety
    /// Cancel safe: a tier read runs in its own task and completes (backfilling memory) even
    /// if every caller waiting for it is dropped.
    pub async fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        let inner = &*self.inner;
        let hash = inner.memory.hash(key);
        match inner.memory.get(hash, key) {
            Lookup::Fresh(v) => {
                inner.stats.add(|c| &c.hits_fresh, 1);
                return self.post::<Infallible>(v).ok();
            }
            Lookup::Stale { value, .. } => {
                inner.stats.add(|c| &c.hits_stale, 1);
                return self.post::<Infallible>(value).ok();
            }
            Lookup::Miss => {
                inner.stats.add(|c| &c.misses, 1);
            }
        }
        inner.tiers.as_ref()?;
        // Out of line (boxed): the hit path's future stays small.
        let found = Box::pin(load::get(&self.inner, hash, key.to_owned())).await;
        self.post::<Infallible>(found?).ok()
    }

    /// Entries in memory, including expired ones not yet removed.
    pub fn len(&self) -> usize {
        self.inner.memory.len()
    }

    /// `true` when memory holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Background work running now: loads, refreshes, tier reads, the tier halves of
    /// writes and clears — including a load that `insert` or an invalidation took the key
    /// from, still finishing for the callers already waiting on it.
    pub fn loads_in_flight(&self) -> usize {
        self.inner.running.count()
    }

    /// Waits until no background work of this cache is running (see
    /// [`loads_in_flight`](Self::loads_in_flight)): refreshes finished, writes whose callers
    /// went away landed in every tier. For a graceful shutdown, or a test's last check. Work
    /// started meanwhile is waited for too, so under steady traffic this may not return.
    ///
    /// # Cancel safety
    /// Cancel safe: it only waits.
    pub async fn idle(&self) {
        self.inner.running.idle().await;
    }

    /// A snapshot of the counters; see [`Stats`].
    pub fn stats(&self) -> Stats {
        let mut s = self.inner.stats.snapshot();
        s.callback_panics += self.inner.memory.listener_panics();
        if let Some(tiers) = &self.inner.tiers {
            s.tiers = tiers.stats();
            s.decode_errors = s.tiers.iter().map(|t| t.decode_errors).sum();
            s.tier_errors = s.tiers.iter().map(|t| t.errors).sum();
        }
        s
    }
}
