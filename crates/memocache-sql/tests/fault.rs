//! Fault test: the machine's PostgreSQL behind a chain [memory, postgres] is stopped mid-run
//! (`pg_ctlcluster … stop`) and started again. Requests keep being answered by the loader (no
//! caller error), tier errors are counted, the circuit breaker skips the dead server, and
//! after the restart the pool reconnects and the table is used again. The cluster is started
//! again however the test ends. Skips loudly without `pg_ctlcluster` or a reachable server
//! (fails under `CI`). Alone in its test binary, so no other test of this crate sees the
//! server go away.

mod common;

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::Db;
use memocache_core::codec::Codec;
use memocache_core::key::Namespace;
use memocache_core::tier::CircuitBreaker;
use memocache_core::{Cache, Tier};
use memocache_sql::SqlOptions;

/// The cluster's version directory under /etc/postgresql (e.g. `17`).
fn cluster_version() -> Option<String> {
    let mut versions: Vec<String> = std::fs::read_dir("/etc/postgresql")
        .ok()?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    versions.sort();
    versions.into_iter().next()
}

fn pg_ctlcluster(version: &str, action: &str) -> bool {
    Command::new("pg_ctlcluster")
        .args(["--skip-systemctl-redirect", version, "main", action])
        .status()
        .is_ok_and(|s| s.success())
}

/// Starts the cluster again when dropped (a failed assertion included), and waits until it
/// accepts connections.
struct Restart(String);

impl Restart {
    fn start(&self) {
        pg_ctlcluster(&self.0, "start");
        let deadline = Instant::now() + Duration::from_secs(30);
        while !Command::new("pg_isready")
            .args(["-h", "127.0.0.1", "-p", "5432"])
            .status()
            .is_ok_and(|s| s.success())
        {
            assert!(
                Instant::now() < deadline,
                "PostgreSQL did not come back within 30 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Restart {
    fn drop(&mut self) {
        self.start();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_and_restarting_postgres_never_fails_a_request() {
    let Some(version) = cluster_version().filter(|_| common_have("pg_ctlcluster")) else {
        common::skip(
            "postgres fault test",
            "pg_ctlcluster or /etc/postgresql not found",
        );
        return;
    };
    let options = SqlOptions::default()
        .pool_size(4)
        .timeouts(Duration::from_secs(5), Duration::from_millis(200));
    let Some(store) = common::open("fault", Db::Postgres, options).await else {
        return;
    };
    let cool_down = Duration::from_millis(200);
    let cache: Cache<u64, u64> = Cache::builder()
        .name("fault")
        .capacity(100_000)
        .tier(
            Tier::new(store.typed(Namespace::new("f").prefix("sqlfault"), Codec::json()))
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
                .expect("no request fails while PostgreSQL is down");
            assert_eq!(v, k * 2);
            k
        }
    };

    // Up: every load is written to the table.
    for _ in 0..100 {
        request().await;
    }
    let up = cache.stats();
    assert_eq!(up.tiers[0].writes, 100);
    assert_eq!(up.tier_errors, 0);

    // Down: stop the cluster mid-run; keep requesting.
    let restart = Restart(version.clone());
    assert!(pg_ctlcluster(&version, "stop"), "pg_ctlcluster stop");
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

    // Start it again; keep requesting until the table takes writes again.
    restart.start();
    let restarted = Instant::now();
    let mut served_recovering = 0;
    let recovered = loop {
        let k = request().await;
        served_recovering += 1;
        if cache.stats().tiers[0].writes > down.tiers[0].writes {
            break k;
        }
        assert!(
            restarted.elapsed() < Duration::from_secs(30),
            "PostgreSQL not used again within 30 s of the restart"
        );
        // Real time must pass for the breaker's cool-down and the reconnection.
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let time_to_recover = restarted.elapsed();

    // The table is used again: the value just written is read back, no loader call.
    cache.invalidate_memory(&recovered);
    let before = loads.load(SeqCst);
    let v = cache
        .get_or_load(recovered, || async {
            Err::<u64, _>("must come from PostgreSQL")
        })
        .await
        .unwrap();
    assert_eq!(v, recovered * 2);
    assert_eq!(loads.load(SeqCst), before);
    let end = cache.stats();
    assert!(end.tiers[0].hits_fresh >= 1);
    common::loud(&format!(
        "POSTGRES FAULT TEST: up: 100 requests, 100 writes to the table; stopped: \
         {served_down} requests served in {down_time:?} (0 caller errors), {errors} tier \
         errors counted, {skipped} operations skipped by the open breaker; started again: \
         the table written again after {time_to_recover:?} and {served_recovering} requests \
         (cool-down {cool_down:?}), then read back with no loader call; whole run: {} tier \
         errors ({} timeouts), {} skipped, breaker opened {} times, {} loader calls, 0 \
         caller errors",
        end.tier_errors,
        end.tiers[0].timeouts,
        end.tiers[0].skipped,
        end.tiers[0].breaker_opened,
        loads.load(SeqCst)
    ));
    drop(restart);
    store.finish().await;
}

fn common_have(bin: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {bin}")])
        .output()
        .is_ok_and(|o| o.status.success())
}
