#[shardcache::memoize]
fn length(text: &str) -> usize {
    text.len()
}

fn main() {}
