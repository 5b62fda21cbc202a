use memocache::memoize;

#[memoize(update_after = "10 minutes")]
async fn spaces() -> u32 {
    1
}

#[memoize(expire_after = "10")]
async fn no_unit() -> u32 {
    1
}

#[memoize(expire_after = "1m1h")]
async fn units_out_of_order() -> u32 {
    1
}

#[memoize(update_after = "5min")]
async fn unknown_unit() -> u32 {
    1
}

#[memoize(expire_after = "0s")]
async fn zero_expiry() -> u32 {
    1
}

#[memoize(update_after = "1h")]
async fn stale_after_the_default_expiry() -> u32 {
    1
}

#[memoize(update_after = "10m", expire_after = "5m")]
async fn stale_after_expiry() -> u32 {
    1
}

fn main() {}
