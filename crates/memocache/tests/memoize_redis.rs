//! `#[memoize(cache = SHARED)]` over the shared Redis: two functions sharing one cache and one
//! Redis namespace never mix their entries (equal arguments, different values, read back by
//! another instance on its own connection), and `invalidate_all` of one leaves the other's.
//! Unreachable server: loud SKIP, or failure under `CI`.

use std::io::Write as _;
use std::sync::LazyLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use memocache::codec::Codec;
use memocache::key::Namespace;
use memocache::redis::{RedisOptions, RedisStore};
use memocache::{memoize, Cache, Scoped, Tier};

fn redis_url() -> String {
    std::env::var("MEMOCACHE_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

static NAMESPACE: LazyLock<Namespace> = LazyLock::new(|| {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    Namespace::new("shared").prefix(format!(
        "memocache-test-memoize-{}-{nanos}",
        std::process::id()
    ))
});

fn shared_cache(redis: RedisStore) -> Cache<Scoped<u64>, String> {
    Cache::builder()
        .tier(Tier::new(redis.typed(NAMESPACE.clone(), Codec::json())))
        .build()
        .unwrap()
}

static SHARED: LazyLock<Cache<Scoped<u64>, String>> = LazyLock::new(|| {
    shared_cache(RedisStore::connect_lazy(&redis_url(), RedisOptions::default()).unwrap())
});

#[memoize(cache = SHARED)]
async fn name_of(id: u64) -> Result<String, std::io::Error> {
    Ok(format!("name {id}"))
}

#[memoize(cache = SHARED)]
async fn email_of(id: u64) -> Result<String, std::io::Error> {
    Ok(format!("email {id}"))
}

#[tokio::test]
async fn two_memoized_functions_sharing_one_cache_and_redis_namespace_never_mix() {
    let url = redis_url();
    let other = match tokio::time::timeout(Duration::from_secs(3), RedisStore::connect(&url)).await
    {
        Ok(Ok(redis)) => redis,
        _ => {
            if std::env::var_os("CI").is_some() {
                panic!(
                    "Redis at {url} unreachable (CI is set: an unavailable service fails the test)"
                );
            }
            let _ = writeln!(
                std::io::stderr(),
                "\n!!!!! SKIP: Redis at {url} unreachable !!!!!\n"
            );
            return;
        }
    };
    assert_eq!(name_of(1).await.unwrap(), "name 1");
    assert_eq!(email_of(1).await.unwrap(), "email 1");
    let (name_key, email_key) = (name_of_memo().key((1,)), email_of_memo().key((1,)));
    // Another instance, its own connection and memory, the same namespace.
    let reader = || {
        let cache = shared_cache(other.clone());
        cache.join_scope(name_key.scope());
        cache.join_scope(email_key.scope());
        cache
    };
    let fresh = reader();
    assert_eq!(fresh.get(&name_key).await.as_deref(), Some("name 1"));
    assert_eq!(fresh.get(&email_key).await.as_deref(), Some("email 1"));

    name_of_memo().invalidate_all().await.unwrap();
    let fresh = reader();
    assert_eq!(
        fresh.get(&name_key).await,
        None,
        "the function's entries are gone from Redis"
    );
    assert_eq!(
        fresh.get(&email_key).await.as_deref(),
        Some("email 1"),
        "the other's stay"
    );
    assert_eq!(SHARED.len(), 1);
    SHARED.invalidate_all().await.unwrap();
}

static GREETINGS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// `storage = "name"`: a storage registered after the first call. The name is unique to
/// this process, so concurrent runs never share the function's entries.
#[memoize(
    storage = "memoize-redis-test-storage",
    update_after = "1m",
    expire_after = "5m"
)]
async fn greeting(id: u64) -> Result<String, std::io::Error> {
    GREETINGS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    Ok(format!("hello {id}"))
}

#[tokio::test]
async fn memoize_over_a_storage_registered_by_name_after_the_first_call() {
    use std::sync::atomic::Ordering::SeqCst;
    // Before the name is registered: the function runs, the tier is a counted miss.
    assert_eq!(greeting(1).await.unwrap(), "hello 1");
    let stats = greeting_memo().stats();
    assert!(stats.tier_errors >= 1, "{stats:?}");
    // The function's path keeps its keys apart from other tests' on the shared server.
    let url = redis_url();
    if let Err(e) = memocache::registry::register_storage("memoize-redis-test-storage", &url).await
    {
        if std::env::var_os("CI").is_some() {
            panic!("Redis at {url} unreachable (CI is set): {e}");
        }
        let _ = writeln!(
            std::io::stderr(),
            "\n!!!!! SKIP: Redis at {url}: {e} !!!!!\n"
        );
        return;
    }
    // From now on the function's entries go to Redis: another process (here: the memory
    // dropped) reads them back without running the function.
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let id = nanos % 1_000_000_007;
    assert_eq!(greeting(id).await.unwrap(), format!("hello {id}"));
    let runs = GREETINGS.load(SeqCst);
    greeting_memo().cache().invalidate_memory(&id);
    assert_eq!(greeting(id).await.unwrap(), format!("hello {id}"));
    assert_eq!(GREETINGS.load(SeqCst), runs, "served from Redis");
    assert!(greeting_memo().stats().tiers[0].hits() >= 1);
    greeting_memo().invalidate((id,)).await.unwrap();
}
