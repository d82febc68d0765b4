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
