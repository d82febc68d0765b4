//! loom model of W-TinyLFU's one shared piece: the window tuner, fed by
//! every shard under its own lock (taken with `try_lock`, by writers under
//! their shard lock and by readers after releasing theirs) and
//! publishing its decision through an atomic. Everything else the policy
//! does happens under the shard lock of the entries it touches, so the
//! single-flight models cover it.
#![cfg(shardcache_loom)]

mod common;

use loom::sync::Arc;
use loom::thread;
use shardcache::{Cache, Policy};

/// Two shards fed concurrently (every key sampled: the capacity is tiny),
/// with a concurrent `set_capacity` resetting the tuner: no deadlock, the
/// cache stays within capacity, every shard's lists and segment weights
/// stay consistent, and values read are values written.
#[test]
fn shards_share_the_tuner() {
    common::model(2, || {
        let cache: Arc<Cache<u64, u64, common::Fixed>> = Arc::new(
            Cache::builder()
                .capacity(4)
                .shards(2)
                .policy(Policy::TinyLfu)
                .hasher(common::Fixed::default())
                .build(),
        );
        let workers: Vec<_> = [0u64, 100]
            .into_iter()
            .map(|base| {
                let cache = cache.clone();
                thread::spawn(move || {
                    for key in base..base + 3 {
                        cache.insert(key, key * 2);
                        if let Some(v) = cache.get(&key) {
                            assert_eq!(v, key * 2);
                        }
                    }
                })
            })
            .collect();
        let c = cache.clone();
        let resizer = thread::spawn(move || c.set_capacity(2));
        for w in workers {
            w.join().unwrap();
        }
        resizer.join().unwrap();
        assert!(cache.len() <= 4);
        cache.check_invariants();
        for (key, value) in cache.iter() {
            assert_eq!(value, key * 2);
        }
    });
}

/// Two `set_capacity` calls racing, then inserts that fill the cache: the
/// shards' budgets add up to the capacity of one of the two calls, the one
/// `capacity()` reports, so the filled cache holds exactly that many
/// entries (two shards under LRU: the resize is policy-independent).
#[test]
fn racing_resizes_agree_with_capacity() {
    common::model(2, || {
        let cache: Arc<Cache<u64, u64, common::Fixed>> = Arc::new(
            Cache::builder()
                .capacity(4)
                .shards(2)
                .hasher(common::Fixed::default())
                .build(),
        );
        let resizers: Vec<_> = [2u64, 6]
            .into_iter()
            .map(|capacity| {
                let cache = cache.clone();
                thread::spawn(move || cache.set_capacity(capacity))
            })
            .collect();
        for r in resizers {
            r.join().unwrap();
        }
        let capacity = cache.capacity();
        assert!(capacity == 2 || capacity == 6);
        // Enough keys to fill both shards whatever their shares.
        for key in 0..24 {
            cache.insert(key, key);
        }
        assert_eq!(
            cache.len() as u64,
            capacity,
            "the shards' budgets add up to capacity()"
        );
        cache.check_invariants();
    });
}

/// The window tuner's published decision racing a reset: a lookup feeds
/// the (trained) tuner while `set_capacity` resets it. Whatever the order,
/// once both are done the decision the shards apply is the tuner's own:
/// a decision published after the reset, from before it, would be stale.
#[test]
fn tuner_decision_races_a_reset() {
    common::model(2, || {
        let cache: Arc<Cache<u64, u64, common::Fixed>> = Arc::new(
            Cache::builder()
                .capacity(4)
                .shards(2)
                .policy(Policy::TinyLfu)
                .hasher(common::Fixed::default())
                .build(),
        );
        let (_, initial) = cache.window_decision().unwrap();
        // Train the tuner (every key is sampled at this size): pairs of
        // keys each read twice in turn favour a larger window, and after
        // one epoch (32 lookups) the decision moves off the initial one.
        for i in 0..32u64 {
            cache.get(&((i / 4) * 2 + i % 2));
        }
        let (published, trained) = cache.window_decision().unwrap();
        assert_eq!(published, trained);
        assert_ne!(trained, initial, "the tuner was trained");
        let c = cache.clone();
        let reader = thread::spawn(move || {
            c.get(&1);
        });
        let c = cache.clone();
        let resizer = thread::spawn(move || c.set_capacity(8));
        reader.join().unwrap();
        resizer.join().unwrap();
        let (published, tuner) = cache.window_decision().unwrap();
        assert_eq!(tuner, initial, "the reset tuner starts afresh");
        assert_eq!(published, tuner, "the published decision is the tuner's");
        cache.check_invariants();
    });
}
