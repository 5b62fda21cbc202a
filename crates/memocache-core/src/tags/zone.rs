//! [`Zone`]: a named group of caches and memoized functions (fresco-memoize's zones), cleared
//! together, or by dependency across all of them.

use std::any::Any;
use std::fmt;
use std::sync::{Arc, Weak};

use futures_util::future::{join_all, BoxFuture};

use super::{escape_part, DepsFn, Tag};
use crate::storage::StorageError;
use crate::sync::Mutex;

/// A cache as a zone sees it: something that can invalidate its entries by tag.
pub(crate) trait Member: Send + Sync {
    /// Invalidates the entries carrying any of `tags` (full tag texts), as
    /// [`Cache::invalidate_tags`](crate::Cache::invalidate_tags) does.
    fn invalidate_full_tags(
        self: Arc<Self>,
        tags: Vec<Tag>,
    ) -> BoxFuture<'static, Result<(), StorageError>>;
}

struct Inner {
    name: String,
    /// `zone:{name}`: carried by every entry of every member.
    tag: Tag,
    /// The zone's key function, for members whose key type is the one it takes.
    key: Option<Box<dyn Any + Send + Sync>>,
    members: Mutex<Vec<Weak<dyn Member>>>,
}

/// A named group of caches and memoized functions (fresco-memoize's `Zone`): one call clears
/// every member, and a *zone key* maps each entry's key to a dependency, so that one call
/// clears every entry, in every member, that depends on it.
///
/// A cache joins with [`CacheBuilder::zone`](crate::CacheBuilder::zone), a memoized function
/// with `#[memoize(zone = ZONE)]`. A member's dependencies come from the zone's key function
/// ([`Zone::key`], used by members whose key type it takes), or the member's own
/// ([`CacheBuilder::zone_key`](crate::CacheBuilder::zone_key), `zone_key = ...`), plus its
/// explicit tags ([`CacheBuilder::tags`](crate::CacheBuilder::tags), `tags = [...]`).
///
/// Zones reach the members' storage tiers through generations (see the
/// [`tags`](crate::Tag) documentation), so entries other processes wrote are invalidated too;
/// another process's *memory* keeps its copies until they expire, unless the member is
/// [distributed](crate::CacheBuilder::distributed), which sends the invalidation to it.
///
/// `Zone` is a cheap handle (cloning shares the zone). Members are held weakly: a dropped
/// cache leaves its zone.
///
/// ```
/// # extern crate memocache_core as memocache;
/// use memocache::{Cache, Zone};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // Entries keyed by author id depend on that author.
/// let authors = Zone::new("authors").key(|author: &u64| *author);
/// let ratings: Cache<u64, f64> = Cache::builder().zone(&authors).build()?;
/// // Books depend on their author: the key carries it.
/// let bios: Cache<(u64, u32), String> =
///     Cache::builder().zone(&authors).zone_key(|(author, _book): &(u64, u32)| *author).build()?;
///
/// ratings.get_or_load(7, || async { Ok::<_, std::io::Error>(4.5) }).await?;
/// bios.get_or_load((7, 1), || async { Ok::<_, std::io::Error>("...".to_string()) }).await?;
/// bios.get_or_load((8, 2), || async { Ok::<_, std::io::Error>("...".to_string()) }).await?;
///
/// authors.invalidate(7).await?; // everything that depends on author 7
/// assert_eq!((ratings.len(), bios.len()), (0, 1));
/// authors.invalidate_all().await?; // every member
/// assert!(bios.is_empty());
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Zone {
    inner: Arc<Inner>,
}

impl fmt::Debug for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Zone")
            .field("name", &self.inner.name)
            .field("members", &self.members())
            .finish()
    }
}

impl Zone {
    /// A zone named `name`. Zones with the same name share their generations in storage
    /// tiers (in every process): give each group its own name.
    pub fn new(name: impl Into<String>) -> Self {
        let name = name.into();
        Zone {
            inner: Arc::new(Inner {
                tag: Tag::new(format_args!("zone:{}", escape_part(&name))),
                name,
                key: None,
                members: Mutex::new(Vec::new()),
            }),
        }
    }

    /// The zone's key function (fresco-memoize's `Zone(name, keyfunc)`): the dependency of an
    /// entry of key type `K` (its `Display` text names it). Members whose key type is `K`
    /// use it unless they give their own ([`CacheBuilder::zone_key`](crate::CacheBuilder::zone_key));
    /// members with other key types depend on nothing but what they give.
    ///
    /// Call it before any cache joins (it makes a new zone handle; caches that joined the old
    /// handle stay members of the old one).
    pub fn key<K, D>(self, key: impl Fn(&K) -> D + Send + Sync + 'static) -> Self
    where
        K: 'static,
        D: fmt::Display,
    {
        let deps: DepsFn<K> = Arc::new(move |k: &K, out: &mut Vec<Tag>| out.push(Tag::new(key(k))));
        let inner = Inner {
            name: self.inner.name.clone(),
            tag: self.inner.tag.clone(),
            key: Some(Box::new(deps)),
            members: Mutex::new(self.inner.members.lock().clone()),
        };
        Zone {
            inner: Arc::new(inner),
        }
    }

    /// The zone's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Live members (caches and memoized functions' caches).
    pub fn members(&self) -> usize {
        let mut members = self.inner.members.lock();
        members.retain(|m| m.strong_count() > 0);
        members.len()
    }

    /// Invalidates every entry, in every member, that depends on `dep` (whose `Display` text
    /// names it, as the key functions' results do): fresco-memoize's
    /// `zone.invalidate(...)`. Once it returns, no member serves a value whose load started
    /// before the call.
    ///
    /// # Errors
    /// The first storage tier that could not record the invalidation (memory is cleaned in
    /// every case): its other processes may still serve the old entries.
    ///
    /// # Cancel safety
    /// All or nothing per member: once polled, each member's invalidation runs to the end in
    /// its own task.
    pub async fn invalidate(&self, dep: impl fmt::Display) -> Result<(), StorageError> {
        let tag = self.dep_tag(&Tag::new(dep));
        self.invalidate_full(tag).await
    }

    /// Invalidates every entry of every member.
    ///
    /// # Errors
    /// As [`invalidate`](Self::invalidate).
    ///
    /// # Cancel safety
    /// As [`invalidate`](Self::invalidate).
    pub async fn invalidate_all(&self) -> Result<(), StorageError> {
        self.invalidate_full(self.tag()).await
    }

    async fn invalidate_full(&self, tag: Tag) -> Result<(), StorageError> {
        let members: Vec<_> = {
            let mut members = self.inner.members.lock();
            members.retain(|m| m.strong_count() > 0);
            members.iter().filter_map(Weak::upgrade).collect()
        };
        let runs = members
            .into_iter()
            .map(|m| m.invalidate_full_tags(vec![tag.clone()]));
        join_all(runs).await.into_iter().collect()
    }

    /// `zone:{name}`, the tag of every member's entries.
    pub(crate) fn tag(&self) -> Tag {
        self.inner.tag.clone()
    }

    /// The full tag of dependency `dep` in this zone.
    pub(crate) fn dep_tag(&self, dep: &Tag) -> Tag {
        Tag::new(format_args!("{}:{}", self.inner.tag, dep))
    }

    /// The zone's key function, if it takes keys of type `K`.
    pub(crate) fn key_fn<K: 'static>(&self) -> Option<DepsFn<K>> {
        self.inner
            .key
            .as_ref()?
            .downcast_ref::<DepsFn<K>>()
            .cloned()
    }

    /// Adds `member` (once: a member already in is not added again).
    pub(crate) fn join(&self, member: Weak<dyn Member>) {
        let mut members = self.inner.members.lock();
        members.retain(|m| m.strong_count() > 0);
        if !members.iter().any(|m| Weak::ptr_eq(m, &member)) {
            members.push(member);
        }
    }
}
