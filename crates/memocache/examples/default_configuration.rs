//! py-memoize's `default_configuration` example: the defaults, spelled out by the cache itself.
//!
//! ```sh
//! cargo run -p memocache --example default_configuration
//! ```
//! A bare `#[memoize]` uses py-memoize's defaults: 4096 entries evicted least-recently-updated
//! first, refresh in the background after 10 minutes, never serve older than 30 minutes, no
//! post-processing. (A function returning a plain value has no method timeout, since it could
//! not report one; a function returning `Result` gets the 2 minute default.)

use std::io::Write;

use memocache::memoize;

#[memoize]
async fn cached() -> &'static str {
    "dummy"
}

/// The example, writing what it prints to `out`.
pub async fn run(out: &mut impl Write) -> std::io::Result<()> {
    writeln!(out, "{}", cached().await)?;
    let cache = cached_memo().cache();
    writeln!(out, "name: {}", cache.name().unwrap_or("-"))?;
    writeln!(out, "capacity: {}", cache.capacity())?;
    writeln!(out, "{cache:?}")?;
    Ok(())
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    run(&mut std::io::stdout().lock()).await
}
