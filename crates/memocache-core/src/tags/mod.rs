//! Groups of entries invalidated together: [`Tag`]s, [`Zone`]s (fresco-memoize's zones and
//! zone keys) and [`Scope`]s (the key space of one memoized function in a shared cache).
//!
//! The rules (what a tag is, what an invalidation does, what holds across processes) are
//! documented on [`Tag`], the public page of this module.

mod scope;
mod zone;

use std::fmt;
use std::sync::Arc;

pub use scope::{Scope, Scoped};
pub(crate) use zone::Member;
pub use zone::Zone;

/// A dependency label of cache entries: invalidating it invalidates every entry that carries
/// it. Its text is its identity, the same in every process (it names the tag's generation in a
/// shared store), so build it from stable parts: ids, names, not `Debug` output of pointers.
///
/// # Where tags come from
/// A cache computes the tags of a key with the functions it was built with: its zone's key
/// function or its own zone key ([`CacheBuilder::zone_key`](crate::CacheBuilder::zone_key)),
/// its explicit [`tags`](crate::CacheBuilder::tags), and for the keys of a shared cache
/// ([`Scoped`]) their scope's. Every entry of a zone also carries the zone's own tag, every
/// entry of a memoized function or scope its function's. Equal keys share one entry, so they
/// must share its dependencies: what an entry depends on belongs in its key. The functions run
/// when a load starts and during an invalidation, never on a hit.
///
/// # What an invalidation does
/// [`Cache::invalidate_tags`](crate::Cache::invalidate_tags), [`Zone::invalidate`],
/// [`Zone::invalidate_all`], [`Cache::invalidate_scope`](crate::Cache::invalidate_scope) and a
/// memoized function's `invalidate_all`, in one task of their own:
/// 1. **storage tiers**: each tag gets a new *generation* (a random token) in each tier. Every
///    record written to a tier carries the generations its tags had when its flight read the
///    tier, before loading (an `insert` or a refresh: when it writes); a read fetches the
///    entry and its tags' current generations together (Redis pipelines the two: one round
///    trip) and treats a record with another generation as a miss. One
///    write per tag and tier, however many entries carry the tag — and the entries other
///    processes wrote are invalidated too. (A tag → keys index would make every write pay
///    one more write per tag, and an invalidation a walk over the index; see
///    [`TagStore`](crate::storage::TagStore).)
/// 2. **loads in flight**: every key carrying one of the tags is taken away from its load
///    (which still answers its waiters, and writes nothing);
/// 3. **memory**: every entry carrying one of the tags is removed (a scan of the memory that
///    computes each key's tags: O(entries)).
///
/// **The rule** (the same as single-key invalidation's): once the call returns, no member in
/// this process serves a value whose load started before the call, from memory or from a
/// tier, including loads that were in flight.
///
/// **Across processes**: the tiers are shared, so another process reading a tier after the
/// call gets a miss — even for a value another process was loading during the call: a
/// flight's writes carry the generations its tier read saw *before* its load, so a value
/// loaded across an invalidation lands stale. Another process's *memory* keeps its copies
/// (and such a value) until they expire — unless the cache is
/// [distributed](crate::CacheBuilder::distributed): the invalidation is then published on the
/// cache's channel and every other instance removes the entries carrying the tags from its
/// memory (within a millisecond on loopback; at most once: an instance that was disconnected
/// clears its memory when it is back). Without that, keep the memory's lifespans short where
/// it matters ([`CacheBuilder::memory_expire_cap`](crate::CacheBuilder::memory_expire_cap)).
///
/// A storage keeps tags if its [`Storage::tag_store`](crate::storage::Storage::tag_store) says
/// so: [`Serialized`](crate::storage::Serialized) byte stores (Redis, SQL, files) and
/// [`MemoryStorage`](crate::storage::MemoryStorage) do. A cache with a zone, zone key or tags
/// and a tier that does not is refused at build
/// ([`BuildError::TagsUnsupported`](crate::BuildError::TagsUnsupported)).
///
/// ```
/// # extern crate memocache_core as memocache;
/// use memocache::Tag;
///
/// assert_eq!(Tag::new(42).as_str(), "42");
/// assert_eq!(Tag::new(format_args!("user:{}", 7)), Tag::from("user:7"));
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(Arc<str>);

impl Tag {
    /// The tag whose text is `text`'s `Display` output.
    pub fn new(text: impl fmt::Display) -> Self {
        Tag(Arc::from(text.to_string()))
    }

    /// Its text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for Tag {
    fn from(text: &str) -> Self {
        Tag(Arc::from(text))
    }
}

impl From<String> for Tag {
    fn from(text: String) -> Self {
        Tag(Arc::from(text))
    }
}

/// Appends the tags of a key to a list.
pub(crate) type Tagger<K> = Arc<dyn Fn(&K, &mut Vec<Tag>) + Send + Sync>;

/// A function from a key to the dependencies it adds (zone keys, explicit tags), as written
/// by the user (their full tags are made by [`Tagging`]).
pub(crate) type DepsFn<K> = Arc<dyn Fn(&K, &mut Vec<Tag>) + Send + Sync>;

/// `text` with `%` and `:` written as `%25` and `%3A`, so that it can be one part of a tag's
/// `:`-separated text.
pub(crate) fn escape_part(text: &str) -> String {
    text.replace('%', "%25").replace(':', "%3A")
}

/// What a cache (or a scope) tags its entries with, as full tag texts: its own tag
/// (`fn:{name}`, a memoized function's, so that `Memo::invalidate_all` is one tag), its
/// zone's (`zone:{zone}`), and the dependencies of each key (`zone:{zone}:{dep}` in a zone,
/// `tag:{dep}` otherwise). The prefixes keep the kinds apart.
pub(crate) struct Tagging<K> {
    pub(crate) own: Option<Tag>,
    pub(crate) zone: Option<Zone>,
    /// The member's own zone key (else the zone's, if it takes `K`).
    pub(crate) zone_key: Option<DepsFn<K>>,
    /// Explicit tags.
    pub(crate) tags: Vec<DepsFn<K>>,
}

impl<K> Clone for Tagging<K> {
    fn clone(&self) -> Self {
        Tagging {
            own: self.own.clone(),
            zone: self.zone.clone(),
            zone_key: self.zone_key.clone(),
            tags: self.tags.clone(),
        }
    }
}

impl<K> Default for Tagging<K> {
    fn default() -> Self {
        Tagging {
            own: None,
            zone: None,
            zone_key: None,
            tags: Vec::new(),
        }
    }
}

impl<K: 'static> Tagging<K> {
    /// The full tag of a memoized function (or scope) named `name`.
    pub(crate) fn own_tag(name: &str) -> Tag {
        Tag::new(format_args!("fn:{}", escape_part(name)))
    }

    /// A member's own zone key: its entries' dependency in its zone.
    pub(crate) fn set_zone_key<D: fmt::Display>(
        &mut self,
        key: impl Fn(&K) -> D + Send + Sync + 'static,
    ) {
        self.zone_key = Some(Arc::new(move |k: &K, out: &mut Vec<Tag>| {
            out.push(Tag::new(key(k)))
        }));
    }

    /// Explicit tags: more dependencies of each entry.
    pub(crate) fn add_tags<I>(&mut self, tags: impl Fn(&K) -> I + Send + Sync + 'static)
    where
        I: IntoIterator,
        I::Item: fmt::Display,
    {
        self.tags.push(Arc::new(move |k: &K, out: &mut Vec<Tag>| {
            out.extend(tags(k).into_iter().map(Tag::new))
        }));
    }

    /// Whether entries depend on anything but their function (a zone, a zone key, tags).
    pub(crate) fn has_deps(&self) -> bool {
        self.zone.is_some() || self.zone_key.is_some() || !self.tags.is_empty()
    }

    /// Whether entries get any tag at all.
    pub(crate) fn is_empty(&self) -> bool {
        self.own.is_none() && self.zone.is_none() && self.zone_key.is_none() && self.tags.is_empty()
    }

    /// The full tag of the dependency `dep` of these entries.
    pub(crate) fn full_dep(&self, dep: &Tag) -> Tag {
        match &self.zone {
            Some(zone) => zone.dep_tag(dep),
            None => Tag::new(format_args!("tag:{dep}")),
        }
    }

    /// Appends the full tags of `key` to `out`.
    pub(crate) fn tag(&self, key: &K, out: &mut Vec<Tag>) {
        out.extend(self.own.iter().cloned());
        if let Some(zone) = &self.zone {
            out.push(zone.tag());
        }
        let start = out.len();
        match (&self.zone_key, &self.zone) {
            (Some(deps), _) => deps(key, out),
            (None, Some(zone)) => {
                if let Some(deps) = zone.key_fn::<K>() {
                    deps(key, out)
                }
            }
            (None, None) => {}
        }
        for deps in &self.tags {
            deps(key, out);
        }
        for dep in &mut out[start..] {
            *dep = self.full_dep(dep);
        }
    }

    /// The tagging as a cache's tagger; `None` when it adds no tag.
    pub(crate) fn into_tagger(self) -> Option<Tagger<K>>
    where
        K: Send + Sync,
    {
        if self.is_empty() {
            return None;
        }
        Some(Arc::new(move |k: &K, out: &mut Vec<Tag>| self.tag(k, out)))
    }
}
