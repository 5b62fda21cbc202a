//! The trace's SQL rows: memocache over a SQLite file alone (`memocache-sqlite`), and with a
//! 3,000-entry W-TinyLFU memory tier in front of SQLite (`memocache-memory+sqlite`) and of
//! PostgreSQL (`memocache-memory+postgres`). The SQLite file is a new one in the temporary
//! directory, removed after the run; PostgreSQL gets a table of its own, dropped after. Each
//! row runs in a namespace of its own and clears it. The rows add the SQL statements the store
//! sent over the row (`statements`, counted by the store: one `SELECT` per tier read, one
//! upsert per tier write, the expiry sweeps) and the tier reads and errors the cache counted.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use memocache::sql::{SqlOptions, SqlStore, TableName};

use crate::report::Row;
use crate::zipf::KeyStream;

use super::remote::{bounded_memory_tier, tier_reads_and_errors, RemoteRow};
use super::{drive, row, skipped, Contestant, Memocache, Params};

/// How long the runner waits to open a SQL store before skipping its rows.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The databases of the SQL rows, or why each is missing.
pub struct SqlServers {
    sqlite: Result<(SqlStore, PathBuf), String>,
    postgres: Result<SqlStore, String>,
}

fn options() -> SqlOptions {
    let mut o = SqlOptions::default();
    o.connect_timeout = CONNECT_TIMEOUT;
    o
}

impl SqlServers {
    /// Opens a new SQLite file under the temporary directory and a new table on the
    /// PostgreSQL server at `postgres_url`, both named after `run_id`.
    ///
    /// # Cancel safety
    /// Not cancel safe: dropped part-way, it may leave the SQLite file or the table behind.
    pub async fn open(postgres_url: &str, run_id: &str, timeout: Duration) -> Self {
        let table = TableName::new(&format!("bench_{}", run_id.replace('-', "_")))
            .map_err(|e| e.to_string());
        let mut o = options();
        o.acquire_timeout = timeout;
        let path = std::env::temp_dir().join(format!("memocache-bench-{run_id}.db"));
        let sqlite = match &table {
            Ok(t) => SqlStore::open_sqlite(&path, t.clone(), o)
                .await
                .map(|s| (s, path))
                .map_err(|e| format!("SQLite: {e}")),
            Err(e) => Err(e.clone()),
        };
        let postgres = match &table {
            Ok(t) => SqlStore::connect(postgres_url, t.clone(), o)
                .await
                .map_err(|e| format!("no PostgreSQL answers at {postgres_url} ({e})")),
            Err(e) => Err(e.clone()),
        };
        SqlServers { sqlite, postgres }
    }

    /// Drops the PostgreSQL table and removes the SQLite file.
    ///
    /// # Cancel safety
    /// Not cancel safe: dropped part-way, it may leave the SQLite file or the table behind.
    pub async fn close(self) {
        if let Ok(pg) = self.postgres {
            let _ = pg.drop_table().await;
            pg.close().await;
        }
        if let Ok((sqlite, path)) = self.sqlite {
            sqlite.close().await;
            for suffix in ["", "-wal", "-shm"] {
                let mut p = path.clone().into_os_string();
                p.push(suffix);
                let _ = std::fs::remove_file(p);
            }
        }
    }

    fn store(&self, contestant: Contestant) -> Result<&SqlStore, &str> {
        match contestant {
            Contestant::MemocacheMemoryPostgres => self.postgres.as_ref().map_err(String::as_str),
            _ => self.sqlite.as_ref().map(|(s, _)| s).map_err(String::as_str),
        }
    }
}

/// Runs one SQL row in its own namespace (`run_id` makes it unique), which it clears after.
///
/// # Cancel safety
/// Not cancel safe: dropped part-way, it leaves the row's entries in its namespace.
pub async fn run_sql_row(
    contestant: Contestant,
    keys: &KeyStream,
    workers: usize,
    p: &Params,
    servers: &SqlServers,
    run_id: &str,
    timeout: Duration,
) -> Row {
    let store = match servers.store(contestant) {
        Ok(s) => s,
        Err(why) => return skipped(contestant, workers, why),
    };
    let typed = |namespace, codec| store.typed::<u64, u64>(namespace, codec);
    let start = RemoteRow::new(contestant, keys, workers, p, run_id, timeout, typed);
    let (builder, memory) = match contestant {
        Contestant::MemocacheSqlite => (start.builder.without_memory_tier(), "none".to_string()),
        _ => bounded_memory_tier(start.builder, p),
    };
    let cache = builder.build().expect("valid options");
    let c = Arc::new(Memocache {
        cache: cache.clone(),
        loader: start.loader.clone(),
    });
    let before = store.statements();
    let m = drive(&start.label, start.shared, workers, c).await;
    let statements = store.statements() - before;
    let (tier_reads, tier_errors) = tier_reads_and_errors(&cache);
    if let Err(e) = cache.invalidate_all().await {
        eprintln!("trace: {}: the clean-up's clear failed: {e}", start.label);
    }
    row(contestant, keys, workers, p, start.loader.calls(), &m)
        .field("memory_tier", memory)
        .field("statements", statements)
        .field("tier_reads", tier_reads)
        .field("tier_errors", tier_errors)
}
