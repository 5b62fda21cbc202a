//! One entry's file: its name (the SHA-256 of the remote key), its framing (a small header
//! with the deadline and the key, then the bytes), and the reads and atomic writes of one
//! file. Everything here is blocking I/O, run on the blocking pool (Tokio's, or smol's) by
//! the store.
//!
//! # Layout (version 1, integers little-endian)
//! | bytes | field |
//! |---|---|
//! | 0..3 | magic `MCF` |
//! | 3 | layout version (`1`) |
//! | 4..12 | `expire_at`, milliseconds since the Unix epoch (`u64`) |
//! | 12..14 | key length in bytes (`u16`) |
//! | 14..18 | value length in bytes (`u32`) |
//! | 18.. | the key (UTF-8), then the value |
//!
//! A file whose length is not exactly what its header announces (truncated, appended to),
//! whose magic or version is unknown, or whose key is not the one its name was derived from
//! is *corrupt*: a miss the cache counts as a decode error, and the file is removed.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::options::Fsync;

const MAGIC: &[u8; 3] = b"MCF";
const VERSION: u8 = 1;
/// Bytes of the header before the key.
pub(crate) const HEADER_LEN: usize = 18;
/// The prefix of temporary files (written, then renamed into place).
pub(crate) const TEMP_PREFIX: &str = ".tmp-";

/// The file name of `key`: the lower-case hex SHA-256 of its bytes (64 characters).
pub(crate) fn file_name(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    let mut name = String::with_capacity(64);
    for b in digest {
        name.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        name.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
    }
    name
}

/// `true` for a name [`file_name`] could have made.
pub(crate) fn is_entry_name(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The framed bytes of an entry.
pub(crate) fn frame(key: &str, value: &[u8], expire_at: u64) -> io::Result<Vec<u8>> {
    let key_len = u16::try_from(key.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "key longer than 65535 bytes"))?;
    let value_len = u32::try_from(value.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "value longer than 4 GiB"))?;
    let mut out = Vec::with_capacity(HEADER_LEN + key.len() + value.len());
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.extend_from_slice(&expire_at.to_le_bytes());
    out.extend_from_slice(&key_len.to_le_bytes());
    out.extend_from_slice(&value_len.to_le_bytes());
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(value);
    Ok(out)
}

/// What a file's header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub expire_at: u64,
    pub key_len: usize,
    pub value_len: usize,
}

impl Header {
    /// The header at the start of `bytes`, if it is one.
    pub(crate) fn parse(bytes: &[u8]) -> Option<Header> {
        if bytes.len() < HEADER_LEN || &bytes[..3] != MAGIC || bytes[3] != VERSION {
            return None;
        }
        let u64_at = |i: usize| u64::from_le_bytes(bytes[i..i + 8].try_into().unwrap_or_default());
        Some(Header {
            expire_at: u64_at(4),
            key_len: usize::from(u16::from_le_bytes([bytes[12], bytes[13]])),
            value_len: u32::from_le_bytes([bytes[14], bytes[15], bytes[16], bytes[17]]) as usize,
        })
    }

    /// The length of the file this header announces.
    pub(crate) fn file_len(&self) -> u64 {
        (HEADER_LEN + self.key_len + self.value_len) as u64
    }
}

/// What reading one entry's file found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Read1 {
    /// No file.
    Missing,
    /// A live entry's bytes.
    Live(Vec<u8>),
    /// A file past its deadline (its identity, to remove exactly it).
    Expired(FileId),
    /// A file that is not a well-formed entry of this key.
    Corrupt(FileId),
}

/// A file's identity (device and inode on Unix), so that a removal decided on what was read
/// removes that file and not one renamed into its place meanwhile by another writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileId(u64, u64);

impl FileId {
    pub(crate) fn of(meta: &fs::Metadata) -> FileId {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            FileId(meta.dev(), meta.ino())
        }
        #[cfg(not(unix))]
        {
            let _ = meta;
            FileId(0, 0)
        }
    }
}

/// Removes `path` if it is still the file `id`; a missing file is fine. Returns whether it
/// removed it.
pub(crate) fn remove_if_same(path: &Path, id: FileId) -> io::Result<bool> {
    match fs::symlink_metadata(path) {
        Ok(meta) if FileId::of(&meta) == id || cfg!(not(unix)) => match fs::remove_file(path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        },
        Ok(_) => Ok(false),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Reads the entry of `key` at `path`, judging it at `now` (ms since the epoch). Files longer
/// than `max_len` are corrupt without being read.
pub(crate) fn read(path: &Path, key: &str, now: u64, max_len: u64) -> io::Result<Read1> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Read1::Missing),
        Err(e) => return Err(e),
    };
    let meta = file.metadata()?;
    let id = FileId::of(&meta);
    if meta.len() > max_len {
        return Ok(Read1::Corrupt(id));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.read_to_end(&mut bytes)?;
    let Some(header) = Header::parse(&bytes) else {
        return Ok(Read1::Corrupt(id));
    };
    if header.file_len() != bytes.len() as u64
        || &bytes[HEADER_LEN..HEADER_LEN + header.key_len] != key.as_bytes()
    {
        return Ok(Read1::Corrupt(id));
    }
    if header.expire_at <= now {
        return Ok(Read1::Expired(id));
    }
    bytes.drain(..HEADER_LEN + header.key_len);
    Ok(Read1::Live(bytes))
}

/// Reads the header and key of the file at `path` (for a sweep or a clear): `None` when it
/// is not a well-formed entry. Returns the file's metadata too.
pub(crate) fn read_head(path: &Path) -> io::Result<(fs::Metadata, Option<(Header, String)>)> {
    let mut file = File::open(path)?;
    let meta = file.metadata()?;
    let mut head = [0u8; HEADER_LEN];
    if file.read_exact(&mut head).is_err() {
        return Ok((meta, None));
    }
    let Some(header) = Header::parse(&head) else {
        return Ok((meta, None));
    };
    if header.file_len() != meta.len() {
        return Ok((meta, None));
    }
    let mut key = vec![0; header.key_len];
    if file.read_exact(&mut key).is_err() {
        return Ok((meta, None));
    }
    Ok((meta, String::from_utf8(key).ok().map(|k| (header, k))))
}

/// Writes `bytes` to `path` atomically: a temporary file in the same directory, synced as
/// `fsync` says, renamed over `path` (readers see the old file or the new one, whole).
/// Returns the length of the file it replaced (0 if none).
pub(crate) fn write_atomic(
    dir: &Path,
    path: &PathBuf,
    bytes: &[u8],
    fsync: Fsync,
) -> io::Result<u64> {
    let mut tmp = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    if fsync != Fsync::Never {
        tmp.as_file().sync_data()?;
    }
    let replaced = fs::symlink_metadata(path).map_or(0, |m| m.len());
    tmp.persist(path).map_err(|e| e.error)?;
    if fsync == Fsync::Full {
        sync_dir(dir)?;
    }
    Ok(replaced)
}

/// Makes the directory's entries (a rename, a removal) durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_hex_sha256() {
        let n = file_name("abc");
        assert_eq!(
            n,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(is_entry_name(&n));
        assert!(!is_entry_name(".tmp-abc"));
        assert!(!is_entry_name(&n.to_uppercase()));
    }

    #[test]
    fn framing_round_trips_and_refuses_damage() {
        let bytes = frame("k", b"value", 42).unwrap();
        let h = Header::parse(&bytes).unwrap();
        assert_eq!(
            h,
            Header {
                expire_at: 42,
                key_len: 1,
                value_len: 5
            }
        );
        assert_eq!(h.file_len(), bytes.len() as u64);
        assert!(Header::parse(&bytes[..10]).is_none(), "short");
        let mut other = bytes.clone();
        other[3] = 9;
        assert!(Header::parse(&other).is_none(), "another version");
        assert!(frame(&"k".repeat(70_000), b"", 0).is_err());
    }
}
