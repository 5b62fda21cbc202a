//! [`NodeStats`]: a node type's statistics with cacheme's names and rates.

use std::time::Duration;

use memocache_core::Stats;

/// A node type's statistics with cacheme's names ([`stats`](super::stats)), computed from the
/// engine's [`Stats`] of its cache. Loads count misses' loads and refreshes together, as
/// cacheme does.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct NodeStats {
    /// Requests: hits plus misses.
    pub request_count: u64,
    /// Requests served from memory (fresh or stale).
    pub hit_count: u64,
    /// `hit_count / request_count` (0 without requests).
    pub hit_rate: f64,
    /// Requests that found nothing servable in memory.
    pub miss_count: u64,
    /// `miss_count / request_count` (0 without requests).
    pub miss_rate: f64,
    /// Loads and refreshes that ended with a value.
    pub load_success_count: u64,
    /// Loads and refreshes that ended with an error (timeouts and panics included).
    pub load_failure_count: u64,
    /// `load_failure_count / load_count` (0 without loads).
    pub load_failure_rate: f64,
    /// Loads and refreshes that ended.
    pub load_count: u64,
    /// Time spent in loaders.
    pub total_load_time: Duration,
    /// `total_load_time / load_count`.
    pub average_load_time: Duration,
}

fn rate(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

impl From<&Stats> for NodeStats {
    fn from(s: &Stats) -> Self {
        let successes = s.load_successes + s.refreshes_succeeded;
        let failures = s.load_failures + s.refreshes_failed;
        NodeStats {
            request_count: s.requests,
            hit_count: s.hits(),
            hit_rate: rate(s.hits(), s.requests),
            miss_count: s.misses,
            miss_rate: rate(s.misses, s.requests),
            load_success_count: successes,
            load_failure_count: failures,
            load_failure_rate: rate(failures, successes + failures),
            load_count: s.load_count(),
            total_load_time: s.total_load_time,
            average_load_time: s.average_load_time(),
        }
    }
}
