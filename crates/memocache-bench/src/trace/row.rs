//! A trace result row: the fields every row has, of a measured run ([`row`]) or of a row
//! that did not run ([`skipped`]).

use crate::measure::secs;
use crate::report::Row;
use crate::zipf::KeyStream;

use super::{Contestant, Measured, Params};

/// The result row of a measured run.
pub(crate) fn row(
    contestant: Contestant,
    keys: &KeyStream,
    workers: usize,
    p: &Params,
    loader_calls: u64,
    m: &Measured,
) -> Row {
    let floor = p
        .load_time
        .mul_f64(keys.distinct as f64 / workers.max(1) as f64);
    Row::new("trace", contestant.name())
        .field("workers", workers as u64)
        .field("requests", p.requests as u64)
        .field("distinct_keys", keys.distinct as u64)
        .field("loader_calls", loader_calls)
        .field("floor_s", secs(floor))
        .field("wall_s", secs(m.wall))
        .field("cpu_s", secs(m.cpu))
        .field("p50_us", m.latency.p50_us)
        .field("p99_us", m.latency.p99_us)
}

/// A row that did not run, and why.
pub(crate) fn skipped(contestant: Contestant, workers: usize, why: &str) -> Row {
    Row::new("trace", contestant.name())
        .field("workers", workers as u64)
        .field("skipped", why)
}
