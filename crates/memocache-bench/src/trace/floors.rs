//! The floors and replays printed beside the Redis rows (`trace-floor` rows): the misses of a
//! `tier_capacity`-entry tier on the trace's request sequence under Bélády's optimal policy
//! (the floor of that tier's Redis reads), A0 with hindsight frequencies (the floor of any
//! online policy on this independent-request trace), LRU and exact least-recently-updated, and of
//! memocache's own stores ([`REPLAYED`]) replaying it one request at a time.

use memocache::{Cache, EvictionPolicy};

use crate::floor::{belady_misses, hindsight_a0_misses, lru_misses, lru_update_misses};
use crate::report::Row;
use crate::zipf::KeyStream;

use super::{TIER_POLICY, TIER_POLICY_NAME};

/// The policies replayed beside the floors, with their names in result rows: the tier's, and
/// the default (least-recently-updated, beside its exact single-list `lru-update` floor).
pub const REPLAYED: [(&str, EvictionPolicy); 2] = [
    (TIER_POLICY_NAME, TIER_POLICY),
    ("lru-update", EvictionPolicy::LeastRecentlyUpdated),
];

/// A `trace-floor` row: the misses of `imp` with `capacity` entries on `keys`.
fn floor_row(keys: &KeyStream, capacity: usize, imp: &str, misses: u64) -> Row {
    Row::new("trace-floor", imp)
        .field("capacity", capacity as u64)
        .field("requests", keys.keys.len() as u64)
        .field("distinct_keys", keys.distinct as u64)
        .field("misses", misses)
}

/// The misses of a `capacity`-entry tier on this key sequence under Bélády's policy (the
/// floor), A0 with hindsight frequencies (the floor of any online policy on independent
/// requests), LRU and exact least-recently-updated (the single list memocache's sharded default
/// approximates).
pub fn floor_rows(keys: &KeyStream, capacity: usize) -> Vec<Row> {
    let floor = |imp: &str, misses: u64| floor_row(keys, capacity, imp, misses);
    vec![
        floor("belady", belady_misses(&keys.keys, capacity)),
        floor("a0-hindsight", hindsight_a0_misses(&keys.keys, capacity)),
        floor("lru", lru_misses(&keys.keys, capacity)),
        floor("lru-update", lru_update_misses(&keys.keys, capacity)),
    ]
}

/// Misses of memocache's own in-memory store with `capacity` entries and `policy` when the
/// sequence is replayed one request at a time (`get`, then `insert` on a miss): the policy's
/// hit ratio on this trace without concurrency, beside the Bélády and LRU floors.
pub async fn replay_misses(keys: &[u64], capacity: usize, policy: EvictionPolicy) -> u64 {
    let cache: Cache<u64, u64> = Cache::builder()
        .capacity(capacity)
        .eviction_policy(policy)
        // A fixed seed, as the policy tables use: the same misses in every run.
        .hasher_seed(crate::policy::SEED)
        .build()
        .expect("valid options");
    let mut misses = 0;
    for &k in keys {
        if cache.get(&k).await.is_none() {
            misses += 1;
            cache.insert(k, k).await;
        }
    }
    misses
}

/// The [`floor_rows`], then a `memocache-<policy> (replay)` row of [`replay_misses`] for each
/// of the [`REPLAYED`] policies.
pub(super) async fn floor_and_replay_rows(keys: &KeyStream, capacity: usize) -> Vec<Row> {
    let mut rows = floor_rows(keys, capacity);
    for (name, policy) in REPLAYED {
        let replayed = replay_misses(&keys.keys, capacity, policy).await;
        rows.push(floor_row(
            keys,
            capacity,
            &format!("memocache-{name} (replay)"),
            replayed,
        ));
    }
    rows
}
