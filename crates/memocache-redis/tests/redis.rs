//! Against the shared Redis (`MEMOCACHE_REDIS_URL`, default 127.0.0.1:6379): the storage
//! contract, the chain [memory, redis], two caches sharing one namespace, corrupt records.
//! Each test uses its own prefix. Unreachable server: loud SKIP, or failure under `CI`.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use memocache_core::codec::{Codec, Compression, Format};
use memocache_core::storage::{contract, ByteStore, Storage, StorageError};
use memocache_core::{Cache, Lifespan, Tier};
use memocache_redis::RedisStore;

#[tokio::test]
async fn storage_contract_for_every_codec() {
    let Some(redis) = common::connect("storage_contract_for_every_codec").await else {
        return;
    };
    for &format in Format::all() {
        for &compression in Compression::all() {
            let codec = Codec::new(format, compression).compress_min(0);
            let a = redis.typed::<String, String>(common::namespace("contract", "a"), codec);
            let b = redis.typed::<String, String>(common::namespace("contract", "b"), codec);
            contract::check_storage(&a, &b).await;
        }
    }
}

#[tokio::test]
async fn set_uses_px_from_expire_at() {
    let Some(redis) = common::connect("set_uses_px_from_expire_at").await else {
        return;
    };
    let ns = common::namespace("px", "c");
    let s = redis.typed::<u32, u32>(ns.clone(), Codec::json());
    s.set(
        &1,
        memocache_core::storage::StoredEntry::new(
            5,
            Duration::from_secs(10),
            Duration::from_secs(100),
        ),
    )
    .await
    .unwrap();
    let ttl: i64 = redis::cmd("PTTL")
        .arg(ns.key(&1u32))
        .query_async(
            &mut redis::Client::open(common::redis_url())
                .unwrap()
                .get_multiplexed_async_connection()
                .await
                .unwrap(),
        )
        .await
        .unwrap();
    assert!((98_000..=100_000).contains(&ttl), "PTTL {ttl}");
}

/// Counts the operations that reach the server.
#[derive(Clone)]
struct Counting {
    inner: RedisStore,
    gets: Arc<AtomicUsize>,
    sets: Arc<AtomicUsize>,
}

impl Counting {
    fn new(inner: RedisStore) -> Self {
        Counting {
            inner,
            gets: Arc::default(),
            sets: Arc::default(),
        }
    }
}

impl ByteStore for Counting {
    fn name(&self) -> &str {
        "redis"
    }
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, StorageError>> {
        self.gets.fetch_add(1, SeqCst);
        self.inner.get(key)
    }
    fn get_many<'a>(
        &'a self,
        keys: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<Option<Vec<u8>>>, StorageError>> {
        self.gets.fetch_add(1, SeqCst);
        self.inner.get_many(keys)
    }
    fn set<'a>(
        &'a self,
        key: &'a str,
        bytes: Vec<u8>,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), StorageError>> {
        self.sets.fetch_add(1, SeqCst);
        self.inner.set(key, bytes, ttl)
    }
    fn set_many(
        &self,
        items: Vec<(String, Vec<u8>, Duration)>,
    ) -> BoxFuture<'_, Result<(), StorageError>> {
        self.sets.fetch_add(1, SeqCst);
        self.inner.set_many(items)
    }
    fn remove<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StorageError>> {
        self.inner.remove(key)
    }
    fn clear_prefix<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<(), StorageError>> {
        self.inner.clear_prefix(prefix)
    }
}

fn chained(redis: impl ByteStore, ns: memocache_core::key::Namespace) -> Cache<u32, String> {
    Cache::builder()
        .tier(Tier::new(memocache_core::storage::Serialized::new(
            redis,
            ns,
            Codec::json(),
        )))
        .build()
        .unwrap()
}

#[tokio::test]
async fn chain_fills_both_invalidates_both_and_refills_memory_from_redis() {
    let Some(redis) = common::connect("chain").await else {
        return;
    };
    let ns = common::namespace("chain", "users");
    let counting = Counting::new(redis.clone());
    let cache = chained(counting.clone(), ns.clone());
    let direct = redis.typed::<u32, String>(ns.clone(), Codec::json());
    let loads = Arc::new(AtomicUsize::new(0));
    let loader = |loads: &Arc<AtomicUsize>| {
        let loads = loads.clone();
        move || async move {
            loads.fetch_add(1, SeqCst);
            Ok::<_, std::io::Error>("ann".to_string())
        }
    };

    // get fills both
    assert_eq!(cache.get_or_load(1, loader(&loads)).await.unwrap(), "ann");
    assert_eq!(loads.load(SeqCst), 1);
    assert_eq!(cache.len(), 1, "memory filled");
    assert_eq!(
        direct.get(&1).await.unwrap().unwrap().value,
        "ann",
        "redis filled"
    );

    // remove from memory only, then get: no load, memory refilled from redis
    cache.invalidate_memory(&1);
    assert_eq!(cache.len(), 0);
    assert_eq!(cache.get_or_load(1, loader(&loads)).await.unwrap(), "ann");
    assert_eq!(loads.load(SeqCst), 1, "no load: redis answered");
    assert_eq!(cache.len(), 1, "memory refilled");
    let s = cache.stats();
    assert_eq!(s.tiers[0].hits_fresh, 1);
    assert_eq!(s.tiers[0].misses, 1);
    assert_eq!(s.loads_started, 1);

    // invalidate empties both
    cache.invalidate(&1).await.unwrap();
    assert_eq!(cache.len(), 0);
    assert!(direct.get(&1).await.unwrap().is_none(), "redis emptied");
    assert_eq!(cache.get_or_load(1, loader(&loads)).await.unwrap(), "ann");
    assert_eq!(loads.load(SeqCst), 2, "loaded again after invalidate");

    // invalidate_all clears the namespace (and only it)
    let other = redis.typed::<u32, String>(common::namespace("chain", "other"), Codec::json());
    other
        .set(
            &1,
            memocache_core::storage::StoredEntry::new(
                "x".into(),
                Duration::from_secs(60),
                Duration::from_secs(60),
            ),
        )
        .await
        .unwrap();
    cache.invalidate_all().await.unwrap();
    assert!(direct.get(&1).await.unwrap().is_none());
    assert!(other.get(&1).await.unwrap().is_some());
    other.clear().await.unwrap();
}

#[tokio::test]
async fn concurrent_misses_read_and_write_redis_once() {
    let Some(redis) = common::connect("single_flight").await else {
        return;
    };
    let ns = common::namespace("single_flight", "n");
    let counting = Counting::new(redis);
    let cache = chained(counting.clone(), ns);
    let loads = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(tokio::sync::Notify::new());
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (cache, loads, gate) = (cache.clone(), loads.clone(), gate.clone());
            tokio::spawn(async move {
                cache
                    .get_or_load(7, move || async move {
                        loads.fetch_add(1, SeqCst);
                        gate.notified().await;
                        Ok::<_, std::io::Error>("v".to_string())
                    })
                    .await
                    .unwrap()
            })
        })
        .collect();
    while loads.load(SeqCst) == 0 {
        tokio::task::yield_now().await;
    }
    gate.notify_one();
    for t in tasks {
        assert_eq!(t.await.unwrap(), "v");
    }
    assert_eq!(loads.load(SeqCst), 1, "one loader call");
    assert_eq!(
        counting.gets.load(SeqCst),
        1,
        "one Redis read for 50 misses"
    );
    assert_eq!(
        counting.sets.load(SeqCst),
        1,
        "one Redis write for 50 waiters"
    );
    cache.invalidate_all().await.unwrap();
}

#[tokio::test]
async fn two_caches_share_one_namespace_including_stale_while_revalidate() {
    let Some(redis_a) = common::connect("two_caches").await else {
        return;
    };
    let Some(redis_b) = common::connect("two_caches").await else {
        return;
    };
    let ns = common::namespace("two_caches", "prices");
    // Value 1 is stale at once; later values stay fresh for a minute.
    let build = |redis: RedisStore| -> Cache<&'static str, u64> {
        Cache::builder()
            .entry_builder(|_: &&'static str, v: &u64| {
                if *v == 1 {
                    Lifespan::new(Duration::ZERO, Duration::from_secs(60))
                } else {
                    Lifespan::new(Duration::from_secs(60), Duration::from_secs(120))
                }
            })
            .tier(Tier::new(redis.typed(ns.clone(), Codec::json())))
            .build()
            .unwrap()
    };
    let a = build(redis_a);
    let b = build(redis_b);
    let calls_a = Arc::new(AtomicUsize::new(0));
    let calls_b = Arc::new(AtomicUsize::new(0));
    let counted = |calls: &Arc<AtomicUsize>, v: u64| {
        let calls = calls.clone();
        move || async move {
            calls.fetch_add(1, SeqCst);
            Ok::<_, std::io::Error>(v)
        }
    };

    // A loads 1 (stale at once) into its memory and Redis.
    assert_eq!(a.get_or_load("k", counted(&calls_a, 1)).await.unwrap(), 1);
    // B's first read is a Redis hit: stale, so served at once and refreshed by B's loader.
    assert_eq!(b.get_or_load("k", counted(&calls_b, 2)).await.unwrap(), 1);
    let s = b.stats();
    assert_eq!((s.tiers[0].hits_stale, s.misses), (1, 1));
    while b.loads_in_flight() > 0 {
        tokio::task::yield_now().await;
    }
    assert_eq!(calls_b.load(SeqCst), 1, "B refreshed once");
    assert_eq!(b.get_or_load("k", counted(&calls_b, 9)).await.unwrap(), 2);

    // A's memory is stale: A serves 1 at once, and its refresh finds B's fresh 2 in Redis:
    // no loader call in A.
    assert_eq!(a.get_or_load("k", counted(&calls_a, 3)).await.unwrap(), 1);
    while a.loads_in_flight() > 0 {
        tokio::task::yield_now().await;
    }
    assert_eq!(a.get_or_load("k", counted(&calls_a, 4)).await.unwrap(), 2);
    assert_eq!(calls_a.load(SeqCst), 1, "A's refresh was answered by Redis");
    assert_eq!(a.stats().tiers[0].hits_fresh, 1);

    // A fresh entry: C (a third cache, fresh memory) reads it with no loader call.
    let c = build(common::connect("two_caches").await.unwrap());
    assert_eq!(
        c.get_or_load("k", || async { Err::<u64, _>("must not load") })
            .await
            .unwrap(),
        2
    );
    a.invalidate_all().await.unwrap();
}

#[tokio::test]
async fn a_corrupt_record_is_a_counted_miss_then_overwritten() {
    let Some(redis) = common::connect("corrupt").await else {
        return;
    };
    let ns = common::namespace("corrupt", "c");
    let cache = chained(redis.clone(), ns.clone());
    let key = ns.key(&5u32);
    for garbage in [b"not a record at all".to_vec(), b"MC".to_vec(), {
        // a MessagePack record where JSON is expected
        let mp = Codec::new(Format::all()[Format::all().len() - 1], Compression::None);
        let e = memocache_core::storage::StoredEntry::new(
            "x".to_string(),
            Duration::from_secs(60),
            Duration::from_secs(60),
        );
        let mut b = mp.encode(&e).unwrap();
        if Format::all().len() == 1 {
            b[3] = 99;
        }
        b
    }] {
        redis
            .set(&key, garbage, Duration::from_secs(60))
            .await
            .unwrap();
        cache.invalidate_memory(&5);
        let before = cache.stats().decode_errors;
        assert_eq!(
            cache
                .get_or_load(5, || async { Ok::<_, std::io::Error>("fresh".to_string()) })
                .await
                .unwrap(),
            "fresh"
        );
        assert_eq!(cache.stats().decode_errors, before + 1, "counted");
        let stored = redis
            .typed::<u32, String>(ns.clone(), Codec::json())
            .get(&5)
            .await
            .unwrap();
        assert_eq!(
            stored.unwrap().value,
            "fresh",
            "overwritten with the reload"
        );
    }
    cache.invalidate_all().await.unwrap();
}

#[tokio::test]
async fn a_record_past_its_expire_at_is_a_miss_whatever_the_server_ttl() {
    let Some(redis) = common::connect("past_expire_at").await else {
        return;
    };
    // Written by a process whose clock ran ahead, or with a longer server TTL: the record's
    // own deadline decides.
    let ns = common::namespace("past_expire_at", "p");
    let codec = Codec::json();
    let past = std::time::SystemTime::now() - Duration::from_secs(5);
    let entry = memocache_core::storage::StoredEntry::created_at(
        past,
        "old".to_string(),
        Duration::from_secs(1),
        Duration::from_secs(2),
    );
    redis
        .set(
            &ns.key(&1u32),
            codec.encode(&entry).unwrap(),
            Duration::from_secs(60),
        )
        .await
        .unwrap();
    let typed = redis.typed::<u32, String>(ns.clone(), codec);
    assert!(typed.get(&1).await.unwrap().is_none());
    let many = typed.get_many(&[1]).await.unwrap();
    assert!(matches!(many.as_slice(), [Ok(None)]));
    typed.clear().await.unwrap();
}

#[tokio::test]
async fn two_named_caches_in_one_namespace_never_share_an_entry() {
    let Some(redis) = common::connect("named_caches").await else {
        return;
    };
    let ns = common::namespace("named", "shared");
    let named = |name: &str| -> Cache<u32, String> {
        Cache::builder()
            .name(name)
            .tier(Tier::new(redis.typed(ns.clone(), Codec::json())))
            .build()
            .unwrap()
    };
    let (users, orders) = (named("users"), named("orders"));
    let value = |v: &'static str| move || async move { Ok::<_, std::io::Error>(v.to_string()) };
    assert_eq!(users.get_or_load(1, value("ann")).await.unwrap(), "ann");
    assert_eq!(
        orders.get_or_load(1, value("order 1")).await.unwrap(),
        "order 1"
    );
    // Read back by fresh instances of the same names: each its own entry.
    assert_eq!(named("users").get(&1).await.as_deref(), Some("ann"));
    assert_eq!(named("orders").get(&1).await.as_deref(), Some("order 1"));
    let raw = redis.typed::<u32, String>(ns.clone().cache("users"), Codec::json());
    assert_eq!(
        raw.get(&1).await.unwrap().map(|e| e.value).as_deref(),
        Some("ann")
    );
    // Clearing one leaves the other.
    users.invalidate_all().await.unwrap();
    assert_eq!(named("users").get(&1).await, None);
    assert_eq!(named("orders").get(&1).await.as_deref(), Some("order 1"));
    orders.invalidate_all().await.unwrap();
}
