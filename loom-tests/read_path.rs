//! loom model of the shared-lock read path: on a multi-shard LRU cache a
//! `get` holds only its shard's read lock and marks its entry with an atomic
//! bit, while writers evict (reading and clearing marks) under the write
//! lock.
#![cfg(shardcache_loom)]

mod common;

use loom::sync::Arc;
use loom::thread;
use shardcache::Cache;

/// Two readers hitting and a writer forcing evictions in the same shard:
/// readers see only values that were written for their key, the marked
/// entry gets its second chance, and the shard stays consistent.
#[test]
fn hits_race_evictions() {
    common::model(2, || {
        // Two shards (so lookups take the read lock), one entry each.
        let cache: Arc<Cache<u64, u64, common::Fixed>> = Arc::new(
            Cache::builder()
                .capacity(4)
                .shards(2)
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
