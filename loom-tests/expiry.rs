//! loom models of expiry and the removal listener: an expired key reloaded
//! by racing callers (one load, no stale value), a listener that calls
//! back into the cache for the key being removed (no deadlock, every
//! removal heard once), `cleanup` racing inserts, and a reader that misses
//! the flag the first `insert_with_ttl` sets.
#![cfg(shardcache_loom)]

mod common;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use loom::thread;
use shardcache::{Cache, Clock, RemovalCause};

/// A test clock in milliseconds (plain atomics: the clock is user code,
/// not the protocol under test). Times stay below the wheel's finest tick
/// (16.8 ms), so the wheel never reclaims on its own: the lookups' and
/// writes' own deadline checks are what the models exercise, and
/// `cleanup` is what reclaims.
#[derive(Clone)]
struct TestClock(Instant, Arc<AtomicU64>);

impl Clock for TestClock {
    fn now(&self) -> Instant {
        self.0 + Duration::from_millis(self.1.load(Ordering::SeqCst))
    }
}

type Heard = Arc<Mutex<Vec<(u64, u64, RemovalCause)>>>;

/// A one-shard cache (so lookups take the write lock) or two shards (so
/// hits run under the read lock), TTL 10 ms, on a test clock, recording
/// every removal.
fn timed(shards: usize) -> (Cache<u64, u64, common::Fixed>, TestClock, Heard) {
    let clock = TestClock(Instant::now(), Arc::new(AtomicU64::new(0)));
    let heard: Heard = Arc::default();
    let log = heard.clone();
    let cache = Cache::builder()
        .capacity(4)
        .shards(shards)
        .hasher(common::Fixed::default())
        .time_to_live(Duration::from_millis(10))
        .clock(clock.clone())
        .removal_listener(move |k: &u64, v: &u64, cause| log.lock().unwrap().push((*k, *v, cause)))
        .build();
    (cache, clock, heard)
}

/// Two callers ask for a key whose entry has just expired: one load serves
/// both, neither sees the expired value, and the old entry is heard once,
/// as expired.
#[test]
fn expired_key_reloads_once() {
    for shards in [1, 2] {
        common::model(2, move || {
            let (cache, clock, heard) = timed(shards);
            cache.insert(1, 100);
            clock.1.store(10, Ordering::SeqCst);
            let cache = Arc::new(cache);
            let loads = Arc::new(AtomicUsize::new(0));
            let callers: Vec<_> = (0..2)
                .map(|_| {
                    let (cache, loads) = (cache.clone(), loads.clone());
                    thread::spawn(move || {
                        cache.get_or_insert_with(1, || {
                            loads.fetch_add(1, Ordering::SeqCst);
                            200
                        })
                    })
                })
                .collect();
            for caller in callers {
                assert_eq!(caller.join().unwrap(), 200, "no stale value");
            }
            assert_eq!(loads.load(Ordering::SeqCst), 1, "one load");
            assert_eq!(cache.get(&1), Some(200));
            assert_eq!(
                *heard.lock().unwrap(),
                vec![(1, 100, RemovalCause::Expired)]
            );
            cache.check_invariants();
        });
    }
}

/// A write racing the reload of an expired key wins, as for any load: the
/// loaded value is returned to its caller but never stored over the write.
#[test]
fn write_racing_reload_of_expired_key_wins() {
    common::model(3, || {
        let (cache, clock, _heard) = timed(1);
        cache.insert(1, 100);
        clock.1.store(10, Ordering::SeqCst);
        let cache = Arc::new(cache);
        let c = cache.clone();
        let loader = thread::spawn(move || c.get_or_insert_with(1, || 200));
        let c = cache.clone();
        let writer = thread::spawn(move || {
            c.insert(1, 300);
        });
        let loaded = loader.join().unwrap();
        writer.join().unwrap();
        assert!(loaded == 200 || loaded == 300, "never the expired value");
        assert_eq!(cache.get(&1), Some(300), "the write wins");
        cache.check_invariants();
    });
}

/// The listener removes and re-inserts the key it is told about, from the
/// thread that removed it, while another thread writes the same key: no
/// deadlock, and every entry that left is heard exactly once.
#[test]
fn listener_reenters_the_cache() {
    common::model(2, || {
        let heard: Heard = Arc::default();
        let cache: Arc<Cache<u64, u64, common::Fixed>> = Arc::new_cyclic(|weak| {
            let weak: std::sync::Weak<Cache<u64, u64, common::Fixed>> = weak.clone();
            let log = heard.clone();
            Cache::builder()
                .capacity(1)
                .shards(1)
                .hasher(common::Fixed::default())
                .removal_listener(move |k: &u64, v: &u64, cause| {
                    log.lock().unwrap().push((*k, *v, cause));
                    if let (Some(cache), RemovalCause::Explicit) = (weak.upgrade(), cause) {
                        let _ = cache.get(k);
                        cache.insert(*k, v + 10);
                    }
                })
                .build()
        });
        cache.insert(1, 1);
        let c = cache.clone();
        let remover = thread::spawn(move || {
            c.remove(&1);
        });
        let c = cache.clone();
        let writer = thread::spawn(move || {
            c.insert(1, 2);
        });
        remover.join().unwrap();
        writer.join().unwrap();
        cache.check_invariants();
        // Every value stored left once, heard, or is the one left.
        let heard = heard.lock().unwrap();
        let stored = cache.stats().inserts as usize;
        assert_eq!(heard.len() + cache.len(), stored, "{heard:?}");
    });
}

/// `cleanup` races an insert into the same shard after the clock passed
/// the old entries' deadlines: each expired entry is heard once, as
/// expired; the new one stays.
#[test]
fn cleanup_races_insert() {
    common::model(2, || {
        let (cache, clock, heard) = timed(1);
        cache.insert(1, 100);
        cache.insert(2, 200);
        clock.1.store(11, Ordering::SeqCst);
        let cache = Arc::new(cache);
        let c = cache.clone();
        let cleaner = thread::spawn(move || c.cleanup());
        let c = cache.clone();
        let writer = thread::spawn(move || {
            c.insert(3, 300);
        });
        cleaner.join().unwrap();
        writer.join().unwrap();
        cache.cleanup();
        cache.check_invariants();
        let mut heard = heard.lock().unwrap().clone();
        heard.sort_unstable_by_key(|e| e.0);
        assert_eq!(
            heard,
            vec![
                (1, 100, RemovalCause::Expired),
                (2, 200, RemovalCause::Expired)
            ]
        );
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.get(&3), Some(300));
        assert_eq!(cache.stats().expirations, 2);
    });
}

/// A reader racing the first `insert_with_ttl` of a cache built without
/// expiry may miss the cache's `expiring` flag (set relaxed) and so read no
/// clock before it locks the shard. Once it finds the timers that insert
/// gave the shard, it reads the clock all the same: neither a lookup (under
/// the read lock with two shards, the write lock with one) nor a `remove`
/// returns the entry after its deadline.
#[test]
fn reader_missing_the_expiry_flag_reads_the_clock() {
    for (shards, remove) in [(1, false), (2, false), (1, true)] {
        common::model(2, move || {
            shardcache::loom_set_builtin_clock(Duration::ZERO);
            let cache: Arc<Cache<u64, u64, common::Fixed>> = Arc::new(
                Cache::builder()
                    .capacity(4)
                    .shards(shards)
                    .hasher(common::Fixed::default())
                    .build(),
            );
            // A plain flag: the model's own signal, which gives loom no
            // order between the two threads.
            let inserted = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let (c, done) = (cache.clone(), inserted.clone());
            let writer = thread::spawn(move || {
                c.insert_with_ttl(1, 100, Duration::from_millis(5));
                done.store(true, Ordering::SeqCst);
            });
            while !inserted.load(Ordering::SeqCst) {
                thread::yield_now();
            }
            shardcache::loom_set_builtin_clock(Duration::from_millis(10));
            // A fresh thread: loom lets it read the flag's old value (this
            // thread, having yielded, must see the new one).
            let c = cache.clone();
            let reader = thread::spawn(move || if remove { c.remove(&1) } else { c.get(&1) });
            assert_eq!(
                reader.join().unwrap(),
                None,
                "expired at 5 ms, read at 10 ms"
            );
            writer.join().unwrap();
            cache.check_invariants();
        });
    }
}
