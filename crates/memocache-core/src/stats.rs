//! Statistics: striped counters that every operation bumps without contention, and the
//! [`Stats`] snapshot that adds them up.
//!
//! Each thread is given its own stripe (a cache-line-padded block of counters) of every cache
//! the first time it counts: a thread-wide slot number, handed back when the thread exits.
//! A stripe only its thread writes is bumped with a plain load and store, not a locked
//! read-modify-write, so a hit costs no atomic instruction for its statistics. Threads beyond
//! the `OWNED` slots share a few extra stripes and bump them with `fetch_add`.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::LazyLock;
use std::time::Duration;

use crossbeam_utils::CachePadded;

use crate::tiers::TierStats;

/// Stripes owned by one thread each.
const OWNED: usize = 32;
/// Stripes shared (with `fetch_add`) by the threads beyond `OWNED`.
const SHARED: usize = 8;

/// The counters, one field each; a stripe holds one of these.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) hits_fresh: AtomicU64,
    pub(crate) hits_stale: AtomicU64,
    pub(crate) misses: AtomicU64,
    pub(crate) coalesced: AtomicU64,
    pub(crate) loads_started: AtomicU64,
    pub(crate) load_successes: AtomicU64,
    pub(crate) load_failures: AtomicU64,
    pub(crate) timeouts: AtomicU64,
    pub(crate) panics: AtomicU64,
    pub(crate) load_nanos: AtomicU64,
    pub(crate) evictions: AtomicU64,
    pub(crate) refreshes_started: AtomicU64,
    pub(crate) refreshes_succeeded: AtomicU64,
    pub(crate) refreshes_failed: AtomicU64,
    pub(crate) callback_panics: AtomicU64,
    pub(crate) errors_recalled: AtomicU64,
}

/// Striped counters of one cache.
pub(crate) struct StatsCounter {
    stripes: Box<[CachePadded<Counters>]>,
}

/// The slot protocol, written once so the concurrency test runs the very same code over
/// `shuttle`'s mutex, atomics and scheduler.
macro_rules! slot_pool {
    ($($sync:ident)::+) => {
        use $($sync)::+::atomic::{AtomicU64 as PoolU64, AtomicUsize as PoolUsize};
        use $($sync)::+::Mutex as PoolMutex;

        /// Hands out stripe numbers: each of the first `owned` belongs to one thread at a
        /// time (handed back with [`release`](Self::release)); the threads beyond them get one
        /// of the `shared` stripes after those.
        pub(crate) struct SlotPool {
            owned: usize,
            shared: usize,
            free: PoolMutex<Vec<usize>>,
            next: PoolUsize,
        }

        impl SlotPool {
            pub(crate) fn new(owned: usize, shared: usize) -> Self {
                SlotPool {
                    owned,
                    shared,
                    free: PoolMutex::new(Vec::new()),
                    next: PoolUsize::new(0),
                }
            }

            /// A stripe number for the calling thread.
            pub(crate) fn acquire(&self) -> usize {
                if let Some(i) = self.free.lock().ok().and_then(|mut free| free.pop()) {
                    return i;
                }
                let i = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i < self.owned {
                    i
                } else {
                    self.owned + i % self.shared
                }
            }

            /// Gives back stripe `i` (the thread is done counting). The mutex orders this
            /// thread's last counts before the next owner's first.
            pub(crate) fn release(&self, i: usize) {
                if i < self.owned {
                    if let Ok(mut free) = self.free.lock() {
                        free.push(i);
                    }
                }
            }
        }

        /// Adds `n` to `field` of a stripe: owned, a plain load and store (only its thread
        /// writes it); shared, `fetch_add`.
        #[inline]
        pub(crate) fn bump(field: &PoolU64, owned: bool, n: u64) {
            use std::sync::atomic::Ordering::Relaxed;
            if owned {
                field.store(field.load(Relaxed).wrapping_add(n), Relaxed);
            } else {
                field.fetch_add(n, Relaxed);
            }
        }
    };
}

mod pool {
    slot_pool!(std::sync);
}
use pool::{bump, SlotPool};

/// The process's stripe numbers.
static SLOTS: LazyLock<SlotPool> = LazyLock::new(|| SlotPool::new(OWNED, SHARED));

/// This thread's stripe number in every cache: `< OWNED` when the thread owns it.
struct Slot(usize);

impl Drop for Slot {
    fn drop(&mut self) {
        // Counts made later on this thread (from other thread-local destructors) go to a
        // shared stripe; `SLOT_FAST` has no destructor, so it is still there.
        let _ = SLOT_FAST.try_with(|f| f.set(OWNED));
        SLOTS.release(self.0);
    }
}

thread_local! {
    static SLOT: Slot = Slot(SLOTS.acquire());
    /// A copy of `SLOT`'s number, readable without the lazy-init check (`usize::MAX`: not yet).
    static SLOT_FAST: Cell<usize> = const { Cell::new(usize::MAX) };
}

#[inline]
fn slot() -> usize {
    let i = SLOT_FAST.with(Cell::get);
    if i != usize::MAX {
        return i;
    }
    // First count on this thread, or its thread-locals are being destroyed (then share).
    let i = SLOT.try_with(|s| s.0).unwrap_or(OWNED);
    SLOT_FAST.with(|f| f.set(i));
    i
}

impl StatsCounter {
    pub(crate) fn new() -> Self {
        StatsCounter {
            stripes: (0..OWNED + SHARED)
                .map(|_| CachePadded::new(Counters::default()))
                .collect(),
        }
    }

    /// Adds `n` to the counter `pick` chooses, in this thread's stripe.
    #[inline]
    pub(crate) fn add(&self, pick: impl FnOnce(&Counters) -> &AtomicU64, n: u64) {
        let i = slot();
        let field = pick(&self.stripes[i.min(OWNED + SHARED - 1)]);
        // Only this thread writes an owned stripe: no locked instruction needed.
        bump(field, i < OWNED, n);
    }

    pub(crate) fn snapshot(&self) -> Stats {
        let mut s = Stats::default();
        for c in self.stripes.iter() {
            s.hits_fresh += c.hits_fresh.load(Relaxed);
            s.hits_stale += c.hits_stale.load(Relaxed);
            s.misses += c.misses.load(Relaxed);
            s.coalesced += c.coalesced.load(Relaxed);
            s.loads_started += c.loads_started.load(Relaxed);
            s.load_successes += c.load_successes.load(Relaxed);
            s.load_failures += c.load_failures.load(Relaxed);
            s.timeouts += c.timeouts.load(Relaxed);
            s.panics += c.panics.load(Relaxed);
            s.total_load_time += Duration::from_nanos(c.load_nanos.load(Relaxed));
            s.evictions += c.evictions.load(Relaxed);
            s.refreshes_started += c.refreshes_started.load(Relaxed);
            s.refreshes_succeeded += c.refreshes_succeeded.load(Relaxed);
            s.refreshes_failed += c.refreshes_failed.load(Relaxed);
            s.callback_panics += c.callback_panics.load(Relaxed);
            s.errors_recalled += c.errors_recalled.load(Relaxed);
        }
        s.requests = s.hits_fresh + s.hits_stale + s.misses;
        s
    }
}

/// A snapshot of a cache's counters, from [`Cache::stats`](crate::Cache::stats).
///
/// # What each counter counts
/// | counter | incremented by |
/// |---|---|
/// | `requests` | every call of `get_or_load`, `get_or_load_lazy`, `get_with` and `get`, once (`get` counts: it is a lookup like the others); each distinct key of a `get_all` and each `Batcher::get`, once |
/// | `hits_fresh` | a request served a fresh value from memory |
/// | `hits_stale` | a request served a stale value from memory (a refresh may start) |
/// | `misses` | a request that found no servable value in memory |
/// | `coalesced` | a miss that waited for a load, refresh or tier read another request started (at most once per miss) |
/// | `loads_started` | a miss's load that called its loader (a miss answered by a tier calls none) |
/// | `load_successes` / `load_failures` | such a load ended with a value / an error for its callers (loader error, timeout, panic, cancellation, or a tier error under `OnError::Propagate`) |
/// | `refreshes_started` | a background refresh of a stale entry began |
/// | `refreshes_succeeded` / `refreshes_failed` | it ended with a new value, loaded or found fresh in a tier (stored unless an `insert` or invalidation took the key over meanwhile) / it failed (the stale value stays) |
/// | `timeouts` | a load or refresh ended by the method timeout |
/// | `panics` | a load or refresh ended by a panic (in the loader, or in the entry builder or weigher on the loaded value) |
/// | `errors_recalled` | a miss answered with a load error remembered by negative caching ([`CacheBuilder::cache_errors`](crate::CacheBuilder::cache_errors)): no loader called |
/// | `callback_panics` | any other caught panic of a user callback: the eviction listener, or the entry builder or weigher during `insert` or on an entry read from a tier |
/// | `total_load_time` | time spent running loaders (loads and refreshes) |
/// | `evictions` | an entry removed from memory to respect the capacity (or too heavy to store) |
/// | `decode_errors`, `tier_errors`, `tiers` | the storage tiers' counters ([`TierStats`]), summed |
///
/// # Identities
/// These hold for every snapshot taken when no request or flight is in progress (counters
/// are read one after another, so a snapshot taken meanwhile may be off by the operations
/// under way):
/// - `requests == hits_fresh + hits_stale + misses` (`requests` is their sum, not a counter);
/// - `loads_started == load_successes + load_failures`;
/// - `refreshes_started == refreshes_succeeded + refreshes_failed`;
/// - `timeouts + panics <= load_failures + refreshes_failed`: each is one of those failures;
/// - `coalesced <= misses`;
/// - `coalesced + errors_recalled <= misses`.
///
/// With storage tiers, `hits_*` and `misses` are about memory; what each tier answered on
/// those misses is in `tiers`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Calls of `get_or_load`, `get_or_load_lazy`, `get_with` and `get`, distinct keys of
    /// `get_all`, and `Batcher::get` calls.
    pub requests: u64,
    /// Requests served a fresh value.
    pub hits_fresh: u64,
    /// Requests served a stale value.
    pub hits_stale: u64,
    /// Requests that found no servable value in memory.
    pub misses: u64,
    /// Misses that waited for a load, refresh or tier read another request started.
    pub coalesced: u64,
    /// Loads started by misses that called their loader.
    pub loads_started: u64,
    /// Loads that ended with a value.
    pub load_successes: u64,
    /// Loads that ended with an error: loader errors, timeouts, panics, cancellations, tier
    /// errors set to propagate.
    pub load_failures: u64,
    /// Loads and refreshes ended by the method timeout (each also a failure).
    pub timeouts: u64,
    /// Loads and refreshes ended by a panic of the loader, entry builder or weigher (each
    /// also a failure).
    pub panics: u64,
    /// Misses answered with a remembered load error (negative caching), without a load.
    pub errors_recalled: u64,
    /// Other caught panics of user callbacks: the eviction listener; the entry builder or
    /// weigher in `insert` or on an entry read from a tier (the value is then not stored).
    pub callback_panics: u64,
    /// Time spent running loaders, loads and refreshes together.
    pub total_load_time: Duration,
    /// Entries removed from memory to respect the capacity.
    pub evictions: u64,
    /// Background refreshes started for stale entries.
    pub refreshes_started: u64,
    /// Background refreshes that ended with a new value (stored unless an `insert` or an
    /// invalidation took the key over meanwhile, or the entry builder said not to).
    pub refreshes_succeeded: u64,
    /// Background refreshes that failed (the stale value stays until it expires).
    pub refreshes_failed: u64,
    /// Stored records that failed to decode, all tiers together (each one a miss, then
    /// reloaded and overwritten).
    pub decode_errors: u64,
    /// Storage tier failures (timeouts included), all tiers together.
    pub tier_errors: u64,
    /// The counters of each storage tier below the memory, in chain order (empty for a
    /// memory-only cache).
    pub tiers: Vec<TierStats>,
}

impl Stats {
    /// Fresh plus stale hits.
    pub fn hits(&self) -> u64 {
        self.hits_fresh + self.hits_stale
    }

    /// Hits over requests, or 0.0 when there was no request.
    pub fn hit_ratio(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.hits() as f64 / self.requests as f64
        }
    }

    /// Loads and refreshes that reached an outcome (cacheme's `load_count`).
    pub fn load_count(&self) -> u64 {
        self.load_successes + self.load_failures + self.refreshes_succeeded + self.refreshes_failed
    }

    /// `total_load_time` over [`load_count`](Self::load_count), or zero when none finished.
    pub fn average_load_time(&self) -> Duration {
        match self.load_count() {
            0 => Duration::ZERO,
            n => Duration::from_nanos((self.total_load_time.as_nanos() / u128::from(n)) as u64),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same slot protocol over shuttle's mutex and atomics.
    mod shuttled {
        slot_pool!(shuttle::sync);
    }

    /// Three threads, one owned and one shared stripe: each takes a stripe, counts, and hands
    /// it back, while the others do the same. Under any schedule no count is lost: an owned
    /// stripe is never written by two threads at once, and its next owner sees every count of
    /// the previous one.
    #[test]
    fn slot_handoff_loses_no_count_under_any_schedule() {
        use shuttle::sync::atomic::AtomicU64;
        use shuttle::sync::Arc;
        shuttle::check_random(
            || {
                const PER_THREAD: u64 = 3;
                let pool = Arc::new(shuttled::SlotPool::new(1, 1));
                let stripes: Arc<[AtomicU64; 2]> = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
                let threads: Vec<_> = (0..3)
                    .map(|_| {
                        let (pool, stripes) = (pool.clone(), stripes.clone());
                        shuttle::thread::spawn(move || {
                            let i = pool.acquire();
                            for _ in 0..PER_THREAD {
                                shuttled::bump(&stripes[i], i < 1, 1);
                            }
                            pool.release(i);
                        })
                    })
                    .collect();
                for t in threads {
                    t.join().expect("counting thread");
                }
                let total: u64 = stripes.iter().map(|s| s.load(Relaxed)).sum();
                assert_eq!(total, 3 * PER_THREAD);
            },
            2_000,
        );
    }

    /// More threads than owned stripes, in waves (exited threads hand their stripes to the
    /// next), all counting at once: not one count is lost, owned stripes or shared.
    #[test]
    fn counts_from_many_threads_add_up_exactly() {
        let stats = StatsCounter::new();
        let per_thread = 20_000u64;
        let mut threads = 0;
        for _wave in 0..3 {
            std::thread::scope(|s| {
                for _ in 0..OWNED + 2 * SHARED {
                    threads += 1;
                    s.spawn(|| {
                        for _ in 0..per_thread {
                            stats.add(|c| &c.hits_fresh, 1);
                            stats.add(|c| &c.misses, 2);
                        }
                    });
                }
            });
        }
        let snap = stats.snapshot();
        assert_eq!(snap.hits_fresh, threads * per_thread);
        assert_eq!(snap.misses, 2 * threads * per_thread);
        assert_eq!(snap.requests, 3 * threads * per_thread);
    }
}
