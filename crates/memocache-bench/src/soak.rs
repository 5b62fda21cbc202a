//! The soak (`memocache-bench soak`, issue 18): cacheme's key stream in a loop for a long time
//! (30 minutes by default) over a chain [memory 3,000 W-TinyLFU, Redis] whose Redis flaps —
//! killed and restarted, stopped and continued — while workers mix loads (some failing, some
//! panicking), stale-while-revalidate refreshes, plain reads, inserts, invalidations, the odd
//! `invalidate_all` and callers cancelled mid-request. What must hold, and is checked:
//!
//! - every value served is its key's (`k * 2`): nothing mixed, lost or resurrected;
//! - the process's resident memory stays flat after the warm-up (within 10 %);
//! - at the end, once the workers stop, no flight or task is left (`Cache::idle`), and the
//!   statistics' identities hold.
//!
//! The Redis is a `redis-server` of the runner's own on a free port (the binary must be on
//! `PATH`); without one the soak runs memory-only and says so.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use memocache::codec::Codec;
use memocache::key::Namespace;
use memocache::redis::{RedisOptions, RedisStore};
use memocache::tier::CircuitBreaker;
use memocache::{Cache, Error, EvictionPolicy, Stats, Tier};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::report::Row;
use crate::zipf::Zipf;
use crate::Opts;

/// `memocache-bench soak` options.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// How long to run, in seconds.
    #[arg(long, default_value_t = 1800)]
    pub seconds: u64,
    /// Concurrent workers.
    #[arg(long, default_value_t = 200)]
    pub workers: usize,
}

/// A `redis-server` of the soak's own, which the flapper kills, restarts, stops and continues.
struct OwnRedis {
    port: u16,
    child: Option<Child>,
}

impl OwnRedis {
    fn start() -> Option<OwnRedis> {
        let port = TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let mut r = OwnRedis { port, child: None };
        r.restart().then_some(r)
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn restart(&mut self) -> bool {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let Ok(child) = child else {
            return false;
        };
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn signal(&self, signal: &str) {
        if let Some(c) = &self.child {
            let _ = Command::new("kill")
                .args([&format!("-{signal}"), &c.id().to_string()])
                .status();
        }
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.signal("CONT");
        self.kill();
    }
}

/// The process's resident set size, in bytes (Linux: `/proc/self/statm`).
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// Counts of what the workers did and saw.
#[derive(Default)]
struct Tally {
    requests: AtomicU64,
    cancelled: AtomicU64,
    /// The loaders' deliberate failures and panics, and timeouts.
    load_errors: AtomicU64,
    /// Any other error (a storage error reaching the caller, a cancelled load): none expected,
    /// the Redis tier is fail-open.
    other_errors: AtomicU64,
    wrong: AtomicU64,
    invalidations: AtomicU64,
    clears: AtomicU64,
}

async fn cache(redis: Option<&OwnRedis>) -> Cache<u64, u64> {
    let mut builder = Cache::builder()
        .capacity(3_000)
        .eviction_policy(EvictionPolicy::W_TINY_LFU)
        .update_after(Duration::from_secs(2))
        .expire_after(Duration::from_secs(10))
        .method_timeout(Duration::from_secs(1));
    if let Some(redis) = redis {
        let options = RedisOptions {
            connect_timeout: Duration::from_millis(100),
            response_timeout: Duration::from_millis(100),
            reconnect_retries: 1,
            ..Default::default()
        };
        let store = RedisStore::connect_with(&redis.url(), options)
            .await
            .expect("the soak's own Redis answers at start");
        let namespace = Namespace::new("soak").prefix("memocache-soak");
        builder = builder.tier(
            Tier::new(store.typed(namespace, Codec::json()))
                .timeout(Duration::from_millis(100))
                .circuit_breaker(CircuitBreaker {
                    failure_threshold: 3,
                    cool_down: Duration::from_millis(500),
                }),
        );
    }
    builder.build().expect("valid options")
}

/// One worker: draws keys and mixes operations until `stop`.
async fn worker(id: u64, cache: Cache<u64, u64>, stop: Arc<AtomicBool>, tally: Arc<Tally>) {
    let zipf = Zipf::new(1.001, 10.0, 200_000).expect("cacheme's parameters");
    let mut rng = ChaCha8Rng::seed_from_u64(id);
    while !stop.load(Relaxed) {
        let k = zipf.sample(&mut rng);
        let roll: u32 = rng.random_range(0..1_000);
        tally.requests.fetch_add(1, Relaxed);
        match roll {
            0..=939 => {
                // A load that sometimes fails or panics; a caller that sometimes goes away.
                let fate: u32 = rng.random_range(0..1_000);
                let loader = move || async move {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    match fate {
                        0 => panic!("soak: a panicking loader"),
                        1..=9 => Err(std::io::Error::other("soak: a failing loader")),
                        _ => Ok(k * 2),
                    }
                };
                let call = cache.get_or_load(k, loader);
                let got = if rng.random_range(0..100) < 5 {
                    let patience = Duration::from_micros(rng.random_range(0..2_000));
                    match tokio::time::timeout(patience, call).await {
                        Ok(got) => got,
                        Err(_) => {
                            tally.cancelled.fetch_add(1, Relaxed);
                            continue;
                        }
                    }
                } else {
                    call.await
                };
                match got {
                    Ok(v) if v == k * 2 => {}
                    Ok(_) => {
                        tally.wrong.fetch_add(1, Relaxed);
                    }
                    Err(Error::Load(_) | Error::Panicked(_) | Error::Timeout(_)) => {
                        tally.load_errors.fetch_add(1, Relaxed);
                    }
                    Err(_) => {
                        tally.other_errors.fetch_add(1, Relaxed);
                    }
                }
            }
            940..=969 => {
                let wrong = cache.get(&k).await.is_some_and(|v| v != k * 2);
                tally.wrong.fetch_add(u64::from(wrong), Relaxed);
            }
            970..=979 => cache.insert(k, k * 2).await,
            980..=998 => {
                tally.invalidations.fetch_add(1, Relaxed);
                let _ = cache.invalidate(&k).await; // a flapping Redis may refuse
            }
            _ => {}
        }
    }
}

/// The flapper: every 10 s, kill Redis and restart it 2 s later; or stop it for 1.5 s; or
/// leave it alone.
async fn flap(mut redis: OwnRedis, stop: Arc<AtomicBool>) -> (u64, u64) {
    let (mut kills, mut stops) = (0, 0);
    let mut round = 0u64;
    while !stop.load(Relaxed) {
        tokio::time::sleep(Duration::from_secs(10)).await;
        if stop.load(Relaxed) {
            break;
        }
        round += 1;
        match round % 3 {
            0 => {
                redis.kill();
                kills += 1;
                tokio::time::sleep(Duration::from_secs(2)).await;
                redis = tokio::task::spawn_blocking(move || {
                    redis.restart();
                    redis
                })
                .await
                .expect("the restart");
            }
            1 => {
                redis.signal("STOP");
                stops += 1;
                tokio::time::sleep(Duration::from_millis(1_500)).await;
                redis.signal("CONT");
            }
            _ => {}
        }
    }
    (kills, stops)
}

/// Every 15 s, clears the whole cache.
async fn clear(cache: Cache<u64, u64>, stop: Arc<AtomicBool>, tally: Arc<Tally>) {
    while !stop.load(Relaxed) {
        tokio::time::sleep(Duration::from_secs(15)).await;
        tally.clears.fetch_add(1, Relaxed);
        let _ = cache.invalidate_all().await; // a flapping Redis may refuse
    }
}

/// The statistics' documented identities, for a snapshot taken when nothing runs.
fn identities_hold(s: &Stats) -> bool {
    s.requests == s.hits_fresh + s.hits_stale + s.misses
        && s.loads_started == s.load_successes + s.load_failures
        && s.refreshes_started == s.refreshes_succeeded + s.refreshes_failed
        && s.timeouts + s.panics <= s.load_failures + s.refreshes_failed
        && s.coalesced <= s.misses
}

/// Runs the soak; the rows of its summary. Panics if a property fails.
pub async fn run(args: &Args, opts: &Opts) -> Vec<Row> {
    let seconds = if opts.quick {
        args.seconds.div_ceil(10)
    } else {
        args.seconds
    };
    let duration = Duration::from_secs(seconds);
    // The loaders' deliberate panics are caught and counted; do not print each one.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let deliberate = info
            .payload()
            .downcast_ref::<&str>()
            .is_some_and(|m| m.starts_with("soak: "));
        if !deliberate {
            default_hook(info);
        }
    }));
    let redis = OwnRedis::start();
    if redis.is_none() {
        eprintln!("soak: no redis-server on PATH: memory only, no flapping");
    }
    let cache = cache(redis.as_ref()).await;
    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let workers: Vec<_> = (0..args.workers as u64)
        .map(|id| tokio::spawn(worker(id, cache.clone(), stop.clone(), tally.clone())))
        .collect();
    let flapper = redis.map(|r| tokio::spawn(flap(r, stop.clone())));
    let clearer = tokio::spawn(clear(cache.clone(), stop.clone(), tally.clone()));

    let start = Instant::now();
    let warm_up = duration / 3;
    let mut samples: Vec<(Duration, u64)> = Vec::new();
    while start.elapsed() < duration {
        tokio::time::sleep(Duration::from_secs(5).min(duration)).await;
        samples.push((start.elapsed(), rss()));
        eprintln!(
            "soak: {:>5.0} s, rss {:>6.1} MiB, {} requests, {} in flight",
            start.elapsed().as_secs_f64(),
            rss() as f64 / (1 << 20) as f64,
            tally.requests.load(Relaxed),
            cache.loads_in_flight()
        );
    }
    stop.store(true, Relaxed);
    for w in workers {
        w.await.expect("a worker panicked");
    }
    clearer.abort();
    let (kills, stops) = match flapper {
        Some(f) => f.await.expect("the flapper"),
        None => (0, 0),
    };
    let idle = tokio::time::timeout(Duration::from_secs(30), cache.idle()).await;
    assert!(
        idle.is_ok(),
        "work still running 30 s after the workers stopped"
    );
    let left = cache.loads_in_flight();
    let stats = cache.stats();

    let after: Vec<u64> = samples
        .iter()
        .filter(|(t, _)| *t >= warm_up)
        .map(|&(_, r)| r)
        .collect();
    let base = after.first().copied().unwrap_or(0).max(1);
    let peak = after.iter().copied().max().unwrap_or(0);
    let growth = peak as f64 / base as f64 - 1.0;
    let wrong = tally.wrong.load(Relaxed);
    let row = Row::new("soak", "memocache")
        .field("seconds", seconds)
        .field("workers", args.workers as u64)
        .field(
            "redis",
            if kills + stops > 0 {
                "flapping"
            } else {
                "none"
            },
        )
        .field("redis_kills", kills)
        .field("redis_stops", stops)
        .field("requests", tally.requests.load(Relaxed))
        .field("cancelled", tally.cancelled.load(Relaxed))
        .field("load_errors", tally.load_errors.load(Relaxed))
        .field("other_errors", tally.other_errors.load(Relaxed))
        .field("wrong_values", wrong)
        .field("invalidations", tally.invalidations.load(Relaxed))
        .field("invalidate_alls", tally.clears.load(Relaxed))
        .field("loads", stats.loads_started)
        .field("refreshes", stats.refreshes_started)
        .field("panics", stats.panics)
        .field("tier_errors", stats.tier_errors)
        .field(
            "rss_mib_after_warm_up",
            (base as f64 / (1 << 20) as f64 * 10.0).round() / 10.0,
        )
        .field("rss_growth_pct", (growth * 1000.0).round() / 10.0)
        .field("left_in_flight", left as u64)
        .field("identities", identities_hold(&stats));
    assert_eq!(wrong, 0, "a wrong value was served");
    assert_eq!(
        tally.other_errors.load(Relaxed),
        0,
        "an error other than the loaders' own reached a caller"
    );
    assert_eq!(left, 0, "work left running at the end");
    assert!(
        identities_hold(&stats),
        "statistics do not add up: {stats:?}"
    );
    assert!(
        growth <= 0.10,
        "resident memory grew {:.1} % after the warm-up",
        growth * 100.0
    );
    vec![row]
}
