//! Typed cache nodes, cacheme's API in Rust: a [`Node`] is a key type that knows how to load
//! its value and where that value is cached, so that everyone knows exactly what is cached and
//! how.
//!
//! A node type has its stable key text ([`Node::key`]), its loader ([`Node::load`]), an
//! optional batch loader ([`Node::load_all`]) and its configuration ([`Node::options`]:
//! version, storages with a lifespan each, codec, lifespans, policy, doorkeeper, batching).
//! The [`#[node]`](macro@crate::node) attribute writes all of it from a plain struct and its `load`:
//!
//! ```
//! use memocache::node::{self, Node};
//!
//! #[derive(Clone, Hash, PartialEq, Eq)]
//! struct UserInfo { user_id: u64 }
//!
//! #[memocache::node(key = "user:{user_id}:info", version = "v1")]
//! impl UserInfo {
//!     async fn load(&self) -> Result<String, std::io::Error> {
//!         Ok(format!("user {}", self.user_id)) // the database query
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let info = node::get(&UserInfo { user_id: 1 }).await.unwrap();
//! assert_eq!(info, "user 1");
//! assert_eq!(node::stats::<UserInfo>().miss_count, 1);
//! # }
//! ```
//!
//! # Operations
//! Every operation is a free function of this module:
//!
//! | operation | what |
//! |---|---|
//! | [`get(&node)`](get) | the value, loaded through the node's chain on a miss (one load per key at a time, across concurrent callers) |
//! | [`get_with(&node, loader)`](get_with) | the same with another loader for this call (cacheme's `get(node, load_fn)`) |
//! | [`get_all(&nodes)`](get_all) | many nodes in input order: memory, then **one** multi-get per storage, then **one** [`Node::load_all`] call, then one multi-set per storage ([`Cache::get_all`](crate::Cache::get_all)) |
//! | [`invalidate(&node)`](invalidate) | removes the node's entry from memory and every storage |
//! | [`refresh(&node)`](refresh) | reloads now and replaces the value for everyone; concurrent refreshes of a node coalesce ([`Cache::refresh`](crate::Cache::refresh)) |
//! | [`stats::<N>()`](stats) | the type's [`NodeStats`], with cacheme's counts and rates |
//! | [`nodes()`](nodes) | every node type declared with the attribute or used, with its configuration ([`NodeInfo`]) |
//! | [`set_prefix`] | the process-wide prefix of remote keys, set at start-up |
//! | [`register::<N>()`](register) | builds a node type's chain now, to see configuration errors at start-up |
//!
//! [`DynamicNode`] is a node type built at run time from a name, a version and storages,
//! keyed by strings (cacheme's `build_node`).
//!
//! # Keys
//! A node's entry is stored under `{prefix}:{key}:{version}` (cacheme's layout: the prefix is
//! [`set_prefix`]'s, default [`DEFAULT_NODE_PREFIX`]; the key is [`Node::key`]; the version is
//! the node type's). The attribute writes each `{field}` of the key text escaped as
//! [`CacheKey`] text (`:` becomes `%3A`...), so two nodes of one type never share a key; a
//! [`DynamicNode`]'s key is its name and key, both escaped. Changing the prefix or the
//! version makes every old entry unreachable — never misread. Key texts must be unique across
//! node types and dynamic node names: start them with what the node is (`user:{id}:info`).
//! Keys longer than 250 bytes are stored under their SHA-256. Node types with the same name
//! in different modules share one line of [`nodes`]: tell them apart with `name = "..."`.
//!
//! # Errors
//! Every operation returns the engine's [`Error`]. A node type whose configuration cannot be
//! built (a storage name not registered, an invalid lifespan) fails each operation with
//! [`Error::Storage`] holding a [`NodeError`] that names the type and the cause, and logs it;
//! [`register`] reports it at start-up instead.

mod doorkeeper;
mod dynamic;
mod options;
mod registry;
mod stats;

use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;

use memocache_core::key::CacheKey;
use memocache_core::storage::StorageError;
use memocache_core::{BatchItems, BatchResult, Error};

pub use dynamic::DynamicNode;
pub use options::{NodeOptions, NodeTier};
#[doc(hidden)]
pub use registry::Declared;
pub use registry::{nodes, prefix, register, set_prefix, NodeInfo, DEFAULT_NODE_PREFIX};
pub use stats::NodeStats;

use crate::registry::TierValue;
use registry::NodeCache;

/// A typed cache key that loads its own value (cacheme's `Node`). See the
/// [module documentation](self) for the operations and the [`#[node]`](macro@crate::node) attribute
/// that implements this trait from a struct and its `load`.
///
/// Two nodes are the same entry when they are equal (`Hash` + `Eq`, used in memory) and have
/// the same [`key`](Self::key) text (used by remote storages): keep both consistent.
pub trait Node: Hash + Eq + Clone + Send + Sync + 'static {
    /// The cached value.
    type Value: TierValue;
    /// The loader's error.
    type Error: Send + Sync + 'static;

    /// The node type's name, in [`nodes`] and logs.
    fn name() -> &'static str {
        std::any::type_name::<Self>()
    }

    /// The node's stable key text, the same in every process; unique across node types.
    fn key(&self) -> String;

    /// Loads the node's value (on a miss, or for a refresh).
    fn load(&self) -> impl Future<Output = Result<Self::Value, Self::Error>> + Send;

    /// Loads many nodes at once, for [`get_all`] and batched single misses: a
    /// `Result<Vec<(Self, Self::Value)>, Self::Error>` or a `Vec<(Self, Result<..>)>`
    /// ([`BatchResult`]). By default, [`load`](Self::load) of each node, concurrently.
    fn load_all(
        nodes: Vec<Self>,
    ) -> impl Future<Output = impl BatchResult<Self, Self::Value, Error = Self::Error>> + Send {
        futures_util::future::join_all(nodes.into_iter().map(|node| async move {
            let loaded = node.load().await;
            (node, loaded)
        }))
    }

    /// The node type's configuration (default [`NodeOptions::new`]: memory only).
    fn options() -> NodeOptions {
        NodeOptions::new()
    }
}

/// Why a node type's chain could not be built.
#[derive(Debug, thiserror::Error)]
#[error("node {node}: {source}")]
pub struct NodeError {
    node: String,
    source: Box<dyn std::error::Error + Send + Sync>,
}

impl NodeError {
    pub(crate) fn new(
        node: &str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        NodeError {
            node: node.to_owned(),
            source: source.into(),
        }
    }

    /// The node type's name.
    pub fn node(&self) -> &str {
        &self.node
    }
}

/// A node as the key of its type's cache: equality and hash are the node's, the remote text
/// is [`Node::key`], written as it is.
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct NodeKey<N>(pub(crate) N);

impl<N: Node> CacheKey for NodeKey<N> {
    fn encode_key(&self, out: &mut String) {
        out.push_str(&self.0.key());
    }
}

/// The node type's cache, or the storage error every operation returns when it cannot be
/// built.
fn cache_of<N: Node>() -> Result<Arc<NodeCache<N>>, StorageError> {
    registry::cache_of::<N>().map_err(StorageError::backend)
}

/// The value of `node`: from memory, else from the first storage of its chain that has it
/// (backfilling the ones above), else [`Node::load`] — once per key however many callers ask,
/// the batch window gathering concurrent misses if the type has one.
///
/// # Cancel safety
/// Cancel safe: as [`Cache::get_or_load`](crate::Cache::get_or_load) (and the batch
/// window's loads run in a task of their own); dropping this future never cancels a load.
pub async fn get<N: Node>(node: &N) -> Result<N::Value, Error<N::Error>> {
    let cache = cache_of::<N>().map_err(Error::Storage)?;
    if let Some(batcher) = &cache.batcher {
        return batcher.get(NodeKey(node.clone())).await;
    }
    cache
        .cache
        .get_or_load_lazy(NodeKey(node.clone()), || {
            let node = node.clone();
            move || async move { node.load().await }
        })
        .await
}

/// As [`get`], with `loader` instead of [`Node::load`] when this call loads (cacheme's
/// `get(node, load_fn)`). Concurrent callers share whichever load runs first.
///
/// # Cancel safety
/// As [`get`].
pub async fn get_with<N, F, Fut>(node: &N, loader: F) -> Result<N::Value, Error<N::Error>>
where
    N: Node,
    F: FnOnce(N) -> Fut + Send + 'static,
    Fut: Future<Output = Result<N::Value, N::Error>> + Send + 'static,
{
    let cache = cache_of::<N>().map_err(Error::Storage)?;
    let n = node.clone();
    cache
        .cache
        .get_or_load(NodeKey(node.clone()), move || loader(n))
        .await
}

/// As [`get_with`], the loader made only when one is needed (`#[memoize(node = ...)]`).
pub(crate) async fn get_lazy<N, M, F, Fut>(
    node: &N,
    make_loader: M,
) -> Result<N::Value, Error<N::Error>>
where
    N: Node,
    M: FnOnce() -> F,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<N::Value, N::Error>> + Send + 'static,
{
    let cache = cache_of::<N>().map_err(Error::Storage)?;
    cache
        .cache
        .get_or_load_lazy(NodeKey(node.clone()), make_loader)
        .await
}

/// The values of `nodes`, in the same order ([`Cache::get_all`](crate::Cache::get_all)):
/// duplicates looked up once, memory first, then one multi-get per storage, then one
/// [`Node::load_all`] of the nodes missing everywhere, then one multi-set per storage. Nodes
/// already loading are joined.
///
/// # Cancel safety
/// Cancel safe: the batch runs in its own task; dropping this future only stops waiting.
pub async fn get_all<N: Node>(nodes: &[N]) -> Vec<Result<N::Value, Error<N::Error>>> {
    let cache = match cache_of::<N>() {
        Ok(c) => c,
        Err(e) => {
            return nodes
                .iter()
                .map(|_| Err(Error::Storage(e.clone())))
                .collect()
        }
    };
    let keys = nodes.iter().cloned().map(NodeKey);
    cache.cache.get_all(keys, load_all::<N>).await
}

/// [`Node::load_all`] over node keys.
pub(crate) async fn load_all<N: Node>(keys: Vec<NodeKey<N>>) -> KeyedItems<N> {
    let nodes = keys.into_iter().map(|k| k.0).collect();
    let items = N::load_all(nodes).await.into_items();
    KeyedItems(items.map(|items| items.into_iter().map(|(n, r)| (NodeKey(n), r)).collect()))
}

/// A node type's batch loader outcome, keyed for its cache.
pub(crate) struct KeyedItems<N: Node>(BatchItems<NodeKey<N>, N::Value, N::Error>);

impl<N: Node> BatchResult<NodeKey<N>, N::Value> for KeyedItems<N> {
    type Error = N::Error;
    fn into_items(self) -> BatchItems<NodeKey<N>, N::Value, N::Error> {
        self.0
    }
}

/// Removes `node`'s entry from memory and every storage of its chain.
///
/// # Errors
/// A storage's failure (also counted and logged).
///
/// # Cancel safety
/// As [`Cache::invalidate`](crate::Cache::invalidate): all or nothing once polled.
pub async fn invalidate<N: Node>(node: &N) -> Result<(), StorageError> {
    let cache = cache_of::<N>()?;
    cache.cache.invalidate(&NodeKey(node.clone())).await
}

/// Reloads `node` now with [`Node::load`] and replaces its value everywhere, for everyone
/// (requests meanwhile are served the old value). Concurrent refreshes of one node coalesce.
///
/// # Cancel safety
/// Cancel safe: the refresh completes in its own task.
pub async fn refresh<N: Node>(node: &N) -> Result<N::Value, Error<N::Error>> {
    let cache = cache_of::<N>().map_err(Error::Storage)?;
    let n = node.clone();
    cache
        .cache
        .refresh(NodeKey(node.clone()), move || async move { n.load().await })
        .await
}

/// The statistics of the node type `N` (zero before its first use).
pub fn stats<N: Node>() -> NodeStats {
    registry::existing::<N>()
        .map(|c| NodeStats::from(&c.cache.stats()))
        .unwrap_or_default()
}
