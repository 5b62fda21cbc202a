use memocache::memoize;

#[memoize]
async fn mutable_argument(buffer: &mut Vec<u8>) -> usize {
    buffer.push(1);
    buffer.len()
}

#[derive(Clone)]
struct Counter(u32);

impl Counter {
    #[memoize]
    async fn mutable_receiver(&mut self) -> u32 {
        self.0 += 1;
        self.0
    }
}

fn main() {}
