//! Target `decode_record`: `Codec::decode` and `Codec::encode` of memocache-core, for every
//! format × compression of the engine and three value types (`String`, `Vec<u64>`, [`Rec`]:
//! a struct with options, a map and an enum).
//!
//! Input: byte 0 picks the mode, the value type, the size limit and the compression
//! threshold; byte 1 the codec's format and compression ([`selector`]); the rest depends on
//! the mode:
//! - [`Mode::Record`]: the rest is the record, decoded as it is;
//! - [`Mode::Payload`]: a compression id byte, a declared length (`u32` LE), then the payload,
//!   behind a well-formed header (so the decompressors and deserializers see fuzzed bytes);
//! - [`Mode::Compressed`]: a compression index byte, then a serialized value that the target
//!   compresses itself behind a well-formed header (so the deserializers see fuzzed bytes
//!   under every compression);
//! - [`Mode::RoundTrip`]: bytes for `arbitrary` to build a value, its times and the codec's
//!   levels and threshold; the entry is encoded, then decoded.
//!
//! Checked, beyond "no panic, no hang, no out-of-memory":
//! - a record the header of which is refusable (longer than the limit, shorter than a header,
//!   another magic, record version or format, times out of order, a declared value longer
//!   than the limit) gives one of those refusals, never a value;
//! - otherwise the error fits the payload: `UnsupportedCompression` exactly for an id the
//!   build lacks, `Truncated`/`Decompress` for an uncompressed payload shorter/longer than
//!   declared, else `Decompress` or `Deserialize`;
//! - a decoded entry has the header's times, and re-encodes (or is refused as `TooLarge`
//!   beyond the limit, never another error) to a record that decodes to an equal entry;
//! - with a small limit ([`SMALL_LIMIT`]), decoding holds at most [`SMALL_PEAK_BOUND`] bytes
//!   of heap at once, whatever the record declares;
//! - an encoded entry is within the limit or refused with `TooLarge` (the value's size when
//!   the serialized value alone exceeds it), has the documented header (compression id 0
//!   below the threshold), and decodes back to the value, with its times truncated to
//!   milliseconds.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arbitrary::{Arbitrary, Unstructured};
use memocache_core::codec::{
    Codec, Compression, DecodeError, EncodeError, Format, HEADER_LEN, RECORD_VERSION,
};
use memocache_core::storage::StoredEntry;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::alloc;

/// The size limit of the small-limit variant: records of the fuzzer's length (4 KiB by
/// default) cross it both ways.
pub const SMALL_LIMIT: usize = 300;

/// Most heap bytes one decode may hold at once under [`SMALL_LIMIT`]. The codec allocates at
/// most the declared length (so at most the limit) plus a decompressor's fixed state (zlib:
/// a 32 KiB input buffer and ~43 KiB of inflate state); serde then preallocates a sequence by
/// its declared element count, capped at 1 MiB (`serde::de::size_hint::cautious`), which
/// the codec does not bound. A decode that allocated by a declared size instead (up to
/// 4 GiB) would exceed this.
pub const SMALL_PEAK_BOUND: usize = (1 << 20) + (256 << 10);

/// How the target reads its input after the two selector bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The rest is a record.
    Record = 0,
    /// Compression id, declared length, payload behind a well-formed header.
    Payload = 1,
    /// Compression index, then a serialized value the target compresses.
    Compressed = 2,
    /// `arbitrary` bytes: a value encoded, then decoded.
    RoundTrip = 3,
}

/// The value type decoded and encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    /// `String`.
    Text = 0,
    /// `Vec<u64>`.
    Numbers = 1,
    /// [`Rec`].
    Rec = 2,
}

/// An enum with unit, newtype and struct variants, inside [`Rec`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Arbitrary)]
pub enum Kind {
    /// A unit variant.
    Plain,
    /// A newtype variant.
    Tagged(u16),
    /// A struct variant.
    Named {
        /// Text.
        label: String,
        /// A signed number.
        weight: i32,
    },
}

/// A struct value with options, a map, a sequence and an enum (no floats: NaN would make
/// equality fail for reasons that are not the codec's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Arbitrary)]
pub struct Rec {
    /// A number.
    pub id: u64,
    /// An optional text.
    pub label: Option<String>,
    /// A map with text keys (JSON's maps need them).
    pub attrs: BTreeMap<String, i64>,
    /// An enum.
    pub kind: Kind,
    /// A sequence of options.
    pub scores: Vec<Option<u32>>,
}

/// What the target needs of a value type.
pub trait Value: Serialize + DeserializeOwned + PartialEq + Debug + for<'a> Arbitrary<'a> {}
impl<T: Serialize + DeserializeOwned + PartialEq + Debug + for<'a> Arbitrary<'a>> Value for T {}

/// The two selector bytes that start an input.
pub fn selector(
    mode: Mode,
    ty: Ty,
    small: bool,
    eager: bool,
    format_index: usize,
    compression_index: usize,
) -> [u8; 2] {
    let b0 = mode as u8 | (ty as u8) << 2 | u8::from(small) << 4 | u8::from(eager) << 5;
    let b1 = (format_index as u8 & 0x0f) | (compression_index as u8) << 4;
    [b0, b1]
}

struct Setup {
    mode: Mode,
    ty: Ty,
    limit: usize,
    eager: bool,
    format: Format,
    compression: Compression,
}

impl Setup {
    fn new(b0: u8, b1: u8) -> Self {
        let formats = Format::all();
        let compressions = Compression::all();
        Setup {
            mode: match b0 & 3 {
                0 => Mode::Record,
                1 => Mode::Payload,
                2 => Mode::Compressed,
                _ => Mode::RoundTrip,
            },
            ty: match (b0 >> 2) & 3 {
                0 => Ty::Text,
                1 => Ty::Numbers,
                _ => Ty::Rec,
            },
            limit: if b0 & 0x10 != 0 {
                SMALL_LIMIT
            } else {
                memocache_core::codec::DEFAULT_MAX_SIZE
            },
            eager: b0 & 0x20 != 0,
            format: formats[usize::from(b1 & 0x0f) % formats.len()],
            compression: compressions[usize::from(b1 >> 4) % compressions.len()],
        }
    }

    fn codec(&self) -> Codec {
        let codec = Codec::new(self.format, self.compression).max_size(self.limit);
        if self.eager {
            codec.compress_min(0)
        } else {
            codec
        }
    }
}

/// The target.
pub fn run(data: &[u8]) {
    let [b0, b1, rest @ ..] = data else { return };
    let setup = Setup::new(*b0, *b1);
    match setup.ty {
        Ty::Text => run_typed::<String>(&setup, rest),
        Ty::Numbers => run_typed::<Vec<u64>>(&setup, rest),
        Ty::Rec => run_typed::<Rec>(&setup, rest),
    }
}

fn run_typed<V: Value>(setup: &Setup, data: &[u8]) {
    let codec = setup.codec();
    match setup.mode {
        Mode::Record => check_decode::<V>(&codec, data),
        Mode::Payload => {
            let [id, l0, l1, l2, l3, payload @ ..] = data else {
                return;
            };
            let declared = u32::from_le_bytes([*l0, *l1, *l2, *l3]);
            let mut record = header(setup.format, *id, [1_000, 2_000, 3_000], declared);
            record.extend_from_slice(payload);
            check_decode::<V>(&codec, &record);
        }
        Mode::Compressed => {
            let [index, raw @ ..] = data else { return };
            let all = Compression::all();
            let c = all[usize::from(*index) % all.len()];
            let mut record = header(
                setup.format,
                c.id(),
                [1_000, 2_000, 3_000],
                raw.len() as u32,
            );
            record.extend_from_slice(&compress(c, raw));
            check_decode::<V>(&codec, &record);
        }
        Mode::RoundTrip => round_trip::<V>(setup, data),
    }
}

/// A well-formed record header (layout of `memocache_core::codec`).
pub fn header(format: Format, compression_id: u8, times: [u64; 3], raw_len: u32) -> Vec<u8> {
    let mut h = Vec::with_capacity(HEADER_LEN);
    h.extend_from_slice(b"MC");
    h.push(RECORD_VERSION);
    h.push(format.id());
    h.push(compression_id);
    h.push(0);
    for t in times {
        h.extend_from_slice(&t.to_le_bytes());
    }
    h.extend_from_slice(&raw_len.to_le_bytes());
    h
}

/// `raw` compressed as `c` writes it, with the compressors' own crates.
pub fn compress(c: Compression, raw: &[u8]) -> Vec<u8> {
    use std::io::Write;
    match c.id() {
        1 => zstd::bulk::compress(raw, 3).expect("zstd compresses"),
        2 => lz4_flex::block::compress(raw),
        3 => {
            let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(6));
            enc.write_all(raw).expect("zlib compresses");
            enc.finish().expect("zlib compresses")
        }
        _ => raw.to_vec(),
    }
}

fn u64_at(bytes: &[u8], i: usize) -> u64 {
    u64::from_le_bytes(bytes[i..i + 8].try_into().expect("8 bytes"))
}

fn from_millis(ms: u64) -> SystemTime {
    UNIX_EPOCH
        .checked_add(Duration::from_millis(ms))
        .expect("any u64 of milliseconds is a SystemTime here")
}

/// `t` as the header stores it: whole milliseconds since the epoch, clamped to `u64`.
fn millis(t: SystemTime) -> u64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => u64::try_from(d.as_millis()).unwrap_or(u64::MAX),
        Err(_) => 0,
    }
}

/// Every refusal the documented header checks allow for `bytes` (empty: the header is fine).
fn header_refusals(codec: &Codec, bytes: &[u8]) -> Vec<DecodeError> {
    let limit = codec.size_limit();
    let mut out = Vec::new();
    if bytes.len() > limit {
        out.push(DecodeError::TooLarge {
            size: bytes.len(),
            limit,
        });
    }
    if bytes.len() < HEADER_LEN {
        out.push(DecodeError::Truncated);
        if bytes.len() >= 2 && bytes[0..2] != *b"MC" {
            out.push(DecodeError::NotARecord);
        }
        return out;
    }
    if bytes[0..2] != *b"MC" {
        out.push(DecodeError::NotARecord);
    }
    if bytes[2] != RECORD_VERSION {
        out.push(DecodeError::UnsupportedVersion(bytes[2]));
    }
    if bytes[3] != codec.format().id() {
        out.push(DecodeError::OtherFormat {
            found: bytes[3],
            expected: codec.format().id(),
        });
    }
    let (created, update_at, expire_at) = (u64_at(bytes, 6), u64_at(bytes, 14), u64_at(bytes, 22));
    if expire_at < created || update_at > expire_at {
        out.push(DecodeError::BadTimes);
    }
    let raw_len = u32::from_le_bytes(bytes[30..34].try_into().expect("4 bytes")) as usize;
    if raw_len > limit {
        out.push(DecodeError::TooLarge {
            size: raw_len,
            limit,
        });
    }
    out
}

fn check_decode<V: Value>(codec: &Codec, bytes: &[u8]) {
    let limit = codec.size_limit();
    let refusals = header_refusals(codec, bytes);
    let (result, peak) = alloc::measure(|| codec.decode::<V>(bytes));
    if limit == SMALL_LIMIT {
        assert!(
            peak <= SMALL_PEAK_BOUND,
            "decoding {} bytes under a {limit}-byte limit held {peak} bytes of heap",
            bytes.len()
        );
        report_peak(peak);
    }
    if !refusals.is_empty() {
        let err = result.expect_err("a record with a refusable header was decoded");
        assert!(
            refusals.contains(&err),
            "{err:?} is none of the refusals {refusals:?}"
        );
        return;
    }
    let id = bytes[4];
    let raw_len = u32::from_le_bytes(bytes[30..34].try_into().expect("4 bytes")) as usize;
    let payload = &bytes[HEADER_LEN..];
    let supported = Compression::all().iter().any(|c| c.id() == id);
    match result {
        Err(DecodeError::UnsupportedCompression(found)) => {
            assert!(!supported && found == id, "id {id} refused as {found}")
        }
        Err(DecodeError::Truncated) => assert!(id == 0 && payload.len() < raw_len),
        Err(DecodeError::Decompress(msg)) => assert!(
            supported && (id != 0 || payload.len() > raw_len),
            "Decompress({msg}) for id {id}, payload {} declared {raw_len}",
            payload.len()
        ),
        Err(DecodeError::Deserialize(msg)) => assert!(
            supported && (id != 0 || payload.len() == raw_len),
            "Deserialize({msg}) for id {id}, payload {} declared {raw_len}",
            payload.len()
        ),
        Err(other) => panic!("{other:?} for a record whose header is well-formed"),
        Ok(entry) => {
            assert!(supported, "compression id {id} decoded");
            assert!(id != 0 || payload.len() == raw_len);
            assert_eq!(entry.created, from_millis(u64_at(bytes, 6)));
            assert_eq!(entry.update_at, from_millis(u64_at(bytes, 14)));
            assert_eq!(entry.expire_at, from_millis(u64_at(bytes, 22)));
            re_encode(codec, &entry);
        }
    }
}

/// A decoded entry encodes again (or is refused as too large) and reads back equal.
fn re_encode<V: Value>(codec: &Codec, entry: &StoredEntry<V>) {
    let limit = codec.size_limit();
    match codec.encode(entry) {
        Ok(bytes) => {
            assert!(bytes.len() <= limit, "{} bytes over {limit}", bytes.len());
            let back = codec
                .decode::<V>(&bytes)
                .expect("a re-encoded entry decodes");
            assert_eq!(&back, entry);
        }
        // The value may serialize longer than it was read (MessagePack structs read as arrays
        // are written as maps): refused, within its rights.
        Err(EncodeError::TooLarge { size, limit: l }) => assert!(l == limit && size > limit),
        Err(e) => panic!("re-encoding a decoded entry failed: {e}"),
    }
    let roomy = Codec::new(codec.format(), codec.compression());
    let bytes = roomy.encode(entry).expect("re-encoding under 16 MiB");
    assert_eq!(&roomy.decode::<V>(&bytes).expect("decodes"), entry);
}

fn arbitrary_time(u: &mut Unstructured<'_>) -> arbitrary::Result<SystemTime> {
    let ms: i64 = u.arbitrary()?;
    let nanos: u32 = u.int_in_range(0..=999_999)?;
    let whole = Duration::from_millis(ms.unsigned_abs());
    let t = if ms >= 0 {
        UNIX_EPOCH + whole
    } else {
        UNIX_EPOCH - whole
    };
    Ok(t + Duration::from_nanos(u64::from(nanos)))
}

fn round_trip<V: Value>(setup: &Setup, data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(value) = V::arbitrary(&mut u) else {
        return;
    };
    let (Ok(created), Ok(update_after), Ok(expire_after)) = (
        arbitrary_time(&mut u),
        Duration::arbitrary(&mut u),
        Duration::arbitrary(&mut u),
    ) else {
        return;
    };
    let compression = match setup.compression.id() {
        1 | 3 => {
            let Ok(level) = u.int_in_range(-7..=22) else {
                return;
            };
            level_of(setup.compression, level)
        }
        _ => setup.compression,
    };
    let compress_min = if setup.eager {
        0
    } else {
        u.int_in_range(0..=160).unwrap_or(64)
    };
    let limit = setup.limit;
    let codec = Codec::new(setup.format, compression)
        .max_size(limit)
        .compress_min(compress_min);
    let entry = StoredEntry::created_at(created, value, update_after, expire_after);
    let raw_len = Codec::new(setup.format, Compression::None)
        .max_size(usize::MAX)
        .encode(&entry)
        .expect("the value types always serialize")
        .len()
        - HEADER_LEN;
    match codec.encode(&entry) {
        Ok(bytes) => {
            assert!(bytes.len() <= limit, "{} bytes over {limit}", bytes.len());
            assert!(raw_len <= limit);
            assert_eq!(
                &bytes[0..4],
                &[b'M', b'C', RECORD_VERSION, setup.format.id()]
            );
            let id = if raw_len < compress_min {
                0
            } else {
                compression.id()
            };
            assert_eq!(bytes[4], id, "compression id for {raw_len} bytes");
            assert_eq!(bytes[5], 0);
            assert_eq!(u64_at(&bytes, 6), millis(entry.created));
            assert_eq!(u64_at(&bytes, 14), millis(entry.update_at));
            assert_eq!(u64_at(&bytes, 22), millis(entry.expire_at));
            assert_eq!(&bytes[30..34], &(raw_len as u32).to_le_bytes());
            let back = codec
                .decode::<V>(&bytes)
                .expect("a record the codec wrote reads back");
            assert_eq!(back.value, entry.value);
            assert_eq!(back.created, from_millis(millis(entry.created)));
            assert_eq!(back.update_at, from_millis(millis(entry.update_at)));
            assert_eq!(back.expire_at, from_millis(millis(entry.expire_at)));
            // Any codec of the format reads any compression this build supports.
            let plain = Codec::new(setup.format, Compression::None).max_size(limit);
            assert_eq!(plain.decode::<V>(&bytes).expect("reads back"), back);
        }
        Err(EncodeError::TooLarge { size, limit: l }) => {
            assert_eq!(l, limit);
            assert!(size > limit, "TooLarge of {size} bytes under {limit}");
            if raw_len > limit {
                assert_eq!(size, raw_len, "the value's size is the one reported");
            }
        }
        Err(e) => panic!("encoding failed: {e}"),
    }
}

fn level_of(c: Compression, level: i32) -> Compression {
    match c {
        Compression::Zstd(_) => Compression::Zstd(level),
        Compression::Zlib(_) => Compression::Zlib(level.unsigned_abs()),
        other => other,
    }
}

/// With `MEMOCACHE_FUZZ_PEAK` set, prints each new largest decode peak under the small limit.
fn report_peak(peak: usize) {
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
    static MAX: AtomicUsize = AtomicUsize::new(0);
    if peak > MAX.fetch_max(peak, Relaxed) && std::env::var_os("MEMOCACHE_FUZZ_PEAK").is_some() {
        eprintln!("decode_record: new peak {peak} bytes under the {SMALL_LIMIT}-byte limit");
    }
}
