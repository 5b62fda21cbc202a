use std::sync::LazyLock;

use memocache::{memoize, Cache, Scoped};

static SHARED: LazyLock<Cache<Scoped<u64>, bool>> = LazyLock::new(Cache::new);

#[memoize(cache = SHARED, capacity = 10)]
async fn shared_with_capacity(id: u64) -> Result<bool, std::io::Error> {
    Ok(id > 0)
}

#[memoize(cache = SHARED)]
async fn shared_plain(id: u64) -> bool {
    id > 0
}

#[memoize(cache = SHARED)]
async fn shared_wrong_value_type(id: u64) -> Result<u64, std::io::Error> {
    Ok(id)
}

fn main() {}
