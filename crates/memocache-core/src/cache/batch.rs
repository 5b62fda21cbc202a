//! Batch reads on a [`Cache`]: [`Cache::get_all`] (cacheme's `get_all`) and what its batch
//! loader may return ([`BatchResult`]). The work is [`load::batch`](crate::load::batch)'s.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;

use super::Cache;
use crate::error::Error;
use crate::load;
use crate::memory::Lookup;

/// A batch loader's outcome per key (`Ok`), or its error for the whole call (`Err`): what
/// [`BatchResult::into_items`] returns.
pub type BatchItems<K, V, E> = Result<Vec<(K, Result<V, E>)>, E>;

/// What a batch loader ([`Cache::get_all`], [`Batcher`](crate::Batcher)) returns: either
/// `Result<Vec<(K, V)>, E>` — the values found, or one error for the whole call — or
/// `Vec<(K, Result<V, E>)>` — an outcome per key, so one key's failure is that key's error
/// only. Keys left out are [`Error::NotLoaded`].
pub trait BatchResult<K, V>: Send + 'static {
    /// The loader's error type.
    type Error: Send + Sync + 'static;
    /// The outcome of each key the loader answered, or the error of the whole call.
    fn into_items(self) -> BatchItems<K, V, Self::Error>;
}

impl<K: Send + 'static, V: Send + 'static, E: Send + Sync + 'static> BatchResult<K, V>
    for Result<Vec<(K, V)>, E>
{
    type Error = E;
    fn into_items(self) -> BatchItems<K, V, E> {
        self.map(|pairs| pairs.into_iter().map(|(k, v)| (k, Ok(v))).collect())
    }
}

impl<K: Send + 'static, V: Send + 'static, E: Send + Sync + 'static> BatchResult<K, V>
    for Vec<(K, Result<V, E>)>
{
    type Error = E;
    fn into_items(self) -> BatchItems<K, V, E> {
        Ok(self)
    }
}

/// Why a stale entry's refresh started by a batch produced no value.
enum Refetch<E> {
    Load(#[allow(dead_code)] E),
    NotLoaded,
}

impl<K, V> Cache<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// The values of `keys`, in the same order, loading the missing ones with **one** call of
    /// `load_all` (cacheme's `get_all`):
    /// 1. memory first; duplicates in `keys` are looked up once;
    /// 2. keys already loading (a `get_or_load`, another `get_all`) are joined, not loaded again;
    /// 3. for the others: each tier with **one** multi-get (Redis `MGET`, SQL `IN`) for the keys
    ///    still missing, then one `load_all(keys missing everywhere)`, then **one** multi-set
    ///    per tier; every waiter of those keys gets the batch's value.
    ///
    /// `load_all` returns `(key, value)` pairs in any order, either all or nothing
    /// (`Result<Vec<(K, V)>, E>`) or each with its own outcome (`Vec<(K, Result<V, E>)>`, see
    /// [`BatchResult`]); a key it leaves out is [`Error::NotLoaded`] (for this caller and the
    /// key's other waiters), never a silent hole. An error of the whole call is every such
    /// key's [`Error::Load`], a timeout (the method timeout, for the whole call) or panic every
    /// key's [`Error::Timeout`] / [`Error::Panicked`].
    ///
    /// Per key, everything a single load guarantees holds: one load of a key at a time, values
    /// stored only while the batch still owns their keys (an `invalidate` during the batch
    /// wins), cancel safety. A stale entry is returned at once and, when due, refreshed in the
    /// background by a `load_all` call of its own (as a single stale hit is). A cache with tags or a distributed cache reads and writes its tiers
    /// key by key (stamps and leases are per key), concurrently, still with one `load_all` call.
    ///
    /// ```
    /// # extern crate memocache_core as memocache;
    /// use memocache::Cache;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let cache: Cache<u32, String> = Cache::new();
    /// let load_all = |ids: Vec<u32>| async move {
    ///     Ok::<_, std::io::Error>(ids.into_iter().map(|id| (id, format!("user {id}"))).collect())
    /// };
    /// let users = cache.get_all([3, 1, 3], load_all).await;
    /// let names: Vec<String> = users.into_iter().map(Result::unwrap).collect();
    /// assert_eq!(names, ["user 3", "user 1", "user 3"]);
    /// # }
    /// ```
    ///
    /// # Cancel safety
    /// Cancel safe: the batch runs in its own task; dropping this future only stops waiting.
    pub async fn get_all<I, F, Fut, R>(
        &self,
        keys: I,
        load_all: F,
    ) -> Vec<Result<V, Error<R::Error>>>
    where
        I: IntoIterator<Item = K>,
        F: Fn(Vec<K>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: BatchResult<K, V>,
    {
        let load_all = Arc::new(load_all);
        let inner = &*self.inner;
        let mut unique: Vec<K> = Vec::new();
        let mut at: HashMap<K, usize> = HashMap::new();
        let positions: Vec<usize> = keys
            .into_iter()
            .map(|k| {
                *at.entry(k).or_insert_with_key(|k| {
                    unique.push(k.clone());
                    unique.len() - 1
                })
            })
            .collect();
        let mut results: Vec<Option<Result<V, Error<R::Error>>>> =
            (0..unique.len()).map(|_| None).collect();
        let mut missing = Vec::new();
        for (i, key) in unique.iter().enumerate() {
            match inner.memory.get(inner.memory.hash(key), key) {
                Lookup::Fresh(v) => {
                    inner.stats.add(|c| &c.hits_fresh, 1);
                    results[i] = Some(self.post(v));
                }
                Lookup::Stale { value, refresh_due } => {
                    inner.stats.add(|c| &c.hits_stale, 1);
                    if refresh_due {
                        self.refresh_one(key.clone(), &load_all);
                    }
                    results[i] = Some(self.post(value));
                }
                Lookup::Miss => {
                    inner.stats.add(|c| &c.misses, 1);
                    missing.push(i);
                }
            }
        }
        if !missing.is_empty() {
            let asked: Vec<K> = missing.iter().map(|&i| unique[i].clone()).collect();
            let got = load::batch::get_all(&self.inner, &asked, load_all);
            for (&i, r) in missing.iter().zip(Box::pin(got).await) {
                results[i] = Some(r.and_then(|v| self.post(v)));
            }
        }
        positions
            .into_iter()
            .map(|p| results[p].clone().expect("every unique key answered"))
            .collect()
    }

    /// Starts the background refresh of a stale `key` met by a batch: one `load_all` call of
    /// that key alone (its error type is private, so no other request's loader joins it).
    pub(super) fn refresh_one<F, Fut, R>(&self, key: K, load_all: &Arc<F>)
    where
        F: Fn(Vec<K>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: BatchResult<K, V>,
    {
        let load_all = Arc::clone(load_all);
        let wanted = key.clone();
        let loader = move || async move {
            let items = load_all(vec![wanted.clone()]).await.into_items();
            let items = items.map_err(Refetch::Load)?;
            match items.into_iter().find(|(k, _)| *k == wanted) {
                Some((_, outcome)) => outcome.map_err(Refetch::Load),
                None => Err(Refetch::<R::Error>::NotLoaded),
            }
        };
        let hash = self.inner.memory.hash(&key);
        load::refresh(&self.inner, hash, key, loader, load::RefreshOf::StaleHit);
    }
}
