//! py-memoize's manual invalidation example: `<function>_memo().invalidate(args)` is
//! py-memoize's `invalidate_for_arguments(args, kwargs)`.
//!
//! ```sh
//! cargo run -p memocache --example invalidation
//! ```
//! Sample output:
//! ```text
//! expensive-computation-98
//! expensive-computation-98
//! Invalidation #1
//! expensive-computation-73
//! expensive-computation-73
//! Invalidation #2
//! expensive-computation-59
//! ```

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::io::Write;

use memocache::memoize;

/// A number in 1..=100 that changes from call to call.
fn random_1_to_100() -> u64 {
    RandomState::new().hash_one(()) % 100 + 1
}

#[memoize]
pub async fn expensive_computation(arg: &str, kwarg: &str) -> String {
    let _ = (arg, kwarg);
    format!("expensive-computation-{}", random_1_to_100())
}

/// The example, writing what it prints to `out`.
pub async fn run(out: &mut impl Write) -> std::io::Result<()> {
    writeln!(out, "{}", expensive_computation("arg1", "kwarg1").await)?;
    writeln!(out, "{}", expensive_computation("arg1", "kwarg1").await)?;

    writeln!(out, "Invalidation #1")?;
    expensive_computation_memo()
        .invalidate(("arg1", "kwarg1"))
        .await
        .map_err(std::io::Error::other)?; // a memory-only cache never fails

    writeln!(out, "{}", expensive_computation("arg1", "kwarg1").await)?;
    writeln!(out, "{}", expensive_computation("arg1", "kwarg1").await)?;

    writeln!(out, "Invalidation #2")?;
    expensive_computation_memo()
        .invalidate(("arg1", "kwarg1"))
        .await
        .map_err(std::io::Error::other)?; // a memory-only cache never fails

    writeln!(out, "{}", expensive_computation("arg1", "kwarg1").await)?;
    Ok(())
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    run(&mut std::io::stdout().lock()).await
}
