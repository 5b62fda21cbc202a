//! The in-memory policy scenario (`memocache-bench policy`): memocache's store next to moka
//! (`future::Cache`), quick_cache (`sync::Cache`, with its async guard API for the
//! get-or-load path), cached (`SizedCache` behind a `Mutex`, as its macros use it), the `lru`
//! crate and a `Mutex<HashMap>`, in one run, on one machine:
//!
//! 1. **hit latency**: 1 thread, 100k resident keys, ns per `get` and per get-or-load hit;
//! 2. **hit throughput**: 2 threads, keys from Zipf(1.0) over 1M keys, capacity 100k, a `get`
//!    then an `insert` on a miss: operations per second;
//! 3. **hit ratio**: pingora TinyUFO's `bench_hit_ratio` settings — 10,000 items, 5,000,000
//!    lookups from `rand_distr::Zipf::new(10_000.0, s)` (rand_distr 0.5 takes `n` as a float and
//!    samples floats in `1..=n`), insert on a miss, s ∈ {0.9, 1.0, 1.05, 1.1, 1.5} × cache size ∈
//!    {0.5 %, 1 %, 5 %, 10 %, 25 %} of the items — every cache fed the same key in the same
//!    loop; plus a scan-polluted stream and two recency-biased ones (see [`Variant`]). Beside
//!    memocache's sharded least-recently-updated store runs an exact single-list one
//!    ([`LruUpdateExact`]), so the cost of evicting per shard is read off the same cell;
//! 4. **memory**: live heap bytes per entry for 1M `u64 -> [u8; 64]` entries, counted by
//!    [`CountingAlloc`] (the runner's global allocator).
//!
//! memocache is driven through its public async API (`Cache::get`, `get_or_load`, `insert`),
//! i.e. through the real sharded store, read buffer and timer wheel. Every async call of every
//! crate is polled by the same busy-polling executor ([`ready`]), so no runtime overhead is
//! measured for anyone.
//!
//! This module owns the run ([`run`]: the chosen tables, as rows and text); its parts:
//!
//! - `alloc`: heap accounting ([`CountingAlloc`], [`live_bytes`]);
//! - `executor`: the busy-polling executor ([`ready`]);
//! - `subjects`: the caches under test ([`Subject`] and its implementations, [`all_subjects`]);
//! - `latency`, `throughput`, `ratio`, `memory`: tables 1 to 4 ([`hit_latency`],
//!   [`throughput()`], [`hit_ratio_cell`], [`memory()`]);
//! - `grid`: table 3 as text ([`grid()`]);
//! - `numbers`: rounding, and the ratios to quick_cache.

mod alloc;
mod climber;
mod executor;
mod grid;
mod latency;
mod memory;
mod numbers;
mod ratio;
mod subjects;
mod throughput;

use crate::report::Row;
use crate::Opts;

pub use alloc::{live_bytes, CountingAlloc};
pub use executor::ready;
pub use grid::grid;
pub use latency::hit_latency;
pub use memory::memory;
pub use ratio::{hit_ratio_cell, Variant, EXPONENTS, ITEMS, LOOKUPS, SIZES};
pub use subjects::{
    all_subjects, memocache, memocache_without_expiry, CachedCrate, LruCrate, LruUpdateExact,
    MutexMap, Subject, LRU_UPDATE_EXACT, MEMOCACHE_POLICIES, NO_EXPIRY, SEED,
};
pub use throughput::throughput;

/// Which tables `memocache-bench policy` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Table {
    /// 1: hit latency.
    Latency,
    /// 2: hit throughput.
    Throughput,
    /// 3: hit ratio (TinyUFO grid and variants).
    HitRatio,
    /// 4: bytes per entry.
    Memory,
    /// 5: the hill climber's synthetic workloads (phase shifts, long and short recency-heavy
    /// streams over 100k entries).
    Climber,
}

/// Arguments of `memocache-bench policy`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Run only these tables (default: all four).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub only: Vec<Table>,
}

/// What `memocache-bench policy` prints: rows (for `--json`) and the text tables.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// One row per cell and implementation.
    pub rows: Vec<Row>,
    /// The tables for people.
    pub text: String,
}

/// Runs the chosen tables. `--quick` divides every operation count by 10 (the hit-ratio grid
/// then no longer has TinyUFO's settings).
pub fn run(args: &Args, opts: &Opts) -> Report {
    let scale = if opts.quick { 10 } else { 1 };
    let want = |t: Table| args.only.is_empty() || args.only.contains(&t);
    let mut report = Report::default();
    let add = |report: &mut Report, rows: Vec<Row>, text: String| {
        report.text.push_str(&text);
        report.text.push('\n');
        report.rows.extend(rows);
    };
    if want(Table::Latency) {
        eprintln!("policy: table 1, hit latency (1 thread, 100k resident keys)");
        let rows = hit_latency(100_000, 3_000_000 / scale);
        let text = crate::report::table(&rows);
        add(&mut report, rows, text);
    }
    if want(Table::Throughput) {
        eprintln!("policy: table 2, throughput (2 threads, Zipf(1.0) over 1M keys, capacity 100k)");
        let rows = throughput(2, 1_000_000, 100_000, 4_000_000 / scale);
        let text = crate::report::table(&rows);
        add(&mut report, rows, text);
    }
    if want(Table::HitRatio) {
        let lookups = LOOKUPS / scale;
        eprintln!("policy: table 3, hit ratio ({ITEMS} items, {lookups} lookups per cell)");
        let mut rows = Vec::new();
        for s in EXPONENTS {
            for size in SIZES {
                rows.extend(hit_ratio_cell(Variant::Zipf(s), size, lookups));
            }
        }
        for v in [Variant::Scan, Variant::Loop, Variant::ShortReuse] {
            for size in SIZES {
                rows.extend(hit_ratio_cell(v, size, lookups));
            }
        }
        let mut text = String::new();
        for scenario in [
            "hit_ratio",
            "hit_ratio_scan",
            "hit_ratio_loop",
            "hit_ratio_short_reuse",
        ] {
            text.push_str(&grid(&rows, scenario));
            text.push('\n');
        }
        add(&mut report, rows, text);
    }
    if want(Table::Climber) {
        eprintln!("policy: table 5, the hill climber's workloads");
        let rows = climber::climber_table(scale);
        let text = crate::report::table(&rows);
        add(&mut report, rows, text);
    }
    if want(Table::Memory) {
        eprintln!("policy: table 4, memory (1M u64 -> [u8; 64] entries)");
        let rows = memory(1_000_000 / scale as u64);
        let text = crate::report::table(&rows);
        add(&mut report, rows, text);
    }
    report
}
