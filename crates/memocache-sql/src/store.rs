//! [`SqlStore`]: one table of a SQLite, PostgreSQL or MySQL/MariaDB database as a
//! [`ByteStore`] — the statements each operation sends, the expiry sweep on writes, and the
//! statement counter.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use memocache_core::codec::Codec;
use memocache_core::key::Namespace;
use memocache_core::storage::{ByteStore, Serialized, StorageError};

use crate::dialect::{like_prefix, Dialect, Statements, MAX_KEY_LEN};
use crate::options::{SqlError, SqlOptions};
use crate::pool::{self, builder, on_pool, Pool};
use crate::schema;
use crate::table::TableName;

/// Rows per multi-row statement of `get_many` and `set_many` (4 parameters a row stays far
/// below every database's parameter limit).
pub const ROWS_PER_STATEMENT: usize = 500;
/// Bytes of values per multi-row upsert at most (MySQL's default `max_allowed_packet` is
/// 16 MiB): a longer batch is split, inside one transaction.
pub const BYTES_PER_STATEMENT: usize = 4 << 20;

/// A table of a SQL database as a [`ByteStore`]. Cheap to clone: clones share the pool.
///
/// Make it typed for a cache with [`SqlStore::typed`]. See the [crate documentation](crate)
/// for the statements and [`SqlOptions`] for the pool and the expiry sweep.
#[derive(Clone)]
pub struct SqlStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    dialect: Dialect,
    table: TableName,
    sql: Statements,
    options: SqlOptions,
    statements: AtomicU64,
    writes: AtomicU64,
}

impl fmt::Debug for SqlStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlStore")
            .field("dialect", &self.inner.dialect)
            .field("table", &self.inner.table.as_str())
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

fn backend(e: sqlx::Error) -> StorageError {
    StorageError::backend(e)
}

fn check_key(key: &str) -> Result<(), StorageError> {
    if key.len() > MAX_KEY_LEN {
        return Err(StorageError::backend(SqlError::KeyTooLong(key.len())));
    }
    Ok(())
}

/// Milliseconds since the Unix epoch.
fn millis(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The deadline of a row written now for `ttl` (at least one millisecond away).
fn expire_at(now: i64, ttl: Duration) -> i64 {
    let ttl = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX).max(1);
    now.saturating_add(ttl)
}

/// `items` without the earlier writes of a key written again later in the same batch (a
/// multi-row upsert may not touch a row twice), in their original order.
fn last_write_wins(items: Vec<(String, Vec<u8>, Duration)>) -> Vec<(String, Vec<u8>, Duration)> {
    let mut last: HashMap<&str, usize> = HashMap::with_capacity(items.len());
    for (i, (k, _, _)) in items.iter().enumerate() {
        last.insert(k.as_str(), i);
    }
    if last.len() == items.len() {
        return items;
    }
    let keep: Vec<bool> = (0..items.len())
        .map(|i| last.get(items[i].0.as_str()) == Some(&i))
        .collect();
    items
        .into_iter()
        .zip(keep)
        .filter_map(|(item, keep)| keep.then_some(item))
        .collect()
}

/// Splits rows into statements of at most [`ROWS_PER_STATEMENT`] rows and
/// [`BYTES_PER_STATEMENT`] bytes (a single larger row gets a statement of its own).
fn chunks(items: &[(String, Vec<u8>, Duration)]) -> Vec<&[(String, Vec<u8>, Duration)]> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, (k, v, _)) in items.iter().enumerate() {
        let size = k.len() + v.len();
        if i > start && (i - start == ROWS_PER_STATEMENT || bytes + size > BYTES_PER_STATEMENT) {
            out.push(&items[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += size;
    }
    if start < items.len() {
        out.push(&items[start..]);
    }
    out
}

impl SqlStore {
    /// Connects to the database of `url` (`sqlite:…`, `postgres://…` / `postgresql://…`,
    /// `mysql://…` / `mariadb://…`, as sqlx reads them) and prepares `table` (creating it
    /// if missing, see [`schema`](crate::schema)).
    ///
    /// # Errors
    /// [`SqlError`]: a scheme this build lacks, an option out of range, an unreachable or
    /// refusing database, a schema newer than this build's, or a timeout.
    ///
    /// # Cancel safety
    /// Cancel safe: dropping the future abandons the connection attempt (a migration
    /// interrupted half-way is rolled back, or its `IF NOT EXISTS` steps are rerun by the
    /// next open); no store exists until it returns.
    pub async fn connect(
        url: &str,
        table: TableName,
        options: SqlOptions,
    ) -> Result<Self, SqlError> {
        let open = async {
            let (dialect, pool) = pool::connect(url, &options).await?;
            Self::prepare(pool, dialect, table, options).await
        };
        tokio::time::timeout(options.connect_timeout, open)
            .await
            .map_err(|_| SqlError::Timeout(options.connect_timeout))?
    }

    /// Opens the SQLite database file at `path`, creating it if missing, in WAL mode, and
    /// prepares `table`: the embedded, persistent store, shared safely by the processes of
    /// one machine.
    ///
    /// # Errors
    /// [`SqlError`]: the file cannot be opened or created, a schema newer than this build's,
    /// or a timeout.
    ///
    /// # Cancel safety
    /// Cancel safe, as [`connect`](Self::connect).
    #[cfg(feature = "sqlite")]
    pub async fn open_sqlite(
        path: impl AsRef<std::path::Path>,
        table: TableName,
        options: SqlOptions,
    ) -> Result<Self, SqlError> {
        let open = async {
            let pool = pool::open_sqlite(path.as_ref(), &options).await?;
            Self::prepare(pool, Dialect::Sqlite, table, options).await
        };
        tokio::time::timeout(options.connect_timeout, open)
            .await
            .map_err(|_| SqlError::Timeout(options.connect_timeout))?
    }

    async fn prepare(
        pool: Pool,
        dialect: Dialect,
        table: TableName,
        options: SqlOptions,
    ) -> Result<Self, SqlError> {
        pool::migrate(&pool, dialect, &table).await?;
        Ok(SqlStore {
            inner: Arc::new(Inner {
                sql: Statements::new(dialect, &table, options.sweep_batch),
                pool,
                dialect,
                table,
                options,
                // The migration's statements are not counted.
                statements: AtomicU64::new(0),
                writes: AtomicU64::new(0),
            }),
        })
    }

    /// A typed storage of this table for one cache: keys under `namespace`, entries encoded
    /// with `codec`. Many typed storages (namespaces) share one table and one pool.
    pub fn typed<K, V>(&self, namespace: Namespace, codec: Codec) -> Serialized<SqlStore, K, V> {
        Serialized::new(self.clone(), namespace, codec)
    }

    /// The database.
    pub fn dialect(&self) -> Dialect {
        self.inner.dialect
    }

    /// The table.
    pub fn table(&self) -> &TableName {
        &self.inner.table
    }

    /// The options the store was opened with.
    pub fn options(&self) -> &SqlOptions {
        &self.inner.options
    }

    /// SQL statements this store (and its clones) sent since it opened, transaction
    /// `BEGIN` / `COMMIT` included; the pool's own health checks and the migration are not.
    pub fn statements(&self) -> u64 {
        self.inner.statements.load(Relaxed)
    }

    fn sent(&self, n: u64) {
        self.inner.statements.fetch_add(n, Relaxed);
    }

    /// Deletes at most one batch ([`SqlOptions::sweep_batch`]) of this table's expired rows,
    /// of every namespace, and returns how many it deleted.
    ///
    /// # Errors
    /// When the database fails.
    ///
    /// # Cancel safety
    /// Cancel safe: the batch is one statement, applied whole or not at all.
    pub async fn sweep_expired(&self) -> Result<u64, StorageError> {
        let now = millis(SystemTime::now());
        self.sent(1);
        let done = on_pool!(&self.inner.pool, p => {
            sqlx::query(&self.inner.sql.sweep).bind(now).execute(p).await.map(|r| r.rows_affected())
        });
        done.map_err(backend)
    }

    /// Counts one write, and every [`SqlOptions::sweep_every`]th one sweeps expired rows.
    /// A failed sweep is logged; the write it follows has succeeded.
    async fn wrote(&self) {
        let every = u64::from(self.inner.options.sweep_every);
        if every == 0 || !(self.inner.writes.fetch_add(1, Relaxed) + 1).is_multiple_of(every) {
            return;
        }
        match self.sweep_expired().await {
            Ok(n) => tracing::debug!(table = %self.inner.table, rows = n, "expired rows swept"),
            Err(e) => {
                tracing::warn!(table = %self.inner.table, error = %e, "sweeping expired rows failed")
            }
        }
    }

    /// Closes the pool: waits for the connections in use to come back, then closes every
    /// connection. Later operations of this
    /// store and its clones fail.
    ///
    /// # Cancel safety
    /// Cancel safe: the pool is closed to new operations at the first poll; dropping the
    /// future only stops waiting for the connections in use.
    pub async fn close(&self) {
        on_pool!(&self.inner.pool, p => p.close().await)
    }

    /// Drops the table and forgets its schema version: every namespace's entries are gone.
    /// For tear-down (tests, a cache retired for good); the next open creates it anew.
    ///
    /// # Errors
    /// When the database fails.
    ///
    /// # Cancel safety
    /// Cancel safe in effect: the schema version is forgotten first, so a drop interrupted
    /// between its two statements leaves a table that the next open adopts again.
    pub async fn drop_table(&self) -> Result<(), StorageError> {
        let d = self.inner.dialect;
        let name = self.inner.table.as_str();
        self.sent(2);
        let done = on_pool!(&self.inner.pool, p => async {
            sqlx::query(&schema::forget_version(d)).bind(name).execute(p).await?;
            sqlx::query(&schema::drop_table(d, &self.inner.table)).execute(p).await?;
            Ok::<_, sqlx::Error>(())
        }.await);
        done.map_err(backend)
    }

    async fn upsert(&self, items: Vec<(String, Vec<u8>, Duration)>) -> Result<(), StorageError> {
        for (k, _, _) in &items {
            check_key(k)?;
        }
        let items = last_write_wins(items);
        let now = millis(SystemTime::now());
        let chunks = chunks(&items);
        let sql = &self.inner.sql;
        let done = on_pool!(&self.inner.pool, p => async {
            let statement = |chunk: &[(String, Vec<u8>, Duration)]| {
                let mut qb = builder(p, &sql.upsert_head);
                qb.push_values(chunk, |mut row, (k, v, ttl)| {
                    row.push_bind(k.clone())
                        .push_bind(v.clone())
                        .push_bind(expire_at(now, *ttl))
                        .push_bind(now);
                });
                qb.push(&sql.upsert_tail);
                qb
            };
            if let [only] = chunks.as_slice() {
                self.sent(1);
                statement(only).build().execute(p).await?;
            } else {
                self.sent(chunks.len() as u64 + 2);
                let mut tx = p.begin().await?;
                for chunk in &chunks {
                    statement(chunk).build().execute(&mut *tx).await?;
                }
                tx.commit().await?;
            }
            Ok::<_, sqlx::Error>(())
        }.await);
        done.map_err(backend)?;
        self.wrote().await;
        Ok(())
    }
}

impl ByteStore for SqlStore {
    fn name(&self) -> &str {
        self.inner.dialect.name()
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, StorageError>> {
        async move {
            check_key(key)?;
            let now = millis(SystemTime::now());
            self.sent(1);
            let found = on_pool!(&self.inner.pool, p => {
                sqlx::query_scalar::<_, Vec<u8>>(&self.inner.sql.get)
                    .bind(key)
                    .bind(now)
                    .fetch_optional(p)
                    .await
            });
            found.map_err(backend)
        }
        .boxed()
    }

    fn get_many<'a>(
        &'a self,
        keys: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<Option<Vec<u8>>>, StorageError>> {
        async move {
            for k in keys {
                check_key(k)?;
            }
            let now = millis(SystemTime::now());
            let mut found: HashMap<String, Vec<u8>> = HashMap::with_capacity(keys.len());
            for chunk in keys.chunks(ROWS_PER_STATEMENT) {
                self.sent(1);
                let rows = on_pool!(&self.inner.pool, p => {
                    let mut qb = builder(p, &self.inner.sql.get_many_head);
                    qb.push_bind(now).push(" AND cache_key IN (");
                    let mut list = qb.separated(", ");
                    for k in chunk {
                        list.push_bind(k.as_str());
                    }
                    qb.push(")");
                    qb.build_query_as::<(String, Vec<u8>)>().fetch_all(p).await
                });
                found.extend(rows.map_err(backend)?);
            }
            Ok(keys.iter().map(|k| found.get(k).cloned()).collect())
        }
        .boxed()
    }

    fn set<'a>(
        &'a self,
        key: &'a str,
        bytes: Vec<u8>,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), StorageError>> {
        async move { self.upsert(vec![(key.to_owned(), bytes, ttl)]).await }.boxed()
    }

    fn set_many(
        &self,
        items: Vec<(String, Vec<u8>, Duration)>,
    ) -> BoxFuture<'_, Result<(), StorageError>> {
        async move {
            if items.is_empty() {
                return Ok(());
            }
            self.upsert(items).await
        }
        .boxed()
    }

    fn remove<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StorageError>> {
        async move {
            check_key(key)?;
            self.sent(1);
            let done = on_pool!(&self.inner.pool, p => {
                sqlx::query(&self.inner.sql.remove).bind(key).execute(p).await.map(drop)
            });
            done.map_err(backend)
        }
        .boxed()
    }

    fn clear_prefix<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<(), StorageError>> {
        async move {
            let pattern = match self.inner.dialect {
                Dialect::Sqlite => prefix.to_owned(),
                Dialect::Postgres | Dialect::MySql => like_prefix(prefix),
            };
            self.sent(1);
            let done = on_pool!(&self.inner.pool, p => {
                sqlx::query(&self.inner.sql.clear).bind(pattern).execute(p).await.map(drop)
            });
            done.map_err(backend)
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(k: &str, v: u8) -> (String, Vec<u8>, Duration) {
        (k.to_owned(), vec![v], Duration::from_secs(1))
    }

    #[test]
    fn a_batch_keeps_the_last_write_of_each_key_in_order() {
        let items = vec![item("a", 1), item("b", 2), item("a", 3), item("c", 4)];
        let kept: Vec<(String, u8)> = last_write_wins(items)
            .into_iter()
            .map(|(k, v, _)| (k, v[0]))
            .collect();
        assert_eq!(
            kept,
            vec![("b".into(), 2), ("a".into(), 3), ("c".into(), 4)]
        );
    }

    #[test]
    fn batches_split_by_rows_and_bytes() {
        let many: Vec<_> = (0..1_001).map(|i| item(&i.to_string(), 0)).collect();
        let sizes: Vec<usize> = chunks(&many).iter().map(|c| c.len()).collect();
        assert_eq!(sizes, vec![500, 500, 1]);
        let big = |k: &str| (k.to_owned(), vec![0; BYTES_PER_STATEMENT], Duration::ZERO);
        let sizes: Vec<usize> = chunks(&[big("a"), big("b"), item("c", 0)])
            .iter()
            .map(|c| c.len())
            .collect();
        assert_eq!(
            sizes,
            vec![1, 1, 1],
            "a row over the limit gets a statement of its own"
        );
        assert!(chunks(&[]).is_empty());
    }

    #[test]
    fn deadlines_are_at_least_a_millisecond_away() {
        assert_eq!(expire_at(1_000, Duration::from_micros(5)), 1_001);
        assert_eq!(expire_at(1_000, Duration::from_secs(2)), 3_000);
        assert_eq!(expire_at(i64::MAX - 1, Duration::from_secs(2)), i64::MAX);
    }
}
