//! py-memoize's dog-piling scenario (its README, `examples/dogpiling/dogpiling.py`): batches
//! of concurrent requests for one key, a TTL / `update_after` of 200 ms, and a loader that
//! sleeps 10 ms. Counts the backend (loader) calls of each cache.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use memocache::Cache;
use tokio::sync::Mutex;
use tokio::time::{sleep, Instant};

use crate::report::Row;

/// The scenario's parameters (py-memoize's values by default).
#[derive(Debug, Clone, Copy)]
pub struct Params {
    /// Concurrent requests per batch.
    pub concurrent: usize,
    /// Number of batches.
    pub batches: usize,
    /// TTL of the naive cache; `update_after` of memocache.
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

async fn backend(calls: &AtomicU64, load_time: Duration) -> u64 {
    let n = calls.fetch_add(1, SeqCst) + 1;
    sleep(load_time).await;
    n
}

/// Runs both caches in the same loop, as the Python example does, and returns one row each.
pub async fn run(p: Params) -> Vec<Row> {
    let memo_calls = Arc::new(AtomicU64::new(0));
    let naive_calls = Arc::new(AtomicU64::new(0));
    let memo: Cache<(), u64> = Cache::builder()
        .update_after(p.ttl)
        .build()
        .expect("valid options");
    let naive = NaiveCache {
        slot: Mutex::new(None),
        ttl: p.ttl,
    };
    for _ in 0..p.batches {
        let memo_batch = (0..p.concurrent).map(|_| {
            let calls = memo_calls.clone();
            let load_time = p.load_time;
            memo.get_with((), move || async move { backend(&calls, load_time).await })
        });
        for r in join_all(memo_batch).await {
            r.expect("the loader cannot fail");
        }
        let naive_batch =
            (0..p.concurrent).map(|_| naive.get_or_load(|| backend(&naive_calls, p.load_time)));
        join_all(naive_batch).await;
        sleep(p.delay).await;
    }
    let predicted = p.predicted();
    vec![
        Row::new("dogpile", "memocache")
            .field("loader_calls", memo_calls.load(SeqCst))
            .field("predicted", predicted),
        Row::new("dogpile", "naive")
            .field("loader_calls", naive_calls.load(SeqCst))
            .field("predicted", predicted),
    ]
}
