//! Redis Cluster: three `redis-server` masters of our own on free ports joined with
//! `redis-cli --cluster create`; the storage contract, a chain [memory, cluster] whose keys
//! spread over every master, MGET and batched writes across slots, and a namespace clear that
//! visits every master. Skips loudly without the binaries (fails under `CI`).

mod common;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use memocache_core::codec::{Codec, Compression, Format};
use memocache_core::storage::{contract, Storage, StoredEntry};
use memocache_core::{Cache, Tier};
use memocache_redis::RedisStore;

struct Cluster {
    nodes: Vec<common::OwnServer>,
}

impl Cluster {
    fn start() -> Cluster {
        let nodes: Vec<_> = (0..3)
            .map(|_| {
                common::OwnServer::start_on(
                    common::free_cluster_port(),
                    &[
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        "nodes.conf",
                        "--cluster-node-timeout",
                        "5000",
                    ],
                )
            })
            .collect();
        let addrs: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let out = std::process::Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addrs)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .expect("redis-cli runs");
        assert!(
            out.status.success(),
            "redis-cli --cluster create failed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        while !nodes.iter().all(|n| {
            n.cli(&["cluster", "info"])
                .is_some_and(|i| i.contains("cluster_state:ok"))
        }) {
            assert!(Instant::now() < deadline, "cluster never reached state ok");
            std::thread::sleep(Duration::from_millis(50));
        }
        Cluster { nodes }
    }

    fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.url()).collect()
    }

    /// Keys held by each master.
    fn sizes(&self) -> Vec<u64> {
        self.nodes
            .iter()
            .map(|n| n.cli(&["dbsize"]).unwrap().trim().parse().unwrap())
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_master_cluster_serves_the_contract_and_a_chain() {
    if !common::have("redis-server") || !common::have("redis-cli") {
        common::skip("cluster test", "redis-server / redis-cli not on PATH");
        return;
    }
    let cluster = Cluster::start();
    let redis = RedisStore::connect_cluster(cluster.urls()).await.unwrap();
    assert!(redis.is_cluster());

    // The storage contract, plain and compressed.
    for codec in [
        Codec::json(),
        Codec::new(
            Format::all()[Format::all().len() - 1],
            Compression::all()[Compression::all().len() - 1],
        )
        .compress_min(0),
    ] {
        let a = redis.typed::<String, String>(common::namespace("cluster", "a"), codec);
        let b = redis.typed::<String, String>(common::namespace("cluster", "b"), codec);
        contract::check_storage(&a, &b).await;
    }
    assert_eq!(
        cluster.sizes().iter().sum::<u64>(),
        0,
        "the contract cleaned up"
    );

    // A chain [memory, cluster]: 300 loads spread over every master.
    let ns = common::namespace("cluster", "chain");
    let build = |redis: &RedisStore| -> Cache<u64, String> {
        Cache::builder()
            .tier(Tier::new(redis.typed(ns.clone(), Codec::json())))
            .build()
            .unwrap()
    };
    let cache = build(&redis);
    let loads = Arc::new(AtomicUsize::new(0));
    for k in 0..300u64 {
        let loads = loads.clone();
        let v = cache
            .get_or_load(k, move || async move {
                loads.fetch_add(1, SeqCst);
                Ok::<_, std::io::Error>(format!("v{k}"))
            })
            .await
            .unwrap();
        assert_eq!(v, format!("v{k}"));
    }
    let sizes = cluster.sizes();
    assert_eq!(sizes.iter().sum::<u64>(), 300);
    assert!(
        sizes.iter().all(|&n| n > 0),
        "keys on every master: {sizes:?}"
    );

    // MGET across slots, in order, through the typed storage.
    let typed = redis.typed::<u64, String>(ns.clone(), Codec::json());
    let keys: Vec<u64> = (0..300).chain([10_000]).collect();
    let got = typed.get_many(&keys).await.unwrap();
    assert_eq!(got.len(), 301);
    for (k, item) in keys.iter().zip(&got) {
        let expected = (*k < 300).then(|| format!("v{k}"));
        assert_eq!(item.clone().unwrap().map(|e| e.value), expected);
    }
    // Writes of keys on different nodes in one batch.
    typed
        .set_many(
            (1_000..1_050u64)
                .map(|k| {
                    (
                        k,
                        StoredEntry::new(
                            format!("v{k}"),
                            Duration::from_secs(60),
                            Duration::from_secs(60),
                        ),
                    )
                })
                .collect(),
        )
        .await
        .unwrap();

    // A second cache with its own cluster connection reads everything from the cluster.
    let other = build(&RedisStore::connect_cluster(cluster.urls()).await.unwrap());
    for k in (0..300u64).chain(1_000..1_050) {
        let v = other
            .get_or_load(k, || async {
                Err::<String, _>("must come from the cluster")
            })
            .await
            .unwrap();
        assert_eq!(v, format!("v{k}"));
    }
    assert_eq!(other.stats().tiers[0].hits_fresh, 350);
    assert_eq!(loads.load(SeqCst), 300);

    // invalidate_all clears the namespace on every master.
    let sizes_before = cluster.sizes();
    other.invalidate_all().await.unwrap();
    assert_eq!(cluster.sizes(), vec![0, 0, 0]);
    common::loud(&format!(
        "CLUSTER TEST: 3 masters on ports {:?} via redis-cli --cluster create; storage contract \
         passed (JSON and compressed); 300 loads spread over the masters as {:?} (+50 \
         batched set_many writes across slots: {:?}); MGET of 301 keys across slots in order; a second \
         cache read 350 keys from the cluster with no loader call; invalidate_all SCAN+UNLINKed \
         every master down to {:?}",
        cluster.nodes.iter().map(|n| n.port).collect::<Vec<_>>(),
        sizes,
        sizes_before,
        cluster.sizes()
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_distributed_cache_on_a_cluster_leases_in_the_value_s_slot_and_gets_events() {
    if !common::have("redis-server") || !common::have("redis-cli") {
        common::skip("cluster test", "redis-server / redis-cli not on PATH");
        return;
    }
    let cluster = Cluster::start();
    let ns = memocache_core::key::Namespace::new("dist").prefix("cluster");
    // A lease key `{<value key>}:lease` hashes to its value key's slot.
    let slot =
        |key: &str| -> String { cluster.nodes[0].cli(&["cluster", "keyslot", key]).unwrap() };
    for k in [1u64, 7, 12_345] {
        let value_key = ns.key(&k);
        assert_eq!(slot(&format!("{{{value_key}}}:lease")), slot(&value_key));
    }
    let build = |redis: RedisStore| -> Cache<u64, String> {
        Cache::builder()
            .tier(Tier::new(redis.typed(ns.clone(), Codec::json())))
            .distributed(memocache_core::Distributed::new(
                Arc::new(redis),
                ns.clone(),
            ))
            .build()
            .unwrap()
    };
    let a = build(RedisStore::connect_cluster(cluster.urls()).await.unwrap());
    let b = build(RedisStore::connect_cluster(cluster.urls()).await.unwrap());
    a.subscribed().await;
    b.subscribed().await;
    let loads = Arc::new(AtomicUsize::new(0));
    let requests = (0..200).map(|i| {
        let (cache, loads) = (
            if i % 2 == 0 { a.clone() } else { b.clone() },
            loads.clone(),
        );
        async move {
            cache
                .get_or_load(5, move || async move {
                    loads.fetch_add(1, SeqCst);
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    Ok::<_, std::io::Error>("five".to_string())
                })
                .await
                .unwrap()
        }
    });
    for v in futures_util::future::join_all(requests).await {
        assert_eq!(v, "five");
    }
    assert_eq!(loads.load(SeqCst), 1, "one load for two instances");
    // An invalidation published on the cluster reaches the other instance's memory.
    assert_eq!(b.len(), 1);
    a.invalidate(&5).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !b.is_empty() {
        assert!(
            Instant::now() < deadline,
            "the event never reached the other instance"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(b.distributed_stats().unwrap().events_applied, 1);
    common::loud(
        "CLUSTER DISTRIBUTED: lease keys in their value keys' slots; 200 requests over two \
         instances made 1 load; an invalidation reached the other instance through pub/sub",
    );
}
