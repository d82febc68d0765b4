#[derive(Clone)]
struct Settings {
    level: u8,
}

impl Settings {
    #[shardcache::memoize]
    fn preset(level: u8) -> Self {
        Settings { level }
    }
}

fn main() {}
