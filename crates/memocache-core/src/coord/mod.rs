//! Beyond one process: cross-process single flight and cross-process invalidation, through a
//! [`Coordinator`] (Redis: `memocache_redis::RedisStore`), for caches built with
//! [`CacheBuilder::distributed`](crate::CacheBuilder::distributed).
//!
//! - [`Coordinator`]: the few operations the engine needs from a shared server — a lease
//!   (take, extend, release-and-announce), publish, subscribe;
//! - `node`: a cache's side of it (lease keys, the channel, the release waiters, the
//!   subscription task, the counters);
//! - `event`: the messages on a cache's channel.
//!
//! The guarantees are documented on [`Distributed`], the public page of this module.

#[cfg(feature = "json")]
mod event;
pub(crate) mod hooks;
#[cfg(feature = "json")]
mod node;

#[cfg(feature = "json")]
use std::fmt;
#[cfg(feature = "json")]
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;

#[cfg(feature = "json")]
use crate::key::Namespace;
use crate::storage::StorageError;

#[cfg(feature = "json")]
pub(crate) use node::{Held, Node};

/// What a shared server offers the caches of several processes: leases and a channel. The
/// engine gives it finished key and channel texts.
pub trait Coordinator: Send + Sync + 'static {
    /// Takes the lease `key` with `token` for `ttl` if nobody holds it: `true` if taken.
    fn try_lease<'a>(
        &'a self,
        key: &'a str,
        token: u64,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, StorageError>>;

    /// Extends the lease `key` to `ttl` from now if `token` still holds it: `false` if not.
    fn extend_lease<'a>(
        &'a self,
        key: &'a str,
        token: u64,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, StorageError>>;

    /// Deletes the lease `key` if `token` still holds it, then publishes `message` on
    /// `channel` (in one step where the server can: Redis runs both in one script).
    fn release<'a>(
        &'a self,
        key: &'a str,
        token: u64,
        channel: &'a str,
        message: &'a [u8],
    ) -> BoxFuture<'a, Result<(), StorageError>>;

    /// Publishes `message` on `channel`.
    fn publish<'a>(
        &'a self,
        channel: &'a str,
        message: &'a [u8],
    ) -> BoxFuture<'a, Result<(), StorageError>>;

    /// Subscribes to `channel`: the messages published on it from now on, until the
    /// subscription drops (the stream then ends).
    fn subscribe<'a>(
        &'a self,
        channel: &'a str,
    ) -> BoxFuture<'a, Result<BoxStream<'static, Vec<u8>>, StorageError>>;
}

#[cfg(feature = "json")]
/// Default lease lifetime: 5 seconds (extended while the holder's loader runs).
pub const DEFAULT_LEASE: Duration = Duration::from_secs(5);
#[cfg(feature = "json")]
/// Default timeout of one coordination operation: 1 second.
#[cfg(feature = "json")]
pub const DEFAULT_COORDINATION_TIMEOUT: Duration = Duration::from_secs(1);
#[cfg(feature = "json")]
/// Default poll interval of a process waiting for another's lease: 100 ms.
pub const DEFAULT_POLL: Duration = Duration::from_millis(100);

#[cfg(feature = "json")]
/// The options of a distributed cache: its coordinator, the namespace its lease keys and
/// channel live in, the lease lifetime, the poll interval and the timeout of each coordination
/// operation.
///
/// # What it does
/// **Single flight across processes.** A miss in memory and in every tier takes a *lease* on
/// the key in the server (`SET {key}:lease token NX PX lease`) and reads the tiers once more
/// (the value may have landed meanwhile) before calling the loader. The process that gets it
/// loads (extending the lease every third of its lifetime while the loader runs), writes the value to the tiers, then releases the lease (compare-and-delete)
/// and announces it on the cache's channel. The others wait for that announcement (or, if it
/// is lost, poll every [`Distributed::poll`]), read the tiers again and serve what they find;
/// if nothing is there (the holder failed or died), they try the lease again. Inside each
/// process the usual single flight still applies, so N processes × M tasks cost one lease
/// attempt per process. A stale entry's background refresh takes the same lease: N processes
/// seeing one stale entry make one refresh. Waiting is bounded by the method timeout.
///
/// **Invalidation across processes.** `invalidate`, `insert`, `invalidate_all` and the
/// invalidations by tag, zone or scope publish an event on the cache's channel once the tiers are done; every
/// other instance of the cache (in any process) drops the matching entries from its memory and
/// takes the keys from its loads in flight. An instance whose subscription dropped clears its
/// memory when it is back, since it cannot know what it missed.
///
/// Events rather than Redis client-side caching (RESP3 `CLIENT TRACKING`): tracking tells a
/// client about the keys *it read*, one invalidation per key, so a tag, zone or
/// `invalidate_all` would reach other processes only key by key (and keys they read from
/// their own memory, never from Redis, not at all); an event says "these tags" or "all" in
/// one message, works the same on every `Coordinator`, and its latency is measured
/// (`memocache-bench distributed`: p99 0.23 ms on loopback).
///
/// # What you may rely on, and what not
/// - A lease is a **performance device, not a lock**. It makes one load per key the normal
///   case; it does not exclude two. A holder paused longer than the lease (a GC-like stall, a
///   stopped VM, a partition from the server) loses it, and another process loads too; both
///   write, the later write wins. Clock skew between processes does not matter to the lease
///   (the server times it), but it does to records' wall-clock lifespans, as always.
/// - A holder that dies (SIGKILL) is replaced when its lease expires: its waiters wait at most
///   the lease's remaining time (bounded by the method timeout), then one of them loads.
/// - **Errors are not shared across processes**: a loader error is answered to the holder's
///   own callers; the lease is released, and a waiting process then takes it and calls its own
///   loader.
/// - If the server cannot be reached for the lease, each process falls back to its own single
///   flight (counted in [`DistributedStats::fallbacks`]): never an error, never a hang.
/// - Invalidation events are **at most once** (Redis pub/sub): an instance disconnected when
///   one is sent misses it, and clears its whole memory when its subscription comes back. While
///   the server is unreachable, other processes' memories may serve entries invalidated
///   meanwhile until they expire: keep the memory's lifespans short where that matters.
///
/// # Example
/// Give the namespace of the cache's shared tier, so that a lease key shares the hash slot of
/// its value key on a Redis Cluster (`{<value key>}:lease`).
///
/// ```no_run
/// # extern crate memocache_core as memocache;
/// # fn demo(redis: impl memocache::storage::ByteStore + Clone, coordinator: std::sync::Arc<dyn memocache::Coordinator>) -> Result<(), memocache::BuildError> {
/// use memocache::codec::Codec;
/// use memocache::key::Namespace;
/// use memocache::storage::Serialized;
/// use memocache::{Cache, Distributed, Tier};
///
/// let ns = Namespace::new("users");
/// let users: Cache<u64, String> = Cache::builder()
///     .tier(Tier::new(Serialized::new(redis, ns.clone(), Codec::json())))
///     .distributed(Distributed::new(coordinator, ns))
///     .build()?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Distributed {
    pub(crate) coordinator: Arc<dyn Coordinator>,
    pub(crate) namespace: Namespace,
    pub(crate) lease: Duration,
    pub(crate) poll: Duration,
    pub(crate) timeout: Duration,
}

#[cfg(feature = "json")]
impl fmt::Debug for Distributed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Distributed")
            .field("namespace", &self.namespace)
            .field("lease", &self.lease)
            .field("poll", &self.poll)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "json")]
impl Distributed {
    /// Coordinated through `coordinator`, with lease keys and the channel under `namespace`;
    /// lease [`DEFAULT_LEASE`], poll [`DEFAULT_POLL`].
    pub fn new(coordinator: Arc<dyn Coordinator>, namespace: Namespace) -> Self {
        Distributed {
            coordinator,
            namespace,
            lease: DEFAULT_LEASE,
            poll: DEFAULT_POLL,
            timeout: DEFAULT_COORDINATION_TIMEOUT,
        }
    }

    /// The longest one coordination operation (a lease attempt, an extension, a release, a
    /// publication) may take; past it, it counts as failed (a lease attempt then falls back to
    /// this process's single flight). At least 1 ms.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// The lease lifetime: how long a dead holder keeps others waiting. The holder extends
    /// it every third of it while its loader runs. At least 30 ms.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease.max(Duration::from_millis(30));
        self
    }

    /// How often a waiting process looks again when no release announcement came. At least
    /// 1 ms.
    pub fn poll(mut self, poll: Duration) -> Self {
        self.poll = poll.max(Duration::from_millis(1));
        self
    }
}

#[cfg(feature = "json")]
/// What a distributed cache's coordination did (see [`Cache::distributed_stats`](crate::Cache::distributed_stats)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DistributedStats {
    /// Leases this instance took (each a load or refresh it ran for every process).
    pub leases_taken: u64,
    /// Times this instance found the lease held by another and waited.
    pub lease_waits: u64,
    /// Loads and refreshes answered by another process's value (read from the tiers after a
    /// wait) instead of a loader call.
    pub served_by_others: u64,
    /// Lease attempts that failed on the server: the load ran under this process's own single
    /// flight instead.
    pub fallbacks: u64,
    /// Invalidation events this instance published.
    pub events_published: u64,
    /// Invalidation events from other instances applied to this instance's memory.
    pub events_applied: u64,
    /// Times the subscription was (re)established after a drop, each clearing the memory.
    pub resubscriptions: u64,
}
