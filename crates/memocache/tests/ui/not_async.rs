use memocache::memoize;

#[memoize]
fn synchronous(n: u32) -> u32 {
    n
}

#[memoize(capacity = 0)]
fn synchronous_with_a_bad_option(n: u32) -> u32 {
    n
}

#[memoize]
struct NotAFunction;

fn main() {}
