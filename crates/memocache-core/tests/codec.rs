//! Codecs: round-trips of every format × compression on many value shapes, and decoding of
//! garbage, truncated, oversized and other-format bytes as an error, never a panic
//! (proptest). Run with `--all-features` to cover every format and compression.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use memocache_core::codec::{Codec, Compression, DecodeError, Format, HEADER_LEN};
use memocache_core::storage::StoredEntry;
use proptest::prelude::*;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct User {
    id: u64,
    name: String,
    tags: Vec<String>,
    manager: Option<Box<User>>,
    kind: Kind,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Kind {
    Staff,
    Guest { until: u32 },
    Bot(String),
}

fn codecs() -> Vec<Codec> {
    let mut v = Vec::new();
    for &f in Format::all() {
        for &c in Compression::all() {
            // compress_min 0: small values are compressed too, so every path is exercised
            v.push(Codec::new(f, c).compress_min(0));
        }
    }
    v
}

fn round_trip<V>(value: V)
where
    V: Serialize + DeserializeOwned + PartialEq + Debug + Clone,
{
    let created = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
    let entry = StoredEntry::created_at(
        created,
        value,
        Duration::from_secs(60),
        Duration::from_secs(600),
    );
    for codec in codecs() {
        let bytes = codec.encode(&entry).unwrap();
        let back: StoredEntry<V> = codec
            .decode(&bytes)
            .unwrap_or_else(|e| panic!("{codec:?} failed on {:?}: {e}", entry.value));
        assert_eq!(back, entry, "{codec:?}");
    }
}

#[test]
fn every_codec_round_trips_every_shape() {
    round_trip(());
    round_trip(true);
    round_trip(false);
    round_trip(u8::MAX);
    round_trip(u64::MAX);
    round_trip(i64::MIN);
    round_trip(i64::MAX);
    round_trip(i32::MIN);
    round_trip(u128::MAX);
    round_trip(i128::MIN);
    round_trip(0.1f64);
    round_trip(-1.5e300f64);
    round_trip(f32::MAX);
    round_trip(String::new());
    round_trip("héllo wörld ✓ 日本語 🦀".to_string());
    round_trip(Some(5u32));
    round_trip(None::<u32>);
    round_trip(vec![vec![1u8, 2], vec![], vec![3]]);
    let mut map = BTreeMap::new();
    map.insert("a".to_string(), vec![Some(1i16), None]);
    map.insert("ü".to_string(), vec![]);
    round_trip(map);
    let boss = User {
        id: 1,
        name: "Ann".into(),
        tags: vec!["x".into()],
        manager: None,
        kind: Kind::Staff,
    };
    round_trip(User {
        id: u64::MAX,
        name: "Bob 🦀".into(),
        tags: vec![],
        manager: Some(Box::new(boss)),
        kind: Kind::Guest { until: 7 },
    });
    round_trip(Kind::Bot("r2".into()));
    round_trip((1u8, "two".to_string(), [3u16; 4]));
}

#[test]
fn a_large_value_round_trips_compressed() {
    round_trip("abcdefgh".repeat(100_000));
}

fn sample() -> (Codec, Vec<u8>) {
    let codec = Codec::new(
        Format::all()[0],
        Compression::all()[Compression::all().len() - 1],
    );
    let entry = StoredEntry::new(
        vec!["some value".to_string(); 20],
        Duration::from_secs(1),
        Duration::from_secs(2),
    );
    let bytes = codec.encode(&entry).unwrap();
    (codec, bytes)
}

#[test]
fn other_formats_records_are_refused() {
    for &a in Format::all() {
        for &b in Format::all() {
            if a == b {
                continue;
            }
            let e = StoredEntry::new(1u32, Duration::from_secs(1), Duration::from_secs(2));
            let bytes = Codec::new(a, Compression::None).encode(&e).unwrap();
            assert!(matches!(
                Codec::new(b, Compression::None).decode::<u32>(&bytes),
                Err(DecodeError::OtherFormat { .. })
            ));
        }
    }
}

#[test]
fn a_header_declaring_a_huge_value_is_refused_before_decompressing() {
    let (codec, mut bytes) = sample();
    bytes[30..34].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(
        codec.max_size(1 << 20).decode::<Vec<String>>(&bytes),
        Err(DecodeError::TooLarge { .. })
    ));
}

#[test]
fn the_wrong_type_is_a_decode_error() {
    let codec = Codec::new(Format::all()[0], Compression::None);
    let bytes = codec
        .encode(&StoredEntry::new(
            "text".to_string(),
            Duration::ZERO,
            Duration::from_secs(1),
        ))
        .unwrap();
    assert!(matches!(
        codec.decode::<u64>(&bytes),
        Err(DecodeError::Deserialize(_))
    ));
}

#[test]
fn times_survive_at_millisecond_precision() {
    let codec = Codec::new(Format::all()[0], Compression::None);
    let e = StoredEntry::new(0u8, Duration::from_secs(5), Duration::from_secs(9));
    let back: StoredEntry<u8> = codec.decode(&codec.encode(&e).unwrap()).unwrap();
    let ms = |t: SystemTime| t.duration_since(UNIX_EPOCH).unwrap().as_millis();
    assert_eq!(ms(back.update_at), ms(e.update_at));
    assert_eq!(ms(back.expire_at), ms(e.expire_at));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        for codec in codecs() {
            let _ = codec.decode::<Vec<String>>(&bytes);
            let _ = codec.decode::<User>(&bytes);
        }
    }

    #[test]
    fn garbage_behind_a_valid_header_never_panics(
        tail in proptest::collection::vec(any::<u8>(), 0..512),
        declared in any::<u32>(),
    ) {
        for codec in codecs() {
            let mut bytes = vec![0u8; HEADER_LEN];
            bytes[0..2].copy_from_slice(b"MC");
            bytes[2] = 1;
            bytes[3] = codec.format().id();
            bytes[4] = codec.compression().id();
            bytes[30..34].copy_from_slice(&declared.to_le_bytes());
            bytes.extend_from_slice(&tail);
            let _ = codec.max_size(1 << 16).decode::<User>(&bytes);
        }
    }

    #[test]
    fn truncated_records_are_errors(cut in 0usize..10_000) {
        let (codec, bytes) = sample();
        let cut = cut % bytes.len();
        prop_assert!(codec.decode::<Vec<String>>(&bytes[..cut]).is_err());
    }

    #[test]
    fn flipped_bytes_never_panic(pos in 0usize..10_000, bit in 0u8..8) {
        let (codec, mut bytes) = sample();
        let pos = pos % bytes.len();
        bytes[pos] ^= 1 << bit;
        let _ = codec.decode::<Vec<String>>(&bytes);
    }

    #[test]
    fn oversized_records_are_refused(extra in 1usize..64) {
        let (codec, bytes) = sample();
        let limited = codec.max_size(bytes.len() - extra.min(bytes.len() - 1));
        let refused = matches!(
            limited.decode::<Vec<String>>(&bytes),
            Err(DecodeError::TooLarge { .. })
        );
        prop_assert!(refused);
    }
}

/// A byte store in a map: lets a test put any bytes where a cache expects a record.
#[derive(Default)]
struct MapBytes(std::sync::Mutex<std::collections::HashMap<String, Vec<u8>>>);

impl memocache_core::storage::ByteStore for MapBytes {
    fn name(&self) -> &str {
        "map"
    }
    fn get<'a>(
        &'a self,
        key: &'a str,
    ) -> futures_util::future::BoxFuture<
        'a,
        Result<Option<Vec<u8>>, memocache_core::storage::StorageError>,
    > {
        let v = self.0.lock().unwrap().get(key).cloned();
        Box::pin(std::future::ready(Ok(v)))
    }
    fn get_many<'a>(
        &'a self,
        keys: &'a [String],
    ) -> futures_util::future::BoxFuture<
        'a,
        Result<Vec<Option<Vec<u8>>>, memocache_core::storage::StorageError>,
    > {
        let map = self.0.lock().unwrap();
        let v = keys.iter().map(|k| map.get(k).cloned()).collect();
        Box::pin(std::future::ready(Ok(v)))
    }
    fn set<'a>(
        &'a self,
        key: &'a str,
        bytes: Vec<u8>,
        _ttl: Duration,
    ) -> futures_util::future::BoxFuture<'a, Result<(), memocache_core::storage::StorageError>>
    {
        self.0.lock().unwrap().insert(key.to_owned(), bytes);
        Box::pin(std::future::ready(Ok(())))
    }
    fn set_many(
        &self,
        items: Vec<(String, Vec<u8>, Duration)>,
    ) -> futures_util::future::BoxFuture<'_, Result<(), memocache_core::storage::StorageError>>
    {
        let mut map = self.0.lock().unwrap();
        for (k, b, _) in items {
            map.insert(k, b);
        }
        Box::pin(std::future::ready(Ok(())))
    }
    fn remove<'a>(
        &'a self,
        key: &'a str,
    ) -> futures_util::future::BoxFuture<'a, Result<(), memocache_core::storage::StorageError>>
    {
        self.0.lock().unwrap().remove(key);
        Box::pin(std::future::ready(Ok(())))
    }
    fn clear_prefix<'a>(
        &'a self,
        prefix: &'a str,
    ) -> futures_util::future::BoxFuture<'a, Result<(), memocache_core::storage::StorageError>>
    {
        self.0.lock().unwrap().retain(|k, _| !k.starts_with(prefix));
        Box::pin(std::future::ready(Ok(())))
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Through a whole cache: any bytes under the key are a counted miss, the loader answers,
    /// and the record is overwritten with a good one — never a panic, never an error.
    #[test]
    fn garbage_in_a_tier_is_a_counted_miss_then_overwritten(
        bytes in proptest::collection::vec(any::<u8>(), 0..256),
        with_header in any::<bool>(),
    ) {
        use memocache_core::key::Namespace;
        use memocache_core::storage::Serialized;
        use memocache_core::{Cache, Tier};

        let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        rt.block_on(async {
            let store = std::sync::Arc::new(MapBytes::default());
            let ns = Namespace::new("garbage");
            let codec = codecs()[0];
            let cache: Cache<u32, User> = Cache::builder()
                .tier(Tier::new(Serialized::new(store.clone(), ns.clone(), codec)))
                .build()
                .unwrap();
            let mut garbage = bytes.clone();
            if with_header {
                // A well-formed header in front of random bytes.
                let mut h = vec![0u8; HEADER_LEN];
                h[0..2].copy_from_slice(b"MC");
                h[2] = 1;
                h[3] = codec.format().id();
                h[22..30].copy_from_slice(&u64::MAX.to_le_bytes());
                h[30..34].copy_from_slice(&(bytes.len() as u32).to_le_bytes());
                garbage = [h, bytes].concat();
            }
            store.0.lock().unwrap().insert(ns.key(&1u32), garbage);
            let user = User { id: 1, name: "n".into(), tags: vec![], manager: None, kind: Kind::Staff };
            let u = user.clone();
            let got = cache.get_or_load(1, move || async move { Ok::<_, String>(u) }).await.unwrap();
            assert_eq!(got, user);
            let s = cache.stats();
            assert_eq!(s.decode_errors, 1, "counted");
            assert_eq!(s.loads_started, 1, "reloaded");
            let stored = store.0.lock().unwrap().get(&ns.key(&1u32)).cloned().unwrap();
            assert_eq!(codec.decode::<User>(&stored).unwrap().value, user, "overwritten");
        });
    }
}
