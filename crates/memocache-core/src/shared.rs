//! What a cache's handles and its flights' tasks share ([`Shared`]): the validated options,
//! the memory, the in-flight table, the tier chain and the statistics — and the one function
//! that writes a value into memory ([`Shared::store`]), for loads, refreshes, tier reads and
//! `insert` alike.

use std::hash::Hash;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use crate::clock::Clock;
use crate::entry::{EntryBuilder, FixedLifespan, Lifespan};
use crate::error::panic_message;
use crate::load::clear::ClearGate;
use crate::load::flight::{Flights, Table};
use crate::memory::policy::{EvictionPolicy, RemovalCause};
use crate::memory::{Memory, NewEntry, Removed};
use crate::stats::StatsCounter;
use crate::storage::StoredEntry;
use crate::sync::{AtomicUsize, Ordering::SeqCst};
use crate::tags::Tagging;
use crate::tags::{Tag, Tagger};
use crate::tiers::Tiers;
use tokio::sync::Notify;

/// A user post-processing function.
pub(crate) type Postprocess<V> = Arc<dyn Fn(V) -> V + Send + Sync>;
/// A user weigher: the weight of one entry.
pub(crate) type Weigher<K, V> = Arc<dyn Fn(&K, &V) -> u32 + Send + Sync>;
/// `CacheBuilder::store_if`'s condition.
pub(crate) type StoreIf<K, V> = Arc<dyn Fn(&K, &V) -> bool + Send + Sync>;

/// The validated options of a cache (what [`CacheBuilder::build`](crate::CacheBuilder::build)
/// keeps; the memory and the tier chain take theirs when they are built).
pub(crate) struct Config<K, V> {
    pub(crate) capacity: usize,
    pub(crate) method_timeout: Duration,
    pub(crate) lifespan: FixedLifespan,
    pub(crate) policy: EvictionPolicy,
    pub(crate) entry_builder: Arc<dyn EntryBuilder<K, V>>,
    /// `true` when the entry builder is the user's (lifespans vary per entry); `false` when
    /// every entry gets `lifespan`, which then also bounds what is read from a tier.
    pub(crate) custom_lifespans: bool,
    pub(crate) postprocess: Option<Postprocess<V>>,
    pub(crate) max_hits: Option<u32>,
    /// Values for which it is false are handed out, not stored (`Lifespan::Skip`).
    pub(crate) store_if: Option<StoreIf<K, V>>,
    /// XFetch's β for probabilistic early refresh; `None`: off.
    pub(crate) early_refresh: Option<f64>,
    /// How long a load's error is remembered (negative caching); `None`: not at all.
    pub(crate) error_lifespan: Option<Duration>,
    pub(crate) name: Option<Arc<str>>,
    pub(crate) weigher: Option<Weigher<K, V>>,
    /// Entries written to memory expire at most this long after being written.
    pub(crate) memory_cap: Option<Duration>,
    /// `false`: nothing is written to memory (`without_memory_tier`).
    pub(crate) memory: bool,
    /// What the builder's zone and tag options give each key.
    pub(crate) tagging: Tagging<K>,
    /// `true`: a miss's load runs in its own task, not in the request that started it.
    pub(crate) spawn_loads: bool,
}

/// The state every handle of a cache and every task of its flights share.
pub(crate) struct Shared<K, V> {
    pub(crate) memory: Memory<K, V>,
    pub(crate) flights: Flights<K, V>,
    /// The chain below the memory; `None` for a memory-only cache.
    pub(crate) tiers: Option<Tiers<K, V>>,
    /// The `invalidate_all` in progress, that new tier reads and writes wait for.
    pub(crate) clearing: ClearGate<V>,
    /// Flight tasks (and clears) running, including those a write took a key from.
    pub(crate) running: Arc<Running>,
    pub(crate) stats: StatsCounter,
    pub(crate) config: Config<K, V>,
    /// The tags of a key (set once: at build from the builder's options, or by
    /// [`Cache::join_scope`](crate::Cache::join_scope)); unset: entries carry no tag.
    pub(crate) tagger: OnceLock<Tagger<K>>,
    /// The moving average of loader calls, for early refreshes.
    pub(crate) load_time: crate::load::early::LoadTime,
    /// The errors remembered by negative caching (`CacheBuilder::cache_errors`).
    pub(crate) negatives: Option<crate::load::negative::Negatives<K>>,
    /// The cross-process coordination of a distributed cache.
    #[cfg_attr(not(feature = "json"), allow(dead_code))]
    pub(crate) distributed: crate::coord::hooks::Slot<K>,
}

/// A count of the tasks a cache has running, and a wake-up when it falls to zero.
pub(crate) struct Running {
    count: AtomicUsize,
    idle: Notify,
}

impl Running {
    pub(crate) fn new() -> Self {
        Running {
            count: AtomicUsize::new(0),
            idle: Notify::new(),
        }
    }

    /// A task starts: counted until the guard is dropped, the last thing the task does.
    pub(crate) fn start(self: &Arc<Self>) -> RunningGuard {
        self.count.fetch_add(1, SeqCst);
        RunningGuard(Arc::clone(self))
    }

    /// Tasks running now.
    pub(crate) fn count(&self) -> usize {
        self.count.load(SeqCst)
    }

    /// Waits until no task is running.
    pub(crate) async fn idle(&self) {
        loop {
            let idle = self.idle.notified();
            let mut idle = std::pin::pin!(idle);
            idle.as_mut().enable();
            if self.count() == 0 {
                return;
            }
            idle.await;
        }
    }
}

/// Counts one running task in [`Running`] until dropped.
pub(crate) struct RunningGuard(Arc<Running>);

impl Drop for RunningGuard {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// When an entry stops being fresh and stops being served.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Expiry {
    /// From now (a value just loaded or inserted).
    After {
        update_after: Duration,
        expire_after: Duration,
    },
    /// At these wall-clock times (an entry read from a tier, written by any process).
    At {
        update_at: SystemTime,
        expire_at: SystemTime,
    },
}

impl Expiry {
    /// The wall-clock deadlines of a tier's entry.
    pub(crate) fn of<V>(entry: &StoredEntry<V>) -> Self {
        Expiry::At {
            update_at: entry.update_at,
            expire_at: entry.expire_at,
        }
    }
}

/// What the user's callbacks decided for a value about to be stored: its lifespan (entry
/// builder) and its weight (weigher), computed once, outside every lock.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Prepared {
    pub(crate) lifespan: Lifespan,
    pub(crate) weight: u32,
}

impl<K, V> Shared<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// The cache's name, or `""`.
    pub(crate) fn name(&self) -> &str {
        self.config.name.as_deref().unwrap_or("")
    }

    /// Runs the entry builder and the weigher on a value about to be stored. A panic in
    /// either is caught and returned as its message: the value is then not stored.
    pub(crate) fn prepare(&self, key: &K, value: &V) -> Result<Prepared, Arc<str>> {
        std::panic::catch_unwind(AssertUnwindSafe(|| {
            let kept = self
                .config
                .store_if
                .as_ref()
                .is_none_or(|keep| keep(key, value));
            Prepared {
                lifespan: match kept {
                    true => self.config.entry_builder.lifespan(key, value),
                    false => Lifespan::Skip,
                },
                weight: self.weigh_unguarded(key, value),
            }
        }))
        .map_err(|panic| panic_message(&*panic))
    }

    /// Negative caching: forgets the error remembered for `key`, if any.
    pub(crate) fn forget_error<Q>(&self, key: &Q)
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if let Some(negatives) = &self.negatives {
            negatives.forget(key);
        }
    }

    /// Negative caching: forgets every remembered error.
    pub(crate) fn forget_errors(&self) {
        if let Some(negatives) = &self.negatives {
            negatives.clear();
        }
    }

    /// The weigher alone (for entries read from a tier, whose lifespan is theirs), panics
    /// caught as in [`prepare`](Self::prepare).
    pub(crate) fn weigh(&self, key: &K, value: &V) -> Result<u32, Arc<str>> {
        std::panic::catch_unwind(AssertUnwindSafe(|| self.weigh_unguarded(key, value)))
            .map_err(|panic| panic_message(&*panic))
    }

    /// The full tags of `key`, or `None` when entries carry no tag. A panic of the user's
    /// tag function is caught, counted and logged, and returned as its message.
    pub(crate) fn tags(&self, key: &K) -> Option<Result<Vec<Tag>, Arc<str>>> {
        let tagger = self.tagger.get()?;
        let mut out = Vec::new();
        let run = std::panic::catch_unwind(AssertUnwindSafe(|| tagger(key, &mut out)));
        Some(match run {
            Ok(()) => Ok(out),
            Err(panic) => {
                let message = panic_message(&*panic);
                self.callback_panicked(
                    "zone key or tag function",
                    "the key counts as tagged by anything",
                    &message,
                );
                Err(message)
            }
        })
    }

    fn weigh_unguarded(&self, key: &K, value: &V) -> u32 {
        self.config.weigher.as_ref().map_or(1, |w| w(key, value))
    }

    /// Runs the post-processing function `p` on a value about to be served; a panic in it is
    /// caught, counted and logged, and returned as its message (nothing is served).
    pub(crate) fn postprocess(&self, p: &Postprocess<V>, v: V) -> Result<V, Arc<str>> {
        std::panic::catch_unwind(AssertUnwindSafe(|| p(v))).map_err(|panic| {
            let message = panic_message(&*panic);
            self.callback_panicked("post-processing function", "nothing served", &message);
            message
        })
    }

    /// Counts and logs a panic of a user callback outside a load's outcome; `then` says what
    /// the cache did instead.
    pub(crate) fn callback_panicked(&self, what: &str, then: &str, message: &str) {
        self.stats.add(|c| &c.callback_panics, 1);
        tracing::error!(
            cache = self.name(),
            panic = message,
            "the {what} panicked; {then}"
        );
    }

    /// Writes `value` for `key` into memory with its lifespan and weight (a
    /// [`Lifespan::DoNotStore`] removes the key instead, [`Lifespan::Skip`] leaves it). The caller holds the key's
    /// flight-shard lock (`held`) and owns the key; it hands the result to
    /// [`notify`](Self::notify) once it has released that lock.
    #[must_use = "hand the removals to Shared::notify after the lock"]
    pub(crate) fn store(
        &self,
        held: &Table<K, V>,
        hash: u64,
        key: K,
        value: V,
        prepared: Prepared,
    ) -> Option<Removed<K, V>> {
        match prepared.lifespan {
            Lifespan::Store {
                update_after,
                expire_after,
            } => {
                let expiry = Expiry::After {
                    update_after,
                    expire_after,
                };
                self.store_until(held, hash, key, value, expiry, prepared.weight)
            }
            Lifespan::DoNotStore => Some(self.memory.remove(hash, &key, RemovalCause::Replaced)),
            Lifespan::Skip => None,
        }
    }

    /// Writes `value` for `key` into memory until `expiry` (cut by the memory cap). As
    /// [`store`](Self::store): under the key's flight-shard lock, result to `notify`.
    #[must_use = "hand the removals to Shared::notify after the lock"]
    pub(crate) fn store_until(
        &self,
        _held: &Table<K, V>,
        hash: u64,
        key: K,
        value: V,
        expiry: Expiry,
        weight: u32,
    ) -> Option<Removed<K, V>> {
        if !self.config.memory {
            return None;
        }
        let now = self.memory.now();
        let cap = self.config.memory_cap.unwrap_or(Duration::MAX);
        let (update_in, expire_in) = match expiry {
            Expiry::After {
                update_after,
                expire_after,
            } => (update_after, expire_after),
            Expiry::At {
                update_at,
                expire_at,
            } => {
                let wall = SystemTime::now();
                let (update_in, expire_in) = match expire_at.duration_since(wall) {
                    Ok(ttl) if !ttl.is_zero() => {
                        (update_at.duration_since(wall).unwrap_or_default(), ttl)
                    }
                    // Expired meanwhile: nothing to store.
                    _ => return None,
                };
                if self.config.custom_lifespans {
                    (update_in, expire_in)
                } else {
                    // Another writer's (or a corrupt record's) deadlines are not trusted past
                    // what this cache would give a value it loaded now.
                    let own = self.config.lifespan;
                    (
                        update_in.min(own.update_after),
                        expire_in.min(own.expire_after),
                    )
                }
            }
        };
        let expire_in = expire_in.min(cap);
        let entry = NewEntry {
            key,
            value,
            weight,
            update_at: Clock::deadline(now, update_in.min(expire_in)),
            expire_at: Clock::deadline(now, expire_in),
            max_hits: self.config.max_hits,
        };
        Some(self.memory.insert(hash, entry, now))
    }

    /// Tells the eviction listener about what a memory write removed, and counts the
    /// evictions. Call with no lock held.
    pub(crate) fn notify(&self, removed: Option<Removed<K, V>>) {
        if let Some(removed) = removed {
            let evicted = self.memory.notify(removed);
            if evicted > 0 {
                self.stats.add(|c| &c.evictions, evicted);
            }
        }
    }
}
