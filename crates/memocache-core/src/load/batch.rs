//! Batch loads ([`get_all`]): cacheme's `get_all`. The keys missing from memory are joined to
//! the flights already loading them, and the others get flights of their own, all run by one
//! task: one multi-get per tier for the keys still missing, then **one** call of the batch
//! loader for the keys missing everywhere, then one multi-set per tier, then each key's flight
//! lands as a single load's would (stored in memory if it still owns its key). So every
//! single-key guarantee — one load per key at a time, waiters of those keys served by the
//! batch, invalidations winning, cancel safety — holds per key inside a batch.
//!
//! A cache with tags or a distributed cache reads and writes its tiers key by key (stamps and
//! leases are per key), still concurrently and still with one batch loader call.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures_util::future::join_all;
use futures_util::stream::{FuturesUnordered, StreamExt};
use futures_util::FutureExt;
use tokio::time::Instant;

use super::flight::{Flight, FlightError, FlightState, Kind};
use super::task::{Landing, Task};
use crate::cache::BatchResult;
use crate::entry::Lifespan;
use crate::error::{panic_message, Error};
use crate::memory::Lookup;
use crate::shared::{Prepared, Shared};
use crate::storage::StoredEntry;

/// How each unique key of a round is answered.
enum Answer<V> {
    Ready(V),
    Wait(Flight<V>),
}

/// `get_all` after the caller's keys were made unique: the value (or error) of each, in order.
///
/// # Cancel safety
/// Cancel safe: the flights run in their own task; dropping this future only stops waiting.
pub(crate) async fn get_all<K, V, F, Fut, R, E>(
    shared: &Arc<Shared<K, V>>,
    keys: &[K],
    load_all: Arc<F>,
) -> Vec<Result<V, Error<E>>>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    F: Fn(Vec<K>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
    R: BatchResult<K, V, Error = E>,
    E: Send + Sync + 'static,
{
    let mut out: Vec<Option<Result<V, Error<E>>>> = (0..keys.len()).map(|_| None).collect();
    each(shared, keys, load_all, |i, r| out[i] = Some(r)).await;
    out.into_iter()
        .map(|r| r.expect("each key is answered once"))
        .collect()
}

/// As [`get_all`], handing each key's outcome to `on_ready` (with the key's index) as soon as
/// it is known — a key a tier answered does not wait for the batch loader's call.
///
/// # Cancel safety
/// As [`get_all`].
pub(crate) async fn each<K, V, F, Fut, R, E>(
    shared: &Arc<Shared<K, V>>,
    keys: &[K],
    load_all: Arc<F>,
    mut on_ready: impl FnMut(usize, Result<V, Error<E>>),
) where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    F: Fn(Vec<K>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
    R: BatchResult<K, V, Error = E>,
    E: Send + Sync + 'static,
{
    let mut pending: Vec<usize> = (0..keys.len()).collect();
    // A key whose flight ended with nothing for this caller (a write took it, a read found
    // nothing, another loader's error type) is looked up again, a bounded number of times.
    for _round in 0..8 {
        if pending.is_empty() {
            break;
        }
        if let Some(gate) = shared.clearing.active() {
            let _ = gate.wait().await;
        }
        let mut answers = Vec::with_capacity(pending.len());
        let mut owned = Vec::new();
        for &i in &pending {
            let key = &keys[i];
            let hash = shared.memory.hash(key);
            let mut table = shared.flights.lock(hash);
            if let Some(flight) = table.get(key) {
                answers.push((i, Answer::Wait(Arc::clone(flight))));
                continue;
            }
            if let Lookup::Fresh(v) | Lookup::Stale { value: v, .. } = shared.memory.peek(hash, key)
            {
                answers.push((i, Answer::Ready(v)));
                continue;
            }
            // Checked under the key's lock, as a single load does: a clear that began since
            // the round started is waited for, and the key looked up again.
            if let Some(gate) = shared.clearing.active() {
                answers.push((i, Answer::Wait(gate)));
                continue;
            }
            let flight = FlightState::new::<E>(Kind::Load);
            owned.push(Task::register(
                shared,
                &mut table,
                hash,
                key.clone(),
                Arc::clone(&flight),
            ));
            answers.push((i, Answer::Wait(flight)));
        }
        if !owned.is_empty() {
            let (shared, load_all) = (Arc::clone(shared), Arc::clone(&load_all));
            crate::runtime::spawn(async move {
                let run =
                    AssertUnwindSafe(run::<K, V, F, Fut, R, E>(&shared, &mut owned, &*load_all));
                if let Err(panic) = run.catch_unwind().await {
                    let message = panic_message(&*panic);
                    for task in &mut owned {
                        task.finish(Landing::Failed(FlightError::Panicked(message.clone())));
                    }
                }
            });
        }
        let mut again = Vec::new();
        // Each key as soon as its flight lands, whatever order they land in.
        let mut waits: FuturesUnordered<_> = answers
            .into_iter()
            .map(|(i, answer)| async move {
                let outcome = match answer {
                    Answer::Ready(v) => Some(Ok(v)),
                    Answer::Wait(flight) => match flight.wait().await {
                        Ok(v) => Some(Ok(v)),
                        Err(e) if flight.fails_with::<E>() => e.into_error::<E>().map(Err),
                        Err(_) => None,
                    },
                };
                (i, outcome)
            })
            .collect();
        while let Some((i, outcome)) = waits.next().await {
            match outcome {
                Some(r) => on_ready(i, r),
                None => again.push(i),
            }
        }
        pending = again;
    }
    for i in pending {
        on_ready(i, Err(Error::Cancelled));
    }
}

/// The batch's task: tiers, the loader, tiers, then each flight lands.
async fn run<K, V, F, Fut, R, E>(
    shared: &Arc<Shared<K, V>>,
    tasks: &mut Vec<Task<K, V>>,
    load_all: &F,
) where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    F: Fn(Vec<K>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
    R: BatchResult<K, V, Error = E>,
    E: Send + Sync + 'static,
{
    for task in tasks.iter_mut() {
        task.compute_tags();
    }
    // Key by key for caches whose tier entries are stamped or whose loads take leases.
    let plain = shared.tagger.get().is_none() && shared.distributed.is_none();
    let mut waiting: Vec<Task<K, V>> = std::mem::take(tasks);
    // The tiers the batch read found failing: its writes skip them.
    let mut unavailable = crate::tiers::Unavailable::default();
    // 1. The tiers.
    if let Some(tiers) = &shared.tiers {
        let found: Vec<Option<StoredEntry<V>>> = if plain {
            let keys: Vec<K> = waiting.iter().map(|t| t.key().clone()).collect();
            match tiers.read_many(&keys, &mut unavailable).await {
                Ok(found) => {
                    backfill_plain(tiers, &waiting, &found, unavailable).await;
                    found.into_iter().map(|f| f.map(|f| f.entry)).collect()
                }
                Err(e) => {
                    for task in &mut waiting {
                        task.finish(Landing::Failed(FlightError::Storage(e.clone())));
                    }
                    return;
                }
            }
        } else {
            let reads = join_all(waiting.iter_mut().map(|t| t.read_tiers())).await;
            let mut found = Vec::with_capacity(reads.len());
            for (task, read) in waiting.iter_mut().zip(reads) {
                match read {
                    Ok(entry) => found.push(entry),
                    Err(e) => {
                        task.finish(Landing::Failed(FlightError::Storage(e)));
                        found.push(None);
                    }
                }
            }
            found
        };
        let mut rest = Vec::new();
        for (mut task, entry) in waiting.into_iter().zip(found) {
            match entry {
                Some(entry) => {
                    let weight = task.weigh(&entry.value);
                    task.finish(Landing::FromTier(entry, weight));
                }
                None => rest.push(task),
            }
        }
        waiting = rest;
    }
    waiting.retain(|t| t.is_open());
    if waiting.is_empty() {
        return;
    }
    // 2. One call of the batch loader, under the method timeout, panics caught.
    for task in &mut waiting {
        task.count_load();
    }
    let keys: Vec<K> = waiting.iter().map(|t| t.key().clone()).collect();
    let limit = shared.config.method_timeout;
    let start = Instant::now();
    // The call, its future and the conversion of its result, all with panics caught.
    let call = AssertUnwindSafe(async move { load_all(keys).await.into_items() }).catch_unwind();
    let loaded = crate::runtime::timeout(limit, call).await;
    shared
        .stats
        .add(|c| &c.load_nanos, start.elapsed().as_nanos() as u64);
    let items = match loaded {
        Ok(Ok(items)) => items.map_err(|e| FlightError::Load(Arc::new(e))),
        Ok(Err(panic)) => Err(FlightError::Panicked(panic_message(&*panic))),
        Err(_) => Err(FlightError::Timeout(limit)),
    };
    let mut values: HashMap<K, Result<V, E>> = match items {
        Ok(items) => items.into_iter().collect(),
        Err(error) => {
            for task in &mut waiting {
                task.finish(Landing::Failed(error.clone()));
            }
            return;
        }
    };
    let mut loaded = Vec::with_capacity(waiting.len());
    for mut task in waiting {
        match values.remove(task.key()) {
            Some(Ok(v)) => loaded.push((task, v)),
            Some(Err(e)) => {
                task.finish(Landing::Failed(FlightError::Load(Arc::new(e))));
            }
            None => {
                task.finish(Landing::Failed(FlightError::NotLoaded));
            }
        }
    }
    // 3. The tiers again: one multi-set per tier (or key by key, stamped), then memory.
    if shared.tiers.is_none() {
        for (mut task, v) in loaded {
            task.finish(Landing::Loaded(v, None));
        }
        return;
    }
    if !plain {
        let writes = join_all(loaded.iter().map(|(t, v)| t.write_tiers(v))).await;
        for ((mut task, v), written) in loaded.into_iter().zip(writes) {
            task.finish(match written {
                Ok(prepared) => Landing::Loaded(v, prepared),
                Err(e) => Landing::Failed(e),
            });
        }
        return;
    }
    write_plain(shared, loaded, unavailable).await;
}

/// After an untagged batch read: one multi-set into each tier above the ones that answered, of
/// the entries whose flights still own their keys (as a single read's backfill).
async fn backfill_plain<K, V>(
    tiers: &crate::tiers::Tiers<K, V>,
    tasks: &[Task<K, V>],
    found: &[Option<crate::tiers::Found<V>>],
    skip: crate::tiers::Unavailable,
) where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    let claimed: Vec<(&Task<K, V>, &crate::tiers::Found<V>)> = tasks
        .iter()
        .zip(found)
        .filter_map(|(t, f)| Some((t, f.as_ref()?)))
        .filter(|(t, f)| f.answered_by() > 0 && t.claim_write())
        .collect();
    if claimed.is_empty() {
        return;
    }
    let entries: Vec<(K, &crate::tiers::Found<V>)> =
        claimed.iter().map(|(t, f)| (t.key().clone(), *f)).collect();
    tiers.backfill_many(&entries, skip).await;
    for (t, _) in claimed {
        t.end_write();
    }
}

/// Step 3 of an untagged batch: the user's callbacks on each value, one multi-set per tier of
/// the values whose flights still own their keys, then each flight lands.
async fn write_plain<K, V>(
    shared: &Arc<Shared<K, V>>,
    loaded: Vec<(Task<K, V>, V)>,
    mut skip: crate::tiers::Unavailable,
) where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    let Some(tiers) = &shared.tiers else {
        return;
    };
    let mut landing: Vec<(Task<K, V>, Landing<V>)> = Vec::with_capacity(loaded.len());
    let mut entries = Vec::new();
    let mut writing = Vec::new();
    for (task, v) in loaded {
        let prepared: Prepared = match shared.prepare(task.key(), &v) {
            Ok(p) => p,
            Err(message) => {
                landing.push((task, Landing::Failed(FlightError::Panicked(message))));
                continue;
            }
        };
        if let Lifespan::Store {
            update_after,
            expire_after,
        } = prepared.lifespan
        {
            if task.claim_write() {
                skip = skip.union(task.unavailable());
                entries.push((
                    task.key().clone(),
                    StoredEntry::new(v.clone(), update_after, expire_after),
                ));
                writing.push(landing.len());
            }
        }
        landing.push((task, Landing::Loaded(v, Some(prepared))));
    }
    // Failures are counted by the chain; under `Propagate` they fail the batch's keys.
    let written = tiers.write_many(&entries, skip).await;
    for &i in &writing {
        landing[i].0.end_write();
        if let Err(e) = &written {
            landing[i].1 = Landing::Failed(FlightError::Storage(e.clone()));
        }
    }
    for (mut task, l) in landing {
        task.finish(l);
    }
}
