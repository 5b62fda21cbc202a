//! A miniature W-TinyLFU cache for the hill climber: the real policy's queues ([`Queues`])
//! run over key hashes alone, at a fixed window share, on a sample of the keys.
//!
//! Sampling keys by hash (every access to a sampled key, none to the others) and scaling the
//! capacity by the same rate gives a cache whose hit rate follows the full one's (spatial
//! sampling: Waldspurger et al., "Cache Modeling and Optimization using Miniature
//! Simulations", USENIX ATC '17). The climber runs one per candidate window share on the
//! same sample, so their hit rates differ by the window alone; they see one stream, so they
//! share one frequency sketch, which the caller counts each access in first.

use hashbrown::HashTable;

use crate::memory::list::{Linked, NIL};
use crate::memory::sketch::FrequencySketch;

use super::tinylfu::Queues;

/// One simulated entry: its key's hash, its weight and its links in the policy's queues.
struct Node {
    hash: u64,
    links: [u32; 2],
    weight: u32,
    queue: u8,
}

impl Linked for Node {
    #[inline]
    fn links(&self, _list: usize) -> [u32; 2] {
        self.links
    }
    #[inline]
    fn links_mut(&mut self, _list: usize) -> &mut [u32; 2] {
        &mut self.links
    }
    #[inline]
    fn weight(&self) -> u32 {
        self.weight
    }
    #[inline]
    fn queue(&self) -> u8 {
        self.queue
    }
    #[inline]
    fn set_queue(&mut self, queue: u8) {
        self.queue = queue;
    }
}

/// A W-TinyLFU cache of key hashes (see the module docs).
pub(crate) struct Mini {
    policy: Queues,
    table: HashTable<u32>,
    nodes: Vec<Node>,
    free: Vec<u32>,
    /// Entries inserted with a known weight, and their total weight (for those without).
    weighed: u64,
    weighed_total: u64,
}

impl Mini {
    /// A cache of `capacity` weight units with the window at `fraction` of it.
    pub(crate) fn new(capacity: u64, fraction: f64) -> Self {
        // Room for the entries of an unweighted cache of this capacity, up to a few thousand
        // (a weighted one's capacity is in its own units; the table grows as needed).
        let entries = capacity.min(4_096) as usize;
        let mut policy = Queues::new(capacity);
        policy.set_window_fraction(fraction);
        Mini {
            policy,
            table: HashTable::with_capacity(entries + 1),
            nodes: Vec::with_capacity(entries + 1),
            free: Vec::new(),
            weighed: 0,
            weighed_total: 0,
        }
    }

    /// One access to the key with `hash` (an entry of `weight` when it is new; 0: not known,
    /// taken as the mean weight seen), already counted in `sketch`: whether it was a hit. A
    /// miss inserts the key and evicts as the real shard does.
    pub(crate) fn access(&mut self, sketch: &FrequencySketch, hash: u64, weight: u32) -> bool {
        let nodes = &self.nodes;
        if let Some(&i) = self.table.find(hash, |&i| nodes[i as usize].hash == hash) {
            self.policy.reposition(&mut self.nodes, i);
            return true;
        }
        let weight = if weight > 0 {
            self.weighed += 1;
            self.weighed_total += u64::from(weight);
            weight
        } else {
            (self.weighed_total / self.weighed.max(1)).clamp(1, u64::from(u32::MAX)) as u32
        };
        let node = Node {
            hash,
            links: [NIL; 2],
            weight,
            queue: 0,
        };
        let i = match self.free.pop() {
            Some(i) => {
                self.nodes[i as usize] = node;
                i
            }
            None => {
                self.nodes.push(node);
                (self.nodes.len() - 1) as u32
            }
        };
        let nodes = &self.nodes;
        self.table
            .insert_unique(hash, i, |&x| nodes[x as usize].hash);
        self.policy.on_insert(&mut self.nodes, i);
        while self.policy.weight() > self.policy.capacity() {
            let nodes = &self.nodes;
            let Some(v) = self.policy.victim(sketch, |x| nodes[x as usize].hash) else {
                break;
            };
            self.remove(v);
        }
        self.policy.end_eviction();
        false
    }

    fn remove(&mut self, i: u32) {
        self.policy.on_remove(&mut self.nodes, i);
        let hash = self.nodes[i as usize].hash;
        if let Ok(entry) = self.table.find_entry(hash, |&x| x == i) {
            entry.remove();
        }
        self.free.push(i);
    }

    /// Entries held.
    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cache and its sketch, accessed as the climber does (count, then access).
    struct Sim(Mini, FrequencySketch);

    impl Sim {
        fn new(capacity: u64, fraction: f64) -> Self {
            Sim(
                Mini::new(capacity, fraction),
                FrequencySketch::new(capacity as usize, false),
            )
        }

        fn access(&mut self, hash: u64, weight: u32) -> bool {
            self.1.increment(hash);
            self.0.access(&self.1, hash, weight)
        }
    }

    #[test]
    fn a_mini_cache_holds_its_capacity_and_counts_hits() {
        let mut m = Sim::new(10, 0.5);
        for h in 0..10 {
            assert!(!m.access(h, 1));
        }
        assert_eq!(m.0.len(), 10);
        for h in 0..10 {
            assert!(m.access(h, 1), "{h}");
        }
        for h in 10..100 {
            m.access(h, 1);
            assert_eq!(m.0.len(), 10);
        }
        // A heavy entry is weighed: admitted or not, the capacity holds.
        m.access(1_000, 4);
        assert!(m.0.policy.weight() <= 10 && m.0.len() <= 10);
    }

    #[test]
    fn a_mini_lru_keeps_the_recent_keys_and_a_small_window_the_frequent_ones() {
        // Window 100 %: LRU but for main's one entry. Keys 0..5 are hot, then a scan of 100
        // new keys passes.
        let run = |fraction: f64| {
            let mut m = Sim::new(20, fraction);
            for _ in 0..20 {
                for h in 0..5 {
                    m.access(h, 1);
                }
            }
            for h in 100..200 {
                m.access(h, 1);
            }
            (0..5).filter(|&h| m.access(h, 1)).count()
        };
        assert!(run(1.0) <= 1, "LRU lost the hot keys to the scan");
        assert_eq!(run(0.05), 5, "W-TinyLFU kept them");
    }
}
