//! fresco-memoize's `max_hits`: an entry is dropped after it has been served this many times
//! from the cache, and the next call computes it again.
//!
//! ```sh
//! cargo run -p memocache --example max_hits
//! ```

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};

use memocache::memoize;

static CALLS: AtomicUsize = AtomicUsize::new(0);

#[memoize(max_hits = 3)]
async fn expensive_func(s: &str) -> String {
    let call = CALLS.fetch_add(1, Ordering::SeqCst) + 1;
    format!("{s}: computed by call #{call}")
}

/// The example, writing what it prints to `out`.
pub async fn run(out: &mut impl Write) -> std::io::Result<()> {
    // The call that computes a value is not a hit: it is then served 3 times, and the
    // fifth call computes it again.
    for i in 1..=6 {
        writeln!(out, "request {i}: {}", expensive_func("x").await)?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    run(&mut std::io::stdout().lock()).await
}
