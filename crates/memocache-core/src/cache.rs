//! The [`Cache`]: the request path that ties the store, the in-flight table, entry lifespans
//! and statistics together.
//!
//! A `get_or_load` looks the key up in the in-memory store (fresh: return; stale:
//! return and start one background refresh; miss: go on), then, under the key's
//! in-flight table shard lock, joins the load in flight or starts one. The load runs
//! in its own task; it stores its value and removes its flight in one critical section under
//! that same lock, so a request never sees "no value and no flight" while a load is finishing.
//! Invalidation takes the same lock, marks the flight "do not store" and removes the entry.

use std::any::TypeId;
use std::borrow::Borrow;
use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures_util::FutureExt;
use tokio::time::Instant;

use crate::builder::CacheBuilder;
use crate::clock::Clock;
use crate::entry::{EntryBuilder, FixedLifespan, Lifespan};
use crate::error::Error;
use crate::flight::{
    panic_message, Flight, FlightError, FlightState, Flights, LandOnDrop, Outcome, Table,
};
use crate::policy::{EvictionPolicy, RemovalCause};
use crate::stats::{Counters, Stats, StatsCounter};
use crate::storage::StoredEntry;
use crate::store::{Listener, Lookup, MemoryStore, StoreOptions, Weigher};
use crate::tier::Tiers;

pub(crate) type Postprocess<V> = Arc<dyn Fn(V) -> V + Send + Sync>;

/// The validated options of a cache.
pub(crate) struct Config<K, V> {
    pub(crate) capacity: usize,
    pub(crate) method_timeout: Duration,
    pub(crate) lifespan: FixedLifespan,
    pub(crate) policy: EvictionPolicy,
    pub(crate) entry_builder: Arc<dyn EntryBuilder<K, V>>,
    pub(crate) postprocess: Option<Postprocess<V>>,
    pub(crate) max_hits: Option<u32>,
    pub(crate) name: Option<Arc<str>>,
    pub(crate) weigher: Option<Weigher<K, V>>,
    pub(crate) listener: Option<Listener<K, V>>,
    /// Storage tiers below the memory; `None` for a memory-only cache.
    pub(crate) tiers: Option<Tiers<K, V>>,
    /// Entries written to memory expire at most this long after being written.
    pub(crate) memory_cap: Option<Duration>,
    /// `false`: nothing is written to the in-memory store (`without_memory_tier`).
    pub(crate) memory: bool,
}

struct Inner<K, V> {
    store: MemoryStore<K, V>,
    flights: Flights<K, V>,
    stats: StatsCounter,
    config: Config<K, V>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Started by a miss; callers wait for it.
    Load,
    /// Started by a stale hit; nobody waits unless the entry expires meanwhile.
    Refresh,
}

/// An async cache that loads each missing key once, however many callers ask for it, and
/// refreshes stale entries in the background.
///
/// `Cache` is a handle: cloning it is cheap and every clone shares the same entries.
/// Values are cloned out on every hit; wrap large values in [`Arc`] to make that a reference
/// count increment.
///
/// # Lifespans
/// Each stored entry has two deadlines (see [`Lifespan`]): after `update_after` it is *stale*,
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
    inner: Arc<Inner<K, V>>,
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
            .field("len", &self.inner.store.len())
            .field("capacity", &c.capacity)
            .field("policy", &c.policy)
            .field("method_timeout", &c.method_timeout)
            .field("lifespan", &c.lifespan)
            .field("max_hits", &c.max_hits)
            .field("loads_in_flight", &self.inner.flights.len())
            .field(
                "tiers",
                &c.tiers.as_ref().map(|t| t.describe()).unwrap_or_default(),
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

    pub(crate) fn from_config(mut config: Config<K, V>) -> Self {
        Cache {
            inner: Arc::new(Inner {
                store: MemoryStore::new(StoreOptions {
                    capacity: config.capacity as u64,
                    policy: config.policy,
                    weigher: config.weigher.take(),
                    listener: config.listener.take(),
                }),
                flights: Flights::new(),
                stats: StatsCounter::new(),
                config,
            }),
        }
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
        self.inner.store.weighted_size()
    }

    /// The heaviest entry the store can hold: the in-memory store is sharded, and each shard
    /// holds its share of the capacity.
    pub fn max_entry_weight(&self) -> u64 {
        self.inner.store.max_entry_weight()
    }

    #[inline]
    fn post(&self, v: V) -> V {
        match &self.inner.config.postprocess {
            Some(p) => p(v),
            None => v,
        }
    }

    /// Adds `n` to the statistics counter `pick` chooses.
    #[inline]
    fn count(&self, pick: impl FnOnce(&Counters) -> &AtomicU64, n: u64) {
        self.inner.stats.add(pick, n);
    }

    /// Returns the value of `key`, loading it with `loader` if the cache has no servable value.
    ///
    /// - **Fresh** entry: returned; `loader` is not called.
    /// - **Stale** entry (older than `update_after`): returned at once, and `loader` is started
    ///   in the background to replace it, unless a load of this key is already in flight or a
    ///   failed refresh is backing off (1 s after the first failure, doubling up to 60 s). A
    ///   failed refresh keeps the stale value until it expires.
    /// - **Missing or expired**: the caller waits for a load, started by `loader` or already in
    ///   flight.
    ///
    /// The loader's value is stored with the lifespan the entry builder gives it, unless the
    /// key was invalidated while it loaded. Loader errors, timeouts and panics are never stored.
    ///
    /// # Concurrent calls on the same key
    /// Only one load of a key runs at a time. Every caller that finds no value while a load is
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
    /// This method is cancel safe. The load runs in its own Tokio task, so dropping the future
    /// of any caller — including the one whose loader is running — neither cancels the load
    /// nor affects the other waiters; the load runs to completion (or to the method timeout)
    /// and stores its value. No key is ever left marked as loading.
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
    /// [`Error::Cancelled`] when the runtime shut down during the load. In every case nothing
    /// is stored and the next request for the key starts a new load.
    ///
    /// # Panics
    /// A panic inside `loader` does not unwind into the caller: it is caught and every waiter
    /// gets [`Error::Panicked`] with the panic message. This method panics only when called
    /// outside a Tokio runtime, as `tokio::spawn` does.
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
    /// never calls `make_loader`.
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
        let inner = &*self.inner;
        let hash = inner.store.hash(&key);
        match inner.store.get(hash, &key) {
            Lookup::Fresh(v) => {
                self.count(|c| &c.hits_fresh, 1);
                return Ok(self.post(v));
            }
            Lookup::Stale { value, refresh_due } => {
                self.count(|c| &c.hits_stale, 1);
                if refresh_due {
                    self.start_refresh(hash, key, make_loader());
                }
                return Ok(self.post(value));
            }
            Lookup::Miss => {}
        }
        self.count(|c| &c.misses, 1);
        // Out of line (boxed): the hit path's future stays small, which is what every hit
        // moves when it is pinned.
        Box::pin(self.load_on_miss(hash, key, make_loader())).await
    }

    /// The slow path: join the flight of `key` or start one.
    async fn load_on_miss<F, Fut, E>(&self, hash: u64, key: K, loader: F) -> Result<V, Error<E>>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<V, E>> + Send + 'static,
        E: Send + Sync + 'static,
    {
        enum Step<V> {
            Ready(V),
            Led(Flight<V>),
            Joined(Flight<V>),
        }
        let inner = &*self.inner;
        let mut key = Some(key);
        let mut loader = Some(loader);
        let mut first = true;
        loop {
            // Decide under the flight lock; the guard is gone before any await.
            let step = {
                let mut table = inner.flights.lock(hash);
                let k = key
                    .as_ref()
                    .expect("the key is kept until a load is started");
                if let Some(flight) = table.get(k) {
                    Step::Joined(flight.clone())
                } else if let Some(v) = self.servable(hash, k) {
                    // A load finished between our lookup and this lock: its value is stored
                    // (stored under this lock).
                    Step::Ready(v)
                } else {
                    match (key.take(), loader.take()) {
                        (Some(k), Some(l)) => {
                            Step::Led(self.start_flight(&mut table, hash, k, l, Kind::Load, true))
                        }
                        _ => unreachable!("a caller starts at most one load"),
                    }
                }
            };
            let joined = match step {
                Step::Ready(v) => return Ok(self.post(v)),
                Step::Led(flight) => {
                    return match flight.wait().await {
                        Ok(v) => Ok(self.post(v)),
                        Err(e) => Err(e
                            .into_error::<E>()
                            .expect("a flight started with E fails with E")),
                    };
                }
                Step::Joined(flight) => flight,
            };
            if first {
                self.count(|c| &c.coalesced, 1);
                first = false;
            }
            let same_type = joined.error_type == TypeId::of::<E>();
            match joined.wait().await {
                Ok(v) => return Ok(self.post(v)),
                Err(e) => {
                    if same_type {
                        if let Some(err) = e.into_error::<E>() {
                            return Err(err);
                        }
                    }
                    // That flight's loader had another error type: its error is not ours to
                    // return. The flight is over now; look again (and load if still missing).
                }
            }
        }
    }

    /// A value servable from the store right now, without counting a request.
    fn servable(&self, hash: u64, key: &K) -> Option<V> {
        match self.inner.store.get(hash, key) {
            Lookup::Fresh(v) | Lookup::Stale { value: v, .. } => Some(v),
            Lookup::Miss => None,
        }
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

    /// Starts a background refresh of `key` unless a load of it is in flight.
    fn start_refresh<F, Fut, E>(&self, hash: u64, key: K, loader: F)
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<V, E>> + Send + 'static,
        E: Send + Sync + 'static,
    {
        let mut table = self.inner.flights.lock(hash);
        if !table.contains_key(&key) {
            self.start_flight(&mut table, hash, key, loader, Kind::Refresh, true);
        }
    }

    /// Spawns the load task of `key` and registers it in `table` (whose lock the caller holds).
    /// `read_tiers`: the task first looks in the storage tiers below the memory.
    fn start_flight<F, Fut, E>(
        &self,
        table: &mut Table<K, V>,
        hash: u64,
        key: K,
        loader: F,
        kind: Kind,
        read_tiers: bool,
    ) -> Flight<V>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<V, E>> + Send + 'static,
        E: Send + Sync + 'static,
    {
        // A load counts when its loader runs (in `run_load`: a tier may answer instead).
        if kind == Kind::Refresh {
            self.count(|c| &c.refreshes_started, 1);
        }
        let flight: Flight<V> = Arc::new(FlightState::new(TypeId::of::<E>()));
        let task = run_load(
            self.clone(),
            hash,
            key.clone(),
            Arc::clone(&flight),
            loader,
            kind,
            read_tiers,
        );
        let lands = Arc::clone(&flight);
        // Detached: the outcome reaches the waiters through the flight, not the JoinHandle.
        drop(tokio::spawn(async move {
            // Lands `Cancelled` if this task is dropped unfinished (its runtime shut down).
            let guard = LandOnDrop(Some(lands));
            let outcome = match AssertUnwindSafe(task).catch_unwind().await {
                Ok(outcome) => outcome,
                Err(panic) => Err(FlightError::Panicked(panic_message(&*panic))),
            };
            guard.land(outcome);
        }));
        table.insert(key, Arc::clone(&flight));
        flight
    }

    /// The value of `key` if one is servable (fresh or stale), without loading. A stale value
    /// is returned but does not start a refresh (there is no loader). Counted as a request.
    ///
    /// With storage tiers, a memory miss reads the tiers in order (outside the single flight:
    /// there is no load to share) and backfills the tiers above the one that answered, unless
    /// a load of the key is in flight. Tier errors are misses here, whatever the tier's
    /// [`OnError`](crate::tier::OnError).
    ///
    /// `Q: ToOwned<Owned = K>` (as for `str` and `String`, or any `Clone` key looked up by
    /// itself) lets a cache with storage tiers build the owned key those tiers are asked for.
    pub async fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        let inner = &*self.inner;
        let hash = inner.store.hash(key);
        match inner.store.get(hash, key) {
            Lookup::Fresh(v) => {
                self.count(|c| &c.hits_fresh, 1);
                return Some(self.post(v));
            }
            Lookup::Stale { value, .. } => {
                self.count(|c| &c.hits_stale, 1);
                return Some(self.post(value));
            }
            Lookup::Miss => {
                self.count(|c| &c.misses, 1);
            }
        }
        let tiers = inner.config.tiers.as_ref()?;
        // Out of line (boxed): the hit path's future stays small.
        Box::pin(self.get_from_tiers(tiers, hash, key.to_owned())).await
    }

    /// `get` after a memory miss, reading `tiers` (the cache's).
    async fn get_from_tiers(&self, tiers: &Tiers<K, V>, hash: u64, key: K) -> Option<V> {
        let inner = &*self.inner;
        let found = tiers.read(self.cache_name(), &key).await.ok()??;
        if found.index > 0 {
            let _ = tiers
                .write(self.cache_name(), &key, &found.entry, found.index)
                .await;
        }
        let table = inner.flights.lock(hash);
        if !table.contains_key::<K>(&key) {
            self.store_entry(hash, key, &found.entry);
        }
        drop(table);
        Some(self.post(found.entry.value))
    }

    fn cache_name(&self) -> &str {
        self.inner.config.name.as_deref().unwrap_or("")
    }

    /// Stores `value` for `key` with the lifespan the entry builder gives it, replacing any
    /// entry. A load of `key` in flight still hands its value to its waiters, but does not
    /// overwrite this one.
    ///
    /// With storage tiers the entry is then written to every tier; tier errors are counted
    /// and logged, never returned.
    pub async fn insert(&self, key: K, value: V) {
        let inner = &*self.inner;
        let hash = inner.store.hash(&key);
        let lifespan = inner.config.entry_builder.lifespan(&key, &value);
        let tier_write = inner
            .config
            .tiers
            .as_ref()
            .map(|_| (key.clone(), value.clone()));
        {
            let mut table = inner.flights.lock(hash);
            if let Some(flight) = table.get(&key) {
                flight.store.store(false, Ordering::Relaxed);
            }
            self.store_value(&mut table, hash, key, value, lifespan);
        }
        if let (Some(tiers), Some((key, value))) = (inner.config.tiers.as_ref(), tier_write) {
            // Boxed: a memory-only insert's future stays small.
            let write = write_tiers(tiers, self.cache_name(), &key, value, lifespan);
            let _ = Box::pin(write).await;
        }
    }

    /// Stores under the flight lock of `key` (held by the caller).
    fn store_value(
        &self,
        _table: &mut Table<K, V>,
        hash: u64,
        key: K,
        value: V,
        lifespan: Lifespan,
    ) {
        let inner = &*self.inner;
        match lifespan {
            Lifespan::Store {
                update_after,
                mut expire_after,
            } => {
                if !inner.config.memory {
                    return;
                }
                if let Some(cap) = inner.config.memory_cap {
                    expire_after = expire_after.min(cap);
                }
                let now = inner.store.now();
                let evicted = inner.store.insert(
                    hash,
                    key,
                    value,
                    now,
                    Clock::deadline(now, update_after.min(expire_after)),
                    Clock::deadline(now, expire_after),
                    inner.config.max_hits,
                );
                if evicted > 0 {
                    self.count(|c| &c.evictions, evicted);
                }
            }
            Lifespan::DoNotStore => {
                inner.store.remove(hash, &key, RemovalCause::Replaced);
            }
        }
    }

    /// Stores an entry read from a tier in memory, keeping its wall-clock deadlines (cut by
    /// the memory cap). The caller holds the flight lock of `key`.
    fn store_entry(&self, hash: u64, key: K, entry: &StoredEntry<V>) {
        if !self.inner.config.memory {
            return;
        }
        let now = SystemTime::now();
        let entry = entry.clone().capped(now, self.inner.config.memory_cap);
        let t = self.inner.store.now();
        let Some((update_at, expire_at)) = entry.store_deadlines(now, t) else {
            return;
        };
        let evicted = self.inner.store.insert(
            hash,
            key,
            entry.value,
            t,
            update_at,
            expire_at,
            self.inner.config.max_hits,
        );
        if evicted > 0 {
            self.count(|c| &c.evictions, evicted);
        }
    }

    /// Removes the entry of `key`. A load of `key` already in flight still hands its value to
    /// its waiters, but does not store it: after `invalidate` returns, no value loaded before
    /// it is served from the cache.
    ///
    /// With storage tiers the key is removed from every tier too (tier errors are counted and
    /// logged). Another process may write the key again at any time: invalidation across
    /// processes is as good as the order of their writes.
    ///
    /// `Q: ToOwned<Owned = K>` lets a cache with storage tiers remove the key from every tier.
    pub async fn invalidate<Q>(&self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        let inner = &*self.inner;
        let hash = inner.store.hash(key);
        {
            let table = inner.flights.lock(hash);
            if let Some(flight) = table.get(key) {
                flight.store.store(false, Ordering::Relaxed);
            }
            inner.store.remove(hash, key, RemovalCause::Explicit);
        }
        if let Some(tiers) = &inner.config.tiers {
            let _ = tiers.remove(self.cache_name(), &key.to_owned()).await;
        }
    }

    /// Removes the entry of `key` from the in-memory store only, leaving the storage tiers
    /// alone: the next request reads it back from the first tier that has it (and refills
    /// the memory) instead of loading it. For a memory-only cache this is `invalidate`
    /// without its effect on a load in flight.
    pub fn invalidate_memory<Q>(&self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let inner = &*self.inner;
        let hash = inner.store.hash(key);
        let _table = inner.flights.lock(hash);
        inner.store.remove(hash, key, RemovalCause::Explicit);
    }

    /// Removes every entry. Loads in flight still hand their values to their waiters, but do
    /// not store them. With storage tiers, each tier's namespace is cleared too.
    pub async fn invalidate_all(&self) {
        let inner = &*self.inner;
        inner.flights.for_each_shard(|table| {
            for flight in table.values() {
                flight.store.store(false, Ordering::Relaxed);
            }
        });
        // Every load that began before this call either stored before its shard was visited
        // (and is cleared now) or was marked and will not store.
        inner.store.clear();
        if let Some(tiers) = &inner.config.tiers {
            let _ = tiers.clear(self.cache_name()).await;
        }
    }

    /// Entries in the in-memory store, including expired ones not yet removed.
    pub fn len(&self) -> usize {
        self.inner.store.len()
    }

    /// `true` when the in-memory store holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Loads and refreshes in progress.
    pub fn loads_in_flight(&self) -> usize {
        self.inner.flights.len()
    }

    /// A snapshot of the counters; see [`Stats`].
    pub fn stats(&self) -> Stats {
        let mut s = self.inner.stats.snapshot();
        if let Some(tiers) = &self.inner.config.tiers {
            s.tiers = tiers.stats();
            s.decode_errors = s.tiers.iter().map(|t| t.decode_errors).sum();
            s.tier_errors = s.tiers.iter().map(|t| t.errors).sum();
        }
        s
    }
}

/// Writes a loaded or inserted value to every tier with its lifespan (or removes the key
/// from them for [`Lifespan::DoNotStore`]).
async fn write_tiers<K, V>(
    tiers: &Tiers<K, V>,
    cache: &str,
    key: &K,
    value: V,
    lifespan: Lifespan,
) -> Result<(), crate::storage::StorageError>
where
    K: Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    match lifespan {
        Lifespan::Store {
            update_after,
            expire_after,
        } => {
            let entry = StoredEntry::new(value, update_after, expire_after);
            tiers.write(cache, key, &entry, usize::MAX).await
        }
        Lifespan::DoNotStore => tiers.remove(cache, key).await,
    }
}

/// If this task is dropped before it finishes (runtime shutdown), retires the flight so the
/// key is not left marked as loading.
struct Retire<'a, K: Hash + Eq, V> {
    inner: &'a Inner<K, V>,
    hash: u64,
    key: &'a K,
    state: &'a Flight<V>,
    armed: bool,
}

impl<K: Hash + Eq, V> Retire<'_, K, V> {
    /// Removes the flight (the caller holds its shard lock) and disarms the guard.
    fn retire(&mut self, table: &mut Table<K, V>) {
        if table
            .get(self.key)
            .is_some_and(|f| Arc::ptr_eq(f, self.state))
        {
            table.remove(self.key);
        }
        self.armed = false;
    }
}

impl<K: Hash + Eq, V> Drop for Retire<'_, K, V> {
    fn drop(&mut self) {
        if self.armed {
            let mut table = self.inner.flights.lock(self.hash);
            self.retire(&mut table);
        }
    }
}

/// The task of one load or refresh.
///
/// With storage tiers (and `read_tiers`), it first reads them in order: a fresh entry ends
/// the flight without calling the loader (tiers above it and memory are backfilled); a stale
/// one is backfilled and handed to the waiters of a load, and a refresh flight is started
/// with the loader. Otherwise it runs the loader under the method timeout, catching panics,
/// counts the outcome, writes the value to every tier, then stores it in memory and retires
/// the flight in one critical section.
#[allow(clippy::too_many_arguments)]
async fn run_load<K, V, F, Fut, E>(
    cache: Cache<K, V>,
    hash: u64,
    key: K,
    state: Flight<V>,
    loader: F,
    kind: Kind,
    read_tiers: bool,
) -> Outcome<V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<V, E>> + Send + 'static,
    E: Send + Sync + 'static,
{
    let inner = &*cache.inner;
    let mut retire = Retire {
        inner,
        hash,
        key: &key,
        state: &state,
        armed: true,
    };
    let name = cache.cache_name();
    let tiers = inner.config.tiers.as_ref();

    // 1. The tiers below the memory, in order.
    let mut tier_error = None;
    if let (Some(tiers), true) = (tiers, read_tiers) {
        match tiers.read(name, &key).await {
            Ok(Some(found)) => {
                let fresh = found.entry.is_fresh(SystemTime::now());
                if fresh || kind == Kind::Load {
                    if found.index > 0 && state.store.load(Ordering::Relaxed) {
                        // Backfill errors are counted and logged, never a request's failure.
                        let _ = tiers.write(name, &key, &found.entry, found.index).await;
                    }
                    let value = found.entry.value.clone();
                    let mut table = inner.flights.lock(hash);
                    retire.retire(&mut table);
                    if state.store.load(Ordering::Relaxed) {
                        cache.store_entry(hash, key.clone(), &found.entry);
                        if !fresh {
                            // Serve the stale value now; refresh it in the background.
                            cache.start_flight(
                                &mut table,
                                hash,
                                key.clone(),
                                loader,
                                Kind::Refresh,
                                false,
                            );
                        }
                    }
                    if kind == Kind::Refresh {
                        inner.stats.add(|c| &c.refreshes_succeeded, 1);
                    }
                    return Ok(value);
                }
                // A refresh that found a stale entry below: load a new one.
            }
            Ok(None) => {}
            Err(e) => tier_error = Some(e),
        }
    }

    // 2. The loader.
    let outcome: Outcome<V> = if let Some(e) = tier_error {
        Err(FlightError::Storage(e))
    } else {
        if kind == Kind::Load {
            inner.stats.add(|c| &c.loads_started, 1);
        }
        let timeout = inner.config.method_timeout;
        let start = Instant::now();
        let load = AssertUnwindSafe(async move { loader().await }).catch_unwind();
        let outcome = match tokio::time::timeout(timeout, load).await {
            Ok(Ok(Ok(v))) => Ok(v),
            Ok(Ok(Err(e))) => Err(FlightError::Load(Arc::new(e))),
            Ok(Err(panic)) => Err(FlightError::Panicked(panic_message(&*panic))),
            Err(_) => Err(FlightError::Timeout(timeout)),
        };
        inner
            .stats
            .add(|c| &c.load_nanos, start.elapsed().as_nanos() as u64);
        if kind == Kind::Load {
            // `load_*` count the loader's own outcomes (a tier failure after it is a tier's).
            if outcome.is_ok() {
                inner.stats.add(|c| &c.load_successes, 1);
            } else {
                inner.stats.add(|c| &c.load_failures, 1);
            }
        }
        outcome
    };

    // 3. Every tier below, once per load, before the waiters are woken.
    // The entry builder runs once per value about to be stored: here with tiers (their
    // records need the lifespan), else under the flight lock below.
    let mut lifespan = None;
    let outcome = match (outcome, tiers) {
        (Ok(v), Some(tiers)) if state.store.load(Ordering::Relaxed) => {
            let ls = inner.config.entry_builder.lifespan(&key, &v);
            lifespan = Some(ls);
            match write_tiers(tiers, name, &key, v.clone(), ls).await {
                Ok(()) => Ok(v),
                Err(e) => Err(FlightError::Storage(e)),
            }
        }
        (outcome, _) => outcome,
    };

    if kind == Kind::Refresh {
        if outcome.is_ok() {
            inner.stats.add(|c| &c.refreshes_succeeded, 1);
        } else {
            inner.stats.add(|c| &c.refreshes_failed, 1);
        }
    }
    match &outcome {
        Err(FlightError::Timeout(_)) => {
            inner.stats.add(|c| &c.timeouts, 1);
        }
        Err(FlightError::Panicked(_)) => {
            inner.stats.add(|c| &c.panics, 1);
        }
        _ => {}
    }
    if let Err(e) = &outcome {
        let what = match e {
            FlightError::Load(_) => "returned an error",
            FlightError::Timeout(_) => "timed out",
            FlightError::Panicked(_) => "panicked",
            FlightError::Cancelled => "was cancelled",
            FlightError::Storage(_) => "failed in a storage tier",
        };
        match kind {
            Kind::Refresh => tracing::warn!(
                cache = name,
                "background refresh {what}; the stale value is kept until it expires"
            ),
            Kind::Load => tracing::debug!(cache = name, "load {what}; nothing stored"),
        }
    }

    // 4. Complete under the flight lock: store (unless invalidated) and retire the flight.
    {
        let mut table = inner.flights.lock(hash);
        retire.retire(&mut table);
        match &outcome {
            Ok(v) if state.store.load(Ordering::Relaxed) => {
                let ls = lifespan.unwrap_or_else(|| inner.config.entry_builder.lifespan(&key, v));
                cache.store_value(&mut table, hash, key.clone(), v.clone(), ls);
            }
            Err(_) if kind == Kind::Refresh => {
                inner.store.note_refresh_failure(hash, &key);
            }
            _ => {}
        }
    }
    outcome
}
