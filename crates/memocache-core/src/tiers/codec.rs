//! Codecs: how a [`StoredEntry`] becomes bytes in a remote store and back — a small header
//! with the wall-clock lifespan, then the value serialized with serde ([`Format`]) and
//! optionally compressed ([`Compression`]).
//!
//! # Record layout (format version 1, integers little-endian)
//!
//! | bytes | field |
//! |---|---|
//! | 0..2 | magic `MC` |
//! | 2 | record format version (`1`) |
//! | 3 | format id: 1 JSON, 2 MessagePack, 3 postcard |
//! | 4 | compression id: 0 none, 1 zstd, 2 lz4 (block), 3 zlib |
//! | 5 | reserved, `0` |
//! | 6..14 | `created`, milliseconds since the Unix epoch (`u64`) |
//! | 14..22 | `update_at`, milliseconds since the Unix epoch |
//! | 22..30 | `expire_at`, milliseconds since the Unix epoch |
//! | 30..34 | length of the serialized value before compression (`u32`) |
//! | 34.. | the serialized value, compressed as the compression id says |
//!
//! Deadlines are absolute wall-clock times, so every process sharing a store judges an entry
//! fresh, stale or expired alike (within their clocks' skew) and stale-while-revalidate works
//! across processes.
//!
//! # Decoding never trusts the bytes
//! A record longer than the codec's size limit, or declaring a value longer than it, is
//! refused before anything is allocated or decompressed; decompression is bounded by the
//! declared length. A record with another magic, record version or format than the codec's
//! is refused (a namespace holds one format; the cache reloads and overwrites such records).
//! Any compression this build supports is read, whatever the codec writes. Every refusal is
//! a [`DecodeError`], never a panic.
//!
//! # Formats and compressions by cargo feature
//! `json` (serde_json, the default), `msgpack` (rmp-serde, maps with field names),
//! `postcard` (compact, not self-describing); `zstd`, `lz4` (lz4_flex), `zlib` (flate2).

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::stored::StoredEntry;

/// Bytes of the record header.
pub const HEADER_LEN: usize = 34;
/// The record format version this build writes and reads.
pub const RECORD_VERSION: u8 = 1;
/// Default limit on a record's size and on its decoded value's size: 16 MiB.
pub const DEFAULT_MAX_SIZE: usize = 16 << 20;
/// By default, values shorter than this many bytes are stored uncompressed.
pub const DEFAULT_COMPRESS_MIN: usize = 64;

const MAGIC: [u8; 2] = *b"MC";

/// The serde data format of the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// JSON (serde_json). Readable with `redis-cli`; the largest.
    #[cfg(feature = "json")]
    Json,
    /// MessagePack (rmp-serde), structs as maps with field names (so fields can be added).
    #[cfg(feature = "msgpack")]
    MessagePack,
    /// postcard: compact varint binary; not self-describing, so a changed value type needs a
    /// new namespace version.
    #[cfg(feature = "postcard")]
    Postcard,
}

impl Format {
    /// The id written in record headers.
    pub fn id(self) -> u8 {
        match self {
            #[cfg(feature = "json")]
            Format::Json => 1,
            #[cfg(feature = "msgpack")]
            Format::MessagePack => 2,
            #[cfg(feature = "postcard")]
            Format::Postcard => 3,
        }
    }

    /// Every format this build supports.
    pub fn all() -> &'static [Format] {
        &[
            #[cfg(feature = "json")]
            Format::Json,
            #[cfg(feature = "msgpack")]
            Format::MessagePack,
            #[cfg(feature = "postcard")]
            Format::Postcard,
        ]
    }
}

/// How the serialized value is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Compression {
    /// Stored as serialized.
    #[default]
    None,
    /// Zstandard at this level (1–22; 3 is zstd's default).
    #[cfg(feature = "zstd")]
    Zstd(i32),
    /// LZ4 block format (lz4_flex): the fastest.
    #[cfg(feature = "lz4")]
    Lz4,
    /// zlib (flate2) at this level (0–9).
    #[cfg(feature = "zlib")]
    Zlib(u32),
}

impl Compression {
    /// The id written in record headers.
    pub fn id(self) -> u8 {
        match self {
            Compression::None => 0,
            #[cfg(feature = "zstd")]
            Compression::Zstd(_) => 1,
            #[cfg(feature = "lz4")]
            Compression::Lz4 => 2,
            #[cfg(feature = "zlib")]
            Compression::Zlib(_) => 3,
        }
    }

    /// Every compression this build supports, at default levels.
    pub fn all() -> &'static [Compression] {
        &[
            Compression::None,
            #[cfg(feature = "zstd")]
            Compression::Zstd(3),
            #[cfg(feature = "lz4")]
            Compression::Lz4,
            #[cfg(feature = "zlib")]
            Compression::Zlib(6),
        ]
    }
}

/// Why a value could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The serializer refused the value.
    #[error("serialization failed: {0}")]
    Serialize(String),
    /// The record would exceed the codec's size limit.
    #[error("record of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Bytes the record or value would take.
        size: usize,
        /// The codec's limit.
        limit: usize,
    },
    /// The compressor failed.
    #[error("compression failed: {0}")]
    Compress(String),
}

/// Why stored bytes could not be decoded. The cache treats every case as a miss, counts it
/// (`decode_errors`) and overwrites the record with a fresh load.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Fewer bytes than a header, or fewer than the header announces.
    #[error("record truncated")]
    Truncated,
    /// The bytes do not start with a memocache record header.
    #[error("not a memocache record")]
    NotARecord,
    /// A record format version this build does not read.
    #[error("unsupported record version {0}")]
    UnsupportedVersion(u8),
    /// The record was written with another format than this codec's.
    #[error("record format id {found}, this codec reads {expected}")]
    OtherFormat {
        /// The format id in the record.
        found: u8,
        /// This codec's format id.
        expected: u8,
    },
    /// A compression id this build does not support.
    #[error("unsupported compression id {0}")]
    UnsupportedCompression(u8),
    /// The record or its declared value exceeds the size limit.
    #[error("{size} bytes exceed the limit of {limit} bytes")]
    TooLarge {
        /// Bytes of the record or of the declared value.
        size: usize,
        /// The codec's limit.
        limit: usize,
    },
    /// Decompression failed or gave another length than declared.
    #[error("decompression failed: {0}")]
    Decompress(String),
    /// The value did not deserialize into the expected type.
    #[error("deserialization failed: {0}")]
    Deserialize(String),
    /// The header's times are inconsistent (expiry before creation).
    #[error("inconsistent record times")]
    BadTimes,
}

/// A format, a compression and a size limit: turns [`StoredEntry`]s into records and back.
///
/// ```
/// # extern crate memocache_core as memocache;
/// use std::time::Duration;
/// use memocache::codec::{Codec, Format, Compression};
/// use memocache::storage::StoredEntry;
///
/// let codec = Codec::new(Format::Json, Compression::None);
/// let entry = StoredEntry::new(vec![1u32, 2, 3], Duration::from_secs(60), Duration::from_secs(600));
/// let bytes = codec.encode(&entry)?;
/// let back: StoredEntry<Vec<u32>> = codec.decode(&bytes).unwrap();
/// assert_eq!(back.value, vec![1, 2, 3]);
/// assert!(codec.decode::<Vec<u32>>(b"garbage").is_err());
/// # Ok::<(), memocache::codec::EncodeError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Codec {
    format: Format,
    compression: Compression,
    max_size: usize,
    compress_min: usize,
}

fn millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn from_millis(ms: u64) -> SystemTime {
    UNIX_EPOCH
        .checked_add(Duration::from_millis(ms))
        .unwrap_or(UNIX_EPOCH)
}

impl Codec {
    /// A codec of `format` and `compression`, with the default size limit
    /// ([`DEFAULT_MAX_SIZE`]) and compression threshold ([`DEFAULT_COMPRESS_MIN`]).
    pub fn new(format: Format, compression: Compression) -> Self {
        Codec {
            format,
            compression,
            max_size: DEFAULT_MAX_SIZE,
            compress_min: DEFAULT_COMPRESS_MIN,
        }
    }

    /// JSON, uncompressed.
    #[cfg(feature = "json")]
    pub fn json() -> Self {
        Self::new(Format::Json, Compression::None)
    }

    /// Limits both a record and its decoded value to `bytes` (default 16 MiB).
    pub fn max_size(mut self, bytes: usize) -> Self {
        self.max_size = bytes.min(u32::MAX as usize);
        self
    }

    /// The size limit of a record and of its decoded value.
    pub fn size_limit(&self) -> usize {
        self.max_size
    }

    /// Values shorter than `bytes` once serialized are stored uncompressed (default 64).
    pub fn compress_min(mut self, bytes: usize) -> Self {
        self.compress_min = bytes;
        self
    }

    /// The format.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The compression used for values of at least `compress_min` bytes.
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// The record of `entry`. Times out of order are put in order first (`created` and
    /// `update_at` cut to `expire_at`), so every record this writes reads back.
    ///
    /// # Errors
    /// When the value does not serialize, or the record would exceed the size limit.
    pub fn encode<V: Serialize>(&self, entry: &StoredEntry<V>) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::with_capacity(HEADER_LEN + 64);
        out.extend_from_slice(&[0; HEADER_LEN]);
        self.serialize_into(&entry.value, &mut out)?;
        let raw_len = out.len() - HEADER_LEN;
        if raw_len > self.max_size {
            return Err(EncodeError::TooLarge {
                size: raw_len,
                limit: self.max_size,
            });
        }
        let compression = if raw_len < self.compress_min {
            Compression::None
        } else {
            self.compression
        };
        if compression != Compression::None {
            let compressed = compress(compression, &out[HEADER_LEN..])?;
            out.truncate(HEADER_LEN);
            out.extend_from_slice(&compressed);
        }
        if out.len() > self.max_size {
            return Err(EncodeError::TooLarge {
                size: out.len(),
                limit: self.max_size,
            });
        }
        out[0..2].copy_from_slice(&MAGIC);
        out[2] = RECORD_VERSION;
        out[3] = self.format.id();
        out[4] = compression.id();
        out[5] = 0;
        let expire_at = millis(entry.expire_at);
        let created = millis(entry.created).min(expire_at);
        let update_at = millis(entry.update_at).min(expire_at);
        out[6..14].copy_from_slice(&created.to_le_bytes());
        out[14..22].copy_from_slice(&update_at.to_le_bytes());
        out[22..30].copy_from_slice(&expire_at.to_le_bytes());
        out[30..34].copy_from_slice(&(raw_len as u32).to_le_bytes());
        Ok(out)
    }

    #[cfg_attr(
        not(any(feature = "json", feature = "msgpack", feature = "postcard")),
        allow(unused_variables, clippy::ptr_arg)
    )]
    fn serialize_into<V: Serialize>(
        &self,
        value: &V,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        let err = |e: &dyn fmt::Display| EncodeError::Serialize(e.to_string());
        match self.format {
            #[cfg(feature = "json")]
            Format::Json => serde_json::to_writer(out, value).map_err(|e| err(&e)),
            #[cfg(feature = "msgpack")]
            Format::MessagePack => rmp_serde::encode::write_named(out, value).map_err(|e| err(&e)),
            #[cfg(feature = "postcard")]
            Format::Postcard => {
                let bytes = postcard::to_allocvec(value).map_err(|e| err(&e))?;
                out.extend_from_slice(&bytes);
                Ok(())
            }
        }
    }

    /// The entry in `bytes`.
    ///
    /// # Errors
    /// A [`DecodeError`] for anything but a well-formed record of this codec's format within
    /// the size limit; never panics.
    pub fn decode<V: DeserializeOwned>(&self, bytes: &[u8]) -> Result<StoredEntry<V>, DecodeError> {
        if bytes.len() > self.max_size {
            return Err(DecodeError::TooLarge {
                size: bytes.len(),
                limit: self.max_size,
            });
        }
        if bytes.len() < HEADER_LEN {
            return Err(if bytes.len() >= 2 && bytes[0..2] != MAGIC {
                DecodeError::NotARecord
            } else {
                DecodeError::Truncated
            });
        }
        if bytes[0..2] != MAGIC {
            return Err(DecodeError::NotARecord);
        }
        if bytes[2] != RECORD_VERSION {
            return Err(DecodeError::UnsupportedVersion(bytes[2]));
        }
        if bytes[3] != self.format.id() {
            return Err(DecodeError::OtherFormat {
                found: bytes[3],
                expected: self.format.id(),
            });
        }
        let u64_at = |i: usize| {
            let mut b = [0; 8];
            b.copy_from_slice(&bytes[i..i + 8]);
            u64::from_le_bytes(b)
        };
        let (created, update_at, expire_at) = (u64_at(6), u64_at(14), u64_at(22));
        if expire_at < created || update_at > expire_at {
            return Err(DecodeError::BadTimes);
        }
        let mut len = [0; 4];
        len.copy_from_slice(&bytes[30..34]);
        let raw_len = u32::from_le_bytes(len) as usize;
        if raw_len > self.max_size {
            return Err(DecodeError::TooLarge {
                size: raw_len,
                limit: self.max_size,
            });
        }
        let payload = &bytes[HEADER_LEN..];
        let raw = decompress(bytes[4], payload, raw_len)?;
        let value = self.deserialize(&raw)?;
        Ok(StoredEntry {
            value,
            created: from_millis(created),
            update_at: from_millis(update_at),
            expire_at: from_millis(expire_at),
            stamp: Default::default(),
        })
    }

    #[cfg_attr(
        not(any(feature = "json", feature = "msgpack", feature = "postcard")),
        allow(unused_variables)
    )]
    fn deserialize<V: DeserializeOwned>(&self, raw: &[u8]) -> Result<V, DecodeError> {
        let err = |e: &dyn fmt::Display| DecodeError::Deserialize(e.to_string());
        match self.format {
            #[cfg(feature = "json")]
            Format::Json => serde_json::from_slice(raw).map_err(|e| err(&e)),
            #[cfg(feature = "msgpack")]
            Format::MessagePack => {
                let mut de = rmp_serde::Deserializer::new(raw);
                let v = V::deserialize(&mut de).map_err(|e| err(&e))?;
                if de.into_inner().is_empty() {
                    Ok(v)
                } else {
                    Err(DecodeError::Deserialize("trailing bytes".into()))
                }
            }
            #[cfg(feature = "postcard")]
            Format::Postcard => match postcard::take_from_bytes(raw) {
                Ok((v, [])) => Ok(v),
                Ok(_) => Err(DecodeError::Deserialize("trailing bytes".into())),
                Err(e) => Err(err(&e)),
            },
        }
    }
}

fn compress(c: Compression, raw: &[u8]) -> Result<Vec<u8>, EncodeError> {
    match c {
        Compression::None => Ok(raw.to_vec()),
        #[cfg(feature = "zstd")]
        Compression::Zstd(level) => {
            zstd::bulk::compress(raw, level).map_err(|e| EncodeError::Compress(e.to_string()))
        }
        #[cfg(feature = "lz4")]
        Compression::Lz4 => Ok(lz4_flex::block::compress(raw)),
        #[cfg(feature = "zlib")]
        Compression::Zlib(level) => {
            use std::io::Write;
            let mut enc = flate2::write::ZlibEncoder::new(
                Vec::with_capacity(raw.len() / 2 + 16),
                flate2::Compression::new(level.min(9)),
            );
            enc.write_all(raw)
                .and_then(|_| enc.finish())
                .map_err(|e| EncodeError::Compress(e.to_string()))
        }
    }
}

/// Decompresses `payload` (compression `id`) into exactly `raw_len` bytes, never more.
fn decompress(
    id: u8,
    payload: &[u8],
    raw_len: usize,
) -> Result<std::borrow::Cow<'_, [u8]>, DecodeError> {
    use std::borrow::Cow;
    let check = |out: Vec<u8>| -> Result<Cow<'static, [u8]>, DecodeError> {
        if out.len() == raw_len {
            Ok(Cow::Owned(out))
        } else {
            Err(DecodeError::Decompress(format!(
                "{} bytes, header says {raw_len}",
                out.len()
            )))
        }
    };
    match id {
        0 => {
            if payload.len() == raw_len {
                Ok(Cow::Borrowed(payload))
            } else if payload.len() < raw_len {
                Err(DecodeError::Truncated)
            } else {
                Err(DecodeError::Decompress("trailing bytes".into()))
            }
        }
        #[cfg(feature = "zstd")]
        1 => zstd::bulk::decompress(payload, raw_len)
            .map_err(|e| DecodeError::Decompress(e.to_string()))
            .and_then(check),
        #[cfg(feature = "lz4")]
        2 => lz4_flex::block::decompress(payload, raw_len)
            .map_err(|e| DecodeError::Decompress(e.to_string()))
            .and_then(check),
        #[cfg(feature = "zlib")]
        3 => {
            use std::io::Read;
            let mut out = Vec::with_capacity(raw_len.min(1 << 20));
            flate2::read::ZlibDecoder::new(payload)
                .take(raw_len as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| DecodeError::Decompress(e.to_string()))?;
            check(out)
        }
        other => {
            let _ = check;
            Err(DecodeError::UnsupportedCompression(other))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(v: &str) -> StoredEntry<String> {
        StoredEntry::new(
            v.to_owned(),
            Duration::from_secs(5),
            Duration::from_secs(10),
        )
    }

    #[test]
    fn an_entry_from_a_clock_ahead_capped_by_a_tier_reads_back() {
        // Written by a process whose clock is an hour ahead, then capped to 10 s by a tier of
        // a process with the right time: created after expire_at (BadTimes before the fix).
        let now = SystemTime::now();
        let ahead = now + Duration::from_secs(3600);
        let e = StoredEntry::created_at(
            ahead,
            "v".to_owned(),
            Duration::from_secs(60),
            Duration::from_secs(7200),
        );
        let capped = e.clone().capped(now, Some(Duration::from_secs(10)));
        assert!(capped.created <= capped.expire_at);
        let mut raw = e;
        raw.expire_at = now; // built by hand, out of order: encode puts it in order
        for &f in Format::all() {
            let codec = Codec::new(f, Compression::None);
            let back = codec
                .decode::<String>(&codec.encode(&capped).unwrap())
                .unwrap();
            assert_eq!(millis(back.expire_at), millis(capped.expire_at));
            assert!(codec.decode::<String>(&codec.encode(&raw).unwrap()).is_ok());
        }
    }

    #[test]
    fn header_fields_are_where_documented() {
        for &f in Format::all() {
            let e = entry("hello");
            let b = Codec::new(f, Compression::None).encode(&e).unwrap();
            assert_eq!(&b[0..2], b"MC");
            assert_eq!(b[2], 1);
            assert_eq!(b[3], f.id());
            assert_eq!(b[4], 0);
            assert_eq!(
                u64::from_le_bytes(b[22..30].try_into().unwrap()),
                millis(e.expire_at)
            );
        }
    }

    #[test]
    fn small_values_stay_uncompressed_and_large_ones_shrink() {
        for &c in Compression::all() {
            let codec = Codec::new(Format::all()[0], c);
            let small = codec.encode(&entry("x")).unwrap();
            assert_eq!(small[4], 0);
            let big = entry(&"abc".repeat(1000));
            let b = codec.encode(&big).unwrap();
            assert_eq!(b[4], c.id());
            if c != Compression::None {
                assert!(b.len() < 3000, "{c:?} compresses: {}", b.len());
            }
            assert_eq!(codec.decode::<String>(&b).unwrap().value, big.value);
        }
    }

    #[test]
    fn size_limits_hold_both_ways() {
        let codec = Codec::new(Format::all()[0], Compression::None).max_size(100);
        let big = entry(&"a".repeat(200));
        assert!(matches!(
            codec.encode(&big),
            Err(EncodeError::TooLarge { .. })
        ));
        let b = Codec::new(Format::all()[0], Compression::None)
            .encode(&big)
            .unwrap();
        assert!(matches!(
            codec.decode::<String>(&b),
            Err(DecodeError::TooLarge { .. })
        ));
    }
}
