//! [`Scope`] and [`Scoped`]: the key space of one memoized function (or any named user) in a
//! cache that several share, so that equal arguments of two functions never meet.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::OnceLock;

use parking_lot::Mutex;

use super::{Tag, Tagging, Zone};

/// The key space of one user of a shared cache: a memoized function with
/// `#[memoize(cache = SHARED)]`, or any part of a program that shares a cache with others.
/// Keys of a shared cache are [`Scoped`]: a scope and a key. Two scopes never share an entry,
/// in memory or in a storage tier (the scope's name is part of the remote key), and each can
/// be invalidated alone ([`Cache::invalidate_scope`](crate::Cache::invalidate_scope)) in one
/// step, however many entries the cache holds for others.
///
/// A scope lives in a `static` (its keys refer to it); its name is its identity, the same in
/// every process: two scopes with one name share their entries.
///
/// ```
/// # extern crate memocache_core as memocache;
/// use std::sync::LazyLock;
/// use memocache::{Cache, Scope, Scoped};
///
/// static SHARED: LazyLock<Cache<Scoped<u64>, String>> = LazyLock::new(Cache::new);
/// static NAMES: LazyLock<Scope<u64>> = LazyLock::new(|| Scope::new("names"));
/// static EMAILS: LazyLock<Scope<u64>> = LazyLock::new(|| Scope::new("emails"));
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// SHARED.join_scope(&NAMES);
/// SHARED.join_scope(&EMAILS);
/// let load = |v: &'static str| move || async move { Ok::<_, std::io::Error>(v.to_string()) };
/// assert_eq!(SHARED.get_or_load(Scoped::new(&NAMES, 1), load("Ann")).await?, "Ann");
/// assert_eq!(SHARED.get_or_load(Scoped::new(&EMAILS, 1), load("ann@x")).await?, "ann@x");
/// SHARED.invalidate_scope(&NAMES).await?; // the emails stay
/// assert_eq!(SHARED.len(), 1);
/// # Ok(())
/// # }
/// ```
pub struct Scope<K> {
    name: String,
    /// A stable hash of the name (FNV-1a), what a scoped key hashes instead of the name.
    id: u64,
    pub(crate) tagging: Tagging<K>,
}

impl<K> fmt::Debug for Scope<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scope")
            .field("name", &self.name)
            .field("zone", &self.tagging.zone.as_ref().map(Zone::name))
            .finish()
    }
}

fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl<K: 'static> Scope<K> {
    /// The scope named `name` (`#[memoize]` uses the function's path).
    pub fn new(name: impl Into<String>) -> Self {
        let name = name.into();
        let tagging = Tagging {
            own: Some(Tagging::<K>::own_tag(&name)),
            ..Tagging::default()
        };
        Scope {
            id: fnv1a(&name),
            name,
            tagging,
        }
    }

    /// Makes the scope's entries members of `zone` (see [`CacheBuilder::zone`](crate::CacheBuilder::zone)).
    pub fn zone(mut self, zone: &Zone) -> Self {
        self.tagging.zone = Some(zone.clone());
        self
    }

    /// The scope's own zone key (see [`CacheBuilder::zone_key`](crate::CacheBuilder::zone_key)).
    pub fn zone_key<D: fmt::Display>(
        mut self,
        key: impl Fn(&K) -> D + Send + Sync + 'static,
    ) -> Self {
        self.tagging.set_zone_key(key);
        self
    }

    /// More dependencies of each entry (see [`CacheBuilder::tags`](crate::CacheBuilder::tags)).
    pub fn tags<I>(mut self, tags: impl Fn(&K) -> I + Send + Sync + 'static) -> Self
    where
        I: IntoIterator,
        I::Item: fmt::Display,
    {
        self.tagging.add_tags(tags);
        self
    }
}

impl<K> Scope<K> {
    /// The scope's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The zone the scope's entries belong to, if any.
    pub fn zone_of(&self) -> Option<&Zone> {
        self.tagging.zone.as_ref()
    }

    /// The tag every entry of the scope carries.
    pub(crate) fn own_tag(&self) -> Tag {
        self.tagging
            .own
            .clone()
            .expect("a scope always has its own tag")
    }
}

/// A key of a shared cache: the [`Scope`] it belongs to, and the key within it.
///
/// It hashes the scope's precomputed name hash and the key, and compares the scopes (by
/// address first) and the keys. Its remote key text is the pair `(name,key)`; with serde it is
/// the pair `(name, key)` too, read back through the scopes that joined a cache in this
/// process — so a shared cache can be [distributed](crate::CacheBuilder::distributed).
pub struct Scoped<K: 'static> {
    scope: &'static Scope<K>,
    key: K,
}

impl<K> Scoped<K> {
    /// `key` in `scope`.
    pub fn new(scope: &'static Scope<K>, key: K) -> Self {
        Scoped { scope, key }
    }

    /// The scope.
    pub fn scope(&self) -> &'static Scope<K> {
        self.scope
    }

    /// The key within the scope.
    pub fn key(&self) -> &K {
        &self.key
    }

    /// The key within the scope, by value.
    pub fn into_key(self) -> K {
        self.key
    }
}

impl<K: Clone> Clone for Scoped<K> {
    fn clone(&self) -> Self {
        Scoped {
            scope: self.scope,
            key: self.key.clone(),
        }
    }
}

impl<K: fmt::Debug> fmt::Debug for Scoped<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{:?}", self.scope.name, self.key)
    }
}

impl<K: Hash> Hash for Scoped<K> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.scope.id);
        self.key.hash(state);
    }
}

impl<K: PartialEq> PartialEq for Scoped<K> {
    fn eq(&self, other: &Self) -> bool {
        let same_scope = std::ptr::eq(self.scope, other.scope)
            || (self.scope.id == other.scope.id && self.scope.name == other.scope.name);
        same_scope && self.key == other.key
    }
}

impl<K: Eq> Eq for Scoped<K> {}

/// The scopes joined to a cache in this process, by key type and name: how a [`Scoped`] key
/// arriving from another process (a distributed cache's invalidation event) finds its scope.
type ScopeRegistry = HashMap<(TypeId, String), &'static (dyn Any + Send + Sync)>;

fn registry() -> &'static Mutex<ScopeRegistry> {
    static SCOPES: OnceLock<Mutex<ScopeRegistry>> = OnceLock::new();
    SCOPES.get_or_init(|| Mutex::new(HashMap::new()))
}

impl<K: Send + Sync + 'static> Scope<K> {
    /// Makes `scope` findable by name for keys of type `K` (done by
    /// [`Cache::join_scope`](crate::Cache::join_scope)).
    pub(crate) fn register(scope: &'static Scope<K>) {
        let key = (TypeId::of::<K>(), scope.name.clone());
        registry().lock().entry(key).or_insert(scope);
    }

    /// The scope of key type `K` named `name`, if one joined a cache in this process.
    fn find(name: &str) -> Option<&'static Scope<K>> {
        let found = *registry()
            .lock()
            .get(&(TypeId::of::<K>(), name.to_owned()))?;
        found.downcast_ref::<Scope<K>>()
    }
}

/// A scoped key is written as the pair `(scope name, key)`.
impl<K: serde::Serialize> serde::Serialize for Scoped<K> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeTuple;
        let mut pair = serializer.serialize_tuple(2)?;
        pair.serialize_element(self.scope.name())?;
        pair.serialize_element(&self.key)?;
        pair.end()
    }
}

/// Read back as the pair `(scope name, key)`; the scope must have joined a cache in this
/// process (else it is an error: this process holds no entry of it).
impl<'de, K> serde::Deserialize<'de> for Scoped<K>
where
    K: serde::Deserialize<'de> + Send + Sync + 'static,
{
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (name, key): (String, K) = serde::Deserialize::deserialize(deserializer)?;
        match Scope::<K>::find(&name) {
            Some(scope) => Ok(Scoped { scope, key }),
            None => Err(serde::de::Error::custom(format_args!(
                "no scope named {name:?} joined a cache in this process"
            ))),
        }
    }
}

#[cfg(feature = "serialized")]
impl<K: crate::key::CacheKey> crate::key::CacheKey for Scoped<K> {
    fn encode_key(&self, out: &mut String) {
        (self.scope.name.as_str(), &self.key).encode_key(out)
    }
}
