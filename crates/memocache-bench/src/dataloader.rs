//! The `dataloader` rows of `batch`: cacheme's trace (200,000 single-key requests from
//! `Zipf(1.001, 10, 200,000)`, loads sleeping 100 ms) with memocache's batching of single
//! misses on ([`Batcher`]: misses arriving within 1 ms, at most 1,000, share one batch
//! loader call and one multi-get per tier). On memocache's memory alone and on a 3,000-entry
//! W-TinyLFU memory in front of Redis; the row counts the batch loader's calls and the keys
//! they loaded (the plain trace makes one loader call per key), the server's GET and MGET.

use std::sync::Arc;
use std::time::Duration;

use memocache::codec::{Codec, Compression, Format};
use memocache::key::Namespace;
use memocache::{Batcher, Cache, Tier};

use crate::batch::{with_commands, Loader};
use crate::measure::secs;
use crate::remote::Server;
use crate::report::Row;
use crate::trace::{drive, Contender, Params, TIER_POLICY};
use crate::Opts;

/// The window and the largest batch of the rows.
pub const WINDOW: Duration = Duration::from_millis(1);
/// The most keys one batch loader call is given.
pub const MAX_KEYS: usize = 1_000;

/// memocache behind a [`Batcher`].
struct Batched(Batcher<u64, u64, std::convert::Infallible>);

impl Contender for Batched {
    async fn get(&self, key: u64) -> u64 {
        self.0
            .get(key)
            .await
            .expect("the batch loader neither fails nor leaves keys out")
    }
}

/// One row per store and worker count.
pub async fn run(workers: &[usize], server: &mut Result<Server, String>, opts: &Opts) -> Vec<Row> {
    let p = Params::for_opts(opts);
    let keys = p.keys();
    let mut rows = Vec::new();
    for &w in workers {
        for imp in ["memocache-memory", "memocache-memory+redis"] {
            let row = Row::new("dataloader", imp)
                .field("workers", w as u64)
                .field("requests", p.requests as u64)
                .field("distinct_keys", keys.distinct as u64)
                .field("window_ms", secs(WINDOW) * 1e3)
                .field("max_batch", MAX_KEYS as u64);
            let builder = Cache::builder().method_timeout(Duration::from_secs(60));
            let cache: Cache<u64, u64> = match (imp, &*server) {
                ("memocache-memory", _) => builder.capacity(p.requests).build(),
                (_, Err(e)) => {
                    rows.push(row.field("skipped", format!("Redis unreachable: {e}")));
                    continue;
                }
                (_, Ok(s)) => {
                    let ns = Namespace::new(format!("dataloader-{}-{w}", std::process::id()))
                        .prefix("memocache-bench");
                    let codec = Codec::new(Format::MessagePack, Compression::None);
                    builder
                        .capacity(p.tier_capacity)
                        .eviction_policy(TIER_POLICY)
                        .tier(Tier::new(s.store.typed(ns, codec)))
                        .build()
                }
            }
            .expect("valid options");
            let loader = Arc::new(Loader::default());
            let (l, load_time) = (loader.clone(), p.load_time);
            let batcher = cache.batcher(WINDOW, MAX_KEYS, move |ids: Vec<u64>| {
                let l = l.clone();
                async move { l.load(ids, load_time).await }
            });
            let before = match server {
                Ok(s) => s.commands().await.ok(),
                Err(_) => None,
            };
            let label = format!("dataloader {imp} x{w}");
            let shared: Arc<[u64]> = keys.keys.clone().into();
            let m = drive(&label, shared, w, Arc::new(Batched(batcher))).await;
            let after = match server {
                Ok(s) => s.commands().await.ok(),
                Err(_) => None,
            };
            let row = loader
                .counted(row)
                .field("wall_s", secs(m.wall))
                .field("cpu_s", secs(m.cpu))
                .field("p99_ms", m.latency.p99_us as f64 / 1e3);
            let redis = before.zip(after).filter(|_| imp != "memocache-memory");
            if redis.is_some() {
                let _ = cache.invalidate_all().await;
            }
            rows.push(with_commands(row, redis));
        }
    }
    rows
}
