//! What the rows over a remote tier (Redis, SQL) share: the policy of their bounded memory
//! tier ([`TIER_POLICY`]) and how it is put in front, the start of a row (`RemoteRow`: keys,
//! loader, label, and the cache's builder with its tier over the remote store, in a namespace
//! of its own) and the tier reads and errors the cache counted.

use std::sync::Arc;
use std::time::Duration;

use memocache::codec::{Codec, Compression, Format};
use memocache::key::Namespace;
use memocache::storage::Storage;
use memocache::{Cache, CacheBuilder, EvictionPolicy, Tier};

use crate::zipf::KeyStream;

use super::{Contestant, Loader, Params};

/// The eviction policy of the bounded memory tier in front of Redis (cacheme's `local://tlfu`
/// is W-TinyLFU).
pub const TIER_POLICY: EvictionPolicy = EvictionPolicy::W_TINY_LFU;

/// The name of [`TIER_POLICY`] in result rows.
pub const TIER_POLICY_NAME: &str = "wtinylfu";

/// What a row over a remote tier starts with: the keys, the loader, the progress label and the
/// cache's builder, named after the row, with its tier over the remote store in a namespace of
/// its own (`run_id` makes it unique), with the codec (MessagePack, as cacheme's benchmark) and
/// the operation timeout.
pub(crate) struct RemoteRow {
    pub(crate) shared: Arc<[u64]>,
    pub(crate) loader: Arc<Loader>,
    pub(crate) label: String,
    pub(crate) builder: CacheBuilder<u64, u64>,
}

impl RemoteRow {
    /// The start of `contestant`'s row; `typed` makes the remote store's storage for the
    /// namespace and the codec.
    pub(crate) fn new<S: Storage<u64, u64>>(
        contestant: Contestant,
        keys: &KeyStream,
        workers: usize,
        p: &Params,
        run_id: &str,
        timeout: Duration,
        typed: impl FnOnce(Namespace, Codec) -> S,
    ) -> Self {
        let namespace = Namespace::new(format!("trace-{run_id}-{}-{workers}", contestant.name()))
            .prefix("memocache-bench");
        let codec = Codec::new(Format::MessagePack, Compression::None);
        RemoteRow {
            shared: keys.keys.clone().into(),
            loader: Arc::new(Loader::new(p.load_time)),
            label: format!("trace {} x{}", contestant.name(), workers),
            builder: Cache::builder()
                .name(contestant.name())
                .tier(Tier::new(typed(namespace, codec)).timeout(timeout)),
        }
    }
}

/// `builder` with the bounded memory tier in front ([`TIER_POLICY`], `tier_capacity` entries),
/// and the row's `memory_tier` field saying so.
pub(crate) fn bounded_memory_tier(
    builder: CacheBuilder<u64, u64>,
    p: &Params,
) -> (CacheBuilder<u64, u64>, String) {
    (
        builder
            .capacity(p.tier_capacity)
            .eviction_policy(TIER_POLICY),
        format!("{TIER_POLICY_NAME} {}", p.tier_capacity),
    )
}

/// The reads (hits and misses) and errors the cache counted on its first tier.
pub(crate) fn tier_reads_and_errors(cache: &Cache<u64, u64>) -> (u64, u64) {
    cache
        .stats()
        .tiers
        .first()
        .map_or((0, 0), |t| (t.hits() + t.misses, t.errors))
}
