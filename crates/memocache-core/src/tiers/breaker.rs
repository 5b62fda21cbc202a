//! A tier at run time: the circuit breaker and per-operation timeout every operation on it
//! runs under, and its counters ([`TierStats`]).
//!
//! The breaker opens after `failure_threshold` failures in a row, skips the tier for
//! `cool_down`, then lets one operation probe it. The probe's claim is released whatever
//! happens to the probe, including its future being dropped: a dropped probe never leaves
//! the breaker stuck half-open.

use crate::sync::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};

use tokio::time::Instant;

use super::options::Tier;
use super::storage::{Storage, StorageError};
use super::tier::OnError;

/// The counters of one tier, in [`Stats::tiers`](crate::Stats::tiers).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TierStats {
    /// The storage's name.
    pub name: String,
    /// Reads that found a fresh entry.
    pub hits_fresh: u64,
    /// Reads that found a stale entry (served, then refreshed).
    pub hits_stale: u64,
    /// Reads that found nothing (decode errors included).
    pub misses: u64,
    /// Records that failed to decode (counted as misses too).
    pub decode_errors: u64,
    /// Values that could not be encoded for this tier (too large for the codec's limit, or
    /// refused by its serializer): not written, and not counted as the server's failures.
    pub encode_errors: u64,
    /// Entries written (loads, backfills, inserts).
    pub writes: u64,
    /// Operations that failed (timeouts included).
    pub errors: u64,
    /// Operations that timed out (also in `errors`).
    pub timeouts: u64,
    /// Operations not attempted: the circuit breaker was open, or (for a write) the tier
    /// already failed earlier in the same load.
    pub skipped: u64,
    /// Times the circuit breaker opened.
    pub breaker_opened: u64,
}

impl TierStats {
    /// Fresh plus stale hits.
    pub fn hits(&self) -> u64 {
        self.hits_fresh + self.hits_stale
    }
}

#[derive(Default)]
pub(super) struct TierCounters {
    pub(super) hits_fresh: AtomicU64,
    pub(super) hits_stale: AtomicU64,
    pub(super) misses: AtomicU64,
    pub(super) decode_errors: AtomicU64,
    pub(super) encode_errors: AtomicU64,
    pub(super) writes: AtomicU64,
    pub(super) errors: AtomicU64,
    pub(super) timeouts: AtomicU64,
    pub(super) skipped: AtomicU64,
    pub(super) breaker_opened: AtomicU64,
}

/// A tier at run time: its options, breaker state and counters.
pub(crate) struct TierState<K, V> {
    pub(super) tier: Tier<K, V>,
    epoch: Instant,
    failures: AtomicU32,
    open_until: AtomicU64,
    probing: AtomicBool,
    pub(super) counters: TierCounters,
}

/// The claim of the one operation probing a half-open breaker: released when the probe's
/// outcome is known, or when its future is dropped before that.
struct ProbeClaim<'a>(Option<&'a AtomicBool>);

impl ProbeClaim<'_> {
    /// The outcome is known: the breaker's own bookkeeping takes over.
    fn settle(&mut self) {
        self.0 = None;
    }
}

impl Drop for ProbeClaim<'_> {
    fn drop(&mut self) {
        if let Some(probing) = self.0 {
            probing.store(false, Relaxed);
        }
    }
}

enum Admit {
    Go,
    Probe,
    Skip,
}

impl<K, V> TierState<K, V> {
    pub(super) fn name(&self) -> &str {
        &self.tier.name
    }
}

impl<K, V> TierState<K, V>
where
    K: Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    pub(super) fn new(tier: Tier<K, V>) -> Self {
        TierState {
            tier,
            epoch: Instant::now(),
            failures: AtomicU32::new(0),
            open_until: AtomicU64::new(0),
            probing: AtomicBool::new(false),
            counters: TierCounters::default(),
        }
    }

    fn nanos(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.epoch).as_nanos() as u64
    }

    fn admit(&self) -> Admit {
        if self.failures.load(Relaxed) < self.tier.breaker.failure_threshold {
            return Admit::Go;
        }
        if self.nanos(Instant::now()) < self.open_until.load(Relaxed) {
            return Admit::Skip;
        }
        match self.probing.compare_exchange(false, true, Relaxed, Relaxed) {
            Ok(_) => Admit::Probe,
            Err(_) => Admit::Skip,
        }
    }

    fn succeeded(&self, probe: bool) {
        if probe {
            tracing::info!(
                tier = self.name(),
                "storage tier reachable again: circuit breaker closed"
            );
            self.probing.store(false, Relaxed);
        }
        self.failures.store(0, Relaxed);
    }

    /// Counts a failure; the one that reaches the threshold opens the breaker, a failed probe
    /// reopens it. A failure of an operation admitted before the breaker opened (still under
    /// way when it did) is counted but neither reopens it nor extends its cool-down.
    fn failed(&self, op: &str, cache: &str, e: &StorageError, probe: bool) {
        let c = &self.counters;
        c.errors.fetch_add(1, Relaxed);
        if matches!(e, StorageError::Timeout(_)) {
            c.timeouts.fetch_add(1, Relaxed);
        }
        let n = self.failures.fetch_add(1, Relaxed).saturating_add(1);
        let threshold = self.tier.breaker.failure_threshold;
        if probe || n == threshold {
            let until = Instant::now() + self.tier.breaker.cool_down;
            self.open_until.store(self.nanos(until), Relaxed);
            if probe {
                self.probing.store(false, Relaxed);
            }
            c.breaker_opened.fetch_add(1, Relaxed);
            tracing::warn!(
                cache,
                tier = self.name(),
                op,
                error = %e,
                cool_down = ?self.tier.breaker.cool_down,
                "storage tier failed; circuit breaker open"
            );
        } else {
            tracing::warn!(cache, tier = self.name(), op, error = %e, "storage tier failed");
        }
    }

    /// Runs one operation under the breaker (and, except a clear, the per-operation timeout).
    /// `Ok(None)`: not attempted (breaker open) or failed, where `op` lets failures pass
    /// ([`Op::errors_pass`]).
    pub(super) async fn run<'a, T, Fut>(
        &'a self,
        op: Op,
        cache: &str,
        call: impl FnOnce(&'a dyn Storage<K, V>) -> Fut,
    ) -> Result<Option<T>, StorageError>
    where
        Fut: std::future::Future<Output = Result<T, StorageError>>,
    {
        let passes = op.errors_pass(self.tier.on_error);
        let probe = match self.admit() {
            Admit::Go => false,
            Admit::Probe => true,
            Admit::Skip => {
                self.counters.skipped.fetch_add(1, Relaxed);
                return if passes {
                    Ok(None)
                } else {
                    Err(StorageError::CircuitOpen)
                };
            }
        };
        let mut claim = ProbeClaim(probe.then_some(&self.probing));
        // The operation's span: cache, tier, operation, outcome and duration — never keys or
        // bytes. The clock is read only when a subscriber wants the span.
        let span = tracing::trace_span!(
            "memocache.tier",
            cache,
            tier = self.name(),
            op = op.name(),
            outcome = tracing::field::Empty,
            elapsed_us = tracing::field::Empty,
        );
        let started = (!span.is_disabled()).then(std::time::Instant::now);
        let fut = tracing::Instrument::instrument(call(&*self.tier.storage), span.clone());
        let result = if op == Op::Clear {
            // A clear walks the whole namespace: the storage times each of its steps (a Redis
            // SCAN or UNLINK, a SQL batch), the whole may take long and must finish.
            fut.await
        } else {
            match crate::runtime::timeout(self.tier.timeout, fut).await {
                Ok(r) => r,
                Err(_) => Err(StorageError::Timeout(self.tier.timeout)),
            }
        };
        claim.settle();
        span.record(
            "outcome",
            match &result {
                Ok(_) => "ok",
                Err(StorageError::Timeout(_)) => "timeout",
                Err(StorageError::Decode(_)) => "undecodable",
                Err(_) => "error",
            },
        );
        if let Some(started) = started {
            span.record("elapsed_us", started.elapsed().as_micros() as u64);
        }
        match result {
            Ok(v) => {
                self.succeeded(probe);
                Ok(Some(v))
            }
            // Bad bytes are the record's fault, not the server's.
            Err(e @ StorageError::Decode(_)) => {
                self.succeeded(probe);
                Err(e)
            }
            // A value that cannot be encoded is the caller's data, not the server's health:
            // counted apart, and the server was not asked (the breaker learns nothing).
            Err(e @ StorageError::Encode(_)) => {
                if probe {
                    self.probing.store(false, Relaxed);
                }
                self.counters.encode_errors.fetch_add(1, Relaxed);
                tracing::warn!(
                    cache,
                    tier = self.name(),
                    op = op.name(),
                    error = %e,
                    "value could not be encoded for the tier: not written"
                );
                if passes {
                    Ok(None)
                } else {
                    Err(e)
                }
            }
            Err(e) => {
                self.failed(op.name(), cache, &e, probe);
                if passes {
                    Ok(None)
                } else {
                    Err(e)
                }
            }
        }
    }
}

/// What an operation on a tier is, for the breaker: which timeout applies and whether its
/// failures may pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Op {
    /// A read (a failure is a miss under [`OnError::Skip`]).
    Get,
    /// A write of an entry (a failure skips it under [`OnError::Skip`]).
    Set,
    /// An invalidation's removal: a failure always reaches the caller (it leaves the old
    /// value behind).
    Remove,
    /// An `invalidate_all`'s clear: no overall timeout (the storage times each step); a
    /// failure always reaches the caller.
    Clear,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Get => "get",
            Op::Set => "set",
            Op::Remove => "remove",
            Op::Clear => "clear",
        }
    }

    /// Whether a failure is let pass (a miss, a skipped write) rather than returned.
    fn errors_pass(self, on_error: OnError) -> bool {
        match self {
            Op::Get | Op::Set => on_error == OnError::Skip,
            Op::Remove | Op::Clear => false,
        }
    }
}

impl<K, V> TierState<K, V> {
    /// A snapshot of the counters.
    pub(super) fn stats(&self) -> TierStats {
        let c = &self.counters;
        TierStats {
            name: self.name().to_owned(),
            hits_fresh: c.hits_fresh.load(Relaxed),
            hits_stale: c.hits_stale.load(Relaxed),
            misses: c.misses.load(Relaxed),
            decode_errors: c.decode_errors.load(Relaxed),
            encode_errors: c.encode_errors.load(Relaxed),
            writes: c.writes.load(Relaxed),
            errors: c.errors.load(Relaxed),
            timeouts: c.timeouts.load(Relaxed),
            skipped: c.skipped.load(Relaxed),
            breaker_opened: c.breaker_opened.load(Relaxed),
        }
    }
}
