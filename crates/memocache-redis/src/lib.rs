//! Redis storage for [memocache](https://docs.rs/memocache): [`RedisStore`], a
//! [`ByteStore`] over the `redis` crate on Tokio, for a single server (through a
//! `ConnectionManager` that reconnects by itself) or a Redis Cluster (through the crate's
//! async cluster client).
//!
//! Commands: `GETRANGE key 0 <limit>` (a typed read, bounded by the codec's record limit),
//! `GET` (a raw `ByteStore::get`) and `MGET` (a batch, and typed reads made at the same time:
//! [`RedisOptions::auto_pipeline`]) to read, `SET … PX <ms>` with the entry's remaining lifespan to
//! write (a pipeline for `set_many` on a single server, concurrent `SET`s on a cluster, whose
//! keys live on many nodes), `UNLINK` to remove, and `SCAN MATCH <namespace>*` + `UNLINK` (on
//! every master of a cluster) to clear one namespace — never `KEYS`, never `FLUSHDB`. On a single
//! server, writes go out in the order they were made, those made while one is in flight as one
//! pipeline ([`RedisOptions::auto_pipeline`]; [`RedisStore::write_stats`]).
//!
//! It is also a [`Coordinator`](memocache_core::Coordinator) for distributed caches
//! ([`CacheBuilder::distributed`](memocache_core::CacheBuilder::distributed)): leases with
//! `SET NX PX` and compare-and-delete / compare-and-extend scripts, events with `PUBLISH` and a
//! `SUBSCRIBE` connection of its own per cache (on a cluster, to its first node: messages
//! reach every node).
//!
//! URLs: `redis://[user[:password]@]host[:port][/db]`, and `rediss://…` for TLS (feature
//! `tls`, on by default).
//!
//! ```no_run
//! # extern crate memocache_core as memocache;
//! use std::time::Duration;
//! use memocache::codec::Codec;
//! use memocache::key::Namespace;
//! use memocache::{Cache, Tier};
//! use memocache_redis::RedisStore;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let redis = RedisStore::connect("redis://127.0.0.1:6379/0").await?;
//! let users: Cache<u64, String> = Cache::builder()
//!     .name("users")
//!     .expire_after(Duration::from_secs(600))
//!     .tier(Tier::new(redis.typed(Namespace::new("users"), Codec::json())))
//!     .build()?;
//! let name = users.get_or_load(42, || async { Ok::<_, std::io::Error>("ann".to_string()) }).await?;
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod coordinator;
mod options;
mod pipeline;
mod writes;

pub use options::{RedisOptions, DEFAULT_TIMEOUT};
pub use writes::WriteStats;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use memocache_core::codec::{Codec, DecodeError};
use memocache_core::key::Namespace;
use memocache_core::storage::{ByteStore, Serialized, StorageError};
use redis::aio::ConnectionManager;
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{Cmd, RedisError, Value};
use writes::{Job, Op};

pub use redis;

/// Keys asked for per `SCAN` step when clearing a namespace.
pub const SCAN_COUNT: usize = 1000;

#[derive(Clone)]
enum Conn {
    Single(Box<ConnectionManager>),
    /// A single server connected on first use ([`RedisStore::connect_lazy`]).
    Lazy(Arc<LazySingle>),
    Cluster(ClusterConnection),
}

/// The connection of a lazily connected store: made by the first operation that needs it,
/// tried again by the next one while the server cannot be reached.
struct LazySingle {
    client: redis::Client,
    options: RedisOptions,
    manager: tokio::sync::OnceCell<ConnectionManager>,
}

/// A Redis server or cluster as a [`ByteStore`]. Cheap to clone: clones share the connection.
///
/// Make it typed for a cache with [`RedisStore::typed`] (or
/// [`Serialized::new`](memocache_core::storage::Serialized::new)).
#[derive(Clone)]
pub struct RedisStore {
    conn: Conn,
    name: Arc<str>,
    /// A client of one server (a cluster's first node), for pub/sub subscriptions.
    subscriber: redis::Client,
    /// The queue of typed reads sent together ([`RedisOptions::auto_pipeline`]).
    reads: Option<Arc<pipeline::Reads>>,
    /// The queue of writes, sent in order, together when they arrive together.
    writes: Option<Arc<writes::Writes>>,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field(
                "mode",
                &match self.conn {
                    Conn::Single(_) => "single",
                    Conn::Lazy(_) => "single (connected on first use)",
                    Conn::Cluster(_) => "cluster",
                },
            )
            .finish()
    }
}

fn backend(e: RedisError) -> StorageError {
    StorageError::backend(e)
}

/// `prefix` as a `SCAN MATCH` pattern matching the keys that start with it.
fn match_pattern(prefix: &str) -> String {
    let mut p = String::with_capacity(prefix.len() + 1);
    for c in prefix.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\' | '^') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('*');
    p
}

/// A read's answer from the bytes a key held (`None`: no key): an empty string is no record
/// (a miss, as `GETRANGE` reads a missing key), more than `limit` bytes are refused.
fn bounded(bytes: Option<Vec<u8>>, limit: usize) -> Result<Option<Vec<u8>>, StorageError> {
    match bytes {
        Some(bytes) if bytes.is_empty() => Ok(None),
        Some(bytes) if bytes.len() > limit => Err(StorageError::Decode(DecodeError::TooLarge {
            size: bytes.len(),
            limit,
        })),
        other => Ok(other),
    }
}

/// Millisecond TTL for `PX`, at least 1.
fn px(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

/// `SET key bytes PX <ttl>`: how every record is written (alone, in a pipeline, on a cluster).
fn set_command(key: &str, bytes: &[u8], ttl: Duration) -> Cmd {
    let mut set = redis::cmd("SET");
    set.arg(key).arg(bytes).arg("PX").arg(px(ttl));
    set
}

impl RedisStore {
    /// Connects to the server of `url` (`redis://` or `rediss://`, user, password and db
    /// taken from the URL) with the default [`RedisOptions`].
    ///
    /// # Errors
    /// When the URL is invalid or the server cannot be reached.
    ///
    /// # Cancel safety
    /// Cancel safe: dropping the future abandons the connection attempt and leaves nothing
    /// behind (no store exists until it returns).
    pub async fn connect(url: &str) -> Result<Self, RedisError> {
        Self::connect_with(url, RedisOptions::default()).await
    }

    /// Connects to the server of `url` with `options`.
    ///
    /// # Errors
    /// When the URL is invalid or the server cannot be reached.
    ///
    /// # Cancel safety
    /// Cancel safe: dropping the future abandons the connection attempt and leaves nothing
    /// behind (no store exists until it returns).
    pub async fn connect_with(url: &str, options: RedisOptions) -> Result<Self, RedisError> {
        Self::connect_client(redis::Client::open(url)?, options).await
    }

    /// Connects to a `rediss://` server whose certificate is signed by `root_cert_pem` (a CA
    /// in PEM format, e.g. a private CA) instead of one of the platform's root certificates.
    ///
    /// # Errors
    /// When the URL is invalid, the certificate does not parse or does not verify, or the
    /// server cannot be reached.
    ///
    /// # Cancel safety
    /// Cancel safe: dropping the future abandons the connection attempt and leaves nothing
    /// behind (no store exists until it returns).
    #[cfg(feature = "tls")]
    pub async fn connect_tls(
        url: &str,
        root_cert_pem: &[u8],
        options: RedisOptions,
    ) -> Result<Self, RedisError> {
        let client = redis::Client::build_with_tls(
            url,
            redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(root_cert_pem.to_vec()),
            },
        )?;
        Self::connect_client(client, options).await
    }

    async fn connect_client(
        client: redis::Client,
        options: RedisOptions,
    ) -> Result<Self, RedisError> {
        let manager =
            ConnectionManager::new_with_config(client.clone(), options::manager_config(options))
                .await?;
        Ok(RedisStore {
            conn: Conn::Single(Box::new(manager)),
            name: Arc::from("redis"),
            subscriber: client,
            reads: options::reads(options),
            writes: options::writes(options),
        })
    }

    /// A store of the server of `url` that connects on first use: it can be built (and a
    /// cache with it) while the server is down. Until the server answers, each operation
    /// tries to connect, within `options.connect_timeout`, and fails: the tier counts the
    /// failures, and its circuit breaker soon skips it, as for a server lost later.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), redis::RedisError> {
    /// use memocache_redis::{RedisOptions, RedisStore};
    ///
    /// // Nothing is listening on port 1: building still works.
    /// let store = RedisStore::connect_lazy("redis://127.0.0.1:1", RedisOptions::default())?;
    /// # let _ = store;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// Only when the URL is invalid.
    pub fn connect_lazy(url: &str, options: RedisOptions) -> Result<Self, RedisError> {
        let client = redis::Client::open(url)?;
        Ok(RedisStore {
            subscriber: client.clone(),
            conn: Conn::Lazy(Arc::new(LazySingle {
                client,
                options,
                manager: tokio::sync::OnceCell::new(),
            })),
            name: Arc::from("redis"),
            reads: options::reads(options),
            writes: options::writes(options),
        })
    }

    /// The single server's connection (made now for a lazy store); `None` on a cluster.
    async fn single(&self) -> Result<Option<ConnectionManager>, StorageError> {
        match &self.conn {
            Conn::Single(c) => Ok(Some(ConnectionManager::clone(c))),
            Conn::Lazy(lazy) => {
                let connect = || async {
                    let config = options::manager_config(lazy.options);
                    ConnectionManager::new_with_config(lazy.client.clone(), config)
                        .await
                        .map_err(backend)
                };
                Ok(Some(lazy.manager.get_or_try_init(connect).await?.clone()))
            }
            Conn::Cluster(_) => Ok(None),
        }
    }

    /// Connects to a Redis Cluster through any of its nodes' URLs.
    ///
    /// # Errors
    /// When a URL is invalid or no node can be reached.
    ///
    /// # Cancel safety
    /// Cancel safe: dropping the future abandons the connection attempt and leaves nothing
    /// behind (no store exists until it returns).
    pub async fn connect_cluster<I, S>(urls: I) -> Result<Self, RedisError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self::connect_cluster_with(urls, RedisOptions::default()).await
    }

    /// Connects to a Redis Cluster with `options`.
    ///
    /// # Errors
    /// When a URL is invalid or no node can be reached.
    ///
    /// # Cancel safety
    /// Cancel safe: dropping the future abandons the connection attempt and leaves nothing
    /// behind (no store exists until it returns).
    pub async fn connect_cluster_with<I, S>(
        urls: I,
        options: RedisOptions,
    ) -> Result<Self, RedisError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let urls: Vec<String> = urls.into_iter().map(|u| u.as_ref().to_owned()).collect();
        // Pub/sub messages reach every node of a cluster: one node serves subscriptions.
        let subscriber = redis::Client::open(urls.first().map_or("", String::as_str))?;
        let client = ClusterClient::builder(urls)
            .connection_timeout(options.connect_timeout)
            .response_timeout(options.response_timeout)
            .retries(options.reconnect_retries as u32)
            .build()?;
        let conn = client.get_async_connection().await?;
        Ok(RedisStore {
            conn: Conn::Cluster(conn),
            name: Arc::from("redis-cluster"),
            subscriber,
            // A cluster's MGET fails whole when one shard does: no batching across keys.
            reads: None,
            writes: None,
        })
    }

    /// `GETRANGE key 0 limit`: one bounded read (see `get_bounded`).
    async fn get_range(&self, key: &str, limit: usize) -> Result<Option<Vec<u8>>, StorageError> {
        let end = i64::try_from(limit).unwrap_or(i64::MAX);
        let bytes: Vec<u8> = self
            .query(redis::cmd("GETRANGE").arg(key).arg(0).arg(end))
            .await?;
        bounded(Some(bytes), limit)
    }

    /// `MGET` of `keys` (not empty). On a cluster the client splits it by slot and
    /// reassembles the answer in order.
    async fn mget<S: redis::ToRedisArgs>(
        &self,
        keys: &[S],
    ) -> Result<Vec<Option<Vec<u8>>>, StorageError> {
        self.query(redis::cmd("MGET").arg(keys)).await
    }

    /// `true` for a cluster connection.
    pub fn is_cluster(&self) -> bool {
        matches!(self.conn, Conn::Cluster(_))
    }

    /// A typed storage of this server for one cache: keys under `namespace`, entries encoded
    /// with `codec`. Many typed storages share one connection.
    pub fn typed<K, V>(&self, namespace: Namespace, codec: Codec) -> Serialized<RedisStore, K, V> {
        Serialized::new(self.clone(), namespace, codec)
    }

    async fn query<T: redis::FromRedisValue>(&self, cmd: &Cmd) -> Result<T, StorageError> {
        if let Conn::Cluster(c) = &self.conn {
            return cmd.query_async(&mut c.clone()).await.map_err(backend);
        }
        let mut c = self.single().await?.expect("not a cluster");
        cmd.query_async(&mut c).await.map_err(backend)
    }

    /// The `host:port` of every master of the cluster.
    async fn masters(conn: &mut ClusterConnection) -> Result<Vec<(String, u16)>, StorageError> {
        let nodes = conn
            .route_command(
                redis::cmd("CLUSTER").arg("NODES"),
                RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random),
            )
            .await
            .map_err(backend)?;
        let text: String = redis::from_redis_value(&nodes).map_err(backend)?;
        let mut masters = Vec::new();
        for line in text.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 3 || !fields[2].split(',').any(|f| f == "master") {
                continue;
            }
            // `ip:port@cport[,hostname]`
            let addr = fields[1].split(['@', ',']).next().unwrap_or("");
            if let Some((host, port)) = addr.rsplit_once(':') {
                if let Ok(port) = port.parse() {
                    masters.push((host.to_owned(), port));
                }
            }
        }
        Ok(masters)
    }

    /// What write pipelining ([`RedisOptions::auto_pipeline`]) has sent so far: commands and
    /// the round trips they took. All zero for a cluster store or without the option.
    pub fn write_stats(&self) -> WriteStats {
        self.writes
            .as_ref()
            .map_or_else(WriteStats::default, |w| w.stats())
    }

    /// Removes every key starting with `prefix` now: `SCAN MATCH` + `UNLINK` (on every master
    /// of a cluster).
    async fn clear_now(&self, prefix: &str) -> Result<(), StorageError> {
        let pattern = match_pattern(prefix);
        match &self.conn {
            Conn::Single(_) | Conn::Lazy(_) => self.scan_unlink(&pattern, None).await,
            Conn::Cluster(c) => {
                for master in Self::masters(&mut c.clone()).await? {
                    self.scan_unlink(&pattern, Some(master)).await?;
                }
                Ok(())
            }
        }
    }

    async fn scan_unlink(
        &self,
        pattern: &str,
        node: Option<(String, u16)>,
    ) -> Result<(), StorageError> {
        let mut cursor: u64 = 0;
        loop {
            let mut scan = redis::cmd("SCAN");
            scan.arg(cursor)
                .arg("MATCH")
                .arg(pattern)
                .arg("COUNT")
                .arg(SCAN_COUNT);
            let (next, keys): (u64, Vec<Vec<u8>>) = match (&self.conn, &node) {
                (Conn::Cluster(c), Some((host, port))) => {
                    let v: Value = c
                        .clone()
                        .route_command(
                            &scan,
                            RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
                                host: host.clone(),
                                port: *port,
                            }),
                        )
                        .await
                        .map_err(backend)?;
                    redis::from_redis_value(&v).map_err(backend)?
                }
                _ => self.query(&scan).await?,
            };
            if !keys.is_empty() {
                let mut unlink = redis::cmd("UNLINK");
                unlink.arg(keys);
                // On a cluster the client splits a multi-key UNLINK by slot.
                self.query::<()>(&unlink).await?;
            }
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }
}

impl ByteStore for RedisStore {
    fn name(&self) -> &str {
        &self.name
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, StorageError>> {
        async move { self.query(redis::cmd("GET").arg(key)).await }.boxed()
    }

    /// `GETRANGE key 0 limit`: at most `limit + 1` bytes cross the network, so a record over
    /// the limit is refused without being downloaded. (A missing key reads as an empty
    /// string, which no record is: a miss.) With [`RedisOptions::auto_pipeline`], reads made
    /// at the same time go together as one `MGET`.
    fn get_bounded<'a>(
        &'a self,
        key: &'a str,
        limit: usize,
    ) -> BoxFuture<'a, Result<Option<Vec<u8>>, StorageError>> {
        match &self.reads {
            Some(reads) => pipeline::read(self, reads, key, limit).boxed(),
            None => self.get_range(key, limit).boxed(),
        }
    }

    fn get_many<'a>(
        &'a self,
        keys: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<Option<Vec<u8>>>, StorageError>> {
        async move {
            if keys.is_empty() {
                return Ok(Vec::new());
            }
            self.mget(keys).await
        }
        .boxed()
    }

    fn set<'a>(
        &'a self,
        key: &'a str,
        bytes: Vec<u8>,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), StorageError>> {
        if let Some(writes) = &self.writes {
            let set = Op::Set {
                key: key.to_owned(),
                bytes,
                ttl,
            };
            return writes::write(self, writes, Job::Ops(vec![set])).boxed();
        }
        async move { self.query(&set_command(key, &bytes, ttl)).await }.boxed()
    }

    fn set_many(
        &self,
        items: Vec<(String, Vec<u8>, Duration)>,
    ) -> BoxFuture<'_, Result<(), StorageError>> {
        if items.is_empty() {
            return async { Ok(()) }.boxed();
        }
        if let Some(writes) = &self.writes {
            let sets = items
                .into_iter()
                .map(|(key, bytes, ttl)| Op::Set { key, bytes, ttl });
            return writes::write(self, writes, Job::Ops(sets.collect())).boxed();
        }
        async move {
            match self.single().await? {
                Some(mut c) => {
                    let mut pipe = redis::pipe();
                    for (k, b, ttl) in items {
                        pipe.add_command(set_command(&k, &b, ttl)).ignore();
                    }
                    pipe.query_async::<()>(&mut c).await.map_err(backend)
                }
                None => {
                    // Keys of a batch live on different nodes: one SET each, concurrently.
                    let sets = items.into_iter().map(|(k, b, ttl)| async move {
                        self.query::<()>(&set_command(&k, &b, ttl)).await
                    });
                    futures_util::future::join_all(sets)
                        .await
                        .into_iter()
                        .collect()
                }
            }
        }
        .boxed()
    }

    fn remove<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StorageError>> {
        if let Some(writes) = &self.writes {
            let unlink = Op::Unlink(key.to_owned());
            return writes::write(self, writes, Job::Ops(vec![unlink])).boxed();
        }
        async move { self.query(redis::cmd("UNLINK").arg(key)).await }.boxed()
    }

    fn clear_prefix<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<(), StorageError>> {
        match &self.writes {
            Some(writes) => writes::write(self, writes, Job::Clear(prefix.to_owned())).boxed(),
            None => self.clear_now(prefix).boxed(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_escape_glob_characters() {
        assert_eq!(match_pattern("a:b:1:"), "a:b:1:*");
        assert_eq!(match_pattern("a*[x]?\\"), "a\\*\\[x\\]\\?\\\\*");
    }

    #[test]
    fn px_is_at_least_one_millisecond() {
        assert_eq!(px(Duration::from_micros(10)), 1);
        assert_eq!(px(Duration::from_secs(2)), 2000);
    }
}
