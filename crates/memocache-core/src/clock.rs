//! The cache's clock: what "now" is when a hit checks `update_after` / `expire_after`, and
//! the time base of every deadline in the in-memory store (nanoseconds since the store's
//! epoch, as `u64`).
//!
//! Every hit on an entry that can go stale or expire reads this clock, so it must be cheap
//! (an entry with neither deadline, from `Duration::MAX` lifespans, is served without a
//! read). A precise monotonic read (`clock_gettime(CLOCK_MONOTONIC)`, what
//! `std::time::Instant::now` does) costs about 23 ns on the machines we measure on, and its
//! `rdtscp`/`lfence` stops the CPU from overlapping the memory loads of consecutive lookups.
//! So by default the store reads a coarse clock through the `coarsetime` crate: on Linux
//! `CLOCK_MONOTONIC_COARSE`, the time of the kernel's last tick, a few nanoseconds (loads from
//! the vDSO page, no fence), with the kernel tick's resolution (1 to 4 ms); on other systems
//! their fast monotonic clock. Deadlines are honoured to within one tick, far below any
//! sensible `update_after`.
//!
//! With the `test-util` feature (and in this crate's own unit tests) the store reads
//! [`tokio::time::Instant::now`] instead, so tests that pause and advance Tokio's clock
//! (`tokio::time::pause`, `#[tokio::test(start_paused = true)]`) see entries go stale and
//! expire exactly when the paused clock says so. Enable it in `[dev-dependencies]`, next to
//! Tokio's own `test-util`.

use std::time::Duration;

/// A deadline that never comes (about 146 years), with room left for arithmetic.
pub(crate) const NEVER: u64 = u64::MAX / 4;

/// A monotonic clock reading nanoseconds since its creation.
pub(crate) struct Clock {
    epoch: imp::Base,
}

/// Tokio's clock, which tests can pause.
#[cfg(any(test, feature = "test-util"))]
mod imp {
    pub(super) type Base = tokio::time::Instant;

    #[inline]
    pub(super) fn base() -> Base {
        tokio::time::Instant::now()
    }

    #[inline]
    pub(super) fn since(epoch: &Base) -> u64 {
        u64::try_from(
            tokio::time::Instant::now()
                .saturating_duration_since(*epoch)
                .as_nanos(),
        )
        .unwrap_or(u64::MAX)
    }
}

/// The coarse clock (`coarsetime`: `CLOCK_MONOTONIC_COARSE` on Linux). Read without
/// coarsetime's cache update: `Instant::now` also stores the time into a process-wide
/// atomic, a cache line every reading thread would write.
#[cfg(not(any(test, feature = "test-util")))]
mod imp {
    pub(super) type Base = coarsetime::Instant;

    #[inline]
    pub(super) fn base() -> Base {
        coarsetime::Instant::now_without_cache_update()
    }

    #[inline]
    pub(super) fn since(epoch: &Base) -> u64 {
        coarsetime::Instant::now_without_cache_update()
            .duration_since(*epoch)
            .as_nanos()
    }
}

#[cfg(test)]
thread_local! {
    /// How many times this thread read a [`Clock`] (unit tests check the hit path's reads).
    static READS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// How many times this thread has read a [`Clock`].
#[cfg(test)]
pub(crate) fn reads_on_this_thread() -> u64 {
    READS.with(|r| r.get())
}

impl Clock {
    /// A clock whose epoch is now.
    pub(crate) fn new() -> Self {
        Clock { epoch: imp::base() }
    }

    /// Nanoseconds since the epoch, plus one (so no deadline is ever 0), at most [`NEVER`].
    #[inline]
    pub(crate) fn now(&self) -> u64 {
        #[cfg(test)]
        READS.with(|r| r.set(r.get() + 1));
        imp::since(&self.epoch).saturating_add(1).min(NEVER)
    }

    /// The deadline `d` after `now`, saturating at [`NEVER`] instead of overflowing.
    #[inline]
    pub(crate) fn deadline(now: u64, d: Duration) -> u64 {
        let d = u64::try_from(d.as_nanos()).unwrap_or(NEVER);
        now.saturating_add(d).min(NEVER)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn follows_tokios_paused_clock_in_tests() {
        let clock = Clock::new();
        let t0 = clock.now();
        tokio::time::advance(Duration::from_millis(1500)).await;
        assert_eq!(clock.now() - t0, 1_500_000_000);
    }

    /// The coarse clock is what production builds read: it must be monotonic and keep pace
    /// with the precise clock to within a few kernel ticks.
    #[test]
    fn coarse_clock_keeps_pace_with_the_precise_clock() {
        let coarse_nanos = || {
            coarsetime::Duration::from_ticks(
                coarsetime::Instant::now_without_cache_update().as_ticks(),
            )
            .as_nanos()
        };
        // A tick is at most 10 ms (CONFIG_HZ >= 100).
        let tick = Duration::from_millis(10);
        let outer = std::time::Instant::now();
        let c0 = coarse_nanos();
        let inner = std::time::Instant::now();
        let mut last = c0;
        let mut ticks = 0;
        while ticks < 2 && inner.elapsed() < Duration::from_secs(2) {
            let c = coarse_nanos();
            assert!(c >= last, "the coarse clock went back: {c} < {last}");
            ticks += u32::from(c > last);
            last = c;
        }
        assert_eq!(ticks, 2, "the coarse clock did not advance in 2 s");
        // Each bound holds whatever the scheduler does between the reads.
        let inner = inner.elapsed();
        let coarse = Duration::from_nanos(coarse_nanos() - c0);
        let outer = outer.elapsed();
        assert!(inner <= coarse + tick, "{coarse:?} behind {inner:?}");
        assert!(coarse <= outer + tick, "{coarse:?} ahead of {outer:?}");
    }

    #[test]
    fn deadlines_saturate() {
        assert_eq!(Clock::deadline(5, Duration::from_secs(1)), 1_000_000_005);
        assert_eq!(Clock::deadline(5, Duration::MAX), NEVER);
        assert_eq!(Clock::deadline(NEVER, Duration::from_secs(1)), NEVER);
    }
}
