//! The intrusive doubly linked list threaded through a shard's slab: the eviction policies'
//! queues and the timer wheel's buckets are all [`Deque`]s of `u32` slot indices, whose links
//! live in the slab records themselves ([`Linked`]), so linking or moving an entry allocates
//! nothing and touches only it and its two neighbours.

/// "No node".
pub(crate) const NIL: u32 = u32::MAX;

/// A slab node that can be linked into lists: `list` 0 is the policy's, 1 the timer wheel's.
pub(crate) trait Linked {
    fn links(&self, list: usize) -> [u32; 2];
    fn links_mut(&mut self, list: usize) -> &mut [u32; 2];
    fn weight(&self) -> u32;
    /// The policy queue the node is in.
    fn queue(&self) -> u8;
    fn set_queue(&mut self, queue: u8);
}

/// An intrusive doubly linked list over a slab: head = oldest, tail = newest. Tracks the total
/// weight of its nodes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deque {
    pub(crate) head: u32,
    pub(crate) tail: u32,
    pub(crate) weight: u64,
    list: usize,
}

impl Deque {
    /// An empty list using the nodes' links number `list`.
    pub(crate) const fn new(list: usize) -> Self {
        Deque {
            head: NIL,
            tail: NIL,
            weight: 0,
            list,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.head == NIL
    }

    pub(crate) fn push_back<N: Linked>(&mut self, nodes: &mut [N], i: u32) {
        *nodes[i as usize].links_mut(self.list) = [self.tail, NIL];
        if self.tail == NIL {
            self.head = i;
        } else {
            nodes[self.tail as usize].links_mut(self.list)[1] = i;
        }
        self.tail = i;
        self.weight += u64::from(nodes[i as usize].weight());
    }

    /// Links node `i` as the oldest.
    pub(crate) fn push_front<N: Linked>(&mut self, nodes: &mut [N], i: u32) {
        *nodes[i as usize].links_mut(self.list) = [NIL, self.head];
        if self.head == NIL {
            self.tail = i;
        } else {
            nodes[self.head as usize].links_mut(self.list)[0] = i;
        }
        self.head = i;
        self.weight += u64::from(nodes[i as usize].weight());
    }

    pub(crate) fn unlink<N: Linked>(&mut self, nodes: &mut [N], i: u32) {
        let [prev, next] = nodes[i as usize].links(self.list);
        if prev == NIL {
            self.head = next;
        } else {
            nodes[prev as usize].links_mut(self.list)[1] = next;
        }
        if next == NIL {
            self.tail = prev;
        } else {
            nodes[next as usize].links_mut(self.list)[0] = prev;
        }
        *nodes[i as usize].links_mut(self.list) = [NIL, NIL];
        self.weight -= u64::from(nodes[i as usize].weight());
    }

    pub(crate) fn move_to_back<N: Linked>(&mut self, nodes: &mut [N], i: u32) {
        if self.tail != i {
            self.unlink(nodes, i);
            self.push_back(nodes, i);
        }
    }

    /// Takes the oldest node off the list and links it at the back of `to`.
    pub(crate) fn move_head_to<N: Linked>(&mut self, nodes: &mut [N], to: &mut Deque) -> u32 {
        let h = self.head;
        self.unlink(nodes, h);
        to.push_back(nodes, h);
        h
    }

    /// Takes the newest node off the list and links it at the front of `to` (as its oldest).
    pub(crate) fn move_tail_to_front<N: Linked>(&mut self, nodes: &mut [N], to: &mut Deque) -> u32 {
        let t = self.tail;
        self.unlink(nodes, t);
        to.push_front(nodes, t);
        t
    }

    pub(crate) fn clear(&mut self) {
        *self = Deque::new(self.list);
    }

    /// Node indices from head to tail (tests only).
    #[cfg(test)]
    pub(crate) fn indices<N: Linked>(&self, nodes: &[N]) -> Vec<u32> {
        let mut out = Vec::new();
        let mut i = self.head;
        while i != NIL {
            out.push(i);
            i = nodes[i as usize].links(self.list)[1];
        }
        out
    }
}

/// A slab node for the unit tests of the lists, the policies and the timer wheel.
#[cfg(test)]
#[derive(Default)]
pub(crate) struct TestNode {
    pub(crate) links: [[u32; 2]; 2],
    pub(crate) weight: u32,
    pub(crate) queue: u8,
    pub(crate) expire: u64,
    pub(crate) bucket: u16,
}

#[cfg(test)]
impl TestNode {
    /// `n` nodes of weight 1, unlinked.
    pub(crate) fn many(n: usize) -> Vec<TestNode> {
        (0..n)
            .map(|_| TestNode {
                weight: 1,
                ..TestNode::default()
            })
            .collect()
    }
}

#[cfg(test)]
impl Linked for TestNode {
    fn links(&self, list: usize) -> [u32; 2] {
        self.links[list]
    }
    fn links_mut(&mut self, list: usize) -> &mut [u32; 2] {
        &mut self.links[list]
    }
    fn weight(&self) -> u32 {
        self.weight
    }
    fn queue(&self) -> u8 {
        self.queue
    }
    fn set_queue(&mut self, queue: u8) {
        self.queue = queue;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_moves_and_weighs_its_nodes() {
        let mut nodes: Vec<TestNode> = (0..4)
            .map(|w| TestNode {
                weight: w + 1,
                ..TestNode::default()
            })
            .collect();
        let mut a = Deque::new(0);
        let mut b = Deque::new(0);
        for i in 0..4 {
            a.push_back(&mut nodes, i);
        }
        assert_eq!(a.indices(&nodes), [0, 1, 2, 3]);
        assert_eq!(a.weight, 10);
        a.move_to_back(&mut nodes, 1);
        a.unlink(&mut nodes, 2);
        assert_eq!(a.indices(&nodes), [0, 3, 1]);
        assert_eq!(a.weight, 7);
        assert_eq!(a.move_head_to(&mut nodes, &mut b), 0);
        assert_eq!(
            (a.indices(&nodes), b.indices(&nodes)),
            (vec![3, 1], vec![0])
        );
        assert_eq!((a.weight, b.weight), (6, 1));
        a.clear();
        assert!(a.is_empty() && a.weight == 0);
    }
}
