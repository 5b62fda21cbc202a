//! cacheme's doorkeeper: a Bloom filter that admits a key to storage only the second time it
//! is loaded. (Hand-written: the Bloom filter crates take `&mut self` to insert; this one is a
//! few atomic bit sets shared by every load, reset when it fills up.)

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

/// Remembers which keys were seen once.
pub(crate) struct Doorkeeper {
    bits: Box<[AtomicU64]>,
    hasher: RandomState,
    inserted: AtomicUsize,
    capacity: usize,
}

impl Doorkeeper {
    /// A filter for about `capacity` keys (8 bits per key, 3 probes: ~3 % false positives).
    pub(crate) fn new(capacity: usize) -> Self {
        let words = (capacity.max(64) * 8).div_ceil(64).next_power_of_two();
        Doorkeeper {
            bits: (0..words).map(|_| AtomicU64::new(0)).collect(),
            hasher: RandomState::new(),
            inserted: AtomicUsize::new(0),
            capacity: capacity.max(64),
        }
    }

    /// Whether `key` was seen before; records it if not. The filter is cleared once it holds
    /// `capacity` keys, so it keeps telling recent keys apart.
    pub(crate) fn admit<K: Hash>(&self, key: &K) -> bool {
        let h = self.hasher.hash_one(key);
        let mask = (self.bits.len() * 64 - 1) as u64;
        let mut seen = true;
        for i in 0..3u32 {
            let bit = h.rotate_left(i * 21) & mask;
            let word = &self.bits[(bit / 64) as usize];
            let flag = 1u64 << (bit % 64);
            if word.fetch_or(flag, Relaxed) & flag == 0 {
                seen = false;
            }
        }
        if !seen && self.inserted.fetch_add(1, Relaxed) + 1 >= self.capacity {
            self.inserted.store(0, Relaxed);
            for w in self.bits.iter() {
                w.store(0, Relaxed);
            }
        }
        seen
    }
}

#[cfg(test)]
mod tests {
    use super::Doorkeeper;

    #[test]
    fn a_key_is_admitted_the_second_time() {
        let door = Doorkeeper::new(1_000);
        assert!(!door.admit(&"a"));
        assert!(door.admit(&"a"));
        let fresh = (0..500).filter(|i| !door.admit(&(i + 10_000))).count();
        assert!(fresh > 450, "few false positives: {fresh}");
    }
}
