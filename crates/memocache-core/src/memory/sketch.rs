//! TinyLFU's frequency estimate: a count-min sketch of 4-bit counters with periodic halving
//! (Caffeine's `FrequencySketch`), and the optional doorkeeper (a Bloom filter in front of it).
//!
//! Each shard of a W-TinyLFU store owns one sketch, sized to the shard's capacity and used
//! only under the shard's exclusive lock, so nothing here is atomic. As in Caffeine 3, the
//! four counters of a key sit in one 64-byte block (one per quarter of the block's eight
//! words), so counting or estimating a key touches one cache line instead of four. Increments
//! are conservative (only a key's smallest counters grow). After `16 × capacity` additions
//! every counter is halved ("reset"), so the estimate follows a changing workload; the
//! doorkeeper is cleared at the same moment.
//!
//! Hand-written rather than taken from a crate: the sketch must be sized per shard, share the
//! store's hash and be reset together with the doorkeeper; it is 150 lines.

/// One cache line of counters: 8 words of 16 four-bit counters.
#[derive(Clone, Copy, Default)]
#[repr(C, align(64))]
struct Block([u64; 8]);

/// Smallest capacity a sketch is sized for: small shards get more counters than entries
/// (fewer collisions between the many keys a small cache sees), 2 KiB.
const MIN_CAPACITY: usize = 256;
/// Additions between two halvings, per entry of capacity. Caffeine uses 10; at 10, a key at
/// the boundary of a Zipf-distributed cache's content is counted about once per period, so
/// admission duels near the boundary are mostly ties; 16 measured +0.3 to +0.9 point of hit
/// ratio on Zipf streams (0.9 ≤ s ≤ 1.1, 0.5–25 % of the keys) and on a scan-polluted one.
/// Keys counted more than 15 times saturate, which only hides differences among keys the
/// cache keeps anyway.
const SAMPLE_PER_ENTRY: u64 = 16;
/// Counters saturate at 15.
const MAX_COUNT: u64 = 15;
/// Halve each 4-bit counter of a word at once.
const RESET_MASK: u64 = 0x7777_7777_7777_7777;

/// Re-mixes a hash so the sketch's rows do not correlate with the store's shard choice.
#[inline]
fn rehash(h: u64) -> u64 {
    let h = (h ^ (h >> 33)).wrapping_mul(0xff51_afd7_ed55_8ccd);
    let h = (h ^ (h >> 33)).wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// A Bloom filter of one bit per expected entry times eight, probed twice.
struct Doorkeeper {
    bits: Box<[u64]>,
    mask: u64,
}

impl Doorkeeper {
    fn new(capacity: usize) -> Self {
        let bits = (capacity.max(8) * 8).next_power_of_two();
        Doorkeeper {
            bits: vec![0; bits / 64].into_boxed_slice(),
            mask: bits as u64 - 1,
        }
    }

    #[inline]
    fn probes(&self, h: u64) -> [u64; 2] {
        [h & self.mask, (h >> 32 ^ h.rotate_left(17)) & self.mask]
    }

    fn contains(&self, h: u64) -> bool {
        self.probes(h)
            .iter()
            .all(|&b| self.bits[(b >> 6) as usize] & (1 << (b & 63)) != 0)
    }

    /// Sets the bits of `h`; `true` if they were all set already.
    fn insert(&mut self, h: u64) -> bool {
        let mut present = true;
        for b in self.probes(h) {
            let (word, bit) = ((b >> 6) as usize, 1u64 << (b & 63));
            present &= self.bits[word] & bit != 0;
            self.bits[word] |= bit;
        }
        present
    }

    fn clear(&mut self) {
        self.bits.fill(0);
    }
}

/// A count-min sketch estimating how often each key hash was seen recently.
pub(crate) struct FrequencySketch {
    table: Box<[Block]>,
    mask: u64,
    additions: u32,
    sample_size: u32,
    doorkeeper: Option<Doorkeeper>,
}

impl FrequencySketch {
    /// A sketch for a shard holding about `capacity` entries.
    /// Small shards get the sketch of a [`MIN_CAPACITY`]-entry one (moka uses 128): with fewer
    /// counters and a sample of a few hundred additions, frequencies are halved before they
    /// mean anything.
    pub(crate) fn new(capacity: usize, doorkeeper: bool) -> Self {
        let capacity = capacity.max(MIN_CAPACITY);
        // One word (16 counters) per entry, as before blocks: 8 entries per block.
        let blocks = (capacity.min(1 << 30).next_power_of_two() / 8).max(1);
        FrequencySketch {
            table: vec![Block::default(); blocks].into_boxed_slice(),
            mask: blocks as u64 - 1,
            additions: 0,
            sample_size: (capacity as u64 * SAMPLE_PER_ENTRY).min(u32::MAX as u64) as u32,
            doorkeeper: doorkeeper.then(|| Doorkeeper::new(capacity)),
        }
    }

    /// Additions after which the counters are halved.
    #[cfg(test)]
    pub(crate) fn sample_size(&self) -> u32 {
        self.sample_size
    }

    /// The block of `h` and, for each of the four rows, the word (two candidates per row,
    /// in its quarter of the block) and the bit shift of the key's counter.
    #[inline]
    fn slots(&self, h: u64) -> (usize, [(usize, u32); 4]) {
        let block = (h & self.mask) as usize;
        let c = (h >> 32 ^ h).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32;
        let slots = std::array::from_fn(|row| {
            let x = (c >> (row * 8)) as u32;
            let word = (row << 1) | (x & 1) as usize;
            let shift = ((x >> 1) & 15) << 2;
            (word, shift)
        });
        (block, slots)
    }

    /// The estimated frequency of `hash` (0 to 15, plus 1 if the doorkeeper knows it).
    pub(crate) fn frequency(&self, hash: u64) -> u8 {
        let h = rehash(hash);
        let (block, slots) = self.slots(h);
        let words = &self.table[block].0;
        let mut freq = MAX_COUNT;
        for (word, shift) in slots {
            freq = freq.min((words[word & 7] >> shift) & MAX_COUNT);
        }
        let door = self.doorkeeper.as_ref().is_some_and(|d| d.contains(h));
        freq as u8 + u8::from(door)
    }

    /// Counts one occurrence of `hash`.
    pub(crate) fn increment(&mut self, hash: u64) {
        let h = rehash(hash);
        if let Some(door) = &mut self.doorkeeper {
            if !door.insert(h) {
                // First sighting since the last reset: only the doorkeeper remembers it.
                return;
            }
        }
        let (block, slots) = self.slots(h);
        let words = &mut self.table[block].0;
        // Conservative update: only the counters at the key's current minimum grow (the others
        // already over-count it through collisions), which keeps estimates of rare keys low.
        // (`word & 7`: a block has 8 words, which lets the compiler drop the bounds checks.)
        let counts = slots.map(|(word, shift)| (words[word & 7] >> shift) & MAX_COUNT);
        let min = counts[0].min(counts[1]).min(counts[2].min(counts[3]));
        if min == MAX_COUNT {
            return;
        }
        for ((word, shift), count) in slots.into_iter().zip(counts) {
            if count == min {
                words[word & 7] += 1 << shift;
            }
        }
        self.additions += 1;
        if self.additions >= self.sample_size {
            self.reset();
        }
    }

    /// Halves every counter and clears the doorkeeper.
    fn reset(&mut self) {
        for w in self.table.iter_mut().flat_map(|b| b.0.iter_mut()) {
            *w = (*w >> 1) & RESET_MASK;
        }
        self.additions /= 2;
        if let Some(door) = &mut self.doorkeeper {
            door.clear();
        }
    }

    /// Grows the sketch to hold about `entries` (Caffeine's `ensureCapacity`) when they are
    /// more than it was sized for, at least doubling it; the counts start over. A shard whose
    /// entries have weights cannot size its sketch from its capacity (in weight units, a
    /// 64 MiB capacity would mean a sketch for 64 Mi entries), so it starts at the minimum
    /// and grows with its entry count.
    pub(crate) fn ensure_capacity(&mut self, entries: usize) {
        if entries > self.table.len() * 8 {
            let doorkeeper = self.doorkeeper.is_some();
            *self = FrequencySketch::new(entries.max(self.table.len() * 16), doorkeeper);
        }
    }

    /// Bytes held by the tables.
    #[cfg(test)]
    pub(crate) fn heap_bytes(&self) -> usize {
        std::mem::size_of_val(&*self.table)
            + self.doorkeeper.as_ref().map_or(0, |d| d.bits.len() * 8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_saturate_and_halve() {
        let mut s = FrequencySketch::new(64, false);
        for _ in 0..20 {
            s.increment(42);
        }
        assert_eq!(s.frequency(42), 15);
        assert_eq!(s.frequency(43), 0);
        s.reset();
        assert_eq!(s.frequency(42), 7);
    }

    #[test]
    fn resets_after_the_sample() {
        let mut s = FrequencySketch::new(MIN_CAPACITY, false);
        for _ in 0..5 {
            s.increment(7);
        }
        assert_eq!(s.frequency(7), 5);
        // 160 distinct additions trigger a reset.
        for k in 1_000..1_000 + u64::from(s.sample_size()) {
            s.increment(k);
        }
        assert!(s.frequency(7) < 5, "halved, got {}", s.frequency(7));
    }

    #[test]
    fn doorkeeper_absorbs_the_first_sighting() {
        let mut s = FrequencySketch::new(64, true);
        s.increment(9);
        assert_eq!(s.frequency(9), 1, "known to the doorkeeper only");
        s.increment(9);
        assert_eq!(s.frequency(9), 2);
        assert_eq!(s.frequency(10), 0);
        assert!(s.heap_bytes() > 64 * 8);
    }

    #[test]
    fn estimates_are_close_for_many_keys() {
        let mut s = FrequencySketch::new(1024, false);
        for k in 0..1024u64 {
            for _ in 0..(k % 8) {
                s.increment(k.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            }
        }
        let mut over = 0;
        for k in 0..1024u64 {
            let f = s.frequency(k.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            assert!(u64::from(f) >= k % 8, "count-min never underestimates");
            over += u64::from(f) - k % 8;
        }
        assert!(over < 200, "overestimate {over}");
    }
}
