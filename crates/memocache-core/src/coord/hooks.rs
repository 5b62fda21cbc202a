//! Where the engine calls into the coordination: the cache's slot for its [`Node`], the start
//! of its subscription, and the announcements of its invalidations. Without the `json`
//! feature (no distributed caches) the slot is empty and every hook does nothing.

use std::hash::Hash;
use std::sync::Arc;

use crate::shared::Shared;
use crate::tags::Tag;

/// A cache's coordination, if it is distributed.
#[cfg(feature = "json")]
pub(crate) type Slot<K> = Option<super::Node<K>>;
/// Without `json`, no cache is distributed.
#[cfg(not(feature = "json"))]
pub(crate) type Slot<K> = Option<std::marker::PhantomData<K>>;

/// Starts the cache's subscription if it is distributed and it is not running.
pub(crate) fn start<K, V>(shared: &Arc<Shared<K, V>>)
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    #[cfg(feature = "json")]
    super::node::start(shared);
    #[cfg(not(feature = "json"))]
    let _ = shared;
}

/// Announces the invalidation (or new value) of `key` to the cache's other instances.
pub(crate) async fn publish_key<K, V>(shared: &Shared<K, V>, key: &K) {
    #[cfg(feature = "json")]
    if let Some(node) = &shared.distributed {
        node.publish_key(key).await;
    }
    #[cfg(not(feature = "json"))]
    let _ = (shared, key);
}

/// Announces an invalidation by `tags` to the cache's other instances.
pub(crate) async fn publish_tags<K, V>(shared: &Shared<K, V>, tags: &[Tag]) {
    #[cfg(feature = "json")]
    if let Some(node) = &shared.distributed {
        node.publish_tags(tags).await;
    }
    #[cfg(not(feature = "json"))]
    let _ = (shared, tags);
}

/// Announces an `invalidate_all` to the cache's other instances.
pub(crate) async fn publish_all<K, V>(shared: &Shared<K, V>) {
    #[cfg(feature = "json")]
    if let Some(node) = &shared.distributed {
        node.publish_all().await;
    }
    #[cfg(not(feature = "json"))]
    let _ = shared;
}
