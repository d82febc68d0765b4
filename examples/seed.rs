//! The program shardcache grew from, in Rust. The Python original:
//!
//! ```python
//! from functools import lru_cache
//!
//! class DataHeavyClass:
//!     @lru_cache(maxsize=128)
//!     def compute_heavy_stuff(self, param):
//!         return sum(i * i for i in range(param))
//!
//! data = DataHeavyClass()
//! print(data.compute_heavy_stuff(10000))
//! print(data.compute_heavy_stuff(10000))
//! print(data.compute_heavy_stuff(20000))
//! print(DataHeavyClass.compute_heavy_stuff.cache_info())
//! ```
//!
//! Run it with `cargo run --release --example seed`.

use shardcache::{Cache, CacheInfo};

/// Holds the cache of its expensive computation, as the decorated method
/// does in Python (but keyed on `param` alone: the cache does not keep
/// `self` alive).
struct DataHeavyClass {
    cache: Cache<u64, u64>,
}

impl DataHeavyClass {
    fn new() -> Self {
        DataHeavyClass {
            cache: Cache::new(128),
        }
    }

    /// The sum of `i * i` for `i < param`, computed once per `param`.
    fn compute_heavy_stuff(&self, param: u64) -> u64 {
        self.cache
            .get_or_insert_with(param, || (0..param).map(|i| i * i).sum())
    }

    fn cache_info(&self) -> CacheInfo {
        self.cache.cache_info()
    }
}

fn main() {
    let data = DataHeavyClass::new();
    println!("{}", data.compute_heavy_stuff(10_000));
    println!("{}", data.compute_heavy_stuff(10_000));
    println!("{}", data.compute_heavy_stuff(20_000));
    println!("{}", data.cache_info());
}
