#[derive(Clone)]
struct Query(u64);

impl Query {
    #[shardcache::memoize(key = limit)]
    fn run(self, limit: u64) -> u64 {
        self.0.min(limit)
    }
}

fn main() {}
