//! The load: everything a request does once memory had no fresh value for it — join the
//! flight that owns the key or start one, wait for its outcome — and the flights themselves.
//!
//! - [`flight`]: the in-flight table (which flight owns each key) and a flight's shared state;
//! - [`inline`]: a miss's load run by the request that started it (caches without tiers),
//!   handed to a task if that request is dropped;
//! - [`task`]: one flight's task from start to finish, step by step, with the guard that
//!   retires it on every exit path;
//! - [`write`]: `insert`, `invalidate`, `invalidate_all` — memory at once, tiers in a flight;
//! - [`batch`]: `get_all`: many keys' flights run by one task, one batch loader call;
//! - [`untag`]: invalidation by tag (zones, scopes): tiers, flights, memory;
//! - [`clear`]: the gate that holds tier reads and writes back while `invalidate_all` clears
//!   the tiers.
//!
//! The rule everything here follows: *a flight writes (memory or tier) only while it owns its
//! key*, checked under the key's flight-shard lock. Loads store their value under that lock
//! in the same critical section that retires them, so a request never sees "no value and no
//! flight" while a load is finishing; writes take keys over, so what they replaced is never
//! written back.

pub(crate) mod batch;
pub(crate) mod clear;
pub(crate) mod early;
pub(crate) mod flight;
mod inline;
pub(crate) mod negative;
mod task;
pub(crate) mod untag;
pub(crate) mod write;

use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use crate::error::Error;
use crate::memory::Lookup;
use crate::runtime::Spawner;
use crate::shared::Shared;
use crate::sync::MutexGuard;
use flight::{Flight, FlightState, Kind, Outcome};
use inline::Inline;
use task::{Task, TierRead};

/// What a request found under the key's flight-shard lock, or did there.
enum Step<V> {
    /// A servable value (a flight finished between the request's lookup and the lock).
    Ready(V),
    /// A flight owns the key: wait for it.
    Join(Flight<V>),
    /// An `invalidate_all` is clearing the tiers: wait for it, then look again.
    Cleared(Flight<V>),
    /// This request started the flight, and runs its steps itself if they are here.
    Led(Flight<V>, Option<Inline>),
}

/// Under the key's flight-shard lock: the flight to join, a value that landed meanwhile, the
/// clear to wait for, or else the locked shard, for the caller to register its flight in
/// (and unlock before it awaits anything).
fn decide<'a, K, V>(
    shared: &'a Shared<K, V>,
    hash: u64,
    key: &K,
    serve_memory: bool,
) -> Result<Step<V>, MutexGuard<'a, flight::Table<K, V>>>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    let table = shared.flights.lock(hash);
    if let Some(flight) = table.get(key) {
        return Ok(Step::Join(Arc::clone(flight)));
    }
    // A load stores its value under this lock as it retires.
    if let (true, Lookup::Fresh(v) | Lookup::Stale { value: v, .. }) =
        (serve_memory, shared.memory.peek(hash, key))
    {
        return Ok(Step::Ready(v));
    }
    if let Some(gate) = shared.clearing.active() {
        return Ok(Step::Cleared(gate));
    }
    Err(table)
}

/// Registers `flight` as the owner of `key` in the locked shard `table`, unlocks, then hands
/// its task to `spawn` (which spawns it, or returns its steps for the caller to run). (After
/// the unlock: a task the runtime drops at once — outside a runtime, or one shutting down —
/// finishes through its guard, which takes the same lock.)
fn start_flight<K, V, R>(
    shared: &Arc<Shared<K, V>>,
    mut table: MutexGuard<'_, flight::Table<K, V>>,
    hash: u64,
    key: K,
    flight: Flight<V>,
    spawn: impl FnOnce(Task<K, V>) -> R,
) -> (Flight<V>, R)
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    let task = Task::register(shared, &mut table, hash, key, Arc::clone(&flight));
    drop(table);
    (flight, spawn(task))
}

/// How a load a request starts runs: by that request, with the runtime its handoff would go
/// to; or in a task of its own (`None`: a cache with tiers, past [`inline::MAX_DEPTH`], or
/// [`spawn_loads`](crate::CacheBuilder::spawn_loads); see [`inline`]). Called once the flight
/// is registered and the lock released: outside a runtime, without `smol`, it panics, as
/// spawning does, and the dropped `Task` retires the flight.
pub(super) fn leader<K, V>(shared: &Shared<K, V>) -> Option<Spawner> {
    if shared.config.spawn_loads || shared.tiers.is_some() || !inline::runs_inline() {
        return None;
    }
    Some(Spawner::current())
}

/// Waits for a flight another request owns; the first such wait of a miss counts as
/// coalesced when that flight could serve it.
async fn join<K, V>(shared: &Shared<K, V>, flight: &Flight<V>, coalesced: &mut bool) -> Outcome<V>
where
    V: Clone,
{
    if !*coalesced && flight.kind.serves_waiters() {
        shared.stats.add(|c| &c.coalesced, 1);
        *coalesced = true;
    }
    flight.wait().await
}

/// `get_or_load` after a memory miss: joins the flight of `key` or starts a load, which this
/// future then runs itself, or in a task of its own (a cache with tiers, see [`inline`]).
///
/// # Cancel safety
/// Cancel safe: dropping this future while it runs the load hands the load to a task, which
/// finishes it; dropping it while it waits only stops waiting.
pub(crate) async fn get_or_load<K, V, F, Fut, E>(
    shared: &Arc<Shared<K, V>>,
    hash: u64,
    key: K,
    loader: F,
) -> Result<V, Error<E>>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<V, E>> + Send + 'static,
    E: Send + Sync + 'static,
{
    let mut start = Some((key, loader));
    let mut coalesced = false;
    loop {
        let (key, _) = start.as_ref().expect("kept until a load is started");
        let step = match decide(shared, hash, key, true) {
            Ok(step) => step,
            Err(table) => {
                // Negative caching: a load error remembered for the key answers instead.
                if let Some(error) = shared.negatives.as_ref().and_then(|n| n.recall::<E>(key)) {
                    drop(table);
                    shared.stats.add(|c| &c.errors_recalled, 1);
                    return Err(Error::Load(error));
                }
                let (key, loader) = start.take().expect("kept until a load is started");
                let flight = FlightState::new::<E>(Kind::Load);
                let (flight, led) = start_flight(shared, table, hash, key, flight, |task| {
                    task.lead_load(loader, TierRead::Any)
                });
                Step::Led(flight, led)
            }
        };
        let flight = match step {
            Step::Ready(v) => return Ok(v),
            Step::Join(flight) => flight,
            Step::Cleared(gate) => {
                let _ = gate.wait().await;
                continue;
            }
            Step::Led(flight, led) => return lead(&flight, led).await,
        };
        match join(shared, &flight, &mut coalesced).await {
            Ok(v) => return Ok(v),
            Err(e) if flight.fails_with::<E>() => {
                if let Some(error) = e.into_error::<E>() {
                    return Err(error);
                }
            }
            // Another error type's load, a read that found nothing, or a write: the key is
            // free now; look again (and load if still missing).
            Err(_) => {}
        }
    }
}

/// `get` after a memory miss on a cache with tiers: joins the flight of `key` or starts a
/// read of the tiers (no loader) in a task of its own.
///
/// # Cancel safety
/// Cancel safe, as [`get_or_load`].
pub(crate) async fn get<K, V>(shared: &Arc<Shared<K, V>>, hash: u64, key: K) -> Option<V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    let mut start = Some(key);
    let mut coalesced = false;
    loop {
        let key = start.as_ref().expect("kept until a read is started");
        let step = decide(shared, hash, key, true).unwrap_or_else(|table| {
            let key = start.take().expect("kept until a read is started");
            let flight = FlightState::without_loader(Kind::Read);
            let (flight, ()) = start_flight(shared, table, hash, key, flight, Task::spawn_read);
            Step::Led(flight, None)
        });
        let flight = match step {
            Step::Ready(v) => return Some(v),
            Step::Join(flight) => flight,
            Step::Cleared(gate) => {
                let _ = gate.wait().await;
                continue;
            }
            Step::Led(flight, _) => return flight.wait().await.ok(),
        };
        match join(shared, &flight, &mut coalesced).await {
            Ok(v) => return Some(v),
            // A write landed: look again.
            Err(_) if flight.kind == Kind::Write => {}
            Err(_) => return None,
        }
    }
}

/// `Cache::refresh`: reloads `key` now, whatever memory holds, and waits for the outcome. A
/// flight of another `Cache::refresh` owning the key is joined (concurrent refreshes
/// coalesce); any other flight (a load or a stale hit's refresh, which may answer from a
/// tier, a read, a write) is waited for first. Memory
/// keeps serving the old value until the new one lands; a failure leaves it in place.
///
/// # Cancel safety
/// Cancel safe: a refresh this future started (and runs itself where [`get_or_load`] would
/// run its load) is handed to a task if the future is dropped; otherwise dropping it only
/// stops waiting.
pub(crate) async fn reload<K, V, F, Fut, E>(
    shared: &Arc<Shared<K, V>>,
    hash: u64,
    key: K,
    loader: F,
) -> Result<V, Error<E>>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<V, E>> + Send + 'static,
    E: Send + Sync + 'static,
{
    let mut start = Some((key, loader));
    loop {
        let (key, _) = start.as_ref().expect("kept until a refresh is started");
        let step = decide(shared, hash, key, false).unwrap_or_else(|table| {
            let (key, loader) = start.take().expect("kept until a refresh is started");
            let flight = FlightState::forced::<E>();
            let (flight, led) = start_flight(shared, table, hash, key, flight, |task| {
                task.lead_load(loader, TierRead::Skip)
            });
            Step::Led(flight, led)
        });
        match step {
            Step::Led(flight, led) => return lead(&flight, led).await,
            Step::Join(flight) if flight.forced && flight.fails_with::<E>() => {
                return outcome_of(&flight).await
            }
            Step::Join(flight) | Step::Cleared(flight) => {
                let _ = flight.wait().await;
            }
            Step::Ready(_) => unreachable!("memory is not consulted"),
        }
    }
}

/// The outcome of a flight this request started: its steps run here first when it leads them
/// (`led`; dropping this future mid-load hands them to a task, see [`Inline`]).
async fn lead<V: Clone, E: Send + Sync + 'static>(
    flight: &Flight<V>,
    led: Option<Inline>,
) -> Result<V, Error<E>> {
    if let Some(steps) = led {
        steps.await;
    }
    outcome_of(flight).await
}

/// The outcome of a load or refresh whose loader fails with `E`, as its caller's result.
async fn outcome_of<V: Clone, E: Send + Sync + 'static>(flight: &Flight<V>) -> Result<V, Error<E>> {
    flight.wait().await.map_err(|e| {
        e.into_error::<E>()
            .expect("a flight whose loader fails with E lands a value or an error of E")
    })
}

/// Why a refresh is started.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum RefreshOf {
    /// A stale hit in memory: the refresh first reads the tiers (another process may have
    /// refreshed the value already), and starts only if memory still holds that stale entry
    /// (a write or another refresh may have replaced it since the lookup).
    StaleHit,
    /// A stale entry a load found in a tier (and has just handed out): reload it.
    StaleInTier,
    /// A fresh hit that drew an early refresh ([`early`]), its entry this long before
    /// `update_after`: take a tier's entry only if it stays fresh for longer than that
    /// ([`TierRead::NewerThan`]), else reload.
    Early(Duration),
}

/// Starts a background refresh of `key` with `loader`, unless a flight owns the key or a
/// clear is in progress (or, for a stale hit, memory no longer holds a due stale entry).
pub(crate) fn refresh<K, V, F, Fut, E>(
    shared: &Arc<Shared<K, V>>,
    hash: u64,
    key: K,
    loader: F,
    of: RefreshOf,
) where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<V, E>> + Send + 'static,
    E: Send + Sync + 'static,
{
    let table = shared.flights.lock(hash);
    if table.contains_key(&key)
        || shared.clearing.active().is_some()
        || (of == RefreshOf::StaleHit && !shared.memory.refresh_due(hash, &key))
    {
        return;
    }
    let flight = FlightState::new::<E>(Kind::Refresh);
    let tier_read = match of {
        RefreshOf::StaleHit => TierRead::Any,
        RefreshOf::StaleInTier => TierRead::Skip,
        RefreshOf::Early(left) => TierRead::NewerThan(left),
    };
    start_flight(shared, table, hash, key, flight, |task| {
        task.spawn_load(loader, tier_read)
    });
}
