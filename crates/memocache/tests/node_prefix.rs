//! The process-wide prefix of nodes' remote keys (`node::set_prefix`): a node's entry is
//! stored under `{prefix}:{key}:{version}`, and a new prefix makes old entries unreachable,
//! never misread. In a test binary of its own: the prefix is process-wide.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

use memocache::node::{self, Node};
use memocache::registry::{register_storage, storage};

static LOADS: AtomicUsize = AtomicUsize::new(0);

#[derive(Clone, Hash, PartialEq, Eq)]
struct Item {
    id: u32,
}

#[memocache::node(key = "item:{id}", version = "v7", tier("prefix-test-store"))]
impl Item {
    async fn load(&self) -> Result<usize, std::io::Error> {
        Ok(LOADS.fetch_add(1, SeqCst))
    }
}

#[tokio::test]
async fn a_new_prefix_makes_old_entries_unreachable() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}", dir.path().display());
    register_storage("prefix-test-store", &url).await.unwrap();
    assert_eq!(node::prefix(), node::DEFAULT_NODE_PREFIX);
    assert_eq!(node::prefix(), "memocache-node");
    node::set_prefix("app1");
    assert_eq!(node::get(&Item { id: 1 }).await.unwrap(), 0);
    assert_eq!(node::get(&Item { id: 1 }).await.unwrap(), 0);
    // The entry is in the store under `{prefix}:{key}:{version}`.
    let store = storage("prefix-test-store").unwrap().byte_store().unwrap();
    assert!(store.get("app1:item:1:v7").await.unwrap().is_some());
    node::set_prefix("app2");
    assert_eq!(
        node::get(&Item { id: 1 }).await.unwrap(),
        1,
        "app1's entry is not read"
    );
    assert!(store.get("app2:item:1:v7").await.unwrap().is_some());
    node::set_prefix("app1");
    assert_eq!(
        node::get(&Item { id: 1 }).await.unwrap(),
        0,
        "back to app1: its entry, from the store"
    );
    assert_eq!(LOADS.load(SeqCst), 2);
    let _ = Item { id: 0 }.key();
}
