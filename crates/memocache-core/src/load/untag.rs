//! Invalidation by tag ([`invalidate`]): what `Cache::invalidate_tags`, a zone's
//! invalidations and `Cache::invalidate_scope` do, in one task of its own.
//!
//! The steps, in this order (each one's reason):
//! 1. **tiers**: every tag gets a new generation in every tier that keeps tags, so a tier
//!    read from here on finds the old entries stale (whoever wrote them);
//! 2. **flights**: every flight whose key carries one of the tags is displaced (its waiters
//!    still get its value; it writes nothing more). A flight that read a tier before step 1
//!    could otherwise store what it read in memory after step 3. A displaced flight that was
//!    already writing its tiers is waited for, and if one was, step 1 runs again: a writer
//!    that found a tag with no generation gave it one, which may have replaced ours;
//! 3. **memory**: every entry whose key carries one of the tags is removed (a scan: the tag
//!    functions run for each key, outside every lock).
//!
//! A key whose tag function panics counts as carrying every tag (it is removed), and the
//! panic is counted and logged.

use std::hash::Hash;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use futures_util::FutureExt;

use super::flight::{displace, owns};
use crate::memory::policy::RemovalCause;
use crate::shared::Shared;
use crate::storage::StorageError;
use crate::tags::{Member, Tag};

/// Invalidates every entry whose key carries one of `tags` (full tag texts); the first tier
/// that could not record it.
///
/// # Cancel safety
/// All or nothing: dropped before its first poll, it did nothing; from then on the work runs
/// to the end in its own task.
pub(crate) async fn invalidate<K, V>(
    shared: &Arc<Shared<K, V>>,
    tags: Vec<Tag>,
) -> Result<(), StorageError>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    shared.forget_errors();
    if tags.is_empty() {
        return Ok(());
    }
    let (tx, rx) = tokio::sync::oneshot::channel();
    let running = shared.running.start();
    let shared = Arc::clone(shared);
    crate::runtime::spawn(async move {
        let _running = running;
        let _ = tx.send(run(&shared, &tags).await);
    });
    rx.await.unwrap_or(Err(StorageError::Cancelled))
}

async fn run<K, V>(shared: &Arc<Shared<K, V>>, tags: &[Tag]) -> Result<(), StorageError>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    // 1. Tiers.
    let mut result = Ok(());
    if let Some(tiers) = &shared.tiers {
        result = tiers.bump(tags).await;
    }
    // 2. Flights (and, if one was writing, the tiers again); 3. memory.
    let was_writing = displace_flights(shared, tags).await;
    if was_writing {
        if let Some(tiers) = &shared.tiers {
            let again = tiers.bump(tags).await;
            result = result.and(again);
        }
    }
    scan_memory(shared, tags);
    // The other instances of a distributed cache do 2 and 3 in their process.
    crate::coord::hooks::publish_tags(shared, tags).await;
    result
}

#[cfg(feature = "json")]
/// Another instance invalidated `tags` (an event on the cache's channel): steps 2 and 3 here,
/// the tiers being done.
pub(crate) async fn forget<K, V>(shared: &Arc<Shared<K, V>>, tags: &[Tag])
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    shared.forget_errors();
    displace_flights(shared, tags).await;
    scan_memory(shared, tags);
}

/// Whether `key` carries one of `tags` (a panicking tag function: yes).
fn carries<K, V>(shared: &Shared<K, V>, tags: &[Tag], key: &K) -> bool
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    match shared.tags(key) {
        None => false,
        Some(Ok(own)) => own.iter().any(|t| tags.contains(t)),
        Some(Err(_)) => true,
    }
}

/// Step 2: displaces every flight whose key carries one of `tags` (candidates under each
/// shard's lock, their tags outside it, each displaced if the same flight still owns its key),
/// and waits for the tier writes they had under way. Returns whether one was writing.
async fn displace_flights<K, V>(shared: &Arc<Shared<K, V>>, tags: &[Tag]) -> bool
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    let mut flights = Vec::new();
    shared.flights.for_each_shard(|table| {
        flights.extend(table.iter().map(|(k, f)| (k.clone(), Arc::clone(f))));
    });
    let mut follow = Vec::new();
    for (key, flight) in flights {
        if !carries(shared, tags, &key) {
            continue;
        }
        let hash = shared.memory.hash(&key);
        let mut table = shared.flights.lock(hash);
        if owns(&table, &key, &flight) {
            follow.extend(displace(&mut table, &key));
        }
    }
    let mut was_writing = false;
    for flight in follow {
        was_writing |= flight.is_writing();
        flight.settled().await;
    }
    was_writing
}

/// Step 3: removes every entry whose key carries one of `tags` from memory.
fn scan_memory<K, V>(shared: &Shared<K, V>, tags: &[Tag])
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    let mut keys = Vec::new();
    shared.memory.for_each_shard_keys(|shard| {
        keys.extend(shard.into_iter().filter(|k| carries(shared, tags, k)))
    });
    for key in keys {
        let hash = shared.memory.hash(&key);
        let removed = {
            let _table = shared.flights.lock(hash);
            shared.memory.remove(hash, &key, RemovalCause::Explicit)
        };
        shared.notify(Some(removed));
    }
}

impl<K, V> Member for Shared<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    fn invalidate_full_tags(
        self: Arc<Self>,
        tags: Vec<Tag>,
    ) -> BoxFuture<'static, Result<(), StorageError>> {
        async move { invalidate(&self, tags).await }.boxed()
    }
}
