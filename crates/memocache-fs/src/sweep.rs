//! Whole-directory passes: the sweep (expired, corrupt and stale temporary files out, then
//! the oldest files until the size bound holds), the clear of one namespace, and the size
//! count at open. Blocking I/O, run on the blocking pool (Tokio's, or smol's).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::file::{self, is_entry_name, remove_if_same, FileId, TEMP_PREFIX};

/// Temporary files older than this were left by a process that died mid-write.
pub const STALE_TEMP_AGE: Duration = Duration::from_secs(3600);

/// What a sweep did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct SweepReport {
    /// Files past their deadline removed.
    pub expired: u64,
    /// Corrupt files removed (unreadable framing).
    pub corrupt: u64,
    /// Stale temporary files removed.
    pub temporary: u64,
    /// Live files removed, oldest first, to bring the directory under the bound.
    pub evicted: u64,
    /// Entry files left.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
}

struct Live {
    path: PathBuf,
    id: FileId,
    len: u64,
    modified: SystemTime,
}

/// The directory's entry files and temporary files, as paths and names.
fn entries(dir: &Path) -> io::Result<impl Iterator<Item = (PathBuf, String)>> {
    Ok(fs::read_dir(dir)?.filter_map(|e| {
        let e = e.ok()?;
        let name = e.file_name().into_string().ok()?;
        Some((e.path(), name))
    }))
}

/// Sweeps `dir` at `now` (ms since the epoch); then, if the live files exceed `bound` bytes,
/// evicts the oldest (modification time) until they are at 90% of it.
pub(crate) fn sweep(dir: &Path, now: u64, bound: Option<u64>) -> io::Result<SweepReport> {
    let mut report = SweepReport::default();
    let mut live = Vec::new();
    let wall = SystemTime::now();
    for (path, name) in entries(dir)? {
        if name.starts_with(TEMP_PREFIX) {
            let stale = fs::symlink_metadata(&path)
                .and_then(|m| m.modified())
                .is_ok_and(|t| wall.duration_since(t).unwrap_or_default() > STALE_TEMP_AGE);
            if stale && fs::remove_file(&path).is_ok() {
                report.temporary += 1;
            }
            continue;
        }
        if !is_entry_name(&name) {
            continue;
        }
        let (meta, head) = match file::read_head(&path) {
            Ok(found) => found,
            // Removed by another writer or sweeper meanwhile.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        let id = FileId::of(&meta);
        match head {
            None => {
                if remove_if_same(&path, id)? {
                    report.corrupt += 1;
                }
            }
            Some((h, _)) if h.expire_at <= now => {
                if remove_if_same(&path, id)? {
                    report.expired += 1;
                }
            }
            Some(_) => live.push(Live {
                path,
                id,
                len: meta.len(),
                modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            }),
        }
    }
    let mut total: u64 = live.iter().map(|l| l.len).sum();
    if let Some(bound) = bound.filter(|&b| total > b) {
        let target = bound - bound / 10;
        live.sort_by_key(|l| l.modified);
        let mut kept = Vec::with_capacity(live.len());
        let mut oldest = live.into_iter();
        for l in oldest.by_ref() {
            if total <= target {
                kept.push(l);
                break;
            }
            total -= l.len;
            if remove_if_same(&l.path, l.id)? {
                report.evicted += 1;
            }
        }
        kept.extend(oldest);
        live = kept;
    }
    report.files = live.len() as u64;
    report.bytes = total;
    Ok(report)
}

/// Removes every entry file whose key starts with `prefix`; returns how many.
pub(crate) fn clear_prefix(dir: &Path, prefix: &str) -> io::Result<u64> {
    let mut removed = 0;
    for (path, name) in entries(dir)? {
        if !is_entry_name(&name) {
            continue;
        }
        match file::read_head(&path) {
            Ok((meta, Some((_, key)))) if key.starts_with(prefix) => {
                if remove_if_same(&path, FileId::of(&meta))? {
                    removed += 1;
                }
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(removed)
}

/// Bytes of the entry files in `dir`.
pub(crate) fn size(dir: &Path) -> io::Result<u64> {
    let mut total = 0;
    for (path, name) in entries(dir)? {
        if is_entry_name(&name) {
            total += fs::symlink_metadata(&path).map_or(0, |m| m.len());
        }
    }
    Ok(total)
}
