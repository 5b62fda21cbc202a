//! Group invalidation on a [`Cache`]: by tag ([`Cache::invalidate_tags`]), and the scopes of a
//! shared cache ([`Cache::join_scope`], [`Cache::invalidate_scope`]). The work is
//! [`load::untag`](crate::load::untag)'s.

use std::fmt;
use std::hash::Hash;
use std::sync::Arc;

use super::Cache;
use crate::load::{untag, write};
use crate::storage::StorageError;
use crate::tags::{Member, Scope, Scoped, Tag, Tagging};

impl<K, V> Cache<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// Invalidates every entry that depends on one of `deps` (the texts its
    /// [`zone_key`](crate::CacheBuilder::zone_key) or [`tags`](crate::CacheBuilder::tags)
    /// functions give), in memory and in every tier, and takes the keys away from their loads
    /// in flight. In a zone, this is [`Zone::invalidate`](crate::Zone::invalidate) for this
    /// cache alone.
    ///
    /// **The rule** (the same as [`invalidate`](Self::invalidate)'s): once it returns, no value
    /// whose load started before the call is served from this cache. Tiers learn it through
    /// generations (see [`Tag`]): entries other processes wrote there are invalidated too; their
    /// own memory keeps its copies until they expire, unless the cache is
    /// [distributed](crate::CacheBuilder::distributed) (the invalidation is then sent to them).
    ///
    /// Memory is scanned (O(entries), the tag functions run for each key); a tier costs one
    /// write per tag, however many entries carry it.
    ///
    /// # Errors
    /// The first tier that could not record the new generations (failed, timed out, skipped by
    /// an open breaker): it may serve the old entries. Memory is cleaned in every case.
    ///
    /// # Cancel safety
    /// All or nothing: dropped before its first poll, it did nothing; from then on it runs to
    /// the end in its own task whether or not the caller waits.
    pub async fn invalidate_tags<I>(&self, deps: I) -> Result<(), StorageError>
    where
        I: IntoIterator,
        I::Item: fmt::Display,
    {
        let tagging = &self.inner.config.tagging;
        let tags = deps
            .into_iter()
            .map(|d| tagging.full_dep(&Tag::new(d)))
            .collect();
        untag::invalidate(&self.inner, tags).await
    }

    /// What the cross-process coordination of a distributed cache
    /// ([`CacheBuilder::distributed`](crate::CacheBuilder::distributed)) did; `None` for any
    /// other cache.
    #[cfg(feature = "json")]
    pub fn distributed_stats(&self) -> Option<crate::DistributedStats> {
        self.inner.distributed.as_ref().map(|n| n.stats())
    }

    /// Waits until a distributed cache's subscription to its channel is established (at once
    /// for any other cache): from then on it applies the invalidations other processes make.
    /// The subscription starts when the cache is built inside a Tokio runtime (or at this
    /// call).
    ///
    /// # Cancel safety
    /// Cancel safe: it only waits.
    pub async fn subscribed(&self) {
        crate::coord::hooks::start(&self.inner);
        #[cfg(feature = "json")]
        if let Some(node) = &self.inner.distributed {
            node.subscribed().await;
        }
    }

    /// `Memo::invalidate_all` of the memoized function `function` (its path): its entries
    /// carry its own tag (see `CacheBuilder::own_tag`, `Scope::new`). A function's own cache
    /// (`shared == false`) without tiers is cleared; with tiers that cannot keep tags, cleared
    /// tiers included.
    #[doc(hidden)]
    pub async fn invalidate_function(
        &self,
        function: &str,
        shared: bool,
    ) -> Result<(), StorageError> {
        let inner = &self.inner;
        let kept = inner.tiers.as_ref().map(|t| t.keep_tags().is_ok());
        if function.is_empty() || (!shared && kept != Some(true)) {
            return write::invalidate_all(inner).await;
        }
        untag::invalidate(inner, vec![Tagging::<K>::own_tag(function)]).await
    }
}

impl<K, V> Cache<Scoped<K>, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// Lets `scope`'s keys into this shared cache with their tags: the scope's own (so that
    /// [`invalidate_scope`](Self::invalidate_scope) is one step), its zone's and its
    /// dependencies'; and makes the cache a member of the scope's zone. Call it once per
    /// scope before using its keys (`#[memoize(cache = ...)]` does): keys of a scope that did
    /// not join are cached, but not invalidated by zone or scope.
    ///
    /// A cache whose builder gave zone or tag options keeps those and ignores the scopes'.
    pub fn join_scope(&self, scope: &'static Scope<K>) {
        Scope::register(scope);
        let inner = &self.inner;
        if let Some(Err(tier)) = inner.tiers.as_ref().map(|t| t.keep_tags()) {
            tracing::error!(
                cache = inner.name(),
                tier,
                scope = scope.name(),
                "this tier cannot keep tagged entries: zone and scope invalidations do not reach it"
            );
        }
        let _ = inner
            .tagger
            .set(Arc::new(|key: &Scoped<K>, out: &mut Vec<Tag>| {
                key.scope().tagging.tag(key.key(), out)
            }));
        if let Some(zone) = scope.zone_of() {
            zone.join(Arc::downgrade(inner) as std::sync::Weak<dyn Member>);
        }
    }

    /// Invalidates every entry of `scope` (a memoized function's `invalidate_all`), leaving the
    /// other scopes' alone: in each tier one generation bump, whatever else it holds; in
    /// memory a scan. Same rule, errors and cancel safety as
    /// [`invalidate_tags`](Self::invalidate_tags).
    pub async fn invalidate_scope(&self, scope: &'static Scope<K>) -> Result<(), StorageError> {
        self.join_scope(scope);
        untag::invalidate(&self.inner, vec![scope.own_tag()]).await
    }
}
