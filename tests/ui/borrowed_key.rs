#[shardcache::memoize(key = name)]
fn greeting(name: &str) -> String {
    format!("hello {name}")
}

fn main() {}
