//! SQL storages for [memocache](https://docs.rs/memocache): [`SqlStore`], one table of a
//! SQLite, PostgreSQL or MySQL/MariaDB database as a [`ByteStore`](memocache_core::storage::ByteStore), over
//! [sqlx](https://docs.rs/sqlx) on Tokio (features `sqlite` (default), `postgres`, `mysql`).
//! Made typed with [`SqlStore::typed`], it keeps the same records as the Redis store: the
//! codec's header with the wall-clock lifespan, then the serialized value; a record that does
//! not decode is a counted miss that the reload overwrites.
//!
//! **SQLite is the embedded, persistent default**: a local file that survives restarts with
//! no server, in WAL mode (readers never block the writer; several processes of one machine
//! share the file, a writer waiting up to [`SqlOptions::busy_timeout`] for another's lock).
//!
//! ```no_run
//! # extern crate memocache_core as memocache;
//! use memocache::codec::Codec;
//! use memocache::key::Namespace;
//! use memocache::{Cache, Tier};
//! use memocache_sql::{SqlOptions, SqlStore, TableName};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let sqlite = SqlStore::open_sqlite("cache.db", TableName::new("cache")?, SqlOptions::default()).await?;
//! let users: Cache<u64, String> = Cache::builder()
//!     .capacity(10_000)                                   // memory first…
//!     .tier(Tier::new(sqlite.typed(Namespace::new("users"), Codec::json())))   // …then the file
//!     .build()?;
//! let name = users.get_or_load(42, || async { Ok::<_, std::io::Error>("ann".to_string()) }).await?;
//! # Ok(())
//! # }
//! ```
//!
//! # Statements
//! | operation | statement |
//! |---|---|
//! | `get` | `SELECT value … WHERE cache_key = ? AND expire_at > now` (an expired row is a miss) |
//! | `get_many` | one `SELECT cache_key, value … WHERE expire_at > now AND cache_key IN (…)` per 500 keys |
//! | `set` | one upsert: `INSERT … ON CONFLICT (cache_key) DO UPDATE` (SQLite, PostgreSQL), `ON DUPLICATE KEY UPDATE` (MySQL) |
//! | `set_many` | one multi-row upsert; more than 500 rows or 4 MiB: several, in one transaction; a key given twice keeps its last value |
//! | `remove` | `DELETE … WHERE cache_key = ?` |
//! | `clear` (one namespace) | `DELETE … WHERE cache_key LIKE 'prefix%'` (SQLite: a byte-exact prefix comparison) |
//! | expiry sweep | every 256th write: `DELETE` of at most 1,000 expired rows ([`SqlOptions`]) |
//!
//! Every value is a bound parameter; the table name, validated by [`TableName`] (a hostile
//! name is a [`TableNameError`]), is the only identifier in the text. The table is created
//! if missing by a versioned migration ([`schema`]).
//!
//! # Failures
//! The tier a store sits in ([`Tier`](memocache_core::Tier)) applies the per-operation
//! timeout, the failure policy and the circuit breaker, as for Redis; the pool bounds the
//! connections ([`SqlOptions::pool_size`], default 50 as cacheme's) and the wait for one
//! ([`SqlOptions::acquire_timeout`]), and replaces broken connections, so a database that
//! comes back is used again without a restart.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod dialect;
mod options;
mod pool;
pub mod schema;
mod store;
mod table;

pub use dialect::{Dialect, MAX_KEY_LEN};
pub use options::{
    SqlError, SqlOptions, DEFAULT_ACQUIRE_TIMEOUT, DEFAULT_BUSY_TIMEOUT, DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_POOL_SIZE, DEFAULT_SWEEP_BATCH, DEFAULT_SWEEP_EVERY,
};
pub use store::{SqlStore, BYTES_PER_STATEMENT, ROWS_PER_STATEMENT};
pub use table::{TableName, TableNameError, DEFAULT_TABLE, MAX_TABLE_NAME_LEN};

pub use sqlx;

/// The URL schemes this build connects to (`sqlite`, `postgres`, `postgresql`, `mysql`,
/// `mariadb`, as its features allow).
pub const SUPPORTED_SCHEMES: &[&str] = &[
    #[cfg(feature = "sqlite")]
    "sqlite",
    #[cfg(feature = "postgres")]
    "postgres",
    #[cfg(feature = "postgres")]
    "postgresql",
    #[cfg(feature = "mysql")]
    "mysql",
    #[cfg(feature = "mysql")]
    "mariadb",
];
