//! Writes: `insert`, `invalidate` and `invalidate_all`. Each takes its key (or every key)
//! over from the flight that owns it, changes memory at once, and hands the tier half to a
//! flight of its own, which completes whatever happens to the caller: a caller dropped after
//! the first poll leaves memory and tiers agreeing, never half-written. A caller dropped
//! before the first poll changed nothing.
//!
//! Order is kept per key: a write that displaces a flight already writing the same key's
//! tiers sends its own tier operation only after that one has landed; a write decided while
//! an `invalidate_all` is clearing the tiers is sent after the clear.

use std::hash::Hash;
use std::sync::Arc;

use super::clear::ClearGuard;
use super::flight::{displace, Flight, FlightError, FlightState, Kind, Outcome, Table};
use super::task::{Task, TierOp};
use crate::entry::Lifespan;
use crate::memory::policy::RemovalCause;
use crate::memory::Removed;
use crate::shared::Shared;
use crate::storage::StorageError;

/// The tier half of a write, registered as the owner of its key, to be spawned once the
/// shard lock is released.
struct TierHalf<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    task: Task<K, V>,
    op: TierOp<V>,
    flight: Flight<V>,
}

impl<K, V> TierHalf<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// Spawns the task (call with no lock held) and waits for it; its tier failure, if any.
    /// Cancel safe: the task completes whether or not this future is polled to the end.
    async fn run(self) -> Result<(), StorageError> {
        let TierHalf { task, op, flight } = self;
        task.spawn_write(op);
        outcome(flight.wait().await)
    }
}

/// What a write's flight landed, for its caller.
fn outcome<V>(landed: Outcome<V>) -> Result<(), StorageError> {
    match landed {
        Ok(_) | Err(FlightError::Absent) => Ok(()),
        Err(FlightError::Storage(e)) => Err(e),
        Err(_) => Err(StorageError::Cancelled),
    }
}

/// What taking a key over leaves to do once the shard lock is released: the tier half to
/// spawn (with tiers), and the memory's removals to notify.
type TakenOver<K, V> = (Option<TierHalf<K, V>>, Option<Removed<K, V>>);

/// Takes `key` over (the caller holds its shard lock), applies `memory` to it, and, with
/// tiers, registers the flight that will send `tier`. Returns that flight's tier half, to
/// spawn after the lock, and the memory's removals, for `notify` after the lock.
fn take_over<K, V>(
    shared: &Arc<Shared<K, V>>,
    table: &mut Table<K, V>,
    hash: u64,
    key: K,
    memory: impl FnOnce(&Table<K, V>, K) -> Option<Removed<K, V>>,
    tier: impl FnOnce() -> TierOp<V>,
) -> TakenOver<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    let mut follows = displace(table, &key);
    if shared.tiers.is_none() {
        return (None, memory(table, key));
    }
    let removed = memory(table, key.clone());
    follows.extend(shared.clearing.active());
    let flight = FlightState::write(follows);
    let task = Task::register(shared, table, hash, key, Arc::clone(&flight));
    let half = TierHalf {
        task,
        op: tier(),
        flight,
    };
    (Some(half), removed)
}

/// `insert`: the entry now in memory, then in every tier.
pub(crate) async fn insert<K, V>(shared: &Arc<Shared<K, V>>, key: K, value: V)
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    shared.forget_error(&key);
    let hash = shared.memory.hash(&key);
    // The user's callbacks run before any lock; a panic in one stores nothing anywhere (the
    // old value is removed, as a `DoNotStore` lifespan does).
    let prepared = match shared.prepare(&key, &value) {
        // An explicit write never leaves an older value behind.
        Ok(mut prepared) => {
            if prepared.lifespan == Lifespan::Skip {
                prepared.lifespan = Lifespan::DoNotStore;
            }
            Some(prepared)
        }
        Err(message) => {
            let then = "nothing stored (the old entry is removed)";
            shared.callback_panicked("entry builder or weigher", then, &message);
            None
        }
    };
    let (tier_half, removed) = {
        let mut table = shared.flights.lock(hash);
        let memory = |held: &Table<K, V>, key: K| match prepared {
            Some(prepared) => shared.store(held, hash, key, value.clone(), prepared),
            None => Some(shared.memory.remove(hash, &key, RemovalCause::Replaced)),
        };
        let tier = || match prepared.map(|p| p.lifespan) {
            Some(crate::Lifespan::Store {
                update_after,
                expire_after,
            }) => TierOp::Set(crate::storage::StoredEntry::new(
                value.clone(),
                update_after,
                expire_after,
            )),
            _ => TierOp::Remove,
        };
        take_over(shared, &mut table, hash, key, memory, tier)
    };
    shared.notify(removed);
    if let Some(tier_half) = tier_half {
        // Counted and logged by the chain; `insert` reports nothing.
        let _ = tier_half.run().await;
    }
}

/// `invalidate`: the key out of memory now, then out of every tier; the first tier that
/// failed to remove it.
pub(crate) async fn invalidate<K, V>(shared: &Arc<Shared<K, V>>, key: K) -> Result<(), StorageError>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    shared.forget_error(&key);
    let hash = shared.memory.hash(&key);
    let (tier_half, removed) = {
        let mut table = shared.flights.lock(hash);
        let memory = |_: &Table<K, V>, key: K| {
            Some(shared.memory.remove(hash, &key, RemovalCause::Explicit))
        };
        take_over(shared, &mut table, hash, key, memory, || TierOp::Remove)
    };
    shared.notify(removed);
    match tier_half {
        Some(tier_half) => tier_half.run().await,
        None => Ok(()),
    }
}

/// `invalidate` of a memory-only cache, which needs no owned key (no tier half).
pub(crate) fn invalidate_in_memory<K, V, Q>(shared: &Shared<K, V>, key: &Q)
where
    K: Hash + Eq + Clone + Send + Sync + std::borrow::Borrow<Q> + 'static,
    V: Clone + Send + Sync + 'static,
    Q: Hash + Eq + ?Sized,
{
    shared.forget_error(key);
    let hash = shared.memory.hash(key);
    let removed = {
        let mut table = shared.flights.lock(hash);
        table.remove(key);
        shared.memory.remove(hash, key, RemovalCause::Explicit)
    };
    shared.notify(Some(removed));
}

/// `invalidate_all`: every flight displaced, memory cleared, then (with tiers) every tier's
/// namespace cleared behind the clear gate; the first tier that failed to clear.
pub(crate) async fn invalidate_all<K, V>(shared: &Arc<Shared<K, V>>) -> Result<(), StorageError>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    shared.forget_errors();
    // The guard opens the gate again whatever happens from here on (its task dropped, or a
    // panic before it is spawned).
    let clear = shared.tiers.as_ref().map(|_| {
        let (gate, previous) = shared.clearing.begin();
        (
            ClearGuard::new(Arc::clone(shared), Arc::clone(&gate)),
            gate,
            previous,
        )
    });
    // Every flight that began before this call is displaced (and writes nothing); the tier
    // writes they started or were waiting for settle before the clear is sent. (Clears are
    // left out: this one waits for the one before it, and a write waiting for this clear
    // or a later one must not be waited for here.)
    let mut follows = Vec::new();
    shared.flights.for_each_shard(|table| {
        let displaced = table.drain().flat_map(|(_, f)| f.must_follow());
        follows.extend(displaced.filter(|f| f.kind != Kind::Clear));
    });
    shared.memory.clear();
    let Some((guard, gate, previous)) = clear else {
        return Ok(());
    };
    follows.extend(previous);
    crate::runtime::spawn(guard.run(follows));
    outcome(gate.wait().await)
}

#[cfg(feature = "json")]
/// Another instance of the cache invalidated or rewrote `key` (an event on its channel): the
/// key leaves memory and its load in flight, if any, writes nothing. The tiers are that
/// instance's business; a write of this instance's own in flight is left alone.
pub(crate) fn forget<K, V>(shared: &Shared<K, V>, key: K)
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    shared.forget_error(&key);
    let hash = shared.memory.hash(&key);
    let removed = {
        let mut table = shared.flights.lock(hash);
        if table.get(&key).is_some_and(|f| f.kind != Kind::Write) {
            table.remove(&key);
        }
        shared.memory.remove(hash, &key, RemovalCause::Explicit)
    };
    shared.notify(Some(removed));
}

#[cfg(feature = "json")]
/// Another instance cleared the cache (or events may have been missed): every load in flight
/// is displaced and memory cleared; the tiers are left alone.
pub(crate) fn forget_all<K, V>(shared: &Shared<K, V>)
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    shared.forget_errors();
    shared.flights.for_each_shard(|table| {
        table.retain(|_, f| matches!(f.kind, Kind::Write | Kind::Clear));
    });
    shared.memory.clear();
}
