#[shardcache::memoize(key = path.to_lowercase())]
fn normalize(path: &str) -> String {
    path.to_lowercase()
}

fn main() {}
