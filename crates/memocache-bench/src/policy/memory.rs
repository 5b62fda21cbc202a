//! Table 4, memory: live heap bytes per entry of each crate's cache holding `n` entries
//! `u64 -> [u8; 64]` ([`memory`]), read off [`CountingAlloc`](super::CountingAlloc).

use std::collections::HashMap;
use std::num::NonZeroUsize;

use cached::Cached;
use memocache::Cache;

use crate::report::Row;

use super::numbers::{add_ratios, round1};
use super::{live_bytes, ready, MEMOCACHE_POLICIES};

/// Live heap bytes per entry after storing `n` entries `u64 -> [u8; 64]` in a cache of
/// capacity `n`, for each crate. Needs [`CountingAlloc`](super::CountingAlloc) as the global
/// allocator.
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
