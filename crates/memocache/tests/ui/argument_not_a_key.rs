use memocache::memoize;

#[memoize]
async fn float_argument(ratio: f64) -> u32 {
    ratio as u32
}

#[derive(Clone)]
struct Config {
    retries: u32,
}

#[memoize]
async fn struct_argument(id: u64, config: &Config) -> u64 {
    id + config.retries as u64
}

fn main() {}
