//! The builder's options about what a load's result becomes beyond its lifespan: a
//! condition for storing it ([`CacheBuilder::store_if`]), negative caching of its error
//! ([`CacheBuilder::cache_errors`]) and probabilistic early refresh
//! ([`CacheBuilder::early_refresh`]).

use std::time::Duration;

use std::sync::Arc;

use super::CacheBuilder;

impl<K, V> CacheBuilder<K, V> {
    /// Stores a loaded value only when `condition` holds for it (cashews' `condition`): any
    /// other value is handed to its callers and stored nowhere, and whatever the key held
    /// stays (a stale value is refreshed again later), as [`Lifespan::Skip`](crate::Lifespan::Skip) says. An
    /// `insert` of such a value removes the old one. A panic in `condition` is the load's
    /// `Error::Panicked`, as one in the entry builder. Default: every value is stored.
    ///
    /// ```
    /// # extern crate memocache_core as memocache;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// // An empty search result is not worth keeping.
    /// let cache: memocache::Cache<String, Vec<u64>> = memocache::Cache::builder()
    ///     .store_if(|_query: &String, hits: &Vec<u64>| !hits.is_empty())
    ///     .build()
    ///     .unwrap();
    /// cache.get_with("nothing".into(), || async { vec![] }).await.unwrap();
    /// assert_eq!(cache.len(), 0);
    /// # }
    /// ```
    pub fn store_if(mut self, condition: impl Fn(&K, &V) -> bool + Send + Sync + 'static) -> Self {
        self.store_if = Some(Arc::new(condition));
        self
    }

    /// Negative caching (cached's `cache_err`, cashews' `with_exceptions`): a load that
    /// fails with its loader's own error ([`Error::Load`](crate::Error::Load)) is remembered
    /// for `lifespan`, and requests for that key meanwhile get that same error at once,
    /// without calling their loader (counted as `Stats::errors_recalled`). Timeouts, panics,
    /// cancellations and storage errors are never remembered. A value stored for the key, an
    /// `insert`, an invalidation or an `invalidate_all` forgets the error. Kept in memory
    /// only (for up to `capacity` keys), never in the tiers; `get` (without a loader) does
    /// not report it. Must be positive. Default: off.
    ///
    /// To keep an *empty* result (a `None`) for a shorter time than a value, give it its own
    /// lifespan with an [`entry_builder`](Self::entry_builder) instead.
    pub fn cache_errors(mut self, lifespan: Duration) -> Self {
        self.error_lifespan = Some(lifespan);
        self
    }

    /// Probabilistic early refresh (XFetch): a fresh hit starts the entry's background refresh
    /// before `update_after` with a probability that grows as that deadline nears — when
    /// `delta · beta · −ln(u) ≥` the time left, `u` uniform in (0, 1], `delta` the cache's
    /// recent load time — so that many processes holding one entry (each its own memory over
    /// a shared Redis) do not all refresh it in the same instant. `beta = 1.0` is XFetch's
    /// default; larger refreshes earlier. The hit is served at once; the refresh is the usual
    /// one (one per key at a time, counted in `refreshes_*`), except that it calls the loader
    /// without reading the tiers first. Works with or without a stale phase
    /// (`update_after < expire_after`). `beta` must be positive and finite. Default: off.
    ///
    /// ```
    /// # extern crate memocache_core as memocache;
    /// use std::time::Duration;
    /// let cache: memocache::Cache<u64, String> = memocache::Cache::builder()
    ///     .update_after(Duration::from_secs(60))
    ///     .expire_after(Duration::from_secs(60))
    ///     .early_refresh(1.0)
    ///     .build()?;
    /// # Ok::<(), memocache::BuildError>(())
    /// ```
    pub fn early_refresh(mut self, beta: f64) -> Self {
        self.early_refresh = Some(beta);
        self
    }
}
