//! The read buffer: how hits reach the eviction policy without serialising readers.
//!
//! A hit runs under its shard's *shared* lock, so it cannot reorder the policy's lists. It
//! claims a slot of the shard's buffer with one `fetch_add` and writes the node index there.
//! Whoever holds the shard's *exclusive* lock next (a write, or the reader that filled the
//! buffer and won a `try_write`) applies the recorded hits in order and empties the buffer.
//! Because slots are only written under the shared lock and read under the exclusive one,
//! the lock orders them: a drain sees every record claimed before it, each once, and node
//! indices are still valid (the slab only changes under the exclusive lock, after a drain).
//! A hit that finds the buffer full is dropped (Caffeine's lossy read buffer): single-threaded
//! nothing is ever dropped, because the filling reader drains at once.
//!
//! The code is written once in a macro so the concurrency test runs the very same code over
//! `shuttle`'s atomics and scheduler.

macro_rules! read_buffer {
    ($($atomic:ident)::+) => {
        use $($atomic)::+::{AtomicU32, AtomicUsize, Ordering::Relaxed};

        /// Hits recorded per shard between two drains.
        pub(crate) const SLOTS: usize = 32;

        /// One shard's buffer of recorded hits.
        pub(crate) struct ReadBuffer {
            tail: AtomicUsize,
            slots: [AtomicU32; SLOTS],
        }

        impl ReadBuffer {
            pub(crate) fn new() -> Self {
                ReadBuffer {
                    tail: AtomicUsize::new(0),
                    slots: std::array::from_fn(|_| AtomicU32::new(0)),
                }
            }

            /// Records a hit on `node`; call under the shard's shared lock. `true` when the
            /// buffer is full (this record may have been dropped): the caller should try to
            /// drain.
            #[inline]
            pub(crate) fn push(&self, node: u32) -> bool {
                let i = self.tail.fetch_add(1, Relaxed);
                if i < SLOTS {
                    self.slots[i].store(node, Relaxed);
                    i + 1 == SLOTS
                } else {
                    true
                }
            }

            /// Hands every record to `apply`, oldest first, and empties the buffer; needs the
            /// shard's exclusive lock (hence `&mut`).
            pub(crate) fn drain(&mut self, mut apply: impl FnMut(u32)) {
                let n = self.tail.load(Relaxed).min(SLOTS);
                for slot in &self.slots[..n] {
                    apply(slot.load(Relaxed));
                }
                self.tail.store(0, Relaxed);
            }
        }
    };
}

read_buffer!(crate::sync);

#[cfg(test)]
mod tests {
    /// The same buffer over shuttle's atomics.
    mod shuttled {
        read_buffer!(shuttle::sync::atomic);
    }
    use shuttle::sync::{Arc, RwLock};
    use shuttle::thread;
    use shuttled::{ReadBuffer, SLOTS};

    /// Two readers record hits under the shared lock while one of them (or a writer) drains
    /// under the exclusive lock whenever the buffer fills: every record is applied at most
    /// once, in each reader's order, and nothing is lost while the buffer has room.
    #[test]
    fn records_are_applied_once_in_order_under_any_schedule() {
        shuttle::check_random(
            || {
                let shard = Arc::new(RwLock::new((ReadBuffer::new(), Vec::<u32>::new())));
                let readers: Vec<_> = (0..2u32)
                    .map(|t| {
                        let shard = shard.clone();
                        thread::spawn(move || {
                            for k in 0..(SLOTS as u32) {
                                let full = shard.read().unwrap().0.push(t << 16 | k);
                                if full {
                                    if let Ok(mut g) = shard.try_write() {
                                        let (buf, applied) = &mut *g;
                                        buf.drain(|n| applied.push(n));
                                    }
                                }
                            }
                        })
                    })
                    .collect();
                for r in readers {
                    r.join().unwrap();
                }
                let mut g = shard.write().unwrap();
                let (buf, applied) = &mut *g;
                buf.drain(|n| applied.push(n));
                for t in 0..2u32 {
                    let mine: Vec<u32> = applied
                        .iter()
                        .filter(|&&n| n >> 16 == t)
                        .map(|&n| n & 0xffff)
                        .collect();
                    assert!(
                        mine.windows(2).all(|w| w[0] < w[1]),
                        "order or duplicate: {mine:?}"
                    );
                }
                // At least the first SLOTS records fit before any drain was needed.
                assert!(applied.len() >= SLOTS, "lost records: {}", applied.len());
                let mut again = 0;
                buf.drain(|_| again += 1);
                assert_eq!(again, 0, "a drain empties the buffer");
            },
            2_000,
        );
    }
}
