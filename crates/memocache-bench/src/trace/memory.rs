//! The in-memory rows: memocache on its embedded store, moka and quick_cache, each with room
//! for every key (they measure coalescing and overhead, not eviction).

use std::sync::Arc;

use memocache::Cache;

use crate::report::Row;
use crate::zipf::KeyStream;

use super::contenders::{Moka, QuickCache};
use super::{drive, row, Contestant, Loader, Memocache, Params};

/// Runs one in-memory row.
pub async fn run_memory_row(
    contestant: Contestant,
    keys: &KeyStream,
    workers: usize,
    p: &Params,
) -> Row {
    let shared: Arc<[u64]> = keys.keys.clone().into();
    let loader = Arc::new(Loader::new(p.load_time));
    let label = format!("trace {} x{}", contestant.name(), workers);
    // Room for every key: these rows measure coalescing and overhead, not eviction.
    let capacity = p.requests.max(1);
    let m = match contestant {
        Contestant::MemocacheMemory | Contestant::MemocacheMemorySpawned => {
            let cache = Cache::builder()
                .capacity(capacity)
                .spawn_loads(contestant == Contestant::MemocacheMemorySpawned)
                .build()
                .expect("valid options");
            let c = Arc::new(Memocache {
                cache,
                loader: loader.clone(),
            });
            drive(&label, shared, workers, c).await
        }
        Contestant::Moka => {
            let cache = moka::future::Cache::builder()
                .max_capacity(capacity as u64)
                .build();
            let c = Arc::new(Moka {
                cache,
                loader: loader.clone(),
            });
            drive(&label, shared, workers, c).await
        }
        Contestant::QuickCache => {
            let c = Arc::new(QuickCache {
                cache: quick_cache::sync::Cache::new(capacity),
                loader: loader.clone(),
            });
            drive(&label, shared, workers, c).await
        }
        _ => unreachable!("{} is not an in-memory row", contestant.name()),
    };
    row(contestant, keys, workers, p, loader.calls(), &m)
}
