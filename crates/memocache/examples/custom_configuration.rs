//! py-memoize's `custom_configuration` example: everything overridden, through a whole
//! builder given with `config = ...` (py-memoize's `configuration=`).
//!
//! ```sh
//! cargo run -p memocache --example custom_configuration
//! ```
//!
//! py-memoize's example sets the method timeout, the entry builder (`update_after` 2 min,
//! `expire_after` 5 min), a least-recently-updated eviction strategy of capacity 2048, a key
//! extractor, the storage and deep-copy post-processing. In memocache the key is made from
//! the arguments (or `key: Type = ...`), the storage is the in-memory store, and the
//! post-processing below gives every caller its own copy of the shared value, as
//! `DeepcopyPostprocessing` does.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use memocache::{memoize, Cache, EvictionPolicy};

#[memoize(config = Cache::builder()
    .method_timeout(Duration::from_secs(2 * 60))
    .update_after(Duration::from_secs(2 * 60))
    .expire_after(Duration::from_secs(5 * 60))
    .capacity(2048)
    .eviction_policy(EvictionPolicy::LeastRecentlyUpdated)
    .postprocess(|shared: Arc<Vec<String>>| Arc::new(shared.as_ref().clone()))
    .name("custom_configuration::cached"))]
async fn cached() -> Result<Arc<Vec<String>>, std::io::Error> {
    Ok(Arc::new(vec!["dummy".to_string()]))
}

/// The example, writing what it prints to `out`.
pub async fn run(out: &mut impl Write) -> std::io::Result<()> {
    let first = cached().await.map_err(std::io::Error::other)?;
    let second = cached().await.map_err(std::io::Error::other)?;
    writeln!(out, "{first:?}")?;
    // Same value, but each caller got its own copy (the post-processing ran on both).
    writeln!(
        out,
        "equal: {}, same allocation: {}",
        first == second,
        Arc::ptr_eq(&first, &second)
    )?;
    writeln!(out, "{:?}", cached_memo().cache())?;
    let stats = cached_memo().stats();
    writeln!(
        out,
        "loads: {}, hits: {}",
        stats.loads_started, stats.hits_fresh
    )?;
    Ok(())
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    run(&mut std::io::stdout().lock()).await
}
