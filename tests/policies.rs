//! Everything but the eviction order behaves the same under both policies:
//! the contents a cache returns, its statistics, single-flight
//! loading (sync and async, values and errors), the weigher,
//! `set_capacity`, `clear` and iteration. Each check runs under LRU and
//! W-TinyLFU, on one shard (every hit promotes at once, under the write
//! lock) and on four (lookups under the read lock, hits applied lazily).
//! Which keys survive eviction differs between the policies; nothing here
//! depends on it.
#![cfg(not(shardcache_loom))]

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use shardcache::{Cache, Policy};

/// Runs `check` on every configuration: both policies, one and four shards.
fn each_config(mut check: impl FnMut(Policy, usize, &str)) {
    for policy in [Policy::Lru, Policy::TinyLfu] {
        for shards in [1, 4] {
            check(policy, shards, &format!("{policy:?}, {shards} shard(s)"));
        }
    }
}

fn build<K: std::hash::Hash + Eq, V: Clone>(
    capacity: u64,
    policy: Policy,
    shards: usize,
) -> Cache<K, V> {
    Cache::builder()
        .capacity(capacity)
        .shards(shards)
        .policy(policy)
        .build()
}

/// Runs `f(t)` for `t` in `0..threads`, each on its own thread, all
/// released together by a barrier; returns the results in thread order.
fn together<T: Send + 'static>(
    threads: u64,
    f: impl Fn(u64) -> T + Send + Sync + 'static,
) -> Vec<T> {
    let f = Arc::new(f);
    let barrier = Arc::new(Barrier::new(threads as usize));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (f, barrier) = (f.clone(), barrier.clone());
            thread::spawn(move || {
                barrier.wait();
                f(t)
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

/// A deterministic stream of pseudo-random numbers (splitmix64's
/// increment and finalizer), so a failing step reproduces.
fn stream(seed: u64) -> impl FnMut(u64) -> u64 {
    let mut state = seed;
    move |below| {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) % below
    }
}

/// Random operations on one thread against a map of each key's latest
/// value. Whatever the policy evicts, a cache may only ever answer with a
/// key's latest value, never with a removed one; `insert` hands back the
/// replaced value only if it was the latest; the statistics add up to the
/// operations made; and iteration yields exactly the cached entries.
#[test]
fn answers_and_counts_agree_with_a_map_of_latest_values() {
    each_config(|policy, shards, config| {
        let capacity = 64;
        let cache: Cache<u64, u64> = build(capacity, policy, shards);
        let mut latest: HashMap<u64, u64> = HashMap::new();
        let mut next = stream(7 + shards as u64);
        let (mut hits, mut misses, mut stored, mut replaced, mut removed) = (0, 0, 0, 0, 0);
        for step in 0..20_000u64 {
            let key = next(200);
            let context = || format!("{config}, step {step}, key {key}");
            match next(10) {
                0..=3 => match cache.get(&key) {
                    Some(value) => {
                        hits += 1;
                        assert_eq!(Some(&value), latest.get(&key), "get: {}", context());
                    }
                    None => misses += 1,
                },
                4..=6 => {
                    let value = step;
                    let old = cache.insert(key, value);
                    if let Some(old) = old {
                        replaced += 1;
                        assert_eq!(Some(&old), latest.get(&key), "insert: {}", context());
                    }
                    stored += 1;
                    latest.insert(key, value);
                }
                7 => {
                    if let Some(old) = cache.remove(&key) {
                        removed += 1;
                        assert_eq!(Some(&old), latest.get(&key), "remove: {}", context());
                    }
                    latest.remove(&key);
                }
                8 => {
                    let present = cache.peek(&key);
                    assert_eq!(present.is_some(), cache.contains_key(&key), "{}", context());
                    if let Some(value) = present {
                        assert_eq!(Some(&value), latest.get(&key), "peek: {}", context());
                    }
                }
                _ => {
                    let mut loaded = false;
                    let value = cache.get_or_insert_with(key, || {
                        loaded = true;
                        step
                    });
                    if loaded {
                        misses += 1;
                        stored += 1;
                        latest.insert(key, value);
                    } else {
                        hits += 1;
                        assert_eq!(Some(&value), latest.get(&key), "load: {}", context());
                    }
                }
            }
            assert!(
                cache.len() as u64 <= capacity,
                "over capacity: {}",
                context()
            );
        }
        cache.check_invariants();
        let stats = cache.stats();
        assert_eq!((stats.hits, stats.misses), (hits, misses), "{config}");
        assert_eq!(stats.inserts, stored, "{config}");
        // Every stored entry is still there, or was replaced, removed or
        // evicted: nothing else changes the count.
        assert_eq!(
            stats.inserts - replaced - removed - stats.evictions,
            cache.len() as u64,
            "{config}: {stats:?}"
        );
        assert!(stats.evictions > 0, "{config}: the test must evict");
        let entries: Vec<(u64, u64)> = cache.iter().collect();
        let keys: HashSet<u64> = entries.iter().map(|&(k, _)| k).collect();
        assert_eq!(keys.len(), entries.len(), "{config}: a key iterated twice");
        assert_eq!(entries.len(), cache.len(), "{config}");
        for (key, value) in entries {
            assert_eq!(latest.get(&key), Some(&value), "{config}: iterated {key}");
        }
    });
}

/// Eight threads ask for the same 16 cold keys in different orders: each
/// key's loader runs once, and the statistics account for every call.
#[test]
fn a_herd_loads_each_key_once() {
    each_config(|policy, shards, config| {
        let cache: Arc<Cache<u64, u64>> = Arc::new(build(256, policy, shards));
        let loads = Arc::new(AtomicUsize::new(0));
        let (c, l) = (cache.clone(), loads.clone());
        together(8, move |t| {
            for i in 0..16u64 {
                let key = (i + t * 5) % 16;
                let value = c.get_or_insert_with(key, || {
                    l.fetch_add(1, Ordering::SeqCst);
                    thread::sleep(Duration::from_millis(2));
                    key * 10
                });
                assert_eq!(value, key * 10);
            }
        });
        assert_eq!(loads.load(Ordering::SeqCst), 16, "{config}");
        let stats = cache.stats();
        assert_eq!(stats.loads, 16, "{config}");
        assert_eq!(stats.hits + stats.misses, 8 * 16, "{config}");
        assert_eq!(stats.misses, 16 + stats.coalesced, "{config}");
        assert_eq!(cache.len(), 16, "{config}");
        assert_eq!(cache.loads_in_flight(), 0, "{config}");
        cache.check_invariants();
    });
}

/// The async form coalesces the same way, with no runtime of its own: each
/// thread drives its own futures with `smol::block_on`.
#[test]
fn an_async_herd_loads_each_key_once() {
    each_config(|policy, shards, config| {
        let cache: Arc<Cache<u64, u64>> = Arc::new(build(256, policy, shards));
        let loads = Arc::new(AtomicUsize::new(0));
        let (c, l) = (cache.clone(), loads.clone());
        together(6, move |t| {
            smol::block_on(async {
                for i in 0..12u64 {
                    let key = (i + t * 7) % 12;
                    let loads = &l;
                    let value = c
                        .get_or_insert_async(key, async move {
                            loads.fetch_add(1, Ordering::SeqCst);
                            smol::Timer::after(Duration::from_millis(2)).await;
                            key + 100
                        })
                        .await;
                    assert_eq!(value, key + 100);
                }
            })
        });
        assert_eq!(loads.load(Ordering::SeqCst), 12, "{config}");
        assert_eq!(cache.stats().loads, 12, "{config}");
        assert_eq!(cache.loads_in_flight(), 0, "{config}");
        cache.check_invariants();
    });
}

/// A failed load is shared with the callers waiting on it and never
/// cached; the next call loads again.
#[test]
fn a_failed_load_reaches_its_waiters_and_is_not_cached() {
    each_config(|policy, shards, config| {
        let cache: Arc<Cache<u64, u64>> = Arc::new(build(256, policy, shards));
        let runs = Arc::new(AtomicUsize::new(0));
        let (c, r) = (cache.clone(), runs.clone());
        let results = together(4, move |_| {
            c.try_get_or_insert_with(9, || {
                r.fetch_add(1, Ordering::SeqCst);
                thread::sleep(Duration::from_millis(20));
                Err::<u64, _>("backend down")
            })
        });
        for result in results {
            assert_eq!(result.map_err(|e| *e), Err("backend down"), "{config}");
        }
        let runs = runs.load(Ordering::SeqCst) as u64;
        assert!((1..=4).contains(&runs), "{config}");
        let stats = cache.stats();
        assert_eq!(stats.load_failures, runs, "{config}");
        assert_eq!(stats.loads, 0, "{config}");
        assert!(cache.is_empty(), "{config}: a failure was cached");
        assert_eq!(
            cache.try_get_or_insert_with(9, || Ok::<_, &str>(3)),
            Ok(3),
            "{config}"
        );
        assert_eq!(cache.get(&9), Some(3), "{config}");
    });
}

/// With a weigher, the total weight never exceeds the capacity and always
/// equals the weights of the entries iteration yields; loads are weighed
/// like inserts; an entry heavier than its shard's share is not stored.
#[test]
fn the_weigher_bounds_the_total_weight() {
    each_config(|policy, shards, config| {
        let capacity = 400;
        let cache: Cache<u64, Vec<u8>> = Cache::builder()
            .capacity(capacity)
            .shards(shards)
            .policy(policy)
            .weigher(|_key: &u64, value: &Vec<u8>| value.len() as u64)
            .build();
        let mut next = stream(11 + shards as u64);
        for step in 0..5_000u64 {
            let key = next(120);
            let len = 1 + next(30) as usize;
            match next(4) {
                0 | 1 => {
                    cache.insert(key, vec![0; len]);
                }
                2 => {
                    cache.get_or_insert_with(key, || vec![1; len]);
                }
                _ => {
                    cache.get(&key);
                }
            }
            let weight = cache.weight();
            assert!(weight <= capacity, "{config}, step {step}: weight {weight}");
            if step % 250 == 0 {
                let summed: u64 = cache.iter().map(|(_, v)| v.len() as u64).sum();
                assert_eq!(summed, weight, "{config}, step {step}");
                cache.check_invariants();
            }
        }
        assert!(cache.stats().evictions > 0, "{config}: the test must evict");
        let share = capacity / shards as u64;
        let before = (cache.len(), cache.weight());
        cache.insert(1_000, vec![2; share as usize + 1]);
        assert_eq!(cache.get(&1_000), None, "{config}: heavier than a shard");
        assert_eq!((cache.len(), cache.weight()), before, "{config}: evicted");
        cache.check_invariants();
    });
}

/// `set_capacity` evicts down to a smaller capacity at once (counting the
/// evictions) and lets the cache fill up to a larger one; `clear` empties
/// it and keeps the statistics.
#[test]
fn set_capacity_and_clear_behave_alike() {
    each_config(|policy, shards, config| {
        let cache: Cache<u64, u64> = build(1_000, policy, shards);
        // Four times the capacity in distinct keys fills every shard.
        for key in 0..4_000 {
            cache.insert(key, key);
        }
        assert_eq!(cache.len(), 1_000, "{config}");
        let evicted = cache.stats().evictions;
        cache.set_capacity(100);
        assert_eq!((cache.capacity(), cache.len()), (100, 100), "{config}");
        assert_eq!(cache.stats().evictions - evicted, 900, "{config}");
        cache.check_invariants();
        cache.set_capacity(500);
        for key in 4_000..8_000 {
            cache.insert(key, key);
        }
        assert_eq!(cache.len(), 500, "{config}: fills to the new capacity");
        cache.check_invariants();
        for (key, value) in cache.iter() {
            assert_eq!(key, value, "{config}");
        }
        let before = cache.stats();
        cache.clear();
        assert!(cache.is_empty(), "{config}");
        assert_eq!(cache.iter().count(), 0, "{config}");
        assert_eq!(cache.stats(), before, "{config}: clear keeps the counts");
        cache.insert(1, 1);
        assert_eq!(cache.get(&1), Some(1), "{config}");
        cache.check_invariants();
    });
}
