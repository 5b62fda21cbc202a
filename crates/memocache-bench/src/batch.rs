//! cacheme's batch scenario (`bench_cacheme_batch_zipf` in `benchmarks/trace.py`): 10,000
//! `get_all` calls of 20 distinct ids each, drawn from `Zipf(1.0001, 10, 200,000)`, drained by
//! 1,000 and 10,000 workers, the batch loader sleeping 100 ms — on memocache's memory alone
//! (`memocache-memory`), Redis alone (`memocache-redis`) and a 3,000-entry W-TinyLFU memory in
//! front of Redis (`memocache-memory+redis`). A row counts the `load_all` calls and the keys
//! they loaded, and the server's GET and MGET commands over the row (`INFO commandstats`).
//! cacheme's published figures (Redis, 1k workers: 9,996 MGET, 55,902 keys loaded; 10k: 9,908,
//! 42,894) are in BENCHMARKS.md beside these. Then the [`dataloader`](crate::dataloader) rows:
//! the single-key trace with batching of single misses on.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use memocache::codec::{Codec, Compression, Format};
use memocache::key::Namespace;
use memocache::{Cache, Tier};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::measure::{cpu_time, secs};
use crate::remote::{Commands, Server};
use crate::report::Row;
use crate::trace::TIER_POLICY;
use crate::zipf::Zipf;
use crate::Opts;

/// `batch`'s command-line arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Worker counts to run, comma separated.
    #[arg(long, value_delimiter = ',', default_values_t = [1_000usize, 10_000])]
    pub workers: Vec<usize>,
    /// The Redis server.
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    pub redis: String,
}

/// Ids per `get_all` call.
pub const IDS_PER_CALL: usize = 20;

/// The calls: `n` lists of 20 distinct ids from `Zipf(1.0001, 10, 200,000)` (seed 1).
pub fn calls(n: usize) -> Vec<Vec<u64>> {
    let z = Zipf::new(1.0001, 10.0, 200_000).expect("valid parameters");
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    (0..n)
        .map(|_| {
            let mut ids = Vec::with_capacity(IDS_PER_CALL);
            while ids.len() < IDS_PER_CALL {
                let id = z.sample(&mut rng);
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
            ids
        })
        .collect()
}

/// The batch loader: counts its calls and keys, sleeps, returns each id as its value (also
/// the `dataloader` rows').
#[derive(Default)]
pub(crate) struct Loader {
    calls: AtomicU64,
    keys: AtomicU64,
}

impl Loader {
    /// One call for `keys`: counted, then `sleep`, then each id as its own value.
    pub(crate) async fn load(
        &self,
        keys: Vec<u64>,
        sleep: Duration,
    ) -> Result<Vec<(u64, u64)>, std::convert::Infallible> {
        self.calls.fetch_add(1, Relaxed);
        self.keys.fetch_add(keys.len() as u64, Relaxed);
        tokio::time::sleep(sleep).await;
        Ok(keys.into_iter().map(|k| (k, k)).collect())
    }

    /// `row` with the calls and the keys loaded.
    pub(crate) fn counted(&self, row: Row) -> Row {
        row.field("loader_calls", self.calls.load(Relaxed))
            .field("keys_loaded", self.keys.load(Relaxed))
    }
}

/// `row` with, for a Redis row, the server's GET and MGET commands between the two counts.
pub(crate) fn with_commands(row: Row, redis: Option<(Commands, Commands)>) -> Row {
    match redis {
        Some((b, a)) => row
            .field("redis_get", a.get.saturating_sub(b.get))
            .field("redis_mget", a.mget.saturating_sub(b.mget)),
        None => row,
    }
}

async fn drain(
    cache: &Cache<u64, u64>,
    calls: &Arc<Vec<Vec<u64>>>,
    workers: usize,
    loader: &Arc<Loader>,
) -> (Duration, Duration) {
    let cursor = Arc::new(AtomicUsize::new(0));
    let (cpu0, t0) = (cpu_time(), Instant::now());
    let tasks: Vec<_> = (0..workers)
        .map(|_| {
            let (cache, calls, cursor, loader) =
                (cache.clone(), calls.clone(), cursor.clone(), loader.clone());
            tokio::spawn(async move {
                loop {
                    let i = cursor.fetch_add(1, Relaxed);
                    let Some(ids) = calls.get(i) else { break };
                    let loader = loader.clone();
                    let load_all = move |keys: Vec<u64>| {
                        let loader = loader.clone();
                        async move { loader.load(keys, Duration::from_millis(100)).await }
                    };
                    let got = cache.get_all(ids.iter().copied(), load_all).await;
                    for (id, v) in ids.iter().zip(got) {
                        assert_eq!(
                            v.expect("the batch loader neither fails nor leaves keys out"),
                            *id
                        );
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("a worker panicked");
    }
    (t0.elapsed(), cpu_time().saturating_sub(cpu0))
}

/// One row per store and worker count.
pub async fn run(args: &Args, opts: &Opts) -> Vec<Row> {
    let n = if opts.quick { 1_000 } else { 10_000 };
    let calls = Arc::new(calls(n));
    let distinct = calls.iter().flatten().collect::<HashSet<_>>().len() as u64;
    let mut server = Server::connect(&args.redis, Duration::from_secs(10), true).await;
    let mut rows = Vec::new();
    for &workers in &args.workers {
        for imp in [
            "memocache-memory",
            "memocache-redis",
            "memocache-memory+redis",
        ] {
            let row = Row::new("batch", imp)
                .field("workers", workers as u64)
                .field("requests", n as u64)
                .field("distinct_keys", distinct);
            let ns = Namespace::new(format!("batch-{}-{imp}-{workers}", std::process::id()))
                .prefix("memocache-bench");
            let codec = Codec::new(Format::MessagePack, Compression::None);
            let builder = Cache::builder().method_timeout(Duration::from_secs(60));
            let cache = match (imp, &mut server) {
                ("memocache-memory", _) => builder.capacity(distinct as usize).build(),
                (_, Err(e)) => {
                    rows.push(row.field(
                        "skipped",
                        format!("Redis at {} unreachable: {e}", args.redis),
                    ));
                    continue;
                }
                ("memocache-redis", Ok(s)) => builder
                    .without_memory_tier()
                    .tier(Tier::new(s.store.typed(ns, codec)))
                    .build(),
                (_, Ok(s)) => builder
                    .capacity(3_000)
                    .eviction_policy(TIER_POLICY)
                    .tier(Tier::new(s.store.typed(ns, codec)))
                    .build(),
            }
            .expect("valid options");
            let before = match &mut server {
                Ok(s) => s.commands().await.ok(),
                Err(_) => None,
            };
            let loader = Arc::new(Loader::default());
            let (wall, cpu) = drain(&cache, &calls, workers, &loader).await;
            let after = match &mut server {
                Ok(s) => s.commands().await.ok(),
                Err(_) => None,
            };
            let row = loader
                .counted(row)
                .field("wall_s", secs(wall))
                .field("cpu_s", secs(cpu));
            let redis = before.zip(after).filter(|_| imp != "memocache-memory");
            if redis.is_some() {
                let _ = cache.invalidate_all().await;
            }
            rows.push(with_commands(row, redis));
        }
    }
    rows.extend(crate::dataloader::run(&args.workers, &mut server, opts).await);
    rows
}
