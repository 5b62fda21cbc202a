//! The Redis rows: memocache over Redis alone (`memocache-redis`), with a 3,000-entry
//! W-TinyLFU memory tier in front (`memocache-memory+redis`, cacheme's "Cacheme-2") and with a
//! memory tier holding every key (`memocache-unbounded+redis`). Each runs in a namespace of its
//! own, cleared after, and adds the server's GET and MGET counts over the row
//! (`INFO commandstats`), the Redis reads and errors the cache counted, and the store's writes
//! and the round trips they took.

use std::sync::Arc;
use std::time::Duration;

use crate::remote::Server;
use crate::report::Row;
use crate::zipf::KeyStream;

use super::remote::{bounded_memory_tier, tier_reads_and_errors, RemoteRow};
use super::{drive, row, skipped, Contestant, Memocache, Params};

/// Runs one Redis row against `server`, in a namespace of its own (`run_id` makes it unique),
/// which it clears afterwards. `redis_get` / `redis_mget` are the server's command counts over
/// the row; `tier_reads` the Redis reads the cache itself counted; `writes` / `write_trips` the
/// writes the store pipelined and the round trips they took (0 / 0 without auto-pipelining).
pub async fn run_redis_row(
    contestant: Contestant,
    keys: &KeyStream,
    workers: usize,
    p: &Params,
    server: &mut Server,
    run_id: &str,
    timeout: Duration,
) -> Row {
    let typed = |namespace, codec| server.store.typed::<u64, u64>(namespace, codec);
    let start = RemoteRow::new(contestant, keys, workers, p, run_id, timeout, typed);
    let (builder, memory) = match contestant {
        // No in-memory tier: every request that is not coalesced reads Redis, as cacheme's
        // Redis-only node does.
        Contestant::MemocacheRedis => (start.builder.without_memory_tier(), "none".to_string()),
        Contestant::MemocacheMemoryRedis => bounded_memory_tier(start.builder, p),
        Contestant::MemocacheUnboundedRedis => (
            start.builder.capacity(p.requests.max(1)),
            "unbounded".to_string(),
        ),
        _ => unreachable!("{} is not a Redis row", contestant.name()),
    };
    let cache = builder.build().expect("valid options");
    let c = Arc::new(Memocache {
        cache: cache.clone(),
        loader: start.loader.clone(),
    });
    let writes_before = server.store.write_stats();
    let before = match server.commands().await {
        Ok(c) => c,
        Err(e) => return skipped(contestant, workers, &format!("INFO commandstats: {e}")),
    };
    let m = drive(&start.label, start.shared, workers, c).await;
    let after = match server.commands().await {
        Ok(c) => c,
        Err(e) => return skipped(contestant, workers, &format!("INFO commandstats: {e}")),
    };
    let writes = server.store.write_stats();
    let (tier_reads, tier_errors) = tier_reads_and_errors(&cache);
    // Clear this row's namespace (SCAN + UNLINK of its keys only).
    cache.invalidate_all().await.unwrap();
    row(contestant, keys, workers, p, start.loader.calls(), &m)
        .field("memory_tier", memory)
        .field("redis_get", after.get.saturating_sub(before.get))
        .field("redis_mget", after.mget.saturating_sub(before.mget))
        .field("tier_reads", tier_reads)
        .field("tier_errors", tier_errors)
        .field("writes", writes.commands - writes_before.commands)
        .field("write_trips", writes.batches - writes_before.batches)
}
