//! Probabilistic early refresh (XFetch; Vattani, Chierichetti and Lowenstein, "Optimal
//! Probabilistic Cache Stampede Prevention", VLDB 2015), turned on by
//! [`CacheBuilder::early_refresh`](crate::CacheBuilder::early_refresh).
//!
//! A fresh hit refreshes its entry early when `delta · β · −ln(u) ≥ time left before
//! update_after`, with `u` uniform in (0, 1] and `delta` the cache's recent load time (a
//! moving average of its loader calls). The probability grows as the deadline nears, so many
//! processes holding one entry (each with its own memory over a shared Redis) refresh it at
//! different moments instead of all at once when it turns stale. The refresh is the ordinary
//! background refresh — one per key at a time, the hit served at once — except that it takes
//! a tier's entry only if it stays fresh for longer than memory's copy (typically written since
//! by another process that refreshed first; then no loader call here), passing over tiers that
//! hold a copy as old as memory's, else calls the loader.

use std::cell::Cell;
use std::hash::{BuildHasher, Hash};
use std::sync::Arc;
use std::time::Duration;

use crate::shared::Shared;
use crate::sync::{AtomicU64, Ordering::Relaxed};

/// The moving average of a cache's loader calls (nanoseconds): each call weighs 1/8.
#[derive(Default)]
pub(crate) struct LoadTime(AtomicU64);

impl LoadTime {
    pub(crate) fn new() -> Self {
        LoadTime(AtomicU64::new(0))
    }

    /// Adds one loader call's duration (concurrent updates may lose one: an estimate).
    pub(crate) fn record(&self, took: Duration) {
        let sample = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        let old = self.0.load(Relaxed);
        let new = if old == 0 {
            sample
        } else {
            old - old / 8 + sample / 8
        };
        self.0.store(new.max(1), Relaxed);
    }

    /// The average, in nanoseconds (0 before the first call).
    pub(crate) fn nanos(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

/// A uniform draw in (0, 1] from a per-thread xorshift generator (no lock, no syscall; its
/// seed is the process's random hasher state, so runs differ).
fn uniform() -> f64 {
    thread_local! {
        static STATE: Cell<u64> = Cell::new(
            std::collections::hash_map::RandomState::new().hash_one(std::thread::current().id()) | 1,
        );
    }
    STATE.with(|s| {
        let mut x = s.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.set(x);
        // 53 random bits, shifted into (0, 1].
        ((x >> 11) as f64 + 1.0) / (1u64 << 53) as f64
    })
}

/// How far before `update_after` this hit may refresh: `delta · β · −ln(u)` nanoseconds
/// (0 before any load was timed).
pub(crate) fn window(load_time: &LoadTime, beta: f64) -> u64 {
    let delta = load_time.nanos();
    if delta == 0 {
        return 0;
    }
    let w = delta as f64 * beta * -uniform().ln();
    if w >= u64::MAX as f64 {
        u64::MAX
    } else {
        w as u64
    }
}

/// On a fresh hit of `key` in a cache with early refresh (`beta`): draws the window and, if
/// the entry's `update_after` falls inside it, starts its refresh with the loader `make`
/// builds.
pub(crate) fn maybe_refresh<K, V, M, F, Fut, E>(
    shared: &Arc<Shared<K, V>>,
    hash: u64,
    key: &K,
    beta: f64,
    make: M,
) where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    M: FnOnce() -> F,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<V, E>> + Send + 'static,
    E: Send + Sync + 'static,
{
    let window = window(&shared.load_time, beta);
    if window == 0 {
        return;
    }
    if let Some(left) = shared.memory.due_within(hash, key, window) {
        let of = super::RefreshOf::Early(Duration::from_nanos(left));
        super::refresh(shared, hash, key.clone(), make(), of);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_are_in_the_unit_interval_and_spread() {
        let draws: Vec<f64> = (0..10_000).map(|_| uniform()).collect();
        assert!(draws.iter().all(|&u| u > 0.0 && u <= 1.0));
        let below_half = draws.iter().filter(|&&u| u < 0.5).count();
        assert!((4_500..5_500).contains(&below_half), "{below_half}");
    }

    #[test]
    fn the_load_time_is_a_moving_average() {
        let t = LoadTime::new();
        assert_eq!(t.nanos(), 0);
        t.record(Duration::from_millis(80));
        assert_eq!(t.nanos(), 80_000_000);
        t.record(Duration::ZERO);
        assert_eq!(t.nanos(), 70_000_000);
    }
}
