//! cacheme's README, ported: typed cache nodes (`memocache::node`). A node type knows its key,
//! how its value loads, its version and where it is cached; `get`, `get_all`, `refresh`,
//! `invalidate`, `stats` and `nodes()` work on it.
//!
//! `cargo run -p memocache --example nodes` (memory only; put `tier("redis", ttl = "10d")` in
//! the attribute, after `register_storage("redis", "redis://127.0.0.1:6379")`, to share the
//! values through Redis).

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

use memocache::node::{self, DynamicNode, NodeOptions};
use memocache::registry::register_storage;

static QUERIES: AtomicUsize = AtomicUsize::new(0);

#[derive(Clone, Hash, PartialEq, Eq)]
struct UserInfo {
    user_id: u64,
}

#[memocache::node(
    key = "user:{user_id}:info",
    version = "v1",
    tier("local", ttl = "30s")
)]
impl UserInfo {
    async fn load(&self) -> Result<String, std::io::Error> {
        QUERIES.fetch_add(1, SeqCst); // one database query per call
        Ok(format!(
            "user {} (query {})",
            self.user_id,
            QUERIES.load(SeqCst)
        ))
    }

    async fn load_all(nodes: Vec<Self>) -> Result<Vec<(Self, String)>, std::io::Error> {
        let q = QUERIES.fetch_add(1, SeqCst) + 1; // one query for them all
        Ok(nodes
            .into_iter()
            .map(|n| (n.clone(), format!("user {} (query {q})", n.user_id)))
            .collect())
    }
}

pub async fn run(out: &mut impl Write) -> std::io::Result<()> {
    // cacheme's `register_storage("local", Storage(url="local://tlfu", size=10000))`.
    register_storage("local", "memory://tlfu?size=10000")
        .await
        .map_err(std::io::Error::other)?;
    let one = UserInfo { user_id: 1 };
    let get = |node: UserInfo| async move { node::get(&node).await.map_err(std::io::Error::other) };
    writeln!(out, "{}", get(one.clone()).await?)?;
    writeln!(out, "{}", get(one.clone()).await?)?;
    let users: Vec<UserInfo> = [1, 2, 3, 2]
        .into_iter()
        .map(|user_id| UserInfo { user_id })
        .collect();
    let all: Vec<String> = node::get_all(&users)
        .await
        .into_iter()
        .collect::<Result<_, _>>()
        .map_err(std::io::Error::other)?;
    writeln!(out, "{}", all.join(", "))?;
    writeln!(
        out,
        "refreshed: {}",
        node::refresh(&one).await.map_err(std::io::Error::other)?
    )?;
    node::invalidate(&one)
        .await
        .map_err(std::io::Error::other)?;
    writeln!(out, "after invalidate: {}", get(one).await?)?;
    let s = node::stats::<UserInfo>();
    writeln!(
        out,
        "requests {}, hits {}, hit rate {:.2}, loads {}",
        s.request_count, s.hit_count, s.hit_rate, s.load_count
    )?;
    // cacheme's `build_node`: a node type made at run time, keyed by strings.
    let prices: DynamicNode<u32> = DynamicNode::build("Price", NodeOptions::new().version("v2"))
        .map_err(std::io::Error::other)?;
    let apple = prices
        .get("apple", || async { Ok::<_, std::io::Error>(3) })
        .await;
    writeln!(out, "apple costs {}", apple.map_err(std::io::Error::other)?)?;
    for info in node::nodes() {
        writeln!(
            out,
            "node {} version {} tiers {}",
            info.name,
            info.version,
            info.tiers.len()
        )?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    run(&mut std::io::stdout().lock()).await
}
