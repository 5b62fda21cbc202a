//! The chain below a cache's memory ([`Tiers`]): read-through in order with backfill of the
//! tiers above the one that answered, write-to-all, remove and clear. The cache never indexes
//! the chain: it reads, backfills what it read, writes, removes and clears.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::SystemTime;

use futures_util::future::join_all;

use super::breaker::{Op, TierState, TierStats};
use super::options::Tier;
use super::stamp::{self, Tagged};
use super::storage::{StorageError, StoredEntry};
use crate::tags::Tag;

/// The tiers that failed (or were skipped by their open breaker) during one flight: its
/// writes skip them, so a hung server costs a miss one timeout, not one per operation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Unavailable(u64);

impl Unavailable {
    fn mark(&mut self, index: usize) {
        self.0 |= 1 << index;
    }

    fn has(self, index: usize) -> bool {
        self.0 & (1 << index) != 0
    }

    /// The tiers unavailable in either set.
    pub(crate) fn union(self, other: Unavailable) -> Unavailable {
        Unavailable(self.0 | other.0)
    }
}

/// Most tiers a chain may have (the [`Unavailable`] set's width).
pub(crate) const MAX_TIERS: usize = 64;

/// What a chain read found: the entry, and (privately) which tier answered, so a backfill
/// writes the tiers above it.
pub(crate) struct Found<V> {
    answered_by: usize,
    pub(crate) entry: StoredEntry<V>,
}

impl<V> Found<V> {
    /// The index of the tier that answered (0 is the top one).
    pub(crate) fn answered_by(&self) -> usize {
        self.answered_by
    }
}

/// The chain of tiers below a cache's memory.
pub(crate) struct Tiers<K, V> {
    tiers: Box<[TierState<K, V>]>,
    /// The cache's name, for logs.
    cache: Arc<str>,
}

impl<K, V> Tiers<K, V>
where
    K: Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// The chain of `tiers` of the cache named `cache`; `None` when there is no tier.
    pub(crate) fn new(tiers: Vec<Tier<K, V>>, cache: &str) -> Option<Self> {
        if tiers.is_empty() {
            return None;
        }
        Some(Tiers {
            tiers: tiers.into_iter().map(TierState::new).collect(),
            cache: Arc::from(cache),
        })
    }

    /// Reads the tiers in order; the first servable entry answers, its deadlines cut by that
    /// tier's lifespan cap. Undecodable records are misses (counted and logged); other errors
    /// end the read under [`OnError::Propagate`](crate::tier::OnError::Propagate) and are
    /// misses otherwise, the tier marked in `unavailable`.
    ///
    /// With tags (the key's, in a cache with tags), a tier that keeps tags answers only with an
    /// entry whose stamp is current, and `tagged` keeps the stamp each tier's read made, for
    /// the flight's writes (see [`stamp`](super::stamp)).
    ///
    /// An entry `accept` refuses (given the time of the read) is a miss of its tier, and the
    /// read goes on to the next: an early refresh accepts only an entry newer than memory's.
    pub(crate) async fn read(
        &self,
        key: &K,
        tagged: &mut Tagged,
        unavailable: &mut Unavailable,
        accept: impl Fn(&StoredEntry<V>, SystemTime) -> bool,
    ) -> Result<Option<Found<V>>, StorageError> {
        let cache = &*self.cache;
        let tags = tagged.tags.clone();
        for (index, t) in self.tiers.iter().enumerate() {
            let c = &t.counters;
            let read = t.run(Op::Get, cache, |s| stamp::read(s, key, tags.as_deref()));
            let read = read.await.map(|r| {
                r.map(|(entry, stamp)| {
                    tagged.set_stamp(index, stamp);
                    entry
                })
            });
            match read {
                Ok(Some(Some(entry))) => {
                    if let Some(entry) = servable(t, entry, SystemTime::now(), &accept) {
                        return Ok(Some(Found {
                            answered_by: index,
                            entry,
                        }));
                    }
                }
                Ok(Some(None)) => {
                    c.misses.fetch_add(1, Relaxed);
                }
                Ok(None) => {
                    c.misses.fetch_add(1, Relaxed);
                    unavailable.mark(index);
                }
                Err(StorageError::Decode(e)) => {
                    c.misses.fetch_add(1, Relaxed);
                    c.decode_errors.fetch_add(1, Relaxed);
                    tracing::warn!(
                        cache,
                        tier = t.name(),
                        error = %e,
                        "stored record could not be decoded: treated as a miss, will be overwritten"
                    );
                }
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }

    /// Copies what [`read`](Self::read) found into every tier above the one that answered
    /// (but those in `skip`), each with its own lifespan cap. Errors are counted and logged,
    /// never returned: a backfill is an optimisation of the next read.
    pub(crate) async fn backfill(
        &self,
        key: &K,
        found: &Found<V>,
        tagged: &Tagged,
        skip: Unavailable,
    ) {
        let _ = self
            .write_upto(key, &found.entry, tagged, found.answered_by, skip)
            .await;
    }

    /// Writes `entry` to every tier but those in `skip`, each with its own lifespan cap,
    /// concurrently. The first error is returned under
    /// [`OnError::Propagate`](crate::tier::OnError::Propagate).
    pub(crate) async fn write(
        &self,
        key: &K,
        entry: &StoredEntry<V>,
        tagged: &Tagged,
        skip: Unavailable,
    ) -> Result<(), StorageError> {
        self.write_upto(key, entry, tagged, self.tiers.len(), skip)
            .await
    }

    /// Writes `entry` to the first `upto` tiers, but those in `skip`.
    async fn write_upto(
        &self,
        key: &K,
        entry: &StoredEntry<V>,
        tagged: &Tagged,
        upto: usize,
        skip: Unavailable,
    ) -> Result<(), StorageError> {
        let now = SystemTime::now();
        let cache = &*self.cache;
        let live = self.tiers[..upto].iter().enumerate().filter(|&(i, t)| {
            let failed_before = skip.has(i);
            if failed_before {
                t.counters.skipped.fetch_add(1, Relaxed);
            }
            !failed_before
        });
        let writes = live.map(|(index, t)| {
            let e = entry.clone().capped(now, t.tier.expire_cap);
            async move {
                let r = t
                    .run(Op::Set, cache, |s| stamp::write(s, key, e, tagged, index))
                    .await;
                if let Ok(Some(())) = r {
                    t.counters.writes.fetch_add(1, Relaxed);
                }
                r.map(drop)
            }
        });
        join_all(writes).await.into_iter().collect()
    }

    /// Removes `key` from every tier. Every failure is returned (whatever the tiers'
    /// [`OnError`](crate::tier::OnError)): the old value is still there.
    pub(crate) async fn remove(&self, key: &K) -> Result<(), StorageError> {
        let cache = &*self.cache;
        let ops = self
            .tiers
            .iter()
            .map(|t| async move { t.run(Op::Remove, cache, |s| s.remove(key)).await.map(drop) });
        join_all(ops).await.into_iter().collect()
    }

    /// Reads the entries of `keys` (untagged), one multi-get per tier for the keys still
    /// missing, in chain order; each item as [`read`](Self::read) judges it (capped, expired
    /// = miss, undecodable = counted miss), with the tier that answered, for
    /// [`backfill_many`](Self::backfill_many). Other errors end the read under
    /// [`OnError::Propagate`](crate::tier::OnError::Propagate), and are misses otherwise.
    pub(crate) async fn read_many(
        &self,
        keys: &[K],
        unavailable: &mut Unavailable,
    ) -> Result<Vec<Option<Found<V>>>, StorageError> {
        let cache = &*self.cache;
        let mut out: Vec<Option<Found<V>>> = (0..keys.len()).map(|_| None).collect();
        let mut missing: Vec<usize> = (0..keys.len()).collect();
        for (index, t) in self.tiers.iter().enumerate() {
            if missing.is_empty() {
                break;
            }
            let c = &t.counters;
            let asked: Vec<K> = missing.iter().map(|&i| keys[i].clone()).collect();
            let items = match t.run(Op::Get, cache, |s| s.get_many(&asked)).await {
                Ok(Some(items)) => items,
                Ok(None) => {
                    c.misses.fetch_add(asked.len() as u64, Relaxed);
                    unavailable.mark(index);
                    continue;
                }
                Err(e) => return Err(e),
            };
            let now = SystemTime::now();
            for (&i, item) in missing.iter().zip(items) {
                match item {
                    Ok(Some(entry)) => {
                        out[i] = servable(t, entry, now, |_, _| true).map(|entry| Found {
                            answered_by: index,
                            entry,
                        })
                    }
                    Ok(None) => {
                        c.misses.fetch_add(1, Relaxed);
                    }
                    Err(e) => {
                        c.misses.fetch_add(1, Relaxed);
                        c.decode_errors.fetch_add(1, Relaxed);
                        tracing::warn!(cache, tier = t.name(), error = %e, "stored record could not be decoded: treated as a miss");
                    }
                }
            }
            missing.retain(|&i| out[i].is_none());
        }
        Ok(out)
    }

    /// Copies what [`read_many`](Self::read_many) found into the tiers above the one that
    /// answered each key (but those in `skip`): one multi-set per tier. Errors are counted and
    /// logged, never returned, as a single read's [`backfill`](Self::backfill).
    pub(crate) async fn backfill_many(&self, found: &[(K, &Found<V>)], skip: Unavailable) {
        let above = |i: usize| {
            let f = found.iter().filter(move |(_, f)| f.answered_by > i);
            f.map(|(k, f)| (k, &f.entry)).collect()
        };
        let _ = self.set_in_each(skip, above).await;
    }

    /// Writes `entries` (untagged) to every tier but those in `skip`: one multi-set per tier,
    /// each entry capped by the tier's lifespan limit. The first error under
    /// [`OnError::Propagate`](crate::tier::OnError::Propagate).
    pub(crate) async fn write_many(
        &self,
        entries: &[(K, StoredEntry<V>)],
        skip: Unavailable,
    ) -> Result<(), StorageError> {
        let all = |_: usize| entries.iter().map(|(k, e)| (k, e)).collect();
        self.set_in_each(skip, all).await.into_iter().collect()
    }

    /// One multi-set in each tier but those in `skip`, concurrently, of the entries `pick`
    /// gives for that tier's index (none: no call), each capped by the tier's lifespan limit;
    /// each tier's result.
    async fn set_in_each<'e>(
        &self,
        skip: Unavailable,
        pick: impl Fn(usize) -> Vec<(&'e K, &'e StoredEntry<V>)>,
    ) -> Vec<Result<(), StorageError>>
    where
        K: 'e,
        V: 'e,
    {
        let now = SystemTime::now();
        let cache = &*self.cache;
        let writes = self
            .tiers
            .iter()
            .enumerate()
            .filter(|&(i, _)| !skip.has(i))
            .map(|(i, t)| {
                let capped: Vec<(K, StoredEntry<V>)> = pick(i)
                    .into_iter()
                    .map(|(k, e)| (k.clone(), e.clone().capped(now, t.tier.expire_cap)))
                    .collect();
                async move {
                    if capped.is_empty() {
                        return Ok(());
                    }
                    let n = capped.len() as u64;
                    let r = t.run(Op::Set, cache, |s| s.set_many(capped)).await;
                    if let Ok(Some(())) = r {
                        t.counters.writes.fetch_add(n, Relaxed);
                    }
                    r.map(drop)
                }
            });
        join_all(writes).await
    }

    /// Gives each of `tags` a new generation in every tier that keeps tags: their entries
    /// there become misses, in every process. Every failure is returned.
    pub(crate) async fn bump(&self, tags: &[Tag]) -> Result<(), StorageError> {
        let cache = &*self.cache;
        let generations: Vec<(Tag, u64)> = tags
            .iter()
            .map(|t| (t.clone(), stamp::new_generation()))
            .collect();
        let generations = &generations;
        let ops = self.tiers.iter().map(|t| async move {
            t.run(Op::Remove, cache, |s| stamp::bump(s, generations))
                .await
                .map(drop)
        });
        join_all(ops).await.into_iter().collect()
    }

    /// Whether every tier keeps tags; else the name of the first that does not.
    pub(crate) fn keep_tags(&self) -> Result<(), String> {
        match self
            .tiers
            .iter()
            .find(|t| t.tier.storage.tag_store().is_none())
        {
            Some(t) => Err(t.name().to_string()),
            None => Ok(()),
        }
    }

    /// Clears every tier's namespace, with no overall timeout (each storage times its own
    /// steps). Every failure is returned.
    pub(crate) async fn clear(&self) -> Result<(), StorageError> {
        let cache = &*self.cache;
        let ops = self
            .tiers
            .iter()
            .map(|t| async move { t.run(Op::Clear, cache, |s| s.clear()).await.map(drop) });
        join_all(ops).await.into_iter().collect()
    }
}

/// What tier `t` read, judged at `now` and counted: the entry cut by the tier's lifespan cap
/// (a record's deadlines are the writer's, not trusted past it), or `None` (a miss) if that
/// leaves it expired.
fn servable<K, V>(
    t: &TierState<K, V>,
    entry: StoredEntry<V>,
    now: SystemTime,
    accept: impl Fn(&StoredEntry<V>, SystemTime) -> bool,
) -> Option<StoredEntry<V>> {
    let c = &t.counters;
    let entry = entry.capped(now, t.tier.expire_cap);
    let usable = !entry.is_expired(now) && accept(&entry, now);
    let counter = if !usable {
        &c.misses
    } else if entry.is_fresh(now) {
        &c.hits_fresh
    } else {
        &c.hits_stale
    };
    counter.fetch_add(1, Relaxed);
    usable.then_some(entry)
}

impl<K, V> Tiers<K, V> {
    /// The counters of each tier, in chain order.
    pub(crate) fn stats(&self) -> Vec<TierStats> {
        self.tiers.iter().map(TierState::stats).collect()
    }

    /// The tiers' storage names, in chain order.
    pub(crate) fn describe(&self) -> Vec<&str> {
        self.tiers.iter().map(|t| t.name()).collect()
    }
}

#[cfg(test)]
mod tests;
