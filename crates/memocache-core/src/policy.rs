//! Eviction policies: which entry leaves when the store is full.
//!
//! [`EvictionPolicy`] is what a user picks on the builder; [`OrderList`] is the recency list a
//! store shard keeps for it: a doubly linked list threaded through a slab of nodes, so
//! push-back, unlink and pop-front are O(1) and allocate only when the slab grows.

/// Which entry is evicted when the cache is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum EvictionPolicy {
    /// Evict the entry written (loaded, refreshed or inserted) longest ago; reads do not
    /// change the order. py-memoize's default. Hits take only a shared lock.
    #[default]
    LeastRecentlyUpdated,
    /// Evict the entry read or written longest ago (classic LRU).
    Lru,
}

impl EvictionPolicy {
    /// Whether a read moves the entry in the order.
    pub(crate) fn reorders_on_read(self) -> bool {
        matches!(self, EvictionPolicy::Lru)
    }
}

const NIL: u32 = u32::MAX;

struct Node<K> {
    key: Option<K>,
    prev: u32,
    next: u32,
}

/// A recency list of keys: front = next victim, back = most recent.
pub(crate) struct OrderList<K> {
    nodes: Vec<Node<K>>,
    free: Vec<u32>,
    head: u32,
    tail: u32,
}

impl<K> OrderList<K> {
    pub(crate) fn new() -> Self {
        OrderList {
            nodes: Vec::new(),
            free: Vec::new(),
            head: NIL,
            tail: NIL,
        }
    }

    /// Appends `key` at the back; returns its node index.
    pub(crate) fn push_back(&mut self, key: K) -> u32 {
        let node = Node {
            key: Some(key),
            prev: self.tail,
            next: NIL,
        };
        let idx = match self.free.pop() {
            Some(i) => {
                self.nodes[i as usize] = node;
                i
            }
            None => {
                self.nodes.push(node);
                (self.nodes.len() - 1) as u32
            }
        };
        if self.tail != NIL {
            self.nodes[self.tail as usize].next = idx;
        } else {
            self.head = idx;
        }
        self.tail = idx;
        idx
    }

    fn unlink(&mut self, idx: u32) {
        let (prev, next) = {
            let n = &self.nodes[idx as usize];
            (n.prev, n.next)
        };
        if prev != NIL {
            self.nodes[prev as usize].next = next;
        } else {
            self.head = next;
        }
        if next != NIL {
            self.nodes[next as usize].prev = prev;
        } else {
            self.tail = prev;
        }
    }

    /// Removes node `idx`, returning its key.
    pub(crate) fn remove(&mut self, idx: u32) -> Option<K> {
        self.unlink(idx);
        self.free.push(idx);
        self.nodes[idx as usize].key.take()
    }

    /// Moves node `idx` to the back (most recent).
    pub(crate) fn move_to_back(&mut self, idx: u32) {
        if self.tail == idx {
            return;
        }
        self.unlink(idx);
        let n = &mut self.nodes[idx as usize];
        n.prev = self.tail;
        n.next = NIL;
        if self.tail != NIL {
            self.nodes[self.tail as usize].next = idx;
        } else {
            self.head = idx;
        }
        self.tail = idx;
    }

    /// The key at the front (the next victim).
    pub(crate) fn front(&self) -> Option<(u32, &K)> {
        if self.head == NIL {
            None
        } else {
            self.nodes[self.head as usize]
                .key
                .as_ref()
                .map(|k| (self.head, k))
        }
    }

    pub(crate) fn clear(&mut self) {
        self.nodes.clear();
        self.free.clear();
        self.head = NIL;
        self.tail = NIL;
    }

    /// Keys from front to back (tests only).
    #[cfg(test)]
    pub(crate) fn keys(&self) -> Vec<&K> {
        let mut out = Vec::new();
        let mut i = self.head;
        while i != NIL {
            let n = &self.nodes[i as usize];
            out.extend(n.key.as_ref());
            i = n.next;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_orders_and_reuses_nodes() {
        let mut l = OrderList::new();
        let a = l.push_back("a");
        let b = l.push_back("b");
        let c = l.push_back("c");
        assert_eq!(l.keys(), vec![&"a", &"b", &"c"]);
        l.move_to_back(a);
        assert_eq!(l.keys(), vec![&"b", &"c", &"a"]);
        assert_eq!(l.remove(c), Some("c"));
        assert_eq!(l.keys(), vec![&"b", &"a"]);
        let d = l.push_back("d");
        assert_eq!(d, c, "freed node is reused");
        assert_eq!(l.front().map(|(i, k)| (i, *k)), Some((b, "b")));
        l.remove(b);
        l.remove(a);
        l.remove(d);
        assert!(l.front().is_none());
        assert!(l.keys().is_empty());
    }
}
