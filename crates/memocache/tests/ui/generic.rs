use memocache::memoize;

#[memoize]
async fn generic<T: Clone>(value: T) -> u32 {
    let _ = value;
    1
}

#[memoize]
async fn const_generic<const N: usize>() -> usize {
    N
}

#[memoize]
async fn impl_trait_argument(value: impl std::fmt::Display) -> String {
    value.to_string()
}

#[memoize]
async fn impl_trait_return(n: u32) -> impl std::fmt::Display {
    n
}

fn main() {}
