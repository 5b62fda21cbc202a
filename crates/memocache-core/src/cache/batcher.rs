//! [`Batcher`]: the dataloader pattern over a [`Cache`]. Single-key requests that miss memory
//! within a short window are gathered into one batch — one multi-get per tier and one call of
//! the batch loader, as [`Cache::get_all`] makes — while hits are answered at once.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use tokio::sync::oneshot;

use super::{BatchItems, BatchResult, Cache};
use crate::error::Error;
use crate::load;
use crate::memory::Lookup;
use crate::sync::Mutex;

/// A batch loader with its result made uniform (see [`BatchResult`]).
type LoadAll<K, V, E> =
    dyn Fn(Vec<K>) -> BoxFuture<'static, Items<K, V, E>> + Send + Sync + 'static;

/// A batch loader's outcome per key, or its error for the whole call.
struct Items<K, V, E>(BatchItems<K, V, E>);

impl<K, V, E> BatchResult<K, V> for Items<K, V, E>
where
    K: Send + 'static,
    V: Send + 'static,
    E: Send + Sync + 'static,
{
    type Error = E;
    fn into_items(self) -> BatchItems<K, V, E> {
        self.0
    }
}

/// Where a request's outcome is sent.
type Reply<V, E> = oneshot::Sender<Result<V, Error<E>>>;

/// The requests gathered so far, each waiting for its key's outcome.
struct Pending<K, V, E> {
    waiting: Vec<(K, Reply<V, E>)>,
    /// Bumped each time the pending requests are taken, so a window's timer flushes only the
    /// batch it was started for.
    epoch: u64,
}

/// Gathers concurrent single-key misses of a [`Cache`] into batches: the dataloader pattern
/// (GraphQL's DataLoader, cacheme's node batching taken one step further).
///
/// [`get`](Self::get) answers a hit (fresh or stale) from memory at once, never delayed. A miss
/// joins the current batch; the batch is sent when `max_keys` requests are pending or when
/// `window` has passed since its first request, whichever comes first. A batch is then exactly
/// a [`Cache::get_all`] of its distinct keys: keys already loading are joined, the others get
/// **one** multi-get per tier and **one** call of the batch loader, and every guarantee of a
/// single load holds per key (single flight, method timeout, panics caught, invalidations
/// winning).
///
/// Made by [`Cache::batcher`]; cheap to clone (clones share the pending batch).
///
/// ```
/// # extern crate memocache_core as memocache;
/// use std::time::Duration;
/// use memocache::Cache;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let cache: Cache<u32, String> = Cache::new();
/// let users = cache.batcher(Duration::from_millis(1), 100, |ids: Vec<u32>| async move {
///     // one query for every id asked within the same millisecond
///     Ok::<_, std::io::Error>(ids.into_iter().map(|id| (id, format!("user {id}"))).collect())
/// });
/// let (a, b) = tokio::join!(users.get(1), users.get(2)); // one batch loader call
/// assert_eq!((a.unwrap(), b.unwrap()), ("user 1".to_string(), "user 2".to_string()));
/// # }
/// ```
pub struct Batcher<K, V, E> {
    cache: Cache<K, V>,
    load_all: Arc<LoadAll<K, V, E>>,
    window: Duration,
    max_keys: usize,
    pending: Arc<Mutex<Pending<K, V, E>>>,
}

impl<K, V, E> Clone for Batcher<K, V, E> {
    fn clone(&self) -> Self {
        Batcher {
            cache: self.cache.clone(),
            load_all: Arc::clone(&self.load_all),
            window: self.window,
            max_keys: self.max_keys,
            pending: Arc::clone(&self.pending),
        }
    }
}

impl<K, V, E> fmt::Debug for Batcher<K, V, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Batcher")
            .field("window", &self.window)
            .field("max_keys", &self.max_keys)
            .finish_non_exhaustive()
    }
}

impl<K, V> Cache<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// A [`Batcher`] over this cache: single-key misses arriving within `window` of each
    /// other (at most `max_keys` of them, at least 1) are loaded together by one call of
    /// `load_all`, which returns what [`get_all`](Self::get_all)'s loader does.
    pub fn batcher<F, Fut, R>(
        &self,
        window: Duration,
        max_keys: usize,
        load_all: F,
    ) -> Batcher<K, V, R::Error>
    where
        F: Fn(Vec<K>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: BatchResult<K, V>,
    {
        let load_all: Arc<LoadAll<K, V, R::Error>> =
            Arc::new(move |keys| load_all(keys).map(|r| Items(r.into_items())).boxed());
        Batcher {
            cache: self.clone(),
            load_all,
            window,
            max_keys: max_keys.max(1),
            pending: Arc::new(Mutex::new(Pending {
                waiting: Vec::new(),
                epoch: 0,
            })),
        }
    }
}

impl<K, V, E> Batcher<K, V, E>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    /// The value of `key`: from memory at once when servable (a stale value due for a refresh
    /// starts one, by a batch loader call of that key), else from the next batch.
    ///
    /// # Errors
    /// As one key of [`Cache::get_all`]: the batch loader's error for this key (or for the
    /// whole call), [`Error::NotLoaded`] when it left this key out, a timeout or panic of
    /// the call, a tier error under `OnError::Propagate`.
    ///
    /// # Cancel safety
    /// Cancel safe: the batch runs in its own task; dropping this future only stops waiting
    /// (the key is still loaded with its batch).
    pub async fn get(&self, key: K) -> Result<V, Error<E>> {
        let cache = &self.cache;
        let inner = &*cache.inner;
        match inner.memory.get(inner.memory.hash(&key), &key) {
            Lookup::Fresh(v) => {
                inner.stats.add(|c| &c.hits_fresh, 1);
                return cache.post(v);
            }
            Lookup::Stale { value, refresh_due } => {
                inner.stats.add(|c| &c.hits_stale, 1);
                if refresh_due {
                    let load_all = Arc::clone(&self.load_all);
                    cache.refresh_one(key, &Arc::new(move |keys| load_all(keys)));
                }
                return cache.post(value);
            }
            Lookup::Miss => inner.stats.add(|c| &c.misses, 1),
        }
        let (tx, rx) = oneshot::channel();
        self.enqueue(key, tx);
        match rx.await {
            Ok(result) => result.and_then(|v| cache.post(v)),
            // The batch's task was dropped (the runtime shut down).
            Err(_) => Err(Error::Cancelled),
        }
    }

    /// Adds a request to the pending batch; sends the batch when full, or starts the window's
    /// timer when this is its first request.
    fn enqueue(&self, key: K, tx: Reply<V, E>) {
        let mut pending = self.pending.lock();
        pending.waiting.push((key, tx));
        if pending.waiting.len() >= self.max_keys {
            let batch = take(&mut pending);
            drop(pending);
            crate::runtime::spawn(flush(self.clone(), batch));
        } else if pending.waiting.len() == 1 {
            let armed = Armed {
                pending: Arc::clone(&self.pending),
                epoch: pending.epoch,
                fired: false,
            };
            drop(pending);
            let this = self.clone();
            crate::runtime::spawn(async move {
                crate::runtime::sleep(this.window).await;
                if let Some(batch) = armed.fire() {
                    flush(this, batch).await;
                }
            });
        }
    }
}

/// A window's timer. If its task is dropped before the window ends (its runtime shut down),
/// the batch it was started for is taken and dropped, so its requests end with
/// [`Error::Cancelled`] instead of waiting for a timer that will never fire — and the next
/// request starts a new window.
struct Armed<K, V, E> {
    pending: Arc<Mutex<Pending<K, V, E>>>,
    epoch: u64,
    fired: bool,
}

impl<K, V, E> Armed<K, V, E> {
    /// The batch, unless it was sent when it filled up.
    fn fire(mut self) -> Option<Waiters<K, V, E>> {
        self.fired = true;
        let mut pending = self.pending.lock();
        (pending.epoch == self.epoch).then(|| take(&mut pending))
    }
}

impl<K, V, E> Drop for Armed<K, V, E> {
    fn drop(&mut self) {
        if self.fired {
            return;
        }
        let mut pending = self.pending.lock();
        if pending.epoch == self.epoch {
            drop(take(&mut pending));
        }
    }
}

type Waiters<K, V, E> = Vec<(K, Reply<V, E>)>;

fn take<K, V, E>(pending: &mut Pending<K, V, E>) -> Waiters<K, V, E> {
    pending.epoch += 1;
    std::mem::take(&mut pending.waiting)
}

/// Loads one batch as a `get_all` of its distinct keys (memory was counted by each request)
/// and answers each request as soon as its key's outcome is known.
async fn flush<K, V, E>(batcher: Batcher<K, V, E>, waiters: Waiters<K, V, E>)
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    let mut keys: Vec<K> = Vec::new();
    let mut senders: Vec<Vec<Reply<V, E>>> = Vec::new();
    let mut at: HashMap<K, usize> = HashMap::new();
    for (k, tx) in waiters {
        let i = *at.entry(k.clone()).or_insert_with(|| {
            keys.push(k);
            senders.push(Vec::new());
            keys.len() - 1
        });
        senders[i].push(tx);
    }
    let load_all = Arc::clone(&batcher.load_all);
    let load_all = Arc::new(move |keys: Vec<K>| load_all(keys));
    load::batch::each(&batcher.cache.inner, &keys, load_all, |i, result| {
        for tx in std::mem::take(&mut senders[i]) {
            let _ = tx.send(result.clone());
        }
    })
    .await;
}
