//! `xfetch` (issue 17): probabilistic early refresh measured on the dog-piling scenario with
//! several caches sharing Redis — one cache per process of a service, each with its own memory
//! in front of one Redis, all serving one hot key.
//!
//! The caches are warmed in turn (the first loads, the others read the entry from Redis), so
//! their copies share one `update_after` deadline: the worst case, where every process's
//! copy turns stale in the same instant. Each cache then gets a request every `interval` for
//! `periods` × `update_after`. Rows:
//! - `stale-while-revalidate`: at each deadline every cache serves its stale copy and starts a
//!   refresh; a refresh reads Redis first, but within the loader's time Redis still holds the
//!   stale entry too, so about one loader call per cache per period, all at once;
//! - `early-refresh β=1` (`CacheBuilder::early_refresh`, XFetch): hits refresh before the
//!   deadline at random moments, sooner the nearer it is; the first refresh calls the loader,
//!   and a later refresh in another cache takes the newer entry from Redis instead of loading;
//! - `distributed` (a lease in Redis, `CacheBuilder::distributed`): the reference — one loader
//!   call per key across the caches, coordinated at the cost of a lease per refresh.
//!
//! Reported: loader calls (against the ideal, one per period), the most loader calls running
//! at one instant (the stampede), stale hits, requests and their p99.

use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use memocache::codec::Codec;
use memocache::key::Namespace;
use memocache::redis::RedisStore;
use memocache::{Cache, Distributed, Tier};
use tokio::time::{sleep, Instant};

use crate::measure::{micros, Percentiles};
use crate::remote::Server;
use crate::report::Row;

/// `xfetch`'s command-line arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Caches (processes) sharing the Redis.
    #[arg(long, default_value_t = 8)]
    pub caches: usize,
    /// `update_after` periods each row runs for.
    #[arg(long, default_value_t = 10)]
    pub periods: u32,
    /// `update_after`, in milliseconds.
    #[arg(long, default_value_t = 1_000)]
    pub update_after_ms: u64,
    /// How long the loader takes, in milliseconds.
    #[arg(long, default_value_t = 50)]
    pub load_ms: u64,
    /// Pause between one cache's requests, in milliseconds.
    #[arg(long, default_value_t = 5)]
    pub interval_ms: u64,
    /// The Redis server.
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    pub redis: String,
}

/// The backend: counts calls and the most running at once.
#[derive(Default)]
struct Backend {
    calls: AtomicU64,
    running: AtomicU64,
    peak: AtomicU64,
}

impl Backend {
    async fn load(&self, took: Duration) -> u64 {
        let n = self.calls.fetch_add(1, SeqCst) + 1;
        let running = self.running.fetch_add(1, SeqCst) + 1;
        self.peak.fetch_max(running, SeqCst);
        sleep(took).await;
        self.running.fetch_sub(1, SeqCst);
        n
    }
}

/// The three ways the caches refresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    StaleWhileRevalidate,
    Early,
    Distributed,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::StaleWhileRevalidate => "stale-while-revalidate",
            Mode::Early => "early-refresh β=1",
            Mode::Distributed => "distributed",
        }
    }
}

/// The `xfetch` command: the three rows, or none (with a loud message) without Redis.
pub async fn run(args: &Args) -> Vec<Row> {
    let server = match Server::connect(&args.redis, Duration::from_secs(1), true).await {
        Ok(server) => server,
        Err(e) => {
            eprintln!("xfetch: SKIPPED, Redis at {} unreachable: {e}", args.redis);
            return Vec::new();
        }
    };
    eprintln!(
        "xfetch: {} caches over one Redis, one hot key, update_after {} ms, loader {} ms, a \
         request per cache every {} ms, {} periods per row",
        args.caches, args.update_after_ms, args.load_ms, args.interval_ms, args.periods
    );
    let mut rows = Vec::new();
    for mode in [Mode::StaleWhileRevalidate, Mode::Early, Mode::Distributed] {
        rows.push(row(&server.store, args, mode).await);
    }
    rows
}

fn cache(store: &RedisStore, ns: &Namespace, args: &Args, mode: Mode) -> Cache<u32, u64> {
    let update_after = Duration::from_millis(args.update_after_ms);
    let mut builder = Cache::builder()
        .update_after(update_after)
        .expire_after(update_after * 10)
        .tier(Tier::new(store.typed(ns.clone(), Codec::json())));
    match mode {
        Mode::StaleWhileRevalidate => {}
        Mode::Early => builder = builder.early_refresh(1.0),
        Mode::Distributed => {
            builder = builder.distributed(Distributed::new(Arc::new(store.clone()), ns.clone()));
        }
    }
    builder.build().expect("valid options")
}

async fn row(store: &RedisStore, args: &Args, mode: Mode) -> Row {
    let ns = Namespace::new("xfetch").prefix(format!(
        "memocache-bench-{}-{}",
        std::process::id(),
        mode as u8
    ));
    let caches: Vec<Cache<u32, u64>> = (0..args.caches)
        .map(|_| cache(store, &ns, args, mode))
        .collect();
    let backend = Arc::new(Backend::default());
    let took = Duration::from_millis(args.load_ms);
    let get = |cache: &Cache<u32, u64>| {
        let (cache, backend) = (cache.clone(), backend.clone());
        async move {
            let load = move || async move { backend.load(took).await };
            cache.get_with(0, load).await
        }
    };
    // Warm in turn: the first loads, the others read Redis (one shared deadline).
    for cache in &caches {
        get(cache).await.expect("the loader cannot fail");
    }
    let warm_calls = backend.calls.load(SeqCst);
    backend.peak.store(0, SeqCst);
    let run_for = Duration::from_millis(args.update_after_ms) * args.periods;
    let end = Instant::now() + run_for;
    let interval = Duration::from_millis(args.interval_ms);
    let drivers = caches.iter().map(|cache| {
        let get = &get;
        async move {
            let mut latencies = Vec::new();
            while Instant::now() < end {
                let start = Instant::now();
                get(cache).await.expect("the loader cannot fail");
                latencies.push(micros(start.elapsed()));
                sleep(interval).await;
            }
            latencies
        }
    });
    let mut latencies: Vec<u32> = join_all(drivers).await.into_iter().flatten().collect();
    for cache in &caches {
        cache.idle().await;
    }
    let stale: u64 = caches.iter().map(|c| c.stats().hits_stale).sum();
    let _ = caches[0].invalidate_all().await; // leaves nothing in Redis
    let requests = latencies.len() as u64;
    let p = Percentiles::of(&mut latencies);
    Row::new("xfetch", mode.name())
        .field("caches", args.caches as u64)
        .field("periods", u64::from(args.periods))
        .field("loader_calls", backend.calls.load(SeqCst) - warm_calls)
        .field("peak_loads", backend.peak.load(SeqCst))
        .field("stale_hits", stale)
        .field("requests", requests)
        .field("p99_us", p.p99_us)
}
