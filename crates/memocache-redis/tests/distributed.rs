//! Distributed caches over the shared Redis: cross-process single flight (4 OS processes — this
//! test binary run again with `MEMOCACHE_DIST_CHILD` set — each with 1,000 concurrent
//! requests for one missing key: one loader call in all, counted in Redis), a holder killed
//! with SIGKILL mid-load (replaced once its lease expires: 2 loader calls, nobody waits past
//! the method timeout), and invalidations reaching the other instances' memory (p50/p99
//! printed). Each run uses its own prefix and deletes its keys. Unreachable server: loud SKIP,
//! or failure under `CI`.

mod common;

use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use memocache_core::codec::Codec;
use memocache_core::key::Namespace;
use memocache_core::{Cache, Distributed, RemovalCause, Tier};
use memocache_redis::redis::{self, aio::MultiplexedConnection};
use memocache_redis::RedisStore;

const CHILD: &str = "MEMOCACHE_DIST_CHILD";
const PREFIX: &str = "MEMOCACHE_DIST_PREFIX";
const REQUESTS: usize = 1_000;

async fn admin() -> MultiplexedConnection {
    redis::Client::open(common::redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// The cache every process builds: memory, the Redis tier, a lease of `lease`.
fn cache(redis: &RedisStore, prefix: &str, lease: Duration) -> Cache<u64, String> {
    let ns = Namespace::new("dist").prefix(prefix);
    Cache::builder()
        .name("stampede")
        .method_timeout(Duration::from_secs(5))
        .tier(Tier::new(redis.typed(ns.clone(), Codec::json())))
        .distributed(
            Distributed::new(Arc::new(redis.clone()), ns)
                .lease(lease)
                .poll(Duration::from_millis(50)),
        )
        .build()
        .unwrap()
}

/// A child process: waits until `processes` children are ready, then sends 1,000 concurrent
/// requests for key 1 whose loader counts itself in Redis (`{prefix}:calls`) and takes
/// `load_ms`; prints `ANSWERED <n> MAXWAIT_MS <ms>`.
async fn child(prefix: String, processes: u64, load_ms: u64) {
    let redis = RedisStore::connect(&common::redis_url()).await.unwrap();
    let cache = cache(&redis, &prefix, Duration::from_secs(1));
    cache.subscribed().await;
    let mut c = admin().await;
    // The test's own keys expire even if it fails before its cleanup.
    let (_, _): (i64, i64) = redis::pipe()
        .cmd("INCR")
        .arg(format!("{prefix}:ready"))
        .cmd("EXPIRE")
        .arg(format!("{prefix}:ready"))
        .arg(600)
        .query_async(&mut c)
        .await
        .unwrap();
    loop {
        let ready: Option<u64> = redis::cmd("GET")
            .arg(format!("{prefix}:ready"))
            .query_async(&mut c)
            .await
            .unwrap();
        if ready >= Some(processes) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let calls_key = format!("{prefix}:calls");
    let requests = (0..REQUESTS).map(|_| {
        let (cache, calls_key) = (cache.clone(), calls_key.clone());
        tokio::spawn(async move {
            let start = Instant::now();
            let v = cache
                .get_or_load(1, move || async move {
                    let mut c = admin().await;
                    let (_, _): (i64, i64) = redis::pipe()
                        .cmd("INCR")
                        .arg(&calls_key)
                        .cmd("EXPIRE")
                        .arg(&calls_key)
                        .arg(600)
                        .query_async(&mut c)
                        .await
                        .unwrap();
                    tokio::time::sleep(Duration::from_millis(load_ms)).await;
                    Ok::<_, std::io::Error>("v".to_string())
                })
                .await;
            (v.ok(), start.elapsed())
        })
    });
    let mut answered = 0;
    let mut max_wait = Duration::ZERO;
    for r in futures_util::future::join_all(requests).await {
        let (v, waited) = r.unwrap();
        answered += usize::from(v.as_deref() == Some("v"));
        max_wait = max_wait.max(waited);
    }
    println!("ANSWERED {answered} MAXWAIT_MS {}", max_wait.as_millis());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_process() {
    let Ok(mode) = std::env::var(CHILD) else {
        return; // run only as a child
    };
    let prefix = std::env::var(PREFIX).unwrap();
    match mode.as_str() {
        "stampede" => child(prefix, 4, 300).await,
        // The holder: its load outlasts the test (it is killed).
        "holder" => child(prefix, 1, 60_000).await,
        "waiter" => child(prefix, 1, 100).await,
        other => panic!("unknown child mode {other}"),
    }
}

fn spawn_child(mode: &str, prefix: &str) -> tokio::process::Child {
    tokio::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_process",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(CHILD, mode)
        .env(PREFIX, prefix)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

/// `(answered, max wait)` from a child's output.
async fn report(child: tokio::process::Child) -> (usize, Duration) {
    let out = child.wait_with_output().await.unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let at = text
        .find("ANSWERED")
        .unwrap_or_else(|| panic!("no report from the child: {text}"));
    let parts: Vec<&str> = text[at..].split_whitespace().collect();
    (
        parts[1].parse().unwrap(),
        Duration::from_millis(parts[3].parse().unwrap()),
    )
}

async fn cleanup(c: &mut MultiplexedConnection, prefix: &str) {
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(c)
        .await
        .unwrap();
    if !keys.is_empty() {
        let _: i64 = redis::cmd("DEL").arg(keys).query_async(c).await.unwrap();
    }
}

async fn calls(c: &mut MultiplexedConnection, prefix: &str) -> u64 {
    let n: Option<u64> = redis::cmd("GET")
        .arg(format!("{prefix}:calls"))
        .query_async(c)
        .await
        .unwrap();
    n.unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_processes_of_1000_requests_make_one_loader_call() {
    if std::env::var_os(CHILD).is_some() || common::connect("four_processes").await.is_none() {
        return;
    }
    let prefix = common::unique_prefix("dist-stampede");
    let children: Vec<_> = (0..4).map(|_| spawn_child("stampede", &prefix)).collect();
    let mut answered = 0;
    for child in children {
        answered += report(child).await.0;
    }
    let mut c = admin().await;
    let loader_calls = calls(&mut c, &prefix).await;
    common::loud(&format!(
        "DISTRIBUTED SINGLE FLIGHT: 4 processes x {REQUESTS} concurrent requests for one missing key: {answered} answered, {loader_calls} loader call(s) in all (counted in Redis)"
    ));
    cleanup(&mut c, &prefix).await;
    assert_eq!(answered, 4 * REQUESTS);
    assert_eq!(loader_calls, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_killed_mid_load_is_replaced_when_its_lease_expires() {
    if std::env::var_os(CHILD).is_some() || common::connect("killed_holder").await.is_none() {
        return;
    }
    let prefix = common::unique_prefix("dist-kill");
    let mut c = admin().await;
    let mut holder = spawn_child("holder", &prefix);
    // The holder has the lease once its loader has counted itself.
    let start = Instant::now();
    while calls(&mut c, &prefix).await == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the holder never loaded"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let waiters: Vec<_> = (0..3).map(|_| spawn_child("waiter", &prefix)).collect();
    // Let the waiters find the lease held (they wait whatever the timing: the holder keeps
    // extending it until it dies).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let killed_at = Instant::now();
    holder.start_kill().unwrap();
    let _ = holder.wait().await;
    let mut answered = 0;
    let mut max_wait = Duration::ZERO;
    for w in waiters {
        let (n, waited) = report(w).await;
        answered += n;
        max_wait = max_wait.max(waited);
    }
    let after_kill = killed_at.elapsed();
    let loader_calls = calls(&mut c, &prefix).await;
    common::loud(&format!(
        "KILLED HOLDER: the holder SIGKILLed mid-load; 3 processes x {REQUESTS} requests answered {answered}; {loader_calls} loader calls in all; longest request {max_wait:?} (method timeout 5 s, lease 1 s); all answered {after_kill:?} after the kill"
    ));
    cleanup(&mut c, &prefix).await;
    assert_eq!(answered, 3 * REQUESTS);
    assert_eq!(loader_calls, 2);
    assert!(max_wait < Duration::from_secs(5), "{max_wait:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalidations_reach_every_other_instance_s_memory() {
    if std::env::var_os(CHILD).is_some() {
        return;
    }
    let Some(first) = common::connect("dist_invalidation").await else {
        return;
    };
    let prefix = common::unique_prefix("dist-inval");
    let ns = Namespace::new("inval").prefix(&prefix);
    // Each observer records when each key leaves its memory by an invalidation.
    type Seen = Arc<Mutex<Vec<(u64, Instant)>>>;
    let build = |redis: &RedisStore, seen: Option<Seen>| -> Cache<u64, String> {
        let mut b = Cache::builder()
            .tier(Tier::new(redis.typed(ns.clone(), Codec::json())))
            .distributed(Distributed::new(Arc::new(redis.clone()), ns.clone()));
        if let Some(seen) = seen {
            b = b.eviction_listener(move |k: u64, _v: String, cause| {
                if cause == RemovalCause::Explicit {
                    seen.lock().unwrap().push((k, Instant::now()));
                }
            });
        }
        b.build().unwrap()
    };
    let origin = build(&first, None);
    let mut observers = Vec::new();
    for _ in 0..3 {
        let redis = common::connect("dist_invalidation").await.unwrap();
        let seen: Seen = Arc::default();
        let cache = build(&redis, Some(Arc::clone(&seen)));
        cache.subscribed().await;
        observers.push((cache, seen));
    }
    origin.subscribed().await;
    let loads = Arc::new(AtomicU64::new(0));
    let mut latencies = Vec::new();
    const N: u64 = 1_000;
    for k in 0..N {
        let loads = Arc::clone(&loads);
        origin
            .get_or_load(k, move || async move {
                loads.fetch_add(1, SeqCst);
                Ok::<_, std::io::Error>(format!("v{k}"))
            })
            .await
            .unwrap();
        for (o, _) in &observers {
            assert_eq!(o.get(&k).await.as_deref(), Some(format!("v{k}").as_str()));
        }
        let sent = Instant::now();
        origin.invalidate(&k).await.unwrap();
        for (o, seen) in &observers {
            let deadline = Instant::now() + Duration::from_secs(5);
            let at = loop {
                if let Some(&(_, at)) = seen.lock().unwrap().iter().find(|(key, _)| *key == k) {
                    break at;
                }
                assert!(Instant::now() < deadline, "key {k} never left an observer");
                tokio::time::sleep(Duration::from_micros(200)).await;
            };
            latencies.push(at.saturating_duration_since(sent));
            assert_eq!(o.len(), 0, "the observer's memory no longer has key {k}");
        }
    }
    latencies.sort();
    let p = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    common::loud(&format!(
        "INVALIDATION LATENCY: {N} invalidations x 3 observers (own connections): p50 {:?}, p99 {:?}, max {:?}; {} loader calls",
        p(0.5),
        p(0.99),
        latencies.last().unwrap(),
        loads.load(SeqCst)
    ));
    assert_eq!(
        loads.load(SeqCst),
        N,
        "observers read the origin's values from Redis"
    );
    let stats = observers[0].0.distributed_stats().unwrap();
    assert_eq!(stats.events_applied, N);
    origin.invalidate_all().await.unwrap();
    let mut c = admin().await;
    cleanup(&mut c, &prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_seeing_one_stale_entry_make_one_refresh() {
    if std::env::var_os(CHILD).is_some() {
        return;
    }
    let Some(first) = common::connect("dist_refresh").await else {
        return;
    };
    let prefix = common::unique_prefix("dist-refresh");
    let ns = Namespace::new("refresh").prefix(&prefix);
    let build = |redis: &RedisStore| -> Cache<u64, String> {
        Cache::builder()
            .update_after(Duration::from_millis(300))
            .expire_after(Duration::from_secs(60))
            .tier(Tier::new(redis.typed(ns.clone(), Codec::json())))
            .distributed(
                Distributed::new(Arc::new(redis.clone()), ns.clone())
                    .poll(Duration::from_millis(20)),
            )
            .build()
            .unwrap()
    };
    let mut caches = vec![build(&first)];
    for _ in 0..3 {
        caches.push(build(&common::connect("dist_refresh").await.unwrap()));
    }
    for c in &caches {
        c.subscribed().await;
    }
    let loads = Arc::new(AtomicU64::new(0));
    let loader = |loads: Arc<AtomicU64>| {
        move || async move {
            let n = loads.fetch_add(1, SeqCst) + 1;
            tokio::time::sleep(Duration::from_millis(100)).await;
            Ok::<_, std::io::Error>(format!("v{n}"))
        }
    };
    for c in &caches {
        assert_eq!(
            c.get_or_load(7, loader(Arc::clone(&loads))).await.unwrap(),
            "v1"
        );
    }
    // Past update_after (wall-clock deadlines: real time must pass), every instance serves the
    // stale value at once and wants a refresh; one of them gets the lease.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let stale = caches
        .iter()
        .map(|c| c.get_or_load(7, loader(Arc::clone(&loads))));
    for v in futures_util::future::join_all(stale).await {
        assert_eq!(v.unwrap(), "v1");
    }
    for c in &caches {
        c.idle().await;
    }
    assert_eq!(
        loads.load(SeqCst),
        2,
        "one load, one refresh for four instances"
    );
    for c in &caches {
        assert_eq!(
            c.get(&7).await.as_deref(),
            Some("v2"),
            "every instance has the refreshed value"
        );
    }
    caches[0].invalidate_all().await.unwrap();
    let mut c = admin().await;
    cleanup(&mut c, &prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_down_each_process_falls_back_to_its_own_single_flight() {
    if std::env::var_os(CHILD).is_some() {
        return;
    }
    let down = RedisStore::connect_lazy(
        &format!("redis://127.0.0.1:{}", common::free_port()),
        memocache_redis::RedisOptions::default(),
    )
    .unwrap();
    let cache = cache(&down, "unreachable", Duration::from_secs(1));
    let loads = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let requests = (0..100).map(|_| {
        let (cache, loads) = (cache.clone(), Arc::clone(&loads));
        async move {
            cache
                .get_or_load(1, move || async move {
                    loads.fetch_add(1, SeqCst);
                    Ok::<_, std::io::Error>("local".to_string())
                })
                .await
        }
    });
    for v in futures_util::future::join_all(requests).await {
        assert_eq!(v.unwrap(), "local", "never an error");
    }
    let took = start.elapsed();
    let stats = cache.distributed_stats().unwrap();
    common::loud(&format!(
        "REDIS DOWN: 100 concurrent requests answered in {took:?} by {} local load(s); lease fallbacks {}",
        loads.load(SeqCst),
        stats.fallbacks
    ));
    assert_eq!(
        loads.load(SeqCst),
        1,
        "this process's single flight still holds"
    );
    assert!(stats.fallbacks >= 1);
    // Not a speed target: a bound that a hang (waiting on the server) would break.
    assert!(took < Duration::from_secs(10), "{took:?}");
}

static NAMES: std::sync::LazyLock<memocache_core::Scope<u64>> =
    std::sync::LazyLock::new(|| memocache_core::Scope::new("dist::names"));
static EMAILS: std::sync::LazyLock<memocache_core::Scope<u64>> =
    std::sync::LazyLock::new(|| memocache_core::Scope::new("dist::emails"));

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_distributed_shared_cache_sends_scoped_invalidations() {
    use memocache_core::Scoped;
    if std::env::var_os(CHILD).is_some() {
        return;
    }
    let Some(first) = common::connect("dist_scoped").await else {
        return;
    };
    let prefix = common::unique_prefix("dist-scoped");
    let ns = Namespace::new("shared").prefix(&prefix);
    let build = |redis: &RedisStore| -> Cache<Scoped<u64>, String> {
        let cache = Cache::builder()
            .tier(Tier::new(redis.typed(ns.clone(), Codec::json())))
            .distributed(Distributed::new(Arc::new(redis.clone()), ns.clone()))
            .build()
            .unwrap();
        cache.join_scope(&NAMES);
        cache.join_scope(&EMAILS);
        cache
    };
    let (a, b) = (
        build(&first),
        build(&common::connect("dist_scoped").await.unwrap()),
    );
    a.subscribed().await;
    b.subscribed().await;
    let value = |v: String| move || async move { Ok::<_, std::io::Error>(v) };
    for k in 0..3 {
        for (scope, what) in [(&NAMES, "name"), (&EMAILS, "email")] {
            let v = a
                .get_or_load(Scoped::new(scope, k), value(format!("{what} {k}")))
                .await
                .unwrap();
            assert_eq!(b.get(&Scoped::new(scope, k)).await, Some(v));
        }
    }
    assert_eq!(b.len(), 6);
    let wait_for = |len: usize| {
        let b = b.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(5);
            while b.len() != len {
                assert!(
                    Instant::now() < deadline,
                    "b still holds {} entries",
                    b.len()
                );
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    };
    // One key: its event carries the scope's name and the key.
    a.invalidate(&Scoped::new(&NAMES, 0)).await.unwrap();
    wait_for(5).await;
    assert_eq!(
        b.get(&Scoped::new(&EMAILS, 0)).await.as_deref(),
        Some("email 0")
    );
    // A whole scope (a memoized function's invalidate_all): one tags event.
    a.invalidate_scope(&NAMES).await.unwrap();
    wait_for(3).await;
    for k in 0..3 {
        assert_eq!(
            b.get(&Scoped::new(&EMAILS, k)).await,
            Some(format!("email {k}"))
        );
    }
    a.invalidate_all().await.unwrap();
    let mut c = admin().await;
    cleanup(&mut c, &prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_subscription_clears_the_memory_when_it_is_back() {
    if std::env::var_os(CHILD).is_some() {
        return;
    }
    if !common::have("redis-server") {
        common::skip("resubscription", "redis-server not on PATH");
        return;
    }
    // A server of our own, restarted under the subscription.
    let mut server = common::OwnServer::start(&[]);
    let redis = RedisStore::connect(&server.url()).await.unwrap();
    let cache = cache(&redis, "resubscribe", Duration::from_secs(1));
    cache.subscribed().await;
    cache
        .get_or_load(1, || async { Ok::<_, std::io::Error>("v".to_string()) })
        .await
        .unwrap();
    assert_eq!(cache.len(), 1);
    server.kill();
    server.restart();
    // Events sent while it was away are lost: once subscribed again, the memory is cleared.
    let deadline = Instant::now() + Duration::from_secs(20);
    while cache.distributed_stats().unwrap().resubscriptions == 0 {
        assert!(Instant::now() < deadline, "never resubscribed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(cache.len(), 0, "memory cleared after the resubscription");
    common::loud(
        "RESUBSCRIPTION: the subscription came back after a server restart; memory cleared",
    );
}
