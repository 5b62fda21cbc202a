use memocache::memoize;

#[memoize(capacitty = 10)]
async fn misspelt() -> u32 {
    1
}

#[memoize(capacity = 10, capacity = 20)]
async fn twice() -> u32 {
    1
}

#[memoize(update_after)]
async fn no_value() -> u32 {
    1
}

fn main() {}
