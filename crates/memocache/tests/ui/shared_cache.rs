use std::sync::LazyLock;

use memocache::{memoize, Cache};

static SHARED: LazyLock<Cache<u64, String>> = LazyLock::new(Cache::new);

#[memoize(cache = SHARED, capacity = 10)]
async fn shared_with_capacity(id: u64) -> Result<String, std::io::Error> {
    Ok(id.to_string())
}

#[memoize(cache = SHARED)]
async fn shared_plain(id: u64) -> String {
    id.to_string()
}

#[memoize(cache = SHARED)]
async fn shared_wrong_value_type(id: u64) -> Result<u64, std::io::Error> {
    Ok(id)
}

fn main() {}
