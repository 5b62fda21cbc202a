//! What the runner measures besides counts: process CPU time, request latency percentiles, and
//! a progress bar on stderr for runs longer than a second.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// CPU time (user + system) the whole process has used so far, all threads included.
pub fn cpu_time() -> Duration {
    // SAFETY: `getrusage` only writes the `rusage` we pass; an all-zero `rusage` is a valid
    // value of that plain C struct.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_SELF, &mut usage) != 0 {
            return Duration::ZERO;
        }
        usage
    };
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// Latency percentiles over a set of samples in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Percentiles {
    /// Median.
    pub p50_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// Largest sample.
    pub max_us: u64,
}

impl Percentiles {
    /// Percentiles of `samples` (nearest-rank); all zero when there is none. Reorders them.
    pub fn of(samples: &mut [u32]) -> Self {
        if samples.is_empty() {
            return Percentiles::default();
        }
        let mut rank = |p: f64| -> u64 {
            // Nearest rank: the smallest sample with at least p of them at or below it.
            let i = ((p * samples.len() as f64).ceil() as usize).clamp(1, samples.len()) - 1;
            u64::from(*samples.select_nth_unstable(i).1)
        };
        Percentiles {
            p50_us: rank(0.50),
            p99_us: rank(0.99),
            max_us: rank(1.0),
        }
    }
}

/// Microseconds of `d`, saturating at `u32::MAX` (71 minutes).
pub fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

/// Seconds rounded to the millisecond, for result rows.
pub fn secs(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}

/// A progress bar on stderr that appears only once its run has lasted a second. It polls a
/// counter the run already keeps (so measuring progress adds nothing to the measured path)
/// from its own thread, ten times a second.
#[derive(Debug)]
pub struct Progress {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Progress {
    /// Starts polling `done` (out of `total`) for a run called `label`.
    pub fn start(
        label: impl Into<String>,
        total: u64,
        done: impl Fn() -> u64 + Send + 'static,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let label = label.into();
        let thread = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("progress".into())
                .spawn(move || {
                    let started = Instant::now();
                    let bar =
                        ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden());
                    bar.set_style(
                        ProgressStyle::with_template(
                            "{prefix:>28} [{bar:30}] {pos}/{len} {elapsed_precise}",
                        )
                        .expect("a valid template")
                        .progress_chars("=> "),
                    );
                    bar.set_prefix(label);
                    let mut shown = false;
                    while !stop.load(Ordering::Acquire) {
                        if !shown && started.elapsed() >= Duration::from_secs(1) {
                            bar.set_draw_target(ProgressDrawTarget::stderr());
                            shown = true;
                        }
                        bar.set_position(done().min(total));
                        std::thread::park_timeout(Duration::from_millis(100));
                    }
                    bar.finish_and_clear();
                })
                .ok()
        };
        Progress { stop, thread }
    }

    /// Stops and clears the bar.
    pub fn finish(self) {
        drop(self);
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut v: Vec<u32> = (1..=100).collect();
        let p = Percentiles::of(&mut v);
        assert_eq!((p.p50_us, p.p99_us, p.max_us), (50, 99, 100));
        let mut one = vec![7];
        assert_eq!(Percentiles::of(&mut one).p99_us, 7);
        assert_eq!(Percentiles::of(&mut []), Percentiles::default());
    }

    #[test]
    fn cpu_time_advances() {
        let before = cpu_time();
        let mut x = 0u64;
        let start = Instant::now();
        while start.elapsed() < Duration::from_millis(30) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        assert!(cpu_time() > before);
    }
}
