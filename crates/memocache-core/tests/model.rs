//! Model checking of the load path (issue 18): the real `Cache` — flight table, memory
//! shards, flight tasks, tier chain — run under `shuttle`, whose scheduler explores the
//! interleavings of its locks, atomics and tasks (thousands of schedules per test, random and
//! PCT). Built only with `RUSTFLAGS="--cfg memocache_shuttle"`, which swaps the engine's
//! primitives for shuttle's (`src/sync.rs`):
//!
//! ```sh
//! RUSTFLAGS="--cfg memocache_shuttle" cargo test -p memocache-core --all-features \
//!     --target-dir target/shuttle --test model
//! ```
//!
//! What must hold under every schedule: one loader call per key however many callers race
//! (and a dropped leader changes nothing); no waiter left waiting (shuttle fails a schedule
//! whose tasks all block); after `invalidate` or `insert` returns, no value loaded before is
//! served, nor left in memory or a tier; memory and tiers agree once everything has landed;
//! a refresh decided before an `insert` does not replace it.
#![cfg(memocache_shuttle)]

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use memocache_core::storage::{MemoryStorage, Storage, StorageError, StoredEntry};
use memocache_core::{Cache, Lifespan, Tier};
use shuttle::future::{block_on, spawn, yield_now};
use shuttle::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};

/// Schedules per test and scheduler.
const ITERATIONS: usize = 2_000;

/// Runs `test` under shuttle's random scheduler, then under PCT (depth 3).
fn check(test: impl Fn() + Send + Sync + 'static) {
    let test = Arc::new(test);
    let random = test.clone();
    shuttle::check_random(move || random(), ITERATIONS);
    shuttle::check_pct(move || test(), ITERATIONS, 3);
}

/// A tier that yields to the scheduler before and after each operation, so that every tier
/// read and write can interleave with everything else; it counts the writes begun.
struct Yielding(MemoryStorage<u32, u64>, AtomicU64);

impl Yielding {
    fn new() -> Arc<Yielding> {
        Arc::new(Yielding(MemoryStorage::new(100), AtomicU64::new(0)))
    }

    /// Writes begun so far.
    fn sets(&self) -> u64 {
        self.1.load(SeqCst)
    }

    /// The tier's value of `key` (no yield).
    fn value(&self, key: u32) -> Option<u64> {
        self.0.get(&key).now_or_never()?.ok()?.map(|e| e.value)
    }
}

impl Storage<u32, u64> for Yielding {
    fn name(&self) -> &str {
        "yielding"
    }
    fn get<'a>(
        &'a self,
        key: &'a u32,
    ) -> BoxFuture<'a, Result<Option<StoredEntry<u64>>, StorageError>> {
        async move {
            yield_now().await;
            let found = self.0.get(key).await;
            yield_now().await;
            found
        }
        .boxed()
    }
    fn set<'a>(
        &'a self,
        key: &'a u32,
        entry: StoredEntry<u64>,
    ) -> BoxFuture<'a, Result<(), StorageError>> {
        async move {
            self.1.fetch_add(1, SeqCst);
            yield_now().await;
            self.0.set(key, entry).await
        }
        .boxed()
    }
    fn remove<'a>(&'a self, key: &'a u32) -> BoxFuture<'a, Result<(), StorageError>> {
        async move {
            yield_now().await;
            self.0.remove(key).await
        }
        .boxed()
    }
    fn clear(&self) -> BoxFuture<'_, Result<(), StorageError>> {
        async move {
            yield_now().await;
            self.0.clear().await
        }
        .boxed()
    }
}

fn memory_only() -> Cache<u32, u64> {
    Cache::builder().build().unwrap()
}

fn with_tier(tier: &Arc<Yielding>) -> Cache<u32, u64> {
    Cache::builder()
        .tier(Tier::from_arc(tier.clone()))
        .build()
        .unwrap()
}

/// A loader that counts its calls and returns `value`, yielding in between.
fn counted(
    calls: &Arc<AtomicU64>,
    value: u64,
) -> impl FnOnce() -> BoxFuture<'static, Result<u64, String>> + Send + 'static {
    let calls = calls.clone();
    move || {
        async move {
            calls.fetch_add(1, SeqCst);
            yield_now().await;
            Ok(value)
        }
        .boxed()
    }
}

/// What the cache serves for `key` now, without loading (memory, else the tiers), once its
/// background work is over.
async fn served(c: &Cache<u32, u64>, key: u32) -> Option<u64> {
    let v = c.get(&key).await;
    c.idle().await;
    v
}

async fn single_flight(c: Cache<u32, u64>) {
    let calls = Arc::new(AtomicU64::new(0));
    let waiters: Vec<_> = (0..3)
        .map(|_| {
            let (c, l) = (c.clone(), counted(&calls, 7));
            spawn(async move { c.get_or_load(1, l).await.unwrap() })
        })
        .collect();
    for w in waiters {
        assert_eq!(w.await.unwrap(), 7);
    }
    assert_eq!(
        calls.load(SeqCst),
        1,
        "one loader call for three racing callers"
    );
    c.idle().await;
}

#[test]
fn racing_callers_make_one_loader_call() {
    check(|| block_on(single_flight(memory_only())));
    check(|| block_on(single_flight(with_tier(&Yielding::new()))));
}

/// Polls `fut` once, in the caller's context.
async fn poll_once<F: std::future::Future + ?Sized>(
    mut fut: std::pin::Pin<&mut F>,
) -> std::task::Poll<F::Output> {
    std::future::poll_fn(|cx| std::task::Poll::Ready(fut.as_mut().poll(cx))).await
}

/// The leader is dropped after `polls` polls: memory only, it ran the load itself and was
/// dropped mid loader (the load goes on in a task); tiered, the load runs in a task anyway
/// (at its tier read, loader or tier write). Two later callers get its value from one
/// loader call.
async fn leader_dropped_after(c: Cache<u32, u64>, tier: Option<Arc<Yielding>>, polls: usize) {
    let calls = Arc::new(AtomicU64::new(0));
    {
        let mut leader = std::pin::pin!(c.get_or_load(1, counted(&calls, 7)));
        for _ in 0..polls {
            let ready = poll_once(leader.as_mut()).await.is_ready();
            // Memory only, the leader runs the load (the loader yields once): it cannot be
            // ready at its first poll. (A tiered cache spawns its load: it may be.)
            assert!(
                tier.is_some() || !ready,
                "the inline load ended at its first poll"
            );
            if ready {
                break;
            }
        }
    }
    let waiters: Vec<_> = (0..2)
        .map(|_| {
            let (c, l) = (c.clone(), counted(&calls, 8));
            spawn(async move { c.get_or_load(1, l).await.unwrap() })
        })
        .collect();
    for w in waiters {
        assert_eq!(w.await.unwrap(), 7, "the dropped leader's load answers");
    }
    assert_eq!(calls.load(SeqCst), 1);
    c.idle().await;
    if let Some(tier) = tier {
        assert_eq!(tier.value(1), Some(7), "memory and tier agree");
        assert_eq!(tier.sets(), 1);
    }
}

#[test]
fn a_leader_dropped_after_k_polls_changes_nothing() {
    // Memory only: mid loader (inline). Tiered: the spawned load at its tier read, loader or
    // tier write (one poll: the leader registered the flight and spawned its task).
    check(|| block_on(leader_dropped_after(memory_only(), None, 1)));
    for polls in 1..=4 {
        check(move || {
            let tier = Yielding::new();
            block_on(leader_dropped_after(with_tier(&tier), Some(tier), polls))
        });
    }
}

/// A load races an `invalidate`. The loader says whether it started after the invalidation
/// began (1) or before (0): after it returned, only 1s may be served or kept.
async fn invalidate_racing_a_load(c: Cache<u32, u64>, tier: Option<Arc<Yielding>>) {
    let invalidated = Arc::new(AtomicBool::new(false));
    let loader = |invalidated: &Arc<AtomicBool>| {
        let invalidated = invalidated.clone();
        move || async move {
            let after = invalidated.load(SeqCst);
            yield_now().await;
            Ok::<u64, String>(u64::from(after))
        }
    };
    let racing = {
        let (c, l) = (c.clone(), loader(&invalidated));
        spawn(async move { c.get_or_load(1, l).await.unwrap() })
    };
    let invalidating = {
        let (c, invalidated, l) = (c.clone(), invalidated.clone(), loader(&invalidated));
        spawn(async move {
            // Set before the call: a loader that reads 0 started before it began.
            invalidated.store(true, SeqCst);
            c.invalidate(&1).await.unwrap();
            c.get_or_load(1, l).await.unwrap()
        })
    };
    let _concurrent = racing.await.unwrap();
    assert_eq!(
        invalidating.await.unwrap(),
        1,
        "an old value served after invalidate returned"
    );
    // Once everything has landed, memory and the tier hold no old value, and agree.
    c.idle().await;
    assert_ne!(
        served(&c, 1).await,
        Some(0),
        "an old value stored after invalidate returned"
    );
    if let Some(tier) = tier {
        assert_ne!(tier.value(1), Some(0), "an old value left in the tier");
    }
}

#[test]
fn invalidate_racing_a_load_never_serves_or_keeps_the_old_value() {
    check(|| block_on(invalidate_racing_a_load(memory_only(), None)));
    check(|| {
        let tier = Yielding::new();
        block_on(invalidate_racing_a_load(with_tier(&tier), Some(tier)))
    });
}

/// A load races an `insert(100)`: once the insert returned, 100 is what is served and kept.
async fn insert_racing_a_load(c: Cache<u32, u64>, tier: Option<Arc<Yielding>>) {
    let calls = Arc::new(AtomicU64::new(0));
    let racing = {
        let (c, l) = (c.clone(), counted(&calls, 1));
        spawn(async move { c.get_or_load(1, l).await.unwrap() })
    };
    let inserting = {
        let c = c.clone();
        spawn(async move {
            c.insert(1, 100).await;
            c.get_or_load(1, || async { Ok::<u64, String>(2) })
                .await
                .unwrap()
        })
    };
    let concurrent = racing.await.unwrap();
    assert!(concurrent == 1 || concurrent == 100, "{concurrent}");
    assert_eq!(inserting.await.unwrap(), 100, "the insert was overwritten");
    c.idle().await;
    assert_eq!(served(&c, 1).await, Some(100));
    if let Some(tier) = tier {
        assert_eq!(tier.value(1), Some(100), "the tier disagrees with memory");
    }
}

#[test]
fn insert_racing_a_load_wins_in_memory_and_tiers() {
    check(|| block_on(insert_racing_a_load(memory_only(), None)));
    check(|| {
        let tier = Yielding::new();
        block_on(insert_racing_a_load(with_tier(&tier), Some(tier)))
    });
}

/// `insert(20)` then `invalidate` race a load writing to the tier. The load's value says
/// whether its loader started after the invalidation began (11) or before (10): once the
/// invalidation returned, neither 10 nor 20 may be served or left in the tier, whatever the
/// order in which the pieces land.
#[test]
fn a_chain_of_writes_keeps_its_order_in_the_tier() {
    check(|| {
        block_on(async {
            let tier = Yielding::new();
            let c = with_tier(&tier);
            let invalidated = Arc::new(AtomicBool::new(false));
            let load = {
                let (c, invalidated) = (c.clone(), invalidated.clone());
                spawn(async move {
                    let loader = move || async move {
                        let after = invalidated.load(SeqCst);
                        yield_now().await;
                        Ok::<u64, String>(if after { 11 } else { 10 })
                    };
                    c.get_or_load(1, loader).await.unwrap()
                })
            };
            let writes = {
                let (c, tier, invalidated) = (c.clone(), tier.clone(), invalidated.clone());
                spawn(async move {
                    // The load is writing the tier (or done): the insert displaces a writer.
                    while tier.sets() == 0 {
                        yield_now().await;
                    }
                    // The insert's caller goes away after its first poll.
                    let _ = c.insert(1, 20).now_or_never();
                    invalidated.store(true, SeqCst);
                    c.invalidate(&1).await.unwrap();
                })
            };
            let _ = load.await.unwrap();
            writes.await.unwrap();
            c.idle().await;
            let old = [Some(10), Some(20)];
            let in_tier = tier.value(1);
            assert!(
                !old.contains(&in_tier),
                "the tier kept {in_tier:?} after invalidate"
            );
            let served = served(&c, 1).await;
            assert!(!old.contains(&served), "{served:?} served after invalidate");
        })
    });
}

/// A refresh of a stale entry races an `insert` of a fresh value: the inserted value is
/// never replaced by a refresh decided before it.
#[test]
fn a_refresh_racing_an_insert_never_replaces_it() {
    check(|| {
        block_on(async {
            let c: Cache<u32, u64> = Cache::builder()
                .entry_builder(|_: &u32, v: &u64| {
                    // 1 is stale at once (every hit refreshes it); everything else is fresh.
                    let update = if *v == 1 {
                        Duration::ZERO
                    } else {
                        Duration::from_secs(60)
                    };
                    Lifespan::new(update, Duration::from_secs(600))
                })
                .build()
                .unwrap();
            c.insert(1, 1).await;
            let calls = Arc::new(AtomicU64::new(0));
            let hit = {
                let (c, l) = (c.clone(), counted(&calls, 50));
                spawn(async move { c.get_or_load(1, l).await.unwrap() })
            };
            let inserting = {
                let c = c.clone();
                spawn(async move {
                    c.insert(1, 100).await;
                })
            };
            assert!([1, 100].contains(&hit.await.unwrap()));
            inserting.await.unwrap();
            c.idle().await;
            assert_eq!(
                served(&c, 1).await,
                Some(100),
                "a refresh replaced the insert"
            );
        })
    });
}

/// `invalidate_all` races a load and an insert: once it returned, what memory holds the
/// tier holds too, and nothing loaded before it is kept.
#[test]
fn invalidate_all_racing_a_load_and_an_insert_leaves_memory_and_tier_agreeing() {
    check(|| {
        block_on(async {
            let tier = Yielding::new();
            let c = with_tier(&tier);
            c.insert(2, 0).await;
            let calls = Arc::new(AtomicU64::new(0));
            let load = {
                let (c, l) = (c.clone(), counted(&calls, 0));
                spawn(async move { c.get_or_load(1, l).await.unwrap() })
            };
            let insert = {
                let c = c.clone();
                spawn(async move { c.insert(3, 30).await })
            };
            c.invalidate_all().await.unwrap();
            let _ = load.await.unwrap();
            insert.await.unwrap();
            c.idle().await;
            assert_ne!(tier.value(2), Some(0), "cleared before the call");
            for k in [1, 2, 3] {
                let (memory, in_tier) = (served(&c, k).await, tier.value(k));
                assert!(
                    memory.is_none() || memory == in_tier,
                    "key {k}: memory {memory:?}, tier {in_tier:?}"
                );
            }
        })
    });
}
