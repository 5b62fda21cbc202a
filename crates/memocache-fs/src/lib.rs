//! File storage for [memocache](https://docs.rs/memocache), after fresco-memoize's
//! `FileCacher`: [`FileStore`], a directory holding one file per entry, as a [`ByteStore`](memocache_core::storage::ByteStore).
//! Made typed with [`FileStore::typed`], it keeps the same records as the Redis and SQL
//! stores (the codec's header with the wall-clock lifespan, then the value).
//!
//! ```no_run
//! # extern crate memocache_core as memocache;
//! use memocache::codec::Codec;
//! use memocache::key::Namespace;
//! use memocache::{Cache, Tier};
//! use memocache_fs::{FileOptions, FileStore};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let files = FileStore::open("/var/cache/myapp", FileOptions::default().max_bytes(1 << 30)).await?;
//! let pages: Cache<String, String> = Cache::builder()
//!     .tier(Tier::new(files.typed(Namespace::new("pages"), Codec::json())))
//!     .build()?;
//! # Ok(())
//! # }
//! ```
//!
//! # Guarantees
//! - **One file per entry**, named by the hex SHA-256 of the remote key (so any key is a
//!   valid, fixed-length file name); the file holds its deadline and its key (layout in
//!   the `file` module's docs), so a read checks both.
//! - **Atomic writes**: a temporary file (`.tmp-…`) in the same directory, renamed over the
//!   entry's file. A reader — in this process or another — sees the old entry or the new
//!   one, whole; concurrent writers of one key end with the last rename (last writer wins).
//!   Durability: [`Fsync`] (default: none, which costs at most entries after a power loss,
//!   never wrong bytes).
//! - **Corrupt or truncated files** are a miss the cache counts as a decode error
//!   (`decode_errors`), and they are removed (the reload writes a fresh one).
//! - **Bounded**: expired files are removed when read and by sweeps; with
//!   [`FileOptions::max_bytes`] the oldest files are evicted (see [`FileOptions`] for when
//!   sweeps run, on writes, and the bound's precision across processes).
//! - `clear` of a namespace reads the header of every file of the directory (as
//!   fresco-memoize's `invalidate_all` checks every key): its cost grows with the directory.
//!
//! Every operation runs on Tokio's blocking pool (outside a Tokio runtime with the `smol`
//! feature: on smol's, `smol::unblock`). Dropping an operation's future does not
//! stop the file operation already handed to that pool: it completes (a write lands whole).
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod file;
mod options;
mod store;
mod sweep;

pub use options::{FileOptions, Fsync, DEFAULT_MAX_FILE_LEN, DEFAULT_SWEEP_EVERY};
pub use store::FileStore;
pub use sweep::{SweepReport, STALE_TEMP_AGE};
