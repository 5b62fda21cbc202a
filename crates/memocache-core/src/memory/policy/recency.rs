//! The single-list policies: least-recently-updated (py-memoize's default: the list is in
//! write order, reads change nothing) and LRU (reads move an entry to the back too). The
//! victim is always the list's head.

use crate::memory::list::{Deque, Linked};

/// One shard's list, oldest first.
pub(crate) struct Recency {
    list: Deque,
    /// LRU: a hit moves the entry to the back. Least-recently-updated: it does not.
    reorder_on_read: bool,
}

impl Recency {
    pub(crate) fn new(reorder_on_read: bool) -> Self {
        Recency {
            list: Deque::new(0),
            reorder_on_read,
        }
    }

    pub(crate) fn list(&self) -> &Deque {
        &self.list
    }

    pub(crate) fn list_mut(&mut self) -> &mut Deque {
        &mut self.list
    }

    pub(crate) fn on_insert<N: Linked>(&mut self, nodes: &mut [N], i: u32) {
        self.list.push_back(nodes, i);
    }

    pub(crate) fn on_access<N: Linked>(&mut self, nodes: &mut [N], i: u32) {
        if self.reorder_on_read {
            self.list.move_to_back(nodes, i);
        }
    }

    pub(crate) fn on_update<N: Linked>(&mut self, nodes: &mut [N], i: u32) {
        self.list.move_to_back(nodes, i);
    }

    pub(crate) fn on_remove<N: Linked>(&mut self, nodes: &mut [N], i: u32) {
        self.list.unlink(nodes, i);
    }

    pub(crate) fn victim(&self) -> Option<u32> {
        (!self.list.is_empty()).then_some(self.list.head)
    }

    pub(crate) fn clear(&mut self) {
        self.list.clear();
    }
}
