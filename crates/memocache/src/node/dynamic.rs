//! [`DynamicNode`]: a node type built at run time (cacheme's `build_node` / `DynamicNode`).

use std::collections::HashMap;
use std::future::Future;

use memocache_core::key::CacheKey;
use memocache_core::storage::StorageError;
use memocache_core::{BatchItems, BatchResult, Cache, Error};

use super::registry::{self, NodeInfo};
use super::{NodeError, NodeOptions, NodeStats};
use crate::registry::{Registry, TierValue};

/// A key of a dynamic node type: `{name}:{key}`, written as it is.
#[derive(Clone, PartialEq, Eq, Hash)]
struct DynKey(String);

impl CacheKey for DynKey {
    fn encode_key(&self, out: &mut String) {
        out.push_str(&self.0)
    }
}

/// A node type built at run time from a name, a version and storages ([`NodeOptions`]),
/// keyed by strings, with the loader given at each call (cacheme's `build_node`). Its entries
/// are stored under `{prefix}:{name}:{key}:{version}` (name and key escaped as key text); it
/// is listed by
/// [`nodes`](super::nodes). Cheap to clone.
///
/// ```
/// use memocache::node::{DynamicNode, NodeOptions};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let prices: DynamicNode<u64> =
///     DynamicNode::build("Price", NodeOptions::new().version("v2")).unwrap();
/// let p = prices.get("apple", || async { Ok::<_, std::io::Error>(3) }).await.unwrap();
/// assert_eq!(p, 3);
/// assert_eq!(prices.stats().hit_count, 0);
/// # }
/// ```
#[derive(Clone)]
pub struct DynamicNode<V> {
    name: String,
    /// `{name}:`, the name escaped as key text.
    head: String,
    cache: Cache<DynKey, V>,
}

impl<V> std::fmt::Debug for DynamicNode<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynamicNode")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl<V: TierValue> DynamicNode<V> {
    /// The node type `name` with `options`, under the current [`prefix`](super::prefix).
    ///
    /// # Errors
    /// A storage name not registered, or invalid options.
    pub fn build(name: &str, options: NodeOptions) -> Result<Self, NodeError> {
        if options.batch.is_some() {
            return Err(NodeError::new(
                name,
                "a dynamic node takes its loader at each call, so it has no batch loader to \
                 batch single misses with: remove `batch_window` (use `get_all`)",
            ));
        }
        let cache = options.build(name, &registry::prefix(), Registry::global())?;
        registry::record(NodeInfo::new(name, &options, true));
        Ok(DynamicNode {
            name: name.to_owned(),
            head: format!("{}:", name.to_key_string()),
            cache,
        })
    }

    fn key(&self, key: &str) -> DynKey {
        DynKey(format!("{}{}", self.head, key.to_key_string()))
    }

    /// The value of `key`, loaded with `loader` on a miss (see [`Cache::get_or_load`]).
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub async fn get<F, Fut, E>(&self, key: &str, loader: F) -> Result<V, Error<E>>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<V, E>> + Send + 'static,
        E: Send + Sync + 'static,
    {
        self.cache.get_or_load(self.key(key), loader).await
    }

    /// The values of `keys` in order, the missing ones loaded by one `load_all` call of those
    /// keys as given (without the type's name) — see [`Cache::get_all`]. `load_all` answers
    /// with the same key texts.
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub async fn get_all<F, Fut, R>(
        &self,
        keys: &[&str],
        load_all: F,
    ) -> Vec<Result<V, Error<R::Error>>>
    where
        F: Fn(Vec<String>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: BatchResult<String, V>,
    {
        // The cache keys hold the escaped texts; the loader sees and answers the keys given.
        let given: HashMap<String, String> = keys
            .iter()
            .map(|k| (self.key(k).0, (*k).to_owned()))
            .collect();
        let head = self.head.clone();
        let load = move |keys: Vec<DynKey>| {
            let plain = keys
                .iter()
                .filter_map(|k| given.get(&k.0).cloned())
                .collect();
            let head = head.clone();
            let fut = load_all(plain);
            async move {
                let items = fut.await.into_items();
                DynItems(items.map(|items| {
                    items
                        .into_iter()
                        .map(|(k, r)| (DynKey(format!("{head}{}", k.to_key_string())), r))
                        .collect()
                }))
            }
        };
        let keys: Vec<DynKey> = keys.iter().map(|k| self.key(k)).collect();
        self.cache.get_all(keys, load).await
    }

    /// Removes `key`'s entry from memory and every storage.
    ///
    /// # Errors
    /// A storage's failure.
    ///
    /// # Cancel safety
    /// As [`Cache::invalidate`].
    pub async fn invalidate(&self, key: &str) -> Result<(), StorageError> {
        self.cache.invalidate(&self.key(key)).await
    }

    /// Reloads `key` now with `loader` (see [`Cache::refresh`]).
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub async fn refresh<F, Fut, E>(&self, key: &str, loader: F) -> Result<V, Error<E>>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<V, E>> + Send + 'static,
        E: Send + Sync + 'static,
    {
        self.cache.refresh(self.key(key), loader).await
    }

    /// The type's statistics.
    pub fn stats(&self) -> NodeStats {
        NodeStats::from(&self.cache.stats())
    }
}

/// A dynamic batch loader's outcome keyed for its cache.
struct DynItems<V, E>(BatchItems<DynKey, V, E>);

impl<V: Send + 'static, E: Send + Sync + 'static> BatchResult<DynKey, V> for DynItems<V, E> {
    type Error = E;
    fn into_items(self) -> BatchItems<DynKey, V, E> {
        self.0
    }
}
