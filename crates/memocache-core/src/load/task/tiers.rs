//! A task's side of the tiers: the key's tags for them, step 1 ([`read_tiers`](Task::read_tiers),
//! and what an early refresh accepts from them, [`TierRead`]) and step 3
//! ([`write_tiers`](Task::write_tiers)), each write claimed while the flight owns its key.

use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::{Tags, Task};
use crate::entry::Lifespan;
use crate::load::flight::{owns, FlightError};
use crate::shared::Prepared;
use crate::storage::{StorageError, StoredEntry};
use crate::tiers::Tagged;

/// What a load or refresh reads from the tiers before calling its loader.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum TierRead {
    /// Nothing: the tiers' entry is known to be no better (a stale entry a load found there).
    Skip,
    /// Whatever they hold: a load's miss, a stale hit's refresh.
    Any,
    /// Only an entry fresh for longer than `left` (by more than [`NEWER_BY`]): an early
    /// refresh, whose memory entry has `left` before `update_after`. An entry as old as
    /// memory's copy is a miss of its tier and the read goes on below (a local tier above Redis
    /// does not hide what another process wrote there); one fresh for longer — written since
    /// by another process, or kept longer than memory's capped copy — is taken, with no loader
    /// call.
    NewerThan(Duration),
}

/// How much longer a tier's entry must stay fresh than memory's to count as newer: more than
/// the disagreement between the wall clock records carry and memory's coarse clock (a kernel
/// tick, 1 to 4 ms, plus the records' millisecond rounding).
const NEWER_BY: Duration = Duration::from_millis(20);

impl TierRead {
    /// Whether a load reading this way takes `entry` (at `now`) instead of calling its loader:
    /// `Any` takes what a load would serve (a stale one only for a `Kind::Load`, decided by the
    /// caller), `NewerThan` only an entry fresh for longer than memory's copy.
    pub(crate) fn takes<V>(self, entry: &StoredEntry<V>, now: SystemTime) -> bool {
        match self {
            TierRead::Skip => false,
            TierRead::Any => true,
            TierRead::NewerThan(left) => entry
                .update_at
                .duration_since(now)
                .is_ok_and(|fresh_for| fresh_for > left + NEWER_BY),
        }
    }
}

impl<K, V> Task<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// Computes the key's tags, once (the user's functions, panics caught).
    pub(crate) fn compute_tags(&mut self) {
        if let Tags::Unknown = self.tags {
            self.tags = match self.shared.tags(&self.key) {
                None => Tags::Known(Tagged::default()),
                Some(Ok(tags)) => Tags::Known(Tagged::new(Some(tags.into()))),
                Some(Err(_)) => Tags::Failed,
            };
        }
    }

    /// The key's tags for the tiers; `Err` when its tag function panicked.
    pub(super) fn tagged(&self) -> Result<&Tagged, ()> {
        static UNTAGGED: Tagged = Tagged::untagged();
        match &self.tags {
            Tags::Known(tagged) => Ok(tagged),
            Tags::Unknown => Ok(&UNTAGGED),
            Tags::Failed => Err(()),
        }
    }

    /// Runs the tier write `op` if the flight still owns its key (checked under the lock),
    /// marked as writing meanwhile, so that whoever displaces it waits for `op` to be over
    /// before touching the same key's tiers. `None`: displaced, nothing written.
    pub(super) async fn tier_write<T>(&self, op: impl Future<Output = T>) -> Option<T> {
        {
            let table = self.shared.flights.lock(self.hash);
            if !owns(&table, &self.key, &self.flight) {
                return None;
            }
            self.flight.begin_writing();
        }
        let done = op.await;
        self.flight.end_writing();
        Some(done)
    }

    /// Claims this flight's next tier write, as [`tier_write`](Self::tier_write) does for one:
    /// `false` if it no longer owns its key. Ended by [`end_write`](Self::end_write).
    pub(crate) fn claim_write(&self) -> bool {
        let table = self.shared.flights.lock(self.hash);
        if !owns(&table, &self.key, &self.flight) {
            return false;
        }
        self.flight.begin_writing();
        true
    }

    /// Ends a write claimed with [`claim_write`](Self::claim_write).
    pub(crate) fn end_write(&self) {
        self.flight.end_writing();
    }

    /// Step 1: reads the tiers in order; the first that has a servable entry answers, and the
    /// tiers above it are backfilled (if the flight still owns the key).
    pub(crate) async fn read_tiers(&mut self) -> Result<Option<StoredEntry<V>>, StorageError> {
        self.read_tiers_as(TierRead::Any).await
    }

    /// [`read_tiers`](Self::read_tiers), an entry `how` does not take counting as its tier's
    /// miss (the read goes on below; nothing is backfilled with it).
    pub(crate) async fn read_tiers_as(
        &mut self,
        how: TierRead,
    ) -> Result<Option<StoredEntry<V>>, StorageError> {
        let shared = Arc::clone(&self.shared);
        let Some(tiers) = &shared.tiers else {
            return Ok(None);
        };
        let mut tagged = match &mut self.tags {
            Tags::Known(tagged) => std::mem::take(tagged),
            Tags::Unknown => Tagged::default(),
            Tags::Failed => return Ok(None),
        };
        let mut unavailable = self.unavailable;
        let accept = |entry: &StoredEntry<V>, now| how.takes(entry, now);
        let read = tiers
            .read(&self.key, &mut tagged, &mut unavailable, accept)
            .await;
        self.tags = Tags::Known(tagged);
        self.unavailable = unavailable;
        let Some(found) = read? else {
            return Ok(None);
        };
        let Tags::Known(tagged) = &self.tags else {
            unreachable!("set above")
        };
        self.tier_write(tiers.backfill(&self.key, &found, tagged, unavailable))
            .await;
        Ok(Some(found.entry))
    }

    /// Step 3: if the cache has tiers and the flight still owns the key, runs the user's
    /// callbacks on the loaded value (a panic fails the load) and writes it to every tier with
    /// its lifespan (or removes the key from them for [`Lifespan::DoNotStore`]; nothing for
    /// [`Lifespan::Skip`]). Returns what
    /// the callbacks decided, if they ran.
    pub(crate) async fn write_tiers(&self, value: &V) -> Result<Option<Prepared>, FlightError> {
        let Some(tiers) = &self.shared.tiers else {
            return Ok(None);
        };
        let write = async {
            let prepared = self
                .shared
                .prepare(&self.key, value)
                .map_err(FlightError::Panicked)?;
            let written = match prepared.lifespan {
                Lifespan::Store {
                    update_after,
                    expire_after,
                } => match self.tagged() {
                    Ok(tagged) => {
                        let entry = StoredEntry::new(value.clone(), update_after, expire_after);
                        tiers
                            .write(&self.key, &entry, tagged, self.unavailable)
                            .await
                    }
                    // Not stampable: the value is served and kept in memory only.
                    Err(()) => tiers.remove(&self.key).await,
                },
                Lifespan::DoNotStore => tiers.remove(&self.key).await,
                Lifespan::Skip => Ok(()),
            };
            written.map_err(FlightError::Storage)?;
            Ok(prepared)
        };
        self.tier_write(write).await.transpose()
    }
}
