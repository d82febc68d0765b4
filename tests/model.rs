//! Model-based differential test: random operation sequences on one-shard
//! caches, checked step by step against the `lru` crate, with the cache's
//! internal invariants validated as it goes.
#![cfg(not(shardcache_loom))]

use std::num::NonZeroUsize;

use shardcache::Cache;

#[path = "support/rng.rs"]
mod rng;
use rng::Rng;

/// Checks that a one-shard LRU cache holds exactly the reference's entries
/// in exactly the reference's recency order (most recent first), values
/// included. `None` stands for a capacity-0 cache, which holds nothing.
fn assert_recency_order<S: std::hash::BuildHasher>(
    cache: &Cache<u64, u64, S>,
    reference: Option<&lru::LruCache<u64, u64>>,
    context: &str,
) {
    let segments = cache.segments();
    assert_eq!(segments.len(), 1, "one shard: {context}");
    let [main, window, protected] = &segments[0];
    // LRU keeps every entry in segment Main; the others are W-TinyLFU's.
    assert!(
        window.is_empty() && protected.is_empty(),
        "LRU uses only segment Main: {context}"
    );
    // `LruCache::iter` yields most recent first, as `segments` does.
    let theirs: Vec<(u64, u64)> =
        reference.map_or_else(Vec::new, |r| r.iter().map(|(k, v)| (*k, *v)).collect());
    let theirs_order: Vec<u64> = theirs.iter().map(|&(k, _)| k).collect();
    assert_eq!(main, &theirs_order, "recency order: {context}");
    // The values too (peek neither promotes nor counts, so the check does
    // not disturb the run).
    let ours: Vec<(u64, u64)> = main
        .iter()
        .map(|&k| (k, cache.peek(&k).expect("a listed key is cached")))
        .collect();
    assert_eq!(ours, theirs, "entries: {context}");
    assert_eq!(cache.iter().count(), theirs.len(), "iter length: {context}");
}

/// Runs `steps` random operations on a one-shard cache of `capacity` and on
/// the reference, comparing every answer.
fn differential(capacity: usize, steps: usize, keys: u64, seed: u64) {
    differential_with(capacity, steps, keys, seed, 20);
}

/// [`differential`], with a `clear` in about one of `50 × clear_odds` steps.
fn differential_with(capacity: usize, steps: usize, keys: u64, seed: u64, clear_odds: u64) {
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
                if rng.below(clear_odds) == 0 {
                    cache.clear();
                    if let Some(r) = reference.as_mut() {
                        r.clear();
                    }
                }
            }
        }
        let expected_len = reference.as_ref().map_or(0, |r| r.len());
        assert_eq!(cache.len(), expected_len, "len: {}", context());
        // Every 16 steps, or less often on large caches (each check walks
        // the whole cache).
        if step % (capacity / 16).max(16) == 0 {
            cache.check_invariants();
            // The whole recency order must match, not just membership.
            assert_recency_order(&cache, reference.as_ref(), &context());
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

/// Large enough that the index prefetches its probes (`src/index.rs`):
/// answers stay exact, and the invariant check tests the probe hint
/// against hashbrown's layout.
#[test]
fn a_large_cache_with_a_prefetching_index_is_exactly_lru() {
    // Rare clears, so that the cache fills (about 60k steps) between them.
    differential_with(20_000, 300_000, 30_000, 11, 4_000);
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
    assert_recency_order(&cache, Some(&reference), "after the touches");
    for k in capacity..capacity * 2 {
        cache.insert(k, k);
        let (evicted, _) = reference.push(k, k).expect("full");
        assert!(
            !cache.contains_key(&evicted),
            "expected {evicted} to be evicted"
        );
        assert_eq!(cache.len(), capacity as usize);
    }
    assert_recency_order(&cache, Some(&reference), "after the evictions");
}

/// Second-chance LRU, the policy of each shard of a multi-shard LRU cache,
/// written plainly: a hit marks its entry; making room takes the least
/// recent entry, except that a marked one is unmarked and moved to the
/// front instead (evicting before the new entry goes in).
struct SecondChance {
    capacity: usize,
    /// Most recent first: (key, value, marked).
    list: std::collections::VecDeque<(u64, u64, bool)>,
}

impl SecondChance {
    fn position(&self, key: u64) -> Option<usize> {
        self.list.iter().position(|e| e.0 == key)
    }

    fn get(&mut self, key: u64) -> Option<u64> {
        let at = self.position(key)?;
        self.list[at].2 = true;
        Some(self.list[at].1)
    }

    fn insert(&mut self, key: u64, value: u64) -> Option<u64> {
        if let Some(at) = self.position(key) {
            self.list[at].2 = true;
            return Some(std::mem::replace(&mut self.list[at].1, value));
        }
        if self.capacity == 0 {
            return None;
        }
        while self.list.len() >= self.capacity {
            let (k, v, marked) = self.list.pop_back().unwrap();
            if marked {
                self.list.push_front((k, v, false));
            }
        }
        self.list.push_front((key, value, false));
        None
    }

    fn remove(&mut self, key: u64) -> Option<u64> {
        let at = self.position(key)?;
        self.list.remove(at).map(|e| e.1)
    }
}

#[test]
fn sharded_lru_is_second_chance_per_shard() {
    for (shards, capacity) in [(2usize, 8u64), (3, 30), (4, 200)] {
        let hasher = ahash::RandomState::with_seeds(9, 8, 7, 6);
        let cache: Cache<u64, u64, ahash::RandomState> = Cache::builder()
            .capacity(capacity)
            .shards(shards)
            .hasher(hasher.clone())
            .build();
        // The cache's shard rule: bits 24..56 of the hash, scaled.
        let shard_of = |key: u64| {
            let bits = (hasher.hash_one(key) >> 24) as u32 as u64;
            ((bits * shards as u64) >> 32) as usize
        };
        let mut reference: Vec<SecondChance> = (0..shards)
            .map(|i| SecondChance {
                capacity: (capacity / shards as u64
                    + u64::from((i as u64) < capacity % shards as u64))
                    as usize,
                list: Default::default(),
            })
            .collect();
        let mut rng = Rng(shards as u64 * 1000 + capacity);
        for step in 0..40_000 {
            let key = rng.below(capacity * 3);
            let r = &mut reference[shard_of(key)];
            let context = format!("{shards} shards, capacity {capacity}, step {step}, key {key}");
            match rng.below(10) {
                0..=4 => assert_eq!(cache.get(&key), r.get(key), "get: {context}"),
                5..=8 => {
                    let value = rng.next();
                    assert_eq!(
                        cache.insert(key, value),
                        r.insert(key, value),
                        "insert: {context}"
                    );
                }
                _ => assert_eq!(cache.remove(&key), r.remove(key), "remove: {context}"),
            }
            if step % 64 == 0 || std::env::var("EVERY_STEP").is_ok() {
                cache.check_invariants();
                let segments = cache.segments();
                for (i, shard) in segments.iter().enumerate() {
                    let theirs: Vec<u64> = reference[i].list.iter().map(|e| e.0).collect();
                    assert_eq!(shard[0], theirs, "order of shard {i}: {context}");
                }
            }
        }
    }
}

/// A fixed hasher for the differential run of the new operations: a batch
/// looks its keys up in hash order, which the reference replays.
type Fixed = std::hash::BuildHasherDefault<std::collections::hash_map::DefaultHasher>;

/// The newer operations (`compute`, the borrowed-key and optional loading
/// calls, `get_or_insert_many`, `retain`) mixed with the plain ones on a
/// one-shard cache, against the `lru` crate, step by step. Single-threaded,
/// each is a composition of reference operations:
/// - `compute`: `Put` is a `put`, `Remove` a `pop`, `Keep` a `peek`;
/// - `get_or_insert_with_ref`: `get`, then `put` on a miss;
/// - `optionally_get_or_insert_with`: the same, storing nothing on `None`;
/// - `get_or_insert_many`: a `get` of each distinct key in hash order (the
///   batch's pass order), then a `put` of each missing key in key order;
/// - `retain`: a `pop` of every rejected key (the others keep their place).
fn api_differential(capacity: usize, steps: usize, keys: u64, seed: u64) {
    use shardcache::Compute;
    use std::hash::BuildHasher;
    let cache: Cache<u64, u64, Fixed> = Cache::builder()
        .capacity(capacity as u64)
        .shards(1)
        .hasher(Fixed::default())
        .build();
    let mut reference = NonZeroUsize::new(capacity).map(lru::LruCache::new);
    let mut rng = Rng(seed);
    for step in 0..steps {
        let key = rng.below(keys);
        let op = rng.below(100);
        let value = rng.next();
        let context =
            || format!("api: capacity {capacity}, seed {seed}, step {step}, op {op}, key {key}");
        match op {
            0..=19 => {
                let expected = reference.as_mut().and_then(|r| r.get(&key).copied());
                assert_eq!(cache.get(&key), expected, "get: {}", context());
            }
            20..=34 => {
                let expected = reference.as_mut().and_then(|r| r.put(key, value));
                assert_eq!(cache.insert(key, value), expected, "insert: {}", context());
            }
            35..=39 => {
                let expected = reference.as_mut().and_then(|r| r.pop(&key));
                assert_eq!(cache.remove(&key), expected, "remove: {}", context());
            }
            40..=59 => {
                // compute: +value, keep, or remove, by the current value.
                let choice = rng.below(3);
                let current = reference.as_ref().and_then(|r| r.peek(&key).copied());
                let expected = match choice {
                    0 => {
                        let new = current.unwrap_or(0).wrapping_add(value);
                        if let Some(r) = reference.as_mut() {
                            r.put(key, new);
                        }
                        Some(new)
                    }
                    1 => current,
                    _ => {
                        if let Some(r) = reference.as_mut() {
                            r.pop(&key);
                        }
                        None
                    }
                };
                let got = cache.compute(key, |v| {
                    assert_eq!(v.copied(), current, "compute sees: {}", context());
                    match choice {
                        0 => Compute::Put(v.copied().unwrap_or(0).wrapping_add(value)),
                        1 => Compute::Keep,
                        _ => Compute::Remove,
                    }
                });
                assert_eq!(got, expected, "compute: {}", context());
            }
            60..=69 => {
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
                    cache.get_or_insert_with_ref(&key, || value),
                    expected,
                    "ref: {}",
                    context()
                );
            }
            70..=79 => {
                let finds = rng.below(2) == 0;
                let expected = match reference.as_mut() {
                    Some(r) => match r.get(&key) {
                        Some(&v) => Some(v),
                        None if finds => {
                            r.put(key, value);
                            Some(value)
                        }
                        None => None,
                    },
                    None => finds.then_some(value),
                };
                let got = cache.optionally_get_or_insert_with(key, || finds.then_some(value));
                assert_eq!(got, expected, "optionally: {}", context());
            }
            80..=94 => {
                let n = 1 + rng.below(6) as usize;
                let batch: Vec<u64> = (0..n).map(|_| rng.below(keys)).collect();
                let hasher = Fixed::default();
                let mut distinct: Vec<(u64, usize)> = Vec::new();
                for (at, &k) in batch.iter().enumerate() {
                    if !distinct.iter().any(|&(_, a)| batch[a] == k) {
                        distinct.push((hasher.hash_one(k), at));
                    }
                }
                let mut by_hash = distinct.clone();
                by_hash.sort();
                let mut found = std::collections::HashMap::new();
                for &(_, at) in &by_hash {
                    let k = batch[at];
                    if let Some(v) = reference.as_mut().and_then(|r| r.get(&k).copied()) {
                        found.insert(k, v);
                    }
                }
                let missing: Vec<u64> = distinct
                    .iter()
                    .map(|&(_, at)| batch[at])
                    .filter(|k| !found.contains_key(k))
                    .collect();
                for &k in &missing {
                    let v = k.wrapping_mul(value);
                    if let Some(r) = reference.as_mut() {
                        r.put(k, v);
                    }
                    found.insert(k, v);
                }
                let expected: Vec<u64> = batch.iter().map(|k| found[k]).collect();
                let got = cache.get_or_insert_many(&batch, |asked| {
                    assert_eq!(asked, &missing[..], "batch asks: {}", context());
                    asked.iter().map(|k| k.wrapping_mul(value)).collect()
                });
                assert_eq!(got, expected, "batch {batch:?}: {}", context());
            }
            95..=98 => {
                let modulus = 2 + rng.below(3);
                if let Some(r) = reference.as_mut() {
                    let doomed: Vec<u64> = r
                        .iter()
                        .filter(|(_, v)| *v % modulus == 0)
                        .map(|(k, _)| *k)
                        .collect();
                    for k in doomed {
                        r.pop(&k);
                    }
                }
                cache.retain(|_, v| v % modulus != 0);
            }
            _ => {
                cache.clear();
                if let Some(r) = reference.as_mut() {
                    r.clear();
                }
            }
        }
        let expected_len = reference.as_ref().map_or(0, |r| r.len());
        assert_eq!(cache.len(), expected_len, "len: {}", context());
        assert_eq!(cache.loads_in_flight(), 0, "flights: {}", context());
        if step % 16 == 0 {
            cache.check_invariants();
            assert_recency_order(&cache, reference.as_ref(), &context());
        }
    }
    cache.check_invariants();
}

#[test]
fn the_newer_operations_are_exactly_lru_compositions() {
    for (i, &capacity) in [0usize, 1, 2, 5, 16, 64].iter().enumerate() {
        for keys in [4u64, 24, 200] {
            api_differential(capacity, 10_000, keys, 0xA11CE + i as u64 * 17 + keys);
        }
    }
}
