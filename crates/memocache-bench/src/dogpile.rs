//! py-memoize's dog-piling scenario (its README, `examples/dogpiling/dogpiling.py`): batches
//! of concurrent requests for one key, a TTL / `update_after` of 200 ms, and a loader that
//! sleeps 10 ms. Counts the backend (loader) calls of each cache, the requests that had to wait
//! for a load, and request latency.
//!
//! Contestants, run in the same loop one after another in each batch as the Python example
//! does: memocache (`update_after` 200 ms: stale-while-revalidate), a naive check-then-load
//! cache with a 200 ms TTL (aiocache's `@cached(ttl=0.2)`), and moka's `future::Cache` with
//! `time_to_live` 200 ms and `get_with` (a TTL cache that coalesces loads).
//!
//! moka reads its own clock, not Tokio's, so its row is only meaningful in real time; under
//! Tokio's paused time (as in the tests) its entry never expires.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use memocache::Cache;
use tokio::sync::Mutex;
use tokio::time::{sleep, Instant};

use crate::measure::{micros, Percentiles, Progress};
use crate::report::Row;

/// The scenario's parameters (py-memoize's values by default).
#[derive(Debug, Clone, Copy)]
pub struct Params {
    /// Concurrent requests per batch.
    pub concurrent: usize,
    /// Number of batches.
    pub batches: usize,
    /// TTL of the naive cache and of moka; `update_after` of memocache.
    pub ttl: Duration,
    /// Pause between batches.
    pub delay: Duration,
    /// How long the loader takes.
    pub load_time: Duration,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            concurrent: 5,
            batches: 50,
            ttl: Duration::from_millis(200),
            delay: Duration::from_millis(70),
            load_time: Duration::from_millis(10),
        }
    }
}

impl Params {
    /// py-memoize's prediction: one backend call per TTL period of the run.
    pub fn predicted(&self) -> u64 {
        (self.delay.as_millis() as u64 * self.batches as u64) / self.ttl.as_millis() as u64
    }
}

/// A check-then-load cache with a TTL and no coalescing: what the dog-piling example compares
/// against (aiocache's `@cached(ttl=...)`).
struct NaiveCache {
    slot: Mutex<Option<(u64, Instant)>>,
    ttl: Duration,
}

impl NaiveCache {
    async fn get_or_load<F: Future<Output = u64>>(&self, load: impl FnOnce() -> F) -> u64 {
        if let Some((v, at)) = *self.slot.lock().await {
            if at.elapsed() < self.ttl {
                return v;
            }
        }
        let v = load().await;
        *self.slot.lock().await = Some((v, Instant::now()));
        v
    }
}

/// One contestant's backend: counts calls and knows which loads have finished, so that a
/// request can tell whether the value it got was loaded while it waited.
#[derive(Default)]
struct Backend {
    calls: AtomicU64,
    /// The highest call number whose load has finished.
    finished: AtomicU64,
}

impl Backend {
    /// Call number `n` returns `n`.
    async fn load(&self, load_time: Duration) -> u64 {
        let n = self.calls.fetch_add(1, SeqCst) + 1;
        sleep(load_time).await;
        self.finished.fetch_max(n, SeqCst);
        n
    }
}

/// What one contestant's requests saw.
#[derive(Default)]
struct Tally {
    /// Requests served a value whose load had not finished when they began: they waited.
    waited: u64,
    latencies_us: Vec<u32>,
    /// Latencies after the first batch (whose wait no cache can avoid).
    warm_latencies_us: Vec<u32>,
}

impl Tally {
    /// Times one request; `get` returns the load number of the value it was served.
    async fn request<F: Future<Output = u64>>(backend: &Backend, get: F) -> (bool, u32) {
        let before = backend.finished.load(SeqCst);
        let start = Instant::now();
        let served = get.await;
        (served > before, micros(start.elapsed()))
    }

    fn record(&mut self, batch: usize, outcomes: Vec<(bool, u32)>) {
        for (waited, us) in outcomes {
            self.waited += u64::from(waited);
            self.latencies_us.push(us);
            if batch > 0 {
                self.warm_latencies_us.push(us);
            }
        }
    }

    fn row(mut self, imp: &str, backend: &Backend, p: &Params) -> Row {
        let all = Percentiles::of(&mut self.latencies_us);
        let warm = Percentiles::of(&mut self.warm_latencies_us);
        Row::new("dogpile", imp)
            .field("requests", (p.batches * p.concurrent) as u64)
            .field("loader_calls", backend.calls.load(SeqCst))
            .field("predicted", p.predicted())
            .field("waited", self.waited)
            .field("p50_us", all.p50_us)
            .field("p99_us", all.p99_us)
            .field("warm_p99_us", warm.p99_us)
    }
}

/// The `dogpile` command: says what it runs on stderr, then runs it with py-memoize's values
/// (`--quick` changes nothing: the scenario is 250 requests).
pub async fn run_cli(_opts: &crate::Opts) -> Vec<Row> {
    let p = Params::default();
    eprintln!(
        "dogpile: {} batches of {} concurrent requests, {:?} apart; update_after/TTL {:?}; loader {:?}",
        p.batches, p.concurrent, p.delay, p.ttl, p.load_time
    );
    run(p).await
}

/// Runs the three caches in the same loop, as the Python example does, and returns one row
/// each: `memocache`, `naive`, `moka`. `warm_p99_us` is the p99 latency after the first batch.
pub async fn run(p: Params) -> Vec<Row> {
    let done = Arc::new(AtomicU64::new(0));
    let progress = Progress::start("dogpile", p.batches as u64, {
        let done = done.clone();
        move || done.load(SeqCst)
    });
    let memo_backend = Arc::new(Backend::default());
    let naive_backend = Backend::default();
    let moka_backend = Backend::default();
    let memo: Cache<(), u64> = Cache::builder()
        .update_after(p.ttl)
        .build()
        .expect("valid options");
    let naive = NaiveCache {
        slot: Mutex::new(None),
        ttl: p.ttl,
    };
    let moka: moka::future::Cache<(), u64> =
        moka::future::Cache::builder().time_to_live(p.ttl).build();
    let (mut memo_t, mut naive_t, mut moka_t) = Default::default();
    for batch in 0..p.batches {
        let memo_batch = (0..p.concurrent).map(|_| {
            let backend = memo_backend.clone();
            let load_time = p.load_time;
            let get = memo.get_with((), move || async move { backend.load(load_time).await });
            Tally::request(&memo_backend, async move {
                get.await.expect("the loader cannot fail")
            })
        });
        Tally::record(&mut memo_t, batch, join_all(memo_batch).await);
        let naive_batch = (0..p.concurrent).map(|_| {
            Tally::request(
                &naive_backend,
                naive.get_or_load(|| naive_backend.load(p.load_time)),
            )
        });
        Tally::record(&mut naive_t, batch, join_all(naive_batch).await);
        let moka_batch = (0..p.concurrent).map(|_| {
            Tally::request(
                &moka_backend,
                moka.get_with((), moka_backend.load(p.load_time)),
            )
        });
        Tally::record(&mut moka_t, batch, join_all(moka_batch).await);
        done.fetch_add(1, SeqCst);
        sleep(p.delay).await;
    }
    progress.finish();
    vec![
        memo_t.row("memocache", &memo_backend, &p),
        naive_t.row("naive", &naive_backend, &p),
        moka_t.row("moka", &moka_backend, &p),
    ]
}
