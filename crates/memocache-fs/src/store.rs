//! [`FileStore`]: a directory as a [`ByteStore`] — each operation on the blocking pool
//! (Tokio's, or smol's outside Tokio), the size view and the sweeps it triggers.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use memocache_core::codec::{Codec, DecodeError};
use memocache_core::key::Namespace;
use memocache_core::storage::{ByteStore, Serialized, StorageError};

use crate::file::{self, file_name, remove_if_same, Read1};
use crate::options::FileOptions;
use crate::sweep::{self, SweepReport};

/// A directory holding one file per entry, as a [`ByteStore`]. Cheap to clone: clones share
/// the size view and the sweep.
///
/// Make it typed for a cache with [`FileStore::typed`]. See the [crate documentation](crate)
/// for the layout and the guarantees.
#[derive(Clone)]
pub struct FileStore {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    options: FileOptions,
    /// This process's view of the bytes of the directory's entry files.
    bytes: AtomicU64,
    writes: AtomicU64,
    sweeping: AtomicBool,
    corrupt_removed: AtomicU64,
}

impl fmt::Debug for FileStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileStore")
            .field("dir", &self.inner.dir)
            .field("options", &self.inner.options)
            .field("bytes", &self.inner.bytes.load(Relaxed))
            .finish()
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn backend(e: io::Error) -> StorageError {
    StorageError::backend(e)
}

/// Runs blocking `f` on Tokio's blocking pool — or, outside a Tokio runtime with the `smol`
/// feature, on smol's (`smol::unblock`).
async fn run_blocking<T: Send + 'static>(
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    #[cfg(feature = "smol")]
    {
        if tokio::runtime::Handle::try_current().is_err() {
            return smol::unblock(f).await;
        }
    }
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(io::Error::other(e)))
}

/// [`run_blocking`], its I/O error as a storage error.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> Result<T, StorageError> {
    run_blocking(f).await.map_err(backend)
}

impl Inner {
    /// One sweep of the directory (blocking), the size view updated.
    fn sweep(&self) -> io::Result<SweepReport> {
        sweep::sweep(&self.dir, now_ms(), self.options.max_bytes)
            .inspect(|r| self.bytes.store(r.bytes, Relaxed))
    }
}

impl FileStore {
    /// Opens the directory `dir`, creating it (and its parents) if missing, and counts the
    /// bytes of the entries already there.
    ///
    /// # Errors
    /// When the directory cannot be created or read.
    ///
    /// # Cancel safety
    /// Cancel safe: dropping the future leaves at most the created directory; no store
    /// exists until it returns.
    pub async fn open(dir: impl AsRef<Path>, options: FileOptions) -> io::Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        let d = dir.clone();
        let bytes = run_blocking(move || {
            std::fs::create_dir_all(&d)?;
            sweep::size(&d)
        })
        .await?;
        Ok(FileStore {
            inner: Arc::new(Inner {
                dir,
                options,
                bytes: AtomicU64::new(bytes),
                writes: AtomicU64::new(0),
                sweeping: AtomicBool::new(false),
                corrupt_removed: AtomicU64::new(0),
            }),
        })
    }

    /// A typed storage of this directory for one cache: keys under `namespace`, entries
    /// encoded with `codec`. Many typed storages (namespaces) share one directory.
    pub fn typed<K, V>(&self, namespace: Namespace, codec: Codec) -> Serialized<FileStore, K, V> {
        Serialized::new(self.clone(), namespace, codec)
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The options.
    pub fn options(&self) -> &FileOptions {
        &self.inner.options
    }

    /// This process's view of the bytes of the entry files (exact after a sweep; then plus
    /// this process's writes).
    pub fn bytes(&self) -> u64 {
        self.inner.bytes.load(Relaxed)
    }

    /// Corrupt files this store's reads found and removed.
    pub fn corrupt_removed(&self) -> u64 {
        self.inner.corrupt_removed.load(Relaxed)
    }

    /// The path of `key`'s file.
    pub fn path_of(&self, key: &str) -> PathBuf {
        self.inner.dir.join(file_name(key))
    }

    /// Sweeps the directory now (see [`FileOptions`]): expired, corrupt and stale temporary
    /// files out, then the oldest files while over the bound.
    ///
    /// # Errors
    /// When the directory cannot be read or a file cannot be removed.
    ///
    /// # Cancel safety
    /// Cancel safe in effect: dropping the future does not stop the pass, which runs to its
    /// end on the blocking pool; every removal it makes is one that a later sweep would make.
    pub async fn sweep(&self) -> Result<SweepReport, StorageError> {
        let inner = self.inner.clone();
        let report = blocking(move || inner.sweep()).await?;
        if report != SweepReport::default() {
            tracing::debug!(dir = %self.inner.dir.display(), ?report, "file store swept");
        }
        Ok(report)
    }

    /// After a write: sweeps when the bound is exceeded or every `sweep_every` writes, one
    /// sweep at a time per store. A failed sweep is logged; the write has succeeded.
    async fn wrote(&self) {
        let o = &self.inner.options;
        let n = self.inner.writes.fetch_add(1, Relaxed) + 1;
        let every = u64::from(o.sweep_every);
        let over = o.max_bytes.is_some_and(|b| self.bytes() > b);
        if !(over || (every > 0 && n.is_multiple_of(every))) {
            return;
        }
        if self.inner.sweeping.swap(true, Relaxed) {
            return; // another write of this store is sweeping
        }
        // The flag is cleared by the sweep itself, on the blocking pool: a write whose future
        // is dropped meanwhile (its tier timeout) cannot leave it set.
        let inner = self.inner.clone();
        let result = blocking(move || {
            let swept = inner.sweep();
            inner.sweeping.store(false, Relaxed);
            swept
        })
        .await;
        if let Err(e) = result {
            tracing::warn!(dir = %self.inner.dir.display(), error = %e, "sweeping the file store failed");
        }
    }

    /// Reads `key`, removing an expired or corrupt file (`Corrupt` is returned for the
    /// caller to report).
    fn read_one(inner: &Inner, key: &str, now: u64) -> io::Result<Read1> {
        let path = inner.dir.join(file_name(key));
        let found = file::read(&path, key, now, inner.options.max_file_len)?;
        match &found {
            // The size view catches up at the next sweep.
            Read1::Expired(id) => {
                remove_if_same(&path, *id)?;
            }
            Read1::Corrupt(id) => {
                tracing::warn!(file = %path.display(), "corrupt cache file: treated as a miss and removed");
                if remove_if_same(&path, *id)? {
                    inner.corrupt_removed.fetch_add(1, Relaxed);
                }
            }
            Read1::Missing | Read1::Live(_) => {}
        }
        Ok(found)
    }

    async fn write(&self, items: Vec<(String, Vec<u8>, Duration)>) -> Result<(), StorageError> {
        let inner = self.inner.clone();
        blocking(move || {
            let now = now_ms();
            for (key, value, ttl) in items {
                let ttl = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
                let bytes = file::frame(&key, &value, now.saturating_add(ttl))?;
                let path = inner.dir.join(file_name(&key));
                let replaced = file::write_atomic(&inner.dir, &path, &bytes, inner.options.fsync)?;
                inner.bytes.fetch_add(bytes.len() as u64, Relaxed);
                let _ = inner
                    .bytes
                    .fetch_update(Relaxed, Relaxed, |b| Some(b.saturating_sub(replaced)));
            }
            Ok(())
        })
        .await?;
        self.wrote().await;
        Ok(())
    }
}

impl ByteStore for FileStore {
    fn name(&self) -> &str {
        "file"
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, StorageError>> {
        async move {
            let inner = self.inner.clone();
            let key = key.to_owned();
            match blocking(move || Self::read_one(&inner, &key, now_ms())).await? {
                Read1::Live(bytes) => Ok(Some(bytes)),
                Read1::Missing | Read1::Expired(_) => Ok(None),
                Read1::Corrupt(_) => Err(StorageError::Decode(DecodeError::Truncated)),
            }
        }
        .boxed()
    }

    fn get_many<'a>(
        &'a self,
        keys: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<Option<Vec<u8>>>, StorageError>> {
        async move {
            if keys.is_empty() {
                return Ok(Vec::new());
            }
            let inner = self.inner.clone();
            let keys = keys.to_vec();
            blocking(move || {
                let now = now_ms();
                keys.iter()
                    .map(|k| {
                        Ok(match Self::read_one(&inner, k, now)? {
                            Read1::Live(bytes) => Some(bytes),
                            Read1::Missing | Read1::Expired(_) => None,
                            // No record is empty: the codec reports it as a decode error of
                            // this key, which the cache counts.
                            Read1::Corrupt(_) => Some(Vec::new()),
                        })
                    })
                    .collect()
            })
            .await
        }
        .boxed()
    }

    fn set<'a>(
        &'a self,
        key: &'a str,
        bytes: Vec<u8>,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), StorageError>> {
        async move { self.write(vec![(key.to_owned(), bytes, ttl)]).await }.boxed()
    }

    fn set_many(
        &self,
        items: Vec<(String, Vec<u8>, Duration)>,
    ) -> BoxFuture<'_, Result<(), StorageError>> {
        async move {
            if items.is_empty() {
                return Ok(());
            }
            self.write(items).await
        }
        .boxed()
    }

    fn remove<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StorageError>> {
        async move {
            let inner = self.inner.clone();
            let path = self.path_of(key);
            blocking(move || {
                let len = std::fs::symlink_metadata(&path).map_or(0, |m| m.len());
                match std::fs::remove_file(&path) {
                    Ok(()) => {
                        let _ = inner
                            .bytes
                            .fetch_update(Relaxed, Relaxed, |b| Some(b.saturating_sub(len)));
                        Ok(())
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                    Err(e) => Err(e),
                }
            })
            .await
        }
        .boxed()
    }

    fn clear_prefix<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<(), StorageError>> {
        async move {
            let inner = self.inner.clone();
            let prefix = prefix.to_owned();
            blocking(move || {
                sweep::clear_prefix(&inner.dir, &prefix)?;
                inner.bytes.store(sweep::size(&inner.dir)?, Relaxed);
                Ok(())
            })
            .await
        }
        .boxed()
    }
}
