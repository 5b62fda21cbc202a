//! Publishing a cache's statistics through the [`metrics`] crate facade (feature `metrics`):
//! [`Cache::publish_metrics`] for the counters and gauges, and a load-time histogram recorded
//! as each load or refresh ends. Every series is labelled by the cache's name (`cache`).

use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use metrics::{counter, gauge, histogram, SharedString};

use super::Cache;

impl<K, V> Cache<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// Publishes this cache's statistics and per-tier counters through the installed
    /// `metrics` recorder (feature `metrics`): call it before each scrape, or from a periodic
    /// task. Counters are set to their totals; gauges to their current values. Without a
    /// recorder installed it does nothing. A load-time histogram is recorded as each load or
    /// refresh ends. Every series is labelled by the cache's name (`cache`):
    ///
    /// | metric | kind | labels |
    /// |---|---|---|
    /// | `memocache_requests_total` | counter | `cache` |
    /// | `memocache_hits_total` | counter | `cache`, `state` (`fresh`, `stale`) |
    /// | `memocache_misses_total`, `memocache_coalesced_total`, `memocache_errors_recalled_total` | counter | `cache` |
    /// | `memocache_loads_total` | counter | `cache`, `outcome` (`success`, `failure`) |
    /// | `memocache_refreshes_total` | counter | `cache`, `outcome` (`success`, `failure`) |
    /// | `memocache_timeouts_total`, `memocache_panics_total`, `memocache_evictions_total`, `memocache_callback_panics_total` | counter | `cache` |
    /// | `memocache_entries`, `memocache_weighted_size`, `memocache_loads_in_flight` | gauge | `cache` |
    /// | `memocache_tier_hits_total`, `memocache_tier_misses_total`, `memocache_tier_writes_total`, `memocache_tier_errors_total`, `memocache_tier_timeouts_total`, `memocache_tier_decode_errors_total`, `memocache_tier_skipped_total` | counter | `cache`, `tier` |
    /// | `memocache_load_duration_seconds` | histogram | `cache`, `kind` (`load`, `refresh`), `outcome` |
    ///
    /// The counters are the [`Stats`](crate::Stats) counters, set to their totals (`absolute`)
    /// each time `publish_metrics` runs, so the hit path pays nothing for them.
    pub fn publish_metrics(&self) {
        let s = self.stats();
        let name = self.inner.name().to_owned();
        let total = |metric: &'static str, value: u64| {
            counter!(metric, "cache" => name.clone()).absolute(value);
        };
        total("memocache_requests_total", s.requests);
        counter!("memocache_hits_total", "cache" => name.clone(), "state" => "fresh")
            .absolute(s.hits_fresh);
        counter!("memocache_hits_total", "cache" => name.clone(), "state" => "stale")
            .absolute(s.hits_stale);
        total("memocache_misses_total", s.misses);
        total("memocache_coalesced_total", s.coalesced);
        total("memocache_errors_recalled_total", s.errors_recalled);
        for (metric, outcome, value) in [
            ("memocache_loads_total", "success", s.load_successes),
            ("memocache_loads_total", "failure", s.load_failures),
            (
                "memocache_refreshes_total",
                "success",
                s.refreshes_succeeded,
            ),
            ("memocache_refreshes_total", "failure", s.refreshes_failed),
        ] {
            counter!(metric, "cache" => name.clone(), "outcome" => outcome).absolute(value);
        }
        total("memocache_timeouts_total", s.timeouts);
        total("memocache_panics_total", s.panics);
        total("memocache_callback_panics_total", s.callback_panics);
        total("memocache_evictions_total", s.evictions);
        gauge!("memocache_entries", "cache" => name.clone()).set(self.len() as f64);
        gauge!("memocache_weighted_size", "cache" => name.clone()).set(self.weighted_size() as f64);
        gauge!("memocache_loads_in_flight", "cache" => name.clone())
            .set(self.loads_in_flight() as f64);
        for t in &s.tiers {
            for (metric, value) in [
                ("memocache_tier_hits_total", t.hits()),
                ("memocache_tier_misses_total", t.misses),
                ("memocache_tier_writes_total", t.writes),
                ("memocache_tier_errors_total", t.errors),
                ("memocache_tier_timeouts_total", t.timeouts),
                ("memocache_tier_decode_errors_total", t.decode_errors),
                ("memocache_tier_skipped_total", t.skipped),
            ] {
                counter!(metric, "cache" => name.clone(), "tier" => t.name.clone()).absolute(value);
            }
        }
    }
}

/// Records one load's or refresh's duration, as it ends. The cache's name goes in as a
/// shared `Arc` (no copy of the string per load).
pub(crate) fn record_load(
    cache: Option<&Arc<str>>,
    kind: &'static str,
    ok: bool,
    elapsed: Duration,
) {
    let outcome = if ok { "success" } else { "failure" };
    let cache = cache.map_or(SharedString::const_str(""), |name| {
        SharedString::from(Arc::clone(name))
    });
    histogram!(
        "memocache_load_duration_seconds",
        "cache" => cache,
        "kind" => kind,
        "outcome" => outcome
    )
    .record(elapsed.as_secs_f64());
}
