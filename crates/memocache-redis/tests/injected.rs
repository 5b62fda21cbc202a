//! Fault injection against a real Redis (issue 18): a `redis-server` of our own behind a
//! chain [memory, redis] is stopped (`SIGSTOP`) past the operation timeout, runs out of memory
//! (`maxmemory` + `noeviction`), or answers errors (an ACL that forbids our commands), while
//! requests keep coming; then healed. Each scenario prints its figures: requests and caller
//! errors (0: the tier is fail-open), loader calls, the worst request latency, tier errors
//! and skipped operations, and the time from the heal until Redis is written again. (Killing
//! and restarting the server: `fault.rs`.) Real time: the server's behaviour is real.

mod common;

use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use memocache_core::codec::Codec;
use memocache_core::tier::CircuitBreaker;
use memocache_core::{Cache, Tier};
use memocache_redis::{RedisOptions, RedisStore};

/// The tier's per-operation timeout in these scenarios.
const OP_TIMEOUT: Duration = Duration::from_millis(200);

/// What one scenario measured.
#[derive(Debug)]
struct Figures {
    requests: u64,
    caller_errors: u64,
    loader_calls: u64,
    worst: Duration,
    tier_errors: u64,
    skipped: u64,
    breaker_opened: u64,
    recovered_after: Duration,
}

/// Requests new keys (each a miss: a Redis read, a load, a Redis write) for `fault_for`
/// after `fault()`, then `heal()`s and requests until Redis takes a write again.
async fn under_fault(
    name: &str,
    server: &common::OwnServer,
    fault: impl FnOnce(&common::OwnServer),
    heal: impl FnOnce(&common::OwnServer),
    fault_for: Duration,
) -> Figures {
    let options = RedisOptions {
        connect_timeout: OP_TIMEOUT,
        response_timeout: OP_TIMEOUT,
        reconnect_retries: 1,
        ..Default::default()
    };
    let redis = RedisStore::connect_with(&server.url(), options)
        .await
        .unwrap();
    let cache: Cache<u64, u64> = Cache::builder()
        .capacity(100_000)
        .tier(
            Tier::new(redis.typed(common::namespace("injected", name), Codec::json()))
                .timeout(OP_TIMEOUT)
                .circuit_breaker(CircuitBreaker {
                    failure_threshold: 3,
                    cool_down: Duration::from_millis(500),
                }),
        )
        .build()
        .unwrap();
    let loads = Arc::new(AtomicU64::new(0));
    let (mut next, mut requests, mut caller_errors) = (0u64, 0u64, 0u64);
    let mut worst = Duration::ZERO;
    let mut request = async |cache: &Cache<u64, u64>| {
        next += 1;
        let (k, loads) = (next, loads.clone());
        let start = Instant::now();
        let got = cache
            .get_or_load(k, move || async move {
                loads.fetch_add(1, SeqCst);
                Ok::<_, std::io::Error>(k * 2)
            })
            .await;
        worst = worst.max(start.elapsed());
        requests += 1;
        if got.map(|v| v != k * 2).unwrap_or(true) {
            caller_errors += 1;
        }
    };
    for _ in 0..50 {
        request(&cache).await;
    }
    let writes_before = cache.stats().tiers[0].writes;
    assert_eq!(writes_before, 50, "{name}: healthy at first");

    fault(server);
    let until = Instant::now() + fault_for;
    while Instant::now() < until {
        request(&cache).await;
    }
    let during = cache.stats();
    heal(server);
    let healed = Instant::now();
    let writes_during = during.tiers[0].writes;
    loop {
        request(&cache).await;
        if cache.stats().tiers[0].writes > writes_during {
            break;
        }
        assert!(
            healed.elapsed() < Duration::from_secs(20),
            "{name}: Redis not written again within 20 s of the heal"
        );
        // Real time must pass for the breaker's cool-down.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let recovered_after = healed.elapsed();
    let end = cache.stats();
    let _ = cache.invalidate_all().await;
    let f = Figures {
        requests,
        caller_errors,
        loader_calls: loads.load(SeqCst),
        worst,
        tier_errors: end.tier_errors,
        skipped: end.tiers[0].skipped,
        breaker_opened: end.tiers[0].breaker_opened,
        recovered_after,
    };
    common::loud(&format!(
        "INJECTED FAULT {name}: {} requests, {} caller errors, {} loader calls, worst \
         request {:?} (tier timeout {OP_TIMEOUT:?}), {} tier errors, {} operations skipped, \
         breaker opened {} times; Redis written again {:?} after the heal",
        f.requests,
        f.caller_errors,
        f.loader_calls,
        f.worst,
        f.tier_errors,
        f.skipped,
        f.breaker_opened,
        f.recovered_after
    ));
    f
}

fn own_server(test: &str) -> Option<common::OwnServer> {
    if !common::have("redis-server") || !common::have("redis-cli") {
        common::skip(test, "redis-server / redis-cli not on PATH");
        return None;
    }
    Some(common::OwnServer::start(&[]))
}

/// Every request is answered (by the loader when Redis cannot), each costing at most about
/// one tier timeout, and Redis is used again soon after the heal.
fn assert_fail_open(f: &Figures) {
    assert_eq!(f.caller_errors, 0, "{f:?}");
    assert_eq!(f.loader_calls, f.requests, "every miss loaded once: {f:?}");
    assert!(
        f.worst < 2 * OP_TIMEOUT + Duration::from_millis(500),
        "a request took {:?}: {f:?}",
        f.worst
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_server_costs_a_timeout_per_request_until_the_breaker_opens() {
    let Some(server) = own_server("SIGSTOP") else {
        return;
    };
    let f = under_fault(
        "sigstop",
        &server,
        |s| s.signal("STOP"),
        |s| s.signal("CONT"),
        Duration::from_secs(2),
    )
    .await;
    assert_fail_open(&f);
    assert!(f.breaker_opened >= 1 && f.skipped > 0, "{f:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_out_of_memory_refuses_writes_and_keeps_answering_reads() {
    let Some(server) = own_server("OOM") else {
        return;
    };
    let set = |s: &common::OwnServer, args: &[&str]| {
        assert!(s.cli(args).is_some_and(|o| o.contains("OK")), "{args:?}");
    };
    let f = under_fault(
        "oom",
        &server,
        |s| {
            set(s, &["CONFIG", "SET", "maxmemory-policy", "noeviction"]);
            set(s, &["CONFIG", "SET", "maxmemory", "1"]);
        },
        |s| set(s, &["CONFIG", "SET", "maxmemory", "0"]),
        Duration::from_secs(1),
    )
    .await;
    assert_fail_open(&f);
    assert!(f.tier_errors > 0, "the refused writes are counted: {f:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_answering_errors_is_skipped_then_used_again() {
    let Some(server) = own_server("errors") else {
        return;
    };
    let acl = |s: &common::OwnServer, rule: &str| {
        let out = s.cli(&["ACL", "SETUSER", "default", rule]);
        assert!(out.is_some_and(|o| o.contains("OK")), "ACL {rule}");
    };
    let f = under_fault(
        "errors",
        &server,
        |s| acl(s, "-getrange"),
        |s| acl(s, "+getrange"),
        Duration::from_secs(2),
    )
    .await;
    assert_fail_open(&f);
    assert!(f.breaker_opened >= 1 && f.skipped > 0, "{f:?}");
}
