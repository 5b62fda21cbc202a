//! Reliability against a real Redis (issue 18): a clear that must walk millions of other
//! keys finishes and reports; values that cannot be encoded are the caller's data and never
//! trip the circuit breaker. Each test runs a `redis-server` of its own on a free port
//! (skips loudly without one; fails under `CI`).

mod common;

use std::time::{Duration, Instant};

use memocache_core::codec::{Codec, Format};
use memocache_core::{Cache, Tier};
use memocache_redis::RedisStore;

fn own_server(test: &str, extra: &[&str]) -> Option<common::OwnServer> {
    if !common::have("redis-server") || !common::have("redis-cli") {
        common::skip(test, "redis-server / redis-cli not on PATH");
        return None;
    }
    Some(common::OwnServer::start(extra))
}

/// 100 entries of ours among 2,000,000 other keys, and a tier timeout of 20 ms: the clear
/// walks the whole keyspace (`SCAN` in steps of 1,000, each under the client's own response
/// timeout), which takes far longer than 20 ms. It used to run under the tier's timeout as a
/// whole, was cut off, and returned `()`: most of the namespace stayed and was served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalidate_all_among_millions_of_other_keys_clears_everything_and_says_so() {
    let Some(server) = own_server("large clear", &["--enable-debug-command", "yes"]) else {
        return;
    };
    let populated = server.cli(&["DEBUG", "POPULATE", "2000000", "other"]);
    assert_eq!(
        populated.as_deref().map(str::trim),
        Some("OK"),
        "DEBUG POPULATE"
    );
    let redis = RedisStore::connect(&server.url()).await.unwrap();
    let cache: Cache<u64, u64> = Cache::builder()
        .name("large-clear")
        .tier(
            Tier::new(redis.typed(common::namespace("clear", "c"), Codec::json()))
                .timeout(Duration::from_millis(20)),
        )
        .build()
        .unwrap();
    for k in 0..100 {
        cache.insert(k, k).await;
    }
    let start = Instant::now();
    cache.invalidate_all().await.expect("the clear finishes");
    let took = start.elapsed();
    common::loud(&format!(
        "large clear: 100 of ours among 2,000,000 keys cleared in {took:?} (tier timeout 20 ms)"
    ));
    let dbsize = server.cli(&["DBSIZE"]).unwrap();
    assert_eq!(dbsize.trim(), "2000000", "ours gone, the others kept");
    assert!(
        took > Duration::from_millis(20),
        "the walk outlasts the tier timeout"
    );
    for k in 0..100 {
        let loaded = cache
            .get_or_load(k, move || async move { Ok::<u64, std::io::Error>(k + 1) })
            .await
            .unwrap();
        assert_eq!(
            loaded,
            k + 1,
            "key {k} was reloaded, not read back from Redis"
        );
    }
}

/// A value too large for the codec's limit cannot be written. That used to count as the
/// server failing: three such writes opened the breaker, and healthy keys stopped being read
/// from Redis. Now it is an `encode_errors` count, and Redis keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_that_cannot_be_encoded_never_open_the_breaker() {
    let Some(server) = own_server("encode errors", &[]) else {
        return;
    };
    let redis = RedisStore::connect(&server.url()).await.unwrap();
    let codec = Codec::new(Format::Json, Default::default()).max_size(64);
    let tier = Tier::new(redis.typed(common::namespace("encode", "e"), codec));
    let cache: Cache<u64, String> = Cache::builder().tier(tier).build().unwrap();
    cache.insert(1, "small".into()).await;
    for k in 100..110 {
        let huge = "x".repeat(1_000);
        let got = cache
            .get_or_load(k, move || async move { Ok::<_, std::io::Error>(huge) })
            .await
            .unwrap();
        assert_eq!(got.len(), 1_000, "the caller still gets its value");
    }
    // Writes alone, one after another (no successful read in between to reset the count).
    for k in 200..205 {
        cache.insert(k, "y".repeat(1_000)).await;
    }
    let t = &cache.stats().tiers[0];
    assert_eq!(
        (t.encode_errors, t.errors, t.breaker_opened),
        (15, 0, 0),
        "{t:?}"
    );
    // Redis still answers: a healthy key is read back from it after memory forgets it.
    cache.invalidate_memory(&1);
    assert_eq!(cache.get(&1).await.as_deref(), Some("small"));
    assert_eq!(cache.stats().tiers[0].hits_fresh, 1);
}

/// A cache can be built while its Redis is down (`connect_lazy`): requests are served by the
/// loader meanwhile (the tier's failures counted, its breaker skipping it), and once the
/// server comes up the tier is used without anything being rebuilt. (`connect` refuses to
/// build a store of a server that is down.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cache_built_while_redis_is_down_uses_it_once_it_is_up() {
    if !common::have("redis-server") || !common::have("redis-cli") {
        common::skip("lazy connect", "redis-server / redis-cli not on PATH");
        return;
    }
    let port = common::free_port();
    let url = format!("redis://127.0.0.1:{port}");
    let options = memocache_redis::RedisOptions {
        connect_timeout: Duration::from_millis(200),
        response_timeout: Duration::from_millis(200),
        reconnect_retries: 0,
        ..Default::default()
    };
    assert!(
        RedisStore::connect_with(&url, options).await.is_err(),
        "nothing listens yet"
    );
    let redis = RedisStore::connect_lazy(&url, options).unwrap();
    let cache: Cache<u64, u64> = Cache::builder()
        .tier(
            Tier::new(redis.typed(common::namespace("lazy", "l"), Codec::json()))
                .timeout(Duration::from_millis(300))
                .circuit_breaker(memocache_core::tier::CircuitBreaker {
                    failure_threshold: 2,
                    cool_down: Duration::from_millis(200),
                }),
        )
        .build()
        .unwrap();
    for k in 0..5 {
        let v = cache
            .get_or_load(k, move || async move { Ok::<_, std::io::Error>(k) })
            .await
            .unwrap();
        assert_eq!(v, k, "served by the loader while Redis is down");
    }
    assert!(cache.stats().tier_errors >= 2);
    let server = common::OwnServer::start_on(port, &[]);
    let up = Instant::now();
    let mut k = 100;
    while cache.stats().tiers[0].writes == 0 {
        assert!(up.elapsed() < Duration::from_secs(10), "Redis never used");
        cache
            .get_or_load(k, move || async move { Ok::<_, std::io::Error>(k) })
            .await
            .unwrap();
        k += 1;
        tokio::time::sleep(Duration::from_millis(20)).await; // the breaker's cool-down
    }
    common::loud(&format!(
        "LAZY CONNECT: built while Redis was down; Redis written {:?} after it came up",
        up.elapsed()
    ));
    assert!(server.cli(&["DBSIZE"]).is_some_and(|n| n.trim() != "0"));
}
