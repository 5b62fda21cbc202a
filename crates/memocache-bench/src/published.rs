//! Reference figures of cacheme's trace benchmark that the runner's results are shown beside:
//! those published in cacheme's README (other hardware) and those measured with cacheme's
//! `trace.py` on the machines this project is developed on (2 cores). They are other programs'
//! results, printed for reference only: never compared as if measured in the same run.

/// Where a reference figure comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// cacheme's README (Python, other hardware).
    Published,
    /// cacheme's `trace.py` run on this project's 2-core machines.
    MeasuredHere,
}

impl Source {
    /// The label appended to the contestant's name.
    pub fn label(self) -> &'static str {
        match self {
            Source::Published => "published",
            Source::MeasuredHere => "measured here",
        }
    }
}

/// One reference figure set for a contestant at one concurrency.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reference {
    /// The Python library (cacheme's benchmark names).
    pub name: &'static str,
    /// Where the figures come from.
    pub source: Source,
    /// Concurrent workers.
    pub workers: usize,
    /// Wall time in seconds.
    pub wall_s: f64,
    /// CPU time in seconds, when known.
    pub cpu_s: Option<f64>,
    /// Redis GET replies.
    pub redis_get: u64,
    /// Loader calls, when known.
    pub loader_calls: Option<u64>,
}

const fn published(
    name: &'static str,
    workers: usize,
    wall_s: f64,
    get: u64,
    loads: u64,
) -> Reference {
    Reference {
        name,
        source: Source::Published,
        workers,
        wall_s,
        cpu_s: None,
        redis_get: get,
        loader_calls: Some(loads),
    }
}

const fn here(name: &'static str, wall_s: f64, cpu_s: f64, get: u64) -> Reference {
    Reference {
        name,
        source: Source::MeasuredHere,
        workers: 1_000,
        wall_s,
        cpu_s: Some(cpu_s),
        redis_get: get,
        loader_calls: None,
    }
}

/// cacheme's published trace results (README, "200k concurrent requests") and the results of
/// its `trace.py` measured on these machines at 1,000 workers (cashews 7.6).
pub const TRACE: [Reference; 16] = [
    published("Cacheme", 1_000, 25.0, 166_454, 55_579),
    published("Cacheme-2", 1_000, 20.0, 90_681, 55_632),
    published("Aiocache", 1_000, 46.0, 200_000, 56_367),
    published("Cashews", 1_000, 51.0, 200_000, 56_920),
    published("Cacheme", 10_000, 25.0, 123_704, 56_736),
    published("Cacheme-2", 10_000, 19.0, 83_750, 56_635),
    published("Aiocache", 10_000, 67.0, 200_000, 62_568),
    published("Cashews", 10_000, 68.0, 200_000, 66_036),
    published("Cacheme", 100_000, 24.0, 60_990, 56_782),
    published("Cacheme-2", 100_000, 22.0, 55_762, 55_588),
    published("Aiocache", 100_000, 80.0, 200_000, 125_085),
    published("Cashews", 100_000, 88.0, 200_000, 87_894),
    here("Cacheme", 12.7, 12.4, 171_600),
    here("Cacheme-2", 8.8, 8.6, 90_977),
    here("Aiocache", 21.9, 21.7, 200_000),
    here("Cashews", 34.5, 34.4, 157_900),
];
