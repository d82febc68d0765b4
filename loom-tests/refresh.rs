//! loom models of refresh-ahead and fail-safe (`src/refresh.rs`): a
//! refresh racing an `insert` of its key, a refresh racing the key's
//! expiry, an executor refresh completing against `clear`, against the
//! cache's drop and against a loading call that applies it, and two
//! callers of a kept key whose backend fails.
//!
//! The clock is a test clock on a std atomic, set by the model before the
//! threads start or by one thread between its own steps: the models explore
//! the interleavings of the cache's locks and atomics, not the clock's.
#![cfg(shardcache_loom)]

mod common;

use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::time::{Duration, Instant};

use loom::sync::{Arc, Mutex};
use loom::thread;
use shardcache::{Cache, Clock};

#[derive(Clone)]
struct TestClock(Instant, std::sync::Arc<AtomicU64>);

impl TestClock {
    fn new() -> Self {
        TestClock(Instant::now(), std::sync::Arc::new(AtomicU64::new(0)))
    }
    fn set(&self, secs: u64) {
        self.1.store(secs * 1_000_000_000, SeqCst);
    }
}

impl Clock for TestClock {
    fn now(&self) -> Instant {
        self.0 + Duration::from_nanos(self.1.load(SeqCst))
    }
}

const SEC: Duration = Duration::from_secs(1);

/// A one-shard cache: time_to_live 60 s, refresh_after 45 s.
fn cache(clock: &TestClock) -> Cache<u64, u64, common::Fixed> {
    Cache::builder()
        .capacity(4)
        .shards(1)
        .hasher(common::Fixed::default())
        .time_to_live(60 * SEC)
        .refresh_after(45 * SEC)
        .clock(clock.clone())
        .build()
}

/// A refresh racing an `insert` of the same key: the insert wins whenever
/// it lands (before the refresh, during it, or after it replaces the
/// value), the refreshing caller gets either the inserted value (it came
/// first) or its own, and no flight is left behind.
#[test]
fn refresh_races_insert() {
    common::model(3, || {
        let clock = TestClock::new();
        let cache = Arc::new(cache(&clock));
        cache.insert(1, 1);
        clock.set(50);
        let c = cache.clone();
        let refresher = thread::spawn(move || c.get_or_insert_with(1, || 100));
        let replaced = cache.insert(1, 5);
        let got = refresher.join().unwrap();
        assert!(got == 5 || got == 100, "got {got}");
        match replaced {
            Some(1) => {}
            Some(100) => assert_eq!(got, 100, "the refresh landed first"),
            other => panic!("the insert replaced {other:?}"),
        }
        assert_eq!(cache.peek(&1), Some(5), "the insert won");
        assert_eq!(cache.loads_in_flight(), 0);
        cache.check_invariants();
    });
}

/// A refresh racing the expiry of its entry (the other thread moves the
/// clock past the deadline and reads, removing the expired entry): the old
/// value never comes back, the refreshed value is stored once, and no
/// flight is left behind.
#[test]
fn refresh_races_expiry() {
    common::model(3, || {
        let clock = TestClock::new();
        let cache = Arc::new(cache(&clock));
        cache.insert(1, 1);
        clock.set(50);
        let c = cache.clone();
        let refresher = thread::spawn(move || c.get_or_insert_with(1, || 100));
        let k = clock.clone();
        let c = cache.clone();
        let expirer = thread::spawn(move || {
            k.set(70);
            c.get(&1)
        });
        let got = refresher.join().unwrap();
        let read = expirer.join().unwrap();
        assert!(read.is_none() || read == Some(100), "read {read:?}");
        assert_eq!(got, 100, "its own reload, as a refresh or as a load");
        assert_eq!(cache.peek(&1), Some(100));
        assert_eq!(cache.loads_in_flight(), 0);
        cache.check_invariants();
    });
}

type Tasks = Arc<Mutex<Vec<Box<dyn FnOnce() + Send>>>>;

/// A one-shard cache whose refresher adds 100, on an executor that queues
/// its tasks for the model to run.
fn executor_cache(clock: &TestClock, tasks: &Tasks) -> Cache<u64, u64, common::Fixed> {
    let queue = tasks.clone();
    Cache::builder()
        .capacity(4)
        .shards(1)
        .hasher(common::Fixed::default())
        .refresh_after(45 * SEC)
        .clock(clock.clone())
        .refresher(|_: &u64, stale: &u64| Some(stale + 100))
        .executor(move |task| queue.lock().unwrap().push(task))
        .build()
}

/// An executor refresh completing (and applied by a read on the executor's
/// thread) against `clear`: whichever comes first, the refreshed value is
/// not left in the cache after the clear, and no flight is left behind.
#[test]
fn executor_refresh_races_clear() {
    common::model(3, || {
        let clock = TestClock::new();
        let tasks: Tasks = Arc::default();
        let cache = Arc::new(executor_cache(&clock, &tasks));
        cache.insert(1, 1);
        clock.set(50);
        assert_eq!(cache.get(&1), Some(1), "stale, served; refresh queued");
        let task = tasks.lock().unwrap().pop().expect("a refresh task");
        let c = cache.clone();
        let executor = thread::spawn(move || {
            task();
            c.get(&1)
        });
        cache.clear();
        let read = executor.join().unwrap();
        assert!(read.is_none() || read == Some(101), "read {read:?}");
        cache.cleanup();
        assert_eq!(
            cache.peek(&1),
            None,
            "the refresh did not outlive the clear"
        );
        assert_eq!(cache.loads_in_flight(), 0);
        cache.check_invariants();
    });
}

/// An executor refresh completing while the cache is dropped: harmless.
#[test]
fn executor_refresh_outlives_the_cache() {
    common::model(3, || {
        let clock = TestClock::new();
        let tasks: Tasks = Arc::default();
        let cache = executor_cache(&clock, &tasks);
        cache.insert(1, 1);
        clock.set(50);
        assert_eq!(cache.get(&1), Some(1));
        let task = tasks.lock().unwrap().pop().expect("a refresh task");
        let executor = thread::spawn(task);
        drop(cache);
        executor.join().unwrap();
    });
}

/// A loading call that finds the key stale while its executor refresh has
/// ended but is not yet applied: it applies it and is served the new value,
/// or the stale one, never waits, and leaves no flight behind.
#[test]
fn executor_refresh_races_a_loading_call() {
    common::model(3, || {
        let clock = TestClock::new();
        let tasks: Tasks = Arc::default();
        let cache = Arc::new(executor_cache(&clock, &tasks));
        cache.insert(1, 1);
        clock.set(50);
        assert_eq!(cache.get_or_insert_with(1, || unreachable!()), 1);
        let task = tasks.lock().unwrap().pop().expect("a refresh task");
        let executor = thread::spawn(task);
        let got = cache.get_or_insert_with(1, || unreachable!());
        executor.join().unwrap();
        assert!(got == 1 || got == 101, "got {got}");
        assert_eq!(cache.get(&1), Some(101));
        assert_eq!(cache.loads_in_flight(), 0);
        assert!(tasks.lock().unwrap().is_empty(), "one refresh at a time");
        cache.check_invariants();
    });
}

/// Fail-safe: two callers of a kept (expired) key whose backend fails get
/// the stale value, whichever order they run in (one leads and the other
/// waits on its load, or comes after the failure is recorded), and the
/// backend is asked once.
#[test]
fn fail_safe_serves_every_caller_once() {
    common::model(3, || {
        let clock = TestClock::new();
        let cache: Arc<Cache<u64, u64, common::Fixed>> = Arc::new(
            Cache::builder()
                .capacity(4)
                .shards(1)
                .hasher(common::Fixed::default())
                .time_to_live(60 * SEC)
                .stale_if_error(600 * SEC)
                .clock(clock.clone())
                .build(),
        );
        cache.insert(1, 1);
        clock.set(70);
        let calls = Arc::new(loom::sync::atomic::AtomicUsize::new(0));
        let callers: Vec<_> = (0..2)
            .map(|_| {
                let (cache, calls) = (cache.clone(), calls.clone());
                thread::spawn(move || {
                    cache.try_get_or_insert_with(1, || {
                        calls.fetch_add(1, loom::sync::atomic::Ordering::SeqCst);
                        Err::<u64, _>("down")
                    })
                })
            })
            .collect();
        for caller in callers {
            assert_eq!(caller.join().unwrap(), Ok(1));
        }
        assert_eq!(calls.load(loom::sync::atomic::Ordering::SeqCst), 1);
        assert_eq!(cache.stats().stale_served, 2);
        assert_eq!(cache.get(&1), None, "kept, never returned by get");
        assert_eq!(cache.loads_in_flight(), 0);
        cache.check_invariants();
    });
}
