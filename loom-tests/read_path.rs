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
use shardcache::{Cache, Clock, Policy};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

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

/// A read that marks the tail of a full shard, racing an insert that
/// evicts from it: if the read found its entry (so marked it before the
/// eviction), the entry gets its second chance and the next one goes
/// instead; if it missed, the tail had already been evicted. Either way
/// exactly the entries the second-chance rule names survive.
#[test]
fn marked_tail_gets_a_second_chance() {
    second_chance(None);
}

/// The same on a cache that expires entries (a TTL never reached), whose
/// hits take the timed read path: an entry stored with a 1 ms lifetime
/// and removed leaves the shard's floor behind the clock, so hits read
/// their deadlines (`Timers::all_live`).
#[test]
fn marked_tail_gets_a_second_chance_with_a_ttl() {
    second_chance(Some(Duration::from_secs(3600)));
}

/// A test clock in milliseconds (a plain atomic: the clock is user code,
/// not the protocol under test).
#[derive(Clone)]
struct TestClock(Instant, std::sync::Arc<AtomicU64>);

impl Clock for TestClock {
    fn now(&self) -> Instant {
        self.0 + Duration::from_millis(self.1.load(Ordering::SeqCst))
    }
}

fn second_chance(ttl: Option<Duration>) {
    common::model(2, move || {
        let builder = Cache::builder()
            .capacity(4)
            .shards(2)
            .hasher(common::Fixed::default());
        let clock = TestClock(Instant::now(), Default::default());
        let builder = match ttl {
            Some(ttl) => builder.time_to_live(ttl).clock(clock.clone()),
            None => builder,
        };
        let cache: Arc<Cache<u64, u64, common::Fixed>> = Arc::new(builder.build());
        // Keys of shard 0 (budget 2): which keys those are depends
        // only on the hasher and the shard count, so ask a roomier cache.
        let probe: Cache<u64, u64, common::Fixed> = Cache::builder()
            .capacity(64)
            .shards(2)
            .hasher(common::Fixed::default())
            .build();
        for key in 0..16 {
            probe.insert(key, key);
        }
        let shard0 = &probe.segments()[0][0];
        let (older, newer, incoming) = (shard0[0], shard0[1], shard0[2]);
        if ttl.is_some() {
            let gone = shard0[3];
            cache.insert_with_ttl(gone, gone, Duration::from_millis(1));
            cache.remove(&gone);
            clock.1.store(2, Ordering::SeqCst);
        }
        cache.insert(older, older + 100);
        cache.insert(newer, newer + 100);
        let c = cache.clone();
        let reader = thread::spawn(move || c.get(&older));
        let c = cache.clone();
        let writer = thread::spawn(move || {
            c.insert(incoming, incoming + 100);
        });
        let read = reader.join().unwrap();
        writer.join().unwrap();
        let survivors: Vec<u64> = [older, newer, incoming]
            .into_iter()
            .filter(|k| cache.contains_key(k))
            .collect();
        match read {
            Some(v) => {
                assert_eq!(v, older + 100);
                assert_eq!(survivors, [older, incoming], "the marked tail stayed");
            }
            None => assert_eq!(survivors, [newer, incoming], "the tail went first"),
        }
        cache.check_invariants();
    });
}
