//! Tiers: the storages a [`Cache`](crate::Cache) chains below its own in-memory store
//! (cacheme's `caches=[local, redis]`, added with [`CacheBuilder::tier`](crate::CacheBuilder::tier)
//! as [`Tier`](crate::Tier)s), and the failure policy each one runs under ([`OnError`],
//! [`CircuitBreaker`]).
//!
//! A cache with tiers `[t1, t2, …]` reads its memory, then `t1`, `t2`, … in order, inside the
//! single flight of the key: N concurrent misses make at most one read of each tier and at
//! most one loader call. The first tier that has a servable entry answers; the tiers above it
//! (memory included) are backfilled with that entry, each with its own lifespan cap
//! ([`Tier::expire_cap`](crate::Tier::expire_cap)). A loaded value is written to every tier, once per load. A fresh
//! lower-tier entry ends the flight without calling the loader; a stale one is served at once
//! and refreshed in the background, so stale-while-revalidate works across processes sharing
//! a tier.
//!
//! # Failure policy
//! By default ([`OnError::Skip`]) a tier that fails or times out (per-operation timeout,
//! [`DEFAULT_TIMEOUT`]) is treated as a miss on read and skipped on write: the loader still
//! answers, the error is counted ([`TierStats`](crate::TierStats)) and logged with `tracing`. A circuit breaker
//! stops paying the timeout on every request while a server is down: after
//! [`CircuitBreaker::failure_threshold`] failures in a row the tier is skipped for
//! [`CircuitBreaker::cool_down`], then one request probes it; success closes the breaker,
//! failure reopens it. With [`OnError::Propagate`] every tier error reaches the caller as
//! [`Error::Storage`](crate::Error::Storage) instead.
//!
//! Bytes that fail to decode are not a tier failure: they are a miss counted in
//! `decode_errors`, and the reload overwrites them.
//!
//! # Consistency
//! Within one process, every tier operation on a key runs inside that key's single flight,
//! and `insert`, `invalidate` and `invalidate_all` take the key (or every key) over from a
//! load in flight: the displaced load may still hand its value to the callers already
//! waiting for it, but it writes nothing, neither to memory nor to a tier, and a tier write
//! it had already begun (or was waiting to send behind another) settles before the
//! invalidation's removal is sent. So after
//! `invalidate(k)` returns, no value of `k` read or loaded before it is served by this
//! process, and the tiers hold none of this process's old writes. Across processes the tiers
//! are last-writer-wins, in the order the server applied the writes. Entries carry absolute
//! wall-clock deadlines, so processes agree on freshness up to their clocks' skew.
//!
//! # Cost
//! None on a memory hit: the tiers are reached only from the load task of a miss (or from
//! `get`, `insert` and the invalidations). Their futures are boxed, one allocation per tier
//! operation, next to a network round trip.

use std::time::Duration;

/// Default per-operation timeout of a tier: 1 second.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);

/// What a tier's errors (failures and timeouts) do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum OnError {
    /// Count and log the error; a failed read is a miss, a failed write is skipped (default).
    #[default]
    Skip,
    /// Hand the error to the caller as [`Error::Storage`](crate::Error::Storage) (every waiter
    /// of the load gets it). The circuit breaker still applies: an open breaker is reported
    /// as [`StorageError::CircuitOpen`](crate::storage::StorageError::CircuitOpen).
    Propagate,
}

/// The circuit breaker settings of a tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CircuitBreaker {
    /// Failures in a row that open the breaker (default 3). `u32::MAX` never opens it.
    pub failure_threshold: u32,
    /// How long an open breaker skips the tier before one request probes it (default 5 s).
    pub cool_down: Duration,
}

impl Default for CircuitBreaker {
    fn default() -> Self {
        CircuitBreaker {
            failure_threshold: 3,
            cool_down: Duration::from_secs(5),
        }
    }
}
