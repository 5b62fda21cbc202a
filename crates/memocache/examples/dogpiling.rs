//! py-memoize's `dogpiling` example: 50 batches of 5 concurrent requests, 70 ms apart, for a
//! value that goes stale after 200 ms and takes 10 ms to load.
//!
//! ```sh
//! cargo run -p memocache --example dogpiling
//! ```
//!
//! memocache makes one backend call per staleness period (the 5 concurrent requests of a batch
//! share one load, and a stale value is served while one background refresh replaces it); a
//! naive check-then-load cache with the same 200 ms TTL lets every concurrent miss call the
//! backend. py-memoize printed 17, 85 and 17.

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use memocache::memoize;
use tokio::time::Instant;

/// Requests per batch.
pub const CONCURRENT_REQUESTS: usize = 5;
/// Batches.
pub const REQUEST_BATCHES: usize = 50;
/// `update_after` of memocache and TTL of the naive cache.
pub const CACHED_VALUE_TTL_MS: u64 = 200;
/// Pause between batches.
pub const DELAY_BETWEEN_BATCHES_MS: u64 = 70;

static MEMOCACHE_CALLS: AtomicUsize = AtomicUsize::new(0);
static NAIVE_CALLS: AtomicUsize = AtomicUsize::new(0);

// update_after as in py-memoize's example; expire_after keeps its 30 minute default.
#[memoize(update_after = "200ms")]
async fn cached_with_memocache() -> usize {
    let call = MEMOCACHE_CALLS.fetch_add(1, Ordering::SeqCst) + 1;
    tokio::time::sleep(Duration::from_millis(10)).await;
    call
}

/// The other cache: check, and on a miss load and store, with nothing shared between
/// concurrent misses (what aiocache's `@cached(ttl=0.2)` does in py-memoize's example).
static NAIVE: Mutex<Option<(Instant, usize)>> = Mutex::new(None);

async fn cached_with_naive_cache() -> usize {
    let ttl = Duration::from_millis(CACHED_VALUE_TTL_MS);
    if let Some((at, value)) = *NAIVE.lock().unwrap_or_else(|e| e.into_inner()) {
        if at.elapsed() < ttl {
            return value;
        }
    }
    let call = NAIVE_CALLS.fetch_add(1, Ordering::SeqCst) + 1;
    tokio::time::sleep(Duration::from_millis(10)).await;
    *NAIVE.lock().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), call));
    call
}

/// The backend calls each cache made, and the prediction from the TTL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// Loader calls under memocache.
    pub memocache: usize,
    /// Loader calls under the naive cache.
    pub naive: usize,
    /// `(70 * 50) / 200`.
    pub predicted: usize,
}

/// The example, writing what it prints to `out`.
pub async fn run(out: &mut impl Write) -> std::io::Result<Outcome> {
    for _ in 0..REQUEST_BATCHES {
        let batch: Vec<_> = (0..CONCURRENT_REQUESTS)
            .map(|_| tokio::spawn(cached_with_memocache()))
            .collect();
        for request in batch {
            request.await.map_err(std::io::Error::other)?;
        }
        let batch: Vec<_> = (0..CONCURRENT_REQUESTS)
            .map(|_| tokio::spawn(cached_with_naive_cache()))
            .collect();
        for request in batch {
            request.await.map_err(std::io::Error::other)?;
        }
        tokio::time::sleep(Duration::from_millis(DELAY_BETWEEN_BATCHES_MS)).await;
    }
    let outcome = Outcome {
        memocache: MEMOCACHE_CALLS.load(Ordering::SeqCst),
        naive: NAIVE_CALLS.load(Ordering::SeqCst),
        predicted: (DELAY_BETWEEN_BATCHES_MS as usize * REQUEST_BATCHES)
            / CACHED_VALUE_TTL_MS as usize,
    };
    writeln!(
        out,
        "memocache generated {} unique backend calls",
        outcome.memocache
    )?;
    writeln!(
        out,
        "Other cache generated {} unique backend calls",
        outcome.naive
    )?;
    writeln!(
        out,
        "Predicted (according to TTL) {} unique backend calls",
        outcome.predicted
    )?;
    Ok(outcome)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    run(&mut std::io::stdout().lock()).await.map(|_| ())
}
