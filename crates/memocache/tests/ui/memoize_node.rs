// `#[memoize(node = ...)]` takes everything from the node: no other option, and a `Result`.

#[derive(Clone, Hash, PartialEq, Eq)]
struct User {
    id: u64,
}

#[memocache::node(key = "user:{id}")]
impl User {
    async fn load(&self) -> Result<String, std::io::Error> {
        Ok(String::new())
    }
}

#[memocache::memoize(node = User { id }, capacity = 10)]
async fn with_capacity(id: u64) -> Result<String, std::io::Error> {
    Ok(id.to_string())
}

#[memocache::memoize(node = User { id })]
async fn plain(id: u64) -> String {
    id.to_string()
}

fn main() {}
