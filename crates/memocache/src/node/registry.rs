//! The node registry: each node type's cache, built on first use from its options under the
//! process-wide prefix; the list [`nodes`] returns; [`set_prefix`].

use std::any::{Any, TypeId};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use memocache_core::{Batcher, Cache};

use super::{load_all, Node, NodeError, NodeKey, NodeOptions, NodeTier};
use crate::registry::Registry;

/// A node type's cache, and its batcher when single misses are batched.
pub(crate) struct NodeCache<N: Node> {
    pub(crate) cache: Cache<NodeKey<N>, N::Value>,
    pub(crate) batcher: Option<Batcher<NodeKey<N>, N::Value, N::Error>>,
}

/// A node type as [`nodes`] lists it: its name and configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NodeInfo {
    /// The type's name ([`Node::name`], or a [`DynamicNode`](super::DynamicNode)'s).
    pub name: String,
    /// The version, last in its remote keys.
    pub version: String,
    /// The memory's capacity and lifespan cap, if the type keeps entries in memory.
    pub memory: Option<(usize, Option<Duration>)>,
    /// The storages below the memory, in order.
    pub tiers: Vec<NodeTier>,
    /// Whether the doorkeeper is on.
    pub doorkeeper: bool,
    /// The batch window and size for single misses, if on.
    pub batch_window: Option<(Duration, usize)>,
    /// Whether this is a [`DynamicNode`](super::DynamicNode).
    pub dynamic: bool,
}

impl NodeInfo {
    pub(crate) fn new(name: &str, options: &NodeOptions, dynamic: bool) -> Self {
        NodeInfo {
            name: name.to_owned(),
            version: options.version.clone(),
            memory: options.memory,
            tiers: options.tiers.clone(),
            doorkeeper: options.doorkeeper,
            batch_window: options.batch,
            dynamic,
        }
    }
}

/// A node type the `#[node]` attribute declared, collected at link time so that [`nodes`]
/// lists it before its first use.
#[doc(hidden)]
pub struct Declared(pub fn() -> NodeInfo);
inventory::collect!(Declared);

/// The prefix of nodes' remote keys until [`set_prefix`] sets one: not the engine's
/// `memocache`, so that a node's key never equals an ordinary cache's
/// (`{prefix}:{name}:{version}:{key}`).
pub const DEFAULT_NODE_PREFIX: &str = "memocache-node";

struct Nodes {
    prefix: String,
    caches: HashMap<TypeId, Arc<dyn Any + Send + Sync>>,
    infos: BTreeMap<String, NodeInfo>,
}

fn nodes_state() -> &'static RwLock<Nodes> {
    static NODES: OnceLock<RwLock<Nodes>> = OnceLock::new();
    NODES.get_or_init(|| {
        RwLock::new(Nodes {
            prefix: DEFAULT_NODE_PREFIX.to_owned(),
            caches: HashMap::new(),
            infos: BTreeMap::new(),
        })
    })
}

/// Sets the prefix of every node's remote keys, `{prefix}:{key}:{version}` (default
/// [`DEFAULT_NODE_PREFIX`]; cacheme's `set_prefix`). Set it at start-up: node types already
/// used are rebuilt with it on their next use, with empty memory and statistics from zero
/// (their entries under the old prefix become unreachable);
/// [`DynamicNode`](super::DynamicNode)s keep the prefix they were built with.
pub fn set_prefix(prefix: impl Into<String>) {
    let mut nodes = nodes_state().write().unwrap_or_else(|e| e.into_inner());
    nodes.prefix = prefix.into();
    nodes.caches.clear();
}

/// The prefix of nodes' remote keys.
pub fn prefix() -> String {
    let nodes = nodes_state().read().unwrap_or_else(|e| e.into_inner());
    nodes.prefix.clone()
}

/// Every node type declared with the `#[node]` attribute, used, registered or built at run
/// time ([`DynamicNode`](super::DynamicNode)), with its configuration, by name (cacheme's
/// `nodes()`).
pub fn nodes() -> Vec<NodeInfo> {
    let mut all: BTreeMap<String, NodeInfo> = inventory::iter::<Declared>
        .into_iter()
        .map(|d| {
            let info = (d.0)();
            (info.name.clone(), info)
        })
        .collect();
    let nodes = nodes_state().read().unwrap_or_else(|e| e.into_inner());
    all.extend(nodes.infos.iter().map(|(k, v)| (k.clone(), v.clone())));
    all.into_values().collect()
}

/// Builds the chain of the node type `N` now (it is otherwise built on first use), so that
/// a configuration error — a storage name not registered, an invalid lifespan — shows at
/// start-up.
///
/// # Errors
/// The [`NodeError`] naming the type and the cause.
pub fn register<N: Node>() -> Result<(), NodeError> {
    cache_of::<N>().map(drop)
}

/// The node type's cache if it was built.
pub(crate) fn existing<N: Node>() -> Option<Arc<NodeCache<N>>> {
    let nodes = nodes_state().read().unwrap_or_else(|e| e.into_inner());
    let any = nodes.caches.get(&TypeId::of::<N>())?.clone();
    any.downcast().ok()
}

/// The node type's cache, built from [`Node::options`] on first use.
pub(crate) fn cache_of<N: Node>() -> Result<Arc<NodeCache<N>>, NodeError> {
    if let Some(cache) = existing::<N>() {
        return Ok(cache);
    }
    let options = N::options();
    let mut nodes = nodes_state().write().unwrap_or_else(|e| e.into_inner());
    if let Some(any) = nodes.caches.get(&TypeId::of::<N>()) {
        if let Ok(cache) = any.clone().downcast() {
            return Ok(cache);
        }
    }
    let built = options.build(N::name(), &nodes.prefix, Registry::global());
    let cache = built.inspect_err(|e| tracing::error!(error = %e, "node type not usable"))?;
    let batcher = options
        .batch
        .map(|(window, max)| cache.batcher(window, max, load_all::<N>));
    let node_cache = Arc::new(NodeCache { cache, batcher });
    nodes.caches.insert(TypeId::of::<N>(), node_cache.clone());
    let info = NodeInfo::new(N::name(), &options, false);
    nodes.infos.insert(info.name.clone(), info);
    Ok(node_cache)
}

/// Records a dynamic node type for [`nodes`].
pub(crate) fn record(info: NodeInfo) {
    let mut nodes = nodes_state().write().unwrap_or_else(|e| e.into_inner());
    nodes.infos.insert(info.name.clone(), info);
}
