//! The core behaviour suite on both runtimes: every scenario of `runtimes/scenarios.rs` runs
//! once on a multi-thread Tokio runtime and once on smol (`smol::block_on`, the engine then
//! spawning on smol's global executor and timing with async-io), each in a module of its own so
//! that its `#[memoize]` statics are its own.
//!
//! The scenarios wait with explicit gates (channels the test opens) and, where a deadline is
//! the point (method timeout, `update_after`), with a real timer past it; paused-time tests
//! stay in the Tokio-only suites.

#![cfg(all(feature = "smol", feature = "macros", feature = "fs", feature = "node"))]

/// Runs the scenarios on a 2-worker Tokio runtime.
mod on_tokio {
    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a Tokio runtime")
            .block_on(future)
    }

    /// Where the engine's own tasks must run (checked by a scenario).
    const ON_TOKIO: bool = true;

    include!("runtimes/scenarios.rs");
}

/// Runs the scenarios on smol, with no Tokio runtime anywhere.
mod on_smol {
    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        smol::block_on(future)
    }

    /// Where the engine's own tasks must run (checked by a scenario).
    const ON_TOKIO: bool = false;

    include!("runtimes/scenarios.rs");
}
