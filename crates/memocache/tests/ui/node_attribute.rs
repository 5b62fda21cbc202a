// `#[node]` misuse: no key, an unknown option, a `load` that does not return `Result<V, E>`,
// a key placeholder that is not a field name.

#[derive(Clone, Hash, PartialEq, Eq)]
struct NoKey;

#[memocache::node(version = "v1")]
impl NoKey {
    async fn load(&self) -> Result<u8, std::io::Error> {
        Ok(1)
    }
}

#[derive(Clone, Hash, PartialEq, Eq)]
struct Unknown;

#[memocache::node(key = "unknown", colour = "blue")]
impl Unknown {
    async fn load(&self) -> Result<u8, std::io::Error> {
        Ok(1)
    }
}

#[derive(Clone, Hash, PartialEq, Eq)]
struct Plain;

#[memocache::node(key = "plain")]
impl Plain {
    async fn load(&self) -> u8 {
        1
    }
}

#[derive(Clone, Hash, PartialEq, Eq)]
struct BadField {
    id: u8,
}

#[memocache::node(key = "bad:{0}", tier("redis", ttl = "ten days"))]
impl BadField {
    async fn load(&self) -> Result<u8, std::io::Error> {
        Ok(self.id)
    }
}

fn main() {}
