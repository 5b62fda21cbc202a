//! Batch reads on a [`Cache`]: [`Cache::get_all`] (cacheme's `get_all`). The work is
//! [`load::batch`](crate::load::batch)'s.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;

use super::Cache;
use crate::error::Error;
use crate::load;
use crate::memory::Lookup;

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
    /// `load_all` returns `(key, value)` pairs in any order; a key it leaves out is
    /// [`Error::NotLoaded`] (for this caller and the key's other waiters), never a silent hole.
    /// Its error is every such key's [`Error::Load`], a timeout (the method timeout, for the
    /// whole call) or panic every key's [`Error::Timeout`] / [`Error::Panicked`].
    ///
    /// Per key, everything a single load guarantees holds: one load of a key at a time, values
    /// stored only while the batch still owns their keys (an `invalidate` during the batch
    /// wins), cancel safety. A stale entry is returned as it is; its refresh is left to the next
    /// single-key request. A cache with tags or a distributed cache reads and writes its tiers
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
    pub async fn get_all<I, F, Fut, E>(&self, keys: I, load_all: F) -> Vec<Result<V, Error<E>>>
    where
        I: IntoIterator<Item = K>,
        F: Fn(Vec<K>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<(K, V)>, E>> + Send + 'static,
        E: Send + Sync + 'static,
    {
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
        let mut results: Vec<Option<Result<V, Error<E>>>> =
            (0..unique.len()).map(|_| None).collect();
        let mut missing = Vec::new();
        for (i, key) in unique.iter().enumerate() {
            match inner.memory.get(inner.memory.hash(key), key) {
                Lookup::Fresh(v) => {
                    inner.stats.add(|c| &c.hits_fresh, 1);
                    results[i] = Some(self.post(v));
                }
                Lookup::Stale { value, .. } => {
                    inner.stats.add(|c| &c.hits_stale, 1);
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
            let got = load::batch::get_all(&self.inner, &asked, Arc::new(load_all));
            for (&i, r) in missing.iter().zip(Box::pin(got).await) {
                results[i] = Some(r.and_then(|v| self.post(v)));
            }
        }
        positions
            .into_iter()
            .map(|p| results[p].clone().expect("every unique key answered"))
            .collect()
    }
}
