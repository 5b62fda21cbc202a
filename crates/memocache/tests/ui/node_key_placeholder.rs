// A `#[node]` key placeholder must name a field.

#[derive(Clone, Hash, PartialEq, Eq)]
struct BadField {
    id: u8,
}

#[memocache::node(key = "bad:{0}")]
impl BadField {
    async fn load(&self) -> Result<u8, std::io::Error> {
        Ok(self.id)
    }
}

#[derive(Clone, Hash, PartialEq, Eq)]
struct TierCapacity;

#[memocache::node(key = "tier", tier("redis", capacity = 5))]
impl TierCapacity {
    async fn load(&self) -> Result<u8, std::io::Error> {
        Ok(1)
    }
}

fn main() {}
