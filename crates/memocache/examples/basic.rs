//! py-memoize's `basic` example: `#[memoize]` with the default configuration.
//!
//! ```sh
//! cargo run -p memocache --example basic
//! ```
//! prints the same "random" value three times: the first call computes it, the next two are
//! served from the cache.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::io::Write;

use memocache::memoize;

/// A number in 1..=100 that changes from call to call.
fn random_1_to_100() -> u64 {
    RandomState::new().hash_one(()) % 100 + 1
}

#[memoize]
async fn expensive_computation() -> String {
    format!("expensive-computation-{}", random_1_to_100())
}

/// The example, writing what it prints to `out`.
pub async fn run(out: &mut impl Write) -> std::io::Result<()> {
    writeln!(out, "{}", expensive_computation().await)?;
    writeln!(out, "{}", expensive_computation().await)?;
    writeln!(out, "{}", expensive_computation().await)?;
    Ok(())
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    run(&mut std::io::stdout().lock()).await
}
