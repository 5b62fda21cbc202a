//! The connection pool of a store, one sqlx pool type per database ([`Pool`]), the
//! `on_pool!` macro that writes a statement's code once for all three, and opening: connect
//! options per database (SQLite: WAL, `synchronous = NORMAL`, busy timeout), then the
//! migration of [`schema`](crate::schema).

use std::str::FromStr;

use crate::dialect::Dialect;
use crate::options::{SqlError, SqlOptions};
use crate::schema::{self, SchemaError, PG_MIGRATION_LOCK, SCHEMA_VERSION};
use crate::table::TableName;

#[cfg(not(any(feature = "sqlite", feature = "postgres", feature = "mysql")))]
compile_error!("memocache-sql needs at least one of the features `sqlite`, `postgres`, `mysql`");

/// A pool of connections to one database.
#[derive(Debug, Clone)]
pub(crate) enum Pool {
    #[cfg(feature = "sqlite")]
    Sqlite(sqlx::SqlitePool),
    #[cfg(feature = "postgres")]
    Postgres(sqlx::PgPool),
    #[cfg(feature = "mysql")]
    MySql(sqlx::MySqlPool),
}

/// Runs `$body` with `$p` bound to the concrete sqlx pool, so generic sqlx calls are written
/// once and compiled for each database of the build.
macro_rules! on_pool {
    ($pool:expr, $p:ident => $body:expr) => {
        match $pool {
            #[cfg(feature = "sqlite")]
            $crate::pool::Pool::Sqlite($p) => $body,
            #[cfg(feature = "postgres")]
            $crate::pool::Pool::Postgres($p) => $body,
            #[cfg(feature = "mysql")]
            $crate::pool::Pool::MySql($p) => $body,
        }
    };
}
pub(crate) use on_pool;

/// A query builder for `pool`'s database starting with `sql`.
pub(crate) fn builder<'a, DB: sqlx::Database>(
    _pool: &sqlx::Pool<DB>,
    sql: &str,
) -> sqlx::QueryBuilder<'a, DB>
where
    DB::Arguments<'a>: Default,
{
    sqlx::QueryBuilder::new(sql)
}

/// The dialect of `url`'s scheme, if this build has it.
pub(crate) fn dialect_of(url: &str) -> Result<Dialect, SqlError> {
    let scheme = url
        .split(':')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    if !crate::SUPPORTED_SCHEMES.contains(&scheme.as_str()) {
        return Err(SqlError::Scheme(scheme));
    }
    Ok(match scheme.as_str() {
        "sqlite" => Dialect::Sqlite,
        "postgres" | "postgresql" => Dialect::Postgres,
        _ => Dialect::MySql,
    })
}

/// Connects to `url` (whose scheme picks the database) with `options`.
pub(crate) async fn connect(url: &str, options: &SqlOptions) -> Result<(Dialect, Pool), SqlError> {
    if options.pool_size == 0 {
        return Err(SqlError::Option("pool_size must be at least 1"));
    }
    if options.sweep_batch == 0 {
        return Err(SqlError::Option("sweep_batch must be at least 1"));
    }
    let dialect = dialect_of(url)?;
    let pool = match dialect {
        #[cfg(feature = "sqlite")]
        Dialect::Sqlite => {
            let in_memory = url.contains(":memory:") || url.contains("mode=memory");
            let connect = sqlx::sqlite::SqliteConnectOptions::from_str(url)?;
            sqlite(connect, in_memory, options).await?
        }
        #[cfg(feature = "postgres")]
        Dialect::Postgres => {
            let connect = sqlx::postgres::PgConnectOptions::from_str(url)?;
            Pool::Postgres(pool_options(options).connect_with(connect).await?)
        }
        #[cfg(feature = "mysql")]
        Dialect::MySql => {
            let connect = sqlx::mysql::MySqlConnectOptions::from_str(url)?;
            Pool::MySql(pool_options(options).connect_with(connect).await?)
        }
        #[allow(unreachable_patterns)]
        _ => unreachable!("dialect_of returns only this build's dialects"),
    };
    Ok((dialect, pool))
}

/// Opens (creating it if missing) the SQLite database file at `path`.
#[cfg(feature = "sqlite")]
pub(crate) async fn open_sqlite(
    path: &std::path::Path,
    options: &SqlOptions,
) -> Result<Pool, SqlError> {
    let connect = sqlx::sqlite::SqliteConnectOptions::new().filename(path);
    sqlite(connect, false, options).await
}

#[cfg(feature = "sqlite")]
async fn sqlite(
    connect: sqlx::sqlite::SqliteConnectOptions,
    in_memory: bool,
    options: &SqlOptions,
) -> Result<Pool, SqlError> {
    use sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
    let connect = connect
        .create_if_missing(true)
        // Readers never block the writer and several processes share the file safely;
        // NORMAL loses at most the last commits on power loss, never the file's integrity.
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(options.busy_timeout);
    let pool = if in_memory {
        // The database lives as long as one of its connections: keep one open for good.
        pool_options(options)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
    } else {
        pool_options(options)
    };
    Ok(Pool::Sqlite(pool.connect_with(connect).await?))
}

fn pool_options<DB: sqlx::Database>(options: &SqlOptions) -> sqlx::pool::PoolOptions<DB> {
    sqlx::pool::PoolOptions::new()
        .max_connections(options.pool_size)
        .acquire_timeout(options.acquire_timeout)
}

/// Brings `table` to [`SCHEMA_VERSION`] (see [`schema`](crate::schema)).
pub(crate) async fn migrate(
    pool: &Pool,
    dialect: Dialect,
    table: &TableName,
) -> Result<(), SqlError> {
    let name = table.as_str();
    on_pool!(pool, p => {
        // SQLite: take the write lock at once (a deferred transaction that reads first
        // cannot wait for it later). MySQL commits each DDL statement itself, harmlessly.
        let begin = if dialect == Dialect::Sqlite { "BEGIN IMMEDIATE" } else { "BEGIN" };
        let mut tx = p.begin_with(begin).await?;
        if dialect == Dialect::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(PG_MIGRATION_LOCK)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(&schema::create_schema_table(dialect))
            .execute(&mut *tx)
            .await?;
        let found: Option<i32> = sqlx::query_scalar(&schema::select_version(dialect))
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?;
        let found = found.unwrap_or(0);
        if found > SCHEMA_VERSION {
            return Err(SchemaError::Newer { table: name.to_owned(), found }.into());
        }
        let check = schema::check_columns(dialect, table);
        for statement in schema::steps_after(dialect, table, found) {
            sqlx::query(&statement).execute(&mut *tx).await?;
            // A table of that name made by something else: say so before indexing it.
            if statement.starts_with("CREATE TABLE") {
                if let Err(source) = sqlx::query(&check).execute(&mut *tx).await {
                    return Err(SchemaError::Mismatch { table: name.to_owned(), source }.into());
                }
            }
        }
        if found < SCHEMA_VERSION {
            sqlx::query(&schema::record_version(dialect))
                .bind(name)
                .bind(SCHEMA_VERSION)
                .execute(&mut *tx)
                .await?;
        }
        if let Err(source) = sqlx::query(&check)
            .execute(&mut *tx)
            .await
        {
            return Err(SchemaError::Mismatch { table: name.to_owned(), source }.into());
        }
        tx.commit().await?;
        Ok(())
    })
}
