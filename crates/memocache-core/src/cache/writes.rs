//! The writes of a [`Cache`]: `insert`, `invalidate`, `invalidate_memory`,
//! `invalidate_all`. Each delegates to [`load::write`](crate::load::write), which takes the
//! key (or every key) over from its flight.

use std::borrow::Borrow;
use std::hash::Hash;

use super::Cache;
use crate::load::write;
use crate::storage::StorageError;

impl<K, V> Cache<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// Stores `value` for `key` with the lifespan the entry builder gives it, replacing any
    /// entry. A load of `key` in flight still hands its value to its waiters, but writes it
    /// nowhere: this value wins.
    ///
    /// With storage tiers the entry is then written to every tier (tier errors are counted
    /// and logged, never returned); the call returns once they are written. A panic in the
    /// entry builder or the weigher stores nothing (the old entry is removed everywhere),
    /// and is counted (`Stats::callback_panics`) and logged.
    ///
    /// # Cancel safety
    /// All or nothing: dropped before its first poll, it did nothing; from its first poll on,
    /// memory holds the new value and the tier writes run in their own task, which completes
    /// whether or not the caller is still waiting. Memory and tiers agree afterwards.
    pub async fn insert(&self, key: K, value: V) {
        write::insert(&self.inner, key, value).await;
    }

    /// Removes the entry of `key`. A load of `key` in flight still hands its value to the
    /// callers already waiting for it, but writes it nowhere, and callers arriving after this
    /// call start a new load: after `invalidate` returns, no value loaded or read before it
    /// is served from the cache. This also frees a key whose load is stuck.
    ///
    /// With storage tiers the key is removed from every tier too; the call returns once they
    /// are done. Another process may write the key again at any time: across processes, the
    /// tiers are as consistent as the order of writes.
    ///
    /// `Q: ToOwned<Owned = K>` lets a cache with storage tiers remove the key from every tier.
    ///
    /// # Errors
    /// The first tier that could not remove the key (failed, timed out, or skipped by an open
    /// circuit breaker), whatever its [`OnError`](crate::tier::OnError): that tier may still
    /// hold the old value, and serve it to a later miss. Memory is cleared of the key in every
    /// case. A memory-only cache never fails.
    ///
    /// # Cancel safety
    /// All or nothing, as [`insert`](Self::insert): from its first poll on, memory no longer
    /// has the key and the tier removals complete in their own task (a failure is then only
    /// counted and logged).
    pub async fn invalidate<Q>(&self, key: &Q) -> Result<(), StorageError>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        if self.inner.tiers.is_some() {
            write::invalidate(&self.inner, key.to_owned()).await
        } else {
            write::invalidate_in_memory(&self.inner, key);
            Ok(())
        }
    }

    /// Removes the entry of `key` from the memory only, leaving the storage tiers and any
    /// load in flight alone: the next request reads it back from the first tier that has it
    /// (and refills the memory) instead of loading it.
    pub fn invalidate_memory<Q>(&self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let inner = &*self.inner;
        let hash = inner.memory.hash(key);
        let removed = {
            let _table = inner.flights.lock(hash);
            inner
                .memory
                .remove(hash, key, crate::RemovalCause::Explicit)
        };
        inner.notify(Some(removed));
    }

    /// Removes every entry. Loads in flight still hand their values to the callers already
    /// waiting for them, but write them nowhere. With storage tiers, each tier's namespace is
    /// cleared too; until that is done, misses wait (instead of reading what is being
    /// cleared) and writes are sent after it.
    ///
    /// A tier's clear has no overall timeout: it walks the whole namespace (a Redis `SCAN`
    /// over every key of the server, say), each step under the storage's own timeout, and
    /// finishes.
    ///
    /// # Errors
    /// The first tier whose clear failed part-way (or was skipped by an open circuit breaker),
    /// whatever its [`OnError`](crate::tier::OnError): that tier may still hold some of the
    /// namespace's entries. Memory is cleared in every case. A memory-only cache never fails.
    ///
    /// # Cancel safety
    /// All or nothing, as [`insert`](Self::insert): from its first poll on, memory is cleared
    /// and the tiers' clear completes in its own task (a failure is then only counted and
    /// logged). Only the runtime shutting down before that task ran stops it: the gate then
    /// opens without the tiers cleared.
    pub async fn invalidate_all(&self) -> Result<(), StorageError> {
        write::invalidate_all(&self.inner).await
    }
}
