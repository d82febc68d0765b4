//! Shared workload code for the benchmarks and the contention example:
//! a scrambled Zipf key generator and the caches under test behind one
//! small trait, so every workload runs every cache through the same code.
#![allow(dead_code)]

use std::hash::Hash;
use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rayon::prelude::*;

/// A deterministic xorshift64* generator.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Keys drawn from a Zipf distribution of exponent `s` over `items` ranks,
/// scrambled (rank r becomes a hashed key) so that popularity is not
/// correlated with key order. Inverse-CDF sampling on a precomputed table.
pub fn zipf_trace(len: usize, items: u64, s: f64, seed: u64) -> Vec<u64> {
    let mut cdf = Vec::with_capacity(items as usize);
    let mut total = 0.0;
    for rank in 1..=items {
        total += 1.0 / (rank as f64).powf(s);
        cdf.push(total);
    }
    let mut rng = Rng::new(seed);
    (0..len)
        .map(|_| {
            let u = rng.unit() * total;
            let rank = cdf.partition_point(|&c| c < u) as u64;
            scramble(rank)
        })
        .collect()
}

/// A bijective scramble of a rank into a key.
pub fn scramble(rank: u64) -> u64 {
    let mut z = rank.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The operations every cache under test offers.
pub trait BenchCache: Send + Sync {
    fn get(&self, key: u64) -> bool;
    fn insert(&self, key: u64);
    fn remove(&self, key: u64);
    /// Called once the cache is filled, before it is measured.
    fn filled(&self) {}
}

/// Read-through: get, and insert on a miss. Returns whether it hit.
#[inline]
pub fn read_through(cache: &dyn BenchCache, key: u64) -> bool {
    if cache.get(key) {
        true
    } else {
        cache.insert(key);
        false
    }
}

/// Runs `op` over `trace`, split into one contiguous slice per thread of
/// `pool`, and times it. `op` gets the cache, the key and the operation's
/// index within its thread's slice.
pub fn batch(
    pool: &rayon::ThreadPool,
    threads: usize,
    cache: &dyn BenchCache,
    trace: &[u64],
    op: fn(&dyn BenchCache, u64, usize),
) -> Duration {
    let chunk = trace.len() / threads;
    let start = Instant::now();
    pool.install(|| {
        (0..threads).into_par_iter().for_each(|t| {
            for (i, &key) in trace[t * chunk..(t + 1) * chunk].iter().enumerate() {
                op(cache, key, i);
            }
        })
    });
    start.elapsed()
}

pub fn read_through_op(cache: &dyn BenchCache, key: u64, _: usize) {
    read_through(cache, key);
}

pub fn get_op(cache: &dyn BenchCache, key: u64, _: usize) {
    cache.get(key);
}

/// 75% read-through, 12.5% inserts, 12.5% removes.
pub fn write_heavy_op(cache: &dyn BenchCache, key: u64, i: usize) {
    match i % 8 {
        0 => cache.insert(key),
        4 => cache.remove(key),
        _ => {
            read_through(cache, key);
        }
    }
}

impl<S: std::hash::BuildHasher + Send + Sync> BenchCache for shardcache::Cache<u64, u64, S> {
    #[inline]
    fn get(&self, key: u64) -> bool {
        shardcache::Cache::get(self, &key).is_some()
    }
    #[inline]
    fn insert(&self, key: u64) {
        shardcache::Cache::insert(self, key, key);
    }
    #[inline]
    fn remove(&self, key: u64) {
        shardcache::Cache::remove(self, &key);
    }
}

/// A cache with a time-to-live whose every shard also holds an entry due
/// within a millisecond of the fill: its shards' floors stay behind the
/// clock, so every hit reads its entry's deadline (`docs/expiry.md`). Only
/// meaningful where nothing is written after the fill (all hits): a write
/// would reclaim those entries.
pub struct TtlDue(pub shardcache::Cache<u64, u64>);

impl BenchCache for TtlDue {
    #[inline]
    fn get(&self, key: u64) -> bool {
        BenchCache::get(&self.0, key)
    }
    #[inline]
    fn insert(&self, key: u64) {
        BenchCache::insert(&self.0, key)
    }
    #[inline]
    fn remove(&self, key: u64) {
        BenchCache::remove(&self.0, key)
    }
    fn filled(&self) {
        // Keys past the trace's (scrambled ranks below 2^20 never reach
        // them in practice), enough for every shard to get several.
        for i in 0..(self.0.shards() as u64 * 16) {
            self.0
                .insert_with_ttl(u64::MAX - i, 0, Duration::from_millis(1));
        }
    }
}

impl BenchCache for quick_cache::sync::Cache<u64, u64> {
    #[inline]
    fn get(&self, key: u64) -> bool {
        quick_cache::sync::Cache::get(self, &key).is_some()
    }
    #[inline]
    fn insert(&self, key: u64) {
        quick_cache::sync::Cache::insert(self, key, key);
    }
    #[inline]
    fn remove(&self, key: u64) {
        quick_cache::sync::Cache::remove(self, &key);
    }
}

impl BenchCache for moka::sync::Cache<u64, u64> {
    #[inline]
    fn get(&self, key: u64) -> bool {
        moka::sync::Cache::get(self, &key).is_some()
    }
    #[inline]
    fn insert(&self, key: u64) {
        moka::sync::Cache::insert(self, key, key);
    }
    #[inline]
    fn remove(&self, key: u64) {
        moka::sync::Cache::remove(self, &key);
    }
}

/// `lru::LruCache` behind `N` mutexes, the key's hash picking one (N = 1:
/// one global lock).
pub struct LruMutex {
    shards: Vec<Mutex<lru::LruCache<u64, u64>>>,
    hasher: ahash::RandomState,
}

impl LruMutex {
    pub fn new(capacity: usize, shards: usize) -> Self {
        let per = capacity.div_ceil(shards).max(1);
        LruMutex {
            shards: (0..shards)
                .map(|_| Mutex::new(lru::LruCache::new(NonZeroUsize::new(per).unwrap())))
                .collect(),
            hasher: ahash::RandomState::new(),
        }
    }

    fn shard<K: Hash>(&self, key: K) -> &Mutex<lru::LruCache<u64, u64>> {
        let i = (self.hasher.hash_one(key) as usize) % self.shards.len();
        &self.shards[i]
    }
}

impl BenchCache for LruMutex {
    #[inline]
    fn get(&self, key: u64) -> bool {
        self.shard(key).lock().unwrap().get(&key).is_some()
    }
    #[inline]
    fn insert(&self, key: u64) {
        self.shard(key).lock().unwrap().put(key, key);
    }
    #[inline]
    fn remove(&self, key: u64) {
        self.shard(key).lock().unwrap().pop(&key);
    }
}

/// The caches compared, by name.
pub const CACHES: [&str; 8] = [
    "shardcache",
    "shardcache-tinylfu",
    "shardcache-ttl",
    "quick_cache",
    "moka",
    "moka-ttl",
    "lru-1mutex",
    "lru-16mutex",
];

/// Builds the cache called `name` with room for `capacity` entries.
pub fn make(name: &str, capacity: usize) -> Box<dyn BenchCache> {
    match name {
        "shardcache" => Box::new(shardcache::Cache::<u64, u64>::new(capacity as u64)),
        "shardcache-tinylfu" => Box::new(
            shardcache::Cache::<u64, u64>::builder()
                .capacity(capacity as u64)
                .policy(shardcache::Policy::TinyLfu)
                .build(),
        ),
        // With a TTL (300 s, not reached in a run): what is measured is the
        // deadline check on every hit and the timers on every write.
        "shardcache-ttl" => Box::new(
            shardcache::Cache::<u64, u64>::builder()
                .capacity(capacity as u64)
                .time_to_live(Duration::from_secs(300))
                .build(),
        ),
        "shardcache-ttl-due" => Box::new(TtlDue(
            shardcache::Cache::<u64, u64>::builder()
                .capacity(capacity as u64)
                .time_to_live(Duration::from_secs(300))
                .build(),
        )),
        "quick_cache" => Box::new(quick_cache::sync::Cache::<u64, u64>::new(capacity)),
        "moka" => Box::new(moka::sync::Cache::<u64, u64>::new(capacity as u64)),
        "moka-ttl" => Box::new(
            moka::sync::Cache::<u64, u64>::builder()
                .max_capacity(capacity as u64)
                .time_to_live(Duration::from_secs(300))
                .build(),
        ),
        "lru-1mutex" => Box::new(LruMutex::new(capacity, 1)),
        "lru-16mutex" => Box::new(LruMutex::new(capacity, 16)),
        other => panic!("unknown cache {other}"),
    }
}
