//! Every example of `examples/`, run through its `run` function (each example file is included
//! as a module, so no nested cargo is needed) and checked on what it prints.

#![cfg(feature = "macros")]

use std::time::Duration;

#[allow(dead_code)]
#[path = "../examples/basic.rs"]
mod basic;
#[allow(dead_code)]
#[path = "../examples/case_insensitive_key.rs"]
mod case_insensitive_key;
#[allow(dead_code)]
#[path = "../examples/custom_configuration.rs"]
mod custom_configuration;
#[allow(dead_code)]
#[path = "../examples/default_configuration.rs"]
mod default_configuration;
#[allow(dead_code)]
#[path = "../examples/default_customized_configuration.rs"]
mod default_customized_configuration;
#[allow(dead_code)]
#[path = "../examples/dogpiling.rs"]
mod dogpiling;
#[allow(dead_code)]
#[path = "../examples/granular_ttl.rs"]
mod granular_ttl;
#[allow(dead_code)]
#[path = "../examples/invalidation.rs"]
mod invalidation;
#[allow(dead_code)]
#[path = "../examples/max_hits.rs"]
mod max_hits;
#[cfg(feature = "node")]
#[allow(dead_code)]
#[path = "../examples/nodes.rs"]
mod nodes;
#[cfg(feature = "metrics")]
#[allow(dead_code)]
#[path = "../examples/prometheus.rs"]
mod prometheus;
#[allow(dead_code)]
#[path = "../examples/zones.rs"]
mod zones;

/// Runs `run` and returns its output lines.
async fn lines<F, Fut, T>(run: F) -> Vec<String>
where
    F: FnOnce(Vec<u8>) -> Fut,
    Fut: std::future::Future<Output = (Vec<u8>, std::io::Result<T>)>,
{
    let (out, result) = run(Vec::new()).await;
    result.expect("the example failed");
    String::from_utf8(out)
        .expect("utf-8 output")
        .lines()
        .map(str::to_string)
        .collect()
}

macro_rules! output {
    ($name:ident) => {
        lines(|mut out| async move {
            let r = $name::run(&mut out).await;
            (out, r)
        })
        .await
    };
}

#[tokio::test]
async fn basic_serves_the_first_value_twice_more() {
    let out = output!(basic);
    assert_eq!(out.len(), 3);
    assert!(out[0].starts_with("expensive-computation-"), "{out:?}");
    assert!(out.iter().all(|l| *l == out[0]), "{out:?}");
}

#[tokio::test]
async fn default_configuration_shows_py_memoizes_defaults() {
    let out = output!(default_configuration);
    assert_eq!(out[0], "dummy");
    // The default name is the function's path (here the example is a module of this test).
    assert!(out[1].ends_with("default_configuration::cached"), "{out:?}");
    assert_eq!(out[2], "capacity: 4096");
    assert!(
        out[3].contains("update_after: 600s, expire_after: 1800s"),
        "{out:?}"
    );
    assert!(out[3].contains("LeastRecentlyUpdated"), "{out:?}");
}

#[tokio::test]
async fn default_customized_configuration_applies_the_options() {
    let out = output!(default_customized_configuration);
    assert_eq!(out[0], "dummy");
    assert!(out[1].contains("capacity: 4096"), "{out:?}");
    assert!(out[1].contains("method_timeout: 120s"), "{out:?}");
    assert!(
        out[1].contains("update_after: 600s, expire_after: 1800s"),
        "{out:?}"
    );
}

#[tokio::test]
async fn custom_configuration_overrides_everything() {
    let out = output!(custom_configuration);
    assert_eq!(out[0], r#"["dummy"]"#);
    assert_eq!(out[1], "equal: true, same allocation: false");
    for part in [
        r#"name: Some("custom_configuration::cached")"#,
        "capacity: 2048",
        "policy: LeastRecentlyUpdated",
        "method_timeout: 120s",
        "update_after: 120s, expire_after: 300s",
    ] {
        assert!(out[2].contains(part), "{part} missing in {}", out[2]);
    }
    assert_eq!(out[3], "loads: 1, hits: 1");
}

/// The example's 50 batches, 70 ms apart, in paused time: what it prints is exact.
#[tokio::test(start_paused = true)]
async fn dogpiling_makes_the_predicted_backend_calls() {
    let mut out = Vec::new();
    let outcome = dogpiling::run(&mut out).await.unwrap();
    assert_eq!(outcome.predicted, 17);
    assert_eq!(outcome.memocache, outcome.predicted, "{outcome:?}");
    assert_eq!(
        outcome.naive,
        outcome.predicted * dogpiling::CONCURRENT_REQUESTS,
        "{outcome:?}"
    );
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.contains("memocache generated 17 unique backend calls"),
        "{text}"
    );
    assert!(
        text.contains("Other cache generated 85 unique backend calls"),
        "{text}"
    );
    assert!(
        text.contains("Predicted (according to TTL) 17 unique backend calls"),
        "{text}"
    );
}

#[tokio::test]
async fn invalidation_reloads_after_each_invalidation() {
    let out = output!(invalidation);
    assert_eq!(out.len(), 7, "{out:?}");
    assert_eq!(out[0], out[1]);
    assert_eq!(out[2], "Invalidation #1");
    assert_eq!(out[3], out[4]);
    assert_eq!(out[5], "Invalidation #2");
    assert!(out[6].starts_with("expensive-computation-"));
    // Three loads: one at the start, one after each invalidation.
    let stats = invalidation::expensive_computation_memo().stats();
    assert_eq!(stats.loads_started, 3);
    assert_eq!(stats.hits_fresh, 2);
}

#[tokio::test]
async fn zones_clear_a_zone_and_by_zone_key_across_functions() {
    let out = output!(zones);
    let expected = [
        "Dune: synopsis (load 1), reviews (load 1)",
        "Dune: synopsis (load 1), reviews (load 1)",
        "BOOKS.invalidate_all()",
        "Dune: synopsis (load 2), reviews (load 2)",
        "Herbert: rating (load 1); Dune: author biography (load 1); Emma: author biography (load 2)",
        "AUTHORS.invalidate(Herbert's id)",
        "Herbert: rating (load 2); Dune: author biography (load 3); Emma: author biography (load 2)",
    ];
    assert_eq!(out, expected);
}

#[tokio::test(start_paused = true)]
async fn granular_ttl_gives_each_entry_its_own_lifespan() {
    let out = output!(granular_ttl);
    assert_eq!(out[0], "Entries persisted in the cache:");
    assert_eq!(out.len(), 5, "{out:?}");
    // "Entry: ValueWithTtl { value: "a-result-..", ttl_seconds: N }" then "Effective TTL: Ns ..."
    for (entry, ttl) in [(&out[1], &out[2]), (&out[3], &out[4])] {
        let seconds: u64 = entry
            .rsplit("ttl_seconds: ")
            .next()
            .and_then(|s| s.trim_end_matches(" }").parse().ok())
            .unwrap_or_else(|| panic!("no ttl in {entry}"));
        assert!((60..=300).contains(&seconds));
        assert!(
            ttl.starts_with(&format!("Effective TTL: {seconds}s")),
            "{ttl}"
        );
    }

    // The lifespans are the entries' own: a value is stale after its TTL and gone 10 % later.
    let a = granular_ttl::external_call("a").await;
    let memo = granular_ttl::external_call_memo();
    let ttl = Duration::from_secs(a.ttl_seconds);
    tokio::time::advance(ttl - Duration::from_secs(1)).await;
    assert_eq!(granular_ttl::external_call("a").await, a, "fresh");
    assert_eq!(memo.stats().refreshes_started, 0);
    tokio::time::advance(Duration::from_secs(2)).await;
    assert_eq!(granular_ttl::external_call("a").await, a, "stale, served");
    assert_eq!(memo.stats().refreshes_started, 1);
}

#[tokio::test]
async fn case_insensitive_key_loads_once_per_lower_cased_argument() {
    let out = output!(case_insensitive_key);
    assert_eq!(out[0], r#"Hello -> computed for "Hello" (call #1)"#);
    assert_eq!(out[1], r#"HELLO -> computed for "Hello" (call #1)"#);
    assert_eq!(out[2], r#"hello -> computed for "Hello" (call #1)"#);
    assert_eq!(out[3], r#"World -> computed for "World" (call #2)"#);
    assert_eq!(out[4], "loader calls: 2 (one per distinct lower-cased key)");
}

#[tokio::test]
async fn max_hits_recomputes_after_three_hits() {
    let out = output!(max_hits);
    let calls: Vec<&str> = out.iter().map(|l| &l[l.len() - 2..]).collect();
    assert_eq!(calls, ["#1", "#1", "#1", "#1", "#2", "#2"], "{out:?}");
}

#[cfg(feature = "node")]
#[tokio::test]
async fn nodes_port_cachemes_readme() {
    let out = output!(nodes);
    let expected = [
        "user 1 (query 1)",
        "user 1 (query 1)",
        "user 1 (query 1), user 2 (query 2), user 3 (query 2), user 2 (query 2)",
        "refreshed: user 1 (query 3)",
        "after invalidate: user 1 (query 4)",
        "requests 6, hits 2, hit rate 0.33, loads 5",
        "apple costs 3",
        "node Price version v2 tiers 0",
        "node UserInfo version v1 tiers 1",
    ];
    assert_eq!(out, expected);
}

/// The Prometheus scrape after the example's scripted mix: 4 successful requests for 2 ids
/// (2 loads, 2 hits), a failing load, a `get` of a missing key.
#[cfg(feature = "metrics")]
#[tokio::test]
async fn prometheus_scrape_shows_the_scripted_mix() {
    let out = output!(prometheus);
    for line in [
        r#"memocache_requests_total{cache="users"} 6"#,
        r#"memocache_hits_total{cache="users",state="fresh"} 2"#,
        r#"memocache_misses_total{cache="users"} 4"#,
        r#"memocache_loads_total{cache="users",outcome="success"} 2"#,
        r#"memocache_loads_total{cache="users",outcome="failure"} 1"#,
        r#"memocache_entries{cache="users"} 2"#,
        r#"memocache_tier_writes_total{cache="users",tier="memory"} 2"#,
        r#"memocache_tier_misses_total{cache="users",tier="memory"} 4"#,
        r#"memocache_load_duration_seconds_count{cache="users",kind="load",outcome="success"} 2"#,
        r#"memocache_load_duration_seconds_count{cache="users",kind="load",outcome="failure"} 1"#,
    ] {
        assert!(
            out.iter().any(|l| l == line),
            "{line} not in the scrape:\n{}",
            out.join("\n")
        );
    }
}
