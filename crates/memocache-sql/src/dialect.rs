//! [`Dialect`]: the three databases' SQL, written out for one validated table — the only
//! place that builds statement text. Values always travel as bound parameters; the table
//! name (validated by [`TableName`]) and the batch limit (an integer) are the only parts
//! formatted into the text.

use crate::table::TableName;

/// The longest remote key a SQL store accepts, in bytes (MySQL's `VARBINARY(512)` column;
/// the other databases keep the same limit so that a cache moves between them unchanged).
/// A longer key is a [`SqlError::KeyTooLong`](crate::SqlError::KeyTooLong) backend error.
/// [`Namespace`](memocache_core::key::Namespace) keys stay far below it: encoded keys over
/// 250 bytes are replaced by their SHA-256.
pub const MAX_KEY_LEN: usize = 512;

/// Which database a store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Dialect {
    /// SQLite 3 (bundled), through a file (or `:memory:`).
    Sqlite,
    /// PostgreSQL 9.5 or later (`ON CONFLICT`, `SKIP LOCKED`).
    Postgres,
    /// MySQL 5.7 / 8 or MariaDB 10.2 and later.
    MySql,
}

impl Dialect {
    /// The store name used in logs and statistics: `sqlite`, `postgres` or `mysql`.
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Sqlite => "sqlite",
            Dialect::Postgres => "postgres",
            Dialect::MySql => "mysql",
        }
    }

    /// `name` quoted as an identifier.
    pub(crate) fn quote(self, name: &str) -> String {
        match self {
            Dialect::MySql => format!("`{name}`"),
            Dialect::Sqlite | Dialect::Postgres => format!("\"{name}\""),
        }
    }

    /// The `n`th (1-based) bound parameter.
    pub(crate) fn param(self, n: usize) -> String {
        match self {
            Dialect::Postgres => format!("${n}"),
            Dialect::Sqlite | Dialect::MySql => "?".to_owned(),
        }
    }

    /// What follows a multi-row `INSERT … VALUES …` to make it an upsert of `key` that
    /// replaces `columns`.
    pub(crate) fn upsert_tail(self, key: &str, columns: &[&str]) -> String {
        let set: Vec<String> = columns
            .iter()
            .map(|c| match self {
                Dialect::MySql => format!("{c} = VALUES({c})"),
                Dialect::Sqlite | Dialect::Postgres => format!("{c} = excluded.{c}"),
            })
            .collect();
        match self {
            Dialect::MySql => format!(" ON DUPLICATE KEY UPDATE {}", set.join(", ")),
            Dialect::Sqlite | Dialect::Postgres => {
                format!(" ON CONFLICT ({key}) DO UPDATE SET {}", set.join(", "))
            }
        }
    }
}

/// Every statement of one store, written for its dialect and table. Statements whose
/// length depends on the call (`IN` lists, multi-row upserts) are built from the heads and
/// tails here by `sqlx::QueryBuilder`, which numbers the parameters.
#[derive(Debug, Clone)]
pub(crate) struct Statements {
    /// `key, now` → the value of a live row.
    pub get: String,
    /// `+ now + " AND cache_key IN (" + keys + ")"` → `(key, value)` of the live rows.
    pub get_many_head: String,
    /// `+ VALUES (key, value, expire_at, updated_at), … + upsert_tail`.
    pub upsert_head: String,
    /// Ends a multi-row upsert.
    pub upsert_tail: String,
    /// `key` → deletes it.
    pub remove: String,
    /// Deletes the rows whose key starts with a prefix (binds: see `clear_binds`).
    pub clear: String,
    /// `now` → deletes at most one batch of expired rows.
    pub sweep: String,
}

/// The escape character of the `LIKE` patterns of `clear`.
const LIKE_ESCAPE: char = '!';

/// `prefix` as a `LIKE` pattern matching the keys that start with it, escaped with `!`.
pub(crate) fn like_prefix(prefix: &str) -> String {
    let mut p = String::with_capacity(prefix.len() + 1);
    for c in prefix.chars() {
        if matches!(c, '%' | '_' | LIKE_ESCAPE) {
            p.push(LIKE_ESCAPE);
        }
        p.push(c);
    }
    p.push('%');
    p
}

impl Statements {
    /// The statements of `table`, deleting at most `sweep_batch` expired rows per sweep.
    pub(crate) fn new(dialect: Dialect, table: &TableName, sweep_batch: u32) -> Self {
        let t = dialect.quote(table.as_str());
        let p = |n| dialect.param(n);
        // MySQL keeps keys as VARBINARY (byte comparison, no trailing-space padding): read
        // them back as text.
        let key_out = match dialect {
            Dialect::MySql => "CONVERT(cache_key USING utf8mb4)",
            Dialect::Sqlite | Dialect::Postgres => "cache_key",
        };
        let clear = match dialect {
            // SQLite's LIKE ignores ASCII case: compare the prefix itself (the lower bound
            // lets the primary key's index narrow the scan).
            Dialect::Sqlite => {
                format!("DELETE FROM {t} WHERE cache_key >= ?1 AND substr(cache_key, 1, length(?1)) = ?1")
            }
            Dialect::Postgres | Dialect::MySql => format!(
                "DELETE FROM {t} WHERE cache_key LIKE {} ESCAPE '{LIKE_ESCAPE}'",
                p(1)
            ),
        };
        let sweep = match dialect {
            Dialect::Sqlite => format!(
                "DELETE FROM {t} WHERE cache_key IN \
                 (SELECT cache_key FROM {t} WHERE expire_at <= ?1 LIMIT {sweep_batch})"
            ),
            // Two processes sweeping at once skip each other's rows instead of waiting.
            Dialect::Postgres => format!(
                "DELETE FROM {t} WHERE cache_key IN \
                 (SELECT cache_key FROM {t} WHERE expire_at <= $1 LIMIT {sweep_batch} \
                 FOR UPDATE SKIP LOCKED)"
            ),
            Dialect::MySql => {
                format!("DELETE FROM {t} WHERE expire_at <= ? LIMIT {sweep_batch}")
            }
        };
        Statements {
            get: format!(
                "SELECT value FROM {t} WHERE cache_key = {} AND expire_at > {}",
                p(1),
                p(2)
            ),
            get_many_head: format!("SELECT {key_out}, value FROM {t} WHERE expire_at > "),
            upsert_head: format!("INSERT INTO {t} (cache_key, value, expire_at, updated_at) "),
            upsert_tail: dialect.upsert_tail("cache_key", &["value", "expire_at", "updated_at"]),
            remove: format!("DELETE FROM {t} WHERE cache_key = {}", p(1)),
            clear,
            sweep,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_escape_wildcards_and_the_escape() {
        assert_eq!(like_prefix("a:b:1:"), "a:b:1:%");
        assert_eq!(like_prefix("50%_off!"), "50!%!_off!!%");
    }

    #[test]
    fn statements_quote_the_table_and_bind_every_value() {
        let t = TableName::new("order").unwrap();
        let pg = Statements::new(Dialect::Postgres, &t, 10);
        assert_eq!(
            pg.get,
            "SELECT value FROM \"order\" WHERE cache_key = $1 AND expire_at > $2"
        );
        assert!(pg.sweep.contains("LIMIT 10 FOR UPDATE SKIP LOCKED"));
        let my = Statements::new(Dialect::MySql, &t, 10);
        assert_eq!(my.remove, "DELETE FROM `order` WHERE cache_key = ?");
        assert!(my.upsert_tail.contains("value = VALUES(value)"));
        let lite = Statements::new(Dialect::Sqlite, &t, 10);
        assert!(lite
            .upsert_tail
            .starts_with(" ON CONFLICT (cache_key) DO UPDATE SET"));
    }
}
