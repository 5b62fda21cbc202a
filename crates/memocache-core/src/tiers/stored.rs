//! [`StoredEntry`]: a value with its wall-clock lifespan, as the tiers below the memory keep
//! it, read it back and pass it along the chain. The storages, the codec and the chain all
//! speak it; it depends on none of them.
//!
//! Deadlines are wall-clock ([`SystemTime`]) so that an entry written by one process is judged
//! fresh, stale or expired the same way by any other (up to their clocks' skew).

use std::time::{Duration, SystemTime};

use super::stamp::Stamp;
use crate::clock::Clock;

/// One value with its lifespan, as a storage keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEntry<V> {
    /// The value.
    pub value: V,
    /// When the value was loaded.
    pub created: SystemTime,
    /// From this moment on the entry is stale: served, and refreshed in the background.
    pub update_at: SystemTime,
    /// From this moment on the entry is never served.
    pub expire_at: SystemTime,
    /// Its tags' generations when it was written (empty without tags): see
    /// [`stamp`](Self::stamp).
    pub(crate) stamp: Stamp,
}

impl<V> StoredEntry<V> {
    /// An entry created now that is stale after `update_after` and expires after
    /// `expire_after` (an `update_after` past `expire_after` is cut to it).
    pub fn new(value: V, update_after: Duration, expire_after: Duration) -> Self {
        Self::created_at(SystemTime::now(), value, update_after, expire_after)
    }

    /// An entry created at `created`, with the same rules as [`StoredEntry::new`].
    pub fn created_at(
        created: SystemTime,
        value: V,
        update_after: Duration,
        expire_after: Duration,
    ) -> Self {
        let expire_at = wall_deadline(created, expire_after);
        let update_at = wall_deadline(created, update_after).min(expire_at);
        StoredEntry {
            value,
            created,
            update_at,
            expire_at,
            stamp: Stamp::default(),
        }
    }

    /// The generations its tags had when it was written, which a storage that keeps tags
    /// ([`Storage::tag_store`](crate::storage::Storage::tag_store)) stores with it and
    /// returns with it. Empty for entries of a cache without tags.
    pub fn stamp(&self) -> &Stamp {
        &self.stamp
    }

    /// The same entry with `stamp` (a storage reading back a stamped entry).
    pub fn with_stamp(mut self, stamp: Stamp) -> Self {
        self.stamp = stamp;
        self
    }

    /// `true` when the entry must not be served at `now`.
    pub fn is_expired(&self, now: SystemTime) -> bool {
        now >= self.expire_at
    }

    /// `true` when the entry is servable and not yet stale at `now`.
    pub fn is_fresh(&self, now: SystemTime) -> bool {
        now < self.update_at && now < self.expire_at
    }

    /// Time left before expiry at `now`, or `None` when expired.
    pub fn time_to_live(&self, now: SystemTime) -> Option<Duration> {
        match self.expire_at.duration_since(now) {
            Ok(d) if !d.is_zero() => Some(d),
            _ => None,
        }
    }

    /// The entry's wall-clock deadlines seen from `now` (wall clock) as deadlines of the
    /// in-memory store's clock, which reads `store_now` at this moment: `(update_at,
    /// expire_at)`, or `None` when the entry has expired.
    pub(crate) fn store_deadlines(&self, now: SystemTime, store_now: u64) -> Option<(u64, u64)> {
        let ttl = self.time_to_live(now)?;
        let to_update = self.update_at.duration_since(now).unwrap_or_default();
        Some((
            Clock::deadline(store_now, to_update),
            Clock::deadline(store_now, ttl),
        ))
    }

    /// The same entry with its deadlines cut so that it expires at most `cap` after `now`
    /// (a tier's lifespan limit). A `created` after the new expiry (a writer whose clock was
    /// ahead) is cut to it, so the times stay in order.
    pub fn capped(mut self, now: SystemTime, cap: Option<Duration>) -> Self {
        if let Some(cap) = cap {
            let limit = wall_deadline(now, cap);
            self.expire_at = self.expire_at.min(limit);
            self.update_at = self.update_at.min(self.expire_at);
            self.created = self.created.min(self.expire_at);
        }
        self
    }
}

/// `t + d`, saturating a century ahead instead of overflowing.
pub(crate) fn wall_deadline(t: SystemTime, d: Duration) -> SystemTime {
    t.checked_add(d)
        .or_else(|| t.checked_add(Duration::from_secs(100 * 365 * 24 * 3600)))
        .unwrap_or(t)
}
