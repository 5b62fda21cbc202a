//! Shared by the SQL tests: the servers' URLs, loud skips (failures under `CI`), stores on
//! tables of their own that are dropped at the end, and a temporary SQLite file.
#![allow(dead_code)]

use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use memocache_sql::{SqlOptions, SqlStore, TableName};

/// `MEMOCACHE_POSTGRES_URL`, default the machine's PostgreSQL.
pub fn postgres_url() -> String {
    std::env::var("MEMOCACHE_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// `MEMOCACHE_MYSQL_URL`, default the machine's MariaDB.
pub fn mysql_url() -> String {
    std::env::var("MEMOCACHE_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into())
}

/// Written straight to stderr, so `cargo test` shows it even for a passing test.
pub fn loud(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// A loud SKIP, or a failure when `CI` is set.
pub fn skip(test: &str, why: &str) {
    if std::env::var_os("CI").is_some() {
        panic!("{test}: {why} (CI is set: an unavailable service fails the test)");
    }
    loud(&format!("\n!!!!! SKIP: {test}: {why} !!!!!\n"));
}

/// A table name no other test (or run) uses.
pub fn unique_table(test: &str) -> TableName {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos()
        % 1_000_000_000_000;
    let name = format!(
        "t_{test}_{}_{nanos}_{}",
        std::process::id() % 100_000,
        N.fetch_add(1, Ordering::Relaxed)
    );
    TableName::new(&name[..name.len().min(memocache_sql::MAX_TABLE_NAME_LEN)]).unwrap()
}

/// Which databases a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
    MySql,
}

pub const ALL: [Db; 3] = [Db::Sqlite, Db::Postgres, Db::MySql];

/// A store on a fresh table, dropped (with the SQLite file's directory) when the test ends.
pub struct TestStore {
    pub store: SqlStore,
    pub db: Db,
    _dir: Option<tempfile::TempDir>,
}

impl std::ops::Deref for TestStore {
    type Target = SqlStore;
    fn deref(&self) -> &SqlStore {
        &self.store
    }
}

impl TestStore {
    /// Drops the table. Call at the end of the test (an `async` drop is not possible).
    pub async fn finish(self) {
        self.store.drop_table().await.expect("drop the test table");
    }
}

/// A store of `db` on a fresh table with `options`, or `None` after a loud skip.
pub async fn open(test: &str, db: Db, options: SqlOptions) -> Option<TestStore> {
    let table = unique_table(test);
    let (url, dir) = match db {
        Db::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite://{}", dir.path().join("cache.db").display());
            (url, Some(dir))
        }
        Db::Postgres => (postgres_url(), None),
        Db::MySql => (mysql_url(), None),
    };
    let mut options = options;
    options.connect_timeout = Duration::from_secs(5);
    match SqlStore::connect(&url, table, options).await {
        Ok(store) => Some(TestStore {
            store,
            db,
            _dir: dir,
        }),
        Err(e) => {
            skip(test, &format!("{db:?} unreachable: {e}"));
            None
        }
    }
}
