//! A distributed cache's side of the coordination ([`Node`]): its lease keys and channel, the
//! lease a load holds ([`Held`]), the processes' release announcements its waiting loads wait
//! for, the subscription task that applies other instances' invalidations, and the counters.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Weak};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::Notify;

use super::event::Event;
use super::{Distributed, DistributedStats};
use crate::key::CacheKey;
use crate::shared::Shared;
use crate::storage::{new_generation, StorageError};
use crate::sync::Mutex;
use crate::tags::Tag;

/// How long leases are not tried after a failed attempt.
const LEASE_PAUSE: Duration = Duration::from_secs(1);

/// A key's JSON for invalidation events, and back.
type ToJson<K> = Box<dyn Fn(&K) -> Option<Vec<u8>> + Send + Sync>;
type FromJson<K> = Box<dyn Fn(&[u8]) -> Option<K> + Send + Sync>;
type LeaseKey<K> = Box<dyn Fn(&K) -> String + Send + Sync>;

/// Release announcements seen for one lease key in this process, and the wake-up of the loads
/// waiting for the next.
#[derive(Default)]
struct Releases {
    seen: AtomicU64,
    notify: Notify,
}

#[derive(Default)]
struct Counters {
    leases_taken: AtomicU64,
    lease_waits: AtomicU64,
    served_by_others: AtomicU64,
    fallbacks: AtomicU64,
    events_published: AtomicU64,
    events_applied: AtomicU64,
    resubscriptions: AtomicU64,
}

/// A distributed cache's coordination state (in its `Shared`).
pub(crate) struct Node<K> {
    pub(crate) options: Distributed,
    channel: String,
    /// This instance's id in events (it skips its own).
    origin: u64,
    lease_key: LeaseKey<K>,
    to_json: ToJson<K>,
    from_json: FromJson<K>,
    releases: Mutex<HashMap<String, Arc<Releases>>>,
    counters: Counters,
    /// The subscription task, once started; aborted when the cache is dropped.
    subscriber: Mutex<Option<tokio::task::AbortHandle>>,
    /// After a failed lease attempt, leases are not tried before this moment (each miss would
    /// otherwise wait for the server's timeout): loads are local meanwhile.
    down_until: Mutex<Option<std::time::Instant>>,
    /// Set once the first subscription is established.
    subscribed: Arc<(std::sync::atomic::AtomicBool, Notify)>,
}

impl<K> Drop for Node<K> {
    fn drop(&mut self) {
        if let Some(task) = self.subscriber.lock().take() {
            task.abort();
        }
    }
}

impl<K> Node<K>
where
    K: CacheKey + serde::Serialize + serde::de::DeserializeOwned + Send + Sync + 'static,
{
    /// The node of a cache whose key space in `options.namespace` is final (the builder added
    /// the cache's own segment).
    pub(crate) fn new(options: Distributed) -> Self {
        let channel = format!("{}events", options.namespace.key_prefix());
        let ns = options.namespace.clone();
        Node {
            channel,
            origin: new_generation(),
            lease_key: Box::new(move |k: &K| format!("{{{}}}:lease", ns.key(k))),
            to_json: Box::new(|k: &K| serde_json::to_vec(k).ok()),
            from_json: Box::new(|b: &[u8]| serde_json::from_slice(b).ok()),
            releases: Mutex::new(HashMap::new()),
            counters: Counters::default(),
            subscriber: Mutex::new(None),
            down_until: Mutex::new(None),
            subscribed: Arc::default(),
            options,
        }
    }
}

impl<K> Node<K> {
    /// The lease key of `key`: `{<its remote key>}:lease` (the braces put it in the value key's
    /// hash slot on a Redis Cluster).
    pub(crate) fn lease_key(&self, key: &K) -> String {
        (self.lease_key)(key)
    }

    /// The counters.
    pub(crate) fn stats(&self) -> DistributedStats {
        let c = &self.counters;
        DistributedStats {
            leases_taken: c.leases_taken.load(Relaxed),
            lease_waits: c.lease_waits.load(Relaxed),
            served_by_others: c.served_by_others.load(Relaxed),
            fallbacks: c.fallbacks.load(Relaxed),
            events_published: c.events_published.load(Relaxed),
            events_applied: c.events_applied.load(Relaxed),
            resubscriptions: c.resubscriptions.load(Relaxed),
        }
    }

    pub(crate) fn count_wait(&self) {
        self.counters.lease_waits.fetch_add(1, Relaxed);
    }

    pub(crate) fn count_served_by_others(&self) {
        self.counters.served_by_others.fetch_add(1, Relaxed);
    }

    fn releases_of(&self, lease_key: &str) -> Arc<Releases> {
        let mut map = self.releases.lock();
        Arc::clone(map.entry(lease_key.to_owned()).or_default())
    }

    /// Tries to take the lease of `lease_key`: the lease if taken, `None` if another holds
    /// it, `Err` if the server failed (counted as a fallback). `seen` is the release count to
    /// wait past when it is held.
    pub(crate) async fn try_lease(
        &self,
        lease_key: &str,
    ) -> Result<(Option<Held>, u64), StorageError> {
        if self
            .down_until
            .lock()
            .is_some_and(|t| std::time::Instant::now() < t)
        {
            self.counters.fallbacks.fetch_add(1, Relaxed);
            return Err(StorageError::CircuitOpen);
        }
        let seen = self.releases_of(lease_key).seen.load(Relaxed);
        let token = new_generation();
        let attempt = self
            .options
            .coordinator
            .try_lease(lease_key, token, self.options.lease);
        let limit = self.options.timeout;
        let taken = crate::runtime::timeout(limit, attempt)
            .await
            .unwrap_or(Err(StorageError::Timeout(limit)));
        match taken {
            Ok(true) => {
                self.counters.leases_taken.fetch_add(1, Relaxed);
                let held = Held {
                    coordinator: Arc::clone(&self.options.coordinator),
                    channel: self.channel.clone(),
                    lease: self.options.lease,
                    timeout: self.options.timeout,
                    key: lease_key.to_owned(),
                    token,
                    released: false,
                };
                Ok((Some(held), seen))
            }
            Ok(false) => Ok((None, seen)),
            Err(e) => {
                self.counters.fallbacks.fetch_add(1, Relaxed);
                *self.down_until.lock() = Some(std::time::Instant::now() + LEASE_PAUSE);
                Err(e)
            }
        }
    }

    /// Waits at most `limit` for a release of `lease_key` after the `seen`-th.
    pub(crate) async fn wait_released(&self, lease_key: &str, seen: u64, limit: Duration) {
        let releases = self.releases_of(lease_key);
        let wait = async {
            loop {
                let notified = releases.notify.notified();
                let mut notified = std::pin::pin!(notified);
                notified.as_mut().enable();
                if releases.seen.load(Relaxed) != seen {
                    return;
                }
                notified.await;
            }
        };
        let _ = crate::runtime::timeout(limit, wait).await;
        drop(releases);
        let mut map = self.releases.lock();
        if map
            .get(lease_key)
            .is_some_and(|r| Arc::strong_count(r) == 1)
        {
            map.remove(lease_key);
        }
    }

    fn released(&self, lease_key: &str) {
        let map = self.releases.lock();
        if let Some(r) = map.get(lease_key) {
            r.seen.fetch_add(1, Relaxed);
            r.notify.notify_waiters();
        }
    }

    /// Publishes `event` (one of this instance's invalidations); a failure is logged.
    async fn publish(&self, event: Event) {
        let bytes = event.encode();
        let publish = self.options.coordinator.publish(&self.channel, &bytes);
        let limit = self.options.timeout;
        let published = crate::runtime::timeout(limit, publish)
            .await
            .unwrap_or(Err(StorageError::Timeout(limit)));
        match published {
            Ok(()) => {
                self.counters.events_published.fetch_add(1, Relaxed);
            }
            Err(e) => tracing::warn!(
                channel = self.channel,
                error = %e,
                "invalidation event not published: other processes keep their copies until they expire"
            ),
        }
    }

    /// Announces the invalidation of `key` to the other instances.
    pub(crate) async fn publish_key(&self, key: &K) {
        if let Some(key) = (self.to_json)(key) {
            let origin = self.origin;
            self.publish(Event::Key { origin, key }).await;
        }
    }

    /// Announces an invalidation by `tags` to the other instances.
    pub(crate) async fn publish_tags(&self, tags: &[Tag]) {
        let tags = tags.to_vec();
        self.publish(Event::Tags {
            origin: self.origin,
            tags,
        })
        .await;
    }

    /// Announces an `invalidate_all` to the other instances.
    pub(crate) async fn publish_all(&self) {
        self.publish(Event::All {
            origin: self.origin,
        })
        .await;
    }

    /// Waits until the subscription is established.
    pub(crate) async fn subscribed(&self) {
        loop {
            let notified = self.subscribed.1.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            if self.subscribed.0.load(std::sync::atomic::Ordering::SeqCst) {
                return;
            }
            notified.await;
        }
    }
}

/// Starts `shared`'s subscription task if it has a node and it is not running (inside a Tokio
/// runtime; elsewhere, the next call in one starts it).
pub(crate) fn start<K, V>(shared: &Arc<Shared<K, V>>)
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    let Some(node) = &shared.distributed else {
        return;
    };
    let mut task = node.subscriber.lock();
    if task.is_some() || tokio::runtime::Handle::try_current().is_err() {
        return;
    }
    let coordinator = Arc::clone(&node.options.coordinator);
    let channel = node.channel.clone();
    let subscribed = Arc::clone(&node.subscribed);
    let weak = Arc::downgrade(shared);
    let handle = tokio::spawn(subscribe(weak, coordinator, channel, subscribed));
    *task = Some(handle.abort_handle());
}

/// The subscription task: (re)subscribes with a growing pause after failures, applies each
/// event to the cache while it lives, and clears the memory after each resubscription.
async fn subscribe<K, V>(
    cache: Weak<Shared<K, V>>,
    coordinator: Arc<dyn super::Coordinator>,
    channel: String,
    subscribed: Arc<(std::sync::atomic::AtomicBool, Notify)>,
) where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    let mut pause = Duration::from_millis(50);
    let mut first = true;
    loop {
        if cache.strong_count() == 0 {
            return;
        }
        let mut stream = match coordinator.subscribe(&channel).await {
            Ok(stream) => stream,
            Err(e) => {
                tracing::warn!(channel, error = %e, "cannot subscribe to invalidation events; retrying");
                crate::runtime::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(2));
                continue;
            }
        };
        pause = Duration::from_millis(50);
        if let Some(shared) = cache.upgrade() {
            if !first {
                // Events may have been missed while unsubscribed.
                crate::load::write::forget_all(&shared);
                if let Some(node) = &shared.distributed {
                    node.counters.resubscriptions.fetch_add(1, Relaxed);
                }
                tracing::warn!(channel, "invalidation events resubscribed: memory cleared");
            }
        }
        first = false;
        subscribed
            .0
            .store(true, std::sync::atomic::Ordering::SeqCst);
        subscribed.1.notify_waiters();
        while let Some(message) = stream.next().await {
            let Some(shared) = cache.upgrade() else {
                return;
            };
            if let Some(event) = Event::decode(&message) {
                apply(&shared, event).await;
            }
        }
    }
}

/// Applies another instance's event to this one.
async fn apply<K, V>(shared: &Arc<Shared<K, V>>, event: Event)
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    let Some(node) = &shared.distributed else {
        return;
    };
    let origin = match &event {
        Event::Released(key) => {
            node.released(key);
            return;
        }
        Event::Key { origin, .. } | Event::Tags { origin, .. } | Event::All { origin } => *origin,
    };
    if origin == node.origin {
        return;
    }
    node.counters.events_applied.fetch_add(1, Relaxed);
    match event {
        Event::Key { key, .. } => {
            if let Some(key) = (node.from_json)(&key) {
                crate::load::write::forget(shared, key);
            }
        }
        Event::Tags { tags, .. } => crate::load::untag::forget(shared, &tags).await,
        Event::All { .. } => crate::load::write::forget_all(shared),
        Event::Released(_) => {}
    }
}

/// A lease a load holds: released (and announced) with [`release`](Held::release), or, if the
/// load's task ends otherwise, by a task spawned on drop.
pub(crate) struct Held {
    coordinator: Arc<dyn super::Coordinator>,
    channel: String,
    lease: Duration,
    timeout: Duration,
    key: String,
    token: u64,
    released: bool,
}

impl Held {
    /// Extends the lease every third of its lifetime, forever (run it beside the loader).
    pub(crate) async fn keep_alive(&self) {
        loop {
            crate::runtime::sleep(self.lease / 3).await;
            let extend = self
                .coordinator
                .extend_lease(&self.key, self.token, self.lease);
            let extended = crate::runtime::timeout(self.timeout, extend).await;
            if let Ok(Ok(false)) = extended {
                tracing::warn!(
                    lease = self.key,
                    "lease lost while loading (the load outlived it): another process may load too"
                );
                std::future::pending::<()>().await;
            }
        }
    }

    /// Releases the lease and announces it.
    pub(crate) async fn release(mut self) {
        self.released = true;
        let (c, t) = (&*self.coordinator, self.timeout);
        release(c, &self.channel, &self.key, self.token, t).await;
    }
}

async fn release(
    coordinator: &dyn super::Coordinator,
    channel: &str,
    key: &str,
    token: u64,
    limit: Duration,
) {
    let message = Event::Released(key.to_owned()).encode();
    let release = coordinator.release(key, token, channel, &message);
    let released = crate::runtime::timeout(limit, release)
        .await
        .unwrap_or(Err(StorageError::Timeout(limit)));
    if let Err(e) = released {
        tracing::warn!(lease = key, error = %e, "lease not released: it expires on its own");
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let coordinator = Arc::clone(&self.coordinator);
        let (channel, key, token) = (
            self.channel.clone(),
            std::mem::take(&mut self.key),
            self.token,
        );
        let limit = self.timeout;
        runtime.spawn(async move { release(&*coordinator, &channel, &key, token, limit).await });
    }
}
