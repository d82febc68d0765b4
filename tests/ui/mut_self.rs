struct Counter(u64);

impl Counter {
    #[shardcache::memoize(key = step)]
    fn advance(&mut self, step: u64) -> u64 {
        self.0 += step;
        self.0
    }
}

fn main() {}
