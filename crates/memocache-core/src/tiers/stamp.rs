//! Tags below the memory: the [`Stamp`] a tagged entry carries (its tags' generations when it
//! was written), the [`TagStore`] a storage keeps generations in, and the record envelope
//! that puts a stamp in front of a codec record.
//!
//! # Generations, not an index
//! Invalidating a tag gives it a new random *generation* in each tier; an entry is valid only
//! while every one of its tags still has the generation its stamp recorded. The alternative, a
//! tag → keys index maintained on every write, makes each write of an entry with `n` tags
//! `n` more writes (and an index to expire), and an invalidation a walk over the index; with
//! generations a write costs one read of the tags' generations, a read fetches them together
//! with the entry (Redis pipelines the two on one connection: one round trip), and an
//! invalidation is one write per tag, whatever number of entries carry it. Entries of an old
//! generation are not deleted: they are misses, overwritten by the next load or expired.
//!
//! # Rules
//! - A tag with no generation (never invalidated, or its generation expired after
//!   [`GENERATION_TTL`]) gets one from the first writer, so an entry is never valid against a
//!   *missing* generation: a generation evicted or expired invalidates its entries, it never
//!   revives them.
//! - Generations are random 64-bit tokens ([`new_generation`]), never counters: two processes
//!   bumping one tag at once cannot make the same value.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::{join, BoxFuture};

use super::storage::{Storage, StorageError, StoredEntry};
#[cfg(feature = "serialized")]
use crate::codec::DecodeError;
use crate::tags::Tag;

/// How long a tag's generation lives in a storage after it was set: 30 days. An entry whose tag
/// generation expired is a miss (its tag gets a new generation from the next writer).
pub const GENERATION_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

/// The generations an entry's tags had when it was written. Empty for an entry of a cache
/// without tags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stamp(Option<Arc<[(Tag, u64)]>>);

impl Stamp {
    /// The stamp of tags with these generations.
    pub fn new(generations: Vec<(Tag, u64)>) -> Self {
        if generations.is_empty() {
            Stamp(None)
        } else {
            Stamp(Some(generations.into()))
        }
    }

    /// The tags and their generations.
    pub fn generations(&self) -> &[(Tag, u64)] {
        self.0.as_deref().unwrap_or(&[])
    }

    /// `true` when it records no tag.
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// Whether an entry with this stamp is valid for a key whose tags are `tags`, whose
    /// current generations are `current` (in the same order): every tag must have a
    /// generation, and the stamp must record it.
    pub(crate) fn is_current(&self, tags: &[Tag], current: &[Option<u64>]) -> bool {
        let have = self.generations();
        tags.iter()
            .zip(current)
            .all(|(tag, now)| now.is_some_and(|g| have.iter().any(|(t, h)| t == tag && *h == g)))
    }

    /// Writes the envelope of a stamped record (nothing for an empty stamp): `MT`, version
    /// 1, the number of tags (u16 LE), then each tag as its length (u16 LE), its UTF-8 text
    /// and its generation (u64 LE). The codec record follows.
    #[cfg(feature = "serialized")]
    pub(crate) fn write_envelope(&self, out: &mut Vec<u8>) -> Result<(), StampTooLarge> {
        let gens = self.generations();
        if gens.is_empty() {
            return Ok(());
        }
        let n = u16::try_from(gens.len()).map_err(|_| StampTooLarge)?;
        out.extend_from_slice(&ENVELOPE_MAGIC);
        out.push(ENVELOPE_VERSION);
        out.extend_from_slice(&n.to_le_bytes());
        for (tag, generation) in gens {
            let len = u16::try_from(tag.as_str().len()).map_err(|_| StampTooLarge)?;
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(tag.as_str().as_bytes());
            out.extend_from_slice(&generation.to_le_bytes());
        }
        Ok(())
    }

    /// Splits a stored record into its stamp (empty if it has no envelope) and its codec
    /// record.
    #[cfg(feature = "serialized")]
    pub(crate) fn split(bytes: &[u8]) -> Result<(Stamp, &[u8]), DecodeError> {
        if bytes.len() < 2 || bytes[0..2] != ENVELOPE_MAGIC {
            return Ok((Stamp(None), bytes));
        }
        let mut rest = &bytes[2..];
        let version = take(&mut rest, 1)?[0];
        if version != ENVELOPE_VERSION {
            return Err(DecodeError::UnsupportedVersion(version));
        }
        let n = u16::from_le_bytes(take(&mut rest, 2)?.try_into().expect("2 bytes"));
        let mut gens = Vec::with_capacity(usize::from(n).min(rest.len() / 10));
        for _ in 0..n {
            let len = u16::from_le_bytes(take(&mut rest, 2)?.try_into().expect("2 bytes"));
            let text = std::str::from_utf8(take(&mut rest, usize::from(len))?)
                .map_err(|_| DecodeError::NotARecord)?;
            let generation = u64::from_le_bytes(take(&mut rest, 8)?.try_into().expect("8 bytes"));
            gens.push((Tag::from(text), generation));
        }
        Ok((Stamp::new(gens), rest))
    }
}

/// The first bytes of a stamped record (a codec record starts with `MC`).
#[cfg(feature = "serialized")]
const ENVELOPE_MAGIC: [u8; 2] = *b"MT";
#[cfg(feature = "serialized")]
const ENVELOPE_VERSION: u8 = 1;

#[cfg(feature = "serialized")]
fn take<'a>(rest: &mut &'a [u8], n: usize) -> Result<&'a [u8], DecodeError> {
    if rest.len() < n {
        return Err(DecodeError::Truncated);
    }
    let (head, tail) = rest.split_at(n);
    *rest = tail;
    Ok(head)
}

#[cfg(feature = "serialized")]
/// A stamp with more than 65,535 tags, or a tag over 65,535 bytes: not storable.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("an entry's tags do not fit a record (at most 65535 tags of at most 65535 bytes)")]
pub(crate) struct StampTooLarge;

/// Where a storage keeps its tags' generations. A storage that keeps tagged entries returns
/// one from [`Storage::tag_store`](super::storage::Storage::tag_store), and keeps each entry's
/// [`stamp`](crate::storage::StoredEntry::stamp) with it.
///
/// # Generations, not an index
/// Invalidating a tag gives it a new random *generation* in each tier; an entry is valid only
/// while every one of its tags still has the generation its stamp recorded. The alternative, a
/// tag → keys index maintained on every write, makes each write of an entry with `n` tags `n`
/// more writes (and an index to expire), and an invalidation a walk over the index. With
/// generations a read fetches the entry and its tags' generations together (Redis pipelines
/// the two on one connection: one round trip), a load's write carries the stamp that read
/// made (nothing more to read; an `insert` or a refresh, which read nothing, reads the
/// generations first), and an invalidation is one write per tag, whatever number of entries
/// carry it. Because a load's stamp predates the load, a value loaded across an invalidation,
/// in any process, lands stale. Entries of an old
/// generation are not deleted: they are misses, overwritten by the next load or expired.
///
/// A tag with no generation (never invalidated, or its generation expired after
/// [`GENERATION_TTL`] or was evicted) gets a new one from the next reader or writer, so an entry is never
/// valid against a missing generation: a lost generation invalidates its entries, it never
/// revives them. Generations are random 64-bit tokens ([`new_generation`]), never counters.
pub trait TagStore: Send + Sync {
    /// The current generation of each tag, in order (`None`: the tag has none).
    fn generations<'a>(
        &'a self,
        tags: &'a [Tag],
    ) -> BoxFuture<'a, Result<Vec<Option<u64>>, StorageError>>;

    /// Sets each tag's generation (for [`GENERATION_TTL`]), replacing any.
    fn set_generations<'a>(
        &'a self,
        generations: &'a [(Tag, u64)],
    ) -> BoxFuture<'a, Result<(), StorageError>>;
}

/// A new random generation.
pub fn new_generation() -> u64 {
    // The OS's generator; should it fail, a value no other process can share either (time,
    // process id, a per-process counter).
    getrandom::u64().unwrap_or_else(|_| {
        use std::sync::atomic::{AtomicU64, Ordering};
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        nanos ^ (u64::from(std::process::id()) << 40) ^ COUNTER.fetch_add(1, Ordering::Relaxed)
    })
}

/// A flight's view of its key's tags: the tags (`None`: the cache has none), and for each tier
/// its read found them in, the stamp their generations made then — what the flight's writes
/// to that tier carry, so that an invalidation made while the flight loaded (in any process)
/// leaves its value stale.
#[derive(Debug, Default)]
pub(crate) struct Tagged {
    pub(crate) tags: Option<Arc<[Tag]>>,
    stamps: Vec<Option<Stamp>>,
}

impl Tagged {
    /// No tags.
    pub(crate) const fn untagged() -> Self {
        Tagged {
            tags: None,
            stamps: Vec::new(),
        }
    }

    pub(crate) fn new(tags: Option<Arc<[Tag]>>) -> Self {
        Tagged {
            tags,
            stamps: Vec::new(),
        }
    }

    fn tags(&self) -> Option<&[Tag]> {
        self.tags.as_deref()
    }

    /// The stamp tier `index`'s read made, if it was read.
    fn stamp(&self, index: usize) -> Option<&Stamp> {
        self.stamps.get(index).and_then(Option::as_ref)
    }

    pub(crate) fn set_stamp(&mut self, index: usize, stamp: Option<Stamp>) {
        if self.stamps.len() <= index {
            self.stamps.resize(index + 1, None);
        }
        self.stamps[index] = stamp;
    }
}

/// Reads `key` from tier `index`'s storage `s`. With tags (and a storage that keeps them), it
/// fetches their current generations at the same time: a record whose stamp is not current is
/// a miss; tags without a generation get one now (before any load), and the generations make
/// the stamp this flight's writes to the tier carry.
pub(crate) async fn read<K: 'static, V: 'static>(
    s: &dyn Storage<K, V>,
    key: &K,
    tags: Option<&[Tag]>,
) -> Result<(Option<StoredEntry<V>>, Option<Stamp>), StorageError> {
    match (tags, s.tag_store()) {
        (Some(tags), Some(store)) if !tags.is_empty() => {
            let (entry, current) = join(s.get(key), store.generations(tags)).await;
            let (entry, current) = (entry?, current?);
            let entry = entry.filter(|e| e.stamp().is_current(tags, &current));
            let stamp = current_stamp(store, tags, current).await?;
            Ok((entry, Some(stamp)))
        }
        _ => Ok((s.get(key).await?, None)),
    }
}

/// The stamp of `tags` whose generations are `current`, giving a new generation to each that
/// has none first.
async fn current_stamp(
    store: &dyn TagStore,
    tags: &[Tag],
    current: Vec<Option<u64>>,
) -> Result<Stamp, StorageError> {
    let mut created = Vec::new();
    let stamp = tags.iter().zip(current).map(|(tag, generation)| {
        let generation = generation.unwrap_or_else(|| {
            let g = new_generation();
            created.push((tag.clone(), g));
            g
        });
        (tag.clone(), generation)
    });
    let stamp = Stamp::new(stamp.collect());
    if !created.is_empty() {
        store.set_generations(&created).await?;
    }
    Ok(stamp)
}

/// Writes `entry` for `key` to tier `index`'s storage `s`. With tags (and a storage that keeps
/// them), the entry carries the stamp the flight's read of that tier made, or, if it did not
/// read it (an `insert`, a refresh), the tags' generations now.
pub(crate) async fn write<K: 'static, V: 'static>(
    s: &dyn Storage<K, V>,
    key: &K,
    entry: StoredEntry<V>,
    tagged: &Tagged,
    index: usize,
) -> Result<(), StorageError> {
    let entry = match (tagged.tags(), s.tag_store()) {
        (Some(tags), Some(store)) if !tags.is_empty() => {
            let stamp = match tagged.stamp(index) {
                Some(stamp) => stamp.clone(),
                None => {
                    let current = store.generations(tags).await?;
                    current_stamp(store, tags, current).await?
                }
            };
            entry.with_stamp(stamp)
        }
        _ => entry,
    };
    s.set(key, entry).await
}

/// Gives each of `tags` the generation in `generations` in `s`, if it keeps tags.
pub(crate) async fn bump<K: 'static, V: 'static>(
    s: &dyn Storage<K, V>,
    generations: &[(Tag, u64)],
) -> Result<(), StorageError> {
    match s.tag_store() {
        Some(store) => store.set_generations(generations).await,
        None => Ok(()),
    }
}

#[cfg(all(test, feature = "serialized"))]
mod tests {
    use super::*;

    #[test]
    fn envelopes_round_trip_and_truncations_are_errors() {
        let stamp = Stamp::new(vec![
            (Tag::from("zone:a"), 7),
            (Tag::from("fn:f"), u64::MAX),
        ]);
        let mut bytes = Vec::new();
        stamp.write_envelope(&mut bytes).unwrap();
        bytes.extend_from_slice(b"MCrest");
        let (back, rest) = Stamp::split(&bytes).unwrap();
        assert_eq!((back, rest), (stamp, &b"MCrest"[..]));
        for cut in 2..bytes.len() - 6 {
            assert!(Stamp::split(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let (none, rest) = Stamp::split(b"MCxyz").unwrap();
        assert!(none.is_empty() && rest == b"MCxyz");
    }

    #[test]
    fn a_stamp_is_current_only_with_every_generation_present_and_equal() {
        let (a, b) = (Tag::from("a"), Tag::from("b"));
        let stamp = Stamp::new(vec![(a.clone(), 1), (b.clone(), 2)]);
        let tags = [a.clone(), b.clone()];
        assert!(stamp.is_current(&tags, &[Some(1), Some(2)]));
        assert!(!stamp.is_current(&tags, &[Some(1), Some(3)]));
        assert!(!stamp.is_current(&tags, &[Some(1), None]));
        assert!(!Stamp::default().is_current(&[a], &[Some(1)]));
        assert!(Stamp::default().is_current(&[], &[]));
    }
}
