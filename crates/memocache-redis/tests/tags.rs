//! Zones, tags and scopes over the shared Redis (`MEMOCACHE_REDIS_URL`): two scopes in one
//! cache and one namespace never mix and are invalidated apart; an invalidation reaches
//! entries another instance wrote on its own connection; a load in flight across an
//! invalidation writes nothing. Each test uses its own prefix and clears it. Unreachable
//! server: loud SKIP, or failure under `CI`.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, LazyLock};

use memocache_core::codec::Codec;
use memocache_core::key::Namespace;
use memocache_core::storage::{ByteStore, Storage};
use memocache_core::{Cache, Scope, Scoped, Tier, Zone};
use memocache_redis::RedisStore;
use tokio::sync::Notify;

type Io = std::io::Error;

fn value(v: &str) -> impl FnOnce() -> std::future::Ready<Result<String, Io>> {
    let v = v.to_string();
    move || std::future::ready(Ok(v))
}

/// Keys under `prefix` on the server (a SCAN: small test namespaces only).
async fn keys_under(redis: &RedisStore, prefix: &str) -> Vec<String> {
    let mut c = redis::Client::open(common::redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let mut keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut c)
        .await
        .unwrap();
    keys.sort();
    let _ = redis;
    keys
}

static NAMES: LazyLock<Scope<u64>> = LazyLock::new(|| Scope::new("tests::name"));
static EMAILS: LazyLock<Scope<u64>> = LazyLock::new(|| Scope::new("tests::email"));

fn shared(redis: &RedisStore, ns: &Namespace) -> Cache<Scoped<u64>, String> {
    let cache = Cache::builder()
        .tier(Tier::new(redis.typed(ns.clone(), Codec::json())))
        .build()
        .unwrap();
    cache.join_scope(&NAMES);
    cache.join_scope(&EMAILS);
    cache
}

#[tokio::test]
async fn two_scopes_in_one_cache_and_namespace_never_mix_and_are_invalidated_apart() {
    let test = "two_scopes_in_one_namespace";
    let (Some(one), Some(two)) = (common::connect(test).await, common::connect(test).await) else {
        return;
    };
    let ns = common::namespace("scopes", "shared");
    let a = shared(&one, &ns);
    assert_eq!(
        a.get_or_load(Scoped::new(&NAMES, 1), value("Ann"))
            .await
            .unwrap(),
        "Ann"
    );
    assert_eq!(
        a.get_or_load(Scoped::new(&EMAILS, 1), value("ann@x"))
            .await
            .unwrap(),
        "ann@x"
    );
    // Two entries (one remote key each: the scope's name is part of it), and each function's
    // generation.
    let keys = keys_under(&one, ns.key_prefix()).await;
    assert_eq!(keys.len(), 4, "{keys:?}");
    assert!(
        keys.iter().any(|k| k.contains("tests%3A%3Aname,1")),
        "{keys:?}"
    );

    // A second instance, its own connection and memory: equal keys, their own values.
    let b = shared(&two, &ns);
    assert_eq!(b.get(&Scoped::new(&NAMES, 1)).await.as_deref(), Some("Ann"));
    assert_eq!(
        b.get(&Scoped::new(&EMAILS, 1)).await.as_deref(),
        Some("ann@x")
    );

    a.invalidate_scope(&NAMES).await.unwrap();
    let c = shared(&two, &ns);
    assert_eq!(c.get(&Scoped::new(&NAMES, 1)).await, None);
    assert_eq!(
        c.get(&Scoped::new(&EMAILS, 1)).await.as_deref(),
        Some("ann@x")
    );
    // The other instance's memory keeps its copy until it expires (no invalidation channel
    // between processes yet).
    assert_eq!(b.get(&Scoped::new(&NAMES, 1)).await.as_deref(), Some("Ann"));
    a.invalidate_all().await.unwrap();
    assert!(keys_under(&one, ns.key_prefix()).await.is_empty());
}

fn zoned(redis: &RedisStore, ns: &Namespace, zone: &Zone) -> Cache<(u64, u32), String> {
    Cache::builder()
        .zone(zone)
        .zone_key(|&(author, _): &(u64, u32)| author)
        .tier(Tier::new(redis.typed(ns.clone(), Codec::json())))
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_zone_invalidation_reaches_entries_another_instance_wrote() {
    let test = "zone_reaches_another_instance";
    let (Some(one), Some(two)) = (common::connect(test).await, common::connect(test).await) else {
        return;
    };
    let ns = common::namespace("zones", "books");
    let zone_name = common::unique_prefix("zone");
    let writer = zoned(&one, &ns, &Zone::new(&zone_name));
    for key in [(1, 10), (1, 11), (2, 20)] {
        writer
            .get_or_load(key, value(&format!("{key:?}")))
            .await
            .unwrap();
    }
    // Another instance, on its own connection, with its own handle of the zone.
    let zone = Zone::new(&zone_name);
    let other = zoned(&two, &ns, &zone);
    zone.invalidate(1).await.unwrap();
    assert_eq!(other.get(&(1, 10)).await, None);
    assert_eq!(other.get(&(1, 11)).await, None);
    assert_eq!(other.get(&(2, 20)).await.as_deref(), Some("(2, 20)"));
    let fresh = zoned(&two, &ns, &Zone::new(&zone_name));
    assert_eq!(fresh.get(&(1, 10)).await, None);
    // A new load is written and read back under the new generation.
    other.get_or_load((1, 10), value("again")).await.unwrap();
    assert_eq!(
        zoned(&one, &ns, &zone).get(&(1, 10)).await.as_deref(),
        Some("again")
    );
    zone.invalidate_all().await.unwrap();
    assert_eq!(zoned(&one, &ns, &zone).get(&(2, 20)).await, None);
    other.invalidate_all().await.unwrap();
}

#[tokio::test]
async fn a_load_in_flight_across_a_tag_invalidation_writes_nothing_to_redis() {
    let Some(redis) = common::connect("load_in_flight_across_tags").await else {
        return;
    };
    let ns = common::namespace("inflight", "tags");
    let tier = redis.typed::<u64, String>(ns.clone(), Codec::json());
    let cache: Cache<u64, String> = Cache::builder()
        .tags(|k: &u64| [format!("parity:{}", k % 2)])
        .tier(Tier::new(redis.typed(ns.clone(), Codec::json())))
        .build()
        .unwrap();
    let (gate, calls) = (Arc::new(Notify::new()), Arc::new(AtomicUsize::new(0)));
    let load = tokio::spawn({
        let (cache, gate, calls) = (cache.clone(), Arc::clone(&gate), Arc::clone(&calls));
        async move {
            cache
                .get_or_load(3, move || async move {
                    calls.fetch_add(1, SeqCst);
                    gate.notified().await;
                    Ok::<_, Io>("before".to_string())
                })
                .await
        }
    });
    while calls.load(SeqCst) == 0 {
        tokio::task::yield_now().await;
    }
    cache.invalidate_tags(["parity:1"]).await.unwrap();
    gate.notify_waiters();
    assert_eq!(load.await.unwrap().unwrap(), "before");
    cache.idle().await;
    assert_eq!(tier.get(&3).await.unwrap(), None, "nothing written");
    assert_eq!(cache.get(&3).await, None);
    cache.invalidate_all().await.unwrap();
    let _ = redis.clear_prefix(ns.key_prefix()).await;
}
