//! The schema of a store's table and its versioned migration, run when a store opens.
//!
//! # Version 1
//! One table per store (cacheme's `sqlite.sql` / `postgresql.sql` / `mysql.sql`, with the
//! deadline as integer milliseconds since the Unix epoch, the time base of memocache's record
//! headers, instead of a timestamp type whose time zone handling differs by database):
//!
//! | column | SQLite | PostgreSQL | MySQL / MariaDB |
//! |---|---|---|---|
//! | `cache_key` (primary key) | `TEXT` | `TEXT COLLATE "C"` | `VARBINARY(512)` |
//! | `value` | `BLOB` | `BYTEA` | `LONGBLOB` |
//! | `expire_at` (indexed, `{table}_expire_at`) | `INTEGER` | `BIGINT` | `BIGINT` |
//! | `updated_at` | `INTEGER` | `BIGINT` | `BIGINT` |
//!
//! Keys compare byte by byte everywhere (`COLLATE "C"`, `VARBINARY`), so `"a"`, `"A"` and
//! `"a "` are three keys and a namespace's `LIKE 'prefix%'` is exact. A row whose `expire_at`
//! is not after the reader's clock is a miss.
//!
//! # Migrations
//! The version of each table is kept in `memocache_schema (table_name, version)`. Opening a
//! store creates that table if missing, reads the table's version (none: 0), refuses a
//! version newer than this build's ([`SchemaError::Newer`]), and runs the missing steps,
//! each `… IF NOT EXISTS`, so that several processes opening the same table at once agree
//! (on PostgreSQL under a transaction-scoped advisory lock, since its concurrent
//! `CREATE TABLE IF NOT EXISTS` can collide). Then it checks that the table has the columns
//! above ([`SchemaError::Mismatch`] for a table of the same name made by something else).
//!
//! The steps are written here rather than in sqlx's migrator because the table name is the
//! user's: sqlx's migrations are fixed files recorded once per database.

use crate::dialect::Dialect;
use crate::table::TableName;

/// The schema version this build creates and reads.
pub const SCHEMA_VERSION: i32 = 1;

/// The table recording each store table's schema version.
pub const SCHEMA_TABLE: &str = "memocache_schema";

/// Why a store's table could not be prepared.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SchemaError {
    /// The table was migrated by a newer build of memocache.
    #[error("table {table} has schema version {found}; this build reads up to {SCHEMA_VERSION}")]
    Newer {
        /// The table.
        table: String,
        /// Its recorded version.
        found: i32,
    },
    /// The table exists without the columns of a memocache store.
    #[error("table {table} is not a memocache store table: {source}")]
    Mismatch {
        /// The table.
        table: String,
        /// What the database said when the columns were read.
        source: sqlx::Error,
    },
}

/// The statements of step `version` (1-based) for `table`.
fn step(dialect: Dialect, table: &TableName, version: i32) -> Vec<String> {
    let t = dialect.quote(table.as_str());
    let index = dialect.quote(&format!("{}_expire_at", table.as_str()));
    match (version, dialect) {
        (1, Dialect::Sqlite) => vec![
            format!(
                "CREATE TABLE IF NOT EXISTS {t} (cache_key TEXT NOT NULL PRIMARY KEY, \
                 value BLOB NOT NULL, expire_at INTEGER NOT NULL, updated_at INTEGER NOT NULL)"
            ),
            format!("CREATE INDEX IF NOT EXISTS {index} ON {t} (expire_at)"),
        ],
        (1, Dialect::Postgres) => vec![
            format!(
                "CREATE TABLE IF NOT EXISTS {t} (cache_key TEXT COLLATE \"C\" NOT NULL PRIMARY KEY, \
                 value BYTEA NOT NULL, expire_at BIGINT NOT NULL, updated_at BIGINT NOT NULL)"
            ),
            format!("CREATE INDEX IF NOT EXISTS {index} ON {t} (expire_at)"),
        ],
        (1, Dialect::MySql) => vec![format!(
            "CREATE TABLE IF NOT EXISTS {t} (cache_key VARBINARY(512) NOT NULL PRIMARY KEY, \
             value LONGBLOB NOT NULL, expire_at BIGINT NOT NULL, updated_at BIGINT NOT NULL, \
             INDEX {index} (expire_at)) ENGINE = InnoDB"
        )],
        _ => Vec::new(),
    }
}

/// The statements of a migration of `table` from version `from`: the steps after it.
pub(crate) fn steps_after(dialect: Dialect, table: &TableName, from: i32) -> Vec<String> {
    ((from + 1)..=SCHEMA_VERSION)
        .flat_map(|v| step(dialect, table, v))
        .collect()
}

/// Creates the version table if missing.
pub(crate) fn create_schema_table(dialect: Dialect) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {} (table_name VARCHAR(64) NOT NULL PRIMARY KEY, \
         version INTEGER NOT NULL)",
        dialect.quote(SCHEMA_TABLE)
    )
}

/// `table_name` → its version.
pub(crate) fn select_version(dialect: Dialect) -> String {
    format!(
        "SELECT version FROM {} WHERE table_name = {}",
        dialect.quote(SCHEMA_TABLE),
        dialect.param(1)
    )
}

/// `table_name, version` → recorded.
pub(crate) fn record_version(dialect: Dialect) -> String {
    format!(
        "INSERT INTO {} (table_name, version) VALUES ({}, {}){}",
        dialect.quote(SCHEMA_TABLE),
        dialect.param(1),
        dialect.param(2),
        dialect.upsert_tail("table_name", &["version"])
    )
}

/// `table_name` → forgotten.
pub(crate) fn forget_version(dialect: Dialect) -> String {
    format!(
        "DELETE FROM {} WHERE table_name = {}",
        dialect.quote(SCHEMA_TABLE),
        dialect.param(1)
    )
}

/// Reads no row; fails unless the table has a store's columns.
pub(crate) fn check_columns(dialect: Dialect, table: &TableName) -> String {
    format!(
        "SELECT cache_key, value, expire_at, updated_at FROM {} WHERE 1 = 0",
        dialect.quote(table.as_str())
    )
}

/// Drops the table.
pub(crate) fn drop_table(dialect: Dialect, table: &TableName) -> String {
    format!("DROP TABLE IF EXISTS {}", dialect.quote(table.as_str()))
}

/// A key for PostgreSQL's `pg_advisory_xact_lock` serialising migrations.
pub(crate) const PG_MIGRATION_LOCK: i64 = 0x6d65_6d6f_6361_6368; // "memocach"

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_one_creates_table_and_index_for_each_dialect() {
        let t = TableName::new("c").unwrap();
        for d in [Dialect::Sqlite, Dialect::Postgres, Dialect::MySql] {
            let s = steps_after(d, &t, 0);
            assert!(s[0].starts_with("CREATE TABLE IF NOT EXISTS"), "{d:?}");
            assert!(s.iter().any(|s| s.contains("c_expire_at")), "{d:?}");
            assert!(steps_after(d, &t, SCHEMA_VERSION).is_empty());
        }
    }
}
