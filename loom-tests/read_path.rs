//! loom model of the shared-lock read path: on a multi-shard cache a `get`
//! holds only its shard's read lock and marks its entry with an atomic bit,
//! while writers evict (reading and clearing marks) under the write lock.
//! Under W-TinyLFU the same hits also feed the shared window tuner, which
//! they take only with `try_lock` and only once they have released the
//! read lock, and the writers apply the marked hits
//! (sketch counts, promotions) when they meet the nodes at a tail.
#![cfg(shardcache_loom)]

mod common;

use loom::sync::Arc;
use loom::thread;
use shardcache::{Cache, Policy};

/// Two readers hitting and a writer forcing evictions in the same shard:
/// readers see only values that were written for their key, the marked
/// entry gets its second chance, and the shard stays consistent.
#[test]
fn hits_race_evictions() {
    hits_race_evictions_under(Policy::Lru);
}

/// The same under W-TinyLFU, whose hits on a multi-shard cache are lazy
/// too (and whose tiny capacity samples every key for the tuner).
#[test]
fn tinylfu_hits_race_evictions() {
    hits_race_evictions_under(Policy::TinyLfu);
}

fn hits_race_evictions_under(policy: Policy) {
    common::model(2, move || {
        // Two shards (so lookups take the read lock), two entries each.
        let cache: Arc<Cache<u64, u64, common::Fixed>> = Arc::new(
            Cache::builder()
                .capacity(4)
                .shards(2)
                .policy(policy)
                .hasher(common::Fixed::default())
                .build(),
        );
        for key in 0..8 {
            cache.insert(key, key + 100);
        }
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let cache = cache.clone();
                thread::spawn(move || {
                    for key in 0..8 {
                        if let Some(v) = cache.get(&key) {
                            assert_eq!(v, key + 100);
                        }
                    }
                })
            })
            .collect();
        let c = cache.clone();
        let writer = thread::spawn(move || {
            for key in 8..11 {
                c.insert(key, key + 100);
            }
        });
        for r in readers {
            r.join().unwrap();
        }
        writer.join().unwrap();
        assert_eq!(cache.len(), 4);
        cache.check_invariants();
        let stats = cache.stats();
        assert_eq!(stats.hits + stats.misses, 16, "every lookup counted once");
    });
}
