//! SQLite as the embedded persistent store: a cache survives a restart (write, drop
//! everything, reopen, read without a load), and two OS processes write the same keys of one
//! file at once (no error, no corrupt read, the last writer wins). The second process is this
//! test binary run again with `MEMOCACHE_SQL_CHILD` set, running only `child_writer`.

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use memocache_core::codec::Codec;
use memocache_core::key::Namespace;
use memocache_core::storage::{Serialized, Storage, StoredEntry};
use memocache_core::{Cache, Tier};
use memocache_sql::{SqlOptions, SqlStore, TableName};

const CHILD: &str = "MEMOCACHE_SQL_CHILD";
const KEYS: usize = 20;
const ROUNDS: usize = 150;

async fn open(path: &Path) -> SqlStore {
    SqlStore::open_sqlite(
        path,
        TableName::new("shared").unwrap(),
        SqlOptions::default(),
    )
    .await
    .expect("open the SQLite file")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_cache_survives_a_restart_without_a_load() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache.db");
    let build = |store: &SqlStore| -> Cache<u64, String> {
        Cache::builder()
            .capacity(1_000)
            .tier(Tier::new(
                store.typed(Namespace::new("users"), Codec::json()),
            ))
            .build()
            .unwrap()
    };
    let loads = Arc::new(AtomicUsize::new(0));
    {
        let store = open(&path).await;
        let cache = build(&store);
        for k in 0..100u64 {
            let loads = loads.clone();
            let v = cache
                .get_or_load(k, move || async move {
                    loads.fetch_add(1, SeqCst);
                    Ok::<_, std::io::Error>(format!("user {k}"))
                })
                .await
                .unwrap();
            assert_eq!(v, format!("user {k}"));
        }
        assert_eq!(cache.stats().tiers[0].writes, 100);
        // Drop everything: the cache (its memory), the store, the pool.
        drop(cache);
        store.close().await;
    }
    let bytes: u64 = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert_eq!(loads.load(SeqCst), 100);

    let store = open(&path).await;
    let cache = build(&store);
    for k in 0..100u64 {
        let v = cache
            .get_or_load(k, || async {
                Err::<String, _>("must come from the SQLite file")
            })
            .await
            .unwrap();
        assert_eq!(v, format!("user {k}"));
    }
    let s = cache.stats();
    assert_eq!(s.tiers[0].hits_fresh, 100, "every key read from the file");
    assert_eq!(s.tiers[0].misses, 0);
    assert_eq!(s.loads_started, 0, "no load after the restart");
    common::loud(&format!(
        "RESTART PERSISTENCE (sqlite): 100 entries written through [memory, sqlite] to {} \
         ({bytes} bytes with its WAL), 100 loader calls; cache, store and pool \
         dropped; reopened: 100/100 served from the file (tier hits_fresh {}, misses {}), \
         {} loads after the restart",
        path.display(),
        s.tiers[0].hits_fresh,
        s.tiers[0].misses,
        s.loads_started
    ));
}

fn entry(v: String) -> StoredEntry<String> {
    StoredEntry::new(v, Duration::from_secs(600), Duration::from_secs(600))
}

/// Writes `ready-{who}`, then waits (at most 30 s) until the other process's is there, so
/// both hammer the file at the same time.
async fn barrier(typed: &Serialized<SqlStore, String, String>, who: &str, other: &str) {
    typed
        .set(&format!("ready-{who}"), entry("yes".into()))
        .await
        .expect("set");
    let deadline = Instant::now() + Duration::from_secs(30);
    while typed
        .get(&format!("ready-{other}"))
        .await
        .expect("get")
        .is_none()
    {
        assert!(
            Instant::now() < deadline,
            "{who}: the other process never came"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// One process's share: `ROUNDS` rounds of writing every key (`{who}-{round}`) in one
/// `set_many` (and one of them again with `set`) and reading them all back; every record
/// must decode to a value one of the two writers wrote. Returns the reads checked and how
/// many of them showed the other process's value.
async fn hammer(store: &SqlStore, who: &str, other: &str) -> (usize, usize) {
    let typed: Serialized<SqlStore, String, String> =
        store.typed(Namespace::new("race"), Codec::json());
    barrier(&typed, who, other).await;
    let keys: Vec<String> = (0..KEYS).map(|i| format!("k{i}")).collect();
    let (mut checked, mut theirs) = (0, 0);
    for round in 0..ROUNDS {
        let items = keys
            .iter()
            .map(|k| (k.clone(), entry(format!("{who}-{round}"))))
            .collect();
        typed.set_many(items).await.expect("no write fails");
        if round % 3 == 0 {
            typed
                .set(&keys[round % KEYS], entry(format!("{who}-{round}")))
                .await
                .expect("set");
        }
        for got in typed.get_many(&keys).await.expect("no read fails") {
            let value = got
                .expect("no corrupt read")
                .expect("every key is present")
                .value;
            let (writer, n) = value.split_once('-').expect("a writer's value");
            assert!(writer == who || writer == other, "{value}");
            assert!(n.parse::<usize>().is_ok_and(|n| n < ROUNDS), "{value}");
            checked += 1;
            theirs += usize::from(writer == other);
        }
    }
    (checked, theirs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_writer() {
    let Ok(path) = std::env::var(CHILD) else {
        return; // run by the parent test only
    };
    let store = open(Path::new(&path)).await;
    let (_, theirs) = hammer(&store, "child", "parent").await;
    let typed: Serialized<SqlStore, String, String> =
        store.typed(Namespace::new("race"), Codec::json());
    typed
        .set(&"seen-child".to_string(), entry(theirs.to_string()))
        .await
        .unwrap();
    // The ordering check: written after the parent last wrote it.
    typed
        .set(&"last".to_string(), entry("child-final".into()))
        .await
        .unwrap();
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_write_the_same_keys_of_one_file() {
    if std::env::var_os(CHILD).is_some() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.db");
    let start = Instant::now();
    // Both processes open (and migrate) the new file at the same moment.
    let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args(["child_writer", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, &path)
        .spawn()
        .expect("run this test binary again");
    let store = open(&path).await;
    let (checked, theirs) = hammer(&store, "parent", "child").await;
    let status = tokio::time::timeout(Duration::from_secs(120), child.wait())
        .await
        .expect("the child finishes")
        .unwrap();
    assert!(status.success(), "the child process failed: {status}");
    let elapsed = start.elapsed();

    let typed: Serialized<SqlStore, String, String> =
        store.typed(Namespace::new("race"), Codec::json());
    let child_saw: usize = typed
        .get(&"seen-child".to_string())
        .await
        .unwrap()
        .unwrap()
        .value
        .parse()
        .unwrap();
    assert!(
        theirs + child_saw > 0,
        "the two processes' writes interleaved (each read the other's values)"
    );
    let last = typed.get(&"last".to_string()).await.unwrap().unwrap().value;
    assert_eq!(last, "child-final", "the child wrote last");
    typed
        .set(&"last".to_string(), entry("parent-final".into()))
        .await
        .unwrap();
    assert_eq!(
        typed.get(&"last".to_string()).await.unwrap().unwrap().value,
        "parent-final"
    );
    common::loud(&format!(
        "TWO PROCESSES (sqlite, WAL): each wrote {KEYS} keys x {ROUNDS} rounds (set_many + set) into one file \
         while reading them back; the parent checked {checked} reads ({theirs} showed the child's \
         value, the child saw the parent's {child_saw} times), all decoded to a writer's value; no error in either process; the later write won both ways; {elapsed:?}"
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zone_invalidation_reaches_entries_another_pool_wrote_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("zones.db");
    let build = |store: &SqlStore, zone: &memocache_core::Zone| -> Cache<(u64, u32), String> {
        Cache::builder()
            .zone(zone)
            .zone_key(|&(author, _): &(u64, u32)| author)
            .tier(Tier::new(
                store.typed(Namespace::new("books"), Codec::json()),
            ))
            .build()
            .unwrap()
    };
    {
        let store = open(&path).await;
        let writer = build(&store, &memocache_core::Zone::new("authors"));
        for key in [(1, 10), (1, 11), (2, 20)] {
            writer
                .get_or_load(key, move || async move {
                    Ok::<_, std::io::Error>(format!("{key:?}"))
                })
                .await
                .unwrap();
        }
        // Another pool on the same file, with its own zone handle, invalidates author 1.
        let other = open(&path).await;
        let zone = memocache_core::Zone::new("authors");
        let _member = build(&other, &zone);
        zone.invalidate(1).await.unwrap();
    }
    // After a restart: author 1's entries are misses, author 2's are read without a load.
    let store = open(&path).await;
    let cache = build(&store, &memocache_core::Zone::new("authors"));
    assert_eq!(cache.get(&(1, 10)).await, None);
    assert_eq!(cache.get(&(1, 11)).await, None);
    assert_eq!(cache.get(&(2, 20)).await.as_deref(), Some("(2, 20)"));
}
