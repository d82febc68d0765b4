//! loom models of the sync single-flight protocol: one model per guarantee
//! of `docs/single-flight.md`, each asserting the outcome.
#![cfg(shardcache_loom)]

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};

use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;

/// 1. Concurrent misses on one key share one load; all get its value.
#[test]
fn one_load_per_miss() {
    common::model(3, || {
        let cache = Arc::new(common::cache(4));
        let loads = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..3)
            .map(|_| {
                let (cache, loads) = (cache.clone(), loads.clone());
                thread::spawn(move || {
                    cache.get_or_insert_with(1, || {
                        loads.fetch_add(1, Ordering::SeqCst);
                        10
                    })
                })
            })
            .collect();
        for t in threads {
            assert_eq!(t.join().unwrap(), 10);
        }
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        assert_eq!(cache.stats().loads, 1);
        assert_eq!(cache.loads_in_flight(), 0);
        assert_eq!(cache.peek(&1), Some(10));
    });
}

/// 2. A panicking loader: its caller gets the panic, every waiter gets a
///    value from exactly one other loader, and no flight is left behind.
#[test]
fn panic_hands_over() {
    common::model(3, || {
        let cache = Arc::new(common::cache(4));
        let loads = Arc::new(AtomicUsize::new(0));
        let c = cache.clone();
        let panicker = thread::spawn(move || {
            catch_unwind(AssertUnwindSafe(|| {
                c.get_or_insert_with(1, || panic!("loader"))
            }))
            .is_err()
        });
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let (cache, loads) = (cache.clone(), loads.clone());
                thread::spawn(move || {
                    cache.get_or_insert_with(1, || {
                        loads.fetch_add(1, Ordering::SeqCst);
                        7
                    })
                })
            })
            .collect();
        for w in waiters {
            assert_eq!(w.join().unwrap(), 7);
        }
        let panicked = panicker.join().unwrap();
        // The panicking loader ran only if it led before a good load landed.
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        assert_eq!(cache.stats().load_failures, u64::from(panicked));
        assert_eq!(cache.loads_in_flight(), 0);
        assert_eq!(cache.peek(&1), Some(7));
    });
}

/// 2b. Hand-over is first come, first served: when the leader panics, the
///     waiter that registered first runs its loader and the later one
///     waits for it. (Sequenced from inside the leader's loader: it starts
///     waiter A, lets it register, then waiter B, and panics once both
///     wait. Each miss registers under the shard lock that counts it.)
#[test]
fn panic_hands_over_to_the_oldest_waiter() {
    common::model(2, || {
        let cache = Arc::new(common::cache(4));
        let ran = Arc::new(AtomicUsize::new(0));
        let waiter = |id: usize| {
            let (c, r) = (cache.clone(), ran.clone());
            thread::spawn(move || {
                c.get_or_insert_with(1, || {
                    r.fetch_add(id, Ordering::SeqCst);
                    id as u64
                })
            })
        };
        let mut waiters = Vec::new();
        let led = catch_unwind(AssertUnwindSafe(|| {
            cache.get_or_insert_with(1, || {
                for (id, misses) in [(1, 2), (10, 3)] {
                    waiters.push(waiter(id));
                    while cache.stats().misses < misses {
                        thread::yield_now();
                    }
                }
                panic!("loader")
            })
        }));
        assert!(led.is_err(), "the leader's caller got its panic");
        let got: Vec<u64> = waiters.into_iter().map(|w| w.join().unwrap()).collect();
        assert_eq!(got, [1, 1], "the later waiter got the older one's value");
        assert_eq!(
            ran.load(Ordering::SeqCst),
            1,
            "only the oldest waiter loaded"
        );
        assert_eq!(cache.loads_in_flight(), 0);
    });
}

/// 3. A failed load is not cached, and a caller that waited on it gets the
///    very same error instead of calling its own loader. (The loader fails
///    only once the second caller has registered as its waiter.)
#[test]
fn errors_are_shared_not_cached() {
    common::model(3, || {
        let cache = Arc::new(common::cache(4));
        let calls = Arc::new(AtomicUsize::new(0));
        let started = Arc::new(common::Signal::default());
        let (c, n, s) = (cache.clone(), calls.clone(), started.clone());
        let leader = thread::spawn(move || {
            c.try_get_or_insert_with(1, || {
                n.fetch_add(1, Ordering::SeqCst);
                s.set();
                // Fail only once the other caller waits on this load.
                while c.stats().misses < 2 {
                    thread::yield_now();
                }
                Err::<u64, u32>(5)
            })
        });
        started.wait();
        let waited = cache.try_get_or_insert_with(1, || {
            calls.fetch_add(1, Ordering::SeqCst);
            Err::<u64, u32>(6)
        });
        let led = leader.join().unwrap();
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "the waiter did not call its loader"
        );
        let (a, b) = (led.unwrap_err(), waited.unwrap_err());
        assert_eq!(*a, 5);
        assert!(
            std::sync::Arc::ptr_eq(&a, &b),
            "a waiter gets the leader's error"
        );
        assert_eq!(cache.stats().load_failures, 1);
        assert!(!cache.contains_key(&1));
        assert_eq!(cache.loads_in_flight(), 0);
    });
}

/// 4. A loader asking for its own key panics (no deadlock); another thread
///    waiting on that key still gets a value.
#[test]
fn recursive_load_panics_and_others_proceed() {
    common::model(3, || {
        let cache = Arc::new(common::cache(4));
        let c = cache.clone();
        let recursive = thread::spawn(move || {
            let r = catch_unwind(AssertUnwindSafe(|| {
                c.get_or_insert_with(1, || c.get_or_insert_with(1, || 1))
            }));
            // Either it led and hit the recursion, or it found the other
            // thread's value.
            r.map_err(|p| {
                p.downcast_ref::<&str>()
                    .map(|m| m.contains("recursive load"))
            })
        });
        let c = cache.clone();
        let other = thread::spawn(move || c.get_or_insert_with(1, || 2));
        assert_eq!(other.join().unwrap(), 2);
        match recursive.join().unwrap() {
            Ok(v) => assert_eq!(v, 2),
            Err(is_recursion_message) => assert_eq!(is_recursion_message, Some(true)),
        }
        assert_eq!(cache.loads_in_flight(), 0);
        assert_eq!(cache.peek(&1), Some(2));
    });
}

/// 5. An insert racing a load of the same key wins, whichever runs first.
///    There are exactly three outcomes, told apart by what the loader's
///    caller got, what the insert replaced and whether the loader ran:
///    - the insert lands first: the caller hits 5 and its loader never runs;
///    - the insert lands inside the flight: the caller gets its own 100, the
///      insert replaced nothing, and 100 is not stored over the 5;
///    - the load completes first (100 stored): the insert replaces it.
///
///    In every case the cache holds 5 at the end.
#[test]
fn insert_racing_a_load_wins() {
    insert_racing_a_load(false);
}

/// 5a'. The same race on a weighted cache. A completing load weighs its
///      value under the shard's read lock, then takes the write lock to
///      store it, so the insert may also land between the two: it must win
///      there too, and the weight must be the stored value's alone.
#[test]
fn insert_racing_a_weighed_load_wins() {
    insert_racing_a_load(true);
}

fn insert_racing_a_load(weighted: bool) {
    common::model(3, move || {
        let cache = Arc::new(if weighted {
            common::weighted_cache(4)
        } else {
            common::cache(4)
        });
        let ran = Arc::new(AtomicUsize::new(0));
        let (c, r) = (cache.clone(), ran.clone());
        let loader = thread::spawn(move || {
            c.get_or_insert_with(1, || {
                r.fetch_add(1, Ordering::SeqCst);
                100
            })
        });
        let c = cache.clone();
        let writer = thread::spawn(move || c.insert(1, 5));
        let loaded = loader.join().unwrap();
        let replaced = writer.join().unwrap();
        let ran = ran.load(Ordering::SeqCst);
        let s = cache.stats();
        // (loader runs, hits, misses, loads, entries stored) per outcome.
        let expected = match (loaded, replaced) {
            // The insert came first: the caller hit it; no load.
            (5, None) => (0, 1, 0, 0, 1),
            // The insert landed inside the flight: the loader's caller got
            // its own value, which was not stored.
            (100, None) => (1, 0, 1, 1, 1),
            // The load completed (and stored 100) before the insert
            // replaced it.
            (100, Some(100)) => (1, 0, 1, 1, 2),
            outcome => panic!("impossible (loaded, replaced) = {outcome:?}"),
        };
        assert_eq!(
            (ran, s.hits, s.misses, s.loads, s.inserts),
            expected,
            "(loaded, replaced) = ({loaded}, {replaced:?})"
        );
        assert_eq!(
            cache.peek(&1),
            Some(5),
            "the insert is never overwritten by the load"
        );
        assert_eq!(cache.weight(), if weighted { 3 } else { 1 });
        assert_eq!(cache.loads_in_flight(), 0);
        cache.check_invariants();
    });
}

/// 5b. An insert, remove or clear that lands while the load is in flight
///     wins: the loader's callers get its value, but it is not stored.
///     Sequenced so the write is certainly inside the flight (a remove or
///     clear before the load would rightly let the load store its value).
#[test]
fn writes_inside_the_flight_win() {
    for write in 0..3 {
        common::model(3, move || {
            let cache = Arc::new(common::cache(4));
            let started = Arc::new(common::Signal::default());
            let written = Arc::new(common::Signal::default());
            let (c, s, w) = (cache.clone(), started.clone(), written.clone());
            let loader = thread::spawn(move || {
                c.get_or_insert_with(1, || {
                    s.set();
                    w.wait();
                    100
                })
            });
            started.wait();
            match write {
                0 => assert_eq!(cache.insert(1, 5), None),
                1 => assert_eq!(cache.remove(&1), None),
                _ => cache.clear(),
            }
            written.set();
            assert_eq!(
                loader.join().unwrap(),
                100,
                "the loader's caller gets its value"
            );
            let expected = if write == 0 { Some(5) } else { None };
            assert_eq!(cache.peek(&1), expected, "write {write} won");
            assert_eq!(cache.loads_in_flight(), 0);
            cache.check_invariants();
        });
    }
}

/// 6. A load racing an eviction (capacity 1) and a clear: the shard stays
///    within capacity and consistent, and no flight is left.
#[test]
fn load_races_eviction_and_clear() {
    common::model(2, || {
        let cache = Arc::new(common::cache(1));
        let c = cache.clone();
        let loader = thread::spawn(move || c.get_or_insert_with(1, || 10));
        let c = cache.clone();
        let inserter = thread::spawn(move || {
            c.insert(2, 20);
        });
        let c = cache.clone();
        let clearer = thread::spawn(move || c.clear());
        assert_eq!(loader.join().unwrap(), 10);
        inserter.join().unwrap();
        clearer.join().unwrap();
        assert!(cache.len() <= 1);
        cache.check_invariants();
        assert_eq!(cache.loads_in_flight(), 0);
    });
}

/// 7. Capacity 0 stores nothing but still coalesces: a caller arriving
///    during a load waits for it instead of loading again.
#[test]
fn capacity_zero_coalesces() {
    common::model(3, || {
        let cache = Arc::new(common::cache(0));
        let loads = Arc::new(AtomicUsize::new(0));
        let started = Arc::new(common::Signal::default());
        let (c, l, s) = (cache.clone(), loads.clone(), started.clone());
        let leader = thread::spawn(move || {
            c.get_or_insert_with(1, || {
                l.fetch_add(1, Ordering::SeqCst);
                s.set();
                // Finish only once the other caller waits on this load.
                while c.stats().misses < 2 {
                    thread::yield_now();
                }
                3
            })
        });
        started.wait();
        let l = loads.clone();
        let v = cache.get_or_insert_with(1, || {
            l.fetch_add(1, Ordering::SeqCst);
            3
        });
        assert_eq!(v, 3);
        assert_eq!(leader.join().unwrap(), 3);
        assert!(cache.is_empty());
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        let stats = cache.stats();
        assert_eq!((stats.loads, stats.coalesced), (1, 1));
    });
}

/// 8. A waiter that times out leaves the queue, so it is never handed a
///    load after it left, and a result that arrived meanwhile is preferred
///    to the timeout. The leader fails (panics) once the timed waiter and
///    then a patient one have registered: the timed waiter, if it still
///    waits, runs its loader; if it timed out, the patient one does. Every
///    timed wait is explored both woken and timed out (`src/sync.rs`).
#[test]
fn timed_out_waiter_then_leader_panics() {
    common::model(2, || {
        let cache = Arc::new(common::cache(4));
        let ran = Arc::new(AtomicUsize::new(0));
        let timed = {
            let (c, r) = (cache.clone(), ran.clone());
            move || {
                c.get_or_insert_with_timeout(1, std::time::Duration::from_secs(3600), || {
                    r.fetch_add(1, Ordering::SeqCst);
                    20
                })
            }
        };
        let patient = {
            let (c, r) = (cache.clone(), ran.clone());
            move || {
                c.get_or_insert_with(1, || {
                    r.fetch_add(1, Ordering::SeqCst);
                    30
                })
            }
        };
        let mut threads = (None, None);
        let led = catch_unwind(AssertUnwindSafe(|| {
            cache.get_or_insert_with(1, || {
                threads.0 = Some(thread::spawn(timed));
                while cache.stats().misses < 2 {
                    thread::yield_now();
                }
                threads.1 = Some(thread::spawn(patient));
                while cache.stats().misses < 3 {
                    thread::yield_now();
                }
                panic!("loader")
            })
        }));
        assert!(led.is_err(), "the leader's caller got its panic");
        let timed = threads.0.unwrap().join().unwrap();
        let patient = threads.1.unwrap().join().unwrap();
        assert_eq!(
            ran.load(Ordering::SeqCst),
            1,
            "one loader ran after the panic"
        );
        match timed {
            // It led (before timing out) or was served the patient's value.
            Ok(v) => assert_eq!(v, patient),
            // It timed out and left: the patient caller loaded.
            Err(shardcache::Timeout) => assert_eq!(patient, 30),
        }
        let stats = cache.stats();
        assert_eq!((stats.loads, stats.load_failures), (1, 1));
        assert_eq!(cache.loads_in_flight(), 0);
        assert_eq!(cache.peek(&1), Some(patient));
        cache.check_invariants();
    });
}

/// 8b. A timed waiter racing the completion of the load it waits for:
///     it gets the value or a timeout, and a waiter that returns a timeout
///     was no longer queued when the load completed (it is not counted as
///     served, `coalesced`). A waiter that timed out and left may still
///     find the value that arrived meanwhile, and return it.
#[test]
fn timed_out_waiter_then_completion() {
    common::model(3, || {
        let cache = Arc::new(common::cache(4));
        let c = cache.clone();
        let mut timed = None;
        let loaded = cache.get_or_insert_with(1, || {
            timed = Some(thread::spawn(move || {
                c.get_or_insert_with_timeout(1, std::time::Duration::from_secs(3600), || 20)
            }));
            // Finish only once the timed caller waits on this load.
            while cache.stats().misses < 2 {
                thread::yield_now();
            }
            10
        });
        assert_eq!(loaded, 10);
        let timed = timed.unwrap().join().unwrap();
        assert!(
            matches!(timed, Ok(10) | Err(shardcache::Timeout)),
            "{timed:?}"
        );
        let stats = cache.stats();
        assert_eq!(stats.loads, 1);
        if timed.is_err() {
            assert_eq!(stats.coalesced, 0, "a waiter that timed out was not served");
        }
        assert_eq!(cache.loads_in_flight(), 0);
        assert_eq!(cache.peek(&1), Some(10));
    });
}
