#[shardcache::memoize(cache_size = 128)]
fn square(x: u64) -> u64 {
    x * x
}

fn main() {}
