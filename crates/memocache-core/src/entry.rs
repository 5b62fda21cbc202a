//! Entry lifespans: when a stored value becomes stale (`update_after`) and when it expires
//! (`expire_after`), decided per entry by an [`EntryBuilder`].

use std::fmt;
use std::time::Duration;

/// How long one loaded value lives in the cache, as decided by an [`EntryBuilder`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifespan {
    /// Store the value. After `update_after` it is *stale*: still served at once, while one
    /// background refresh replaces it. After `expire_after` it is never served again.
    /// An `update_after` greater than `expire_after` is treated as equal to it.
    Store {
        /// Age after which the entry is refreshed in the background.
        update_after: Duration,
        /// Age after which the entry is no longer served.
        expire_after: Duration,
    },
    /// Hand the value to the waiting callers but do not store it; an entry the key had is
    /// removed (from memory and every tier), so nothing older than this value is served.
    DoNotStore,
    /// Hand the value to the waiting callers and leave memory and tiers as they are: an
    /// entry the key had stays (a stale one is refreshed again later). For admission filters
    /// such as a doorkeeper. An `insert` treats it as [`DoNotStore`](Self::DoNotStore).
    Skip,
}

impl Lifespan {
    /// A lifespan with the two given durations.
    pub fn new(update_after: Duration, expire_after: Duration) -> Self {
        Lifespan::Store {
            update_after,
            expire_after,
        }
    }
}

/// Decides the [`Lifespan`] of each value a load produced (py-memoize's `CacheEntryBuilder`).
///
/// The default gives every entry the cache's `update_after` and `expire_after`. A custom
/// builder can read a lifespan out of the value itself (a token that says when it expires),
/// or refuse to store some values. Any `Fn(&K, &V) -> Lifespan` is an entry builder.
///
/// ```
/// # extern crate memocache_core as memocache;
/// use std::time::Duration;
/// use memocache::{Cache, Lifespan};
///
/// struct Token { ttl: Duration }
///
/// let cache: Cache<String, std::sync::Arc<Token>> = Cache::builder()
///     .entry_builder(|_key: &String, token: &std::sync::Arc<Token>| {
///         // refresh when the token's own TTL is over, drop it 10 % later
///         Lifespan::new(token.ttl, token.ttl + token.ttl / 10)
///     })
///     .build()
///     .unwrap();
/// ```
///
/// The builder runs once per value stored, possibly while the cache holds an internal lock
/// for the key: it must not call back into the same cache, which could deadlock. A panic in
/// it is caught: the value is not stored, and the load fails with
/// [`Error::Panicked`](crate::Error::Panicked) (or, in `insert`, is counted in
/// `Stats::callback_panics`).
pub trait EntryBuilder<K, V>: Send + Sync + 'static {
    /// The lifespan of `value`, just loaded for `key`.
    fn lifespan(&self, key: &K, value: &V) -> Lifespan;
}

impl<K, V, F> EntryBuilder<K, V> for F
where
    F: Fn(&K, &V) -> Lifespan + Send + Sync + 'static,
{
    fn lifespan(&self, key: &K, value: &V) -> Lifespan {
        self(key, value)
    }
}

/// The default entry builder: the same `update_after` and `expire_after` for every entry.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct FixedLifespan {
    /// Age after which an entry is refreshed in the background.
    pub update_after: Duration,
    /// Age after which an entry is no longer served.
    pub expire_after: Duration,
}

impl fmt::Debug for FixedLifespan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FixedLifespan")
            .field("update_after", &self.update_after)
            .field("expire_after", &self.expire_after)
            .finish()
    }
}

impl<K, V> EntryBuilder<K, V> for FixedLifespan {
    fn lifespan(&self, _key: &K, _value: &V) -> Lifespan {
        Lifespan::new(self.update_after, self.expire_after)
    }
}
