//! [`FileOptions`]: a file store's size bound, durability ([`Fsync`]) and sweep.

/// By default every 1,000th write of a store also sweeps the directory.
pub const DEFAULT_SWEEP_EVERY: u32 = 1_000;
/// By default a file longer than 64 MiB is not read (it is corrupt: the codec's own limit is
/// 16 MiB).
pub const DEFAULT_MAX_FILE_LEN: u64 = 64 << 20;

/// When a write makes its data durable. A cache can lose entries without harm, so the
/// default is [`Fsync::Never`]: every write is still atomic (temporary file + rename), so a
/// reader sees the old entry or the new one whole, and after a crash or power loss an entry
/// is either there, missing, or (on file systems that reorder data and rename) empty or
/// short — which the framing detects: a counted miss, never wrong bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Fsync {
    /// No `fsync`: the kernel writes back when it likes (default).
    #[default]
    Never,
    /// `fsync` each file's data before renaming it into place: an entry that was renamed is
    /// complete after a power loss.
    Data,
    /// As `Data`, and `fsync` the directory after the rename: a write that returned
    /// survives a power loss.
    Full,
}

/// How a [`FileStore`](crate::FileStore) bounds and sweeps its directory.
///
/// **Sweeps run on writes**: every [`sweep_every`](Self::sweep_every)th write, and any write
/// after which this process's view of the directory's size exceeds
/// [`max_bytes`](Self::max_bytes), scans the directory in the same call (on the blocking
/// pool): it removes expired and corrupt files and temporary files over an hour old, then,
/// while the directory is over `max_bytes`, the files written longest ago (modification
/// time) until it is at 90% of it. The scan also resets the size view to the directory's
/// real size, other processes' files included; between scans each process counts only its
/// own writes, so with several processes the directory can exceed the bound by what the
/// others wrote since this one's last scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct FileOptions {
    /// Bytes of entry files the directory may hold (default: no bound).
    pub max_bytes: Option<u64>,
    /// When writes are made durable (default [`Fsync::Never`]).
    pub fsync: Fsync,
    /// Sweep after every this many writes; 0 sweeps only when over `max_bytes` (default
    /// [`DEFAULT_SWEEP_EVERY`]).
    pub sweep_every: u32,
    /// Files longer than this are corrupt and not read (default [`DEFAULT_MAX_FILE_LEN`]).
    pub max_file_len: u64,
}

impl Default for FileOptions {
    fn default() -> Self {
        FileOptions {
            max_bytes: None,
            fsync: Fsync::Never,
            sweep_every: DEFAULT_SWEEP_EVERY,
            max_file_len: DEFAULT_MAX_FILE_LEN,
        }
    }
}

impl FileOptions {
    /// With a bound of `bytes` on the directory's entry files.
    pub fn max_bytes(mut self, bytes: u64) -> Self {
        self.max_bytes = Some(bytes);
        self
    }

    /// With the durability `fsync`.
    pub fn fsync(mut self, fsync: Fsync) -> Self {
        self.fsync = fsync;
        self
    }

    /// With a sweep every `writes` writes (0: only when over the bound).
    pub fn sweep_every(mut self, writes: u32) -> Self {
        self.sweep_every = writes;
        self
    }
}
