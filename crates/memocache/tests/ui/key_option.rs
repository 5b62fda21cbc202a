use memocache::memoize;

#[memoize(key = name.to_lowercase())]
async fn key_without_type(name: &str) -> usize {
    name.len()
}

#[memoize(key: f64 = ratio * 2.0)]
async fn key_type_not_hashable(ratio: f64) -> u32 {
    ratio as u32
}

#[memoize(key: u64 = self.id)]
async fn self_without_receiver(n: u64) -> u64 {
    n
}

fn main() {}
