//! Meaningful first inputs of each target: valid records of every format × compression ×
//! value type, keys of every shape, duration texts, storage URLs of every scheme. `cargo run --example seeds` writes them
//! to `corpus/<target>/seed-*`; the fuzzer then grows the corpus from there.

use std::collections::BTreeMap;
use std::time::{Duration, UNIX_EPOCH};

use memocache_core::codec::{Codec, Compression, Format, HEADER_LEN};
use memocache_core::storage::StoredEntry;
use serde::Serialize;

use crate::keys::KEY_TYPES;
use crate::record::{compress, selector, Kind, Mode, Rec, Ty, SMALL_LIMIT};

/// `(target, name, input)` for every seed.
pub fn all() -> Vec<(&'static str, String, Vec<u8>)> {
    let mut out = Vec::new();
    for (name, input) in records() {
        out.push(("decode_record", name, input));
    }
    for (name, input) in keys() {
        out.push(("remote_key", name, input));
    }
    for (name, input) in durations() {
        out.push(("duration", name, input));
    }
    for (name, input) in urls() {
        out.push(("storage_url", name, input));
    }
    out
}

fn sample_rec() -> Rec {
    Rec {
        id: 42,
        label: Some("café, \"quoted\"".into()),
        attrs: BTreeMap::from([("a".into(), -1), ("zz".into(), i64::MAX)]),
        kind: Kind::Named {
            label: "n".into(),
            weight: -7,
        },
        scores: vec![Some(1), None, Some(u32::MAX)],
    }
}

fn encoded<V: Serialize>(codec: &Codec, value: V) -> Vec<u8> {
    let created = UNIX_EPOCH + Duration::from_millis(1_700_000_000_000);
    let entry = StoredEntry::created_at(
        created,
        value,
        Duration::from_secs(60),
        Duration::from_secs(600),
    );
    codec.encode(&entry).expect("seed values encode")
}

fn records() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for (fi, &format) in Format::all().iter().enumerate() {
        for (ci, &compression) in Compression::all().iter().enumerate() {
            let codec = Codec::new(format, compression).compress_min(0);
            let values: [(Ty, &str, Vec<u8>); 4] = [
                (
                    Ty::Text,
                    "text",
                    encoded(&codec, "hello, world".to_string()),
                ),
                (Ty::Text, "long-text", encoded(&codec, "abc".repeat(60))),
                (
                    Ty::Numbers,
                    "numbers",
                    encoded(
                        &codec,
                        (0..40u64).map(|i| i * i * 1_000_003).collect::<Vec<_>>(),
                    ),
                ),
                (Ty::Rec, "rec", encoded(&codec, sample_rec())),
            ];
            for (ty, name, record) in values {
                let tag = format!("{format:?}-{compression:?}-{name}").to_lowercase();
                for small in [false, true] {
                    let mut input = selector(Mode::Record, ty, small, true, fi, ci).to_vec();
                    input.extend_from_slice(&record);
                    let size = if small { "-small" } else { "" };
                    out.push((format!("record-{tag}{size}"), input));
                }
                // The same payload behind a header the target writes.
                let mut input = selector(Mode::Payload, ty, false, true, fi, ci).to_vec();
                input.push(record[4]);
                input.extend_from_slice(&record[30..]);
                out.push((format!("payload-{tag}"), input));
                // The serialized value, compressed by the target.
                if compression == Compression::None {
                    for (ci2, _) in Compression::all().iter().enumerate() {
                        let mut input =
                            selector(Mode::Compressed, ty, false, false, fi, ci).to_vec();
                        input.push(ci2 as u8);
                        input.extend_from_slice(&record[HEADER_LEN..]);
                        out.push((format!("compressed{ci2}-{tag}"), input));
                    }
                }
            }
            // Round trips from a few byte patterns.
            for (ti, ty) in [Ty::Text, Ty::Numbers, Ty::Rec].into_iter().enumerate() {
                let mut input = selector(Mode::RoundTrip, ty, ti == 1, false, fi, ci).to_vec();
                input.extend((0..96u32).map(|i| (i * 37 + ti as u32 * 11) as u8));
                out.push((format!("roundtrip-{fi}-{ci}-{ti}"), input));
            }
        }
    }
    // A record just over the small limit, and one declaring 4 GiB.
    let format = Format::all()[0];
    let mut input = selector(Mode::Record, Ty::Text, true, false, 0, 0).to_vec();
    input.extend_from_slice(&encoded(
        &Codec::new(format, Compression::None),
        "x".repeat(SMALL_LIMIT),
    ));
    out.push(("record-over-small-limit".into(), input));
    let mut input = selector(Mode::Payload, Ty::Numbers, true, false, 0, 1).to_vec();
    input.push(1);
    input.extend_from_slice(&u32::MAX.to_le_bytes());
    input.extend_from_slice(&compress(
        Compression::all()[1.min(Compression::all().len() - 1)],
        b"[1,2,3]",
    ));
    out.push(("payload-declares-4gib".into(), input));
    out
}

/// A deterministic byte source (xorshift64*), so the seeds are the same on every run.
struct Bytes(u64);

impl Bytes {
    fn take(&mut self, n: usize) -> Vec<u8> {
        (0..n)
            .map(|_| {
                self.0 ^= self.0 >> 12;
                self.0 ^= self.0 << 25;
                self.0 ^= self.0 >> 27;
                (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
            })
            .collect()
    }
}

/// The key target draws its keys with `arbitrary`, so its seeds are byte strings: for every
/// key type (byte 0), a few pseudo-random tails, each drawing keys of that type that mix
/// tokens (`,` `%` `:` `""` `~` `!` brackets) with arbitrary Unicode (`cargo run --example
/// seeds -- --show` prints the keys each seed draws).
fn keys() -> Vec<(String, Vec<u8>)> {
    let mut bytes = Bytes(0x9e37_79b9_7f4a_7c15);
    let mut out = Vec::new();
    for ty in 0..KEY_TYPES {
        for i in 0..4 {
            let mut input = vec![ty];
            input.extend(bytes.take(24 + 24 * i));
            out.push((format!("key-{ty}-{i}"), input));
        }
    }
    out
}

/// `text-<i>` inputs of the text mode (byte 0 even) of the duration and storage URL targets.
fn text_inputs(texts: &[&str]) -> Vec<(String, Vec<u8>)> {
    texts
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let mut input = vec![0];
            input.extend_from_slice(t.as_bytes());
            (format!("text-{i}"), input)
        })
        .collect()
}

fn durations() -> Vec<(String, Vec<u8>)> {
    let texts = [
        "1h30m",
        "200ms",
        "30s",
        "10m",
        "2h",
        "1d",
        "0s",
        "1s500ms",
        "1500us",
        "7ns",
        "1d2h3m4s5ms6us7ns",
        "213503982334601d7h",
        "18446744073709551615s999ms999us999ns",
        "18446744073709551616s",
        "99999999999999999999999999999999999999999d",
        "0000001s",
        "1m1h",
        "1s1s",
        "10",
        "10min",
        "1.5s",
        "-1s",
        "1µs",
        "",
    ];
    let mut out = text_inputs(&texts);
    for (i, pattern) in [[0u8; 16], [0xff; 16], [0x55; 16]].iter().enumerate() {
        let mut input = vec![1];
        input.extend_from_slice(pattern);
        out.push((format!("built-{i}"), input));
    }
    out
}

/// The storage URLs of `memocache::url`'s documentation and tests (passwords marked `Pw`), each
/// parameter's edges, and pseudo-random tails for the structured mode.
fn urls() -> Vec<(String, Vec<u8>)> {
    let texts = [
        "memory://lru?size=10000",
        "memory://tlfu?size=10000",
        "memory://lfu?size=10",
        "memory://lru",
        "memory://lru?size=0",
        "memory://lru?size=18446744073709551616",
        "memory://lru?size=1&capacity=2",
        "memory://lru?size=1&size=2",
        "memory://lru?size=1#x",
        "redis://127.0.0.1:6379",
        "redis://:Pw42@127.0.0.1:6379/2?cluster=true&pool_size=100&timeout_ms=250&protocol=resp3",
        "redis://user:Pwxyz@h:6379/0?lazy=true&connect_timeout_ms=200",
        "rediss://host:6380#insecure",
        "rediss://default:Pw%40%3A1@cache.example.com:6380?cluster=false",
        "redis://h?cluster=true&lazy=true",
        "redis://h?cluster=maybe&timeout_ms=-1&pool_size=0",
        "sqlite:///var/cache/app/cache.db?table=cache",
        "sqlite://relative.db",
        "sqlite::memory:",
        "sqlite:relative/cache.db",
        "sqlite:///c.db?table=users&pool_size=4&busy_timeout_ms=100&sweep_every=0&sweep_batch=10&connect_timeout_ms=5&acquire_timeout_ms=6",
        "sqlite:///c.db?table=x;DROP%20TABLE%20y",
        "sqlite:///c.db?mode=ro",
        "sqlite:///",
        "postgres://db/test",
        "postgresql://user:Pw1234@db:5432/test?table=cache&sslmode=require&application_name=app",
        "postgres://u:Pwsecret@h/db?busy_timeout_ms=5",
        "postgres://user:Pwhunter2@h/db?table=bad-name",
        "mysql://root@127.0.0.1:3306/test?table=c2&charset=utf8mb4",
        "mysql://user:Pwq%2Fw@127.0.0.1:3306/db?ssl-mode=required&pool_size=8",
        "mysql://h/db?tabel=x",
        "mariadb://root:Pwmaria@127.0.0.1/test?sweep_every=4294967296",
        "file:///var/cache/app",
        "file:///var/cache/app?max_bytes=1000000&fsync=full&sweep_every=10",
        "file:///d?fsync=sometimes",
        "file:///d?max_bytes=0",
        "file:///",
        "file://host/d",
        "mongodb://localhost/db",
        "not a url",
    ];
    let mut out = text_inputs(&texts);
    let mut bytes = Bytes(0x2545_f491_4f6c_dd1d);
    for i in 0..24 {
        let mut input = vec![1];
        input.extend(bytes.take(16 + 8 * (i % 8)));
        out.push((format!("shape-{i}"), input));
    }
    out
}
