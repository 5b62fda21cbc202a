//! The cross-process step of a distributed cache's load or refresh ([`Leased`]): take the
//! key's lease, or wait for the process that holds it and serve what it wrote (see
//! [`coord`](crate::coord)).

use std::hash::Hash;
#[cfg(feature = "json")]
use std::sync::Arc;
#[cfg(feature = "json")]
use std::time::SystemTime;

#[cfg(feature = "json")]
use tokio::time::Instant;

#[cfg(feature = "json")]
use super::super::flight::Kind;
use super::Task;
use crate::storage::StoredEntry;

/// What the cross-process lease decided for a load or refresh.
pub(super) enum Leased<V> {
    /// Not distributed, or the server failed: load under this process's single flight.
    Local,
    /// This process holds the lease: load, write the tiers, release.
    #[cfg(feature = "json")]
    Holder(crate::coord::Held),
    /// Another process's value, read from the tiers after its release.
    #[cfg_attr(not(feature = "json"), allow(dead_code))]
    Served(StoredEntry<V>),
    /// Waited the method timeout for another process's load.
    #[cfg_attr(not(feature = "json"), allow(dead_code))]
    TimedOut(std::time::Duration),
}

impl<K, V> Task<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// Before the loader of a distributed cache's load or refresh: takes the key's lease, or
    /// waits for its holder in another process and serves what it wrote (see
    /// [`coord`](crate::coord)). Waiting is bounded by the method timeout; a server failure
    /// falls back to this process's single flight.
    #[cfg(feature = "json")]
    pub(super) async fn lease(&mut self) -> Leased<V> {
        let shared = Arc::clone(&self.shared);
        let Some(node) = &shared.distributed else {
            return Leased::Local;
        };
        let lease_key = node.lease_key(&self.key);
        let limit = shared.config.method_timeout;
        let deadline = Instant::now() + limit;
        loop {
            let seen = match node.try_lease(&lease_key).await {
                Ok((Some(held), _)) => {
                    // Another process may have written the value and released between this
                    // flight's tier read and its lease: read once more before loading.
                    if let Ok(Some(entry)) = self.read_tiers().await {
                        if self.kind() == Kind::Load || entry.is_fresh(SystemTime::now()) {
                            held.release().await;
                            node.count_served_by_others();
                            return Leased::Served(entry);
                        }
                    }
                    return Leased::Holder(held);
                }
                Ok((None, seen)) => seen,
                Err(e) => {
                    let cache = shared.name();
                    tracing::warn!(cache, error = %e, "lease not taken: loading under this process's single flight");
                    return Leased::Local;
                }
            };
            node.count_wait();
            let now = Instant::now();
            if now >= deadline {
                return Leased::TimedOut(limit);
            }
            let wait = node.options.poll.min(deadline - now);
            node.wait_released(&lease_key, seen, wait).await;
            if let Ok(Some(entry)) = self.read_tiers().await {
                if self.kind() == Kind::Load || entry.is_fresh(SystemTime::now()) {
                    node.count_served_by_others();
                    return Leased::Served(entry);
                }
            }
        }
    }

    /// Without distributed caches, every load is local.
    #[cfg(not(feature = "json"))]
    pub(super) async fn lease(&mut self) -> Leased<V> {
        Leased::Local
    }
}
