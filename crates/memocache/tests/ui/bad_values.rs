use memocache::memoize;

#[memoize(capacity = "ten")]
async fn capacity_string() -> u32 {
    1
}

#[memoize(capacity = 0)]
async fn capacity_zero() -> u32 {
    1
}

#[memoize(max_hits = 0)]
async fn max_hits_zero() -> u32 {
    1
}

#[memoize(max_hits = -1)]
async fn max_hits_negative() -> u32 {
    1
}

#[memoize(name = users)]
async fn name_not_a_string() -> u32 {
    1
}

#[memoize(update_after = 10)]
async fn duration_not_a_string() -> u32 {
    1
}

#[memoize(capacity: usize = 10)]
async fn type_on_another_option() -> u32 {
    1
}

fn main() {}
