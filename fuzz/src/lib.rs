//! The checks behind memocache's fuzz targets (`fuzz_targets/*.rs` only call [`record::run`],
//! [`keys::run`], [`durations::run`] and [`urls::run`]), and the seed inputs of their corpora
//! ([`seeds`], written by `cargo run --example seeds`).
//!
//! Each target checks properties beyond "no panic, no hang, no out-of-memory": see the module
//! documentation of each, and `RELIABILITY.md` at the repository root.

pub mod alloc;
pub mod durations;
pub mod keys;
pub mod record;
pub mod seeds;
pub mod urls;

/// The `#[memoize]` duration parser, compiled from the proc-macro crate's own source file (a
/// proc-macro crate cannot be a dependency of a normal crate).
#[path = "../../crates/memocache-macros/src/duration.rs"]
#[allow(dead_code)]
pub(crate) mod duration;
