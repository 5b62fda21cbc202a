//! Against a real SQLite file, the machine's PostgreSQL (`MEMOCACHE_POSTGRES_URL`) and MariaDB
//! (`MEMOCACHE_MYSQL_URL`): the storage contract for every codec × compression, keys that
//! differ only by case or trailing space, `clear` with `LIKE` wildcards in the prefix, large
//! batches, expiry, the sweep, corrupt rows, the chain [memory, sql], hostile table names and
//! schema versions. Each test uses tables of its own and drops them. An unreachable server:
//! loud SKIP, or failure under `CI`.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use common::{open, Db, ALL};
use memocache_core::codec::{Codec, Compression, Format};
use memocache_core::key::Namespace;
use memocache_core::storage::{contract, ByteStore, Storage, StoredEntry};
use memocache_core::{Cache, Tier};
use memocache_sql::{SqlError, SqlOptions, SqlStore, TableName, TableNameError};

fn ns(name: &str) -> Namespace {
    Namespace::new(name).prefix("sqltest")
}

#[tokio::test]
async fn storage_contract_for_every_codec_and_compression() {
    for db in ALL {
        let Some(store) = open("contract", db, SqlOptions::default()).await else {
            continue;
        };
        let mut runs = 0;
        for &format in Format::all() {
            for &compression in Compression::all() {
                let codec = Codec::new(format, compression).compress_min(0);
                let a = store.typed::<String, String>(ns(&format!("a{runs}")), codec);
                let b = store.typed::<String, String>(ns(&format!("b{runs}")), codec);
                contract::check_storage(&a, &b).await;
                // A value large enough to be compressed round-trips too.
                let big = "x".repeat(10_000);
                a.set(
                    &"big".to_string(),
                    StoredEntry::new(
                        big.clone(),
                        Duration::from_secs(60),
                        Duration::from_secs(60),
                    ),
                )
                .await
                .unwrap();
                assert_eq!(a.get(&"big".to_string()).await.unwrap().unwrap().value, big);
                runs += 1;
            }
        }
        assert_eq!(runs, Format::all().len() * Compression::all().len());
        common::loud(&format!(
            "{db:?}: storage contract passed for {runs} codec × compression pairs"
        ));
        store.finish().await;
    }
}

#[tokio::test]
async fn keys_compare_byte_by_byte_and_clear_escapes_wildcards() {
    for db in ALL {
        let Some(store) = open("bytes", db, SqlOptions::default()).await else {
            continue;
        };
        let ttl = Duration::from_secs(60);
        let keys = ["a", "A", "a ", "é", "p%:1", "p_:1", "px:1", "p!:1"];
        for (i, k) in keys.iter().enumerate() {
            store.set(k, vec![i as u8], ttl).await.unwrap();
        }
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(
                store.get(k).await.unwrap(),
                Some(vec![i as u8]),
                "{db:?} {k:?}"
            );
        }
        // `%`, `_` and `!` in a prefix are literal: "p%:" clears only "p%:1".
        store.clear_prefix("p%:").await.unwrap();
        store.clear_prefix("p!:").await.unwrap();
        let left = store
            .get_many(&keys.iter().map(|k| k.to_string()).collect::<Vec<_>>())
            .await
            .unwrap();
        let present: Vec<&str> = keys
            .iter()
            .zip(&left)
            .filter(|(_, v)| v.is_some())
            .map(|(k, _)| *k)
            .collect();
        assert_eq!(present, ["a", "A", "a ", "é", "p_:1", "px:1"], "{db:?}");
        // SQLite's LIKE would ignore case: "A" must not clear "a".
        store.clear_prefix("A").await.unwrap();
        assert!(store.get("a").await.unwrap().is_some(), "{db:?}");
        assert!(store.get("A").await.unwrap().is_none(), "{db:?}");
        let long = "k".repeat(memocache_sql::MAX_KEY_LEN + 1);
        let e = store.get(&long).await.unwrap_err();
        assert!(e.to_string().contains("longer than"), "{db:?}: {e}");
        store.finish().await;
    }
}

#[tokio::test]
async fn large_batches_are_split_and_keep_the_last_write_of_a_key() {
    for db in ALL {
        let Some(store) = open("batch", db, SqlOptions::default()).await else {
            continue;
        };
        let ttl = Duration::from_secs(60);
        let mut items: Vec<(String, Vec<u8>, Duration)> = (0..1_200u32)
            .map(|i| (format!("k{i}"), i.to_le_bytes().to_vec(), ttl))
            .collect();
        items.push(("k7".into(), b"last".to_vec(), ttl));
        let before = store.statements();
        store.set_many(items).await.unwrap();
        assert_eq!(
            store.statements() - before,
            3 + 2,
            "{db:?}: three upserts of <= 500 rows in one transaction"
        );
        let keys: Vec<String> = (0..1_200u32)
            .map(|i| format!("k{i}"))
            .chain(["nope".into()])
            .collect();
        let before = store.statements();
        let got = store.get_many(&keys).await.unwrap();
        assert_eq!(
            store.statements() - before,
            3,
            "{db:?}: one SELECT per 500 keys"
        );
        assert_eq!(got.len(), 1_201);
        assert_eq!(got[7].as_deref(), Some(&b"last"[..]), "{db:?}");
        assert_eq!(got[1_199].as_deref(), Some(&1_199u32.to_le_bytes()[..]));
        assert_eq!(got[1_200], None);
        store.finish().await;
    }
}

#[tokio::test]
async fn expired_rows_are_misses_and_sweeps_delete_them_in_bounded_batches() {
    for db in ALL {
        let options = SqlOptions::default().sweep(4, 3);
        let Some(store) = open("sweep", db, options).await else {
            continue;
        };
        // Seven rows with a 1 ms lifespan (three writes), then real time passes their deadline.
        let short = Duration::from_millis(1);
        store
            .set_many(
                (0..5)
                    .map(|i| (format!("old{i}"), vec![1], short))
                    .collect(),
            )
            .await
            .unwrap();
        store.set("old5", vec![1], short).await.unwrap();
        store.set("old6", vec![1], short).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(
            store.get("old0").await.unwrap(),
            None,
            "{db:?}: expired is a miss"
        );
        assert_eq!(
            store
                .get_many(&["old1".into(), "old2".into()])
                .await
                .unwrap(),
            vec![None, None]
        );
        // The 4th write sweeps at most 3 expired rows, in the same call.
        let before = store.statements();
        store
            .set("live", vec![2], Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(
            store.statements() - before,
            2,
            "{db:?}: the upsert and the sweep"
        );
        assert_eq!(
            store.sweep_expired().await.unwrap(),
            3,
            "{db:?}: 7 - 3 swept = 4; one batch of 3"
        );
        assert_eq!(store.sweep_expired().await.unwrap(), 1, "{db:?}");
        assert_eq!(store.sweep_expired().await.unwrap(), 0, "{db:?}");
        assert_eq!(
            store.get("live").await.unwrap(),
            Some(vec![2]),
            "{db:?}: live rows stay"
        );
        store.finish().await;
    }
}

#[tokio::test]
async fn a_corrupt_row_is_a_counted_miss_then_overwritten() {
    for db in ALL {
        let Some(store) = open("corrupt", db, SqlOptions::default()).await else {
            continue;
        };
        let namespace = ns("c");
        let cache: Cache<u32, String> = Cache::builder()
            .tier(Tier::new(store.typed(namespace.clone(), Codec::json())))
            .build()
            .unwrap();
        let key = namespace.key(&5u32);
        for garbage in [b"not a record at all".to_vec(), b"MC".to_vec(), Vec::new()] {
            store
                .set(&key, garbage, Duration::from_secs(60))
                .await
                .unwrap();
            cache.invalidate_memory(&5);
            let before = cache.stats().decode_errors;
            let v = cache
                .get_or_load(5, || async { Ok::<_, std::io::Error>("fresh".to_string()) })
                .await
                .unwrap();
            assert_eq!(v, "fresh");
            assert_eq!(cache.stats().decode_errors, before + 1, "{db:?}: counted");
            let stored = store.typed::<u32, String>(namespace.clone(), Codec::json());
            assert_eq!(
                stored.get(&5).await.unwrap().unwrap().value,
                "fresh",
                "{db:?}: overwritten with the reload"
            );
        }
        store.finish().await;
    }
}

#[tokio::test]
async fn the_chain_reads_the_table_once_per_miss_and_refills_memory() {
    for db in ALL {
        let Some(store) = open("chain", db, SqlOptions::default()).await else {
            continue;
        };
        let cache: Cache<u32, String> = Cache::builder()
            .tier(Tier::new(store.typed(ns("chain"), Codec::json())))
            .build()
            .unwrap();
        let loads = Arc::new(AtomicUsize::new(0));
        let load = |loads: &Arc<AtomicUsize>| {
            let loads = loads.clone();
            move || async move {
                loads.fetch_add(1, SeqCst);
                Ok::<_, std::io::Error>("ann".to_string())
            }
        };
        assert_eq!(cache.get_or_load(1, load(&loads)).await.unwrap(), "ann");
        cache.invalidate_memory(&1);
        let before = store.statements();
        let waiters: Vec<_> = (0..20)
            .map(|_| {
                let (cache, l) = (cache.clone(), load(&loads));
                tokio::spawn(async move { cache.get_or_load(1, l).await.unwrap() })
            })
            .collect();
        for w in waiters {
            assert_eq!(w.await.unwrap(), "ann");
        }
        assert_eq!(loads.load(SeqCst), 1, "{db:?}: the table answered");
        assert_eq!(
            store.statements() - before,
            1,
            "{db:?}: one SELECT for 20 misses"
        );
        cache.invalidate(&1).await.unwrap();
        assert!(store.get(&ns("chain").key(&1u32)).await.unwrap().is_none());
        store.finish().await;
    }
}

#[tokio::test]
async fn hostile_table_names_are_refused_before_any_statement() {
    for name in [
        "cache; DROP TABLE users",
        "x\" OR 1=1 --",
        "`x`",
        "a b",
        "",
        "sqlite_master",
    ] {
        let e = TableName::new(name).unwrap_err();
        assert!(!e.to_string().is_empty());
    }
    assert!(matches!(
        TableName::new("t\"; DROP TABLE memocache_schema; --"),
        Err(TableNameError::BadCharacter {
            character: '"',
            position: 1
        })
    ));
    // And a store cannot be opened on an unknown scheme.
    let e = SqlStore::connect("oracle://x", TableName::default(), SqlOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(e, SqlError::Scheme(ref s) if s == "oracle"), "{e}");
    let e = SqlStore::connect(
        "sqlite::memory:",
        TableName::default(),
        SqlOptions::default().pool_size(0),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, SqlError::Option(_)), "{e}");
}

#[tokio::test]
async fn a_table_migrated_by_a_newer_build_or_made_by_someone_else_is_refused() {
    for db in ALL {
        let Some(store) = open("schema", db, SqlOptions::default()).await else {
            continue;
        };
        let table = store.table().clone();
        let url = match db {
            Db::Sqlite => None,
            Db::Postgres => Some(common::postgres_url()),
            Db::MySql => Some(common::mysql_url()),
        };
        if let Some(url) = url {
            // Reopening is idempotent.
            let again = SqlStore::connect(&url, table.clone(), SqlOptions::default())
                .await
                .unwrap();
            again
                .set("k", vec![1], Duration::from_secs(60))
                .await
                .unwrap();
            assert_eq!(store.get("k").await.unwrap(), Some(vec![1]));
        }
        store.finish().await;
    }
    // A newer version: raise the recorded version of a SQLite table, then reopen.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.db");
    let table = TableName::new("versioned").unwrap();
    let store = SqlStore::open_sqlite(&path, table.clone(), SqlOptions::default())
        .await
        .unwrap();
    drop(store);
    let url = format!("sqlite://{}", path.display());
    let pool = memocache_sql::sqlx::SqlitePool::connect(&url)
        .await
        .unwrap();
    memocache_sql::sqlx::query(
        "UPDATE memocache_schema SET version = 99 WHERE table_name = 'versioned'",
    )
    .execute(&pool)
    .await
    .unwrap();
    memocache_sql::sqlx::query("CREATE TABLE other (id INTEGER)")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let e = SqlStore::open_sqlite(&path, table, SqlOptions::default())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("schema version 99"), "{e}");
    let e = SqlStore::open_sqlite(
        &path,
        TableName::new("other").unwrap(),
        SqlOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("not a memocache store table"), "{e}");
}
