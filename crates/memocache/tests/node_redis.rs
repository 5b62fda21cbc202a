//! Nodes over the real Redis: a `get_all` costs one `MGET` and one pipelined write (counted
//! on the server with `INFO commandstats`), entries live under `{prefix}:{key}:{version}`
//! with the storage's lifespan, and a new instance (the registry rebuilt) reads them back with
//! one `MGET` and no load. One test, so that no other test's commands are counted.
//! Unreachable server: loud SKIP, or failure under `CI`.

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::{SystemTime, UNIX_EPOCH};

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use memocache::node;
use memocache::registry::{Registry, StorageHandle};
use memocache::storage::{ByteStore, StorageError};

/// The Redis store, counting the multi-sets (pipelines) it is asked for.
struct CountingSets {
    redis: Arc<dyn ByteStore>,
    set_many: Arc<AtomicUsize>,
}

impl ByteStore for CountingSets {
    fn name(&self) -> &str {
        "counting-redis"
    }
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, StorageError>> {
        self.redis.get(key)
    }
    fn get_many<'a>(
        &'a self,
        keys: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<Option<Vec<u8>>>, StorageError>> {
        self.redis.get_many(keys)
    }
    fn set<'a>(
        &'a self,
        key: &'a str,
        bytes: Vec<u8>,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), StorageError>> {
        self.redis.set(key, bytes, ttl)
    }
    fn set_many(
        &self,
        items: Vec<(String, Vec<u8>, Duration)>,
    ) -> BoxFuture<'_, Result<(), StorageError>> {
        self.set_many.fetch_add(1, SeqCst);
        self.redis.set_many(items)
    }
    fn remove<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StorageError>> {
        self.redis.remove(key)
    }
    fn clear_prefix<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<(), StorageError>> {
        self.redis.clear_prefix(prefix)
    }
}

fn redis_url() -> String {
    std::env::var("MEMOCACHE_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

fn cli(args: &[&str]) -> Option<String> {
    let out = Command::new("redis-cli")
        .arg("-u")
        .arg(redis_url())
        .args(args)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Calls of `command` on the server so far.
fn calls(command: &str) -> u64 {
    let info = cli(&["INFO", "commandstats"]).expect("INFO commandstats");
    let head = format!("cmdstat_{command}:calls=");
    info.lines()
        .find_map(|l| l.strip_prefix(&head))
        .and_then(|rest| rest.split(',').next()?.parse().ok())
        .unwrap_or(0)
}

static LOADED: AtomicUsize = AtomicUsize::new(0);
static LOAD_ALL_CALLS: AtomicUsize = AtomicUsize::new(0);

#[derive(Clone, Hash, PartialEq, Eq)]
struct Account {
    id: u32,
}

#[memocache::node(
    key = "account:{id}",
    version = "v2",
    memory(capacity = 1000, ttl = "30s"),
    tier("node-redis", ttl = "2m")
)]
impl Account {
    async fn load(&self) -> Result<String, std::io::Error> {
        unreachable!("loaded in batches")
    }

    async fn load_all(nodes: Vec<Self>) -> Result<Vec<(Self, String)>, std::io::Error> {
        LOAD_ALL_CALLS.fetch_add(1, SeqCst);
        LOADED.fetch_add(nodes.len(), SeqCst);
        Ok(nodes
            .into_iter()
            .map(|n| (n.clone(), format!("account {}", n.id)))
            .collect())
    }
}

#[tokio::test]
async fn a_batch_over_redis_costs_one_mget_and_one_pipeline_and_is_read_back() {
    let url = redis_url();
    let redis = match StorageHandle::open(&url).await {
        Ok(handle) => handle.byte_store().expect("a byte store"),
        Err(e) => {
            if std::env::var_os("CI").is_some() {
                panic!("Redis at {url} unreachable (CI is set: an unavailable service fails): {e}");
            }
            eprintln!("SKIP node_redis: Redis at {url} unreachable: {e}");
            return;
        }
    };
    let set_many = Arc::new(AtomicUsize::new(0));
    let counting = CountingSets {
        redis,
        set_many: set_many.clone(),
    };
    Registry::global().insert(
        "node-redis",
        StorageHandle::from_byte_store(counting, "redis"),
    );
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let prefix = format!("memocache-test-node-{}-{nanos}", std::process::id());
    node::set_prefix(prefix.as_str());
    let accounts: Vec<Account> = (0..20).map(|id| Account { id }).collect();

    let (mget, get, set) = (calls("mget"), calls("get"), calls("set"));
    let got = node::get_all(&accounts).await;
    assert!(got.iter().all(Result::is_ok));
    assert_eq!(got[19].as_deref().unwrap(), "account 19");
    assert_eq!(calls("mget") - mget, 1, "one MGET");
    assert_eq!(calls("get") - get, 0, "no single GET");
    assert_eq!(calls("set") - set, 20, "20 SETs...");
    assert_eq!(
        set_many.load(SeqCst),
        1,
        "...sent as one multi-set (a pipeline)"
    );
    assert_eq!((LOAD_ALL_CALLS.load(SeqCst), LOADED.load(SeqCst)), (1, 20));

    // cacheme's layout and the storage's lifespan.
    let key = format!("{prefix}:account:7:v2");
    assert_eq!(cli(&["EXISTS", &key]).unwrap().trim(), "1", "{key}");
    let ttl: i64 = cli(&["PTTL", &key]).unwrap().trim().parse().unwrap();
    assert!(ttl > 0 && ttl <= 120_000, "capped at 2 min: {ttl} ms");

    // A new instance (the registry rebuilt, memory empty) reads all 20 with one MGET.
    node::set_prefix(prefix.as_str());
    let (mget, set) = (calls("mget"), calls("set"));
    let again = node::get_all(&accounts).await;
    assert_eq!(again[7].as_deref().unwrap(), "account 7");
    assert_eq!((calls("mget") - mget, calls("set") - set), (1, 0));
    assert_eq!(set_many.load(SeqCst), 1, "nothing written");
    assert_eq!(LOAD_ALL_CALLS.load(SeqCst), 1, "no load");
    // ... and backfilled its memory: no command at all now.
    let mget = calls("mget");
    let _ = node::get_all(&accounts).await;
    assert_eq!(calls("mget") - mget, 0);
    let s = node::stats::<Account>();
    assert_eq!((s.hit_count, s.miss_count), (20, 20));

    for id in 0..20 {
        cli(&["UNLINK", &format!("{prefix}:account:{id}:v2")]);
    }
}
