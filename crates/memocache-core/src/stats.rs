//! Statistics: striped counters that every operation bumps without contention, and the
//! [`Stats`] snapshot that adds them up.
//!
//! Each thread is given one stripe (a cache-line-padded block of counters) the first time it
//! counts, so two threads serving hits never write the same cache line.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

use crossbeam_utils::CachePadded;

use crate::tier::TierStats;

const STRIPES: usize = 16;

/// The counters, one field each; a stripe holds one of these.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) hits_fresh: AtomicU64,
    pub(crate) hits_stale: AtomicU64,
    pub(crate) misses: AtomicU64,
    pub(crate) coalesced: AtomicU64,
    pub(crate) loads_started: AtomicU64,
    pub(crate) load_successes: AtomicU64,
    pub(crate) load_failures: AtomicU64,
    pub(crate) timeouts: AtomicU64,
    pub(crate) panics: AtomicU64,
    pub(crate) load_nanos: AtomicU64,
    pub(crate) evictions: AtomicU64,
    pub(crate) refreshes_started: AtomicU64,
    pub(crate) refreshes_succeeded: AtomicU64,
    pub(crate) refreshes_failed: AtomicU64,
}

/// Striped counters of one cache.
pub(crate) struct StatsCounter {
    stripes: Box<[CachePadded<Counters>]>,
}

static NEXT_STRIPE: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static STRIPE: Cell<usize> = const { Cell::new(usize::MAX) };
}

#[inline]
fn stripe_index() -> usize {
    STRIPE.with(|s| {
        let i = s.get();
        if i != usize::MAX {
            return i;
        }
        let i = NEXT_STRIPE.fetch_add(1, Relaxed) % STRIPES;
        s.set(i);
        i
    })
}

impl StatsCounter {
    pub(crate) fn new() -> Self {
        StatsCounter {
            stripes: (0..STRIPES)
                .map(|_| CachePadded::new(Counters::default()))
                .collect(),
        }
    }

    /// This thread's stripe; bump its fields with `fetch_add(_, Relaxed)`.
    #[inline]
    pub(crate) fn local(&self) -> &Counters {
        &self.stripes[stripe_index()]
    }

    pub(crate) fn snapshot(&self) -> Stats {
        let mut s = Stats::default();
        for c in self.stripes.iter() {
            s.hits_fresh += c.hits_fresh.load(Relaxed);
            s.hits_stale += c.hits_stale.load(Relaxed);
            s.misses += c.misses.load(Relaxed);
            s.coalesced += c.coalesced.load(Relaxed);
            s.loads_started += c.loads_started.load(Relaxed);
            s.load_successes += c.load_successes.load(Relaxed);
            s.load_failures += c.load_failures.load(Relaxed);
            s.timeouts += c.timeouts.load(Relaxed);
            s.panics += c.panics.load(Relaxed);
            s.total_load_time += Duration::from_nanos(c.load_nanos.load(Relaxed));
            s.evictions += c.evictions.load(Relaxed);
            s.refreshes_started += c.refreshes_started.load(Relaxed);
            s.refreshes_succeeded += c.refreshes_succeeded.load(Relaxed);
            s.refreshes_failed += c.refreshes_failed.load(Relaxed);
        }
        s.requests = s.hits_fresh + s.hits_stale + s.misses;
        s
    }
}

/// A snapshot of a cache's counters, from [`Cache::stats`](crate::Cache::stats).
///
/// Every request is counted exactly once as a fresh hit, a stale hit or a miss, and
/// `requests` is their sum (`requests == hits() + misses`; no separate counter on the hit
/// path). A miss either started a
/// load or joined one already in flight (`coalesced`). Loads started by misses are counted in
/// `loads_*`; background refreshes of stale entries in `refreshes_*`.
///
/// With storage tiers, `hits_*` and `misses` are about the in-memory store; what each tier
/// answered on those misses is in `tiers`; `loads_started` and `load_successes` /
/// `load_failures` count only the loads that called the loader (a miss answered by a tier
/// calls none), and a tier failure is counted in `tiers`, not as a load failure.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Calls of `get_or_load`, `get_with` and `get`.
    pub requests: u64,
    /// Requests served a fresh value.
    pub hits_fresh: u64,
    /// Requests served a stale value (a background refresh was due).
    pub hits_stale: u64,
    /// Requests that found no servable value.
    pub misses: u64,
    /// Misses that joined a load already in flight instead of starting one.
    pub coalesced: u64,
    /// Loads started by misses (each one loader call).
    pub loads_started: u64,
    /// Loads that returned a value.
    pub load_successes: u64,
    /// Loads that failed: loader errors, timeouts and panics.
    pub load_failures: u64,
    /// Loads and refreshes cancelled by the method timeout (also counted as failures).
    pub timeouts: u64,
    /// Loads and refreshes whose loader panicked (also counted as failures).
    pub panics: u64,
    /// Time spent in loads and refreshes, from start to outcome.
    pub total_load_time: Duration,
    /// Entries removed to respect the capacity.
    pub evictions: u64,
    /// Background refreshes started for stale entries.
    pub refreshes_started: u64,
    /// Background refreshes that stored a new value.
    pub refreshes_succeeded: u64,
    /// Background refreshes that failed (the stale value stays until it expires).
    pub refreshes_failed: u64,
    /// Stored records that failed to decode, all tiers together (each one a miss, then
    /// reloaded and overwritten).
    pub decode_errors: u64,
    /// Storage tier failures (timeouts included), all tiers together.
    pub tier_errors: u64,
    /// The counters of each storage tier below the memory, in chain order (empty for a
    /// memory-only cache).
    pub tiers: Vec<TierStats>,
}

impl Stats {
    /// Fresh plus stale hits.
    pub fn hits(&self) -> u64 {
        self.hits_fresh + self.hits_stale
    }

    /// Hits over requests, or 0.0 when there was no request.
    pub fn hit_ratio(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.hits() as f64 / self.requests as f64
        }
    }

    /// Loads and refreshes that reached an outcome.
    pub fn load_count(&self) -> u64 {
        self.load_successes + self.load_failures + self.refreshes_succeeded + self.refreshes_failed
    }

    /// Mean time of a load or refresh, or zero when none finished.
    pub fn average_load_time(&self) -> Duration {
        match self.load_count() {
            0 => Duration::ZERO,
            n => Duration::from_nanos((self.total_load_time.as_nanos() / u128::from(n)) as u64),
        }
    }
}
