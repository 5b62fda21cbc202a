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
use super::flight::{displace, Flight, FlightState, Kind, Table};
use super::task::{Task, TierOp};
use crate::memory::policy::RemovalCause;
use crate::memory::Removed;
use crate::shared::Shared;

/// Takes `key` over (the caller holds its shard lock), applies `memory` to it, and, with
/// tiers, registers and spawns the flight that sends `tier`. Returns that flight, for the
/// caller to wait on, and the memory's removals, for `notify` after the lock.
fn take_over<K, V>(
    shared: &Arc<Shared<K, V>>,
    table: &mut Table<K, V>,
    hash: u64,
    key: K,
    memory: impl FnOnce(&Table<K, V>, K) -> Option<Removed<K, V>>,
    tier: impl FnOnce() -> TierOp<V>,
) -> (Option<Flight<V>>, Option<Removed<K, V>>)
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    let writing = displace(table, &key);
    if shared.tiers.is_none() {
        return (None, memory(table, key));
    }
    let removed = memory(table, key.clone());
    let after: Vec<Flight<V>> = writing
        .into_iter()
        .chain(shared.clearing.active())
        .collect();
    let flight = FlightState::without_loader(Kind::Write);
    let task = Task::register(shared, table, hash, key, Arc::clone(&flight));
    task.spawn_write(tier(), after);
    (Some(flight), removed)
}

/// `insert`: the entry now in memory, then in every tier.
pub(crate) async fn insert<K, V>(shared: &Arc<Shared<K, V>>, key: K, value: V)
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    let hash = shared.memory.hash(&key);
    // The user's callbacks run before any lock; a panic in one stores nothing anywhere (the
    // old value is removed, as a `DoNotStore` lifespan does).
    let prepared = match shared.prepare(&key, &value) {
        Ok(prepared) => Some(prepared),
        Err(message) => {
            shared.callback_panicked("entry builder or weigher", &message);
            None
        }
    };
    let (flight, removed) = {
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
    if let Some(flight) = flight {
        let _ = flight.wait().await;
    }
}

/// `invalidate`: the key out of memory now, then out of every tier.
pub(crate) async fn invalidate<K, V>(shared: &Arc<Shared<K, V>>, key: K)
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    let hash = shared.memory.hash(&key);
    let (flight, removed) = {
        let mut table = shared.flights.lock(hash);
        let memory = |_: &Table<K, V>, key: K| {
            Some(shared.memory.remove(hash, &key, RemovalCause::Explicit))
        };
        take_over(shared, &mut table, hash, key, memory, || TierOp::Remove)
    };
    shared.notify(removed);
    if let Some(flight) = flight {
        let _ = flight.wait().await;
    }
}

/// `invalidate` of a memory-only cache, which needs no owned key (no tier half).
pub(crate) fn invalidate_in_memory<K, V, Q>(shared: &Shared<K, V>, key: &Q)
where
    K: Hash + Eq + Clone + Send + Sync + std::borrow::Borrow<Q> + 'static,
    V: Clone + Send + Sync + 'static,
    Q: Hash + Eq + ?Sized,
{
    let hash = shared.memory.hash(key);
    let removed = {
        let mut table = shared.flights.lock(hash);
        table.remove(key);
        shared.memory.remove(hash, key, RemovalCause::Explicit)
    };
    shared.notify(Some(removed));
}

/// `invalidate_all`: every flight displaced, memory cleared, then (with tiers) every tier's
/// namespace cleared behind the clear gate.
pub(crate) async fn invalidate_all<K, V>(shared: &Arc<Shared<K, V>>)
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
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
    // Every flight that began before this call is displaced (and writes nothing); those
    // already writing a tier are waited for before the clear is sent.
    let mut writing = Vec::new();
    shared.flights.for_each_shard(|table| {
        writing.extend(table.drain().map(|(_, f)| f).filter(|f| f.is_writing()));
    });
    shared.memory.clear();
    let Some((guard, gate, previous)) = clear else {
        return;
    };
    writing.extend(previous);
    drop(tokio::spawn(guard.run(writing)));
    let _ = gate.wait().await;
}
