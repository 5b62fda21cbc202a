use memocache::memoize;

struct NotClone(u32);

#[memoize]
async fn value_not_clone(n: u32) -> NotClone {
    NotClone(n)
}

#[memoize]
async fn result_alias_without_error_type(path: String) -> std::io::Result<usize> {
    Ok(path.len())
}

#[memoize(timeout = "5s")]
async fn timeout_without_result(n: u32) -> u32 {
    n
}

#[memoize]
async fn error_not_sync(n: u32) -> Result<u32, std::cell::Cell<u32>> {
    Ok(n)
}

fn main() {}
