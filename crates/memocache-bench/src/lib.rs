//! memocache's workload runner: the scenarios behind `cargo run --release -p memocache-bench`.
//!
//! - [`dogpile`]: py-memoize's dog-piling scenario (backend calls, waiting requests);
//! - [`trace`]: cacheme's 200k-request Zipf trace drained by 1k–100k workers ([`trace::sql`]:
//!   its SQLite and PostgreSQL rows);
//! - [`batch`]: cacheme's batch `get_all` scenario;
//! - [`distributed`]: the trace split over several processes sharing Redis, with and without
//!   cross-process single flight, and the invalidation latency between processes;
//! - [`groups`]: a memoized function's `invalidate_all` on a Redis holding 1M other keys;
//! - [`policy`]: eviction policies and in-memory speed next to moka, quick_cache, cached, `lru`
//!   and a `Mutex<HashMap>` (hit latency, throughput, hit ratio, bytes per entry);
//! - [`xfetch`]: probabilistic early refresh on the dog-piling scenario, several caches sharing
//!   Redis (loader calls, the most at once, stale hits);
//! - [`chart`]: SVG charts of `trace` results for BENCHMARKS.md;
//! - [`soak`]: a long mixed run over a flapping Redis (memory flat, nothing left running);
//! - [`zipf`], [`floor`], [`measure`], [`report`]: the key generator, the Bélády / LRU floors,
//!   CPU time / latency / progress, and result rows.
#![deny(missing_docs)]

pub mod batch;
pub mod chart;
pub mod dataloader;
pub mod distributed;
pub mod dogpile;
pub mod floor;
pub mod groups;
pub mod measure;
pub mod policy;
pub mod published;
pub mod remote;
pub mod report;
pub mod soak;
pub mod trace;
pub mod xfetch;
pub mod zipf;

use report::Row;

/// Options shared by every scenario.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Opts {
    /// Scale request counts down 10x (CI smoke runs).
    pub quick: bool,
}

/// The worker counts of the headline run's trace rows.
pub const HEADLINE_WORKERS: [usize; 2] = [1_000, 10_000];

/// The headline run (no argument): the dog-piling scenario, then the in-memory rows of the
/// trace at 1,000 and 10,000 workers. Needs no server.
pub async fn headline(opts: &Opts) -> Vec<Row> {
    let mut rows = dogpile::run_cli(opts).await;
    let args = trace::Args::new(trace::Rows::Memory, &HEADLINE_WORKERS);
    rows.extend(trace::run(&args, opts).await);
    rows
}
