//! fresco-memoize's case-insensitive key: `@memoize(keyfunc=lambda s: s.lower())` becomes
//! `#[memoize(key: String = s.to_lowercase())]`.
//!
//! ```sh
//! cargo run -p memocache --example case_insensitive_key
//! ```

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};

use memocache::memoize;

static CALLS: AtomicUsize = AtomicUsize::new(0);

#[memoize(key: String = s.to_lowercase())]
async fn function_with_a_string_arg(s: &str) -> String {
    let call = CALLS.fetch_add(1, Ordering::SeqCst) + 1;
    format!("computed for {s:?} (call #{call})")
}

/// The example, writing what it prints to `out`.
pub async fn run(out: &mut impl Write) -> std::io::Result<()> {
    for s in ["Hello", "HELLO", "hello", "World"] {
        writeln!(out, "{s:>5} -> {}", function_with_a_string_arg(s).await)?;
    }
    writeln!(
        out,
        "loader calls: {} (one per distinct lower-cased key)",
        CALLS.load(Ordering::SeqCst)
    )?;
    Ok(())
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    run(&mut std::io::stdout().lock()).await
}
