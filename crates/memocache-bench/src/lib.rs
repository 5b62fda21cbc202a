//! memocache's workload runner: the scenarios behind `cargo run --release -p memocache-bench`.
#![deny(missing_docs)]

pub mod dogpile;
pub mod report;
