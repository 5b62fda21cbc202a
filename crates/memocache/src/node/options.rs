//! A node type's configuration ([`NodeOptions`], cacheme's `Meta`): version, the storages it
//! is kept in with a lifespan each, codec, lifespans, memory policy, doorkeeper, batching —
//! and the [`Cache`] it becomes.

use std::time::Duration;

use memocache_core::codec::Codec;
use memocache_core::key::Namespace;
use memocache_core::{
    Cache, EvictionPolicy, Lifespan, DEFAULT_CAPACITY, DEFAULT_EXPIRE_AFTER, DEFAULT_UPDATE_AFTER,
};

use super::doorkeeper::Doorkeeper;
use super::NodeError;
use crate::registry::{Registry, TierKey, TierValue};

/// One storage of a node's chain: a storage registered by name
/// ([`register_storage`](crate::registry::register_storage)) and how long entries live there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeTier {
    /// The registered storage's name.
    pub storage: String,
    /// Entries written there expire at most this long after being written (`None`: the
    /// entry's own lifespan).
    pub ttl: Option<Duration>,
}

/// A node type's configuration: cacheme's `Meta` (`version`, `caches`, `serializer`,
/// `doorkeeper`), plus the engine's options. Returned by [`Node::options`](super::Node::options).
///
/// - **memory**: the process's own memory, first in the chain. On by default (with
///   [`DEFAULT_CAPACITY`] entries and no lifespan cap) when the chain has no storage; with
///   storages, only if [`memory`](Self::memory) is set (a Redis-only node keeps nothing in
///   the process).
/// - **storages**: [`tier`](Self::tier), in order, each a registered storage with a lifespan.
///   A `memory://` storage registered under a name (cacheme's `local`) as the *first*
///   storage is the node's memory, with that storage's size and policy.
/// - **lifespans**: an entry is stale after `update_after` (served while it is refreshed in
///   the background) and gone after `expire_after`. By default both are the longest storage
///   lifespan given (no stale phase), else the engine's defaults.
///
/// ```
/// use std::time::Duration;
/// use memocache::node::NodeOptions;
///
/// // cacheme's `caches = [Cache(storage="local", ttl=30 s), Cache(storage="redis", ttl=10 days)]`
/// let options = NodeOptions::new()
///     .version("v2")
///     .memory(10_000, Some(Duration::from_secs(30)))
///     .tier("redis", Some(Duration::from_secs(10 * 24 * 3600)));
/// # let _ = options;
/// ```
#[derive(Debug, Clone)]
pub struct NodeOptions {
    pub(crate) version: String,
    pub(crate) memory: Option<(usize, Option<Duration>)>,
    pub(crate) tiers: Vec<NodeTier>,
    pub(crate) codec: Codec,
    pub(crate) policy: EvictionPolicy,
    pub(crate) update_after: Option<Duration>,
    pub(crate) expire_after: Option<Duration>,
    pub(crate) method_timeout: Option<Duration>,
    pub(crate) doorkeeper: bool,
    pub(crate) batch: Option<(Duration, usize)>,
}

impl Default for NodeOptions {
    fn default() -> Self {
        NodeOptions::new()
    }
}

impl NodeOptions {
    /// Version `"1"`, memory only, JSON records, least-recently-updated eviction, no
    /// doorkeeper, no batching of single misses.
    pub fn new() -> Self {
        NodeOptions {
            version: memocache_core::key::DEFAULT_VERSION.to_owned(),
            memory: None,
            tiers: Vec::new(),
            codec: Codec::json(),
            policy: EvictionPolicy::default(),
            update_after: None,
            expire_after: None,
            method_timeout: None,
            doorkeeper: false,
            batch: None,
        }
    }

    /// The version, last in every remote key (`{prefix}:{key}:{version}`): changing it makes
    /// every stored entry of the node type unreachable.
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = version.into();
        self
    }

    /// Keeps up to `capacity` entries in the process's memory, each at most `ttl`.
    pub fn memory(mut self, capacity: usize, ttl: Option<Duration>) -> Self {
        self.memory = Some((capacity, ttl));
        self
    }

    /// Adds the storage registered as `storage` to the chain, entries living there at most
    /// `ttl`.
    pub fn tier(mut self, storage: impl Into<String>, ttl: Option<Duration>) -> Self {
        self.tiers.push(NodeTier {
            storage: storage.into(),
            ttl,
        });
        self
    }

    /// The codec of the records in remote storages (default JSON): cacheme's `serializer`.
    pub fn codec(mut self, codec: Codec) -> Self {
        self.codec = codec;
        self
    }

    /// The memory's eviction policy.
    pub fn policy(mut self, policy: EvictionPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Entries are stale after `update_after`: served at once while one background refresh
    /// replaces them (stale-while-revalidate). Default: `expire_after` (no stale phase), which
    /// itself defaults to the longest storage ttl; with neither given, the engine's defaults
    /// (`update_after` 10 min, `expire_after` 30 min).
    pub fn update_after(mut self, update_after: Duration) -> Self {
        self.update_after = Some(update_after);
        self
    }

    /// Entries are never served after `expire_after`. Default: the longest storage lifespan
    /// given, else the engine's default.
    pub fn expire_after(mut self, expire_after: Duration) -> Self {
        self.expire_after = Some(expire_after);
        self
    }

    /// The limit on one load (or one batch load).
    pub fn method_timeout(mut self, timeout: Duration) -> Self {
        self.method_timeout = Some(timeout);
        self
    }

    /// cacheme's doorkeeper: a node is stored only from its second load on (its first is
    /// remembered in a Bloom filter), so one-off keys never evict anything.
    pub fn doorkeeper(mut self, on: bool) -> Self {
        self.doorkeeper = on;
        self
    }

    /// Gathers concurrent single-node misses within `window` (at most `max_keys` of them) into
    /// one multi-get per storage and one [`Node::load_all`](super::Node::load_all) call (see
    /// [`Batcher`](crate::Batcher)). Default: off.
    pub fn batch_window(mut self, window: Duration, max_keys: usize) -> Self {
        self.batch = Some((window, max_keys));
        self
    }

    /// The cache these options describe, for the node type `name`, under `prefix`.
    pub(crate) fn build<K: TierKey, V: TierValue>(
        &self,
        name: &str,
        prefix: &str,
        registry: &Registry,
    ) -> Result<Cache<K, V>, NodeError> {
        let mut builder = Cache::builder().eviction_policy(self.policy);
        let mut tiers = self.tiers.as_slice();
        let mut memory = self.memory;
        if let Some((first, rest)) = tiers.split_first() {
            let handle = registry.get(&first.storage);
            if let Some((policy, size)) = handle.and_then(|h| h.memory_settings()) {
                builder = builder.eviction_policy(policy);
                memory = Some((size, first.ttl));
                tiers = rest;
            }
        }
        match memory {
            Some((capacity, ttl)) => {
                builder = builder.capacity(capacity);
                if let Some(ttl) = ttl {
                    builder = builder.memory_expire_cap(ttl);
                }
            }
            None if tiers.is_empty() => builder = builder.capacity(DEFAULT_CAPACITY),
            None => builder = builder.without_memory_tier(),
        }
        let namespace = Namespace::versioned_last(prefix, self.version.as_str());
        for t in tiers {
            let mut tier = registry
                .tier(&t.storage, namespace.clone(), self.codec)
                .map_err(|e| NodeError::new(name, e))?;
            if let Some(ttl) = t.ttl {
                tier = tier.expire_cap(ttl);
            }
            builder = builder.tier(tier);
        }
        let longest = self.tiers.iter().map(|t| t.ttl);
        let longest = longest.chain([memory.and_then(|m| m.1)]).flatten().max();
        let expire = self.expire_after.or(longest);
        let update = self.update_after.or(expire);
        if let Some(expire) = expire {
            builder = builder.expire_after(expire);
        }
        if let Some(update) = update {
            builder = builder.update_after(update);
        }
        if let Some(timeout) = self.method_timeout {
            builder = builder.method_timeout(timeout);
        }
        if self.doorkeeper {
            let door = Doorkeeper::new(memory.map_or(DEFAULT_CAPACITY, |m| m.0));
            let stored = Lifespan::Store {
                update_after: update.unwrap_or(DEFAULT_UPDATE_AFTER),
                expire_after: expire.unwrap_or(DEFAULT_EXPIRE_AFTER),
            };
            // A first sighting is handed out and not stored — and nothing already stored (by
            // another process, or before a refresh) is removed: `Skip`, not `DoNotStore`.
            builder = builder.entry_builder(move |key: &K, _: &V| {
                if door.admit(key) {
                    stored
                } else {
                    Lifespan::Skip
                }
            });
        }
        builder.build().map_err(|e| NodeError::new(name, e))
    }
}
