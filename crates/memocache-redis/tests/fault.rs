//! Fault test: a `redis-server` of our own on a free port behind a chain [memory, redis] is
//! killed mid-run and restarted. Requests keep being answered by the loader (no caller error),
//! tier errors are counted, the circuit breaker skips the dead server, and after the restart
//! Redis is used again. Skips loudly without `redis-server` (fails under `CI`).

mod common;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use memocache_core::codec::Codec;
use memocache_core::tier::CircuitBreaker;
use memocache_core::{Cache, Tier};
use memocache_redis::{RedisOptions, RedisStore};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_and_restarting_redis_never_fails_a_request() {
    if !common::have("redis-server") || !common::have("redis-cli") {
        common::skip("fault test", "redis-server / redis-cli not on PATH");
        return;
    }
    let mut server = common::OwnServer::start(&[]);
    let options = RedisOptions {
        connect_timeout: Duration::from_millis(200),
        response_timeout: Duration::from_millis(200),
        reconnect_retries: 1,
        ..Default::default()
    };
    let redis = RedisStore::connect_with(&server.url(), options)
        .await
        .unwrap();
    let cool_down = Duration::from_millis(200);
    let cache: Cache<u64, u64> = Cache::builder()
        .name("fault")
        .capacity(100_000)
        .tier(
            Tier::new(redis.typed(common::namespace("fault", "f"), Codec::json()))
                .timeout(Duration::from_millis(250))
                .circuit_breaker(CircuitBreaker {
                    failure_threshold: 3,
                    cool_down,
                }),
        )
        .build()
        .unwrap();
    let loads = Arc::new(AtomicUsize::new(0));
    let mut next_key = 0u64;
    let mut request = || {
        let (cache, loads) = (cache.clone(), loads.clone());
        next_key += 1;
        let k = next_key;
        async move {
            let v = cache
                .get_or_load(k, move || async move {
                    loads.fetch_add(1, SeqCst);
                    Ok::<_, std::io::Error>(k * 2)
                })
                .await
                .expect("no request fails while Redis is down");
            assert_eq!(v, k * 2);
            k
        }
    };

    // Up: every load is written to Redis.
    for _ in 0..100 {
        request().await;
    }
    let up = cache.stats();
    assert_eq!(up.tiers[0].writes, 100);
    assert_eq!(up.tier_errors, 0);

    // Down: kill it mid-run; keep requesting.
    server.kill();
    let down_start = Instant::now();
    let mut served_down = 0;
    for _ in 0..300 {
        request().await;
        served_down += 1;
    }
    let down_time = down_start.elapsed();
    let down = cache.stats();
    let errors = down.tier_errors - up.tier_errors;
    let skipped = down.tiers[0].skipped - up.tiers[0].skipped;
    assert!(errors >= 3, "errors counted: {errors}");
    assert!(skipped > 0, "the breaker skipped the dead server");
    assert_eq!(
        down.tiers[0].writes, up.tiers[0].writes,
        "nothing written while down"
    );
    assert_eq!(loads.load(SeqCst), 400, "the loader answered every request");

    // Restart on the same port; keep requesting until Redis takes writes again.
    server.restart();
    let restarted = Instant::now();
    let mut served_recovering = 0;
    let recovered = loop {
        let k = request().await;
        served_recovering += 1;
        if cache.stats().tiers[0].writes > down.tiers[0].writes {
            break k;
        }
        assert!(
            restarted.elapsed() < Duration::from_secs(20),
            "Redis not used again within 20 s of the restart"
        );
        // Real time must pass for the breaker's cool-down and the reconnection.
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let time_to_recover = restarted.elapsed();

    // Redis is used again: the value just written is read back from it, no loader call.
    cache.invalidate_memory(&recovered);
    let before = loads.load(SeqCst);
    let v = cache
        .get_or_load(recovered, || async {
            Err::<u64, _>("must come from Redis")
        })
        .await
        .unwrap();
    assert_eq!(v, recovered * 2);
    assert_eq!(loads.load(SeqCst), before);
    let end = cache.stats();
    assert!(end.tiers[0].hits_fresh >= 1);

    common::loud(&format!(
        "FAULT TEST: up: 100 requests, 100 Redis writes; down: {served_down} requests served \
         in {down_time:?} (0 caller errors), {errors} tier errors counted, {skipped} operations \
         skipped by the open breaker; restarted: Redis written again after \
         {time_to_recover:?} and {served_recovering} requests (cool-down {cool_down:?}), then \
         read back with no loader call; whole run: {} tier errors ({} timeouts), {} skipped, \
         breaker opened {} times, {} loader calls, 0 caller errors",
        end.tier_errors,
        end.tiers[0].timeouts,
        end.tiers[0].skipped,
        end.tiers[0].breaker_opened,
        loads.load(SeqCst)
    ));
    cache.invalidate_all().await.expect("clean up");
}

/// A server that stops answering (`CLIENT PAUSE`) costs each request at most the tier's
/// timeout until the breaker opens; then the tier is skipped. With `OnError::Propagate` the
/// same failure reaches the caller as `Error::Storage`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_server_times_out_then_is_skipped_or_reported() {
    use memocache_core::storage::StorageError;
    use memocache_core::tier::OnError;
    use memocache_core::Error;

    if !common::have("redis-server") || !common::have("redis-cli") {
        common::skip(
            "hanging-server test",
            "redis-server / redis-cli not on PATH",
        );
        return;
    }
    let server = common::OwnServer::start(&[]);
    let redis = RedisStore::connect(&server.url()).await.unwrap();
    let tier = |on_error| {
        Tier::new(redis.typed(common::namespace("hang", "h"), Codec::json()))
            .timeout(Duration::from_millis(200))
            .on_error(on_error)
            .circuit_breaker(CircuitBreaker {
                failure_threshold: 2,
                cool_down: Duration::from_secs(60),
            })
    };
    let skip: Cache<u64, u64> = Cache::builder().tier(tier(OnError::Skip)).build().unwrap();
    let report: Cache<u64, u64> = Cache::builder()
        .tier(tier(OnError::Propagate))
        .build()
        .unwrap();
    // Both work while the server answers.
    skip.get_or_load(0, || async { Ok::<_, String>(0) })
        .await
        .unwrap();
    report
        .get_or_load(0, || async { Ok::<_, String>(0) })
        .await
        .unwrap();

    // Long enough for the ~1 s below on a loaded machine; the server is killed at the end.
    assert!(server.cli(&["client", "pause", "5000", "ALL"]).is_some());
    let start = Instant::now();
    for k in 1..=20u64 {
        let v = skip
            .get_or_load(k, move || async move { Ok::<_, String>(k) })
            .await;
        assert_eq!(v.unwrap(), k, "the loader answers while the server hangs");
    }
    let elapsed = start.elapsed();
    let s = skip.stats();
    assert_eq!(
        s.tiers[0].timeouts, 2,
        "two reads timed out (their writes skipped), then the breaker opened"
    );
    assert_eq!(
        s.tiers[0].skipped, 38,
        "the 19 requests after that skipped the tier"
    );

    let e = report
        .get_or_load(1, || async { Ok::<_, String>(1) })
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::Storage(StorageError::Timeout(_))),
        "{e:?}"
    );
    let e = report
        .get_or_load(2, || async { Ok::<_, String>(2) })
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::Storage(StorageError::Timeout(_))),
        "{e:?}"
    );
    let e = report
        .get_or_load(3, || async { Ok::<_, String>(3) })
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::Storage(StorageError::CircuitOpen)),
        "{e:?}"
    );
    common::loud(&format!(
        "HANGING SERVER: 20 requests answered in {elapsed:?} with a 200 ms tier timeout \
         (2 timeouts, then 38 operations skipped by the breaker); with OnError::Propagate the \
         caller got Error::Storage(Timeout) twice, then Error::Storage(CircuitOpen)"
    ));
}
