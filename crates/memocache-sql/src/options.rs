//! [`SqlOptions`]: a store's connection pool, timeouts and expiry sweep, and [`SqlError`],
//! why a store could not open.

use std::time::Duration;

use crate::schema::SchemaError;
use crate::table::TableNameError;

/// Default connections per pool: 50, as cacheme's SQL storages.
pub const DEFAULT_POOL_SIZE: u32 = 50;
/// Default timeout of opening a store (first connection and migration): 1 s.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Default timeout of taking a connection from the pool, opening one if needed: 1 s.
pub const DEFAULT_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(1);
/// Default time a SQLite statement waits for another connection's or process's write lock:
/// 5 s.
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// By default every 256th write of a store also sweeps expired rows.
pub const DEFAULT_SWEEP_EVERY: u32 = 256;
/// By default a sweep deletes at most 1,000 expired rows.
pub const DEFAULT_SWEEP_BATCH: u32 = 1_000;

/// How a SQL store connects and cleans up.
///
/// Expired rows are misses as soon as their deadline passes; they are *deleted* on writes:
/// every [`sweep_every`](Self::sweep_every)th write of a store (`set` or `set_many`) is
/// followed, in the same call, by one `DELETE` of at most
/// [`sweep_batch`](Self::sweep_batch) expired rows of its table. A table written to stays
/// bounded by its live rows plus what expires between sweeps; one that is no longer written
/// to is not swept (call [`SqlStore::sweep_expired`](crate::SqlStore::sweep_expired)). No
/// background task is involved, so a store needs nothing to be shut down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SqlOptions {
    /// Most connections the pool opens (default [`DEFAULT_POOL_SIZE`]; at least 1). An
    /// in-memory SQLite database always gets exactly one, which holds the data.
    pub pool_size: u32,
    /// Timeout of opening the store: the first connection and the migration (default
    /// [`DEFAULT_CONNECT_TIMEOUT`]).
    pub connect_timeout: Duration,
    /// Timeout of taking a connection from the pool, including opening a new one (default
    /// [`DEFAULT_ACQUIRE_TIMEOUT`]).
    pub acquire_timeout: Duration,
    /// SQLite: how long a statement waits for the write lock held by another connection or
    /// process (default [`DEFAULT_BUSY_TIMEOUT`]).
    pub busy_timeout: Duration,
    /// Sweep expired rows after every this many writes; 0 never sweeps (default
    /// [`DEFAULT_SWEEP_EVERY`]).
    pub sweep_every: u32,
    /// Rows one sweep deletes at most (default [`DEFAULT_SWEEP_BATCH`]; at least 1).
    pub sweep_batch: u32,
}

impl Default for SqlOptions {
    fn default() -> Self {
        SqlOptions {
            pool_size: DEFAULT_POOL_SIZE,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            acquire_timeout: DEFAULT_ACQUIRE_TIMEOUT,
            busy_timeout: DEFAULT_BUSY_TIMEOUT,
            sweep_every: DEFAULT_SWEEP_EVERY,
            sweep_batch: DEFAULT_SWEEP_BATCH,
        }
    }
}

impl SqlOptions {
    /// The default options with `pool_size` connections.
    pub fn pool_size(mut self, pool_size: u32) -> Self {
        self.pool_size = pool_size;
        self
    }

    /// The default options with these timeouts.
    pub fn timeouts(mut self, connect: Duration, acquire: Duration) -> Self {
        self.connect_timeout = connect;
        self.acquire_timeout = acquire;
        self
    }

    /// With a sweep every `every` writes (0: never) of at most `batch` rows.
    pub fn sweep(mut self, every: u32, batch: u32) -> Self {
        self.sweep_every = every;
        self.sweep_batch = batch;
        self
    }
}

/// Why a SQL store could not open, or a key it refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SqlError {
    /// The table name is not a valid identifier.
    #[error("invalid table name: {0}")]
    Table(#[from] TableNameError),
    /// The URL's scheme is not one of this build's databases.
    #[error("unsupported database URL scheme {0:?} (this build: {supported})", supported = crate::SUPPORTED_SCHEMES.join(", "))]
    Scheme(String),
    /// An option is out of range.
    #[error("invalid option: {0}")]
    Option(&'static str),
    /// The database refused or could not be reached.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The table's schema could not be prepared.
    #[error(transparent)]
    Schema(#[from] SchemaError),
    /// Opening took longer than [`SqlOptions::connect_timeout`].
    #[error("opening the store took longer than {0:?}")]
    Timeout(Duration),
    /// A key longer than [`MAX_KEY_LEN`](crate::MAX_KEY_LEN) bytes (reported as a
    /// backend error of the operation).
    #[error("a key of {0} bytes is longer than the {max} bytes a SQL store accepts", max = crate::MAX_KEY_LEN)]
    KeyTooLong(usize),
}
