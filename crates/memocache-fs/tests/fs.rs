//! The file store in temporary directories: the storage contract for every codec ×
//! compression, restart persistence, corrupt and truncated files (counted, removed,
//! overwritten), the size bound (oldest evicted), expired and stale temporary files swept,
//! and two OS processes writing the same keys (this test binary run again with
//! `MEMOCACHE_FS_CHILD` set, running only `child_writer`).

use std::io::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use memocache_core::codec::{Codec, Compression, Format};
use memocache_core::key::Namespace;
use memocache_core::storage::{contract, ByteStore, Serialized, Storage, StoredEntry};
use memocache_core::{Cache, Tier};
use memocache_fs::{FileOptions, FileStore, Fsync};

fn loud(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

fn entry(v: String) -> StoredEntry<String> {
    StoredEntry::new(v, Duration::from_secs(600), Duration::from_secs(600))
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn storage_contract_for_every_codec_compression_and_fsync() {
    let dir = tempfile::tempdir().unwrap();
    let mut runs = 0;
    for (i, fsync) in [Fsync::Never, Fsync::Data, Fsync::Full]
        .into_iter()
        .enumerate()
    {
        let store = FileStore::open(
            dir.path().join(i.to_string()),
            FileOptions::default().fsync(fsync),
        )
        .await
        .unwrap();
        for &format in Format::all() {
            for &compression in Compression::all() {
                let codec = Codec::new(format, compression).compress_min(0);
                let a = store.typed::<String, String>(Namespace::new(format!("a{runs}")), codec);
                let b = store.typed::<String, String>(Namespace::new(format!("b{runs}")), codec);
                contract::check_storage(&a, &b).await;
                let big = "x".repeat(10_000);
                a.set(&"big".to_string(), entry(big.clone())).await.unwrap();
                assert_eq!(a.get(&"big".to_string()).await.unwrap().unwrap().value, big);
                runs += 1;
            }
        }
    }
    assert_eq!(runs, 3 * Format::all().len() * Compression::all().len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_cache_survives_a_restart_without_a_load() {
    let dir = tempfile::tempdir().unwrap();
    let build = |store: &FileStore| -> Cache<u64, String> {
        Cache::builder()
            .tier(Tier::new(
                store.typed(Namespace::new("users"), Codec::json()),
            ))
            .build()
            .unwrap()
    };
    {
        let store = FileStore::open(dir.path(), FileOptions::default())
            .await
            .unwrap();
        let cache = build(&store);
        for k in 0..100u64 {
            let v = cache
                .get_or_load(k, move || async move {
                    Ok::<_, std::io::Error>(format!("user {k}"))
                })
                .await
                .unwrap();
            assert_eq!(v, format!("user {k}"));
        }
        assert_eq!(cache.stats().tiers[0].writes, 100);
    }
    assert_eq!(files_in(dir.path()).len(), 100, "one file per entry");
    let store = FileStore::open(dir.path(), FileOptions::default())
        .await
        .unwrap();
    let cache = build(&store);
    for k in 0..100u64 {
        let v = cache
            .get_or_load(k, || async { Err::<String, _>("must come from the files") })
            .await
            .unwrap();
        assert_eq!(v, format!("user {k}"));
    }
    let s = cache.stats();
    assert_eq!((s.tiers[0].hits_fresh, s.loads_started), (100, 0));
    loud(&format!(
        "RESTART PERSISTENCE (files): 100 entries written through [memory, file] as 100 files \
         ({} bytes); cache and store dropped; reopened: 100/100 served from the files (tier \
         hits_fresh {}), {} loads after the restart",
        store.bytes(),
        s.tiers[0].hits_fresh,
        s.loads_started
    ));
}

#[tokio::test]
async fn corrupt_and_truncated_files_are_counted_misses_removed_then_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path(), FileOptions::default())
        .await
        .unwrap();
    let ns = Namespace::new("c");
    let cache: Cache<u32, String> = Cache::builder()
        .tier(Tier::new(store.typed(ns.clone(), Codec::json())))
        .build()
        .unwrap();
    let typed: Serialized<FileStore, u32, String> = store.typed(ns.clone(), Codec::json());
    typed.set(&5, entry("good".into())).await.unwrap();
    let path = store.path_of(&ns.key(&5u32));
    let good = std::fs::read(&path).unwrap();
    let damaged: Vec<(&str, Vec<u8>)> = vec![
        ("truncated", good[..good.len() - 3].to_vec()),
        ("appended to", [good.clone(), b"xx".to_vec()].concat()),
        ("garbage", b"not a memocache file".to_vec()),
        ("empty", Vec::new()),
        ("another key's file", {
            let mut other = good.clone();
            let key_at = 18;
            other[key_at] ^= 1;
            other
        }),
        ("a bad record inside good framing", {
            store
                .set("probe", b"MC\x01garbage".to_vec(), Duration::from_secs(60))
                .await
                .unwrap();
            let probe = std::fs::read(store.path_of("probe")).unwrap();
            let key = ns.key(&5u32);
            let mut framed = probe[..12].to_vec();
            framed.extend_from_slice(&(key.len() as u16).to_le_bytes());
            framed.extend_from_slice(&probe[14..18]);
            framed.extend_from_slice(key.as_bytes());
            framed.extend_from_slice(&probe[18 + "probe".len()..]);
            framed
        }),
    ];
    for (what, bytes) in damaged {
        std::fs::write(&path, &bytes).unwrap();
        cache.invalidate_memory(&5);
        let before = cache.stats().decode_errors;
        let v = cache
            .get_or_load(5, || async { Ok::<_, std::io::Error>("fresh".to_string()) })
            .await
            .unwrap();
        assert_eq!(v, "fresh", "{what}");
        assert_eq!(cache.stats().decode_errors, before + 1, "{what}: counted");
        assert_eq!(
            typed.get(&5).await.unwrap().unwrap().value,
            "fresh",
            "{what}: overwritten"
        );
    }
    assert_eq!(
        store.corrupt_removed(),
        5,
        "the framing-level damage was removed on read"
    );
    // get_many reports a corrupt file as that key's decode error.
    std::fs::write(&path, b"junk").unwrap();
    let many = typed.get_many(&[5, 6]).await.unwrap();
    assert!(many[0].is_err() && matches!(many[1], Ok(None)), "{many:?}");
    assert!(!path.exists(), "removed");
}

#[tokio::test]
async fn the_size_bound_evicts_the_oldest_files_and_sweeps_remove_expired_ones() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path(), FileOptions::default().sweep_every(0))
        .await
        .unwrap();
    let value = vec![7u8; 1_000];
    for i in 0..10 {
        store
            .set(&format!("k{i}"), value.clone(), Duration::from_secs(600))
            .await
            .unwrap();
    }
    // Make the write order unambiguous to the file system: k0 oldest … k9 newest.
    let base = SystemTime::now() - Duration::from_secs(1_000);
    for i in 0..10u64 {
        let f = std::fs::File::options()
            .write(true)
            .open(store.path_of(&format!("k{i}")))
            .unwrap();
        f.set_modified(base + Duration::from_secs(i)).unwrap();
    }
    let one = std::fs::metadata(store.path_of("k0")).unwrap().len();
    // A store bounded at 8 files: the next write (the 11th file) goes over and evicts the
    // oldest down to 90% of the bound (7 files).
    let bounded = FileStore::open(
        dir.path(),
        FileOptions::default().sweep_every(0).max_bytes(8 * one),
    )
    .await
    .unwrap();
    assert_eq!(bounded.bytes(), 10 * one, "counted at open");
    bounded
        .set("k10", value.clone(), Duration::from_secs(600))
        .await
        .unwrap();
    let present: Vec<bool> = (0..=10)
        .map(|i| store.path_of(&format!("k{i}")).exists())
        .collect();
    assert_eq!(
        present,
        [false, false, false, false, true, true, true, true, true, true, true],
        "the four oldest evicted, in write order"
    );
    let newest = std::fs::metadata(store.path_of("k10")).unwrap().len();
    assert_eq!(
        bounded.bytes(),
        6 * one + newest,
        "the view is the directory's real size"
    );

    // Expired files and stale temporary files go at the next sweep; fresh temporary files stay.
    store
        .set("short", value.clone(), Duration::from_millis(1))
        .await
        .unwrap();
    let stale = dir.path().join(".tmp-stale");
    let fresh = dir.path().join(".tmp-fresh");
    std::fs::write(&stale, b"x").unwrap();
    std::fs::write(&fresh, b"x").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&stale)
        .unwrap()
        .set_modified(SystemTime::now() - 2 * memocache_fs::STALE_TEMP_AGE)
        .unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await; // past the 1 ms deadline
    let report = store.sweep().await.unwrap();
    assert_eq!(
        (report.expired, report.temporary, report.evicted),
        (1, 1, 0),
        "{report:?}"
    );
    assert!(!stale.exists() && fresh.exists());
    assert_eq!(report.files, 7);
}

#[tokio::test]
async fn clear_removes_one_namespace_only() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path(), FileOptions::default())
        .await
        .unwrap();
    for k in ["a:1", "a:2", "ab:1", "b:1"] {
        store
            .set(k, b"v".to_vec(), Duration::from_secs(60))
            .await
            .unwrap();
    }
    store.clear_prefix("a:").await.unwrap();
    let left = store
        .get_many(&["a:1".into(), "a:2".into(), "ab:1".into(), "b:1".into()])
        .await
        .unwrap();
    assert_eq!(
        left.iter().map(Option::is_some).collect::<Vec<_>>(),
        [false, false, true, true]
    );
    assert_eq!(files_in(dir.path()).len(), 2);
}

const CHILD: &str = "MEMOCACHE_FS_CHILD";
const KEYS: usize = 20;
const ROUNDS: usize = 100;

/// Writes `ready-{who}`, waits (at most 30 s) for the other's, then `ROUNDS` rounds of
/// writing every key and reading all back; returns (reads checked, reads of the other's
/// values).
async fn race(store: &FileStore, who: &str, other: &str) -> (usize, usize) {
    let typed: Serialized<FileStore, String, String> =
        store.typed(Namespace::new("race"), Codec::json());
    typed
        .set(&format!("ready-{who}"), entry("yes".into()))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while typed
        .get(&format!("ready-{other}"))
        .await
        .unwrap()
        .is_none()
    {
        assert!(
            Instant::now() < deadline,
            "{who}: the other process never came"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let keys: Vec<String> = (0..KEYS).map(|i| format!("k{i}")).collect();
    let (mut checked, mut theirs) = (0, 0);
    for round in 0..ROUNDS {
        let items = keys
            .iter()
            .map(|k| (k.clone(), entry(format!("{who}-{round}"))))
            .collect();
        typed.set_many(items).await.expect("no write fails");
        for got in typed.get_many(&keys).await.expect("no read fails") {
            let value = got.expect("no corrupt read").expect("present").value;
            let writer = value.split('-').next().unwrap();
            assert!(writer == who || writer == other, "{value}");
            checked += 1;
            theirs += usize::from(writer == other);
        }
    }
    (checked, theirs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_writer() {
    let Ok(dir) = std::env::var(CHILD) else {
        return; // run by the parent test only
    };
    let store = FileStore::open(&dir, FileOptions::default()).await.unwrap();
    let (_, theirs) = race(&store, "child", "parent").await;
    let typed: Serialized<FileStore, String, String> =
        store.typed(Namespace::new("race"), Codec::json());
    typed
        .set(&"seen-child".into(), entry(theirs.to_string()))
        .await
        .unwrap();
    typed
        .set(&"last".into(), entry("child-final".into()))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_write_the_same_keys() {
    if std::env::var_os(CHILD).is_some() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args(["child_writer", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, dir.path())
        .spawn()
        .expect("run this test binary again");
    let store = FileStore::open(dir.path(), FileOptions::default())
        .await
        .unwrap();
    let (checked, theirs) = race(&store, "parent", "child").await;
    let status = tokio::time::timeout(Duration::from_secs(120), child.wait())
        .await
        .expect("the child finishes")
        .unwrap();
    assert!(status.success(), "the child process failed: {status}");
    let typed: Serialized<FileStore, String, String> =
        store.typed(Namespace::new("race"), Codec::json());
    let child_saw: usize = typed
        .get(&"seen-child".into())
        .await
        .unwrap()
        .unwrap()
        .value
        .parse()
        .unwrap();
    assert!(
        theirs + child_saw > 0,
        "the two processes' writes interleaved"
    );
    assert_eq!(
        typed.get(&"last".into()).await.unwrap().unwrap().value,
        "child-final"
    );
    typed
        .set(&"last".into(), entry("parent-final".into()))
        .await
        .unwrap();
    assert_eq!(
        typed.get(&"last".into()).await.unwrap().unwrap().value,
        "parent-final"
    );
    assert!(
        files_in(dir.path()).iter().all(|n| !n.starts_with(".tmp-")),
        "no temporary file left"
    );
    loud(&format!(
        "TWO PROCESSES (files): each wrote {KEYS} keys x {ROUNDS} rounds while reading them \
         back; the parent checked {checked} reads ({theirs} showed the child's value, the \
         child saw the parent's {child_saw} times), all whole records of a writer; no error; \
         the later write won both ways"
    ));
}

#[tokio::test]
async fn concurrent_misses_read_the_directory_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path(), FileOptions::default())
        .await
        .unwrap();
    let cache: Cache<u32, String> = Cache::builder()
        .tier(Tier::new(store.typed(Namespace::new("n"), Codec::json())))
        .build()
        .unwrap();
    let loads = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (cache, loads) = (cache.clone(), loads.clone());
            tokio::spawn(async move {
                cache
                    .get_or_load(1, move || async move {
                        loads.fetch_add(1, SeqCst);
                        Ok::<_, std::io::Error>("v".to_string())
                    })
                    .await
                    .unwrap()
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), "v");
    }
    assert_eq!(loads.load(SeqCst), 1);
    let s = cache.stats();
    assert_eq!((s.tiers[0].misses, s.tiers[0].writes), (1, 1));
}
