use memocache::memoize;

struct Config;

impl Config {
    // No receiver and no `Self`: the attribute cannot tell this from a free function.
    #[memoize]
    async fn load(path: String) -> Result<usize, std::io::Error> {
        Ok(path.len())
    }
}

fn main() {}
