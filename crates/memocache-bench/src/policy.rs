//! The in-memory policy scenario (`memocache-bench policy`): memocache's store next to moka
//! (`future::Cache`), quick_cache (`sync::Cache`, with its async guard API for the
//! get-or-load path), cached (`SizedCache` behind a `Mutex`, as its macros use it), the `lru`
//! crate and a `Mutex<HashMap>`, in one run, on one machine:
//!
//! 1. **hit latency**: 1 thread, 100k resident keys, ns per `get` and per get-or-load hit;
//! 2. **hit throughput**: 2 threads, keys from Zipf(1.0) over 1M keys, capacity 100k, a `get`
//!    then an `insert` on a miss: operations per second;
//! 3. **hit ratio**: pingora TinyUFO's `bench_hit_ratio` settings — 10,000 items, 5,000,000
//!    lookups from `rand_distr::Zipf::new(10_000.0, s)` (rand_distr 0.5 takes `n` as a float and
//!    samples floats in `1..=n`), insert on a miss, s ∈ {0.9, 1.0, 1.05, 1.1, 1.5} × cache size ∈
//!    {0.5 %, 1 %, 5 %, 10 %, 25 %} of the items — every cache fed the same key in the same
//!    loop; plus a scan-polluted stream and two recency-biased ones (see [`Variant`]). Beside
//!    memocache's sharded least-recently-updated store runs an exact single-list one
//!    ([`LruUpdateExact`]), so the cost of evicting per shard is read off the same cell;
//! 4. **memory**: live heap bytes per entry for 1M `u64 -> [u8; 64]` entries, counted by
//!    [`CountingAlloc`] (the runner's global allocator).
//!
//! memocache is driven through its public async API (`Cache::get`, `get_or_load`, `insert`),
//! i.e. through the real sharded store, read buffer and timer wheel. Every async call of every
//! crate is polled by the same busy-polling executor ([`ready`]), so no runtime overhead is
//! measured for anyone.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::hint::black_box;
use std::num::NonZeroUsize;
use std::pin::pin;
use std::sync::atomic::{AtomicIsize, Ordering::Relaxed};
use std::sync::{Barrier, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use cached::Cached;
use memocache::{Cache, EvictionPolicy};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Zipf};

use crate::report::Row;
use crate::Opts;

// ---------------------------------------------------------------------------------------------
// Heap accounting

static LIVE: AtomicIsize = AtomicIsize::new(0);

/// The system allocator, counting live heap bytes (one relaxed atomic add per allocation).
/// The runner installs it as its global allocator so table 4 can read [`live_bytes`].
#[derive(Debug, Clone, Copy, Default)]
pub struct CountingAlloc;

// SAFETY: every call is forwarded unchanged to `System`; the counter only observes sizes.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            LIVE.fetch_add(layout.size() as isize, Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(layout);
        if !p.is_null() {
            LIVE.fetch_add(layout.size() as isize, Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        LIVE.fetch_sub(layout.size() as isize, Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            LIVE.fetch_add(new_size as isize - layout.size() as isize, Relaxed);
        }
        p
    }
}

/// Live heap bytes counted by [`CountingAlloc`] (0 when it is not the global allocator).
pub fn live_bytes() -> isize {
    LIVE.load(Relaxed)
}

// ---------------------------------------------------------------------------------------------
// The caches under test

/// Polls `fut` to completion on the current thread, spinning while it is pending: the same
/// zero-overhead executor for every crate's async API. Always inlined, so the future is built
/// where it is polled, as in an `async fn` awaiting it: called out of line, moving the
/// just-written future into this frame stalled on store forwarding, adding ~30 ns to every
/// async call measured (memocache's and moka's alike).
#[inline(always)]
pub fn ready<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(futures_util::task::noop_waker_ref());
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        std::hint::spin_loop();
    }
}

/// A cache of `u64 -> u64` as the scenarios use it.
pub trait Subject: Send + Sync {
    /// The value of `k`, if cached.
    fn get(&self, k: u64) -> Option<u64>;
    /// The crate's get-or-load path (loading `k` itself on a miss).
    fn get_or_load(&self, k: u64) -> u64;
    /// Stores `v` for `k`.
    fn insert(&self, k: u64, v: u64);
}

/// memocache's policies in the benchmarks, with their `impl` names.
pub const MEMOCACHE_POLICIES: [(&str, EvictionPolicy); 4] = [
    ("memocache-lru-update", EvictionPolicy::LeastRecentlyUpdated),
    ("memocache-lru", EvictionPolicy::Lru),
    ("memocache-wtinylfu", EvictionPolicy::W_TINY_LFU),
    (
        "memocache-wtinylfu-doorkeeper",
        EvictionPolicy::WTinyLfu { doorkeeper: true },
    ),
];

/// A memocache `Cache` of `capacity` entries with `policy`.
pub fn memocache(capacity: usize, policy: EvictionPolicy) -> Cache<u64, u64> {
    Cache::builder()
        .capacity(capacity)
        .eviction_policy(policy)
        .update_after(Duration::from_secs(3_600))
        .expire_after(Duration::from_secs(3_600))
        .build()
        .expect("valid options")
}

/// The default policy with no expiry, configured like the anchors of tables 1 and 2 (which
/// are built without one): its entries never go stale, so a hit reads no clock.
pub fn memocache_without_expiry(capacity: usize) -> Cache<u64, u64> {
    Cache::builder()
        .capacity(capacity)
        .update_after(Duration::MAX)
        .expire_after(Duration::MAX)
        .build()
        .expect("valid options")
}

/// The `impl` name of [`memocache_without_expiry`] in tables 1 and 2.
pub const NO_EXPIRY: &str = "memocache-lru-update-no-expiry";

impl Subject for Cache<u64, u64> {
    #[inline]
    fn get(&self, k: u64) -> Option<u64> {
        ready(Cache::get(self, &k))
    }
    #[inline]
    fn get_or_load(&self, k: u64) -> u64 {
        ready(Cache::get_or_load(self, k, move || async move {
            Ok::<_, Infallible>(k)
        }))
        .expect("the loader cannot fail")
    }
    #[inline]
    fn insert(&self, k: u64, v: u64) {
        ready(Cache::insert(self, k, v))
    }
}

impl Subject for moka::future::Cache<u64, u64> {
    #[inline]
    fn get(&self, k: u64) -> Option<u64> {
        ready(moka::future::Cache::get(self, &k))
    }
    #[inline]
    fn get_or_load(&self, k: u64) -> u64 {
        ready(self.get_with(k, async move { k }))
    }
    #[inline]
    fn insert(&self, k: u64, v: u64) {
        ready(moka::future::Cache::insert(self, k, v))
    }
}

impl Subject for quick_cache::sync::Cache<u64, u64> {
    #[inline]
    fn get(&self, k: u64) -> Option<u64> {
        quick_cache::sync::Cache::get(self, &k)
    }
    #[inline]
    fn get_or_load(&self, k: u64) -> u64 {
        match ready(self.get_value_or_guard_async(&k)) {
            Ok(v) => v,
            Err(guard) => {
                let _ = guard.insert(k);
                k
            }
        }
    }
    #[inline]
    fn insert(&self, k: u64, v: u64) {
        quick_cache::sync::Cache::insert(self, k, v)
    }
}

/// The `lru` crate behind a mutex.
pub struct LruCrate(Mutex<lru::LruCache<u64, u64>>);

impl LruCrate {
    /// An LRU of `capacity` entries.
    pub fn new(capacity: usize) -> Self {
        LruCrate(Mutex::new(lru::LruCache::new(
            NonZeroUsize::new(capacity.max(1)).expect("non-zero"),
        )))
    }
}

impl Subject for LruCrate {
    fn get(&self, k: u64) -> Option<u64> {
        self.0.lock().unwrap().get(&k).copied()
    }
    fn get_or_load(&self, k: u64) -> u64 {
        *self.0.lock().unwrap().get_or_insert(k, || k)
    }
    fn insert(&self, k: u64, v: u64) {
        self.0.lock().unwrap().put(k, v);
    }
}

/// Exact least-recently-updated with one list: the `lru` crate behind a mutex, read with
/// `peek` (no reordering) and written with `put` (the key becomes the most recent). The
/// reference for `memocache-lru-update` in table 3, whose store keeps one such list per shard
/// and evicts the oldest entry of the shard being written, not of the whole cache.
pub struct LruUpdateExact(Mutex<lru::LruCache<u64, u64>>);

/// The `impl` name of [`LruUpdateExact`] in table 3.
pub const LRU_UPDATE_EXACT: &str = "lru-update-exact";

impl LruUpdateExact {
    /// A least-recently-updated cache of `capacity` entries.
    pub fn new(capacity: usize) -> Self {
        LruUpdateExact(Mutex::new(lru::LruCache::new(
            NonZeroUsize::new(capacity.max(1)).expect("non-zero"),
        )))
    }
}

impl Subject for LruUpdateExact {
    fn get(&self, k: u64) -> Option<u64> {
        self.0.lock().unwrap().peek(&k).copied()
    }
    fn get_or_load(&self, k: u64) -> u64 {
        let mut lru = self.0.lock().unwrap();
        match lru.peek(&k) {
            Some(&v) => v,
            None => {
                lru.put(k, k);
                k
            }
        }
    }
    fn insert(&self, k: u64, v: u64) {
        self.0.lock().unwrap().put(k, v);
    }
}

/// cached's `SizedCache` (LRU) behind a mutex, as its `#[cached(size = ...)]` uses it.
pub struct CachedCrate(Mutex<cached::SizedCache<u64, u64>>);

impl CachedCrate {
    /// A `SizedCache` of `capacity` entries.
    pub fn new(capacity: usize) -> Self {
        CachedCrate(Mutex::new(cached::SizedCache::with_size(capacity.max(1))))
    }
}

impl Subject for CachedCrate {
    fn get(&self, k: u64) -> Option<u64> {
        self.0.lock().unwrap().cache_get(&k).copied()
    }
    fn get_or_load(&self, k: u64) -> u64 {
        *self.0.lock().unwrap().cache_get_or_set_with(k, || k)
    }
    fn insert(&self, k: u64, v: u64) {
        self.0.lock().unwrap().cache_set(k, v);
    }
}

/// A `Mutex<HashMap>` with std's hasher: unbounded, no eviction.
#[derive(Default)]
pub struct MutexMap(Mutex<HashMap<u64, u64>>);

impl Subject for MutexMap {
    fn get(&self, k: u64) -> Option<u64> {
        self.0.lock().unwrap().get(&k).copied()
    }
    fn get_or_load(&self, k: u64) -> u64 {
        *self.0.lock().unwrap().entry(k).or_insert(k)
    }
    fn insert(&self, k: u64, v: u64) {
        self.0.lock().unwrap().insert(k, v);
    }
}

/// Every cache of tables 1 and 2 with `capacity`, named.
pub fn all_subjects(capacity: usize) -> Vec<(String, Box<dyn Subject>)> {
    let mut out: Vec<(String, Box<dyn Subject>)> = MEMOCACHE_POLICIES
        .iter()
        .map(|&(name, p)| {
            (
                name.to_string(),
                Box::new(memocache(capacity, p)) as Box<dyn Subject>,
            )
        })
        .collect();
    out.push((
        NO_EXPIRY.into(),
        Box::new(memocache_without_expiry(capacity)),
    ));
    out.push((
        "moka".into(),
        Box::new(moka::future::Cache::new(capacity as u64)),
    ));
    out.push((
        "quick_cache".into(),
        Box::new(quick_cache::sync::Cache::new(capacity)),
    ));
    out.push(("cached".into(), Box::new(CachedCrate::new(capacity))));
    out.push(("lru".into(), Box::new(LruCrate::new(capacity))));
    out.push(("mutex-hashmap".into(), Box::new(MutexMap::default())));
    out
}

// ---------------------------------------------------------------------------------------------
// Table 1: hit latency

/// A shuffled permutation of `0..n`.
fn shuffled(n: u64, seed: u64) -> Vec<u64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut keys: Vec<u64> = (0..n).collect();
    for i in (1..keys.len()).rev() {
        keys.swap(i, rng.random_range(0..=i));
    }
    keys
}

/// Nanoseconds per call of `op` over `keys`, cycling: the best of `reps` runs of `ops` calls.
fn ns_per_op(keys: &[u64], ops: usize, reps: usize, op: impl Fn(u64)) -> f64 {
    (0..reps)
        .map(|_| {
            let start = Instant::now();
            for i in 0..ops {
                op(keys[i % keys.len()]);
            }
            start.elapsed().as_nanos() as f64 / ops as f64
        })
        .fold(f64::INFINITY, f64::min)
}

/// Table 1: ns per hit, one thread, `resident` keys all present (capacity twice that, so no
/// sharded cache evicts any).
pub fn hit_latency(resident: u64, ops: usize) -> Vec<Row> {
    let keys = shuffled(resident, 1);
    let mut rows = Vec::new();
    for (name, s) in all_subjects(2 * resident as usize) {
        for &k in &keys {
            s.insert(k, k);
        }
        let hits = keys.iter().filter(|&&k| s.get(k) == Some(k)).count();
        let get = ns_per_op(&keys, ops, 3, |k| {
            black_box(s.get(black_box(k)));
        });
        let gol = ns_per_op(&keys, ops, 3, |k| {
            black_box(s.get_or_load(black_box(k)));
        });
        rows.push(
            Row::new("hit_latency", &name)
                .field("resident", resident)
                .field("hit_ratio", round4(hits as f64 / keys.len() as f64))
                .field("get_ns", round1(get))
                .field("get_or_load_ns", round1(gol)),
        );
    }
    add_ratios(&mut rows, &["get_ns", "get_or_load_ns"]);
    rows
}

// ---------------------------------------------------------------------------------------------
// Table 2: throughput

/// Table 2: `threads` threads, each `ops` operations (`get`, then `insert` on a miss) on keys
/// drawn from Zipf(1.0) over `keys` keys, capacity `capacity`; after an untimed warm-up pass.
pub fn throughput(threads: usize, keys: u64, capacity: usize, ops: usize) -> Vec<Row> {
    let zipf = Zipf::new(keys as f64, 1.0).expect("valid Zipf");
    let streams: Vec<Vec<u64>> = (0..threads)
        .map(|t| {
            let mut rng = ChaCha8Rng::seed_from_u64(100 + t as u64);
            (0..ops).map(|_| zipf.sample(&mut rng) as u64).collect()
        })
        .collect();
    let mut rows = Vec::new();
    for (name, s) in all_subjects(capacity) {
        let run = |timed: bool| -> (Duration, u64) {
            let barrier = Barrier::new(threads);
            let results: Vec<(Duration, u64)> = std::thread::scope(|scope| {
                let handles: Vec<_> = streams
                    .iter()
                    .map(|stream| {
                        let (s, barrier) = (&s, &barrier);
                        scope.spawn(move || {
                            let stream = if timed {
                                &stream[..]
                            } else {
                                &stream[..stream.len() / 4]
                            };
                            barrier.wait();
                            let start = Instant::now();
                            let mut hits = 0u64;
                            for &k in stream {
                                if s.get(k).is_some() {
                                    hits += 1;
                                } else {
                                    s.insert(k, k);
                                }
                            }
                            (start.elapsed(), hits)
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().expect("bench thread"))
                    .collect()
            });
            let wall = results.iter().map(|r| r.0).max().unwrap_or_default();
            (wall, results.iter().map(|r| r.1).sum())
        };
        run(false);
        let (wall, hits) = run(true);
        let total = (threads * ops) as f64;
        rows.push(
            Row::new("throughput", &name)
                .field("threads", threads as u64)
                .field("capacity", capacity as u64)
                .field("hit_ratio", round4(hits as f64 / total))
                .field("mops_per_s", round2(total / wall.as_secs_f64() / 1e6)),
        );
    }
    add_ratios(&mut rows, &["mops_per_s"]);
    rows
}

// ---------------------------------------------------------------------------------------------
// Table 3: hit ratio

/// TinyUFO's `bench_hit_ratio` settings.
pub const ITEMS: u64 = 10_000;
/// Lookups per cell.
pub const LOOKUPS: usize = 5_000_000;
/// Zipf exponents of the grid.
pub const EXPONENTS: [f64; 5] = [0.9, 1.0, 1.05, 1.1, 1.5];
/// Cache sizes of the grid, as shares of `ITEMS`.
pub const SIZES: [f64; 5] = [0.005, 0.01, 0.05, 0.1, 0.25];

/// A key stream of table 3.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Variant {
    /// `Zipf::new(10_000, s)`, TinyUFO's stream.
    Zipf(f64),
    /// The Zipf(1.0) stream, interrupted after every 45,000 lookups by a scan of 5,000
    /// sequential keys never seen before or again (10 % of the lookups; 2× the largest cache).
    Scan,
    /// A loop over `1.2 × capacity` distinct keys (LRU's worst case).
    Loop,
    /// Recency-biased: every fourth lookup is a new key, the others repeat one of the last
    /// `capacity / 2` keys (uniformly); no key is used after it leaves that window.
    ShortReuse,
}

impl Variant {
    fn scenario(self) -> &'static str {
        match self {
            Variant::Zipf(_) => "hit_ratio",
            Variant::Scan => "hit_ratio_scan",
            Variant::Loop => "hit_ratio_loop",
            Variant::ShortReuse => "hit_ratio_short_reuse",
        }
    }

    /// The key stream for a cache of `capacity` entries.
    pub fn keys(self, capacity: usize, lookups: usize) -> Box<dyn Iterator<Item = u64>> {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        match self {
            Variant::Zipf(s) => {
                let zipf = Zipf::new(ITEMS as f64, s).expect("valid Zipf");
                Box::new((0..lookups).map(move |_| zipf.sample(&mut rng) as u64))
            }
            Variant::Scan => {
                let zipf = Zipf::new(ITEMS as f64, 1.0).expect("valid Zipf");
                let mut fresh = 1_000_000_000u64;
                Box::new((0..lookups).map(move |i| {
                    if i % 50_000 >= 45_000 {
                        fresh += 1;
                        fresh
                    } else {
                        zipf.sample(&mut rng) as u64
                    }
                }))
            }
            Variant::Loop => {
                let n = ((capacity as f64 * 1.2).round() as u64).max(2);
                Box::new((0..lookups as u64).map(move |i| i % n))
            }
            Variant::ShortReuse => {
                let window = (capacity as u64 / 2).max(1);
                Box::new((0..lookups as u64).map(move |i| {
                    let newest = i / 4;
                    if i % 4 == 0 {
                        newest
                    } else {
                        newest.saturating_sub(rng.random_range(0..window))
                    }
                }))
            }
        }
    }
}

/// The caches of table 3, with `capacity`: those of tables 1 and 2 but `cached`, the
/// `Mutex<HashMap>` and the no-expiry row, plus [`LruUpdateExact`] right after
/// `memocache-lru-update`, the policy it is the single-list reference of.
fn ratio_subjects(capacity: usize) -> Vec<(String, Box<dyn Subject>)> {
    let mut out = Vec::new();
    for (name, s) in all_subjects(capacity) {
        if name == "cached" || name == "mutex-hashmap" || name == NO_EXPIRY {
            continue;
        }
        let anchor = name == "memocache-lru-update";
        out.push((name, s));
        if anchor {
            out.push((
                LRU_UPDATE_EXACT.into(),
                Box::new(LruUpdateExact::new(capacity)),
            ));
        }
    }
    out
}

/// Hit ratio of every cache on one stream, all fed the same key in the same loop.
pub fn hit_ratio_cell(variant: Variant, size: f64, lookups: usize) -> Vec<Row> {
    let capacity = (size * ITEMS as f64).round() as usize;
    let subjects = ratio_subjects(capacity);
    let mut hits = vec![0u64; subjects.len()];
    for k in variant.keys(capacity, lookups) {
        for (i, (_, s)) in subjects.iter().enumerate() {
            if s.get(k).is_some() {
                hits[i] += 1;
            } else {
                s.insert(k, k);
            }
        }
    }
    subjects
        .iter()
        .zip(hits)
        .map(|((name, _), h)| {
            let mut row = Row::new(variant.scenario(), name);
            if let Variant::Zipf(s) = variant {
                row = row.field("s", s);
            }
            row.field("size", size)
                .field("hit_ratio", round4(h as f64 / lookups as f64))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Table 4: memory

/// Live heap bytes per entry after storing `n` entries `u64 -> [u8; 64]` in a cache of
/// capacity `n`, for each crate. Needs [`CountingAlloc`] as the global allocator.
pub fn memory(n: u64) -> Vec<Row> {
    fn row(name: &str, before: isize, len: usize) -> Row {
        let bytes = live_bytes() - before;
        Row::new("memory", name)
            .field("entries", len as u64)
            .field("bytes", bytes as i64)
            .field("bytes_per_entry", round1(bytes as f64 / len.max(1) as f64))
    }
    type V = [u8; 64];
    let value = |k: u64| -> V {
        let mut v = [0u8; 64];
        v[..8].copy_from_slice(&k.to_le_bytes());
        v
    };
    let cap = n as usize;
    let mut rows = Vec::new();
    for (name, policy) in MEMOCACHE_POLICIES {
        let before = live_bytes();
        let c: Cache<u64, V> = Cache::builder()
            .capacity(cap)
            .eviction_policy(policy)
            .build()
            .expect("valid options");
        for k in 0..n {
            ready(c.insert(k, value(k)));
        }
        rows.push(row(name, before, c.len()));
    }
    {
        let before = live_bytes();
        let c: moka::future::Cache<u64, V> = moka::future::Cache::new(n);
        for k in 0..n {
            ready(c.insert(k, value(k)));
        }
        ready(c.run_pending_tasks());
        rows.push(row("moka", before, c.entry_count() as usize));
    }
    {
        let before = live_bytes();
        let c: quick_cache::sync::Cache<u64, V> = quick_cache::sync::Cache::new(cap);
        for k in 0..n {
            c.insert(k, value(k));
        }
        rows.push(row("quick_cache", before, c.len()));
    }
    {
        let before = live_bytes();
        let mut c: cached::SizedCache<u64, V> = cached::SizedCache::with_size(cap);
        for k in 0..n {
            c.cache_set(k, value(k));
        }
        rows.push(row("cached", before, c.cache_size()));
    }
    {
        let before = live_bytes();
        let mut c: lru::LruCache<u64, V> =
            lru::LruCache::new(NonZeroUsize::new(cap).expect("n > 0"));
        for k in 0..n {
            c.put(k, value(k));
        }
        rows.push(row("lru", before, c.len()));
    }
    {
        let before = live_bytes();
        let mut c: HashMap<u64, V> = HashMap::new();
        for k in 0..n {
            c.insert(k, value(k));
        }
        rows.push(row("mutex-hashmap", before, c.len()));
    }
    add_ratios(&mut rows, &["bytes_per_entry"]);
    rows
}

// ---------------------------------------------------------------------------------------------
// Reporting

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}
fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}
fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// Adds `<field>_vs_quick_cache` (this row's value over quick_cache's) to every row.
fn add_ratios(rows: &mut [Row], fields: &[&str]) {
    for f in fields {
        let anchor = rows
            .iter()
            .find(|r| r.get("impl").and_then(|v| v.as_str()) == Some("quick_cache"))
            .and_then(|r| r.get(f))
            .and_then(|v| v.as_f64());
        if let Some(a) = anchor.filter(|a| *a > 0.0) {
            for r in rows.iter_mut() {
                if let Some(v) = r.get(f).and_then(|v| v.as_f64()) {
                    *r = r
                        .clone()
                        .field(&format!("{f}_vs_quick_cache"), round2(v / a));
                }
            }
        }
    }
}

/// Renders table 3's rows of one scenario as a grid: one line per cell, one column per
/// implementation, hit ratios in percent.
pub fn grid(rows: &[Row], scenario: &str) -> String {
    let mine: Vec<&Row> = rows
        .iter()
        .filter(|r| r.get("scenario").and_then(|v| v.as_str()) == Some(scenario))
        .collect();
    let mut impls: Vec<&str> = Vec::new();
    let mut cells: Vec<(Option<f64>, f64)> = Vec::new();
    for r in &mine {
        let imp = r.get("impl").and_then(|v| v.as_str()).unwrap_or("");
        if !impls.contains(&imp) {
            impls.push(imp);
        }
        let cell = (
            r.get("s").and_then(|v| v.as_f64()),
            r.get("size").and_then(|v| v.as_f64()).unwrap_or(0.0),
        );
        if !cells.contains(&cell) {
            cells.push(cell);
        }
    }
    if cells.is_empty() {
        return String::new();
    }
    let short = |i: &str| i.replace("memocache-", "mc-");
    let mut out = format!("{scenario} (hit %)\n{:<6} {:>6}", "s", "size");
    for i in &impls {
        out.push_str(&format!(" {:>14}", short(i)));
    }
    out.push('\n');
    for (s, size) in &cells {
        let s_text = s.map_or("-".to_string(), |s| format!("{s}"));
        out.push_str(&format!("{s_text:<6} {:>5}%", size * 100.0));
        for i in &impls {
            let v = mine
                .iter()
                .find(|r| {
                    r.get("impl").and_then(|v| v.as_str()) == Some(*i)
                        && r.get("s").and_then(|v| v.as_f64()) == *s
                        && r.get("size").and_then(|v| v.as_f64()) == Some(*size)
                })
                .and_then(|r| r.get("hit_ratio"))
                .and_then(|v| v.as_f64());
            out.push_str(&match v {
                Some(v) => format!(" {:>14.2}", v * 100.0),
                None => format!(" {:>14}", "-"),
            });
        }
        out.push('\n');
    }
    out
}

/// Which tables `memocache-bench policy` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Table {
    /// 1: hit latency.
    Latency,
    /// 2: hit throughput.
    Throughput,
    /// 3: hit ratio (TinyUFO grid and variants).
    HitRatio,
    /// 4: bytes per entry.
    Memory,
}

/// Arguments of `memocache-bench policy`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Run only these tables (default: all four).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub only: Vec<Table>,
}

/// What `memocache-bench policy` prints: rows (for `--json`) and the text tables.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// One row per cell and implementation.
    pub rows: Vec<Row>,
    /// The tables for people.
    pub text: String,
}

/// Runs the chosen tables. `--quick` divides every operation count by 10 (the hit-ratio grid
/// then no longer has TinyUFO's settings).
pub fn run(args: &Args, opts: &Opts) -> Report {
    let scale = if opts.quick { 10 } else { 1 };
    let want = |t: Table| args.only.is_empty() || args.only.contains(&t);
    let mut report = Report::default();
    let add = |report: &mut Report, rows: Vec<Row>, text: String| {
        report.text.push_str(&text);
        report.text.push('\n');
        report.rows.extend(rows);
    };
    if want(Table::Latency) {
        eprintln!("policy: table 1, hit latency (1 thread, 100k resident keys)");
        let rows = hit_latency(100_000, 3_000_000 / scale);
        let text = crate::report::table(&rows);
        add(&mut report, rows, text);
    }
    if want(Table::Throughput) {
        eprintln!("policy: table 2, throughput (2 threads, Zipf(1.0) over 1M keys, capacity 100k)");
        let rows = throughput(2, 1_000_000, 100_000, 4_000_000 / scale);
        let text = crate::report::table(&rows);
        add(&mut report, rows, text);
    }
    if want(Table::HitRatio) {
        let lookups = LOOKUPS / scale;
        eprintln!("policy: table 3, hit ratio ({ITEMS} items, {lookups} lookups per cell)");
        let mut rows = Vec::new();
        for s in EXPONENTS {
            for size in SIZES {
                rows.extend(hit_ratio_cell(Variant::Zipf(s), size, lookups));
            }
        }
        for v in [Variant::Scan, Variant::Loop, Variant::ShortReuse] {
            for size in SIZES {
                rows.extend(hit_ratio_cell(v, size, lookups));
            }
        }
        let mut text = String::new();
        for scenario in [
            "hit_ratio",
            "hit_ratio_scan",
            "hit_ratio_loop",
            "hit_ratio_short_reuse",
        ] {
            text.push_str(&grid(&rows, scenario));
            text.push('\n');
        }
        add(&mut report, rows, text);
    }
    if want(Table::Memory) {
        eprintln!("policy: table 4, memory (1M u64 -> [u8; 64] entries)");
        let rows = memory(1_000_000 / scale as u64);
        let text = crate::report::table(&rows);
        add(&mut report, rows, text);
    }
    report
}
