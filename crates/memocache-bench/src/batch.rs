//! cacheme's batch scenario (`bench_cacheme_batch_zipf` in `benchmarks/trace.py`): 10,000
//! `get_all` calls of 20 distinct ids each, drawn from `Zipf(1.0001, 10, 200,000)`, at 1,000
//! and 10,000 workers, counting Redis MGETs and loader calls.
//!
//! memocache has no batch `get_all` yet, so this scenario reports itself as not available
//! rather than measuring something else under its name.

use crate::report::Row;

/// `batch`'s command-line arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Worker counts to run, comma separated.
    #[arg(long, value_delimiter = ',', default_values_t = [1_000usize, 10_000])]
    pub workers: Vec<usize>,
    /// The Redis server.
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    pub redis: String,
}

/// Why the scenario cannot run in this build.
pub const NOT_AVAILABLE: &str = "not available (memocache has no batch get_all API yet)";

/// One row per worker count saying the scenario is not available.
pub fn run(args: &Args) -> Vec<Row> {
    args.workers
        .iter()
        .map(|&w| {
            Row::new("batch", "memocache-redis")
                .field("workers", w as u64)
                .field("skipped", NOT_AVAILABLE)
        })
        .collect()
}
