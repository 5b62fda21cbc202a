use memocache::memoize;

#[memoize]
fn synchronous(n: u32) -> u32 {
    n
}

fn main() {}
