//! W-TinyLFU checked step by step against the plain reference model in
//! `tests/support/tinylfu_ref.rs` (same keys, same hashes: same residents,
//! in the same segments, in the same order), plus scan resistance.
#![cfg(not(shardcache_loom))]

#[path = "support/tinylfu_ref.rs"]
mod reference;

use shardcache::{Cache, Policy};

type Fixed = ahash::RandomState;

fn fixed() -> Fixed {
    ahash::RandomState::with_seeds(11, 22, 33, 44)
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Compares every segment of the one-shard cache with the reference's.
fn same_lists(cache: &Cache<u64, u64, Fixed>, model: &reference::TinyLfu, context: &str) {
    let segments = cache.segments();
    let [main, window, protected] = &segments[0];
    let core = model.core();
    let theirs = |list| {
        let mut keys = core.keys(list);
        keys.reverse(); // most recent first, as ours
        keys
    };
    assert_eq!(
        window,
        &theirs(reference::List::Window),
        "window: {context}"
    );
    assert_eq!(
        main,
        &theirs(reference::List::Probation),
        "probation: {context}"
    );
    assert_eq!(
        protected,
        &theirs(reference::List::Protected),
        "protected: {context}"
    );
}

fn differential(capacity: usize, steps: usize, seed: u64) {
    let cache: Cache<u64, u64, Fixed> = Cache::builder()
        .capacity(capacity as u64)
        .shards(1)
        .policy(Policy::TinyLfu)
        .hasher(fixed())
        .build();
    let hasher = fixed();
    let mut model = reference::TinyLfu::new(capacity);
    let mut rng = Rng(seed);
    // A skewed key space: a hot set, a warm set, and occasional scans.
    let hot = (capacity as u64 / 2).max(2);
    let mut scan = 1_000_000u64;
    for step in 0..steps {
        let r = rng.next();
        let key = match r % 10 {
            0..=4 => r >> 40 & (hot - 1).max(1),
            5..=7 => 1000 + (r >> 40) % (capacity as u64 * 3 + 5),
            _ => {
                scan += 1;
                scan
            }
        };
        let hash = hasher.hash_one(key);
        let context = format!("capacity {capacity}, seed {seed}, step {step}, key {key}");
        match (r >> 8) % 10 {
            0..=5 => {
                // Read-through, as a cache is used.
                let hit = cache.get(&key).is_some();
                assert_eq!(hit, model.get(key, hash), "get: {context}");
                if !hit {
                    cache.insert(key, key);
                    model.insert(key, hash);
                }
            }
            6..=8 => {
                cache.insert(key, key);
                model.insert(key, hash);
            }
            _ => {
                let removed = cache.remove(&key).is_some();
                assert_eq!(removed, model.remove(key, hash), "remove: {context}");
            }
        }
        assert_eq!(cache.len(), model.len(), "len: {context}");
        if step % 8 == 0 || capacity < 8 {
            same_lists(&cache, &model, &context);
            cache.check_invariants();
        }
    }
    same_lists(&cache, &model, "end");
}

#[test]
fn one_shard_matches_the_reference_policy() {
    for (i, capacity) in [0usize, 1, 2, 3, 5, 16, 64, 100, 300]
        .into_iter()
        .enumerate()
    {
        differential(capacity, 6_000, 0x1234_5678 + i as u64);
    }
}

#[test]
fn matches_the_reference_through_many_window_changes() {
    // Long enough for several tuner epochs (the window moves) at a size
    // where one key in sixteen is sampled.
    differential(2_048, 120_000, 99);
}

#[test]
fn a_scan_does_not_flush_the_hot_set() {
    for shards in [1usize, 4] {
        let capacity = 2_000u64;
        let cache: Cache<u64, u64> = Cache::builder()
            .capacity(capacity)
            .shards(shards)
            .policy(Policy::TinyLfu)
            .build();
        let lru: Cache<u64, u64> = Cache::builder().capacity(capacity).shards(shards).build();
        let hot: Vec<u64> = (0..capacity / 2).collect();
        let read_through = |c: &Cache<u64, u64>, k: u64| {
            if c.get(&k).is_none() {
                c.insert(k, k);
            }
        };
        for _ in 0..20 {
            for &k in &hot {
                read_through(&cache, k);
                read_through(&lru, k);
            }
        }
        // A one-off scan of cold keys, five times the capacity.
        for k in 1_000_000..1_000_000 + 5 * capacity {
            read_through(&cache, k);
            read_through(&lru, k);
        }
        let kept = hot.iter().filter(|k| cache.contains_key(k)).count();
        let kept_by_lru = hot.iter().filter(|k| lru.contains_key(k)).count();
        assert!(
            kept as f64 >= 0.95 * hot.len() as f64,
            "{shards} shard(s): W-TinyLFU kept {kept} of {} hot keys",
            hot.len()
        );
        assert_eq!(
            kept_by_lru, 0,
            "LRU is flushed by the scan (the test's premise)"
        );
        cache.check_invariants();
    }
}

#[test]
fn weighted_tinylfu_stays_within_budget() {
    let cache: Cache<u64, Vec<u8>> = Cache::builder()
        .capacity(1_000)
        .shards(2)
        .policy(Policy::TinyLfu)
        .weigher(|_k, v: &Vec<u8>| v.len() as u64)
        .build();
    let mut rng = Rng(5);
    for _ in 0..20_000 {
        let r = rng.next();
        let key = (r >> 20) % 300;
        cache.insert(key, vec![0; (r % 60) as usize]);
        if r % 7 == 0 {
            cache.get(&((r >> 30) % 300));
        }
        assert!(cache.weight() <= 1_000);
    }
    cache.check_invariants();
    cache.clear();
    cache.check_invariants();
    for key in 0..500 {
        cache.insert(key, vec![0; 3]);
    }
    cache.check_invariants();
    cache.set_capacity(300);
    assert!(cache.weight() <= 300);
    cache.check_invariants();
}

/// `set_capacity` re-sizes each shard's sketch as a cache built with the
/// new capacity would have it, so a cache grown from small to large does
/// not keep judging admissions with a sketch sized for the small one.
#[test]
fn set_capacity_resizes_the_sketch() {
    let build = |capacity: u64| {
        Cache::<u64, u64>::builder()
            .capacity(capacity)
            .shards(4)
            .policy(Policy::TinyLfu)
            .build()
    };
    let cache = build(1_000);
    for key in 0..2_000 {
        cache.insert(key, key);
    }
    let small = cache.policy_bytes();
    cache.set_capacity(200_000);
    assert_eq!(cache.policy_bytes(), build(200_000).policy_bytes());
    assert!(cache.policy_bytes() >= 64 * small);
    for key in 0..300_000 {
        cache.insert(key, key);
    }
    assert_eq!(cache.len(), 200_000);
    cache.set_capacity(1_000);
    assert_eq!(cache.policy_bytes(), small);
    assert!(cache.len() <= 1_000);
    cache.check_invariants();
}

/// A W-TinyLFU cache of four shards, so hits run under the read lock and
/// are applied lazily, hashing with the fixed seeds.
fn four_lazy_shards(capacity: u64) -> Cache<u64, u64, Fixed> {
    Cache::builder()
        .capacity(capacity)
        .shards(4)
        .policy(Policy::TinyLfu)
        .hasher(fixed())
        .build()
}

/// Caches of several shards take W-TinyLFU hits lazily (a mark under the
/// read lock, applied when the node reaches a tail). Random operations on
/// such a cache: every read returns the value last written for its key,
/// the lists stay consistent, the cache stays within its capacity, and
/// every `get` is counted once. Then a hot set that only ever hits must
/// survive a stream of one-off keys (it can only through the lazy hits).
#[test]
fn lazy_hits_on_several_shards_keep_the_cache_consistent() {
    let capacity = 4_096u64;
    let cache = four_lazy_shards(capacity);
    let mut written = std::collections::HashMap::new();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let (mut gets, mut found) = (0u64, 0u64);
    for step in 0..200_000u64 {
        let r = rng.next();
        // Keys 0..2048 are hot (seven draws in eight), 2048..65536 cold.
        let key = if r % 8 != 0 {
            (r >> 8) % 2_048
        } else {
            2_048 + (r >> 8) % 63_488
        };
        match (r >> 40) % 10 {
            0 => {
                cache.insert(key, step);
                written.insert(key, step);
            }
            1 => {
                cache.remove(&key);
                written.remove(&key);
            }
            _ => {
                gets += 1;
                match cache.get(&key) {
                    Some(value) => {
                        found += 1;
                        assert_eq!(Some(&value), written.get(&key), "stale value for {key}");
                    }
                    None => {
                        // Read-through, as a service would.
                        cache.insert(key, step);
                        written.insert(key, step);
                    }
                }
            }
        }
        assert!(cache.len() as u64 <= capacity);
        if step % 5_000 == 0 {
            cache.check_invariants();
        }
    }
    cache.check_invariants();
    let stats = cache.stats();
    assert_eq!(stats.hits + stats.misses, gets, "every get counted once");
    assert_eq!(stats.hits, found);

    // Then hits alone must keep a hot set: half the lookups go to 1,024 hot
    // keys (all cached, so they only ever hit), half to keys never seen
    // before. Only the lazily applied hits tell the policy the hot keys are
    // hot; without them the one-off keys would push the hot set out.
    for k in 0..1_024u64 {
        cache.insert(k, k);
    }
    let mut fresh = 1u64 << 40;
    for _ in 0..400_000u64 {
        let r = rng.next();
        let key = if r % 2 == 0 {
            (r >> 8) % 1_024
        } else {
            fresh += 1;
            fresh
        };
        if cache.get(&key).is_none() {
            cache.insert(key, key);
        }
    }
    cache.check_invariants();
    let hot_kept = (0..1_024u64).filter(|k| cache.contains_key(k)).count();
    assert!(
        hot_kept >= 1_000,
        "hits kept only {hot_kept} of 1024 hot keys"
    );
}

/// On a multi-shard cache a hit runs under the shard's read lock, and the
/// window tuner must still see it (sampled, after the lock is released).
/// The workload rewards a large window: every key is looked up again 1,000
/// new keys after its first use, further back than a 1% window reaches but
/// well inside the cache, and never after that. Only shadows with a large
/// window hit those lookups, and only lookups can tell the tuner so
/// (inserts alone score no shadow), so the real window must grow from its
/// initial 1% to at least 20% (it reaches 80%; without the readers' samples
/// it stays at 1%).
#[test]
fn read_locked_hits_feed_the_window_tuner() {
    let capacity = 4_096u64;
    let cache = four_lazy_shards(capacity);
    let read_through = |key: u64| {
        if cache.get(&key).is_none() {
            cache.insert(key, key);
        }
    };
    for key in 0..200_000u64 {
        read_through(key);
        if key >= 1_000 {
            read_through(key - 1_000);
        }
    }
    cache.check_invariants();
    let window: usize = cache.segments().iter().map(|lists| lists[1].len()).sum();
    assert!(
        window as u64 >= capacity / 5,
        "the window stayed at {window} of {capacity} entries"
    );
}

thread_local! {
    static HASHES: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// A key that counts how often its `Hash` runs (the user code a cache
/// should run as little as possible, and never twice for one answer).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Counted(u64);

impl std::hash::Hash for Counted {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        HASHES.with(|n| n.set(n.get() + 1));
        self.0.hash(state);
    }
}

/// Runs of `Hash` by `cache.insert(key, 0)`.
fn hashes_of_insert(cache: &Cache<Counted, u64>, key: u64) -> u64 {
    let before = HASHES.with(std::cell::Cell::get);
    cache.insert(Counted(key), 0);
    HASHES.with(std::cell::Cell::get) - before
}

#[test]
fn an_eviction_reuses_the_hashes_of_its_decision() {
    // Exact (one-shard) caches, so no marked hit is pending at a tail and
    // every eviction is one decision.
    for (policy, expected) in [
        // The newcomer's hash, then the LRU victim's, to unfile it.
        (Policy::Lru, 2),
        // The newcomer's, then the duel's candidate and victim; the loser
        // is unfiled with the hash the duel took, not hashed a third time.
        (Policy::TinyLfu, 3),
    ] {
        let cache: Cache<Counted, u64> = Cache::builder()
            .capacity(64)
            .shards(1)
            .policy(policy)
            .build();
        for k in 0..64 {
            cache.insert(Counted(k), 0);
        }
        let mut rebuilds = 0;
        for k in 64..1_064 {
            let runs = hashes_of_insert(&cache, k);
            // Now and then the index is rebuilt to clear hashbrown's
            // tombstones, which hashes each of the 63 or 64 residents once.
            assert!(
                runs == expected || runs == expected + 63 || runs == expected + 64,
                "{policy:?}: {runs} Hash runs for inserting key {k} into a full cache, \
                 expected {expected} (or that plus an index rebuild)"
            );
            rebuilds += u32::from(runs > expected);
        }
        assert!(
            rebuilds <= 5,
            "{policy:?}: {rebuilds} index rebuilds in 1,000 inserts"
        );
        assert_eq!(cache.len(), 64);
        assert_eq!(cache.stats().evictions, 1_000);
    }
}

/// After a clear the duel meets the new residents, in slots the old ones
/// held: a newcomer counted more often than main's victim is admitted, and
/// the loser is unfiled under its own hash.
#[test]
fn after_a_clear_the_duel_meets_the_new_residents() {
    let cache: Cache<u64, u64> = Cache::builder()
        .capacity(64)
        .shards(1)
        .policy(Policy::TinyLfu)
        .build();
    // New keys seen once lose their duels, so main's victim survives.
    for k in 0..200 {
        cache.insert(k, k);
    }
    cache.clear();
    for k in 10_000..10_064 {
        cache.insert(k, k);
    }
    // A key counted four times beats main's victim, now a different key
    // in a slot the old survivor held.
    for _ in 0..3 {
        cache.insert(7_777, 0);
        cache.remove(&7_777);
    }
    cache.insert(7_777, 0);
    cache.insert(8_888, 0);
    cache.check_invariants();
    assert_eq!(cache.get(&7_777), Some(0), "the frequent key was admitted");
    assert_eq!(cache.len(), 64);
}
