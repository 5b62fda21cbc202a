//! Typed nodes (`memocache::node`), cacheme's `test_core.py` scenarios ported: get; get with
//! an override loader; get_all order and counts with duplicates; 200 concurrent get_all over
//! the same 3 nodes; a get_all joining single gets in flight; memoize with a node mapping;
//! stats counts and rates; invalidate and refresh; a chain with per-storage lifespans and
//! backfill; version changes; dynamic nodes; `nodes()`; the batch window; the doorkeeper.
//! (Prefix changes are in `node_prefix.rs`: the prefix is process-wide.)
//!
//! Every test has node types of its own: the registry and statistics are per type and
//! process-wide.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use memocache::node::{self, DynamicNode, Node, NodeOptions};
use memocache::registry::register_storage;
use memocache::{memoize, Error};
use tokio::sync::Notify;

type Io = std::io::Error;

static LOADS: Mutex<Vec<(&'static str, u32)>> = Mutex::new(Vec::new());

fn loads_of(kind: &str) -> usize {
    LOADS
        .lock()
        .unwrap()
        .iter()
        .filter(|(k, _)| *k == kind)
        .count()
}

#[derive(Clone, Hash, PartialEq, Eq, Debug)]
struct Basic {
    id: u32,
}

#[memocache::node(key = "basic:{id}", version = "v1")]
impl Basic {
    async fn load(&self) -> Result<String, Io> {
        LOADS.lock().unwrap().push(("basic", self.id));
        Ok(format!("basic {}", self.id))
    }
}

#[tokio::test]
async fn get_loads_once_then_hits_and_get_with_overrides_the_loader() {
    assert_eq!(Basic { id: 1 }.key(), "basic:1");
    assert_eq!(node::get(&Basic { id: 1 }).await.unwrap(), "basic 1");
    assert_eq!(node::get(&Basic { id: 1 }).await.unwrap(), "basic 1");
    assert_eq!(loads_of("basic"), 1);
    let other = node::get_with(&Basic { id: 2 }, |n: Basic| async move {
        Ok::<_, Io>(format!("override {}", n.id))
    });
    assert_eq!(other.await.unwrap(), "override 2");
    assert_eq!(node::get(&Basic { id: 2 }).await.unwrap(), "override 2");
    assert_eq!(loads_of("basic"), 1, "the override loaded node 2");
}

#[derive(Clone, Hash, PartialEq, Eq, Debug)]
struct Batched {
    id: u32,
}

static BATCH_CALLS: Mutex<Vec<Vec<u32>>> = Mutex::new(Vec::new());

#[memocache::node(key = "batched:{id}", version = "v1")]
impl Batched {
    async fn load(&self) -> Result<String, Io> {
        BATCH_CALLS.lock().unwrap().push(vec![self.id]);
        Ok(format!("b{}", self.id))
    }

    async fn load_all(nodes: Vec<Self>) -> Result<Vec<(Self, String)>, Io> {
        BATCH_CALLS
            .lock()
            .unwrap()
            .push(nodes.iter().map(|n| n.id).collect());
        Ok(nodes
            .into_iter()
            .map(|n| (n.clone(), format!("b{}", n.id)))
            .collect())
    }
}

fn batch_calls() -> Vec<Vec<u32>> {
    BATCH_CALLS.lock().unwrap().clone()
}

fn low_calls() -> Vec<Vec<u32>> {
    batch_calls()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_all_orders_collapses_duplicates_and_two_hundred_concurrent_calls_load_three_keys() {
    let nodes: Vec<Batched> = [3, 1, 3, 2].into_iter().map(|id| Batched { id }).collect();
    let got: Vec<String> = node::get_all(&nodes)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(got, ["b3", "b1", "b3", "b2"]);
    assert_eq!(
        low_calls(),
        vec![vec![3, 1, 2]],
        "one load_all, duplicates once"
    );
    let stats = node::stats::<Batched>();
    assert_eq!((stats.request_count, stats.miss_count), (3, 3));
    // 200 concurrent get_all over the same 3 new nodes load exactly 3 keys.
    let three: Vec<Batched> = (10..13).map(|id| Batched { id }).collect();
    let calls = (0..200).map(|_| {
        let three = three.clone();
        tokio::spawn(async move { node::get_all(&three).await })
    });
    for r in futures_util::future::join_all(calls).await {
        assert!(r.unwrap().iter().all(Result::is_ok));
    }
    let loaded: usize = low_calls()[1..].iter().map(Vec::len).sum();
    assert_eq!(loaded, 3);
}

#[derive(Clone, Hash, PartialEq, Eq, Debug)]
struct Joined {
    id: u32,
}

static JOIN_CALLS: Mutex<Vec<Vec<u32>>> = Mutex::new(Vec::new());
static GATE: std::sync::LazyLock<Arc<Notify>> =
    std::sync::LazyLock::new(|| Arc::new(Notify::new()));

#[memocache::node(key = "joined:{id}")]
impl Joined {
    async fn load(&self) -> Result<String, Io> {
        JOIN_CALLS.lock().unwrap().push(vec![self.id]);
        GATE.notified().await;
        Ok(format!("j{}", self.id))
    }

    async fn load_all(nodes: Vec<Self>) -> Result<Vec<(Self, String)>, Io> {
        JOIN_CALLS
            .lock()
            .unwrap()
            .push(nodes.iter().map(|n| n.id).collect());
        Ok(nodes
            .into_iter()
            .map(|n| (n.clone(), format!("j{}", n.id)))
            .collect())
    }
}

#[tokio::test]
async fn get_all_joins_single_gets_in_flight() {
    let calls = || JOIN_CALLS.lock().unwrap().clone();
    let single = tokio::spawn(node::get(&Joined { id: 1 }));
    while calls().is_empty() {
        tokio::task::yield_now().await;
    }
    let all = tokio::spawn(async { node::get_all(&[Joined { id: 1 }, Joined { id: 2 }]).await });
    while calls().len() < 2 {
        tokio::task::yield_now().await;
    }
    GATE.notify_one();
    assert_eq!(single.await.unwrap().unwrap(), "j1");
    let all = all.await.unwrap();
    assert_eq!(all[0].as_deref().unwrap(), "j1");
    assert_eq!(
        calls(),
        vec![vec![1], vec![2]],
        "the batch loaded 2 only and joined 1"
    );
}

#[derive(Clone, Hash, PartialEq, Eq)]
struct Profile {
    user: u32,
}

#[memocache::node(key = "profile:{user}", version = "v1")]
impl Profile {
    async fn load(&self) -> Result<String, Io> {
        Ok(format!("node loader {}", self.user))
    }
}

static BODY_RUNS: AtomicUsize = AtomicUsize::new(0);

#[memoize(node = Profile { user })]
async fn profile(user: u32, verbose: bool) -> Result<String, Io> {
    BODY_RUNS.fetch_add(1, SeqCst);
    Ok(format!("profile {user} verbose={verbose}"))
}

#[tokio::test]
async fn memoize_with_a_node_mapping_uses_the_body_and_the_nodes_key() {
    assert_eq!(profile(7, true).await.unwrap(), "profile 7 verbose=true");
    // The key comes from the node only: other arguments map to the same entry.
    assert_eq!(profile(7, false).await.unwrap(), "profile 7 verbose=true");
    assert_eq!(BODY_RUNS.load(SeqCst), 1);
    assert_eq!(
        node::get(&Profile { user: 7 }).await.unwrap(),
        "profile 7 verbose=true"
    );
    let stats = node::stats::<Profile>();
    assert_eq!(
        (stats.hit_count, stats.miss_count, stats.load_count),
        (2, 1, 1)
    );
}

#[derive(Clone, Hash, PartialEq, Eq)]
struct Flaky {
    id: u32,
}

static FLAKY_VERSION: AtomicUsize = AtomicUsize::new(0);

#[memocache::node(key = "flaky:{id}", version = "v1")]
impl Flaky {
    async fn load(&self) -> Result<usize, Io> {
        if self.id == 0 {
            tokio::time::sleep(Duration::from_millis(2)).await;
            return Err(Io::other("zero"));
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
        Ok(FLAKY_VERSION.fetch_add(1, SeqCst))
    }
}

#[tokio::test]
async fn stats_counts_and_rates_invalidate_and_refresh() {
    let one = Flaky { id: 1 };
    assert_eq!(node::get(&one).await.unwrap(), 0);
    assert_eq!(node::get(&one).await.unwrap(), 0);
    assert!(matches!(
        node::get(&Flaky { id: 0 }).await,
        Err(Error::Load(_))
    ));
    let s = node::stats::<Flaky>();
    assert_eq!((s.request_count, s.hit_count, s.miss_count), (3, 1, 2));
    assert!((s.hit_rate - 1.0 / 3.0).abs() < 1e-9 && (s.miss_rate - 2.0 / 3.0).abs() < 1e-9);
    assert_eq!(
        (s.load_success_count, s.load_failure_count, s.load_count),
        (1, 1, 2)
    );
    assert!((s.load_failure_rate - 0.5).abs() < 1e-9);
    assert!(s.total_load_time >= Duration::from_millis(4));
    assert_eq!(s.average_load_time, s.total_load_time / 2);
    // refresh: reloaded now, for everyone.
    assert_eq!(node::refresh(&one).await.unwrap(), 1);
    assert_eq!(node::get(&one).await.unwrap(), 1);
    // invalidate: the next get loads again.
    node::invalidate(&one).await.unwrap();
    assert_eq!(node::get(&one).await.unwrap(), 2);
    assert_eq!(node::stats::<Flaky>().load_count, 4);
}

#[derive(Clone, Hash, PartialEq, Eq)]
struct Chained {
    id: u32,
}

static CHAINED_LOADS: AtomicUsize = AtomicUsize::new(0);

#[memocache::node(
    key = "chained:{id}",
    version = "v1",
    tier("node-test-local", ttl = "10s"),
    tier("node-test-second", ttl = "1h")
)]
impl Chained {
    async fn load(&self) -> Result<String, Io> {
        CHAINED_LOADS.fetch_add(1, SeqCst);
        Ok(format!("c{}", self.id))
    }
}

#[tokio::test(start_paused = true)]
async fn a_chain_with_per_storage_lifespans_backfills_the_memory() {
    register_storage("node-test-local", "memory://lru?size=100")
        .await
        .unwrap();
    register_storage("node-test-second", "memory://lru?size=100")
        .await
        .unwrap();
    node::register::<Chained>().unwrap();
    let info = node::nodes()
        .into_iter()
        .find(|n| n.name == "Chained")
        .unwrap();
    assert_eq!(info.tiers.len(), 2);
    let c = Chained { id: 1 };
    assert_eq!(node::get(&c).await.unwrap(), "c1");
    // The first storage (the memory) keeps it 10 s; the second one an hour: after 11 s the
    // next get is answered by the second, with no load, and the memory is refilled.
    tokio::time::advance(Duration::from_secs(11)).await;
    assert_eq!(node::get(&c).await.unwrap(), "c1");
    assert_eq!(CHAINED_LOADS.load(SeqCst), 1, "the second storage answered");
    let s = node::stats::<Chained>();
    assert_eq!((s.miss_count, s.hit_count), (2, 0));
    assert_eq!(node::get(&c).await.unwrap(), "c1");
    assert_eq!(
        node::stats::<Chained>().hit_count,
        1,
        "the memory was refilled"
    );
}

#[derive(Clone, Hash, PartialEq, Eq)]
struct Unregistered;

#[memocache::node(key = "unregistered", tier("node-test-no-such-storage"))]
impl Unregistered {
    async fn load(&self) -> Result<u8, Io> {
        Ok(1)
    }
}

#[tokio::test]
async fn a_node_over_an_unknown_storage_fails_with_a_clear_error() {
    let e = node::register::<Unregistered>().unwrap_err();
    assert_eq!(e.node(), "Unregistered");
    assert!(e.to_string().contains("node-test-no-such-storage"), "{e}");
    let got = node::get(&Unregistered).await;
    assert!(matches!(got, Err(Error::Storage(s)) if s.to_string().contains("no storage")));
}

#[tokio::test]
async fn dynamic_nodes_and_the_node_listing() {
    let prices: DynamicNode<u64> =
        DynamicNode::build("Price", NodeOptions::new().version("v3").memory(100, None)).unwrap();
    assert_eq!(
        prices
            .get("apple", || async { Ok::<_, Io>(3) })
            .await
            .unwrap(),
        3
    );
    assert_eq!(
        prices
            .get("apple", || async { Ok::<_, Io>(4) })
            .await
            .unwrap(),
        3
    );
    let all = prices
        .get_all(&["apple", "pear", "fig"], |keys: Vec<String>| async move {
            Ok::<_, Io>(
                keys.into_iter()
                    .map(|k| (k.clone(), k.len() as u64))
                    .collect(),
            )
        })
        .await;
    let all: Vec<u64> = all.into_iter().map(Result::unwrap).collect();
    assert_eq!(all, [3, 4, 3]);
    assert_eq!(prices.stats().hit_count, 2);
    prices.invalidate("apple").await.unwrap();
    assert_eq!(
        prices
            .refresh("pear", || async { Ok::<_, Io>(40) })
            .await
            .unwrap(),
        40
    );
    // Keys and a name that need escaping reach `load_all` as given, and its answers land.
    let cities: DynamicNode<String> =
        DynamicNode::build("City info", NodeOptions::new().memory(100, None)).unwrap();
    let asked = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&asked);
    let all = cities
        .get_all(
            &["new york", "a:b", "new york"],
            move |keys: Vec<String>| {
                seen.lock().unwrap().extend(keys.clone());
                async move {
                    Ok::<_, Io>(
                        keys.into_iter()
                            .map(|k| (k.clone(), k.to_uppercase()))
                            .collect(),
                    )
                }
            },
        )
        .await;
    let all: Vec<String> = all.into_iter().map(Result::unwrap).collect();
    assert_eq!(all, ["NEW YORK", "A:B", "NEW YORK"]);
    assert_eq!(*asked.lock().unwrap(), ["new york", "a:b"]);
    let hit = cities.get("new york", || async { Ok::<_, Io>("reloaded".into()) });
    assert_eq!(hit.await.unwrap(), "NEW YORK");
    let listed: HashMap<String, node::NodeInfo> = node::nodes()
        .into_iter()
        .map(|n| (n.name.clone(), n))
        .collect();
    assert!(listed["Price"].dynamic && listed["Price"].version == "v3");
    // Declared with the attribute: listed before (and whether or not) they are used.
    for name in [
        "Basic", "Batched", "Profile", "Flaky", "Chained", "Windowed", "Guarded",
    ] {
        assert!(listed.contains_key(name), "{name} listed");
    }
    assert_eq!(listed["Basic"].version, "v1");
}

#[derive(Clone, Hash, PartialEq, Eq)]
struct Windowed {
    id: u32,
}

static WINDOW_CALLS: AtomicUsize = AtomicUsize::new(0);

#[memocache::node(key = "windowed:{id}", batch_window = "1ms", max_batch = 1000)]
impl Windowed {
    async fn load(&self) -> Result<u32, Io> {
        unreachable!("batched")
    }

    async fn load_all(nodes: Vec<Self>) -> Vec<(Self, Result<u32, Io>)> {
        WINDOW_CALLS.fetch_add(1, SeqCst);
        nodes
            .into_iter()
            .map(|n| (n.clone(), Ok(n.id * 2)))
            .collect()
    }
}

#[tokio::test(start_paused = true)]
async fn the_batch_window_coalesces_one_hundred_single_misses_into_one_load_all() {
    let gets = (0..100).map(|id| tokio::spawn(async move { node::get(&Windowed { id }).await }));
    for (id, r) in futures_util::future::join_all(gets)
        .await
        .into_iter()
        .enumerate()
    {
        assert_eq!(r.unwrap().unwrap(), id as u32 * 2);
    }
    assert_eq!(WINDOW_CALLS.load(SeqCst), 1);
    let start = tokio::time::Instant::now();
    assert_eq!(node::get(&Windowed { id: 5 }).await.unwrap(), 10);
    assert_eq!(start.elapsed(), Duration::ZERO, "a hit is not delayed");
}

#[derive(Clone, Hash, PartialEq, Eq)]
struct Guarded {
    id: u32,
}

static GUARDED_LOADS: AtomicUsize = AtomicUsize::new(0);

#[memocache::node(key = "guarded:{id}", doorkeeper)]
impl Guarded {
    async fn load(&self) -> Result<u32, Io> {
        GUARDED_LOADS.fetch_add(1, SeqCst);
        Ok(self.id)
    }
}

#[tokio::test]
async fn the_doorkeeper_stores_a_node_from_its_second_load_on() {
    let g = Guarded { id: 1 };
    node::get(&g).await.unwrap();
    node::get(&g).await.unwrap();
    assert_eq!(
        GUARDED_LOADS.load(SeqCst),
        2,
        "the first load was not stored"
    );
    node::get(&g).await.unwrap();
    assert_eq!(GUARDED_LOADS.load(SeqCst), 2, "the second was");
}

#[tokio::test]
async fn a_new_version_makes_old_entries_unreachable() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}", dir.path().display());
    register_storage("node-test-versions", &url).await.unwrap();
    // The same file store under two versions: two dynamic types of one name.
    let build = |version: &str| -> DynamicNode<String> {
        let options = NodeOptions::new()
            .version(version)
            .tier("node-test-versions", None);
        DynamicNode::build("Versioned", options).unwrap()
    };
    let (v1, v2) = (build("v1"), build("v2"));
    v1.get("k", || async { Ok::<_, Io>("old".to_string()) })
        .await
        .unwrap();
    let got = v2
        .get("k", || async { Ok::<_, Io>("new".to_string()) })
        .await
        .unwrap();
    assert_eq!(got, "new", "v2 does not read v1's entry");
    let store = memocache::registry::storage("node-test-versions")
        .unwrap()
        .byte_store()
        .unwrap();
    let prefix = node::prefix();
    for version in ["v1", "v2"] {
        let key = format!("{prefix}:Versioned:k:{version}");
        assert!(store.get(&key).await.unwrap().is_some(), "{key}");
    }
    // A fresh v1 instance (its memory empty) still reads v1's entry from the store.
    let fresh = build("v1");
    let again = fresh.get("k", || async { Ok::<_, Io>("reloaded".to_string()) });
    assert_eq!(again.await.unwrap(), "old");
}

#[derive(Clone, Hash, PartialEq, Eq)]
struct Pair {
    a: String,
    b: String,
}

#[memocache::node(key = "pair:{a}:{b}")]
impl Pair {
    async fn load(&self) -> Result<String, Io> {
        Ok(format!("{}|{}", self.a, self.b))
    }
}

#[test]
fn field_values_are_escaped_so_two_nodes_never_share_a_key() {
    let one = Pair {
        a: "x:y".into(),
        b: "z".into(),
    };
    let two = Pair {
        a: "x".into(),
        b: "y:z".into(),
    };
    assert_ne!(one.key(), two.key());
    assert_eq!(one.key(), "pair:x%3Ay:z");
}

#[derive(Clone, Hash, PartialEq, Eq)]
struct Revalidated {
    id: u32,
}

static REVALIDATIONS: AtomicUsize = AtomicUsize::new(0);

#[memocache::node(
    key = "revalidated:{id}",
    update_after = "10s",
    expire_after = "1m",
    policy = "lru",
    timeout = "5s"
)]
impl Revalidated {
    async fn load(&self) -> Result<usize, Io> {
        Ok(REVALIDATIONS.fetch_add(1, SeqCst))
    }
}

#[tokio::test(start_paused = true)]
async fn a_stale_node_is_served_at_once_and_refreshed_in_the_background() {
    let r = Revalidated { id: 1 };
    assert_eq!(node::get(&r).await.unwrap(), 0);
    tokio::time::advance(Duration::from_secs(11)).await;
    assert_eq!(node::get(&r).await.unwrap(), 0, "stale, served at once");
    // The background refresh has landed once its success is counted.
    while node::stats::<Revalidated>().load_success_count < 2 {
        tokio::task::yield_now().await;
    }
    assert_eq!(
        node::get(&r).await.unwrap(),
        1,
        "refreshed in the background"
    );
    tokio::time::advance(Duration::from_secs(61)).await;
    assert_eq!(node::get(&r).await.unwrap(), 2, "expired: loaded again");
}
