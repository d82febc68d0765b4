//! Single-flight loading with std threads: coalescing, panics, errors,
//! recursion, lost updates, capacity 0, timeouts, and a stress mix.
#![cfg(not(shardcache_loom))]

use std::cell::Cell;
use std::collections::HashSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use shardcache::{Cache, Timeout};

/// Waits until `cond` holds, polling (a test helper, never a timing claim).
fn eventually(mut cond: impl FnMut() -> bool) {
    for _ in 0..20_000 {
        if cond() {
            return;
        }
        thread::sleep(Duration::from_micros(200));
    }
    panic!("condition never held");
}

#[test]
fn herd_of_16_threads_on_64_cold_keys_loads_each_once() {
    let cache: Arc<Cache<u64, u64>> = Arc::new(Cache::new(1024));
    let loads = Arc::new(AtomicUsize::new(0));
    let barrier = Arc::new(Barrier::new(16));
    let handles: Vec<_> = (0..16)
        .map(|t| {
            let (cache, loads, barrier) = (cache.clone(), loads.clone(), barrier.clone());
            thread::spawn(move || {
                barrier.wait();
                for i in 0..64u64 {
                    let key = (i + t * 7) % 64; // different orders per thread
                    let v = cache.get_or_insert_with(key, || {
                        loads.fetch_add(1, Ordering::SeqCst);
                        thread::sleep(Duration::from_millis(1));
                        key * 10
                    });
                    assert_eq!(v, key * 10);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(loads.load(Ordering::SeqCst), 64);
    let stats = cache.stats();
    assert_eq!(stats.loads, 64);
    assert_eq!(stats.hits + stats.misses, 16 * 64);
    assert_eq!(
        stats.misses,
        64 + stats.coalesced,
        "every miss loaded or was coalesced"
    );
    assert_eq!(cache.loads_in_flight(), 0);
}

/// Starts a load of `key` on another thread whose loader blocks until the
/// returned sender fires; returns once the load is in flight.
fn blocked_load(
    cache: &Arc<Cache<u64, u64>>,
    key: u64,
    value: u64,
) -> (std::sync::mpsc::Sender<()>, thread::JoinHandle<u64>) {
    let (release, wait) = std::sync::mpsc::channel::<()>();
    let cache2 = cache.clone();
    let handle = thread::spawn(move || {
        cache2.get_or_insert_with(key, || {
            wait.recv().unwrap();
            value
        })
    });
    eventually(|| cache.loads_in_flight() == 1);
    (release, handle)
}

#[test]
fn waiters_get_the_leaders_value_and_the_loader_runs_without_locks() {
    let cache: Arc<Cache<u64, u64>> = Arc::new(Cache::builder().capacity(8).shards(1).build());
    let (release, leader) = blocked_load(&cache, 1, 100);
    // Same shard, other keys: served while the load runs.
    cache.insert(2, 2);
    assert_eq!(cache.get(&2), Some(2));
    assert_eq!(cache.get_or_insert_with(3, || 3), 3);
    let waiters: Vec<_> = (0..4)
        .map(|_| {
            let cache = cache.clone();
            thread::spawn(move || cache.get_or_insert_with(1, || unreachable!("coalesced")))
        })
        .collect();
    eventually(|| cache.stats().misses >= 2 + 4);
    release.send(()).unwrap();
    assert_eq!(leader.join().unwrap(), 100);
    for w in waiters {
        assert_eq!(w.join().unwrap(), 100);
    }
    assert_eq!(cache.get(&1), Some(100));
    assert_eq!(cache.stats().coalesced, 4);
}

/// A completing load weighs its value under the shard's read lock, not its
/// write lock: readers of the shard (`peek` here, which reads even on a
/// one-shard cache) are answered while a slow weigher runs. The weigher
/// waits, with a time limit, for such an answer, so a failure is a flag,
/// not a hung test.
#[test]
fn a_slow_weigher_of_a_completing_load_lets_readers_through() {
    use std::sync::atomic::AtomicBool;
    use std::sync::{mpsc, Mutex};
    let (entered, weighing) = mpsc::channel::<()>();
    let (answered, answer) = mpsc::channel::<()>();
    let answer = Mutex::new(answer);
    let in_time = Arc::new(AtomicBool::new(false));
    let flag = in_time.clone();
    let cache: Arc<Cache<u64, u64>> = Arc::new(
        Cache::builder()
            .capacity(100)
            .shards(1)
            .weigher(move |_key: &u64, value: &u64| {
                if *value == 7 {
                    entered.send(()).unwrap();
                    let reply = answer.lock().unwrap().recv_timeout(Duration::from_secs(10));
                    flag.store(reply.is_ok(), Ordering::SeqCst);
                }
                1
            })
            .build(),
    );
    cache.insert(1, 1);
    let loading = cache.clone();
    let loader = thread::spawn(move || loading.get_or_insert_with(2, || 7));
    weighing.recv().unwrap();
    assert_eq!(cache.peek(&1), Some(1));
    answered.send(()).unwrap();
    assert_eq!(loader.join().unwrap(), 7);
    assert!(
        in_time.load(Ordering::SeqCst),
        "a reader waited for the weigher"
    );
    assert_eq!((cache.get(&2), cache.weight()), (Some(7), 2));
    cache.check_invariants();
}

#[test]
fn a_panicking_loader_hands_over_to_a_waiter() {
    let cache: Arc<Cache<u64, u64>> = Arc::new(Cache::new(8));
    let (release, wait) = std::sync::mpsc::channel::<()>();
    let c = cache.clone();
    let leader = thread::spawn(move || {
        catch_unwind(AssertUnwindSafe(|| {
            c.get_or_insert_with(1, || {
                wait.recv().unwrap();
                panic!("loader failed")
            })
        }))
    });
    eventually(|| cache.loads_in_flight() == 1);
    let runs = Arc::new(AtomicUsize::new(0));
    let waiters: Vec<_> = (0..3)
        .map(|_| {
            let (cache, runs) = (cache.clone(), runs.clone());
            thread::spawn(move || {
                cache.get_or_insert_with(1, || {
                    runs.fetch_add(1, Ordering::SeqCst);
                    7
                })
            })
        })
        .collect();
    eventually(|| cache.stats().misses == 4);
    release.send(()).unwrap();
    let panic = leader.join().unwrap().unwrap_err();
    assert_eq!(
        panic.downcast_ref::<&str>(),
        Some(&"loader failed"),
        "the panic reaches its caller"
    );
    for w in waiters {
        assert_eq!(w.join().unwrap(), 7);
    }
    assert_eq!(
        runs.load(Ordering::SeqCst),
        1,
        "exactly one waiter took over"
    );
    let stats = cache.stats();
    assert_eq!(
        (stats.loads, stats.load_failures, stats.coalesced),
        (1, 1, 2)
    );
    assert_eq!(cache.loads_in_flight(), 0);
    cache.check_invariants();
}

#[test]
fn errors_reach_every_waiter_and_are_not_cached() {
    let cache: Arc<Cache<u64, u64>> = Arc::new(Cache::new(8));
    let (release, wait) = std::sync::mpsc::channel::<()>();
    let c = cache.clone();
    let backend_calls = Arc::new(AtomicUsize::new(0));
    let calls = backend_calls.clone();
    let leader = thread::spawn(move || {
        c.try_get_or_insert_with(1, || {
            calls.fetch_add(1, Ordering::SeqCst);
            wait.recv().unwrap();
            Err::<u64, String>("backend down".into())
        })
    });
    eventually(|| cache.loads_in_flight() == 1);
    let waiters: Vec<_> = (0..4)
        .map(|_| {
            let (cache, calls) = (cache.clone(), backend_calls.clone());
            thread::spawn(move || {
                cache.try_get_or_insert_with(1, || {
                    calls.fetch_add(1, Ordering::SeqCst);
                    Ok::<u64, String>(5)
                })
            })
        })
        .collect();
    eventually(|| cache.stats().misses == 5);
    release.send(()).unwrap();
    let error = leader.join().unwrap().unwrap_err();
    assert_eq!(*error, "backend down");
    for w in waiters {
        let theirs = w.join().unwrap().unwrap_err();
        assert!(Arc::ptr_eq(&theirs, &error), "one shared error");
    }
    assert_eq!(
        backend_calls.load(Ordering::SeqCst),
        1,
        "waiters do not retry in turn"
    );
    assert!(!cache.contains_key(&1));
    assert_eq!(cache.stats().load_failures, 1);
    assert_eq!(
        cache.try_get_or_insert_with(1, || Ok::<_, String>(9)),
        Ok(9)
    );
}

#[test]
fn an_infallible_waiter_takes_over_after_a_failed_load() {
    let cache: Arc<Cache<u64, u64>> = Arc::new(Cache::new(8));
    let (release, wait) = std::sync::mpsc::channel::<()>();
    let c = cache.clone();
    let leader = thread::spawn(move || {
        c.try_get_or_insert_with(1, || {
            wait.recv().unwrap();
            Err::<u64, &str>("no")
        })
    });
    eventually(|| cache.loads_in_flight() == 1);
    let c = cache.clone();
    let waiter = thread::spawn(move || c.get_or_insert_with(1, || 11));
    eventually(|| cache.stats().misses == 2);
    release.send(()).unwrap();
    assert!(leader.join().unwrap().is_err());
    assert_eq!(waiter.join().unwrap(), 11);
    // The waiter started over and loaded itself, yet it is one call, so one
    // lookup: `hits + misses` counts calls (see `Stats`).
    let stats = cache.stats();
    assert_eq!((stats.loads, stats.load_failures), (1, 1));
    assert_eq!(stats.hits + stats.misses, 2, "two calls: {stats:?}");
    assert_eq!(cache.get(&1), Some(11));
}

#[test]
fn a_loader_asking_for_its_own_key_panics_instead_of_deadlocking() {
    let cache: Cache<u64, u64> = Cache::builder().capacity(8).shards(1).build();
    let direct = catch_unwind(AssertUnwindSafe(|| {
        cache.get_or_insert_with(1, || cache.get_or_insert_with(1, || 1))
    }))
    .unwrap_err();
    let message = direct.downcast_ref::<&str>().copied().unwrap_or_default();
    assert!(message.contains("recursive load"), "{message}");
    // Through the loader of another key.
    let indirect = catch_unwind(AssertUnwindSafe(|| {
        cache.get_or_insert_with(1, || {
            cache.get_or_insert_with(2, || cache.get_or_insert_with(1, || 1))
        })
    }));
    assert!(indirect.is_err());
    assert_eq!(cache.loads_in_flight(), 0, "no flight left behind");
    assert_eq!(
        cache.get_or_insert_with(1, || 5),
        5,
        "the cache still works"
    );
    cache.check_invariants();
}

#[test]
fn memoized_fibonacci_recurses_through_other_keys() {
    fn fib(cache: &Cache<u64, u128>, calls: &AtomicUsize, n: u64) -> u128 {
        cache.get_or_insert_with(n, || {
            calls.fetch_add(1, Ordering::SeqCst);
            if n < 2 {
                n as u128
            } else {
                fib(cache, calls, n - 1) + fib(cache, calls, n - 2)
            }
        })
    }
    let cache = Cache::builder().capacity(128).shards(1).build();
    let calls = AtomicUsize::new(0);
    assert_eq!(fib(&cache, &calls, 90), 2_880_067_194_370_816_120);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        91,
        "each fib(k) computed once"
    );
}

#[test]
fn writes_during_a_load_win() {
    type Write = fn(&Cache<u64, u64>);
    let writes: [(Write, Option<u64>); 3] = [
        (
            |c| {
                c.insert(1, 5);
            },
            Some(5),
        ),
        (
            |c| {
                c.remove(&1);
            },
            None,
        ),
        (|c| c.clear(), None),
    ];
    for (write, expected) in writes {
        let cache: Arc<Cache<u64, u64>> = Arc::new(Cache::new(8));
        let (release, leader) = blocked_load(&cache, 1, 100);
        write(&cache);
        release.send(()).unwrap();
        assert_eq!(
            leader.join().unwrap(),
            100,
            "the load's callers get its value"
        );
        assert_eq!(
            cache.get(&1),
            expected,
            "but it is not stored over the newer write"
        );
        cache.check_invariants();
    }
}

#[test]
fn capacity_zero_still_coalesces() {
    let cache: Arc<Cache<u64, u64>> = Arc::new(Cache::new(0));
    let (release, leader) = blocked_load(&cache, 1, 100);
    let waiters: Vec<_> = (0..3)
        .map(|_| {
            let cache = cache.clone();
            thread::spawn(move || cache.get_or_insert_with(1, || unreachable!()))
        })
        .collect();
    eventually(|| cache.stats().misses == 4);
    release.send(()).unwrap();
    assert_eq!(leader.join().unwrap(), 100);
    for w in waiters {
        assert_eq!(w.join().unwrap(), 100);
    }
    assert!(cache.is_empty());
    assert_eq!(cache.stats().loads, 1);
}

#[test]
fn timed_out_waiters_leave_and_the_load_goes_on() {
    let cache: Arc<Cache<u64, u64>> = Arc::new(Cache::new(8));
    let (release, leader) = blocked_load(&cache, 1, 100);
    let result = cache.get_or_insert_with_timeout(1, Duration::from_millis(20), || unreachable!());
    assert_eq!(result, Err(Timeout));
    release.send(()).unwrap();
    assert_eq!(leader.join().unwrap(), 100);
    assert_eq!(cache.get(&1), Some(100));
    assert_eq!(
        cache.get_or_insert_with_timeout(2, Duration::from_millis(1), || 2),
        Ok(2),
        "a leader is not limited by its timeout"
    );
}

#[test]
fn a_waiter_that_timed_out_is_skipped_at_hand_over() {
    // The leader panics while the first waiter has already timed out: the
    // next waiter must take over (nobody may be left waiting).
    let cache: Arc<Cache<u64, u64>> = Arc::new(Cache::new(8));
    let (release, wait) = std::sync::mpsc::channel::<()>();
    let c = cache.clone();
    let leader = thread::spawn(move || {
        catch_unwind(AssertUnwindSafe(|| {
            c.get_or_insert_with(1, || {
                wait.recv().unwrap();
                panic!("gone")
            })
        }))
    });
    eventually(|| cache.loads_in_flight() == 1);
    let c = cache.clone();
    let impatient = thread::spawn(move || {
        c.get_or_insert_with_timeout(1, Duration::from_millis(30), || {
            unreachable!("timed out first")
        })
    });
    eventually(|| cache.stats().misses == 2);
    let c = cache.clone();
    let patient = thread::spawn(move || c.get_or_insert_with(1, || 42));
    eventually(|| cache.stats().misses == 3);
    assert_eq!(impatient.join().unwrap(), Err(Timeout));
    release.send(()).unwrap();
    assert!(leader.join().unwrap().is_err());
    assert_eq!(patient.join().unwrap(), 42);
    assert_eq!(cache.loads_in_flight(), 0);
}

#[test]
fn dropping_the_cache_while_loads_are_in_flight_is_safe() {
    let live = Arc::new(AtomicUsize::new(0));
    struct Counted(Arc<AtomicUsize>);
    impl Clone for Counted {
        fn clone(&self) -> Self {
            self.0.fetch_add(1, Ordering::SeqCst);
            Counted(self.0.clone())
        }
    }
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::SeqCst);
        }
    }
    let cache: Arc<Cache<u64, Counted>> = Arc::new(Cache::new(8));
    let (release, wait) = std::sync::mpsc::channel::<()>();
    let c = cache.clone();
    let l = live.clone();
    let leader = thread::spawn(move || {
        let v = c.get_or_insert_with(1, || {
            wait.recv().unwrap();
            l.fetch_add(1, Ordering::SeqCst);
            Counted(l.clone())
        });
        drop(c);
        drop(v);
    });
    eventually(|| cache.loads_in_flight() == 1);
    let c = cache.clone();
    let waiter = thread::spawn(move || drop(c.get_or_insert_with(1, || unreachable!())));
    eventually(|| cache.stats().misses == 2);
    drop(cache); // the threads hold the last references
    release.send(()).unwrap();
    leader.join().unwrap();
    waiter.join().unwrap();
    assert_eq!(
        live.load(Ordering::SeqCst),
        0,
        "every value dropped once the cache is gone"
    );
}

/// A value that names its writer: `(key, writing thread, that thread's
/// sequence number)`. Every value any thread hands the cache is distinct.
type Tagged = (u64, u64, u64);

/// What one stress thread did: the values it wrote (inserted or returned
/// from a loader), the values it read back (with the key it asked for), and
/// its counted lookups.
#[derive(Default)]
struct Log {
    written: HashSet<Tagged>,
    read: Vec<(u64, Tagged, &'static str)>,
    /// Calls of `get` and the `get_or_insert*` family (peek/contains_key
    /// are not counted by the cache).
    lookups: u64,
    /// `get` calls that returned `Some` (each is exactly one hit).
    gets_some: u64,
    /// `get` calls that returned `None` (each is exactly one miss).
    gets_none: u64,
    /// Loading calls whose own loader ran (each missed at least once).
    own_loads: u64,
    /// Calls of `insert`.
    inserts: u64,
}

impl Log {
    /// A counted `get`, logged.
    fn get(&mut self, cache: &Cache<u64, Tagged>, key: u64) {
        self.lookups += 1;
        match cache.get(&key) {
            Some(v) => {
                self.gets_some += 1;
                self.read.push((key, v, "get"));
            }
            None => self.gets_none += 1,
        }
    }
}

/// Checks every value read against every value written: each read of `key`
/// returned exactly one of the values some thread wrote for `key`.
fn check_reads_are_writes(logs: &[Log]) {
    let written: HashSet<Tagged> = logs
        .iter()
        .flat_map(|l| l.written.iter().copied())
        .collect();
    let mut bad = Vec::new();
    for log in logs {
        for &(key, value, op) in &log.read {
            if value.0 != key || !written.contains(&value) {
                bad.push((op, key, value));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "values read are values written for their key; not so for (op, key, value) {:?}",
        &bad[..bad.len().min(20)]
    );
}

#[test]
fn stress_mixed_operations_with_failing_loaders() {
    let capacity = 64;
    let cache: Arc<Cache<u64, Tagged>> =
        Arc::new(Cache::builder().capacity(capacity).shards(4).build());
    let handles: Vec<_> = (0..8u64)
        .map(|t| {
            let cache = cache.clone();
            thread::spawn(move || {
                let mut log = Log::default();
                let mut x = t * 0x9E37_79B9 + 1;
                for i in 0..4_000u64 {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let key = x % 300;
                    // The one value this step may write, whatever the op.
                    let mine: Tagged = (key, t, i);
                    // Set when this step's loader returns `mine`.
                    let loaded = Cell::new(false);
                    let load = || {
                        loaded.set(true);
                        mine
                    };
                    // What a loading call returned, if it returned a value.
                    let mut got: Option<(Tagged, &'static str)> = None;
                    match (x >> 20) % 8 {
                        0 => {
                            log.written.insert(mine);
                            log.inserts += 1;
                            if let Some(old) = cache.insert(key, mine) {
                                log.read.push((key, old, "insert (replaced)"));
                            }
                        }
                        1 => {
                            if let Some(old) = cache.remove(&key) {
                                log.read.push((key, old, "remove"));
                            }
                        }
                        2 | 3 => log.get(&cache, key),
                        4 => {
                            log.lookups += 1;
                            got = Some((cache.get_or_insert_with(key, load), "get_or_insert_with"));
                        }
                        5 => {
                            log.lookups += 1;
                            let panicked = Cell::new(false);
                            let r = catch_unwind(AssertUnwindSafe(|| {
                                cache.get_or_insert_with(key, || {
                                    if x % 3 == 0 {
                                        panicked.set(true);
                                        panic!("loader panic");
                                    }
                                    load()
                                })
                            }));
                            match r {
                                Ok(v) => got = Some((v, "get_or_insert_with (may panic)")),
                                Err(_) => assert!(panicked.get(), "only our own loader panics"),
                            }
                            if panicked.get() {
                                log.own_loads += 1;
                            }
                        }
                        6 => {
                            log.lookups += 1;
                            let failed = Cell::new(false);
                            let r = cache.try_get_or_insert_with(key, || {
                                if x % 2 == 0 {
                                    failed.set(true);
                                    Err("fail")
                                } else {
                                    Ok(load())
                                }
                            });
                            match r {
                                Ok(v) => got = Some((v, "try_get_or_insert_with")),
                                Err(e) => assert_eq!(*e, "fail"),
                            }
                            if failed.get() {
                                log.own_loads += 1;
                            }
                        }
                        _ => {
                            log.lookups += 1;
                            match cache.get_or_insert_with_timeout(
                                key,
                                Duration::from_micros(50),
                                load,
                            ) {
                                Ok(v) => got = Some((v, "get_or_insert_with_timeout")),
                                Err(Timeout) => {
                                    assert!(
                                        !loaded.get(),
                                        "a caller whose loader ran gets its value"
                                    )
                                }
                            }
                        }
                    }
                    if loaded.get() {
                        // Our loader returned `mine`: it is a written value,
                        // and our call returns exactly it.
                        log.written.insert(mine);
                        log.own_loads += 1;
                        let (v, op) = got.expect("a call whose loader returned returns a value");
                        assert_eq!(v, mine, "{op}: a leader gets its own loader's value");
                    }
                    if let Some((v, op)) = got {
                        log.read.push((key, v, op));
                    }
                    assert!(cache.len() <= capacity as usize);
                }
                log
            })
        })
        .collect();
    let mut logs: Vec<Log> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    // Whatever is left in the cache was written for its key too.
    logs.push(Log {
        read: cache
            .iter()
            .map(|(k, v)| (k, v, "left in the cache"))
            .collect(),
        ..Log::default()
    });
    check_reads_are_writes(&logs);
    assert_eq!(cache.loads_in_flight(), 0);
    cache.check_invariants();
    let stats = cache.stats();
    assert!(stats.loads > 0 && stats.load_failures > 0);
    let sum = |f: fn(&Log) -> u64| logs.iter().map(f).sum::<u64>();
    assert!(stats.hits >= sum(|l| l.gets_some), "{stats:?}");
    assert!(
        stats.misses >= sum(|l| l.gets_none) + sum(|l| l.own_loads),
        "every get that found nothing and every call that ran its loader missed: {stats:?}"
    );
    assert_eq!(
        stats.hits + stats.misses,
        sum(|l| l.lookups),
        "every counted lookup (get and the get_or_insert family) is one hit or one miss: {stats:?}"
    );
}

/// `threads` threads doing only `get`, `insert` and `remove` on `keys` keys;
/// the cache must count exactly one hit per `get` that returned a value and
/// one miss per `get` that did not.
fn lookups_counted_exactly(cache: Cache<u64, Tagged>, threads: u64, keys: u64) {
    let cache = Arc::new(cache);
    let barrier = Arc::new(Barrier::new(threads as usize));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (cache, barrier) = (cache.clone(), barrier.clone());
            thread::spawn(move || {
                let mut log = Log::default();
                let mut x = (t + 1).wrapping_mul(0x2545_F491_4F6C_DD1D);
                barrier.wait();
                for i in 0..20_000u64 {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let key = x % keys;
                    match (x >> 32) % 20 {
                        0..=11 => log.get(&cache, key),
                        12..=16 => {
                            let mine = (key, t, i);
                            log.written.insert(mine);
                            log.inserts += 1;
                            if let Some(old) = cache.insert(key, mine) {
                                log.read.push((key, old, "insert (replaced)"));
                            }
                        }
                        _ => {
                            if let Some(old) = cache.remove(&key) {
                                log.read.push((key, old, "remove"));
                            }
                        }
                    }
                }
                log
            })
        })
        .collect();
    let logs: Vec<Log> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    check_reads_are_writes(&logs);
    cache.check_invariants();
    let sum = |f: fn(&Log) -> u64| logs.iter().map(f).sum::<u64>();
    let (gets, some, none) = (
        sum(|l| l.lookups),
        sum(|l| l.gets_some),
        sum(|l| l.gets_none),
    );
    assert_eq!(gets, some + none);
    // Both outcomes happened, so both counters are exercised.
    assert!(some > 0 && none > 0, "{some} hits, {none} misses");
    let stats = cache.stats();
    assert_eq!(
        stats.hits + stats.misses,
        gets,
        "one count per get: {stats:?}"
    );
    assert_eq!(
        stats.hits, some,
        "one hit per get that returned Some: {stats:?}"
    );
    assert_eq!(
        stats.misses, none,
        "one miss per get that returned None: {stats:?}"
    );
    // Every shard has room for an entry, so every insert stores.
    assert_eq!(stats.inserts, sum(|l| l.inserts), "{stats:?}");
    assert_eq!(stats.loads + stats.load_failures + stats.coalesced, 0);
}

#[test]
fn get_counts_are_exact_under_concurrent_writes_with_default_shards() {
    // Large enough for the default shard count to split it, so `get` runs
    // under the shard read lock and counts atomically.
    let cache: Cache<u64, Tagged> = Cache::new(4096);
    assert!(cache.shards() > 1, "{} shards", cache.shards());
    lookups_counted_exactly(cache, 8, 8192);
}

#[test]
fn get_counts_are_exact_under_concurrent_writes_with_one_shard() {
    // One shard: exact LRU, `get` under the write lock.
    let cache: Cache<u64, Tagged> = Cache::builder().capacity(256).shards(1).build();
    lookups_counted_exactly(cache, 8, 512);
}
