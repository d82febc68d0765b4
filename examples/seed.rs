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
//! Run it with `cargo run --release --example seed`. It prints what Python
//! prints:
//!
//! ```text
//! 333283335000
//! 333283335000
//! 2666466670000
//! CacheInfo(hits=1, misses=2, maxsize=128, currsize=2)
//! ```

struct DataHeavyClass;

impl DataHeavyClass {
    /// The sum of `i * i` for `i < param`, computed once per `param`. Keyed
    /// on `param` alone: unlike Python's, the cache does not keep `self`
    /// alive.
    #[shardcache::memoize(capacity = 128, key = param)]
    fn compute_heavy_stuff(&self, param: u64) -> u64 {
        (0..param).map(|i| i * i).sum()
    }
}

fn main() {
    let data = DataHeavyClass;
    println!("{}", data.compute_heavy_stuff(10_000));
    println!("{}", data.compute_heavy_stuff(10_000));
    println!("{}", data.compute_heavy_stuff(20_000));
    println!("{}", DataHeavyClass::compute_heavy_stuff_cache_info());
}
