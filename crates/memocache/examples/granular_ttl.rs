//! py-memoize's "Openness to granular TTL" example: every entry lives as long as its value
//! says (say, from a `Cache-Control` header), through an entry builder given with
//! `config = ...`.
//!
//! ```sh
//! cargo run -p memocache --example granular_ttl
//! ```

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::io::Write;
use std::time::Duration;

use memocache::{memoize, Cache, EntryBuilder, Lifespan};

/// A value that knows how long it may be cached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueWithTtl {
    /// The value.
    pub value: String,
    /// For instance derived from a `Cache-Control` response header.
    pub ttl_seconds: u64,
}

/// Refresh when the value's own TTL is over; allow stale data for 10 % of the TTL more.
pub struct TtlRespectingEntryBuilder;

impl EntryBuilder<String, ValueWithTtl> for TtlRespectingEntryBuilder {
    fn lifespan(&self, _key: &String, value: &ValueWithTtl) -> Lifespan {
        let ttl = Duration::from_secs(value.ttl_seconds);
        Lifespan::new(ttl, ttl + ttl / 10)
    }
}

/// A number in `low..=high` that changes from call to call.
fn random(low: u64, high: u64) -> u64 {
    low + RandomState::new().hash_one(()) % (high - low + 1)
}

#[memoize(config = Cache::builder().entry_builder(TtlRespectingEntryBuilder))]
pub async fn external_call(key: &str) -> ValueWithTtl {
    ValueWithTtl {
        value: format!("{key}-result-{}", random(1, 100)),
        ttl_seconds: random(60, 300),
    }
}

/// The example, writing what it prints to `out`.
pub async fn run(out: &mut impl Write) -> std::io::Result<()> {
    external_call("a").await;
    external_call("b").await;
    external_call("b").await;

    writeln!(out, "Entries persisted in the cache:")?;
    let cache = external_call_memo().cache();
    for key in ["a", "b"] {
        if let Some(entry) = cache.get(key).await {
            let Lifespan::Store {
                update_after,
                expire_after,
            } = TtlRespectingEntryBuilder.lifespan(&key.to_string(), &entry)
            else {
                continue;
            };
            writeln!(out, "Entry: {entry:?}")?;
            writeln!(
                out,
                "Effective TTL: {}s (stale until {}s)",
                update_after.as_secs_f64(),
                expire_after.as_secs_f64()
            )?;
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    run(&mut std::io::stdout().lock()).await
}
