//! py-memoize's `default_customized_configuration` example: the building blocks of the default
//! configuration, with the basic parameters given in the attribute.
//!
//! ```sh
//! cargo run -p memocache --example default_customized_configuration
//! ```

use std::convert::Infallible;
use std::io::Write;

use memocache::memoize;

// `timeout` needs a `Result` return type: a timed-out call returns `Err(Error::Timeout(..))`.
#[memoize(
    capacity = 4096,
    timeout = "2m",
    update_after = "10m",
    expire_after = "30m"
)]
async fn cached() -> Result<&'static str, Infallible> {
    Ok("dummy")
}

/// The example, writing what it prints to `out`.
pub async fn run(out: &mut impl Write) -> std::io::Result<()> {
    match cached().await {
        Ok(value) => writeln!(out, "{value}")?,
        Err(e) => writeln!(out, "failed: {e}")?,
    }
    writeln!(out, "{:?}", cached_memo().cache())?;
    Ok(())
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    run(&mut std::io::stdout().lock()).await
}
