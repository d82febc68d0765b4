//! The service-cache operations: `compute`, the borrowed-key loading calls,
//! `optionally_get_or_insert_with`, `get_or_insert_many` and `retain`,
//! alone and racing the rest of the cache.
#![cfg(not(shardcache_loom))]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use shardcache::{Cache, Compute};

fn add_one(n: Option<&u64>) -> Compute<u64> {
    Compute::Put(n.copied().unwrap_or(0) + 1)
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

#[test]
fn sixteen_threads_of_ten_thousand_increments_end_exact() {
    let cache: Arc<Cache<u64, u64>> = Arc::new(Cache::new(100));
    let threads: Vec<_> = (0..16)
        .map(|_| {
            let cache = cache.clone();
            thread::spawn(move || {
                for _ in 0..10_000 {
                    cache.compute(7, add_one);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(cache.get(&7), Some(160_000));
    assert_eq!(cache.loads_in_flight(), 0);
    cache.check_invariants();
}

#[test]
fn compute_keep_put_remove() {
    let cache: Cache<u64, u64> = Cache::new(10);
    assert_eq!(cache.compute(1, |_| Compute::Keep), None);
    assert!(cache.is_empty());
    assert_eq!(cache.compute(1, |_| Compute::Remove), None);
    assert_eq!(cache.compute(1, add_one), Some(1));
    assert_eq!(
        cache.compute(1, |v| {
            assert_eq!(v, Some(&1));
            Compute::Keep
        }),
        Some(1)
    );
    assert_eq!(cache.compute(1, |_| Compute::Remove), None);
    assert_eq!(cache.get(&1), None);
    // Capacity 0: returned, not stored.
    let empty: Cache<u64, u64> = Cache::new(0);
    assert_eq!(empty.compute(1, add_one), Some(1));
    assert!(empty.is_empty());
    assert_eq!(empty.loads_in_flight(), 0);
}

#[test]
fn a_panicking_compute_changes_nothing_and_leaves_no_flight() {
    let cache: Cache<u64, u64> = Cache::new(10);
    cache.insert(1, 5);
    let r = catch_unwind(AssertUnwindSafe(|| cache.compute(1, |_| panic!("f"))));
    assert!(r.is_err());
    assert_eq!(cache.get(&1), Some(5));
    assert_eq!(cache.loads_in_flight(), 0);
    assert_eq!(cache.compute(1, add_one), Some(6));
}

#[test]
fn compute_of_its_own_key_inside_f_panics_instead_of_hanging() {
    let cache: Cache<u64, u64> = Cache::new(10);
    let r = catch_unwind(AssertUnwindSafe(|| {
        cache.compute(1, |_| {
            cache.compute(1, add_one);
            Compute::Keep
        })
    }));
    assert!(r.is_err());
    assert_eq!(cache.loads_in_flight(), 0);
    // Other keys are fine inside f.
    assert_eq!(
        cache.compute(1, |_| Compute::Put(cache.compute(2, add_one).unwrap())),
        Some(1)
    );
}

/// A compute waits for a load of its key in flight, then runs on its value.
#[test]
fn compute_waits_for_a_load_in_flight() {
    let cache: Arc<Cache<u64, u64>> = Arc::new(Cache::new(10));
    let started = Arc::new(Barrier::new(2));
    let (c, s) = (cache.clone(), started.clone());
    let loader = thread::spawn(move || {
        c.get_or_insert_with(1, || {
            s.wait();
            thread::sleep(Duration::from_millis(100));
            10
        })
    });
    started.wait();
    assert_eq!(cache.compute(1, add_one), Some(11));
    assert_eq!(loader.join().unwrap(), 10);
    assert_eq!(cache.get(&1), Some(11));
}

/// A load that misses while a compute runs waits for it and gets its value.
#[test]
fn a_load_waits_for_a_compute_in_flight() {
    let cache: Arc<Cache<u64, u64>> = Arc::new(Cache::new(10));
    let started = Arc::new(Barrier::new(2));
    let (c, s) = (cache.clone(), started.clone());
    let computer = thread::spawn(move || {
        c.compute(1, |_| {
            s.wait();
            thread::sleep(Duration::from_millis(100));
            Compute::Put(42)
        })
    });
    started.wait();
    assert_eq!(
        cache.get_or_insert_with(1, || unreachable!("the compute's value is shared")),
        42
    );
    assert_eq!(computer.join().unwrap(), Some(42));
    assert_eq!(cache.stats().loads, 0);
}

/// A compute that removes: a load waiting on it starts over and loads.
#[test]
fn a_load_waiting_on_a_removing_compute_starts_over() {
    let cache: Arc<Cache<u64, u64>> = Arc::new(Cache::new(10));
    let started = Arc::new(Barrier::new(2));
    let (c, s) = (cache.clone(), started.clone());
    let computer = thread::spawn(move || {
        c.compute(1, |_| {
            s.wait();
            thread::sleep(Duration::from_millis(100));
            Compute::Remove
        })
    });
    started.wait();
    assert_eq!(cache.get_or_insert_with(1, || 3), 3);
    assert_eq!(computer.join().unwrap(), None);
    assert_eq!(cache.get(&1), Some(3));
}

/// The documented rule: an insert that lands while `f` runs wins; the
/// compute returns what the insert left. A remove likewise.
#[test]
fn a_write_during_a_compute_wins() {
    for remove in [false, true] {
        let cache: Arc<Cache<u64, u64>> = Arc::new(Cache::new(10));
        cache.insert(1, 1);
        let started = Arc::new(Barrier::new(2));
        let wrote = Arc::new(Barrier::new(2));
        let (c, s, w) = (cache.clone(), started.clone(), wrote.clone());
        let computer = thread::spawn(move || {
            c.compute(1, |v| {
                assert_eq!(v, Some(&1));
                s.wait();
                w.wait();
                Compute::Put(2)
            })
        });
        started.wait();
        if remove {
            assert_eq!(cache.remove(&1), Some(1));
        } else {
            assert_eq!(cache.insert(1, 100), Some(1));
        }
        wrote.wait();
        let expected = if remove { None } else { Some(100) };
        assert_eq!(computer.join().unwrap(), expected);
        assert_eq!(cache.get(&1), expected);
        // A write before the compute is what the compute sees.
        cache.insert(1, 7);
        assert_eq!(cache.compute(1, add_one), Some(8));
    }
}

#[test]
fn borrowed_key_calls_hit_and_miss() {
    for shards in [1, 4] {
        let cache: Cache<String, usize> = Cache::builder().capacity(16).shards(shards).build();
        assert_eq!(cache.get_or_insert_with_ref("abc", || 3), 3);
        assert_eq!(cache.get_or_insert_with_ref("abc", || unreachable!()), 3);
        assert_eq!(
            cache.try_get_or_insert_with_ref("abc", || Err::<usize, ()>(())),
            Ok(3)
        );
        assert_eq!(
            *cache
                .try_get_or_insert_with_ref("x", || Err::<usize, _>(9))
                .unwrap_err(),
            9
        );
        assert_eq!(block_on(cache.get_or_insert_async_ref("y", async { 1 })), 1);
        assert_eq!(
            block_on(cache.try_get_or_insert_async_ref("y", async { Err::<usize, ()>(()) })),
            Ok(1)
        );
        let stats = cache.stats();
        assert_eq!((stats.hits, stats.misses, stats.loads), (3, 3, 2));
        cache.check_invariants();
    }
}

#[test]
fn borrowed_key_misses_share_one_load() {
    let cache: Arc<Cache<String, u64>> = Arc::new(Cache::builder().capacity(64).shards(4).build());
    let loads = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (cache, loads) = (cache.clone(), loads.clone());
            thread::spawn(move || {
                cache.get_or_insert_with_ref("k", || {
                    loads.fetch_add(1, Ordering::SeqCst);
                    thread::sleep(Duration::from_millis(50));
                    5
                })
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), 5);
    }
    assert_eq!(loads.load(Ordering::SeqCst), 1);
}

#[test]
fn optionally_none_is_shared_and_not_cached() {
    let cache: Arc<Cache<u64, u64>> = Arc::new(Cache::new(10));
    let loads = Arc::new(AtomicUsize::new(0));
    let started = Arc::new(Barrier::new(2));
    let (c, l, s) = (cache.clone(), loads.clone(), started.clone());
    let leader = thread::spawn(move || {
        c.optionally_get_or_insert_with(1, || {
            l.fetch_add(1, Ordering::SeqCst);
            s.wait();
            // Until the other caller waits on this load.
            while c.stats().misses < 2 {
                thread::yield_now();
            }
            None
        })
    });
    started.wait();
    let waiter = cache.optionally_get_or_insert_with(1, || {
        loads.fetch_add(1, Ordering::SeqCst);
        Some(1)
    });
    assert_eq!(waiter, None, "the waiter got the shared None");
    assert_eq!(leader.join().unwrap(), None);
    assert_eq!(loads.load(Ordering::SeqCst), 1);
    assert!(cache.is_empty());
    assert_eq!(cache.optionally_get_or_insert_with(1, || Some(4)), Some(4));
    assert_eq!(
        block_on(cache.optionally_get_or_insert_async(2, async { None })),
        None
    );
    assert_eq!(
        block_on(cache.optionally_get_or_insert_async(1, async { None })),
        Some(4)
    );
}

#[test]
fn batch_hits_loads_and_orders() {
    let cache: Cache<u64, String> = Cache::builder().capacity(100).shards(4).build();
    cache.insert(2, "cached".into());
    let mut asked = Vec::new();
    let got = cache.get_or_insert_many(&[5, 2, 1, 5, 9], |keys| {
        asked = keys.to_vec();
        keys.iter().map(|k| k.to_string()).collect()
    });
    assert_eq!(asked, [5, 1, 9], "missing keys once each, in order");
    assert_eq!(got, ["5", "cached", "1", "5", "9"]);
    assert_eq!(cache.len(), 4);
    let got = cache.get_or_insert_many(&[1, 2], |_| unreachable!("all cached"));
    assert_eq!(got, ["1", "cached"]);
    assert_eq!(
        cache.get_or_insert_many(&[], |_| unreachable!()),
        Vec::<String>::new()
    );
    assert_eq!(cache.stats().loads, 3);
    assert_eq!(cache.loads_in_flight(), 0);
    cache.check_invariants();
}

#[test]
fn batch_loader_with_a_wrong_count_panics_and_caches_nothing() {
    let cache: Cache<u64, u64> = Cache::new(100);
    let r = catch_unwind(AssertUnwindSafe(|| {
        cache.get_or_insert_many(&[1, 2, 3], |_| vec![1])
    }));
    let message = r.unwrap_err();
    let message = message.downcast_ref::<String>().unwrap();
    assert!(
        message.contains("returned 1 values for 3 keys"),
        "{message}"
    );
    assert!(cache.is_empty());
    assert_eq!(cache.loads_in_flight(), 0);
    let r = catch_unwind(AssertUnwindSafe(|| {
        cache.get_or_insert_many(&[1, 2], |_| -> Vec<u64> { panic!("loader") })
    }));
    assert!(r.is_err());
    assert!(cache.is_empty());
    assert_eq!(cache.loads_in_flight(), 0);
    assert_eq!(cache.get_or_insert_many(&[1, 2], |k| k.to_vec()), [1, 2]);
}

#[test]
fn batch_loader_asking_for_its_own_key_panics() {
    let cache: Cache<u64, u64> = Cache::new(100);
    let r = catch_unwind(AssertUnwindSafe(|| {
        cache.get_or_insert_many(&[1, 2], |keys| {
            cache.get_or_insert_with(2, || 0);
            keys.to_vec()
        })
    }));
    assert!(r.is_err());
    assert_eq!(cache.loads_in_flight(), 0);
    // Other keys are fine.
    let got = cache.get_or_insert_many(&[1], |keys| {
        vec![cache.get_or_insert_with(3, || 3) + keys[0]]
    });
    assert_eq!(got, [4]);
}

/// Overlapping batches and single loads, many threads: every key loaded
/// exactly once, every caller gets the one value.
#[test]
fn overlapping_batches_load_each_key_once() {
    for round in 0..20u64 {
        let cache: Arc<Cache<u64, u64>> =
            Arc::new(Cache::builder().capacity(1_000).shards(4).build());
        let loads: Arc<Vec<AtomicUsize>> = Arc::new((0..64).map(|_| AtomicUsize::new(0)).collect());
        let threads: Vec<_> = (0..8u64)
            .map(|t| {
                let (cache, loads) = (cache.clone(), loads.clone());
                thread::spawn(move || {
                    let keys: Vec<u64> = (0..32).map(|i| (i * (t + 1) + round) % 64).collect();
                    if t == 7 {
                        for &k in &keys {
                            let v = cache.get_or_insert_with(k, || {
                                loads[k as usize].fetch_add(1, Ordering::SeqCst);
                                k * 100
                            });
                            assert_eq!(v, k * 100);
                        }
                        return;
                    }
                    let got = cache.get_or_insert_many(&keys, |missing| {
                        for &k in missing {
                            loads[k as usize].fetch_add(1, Ordering::SeqCst);
                        }
                        thread::yield_now();
                        missing.iter().map(|k| k * 100).collect()
                    });
                    let expected: Vec<u64> = keys.iter().map(|k| k * 100).collect();
                    assert_eq!(got, expected);
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        for (k, n) in loads.iter().enumerate() {
            assert!(n.load(Ordering::SeqCst) <= 1, "key {k} loaded {n:?} times");
        }
        assert_eq!(cache.loads_in_flight(), 0);
        cache.check_invariants();
    }
}

/// Two async batches wait on a load whose caller is cancelled. The batch
/// handed the lead ends the flight for everyone; were it to pass the lead
/// on, the two batches would pass it between them forever (on one executor
/// thread, every time). Both finish, with one load.
#[test]
fn batches_handed_the_lead_of_a_cancelled_load_finish() {
    let cache: Arc<Cache<u64, u64>> = Arc::new(Cache::new(100));
    let loads = Arc::new(AtomicUsize::new(0));
    block_on(async {
        let c = cache.clone();
        let leader =
            tokio::spawn(async move { c.get_or_insert_async(1, std::future::pending()).await });
        let batches: Vec<_> = (0..2)
            .map(|_| {
                let (c, loads) = (cache.clone(), loads.clone());
                tokio::spawn(async move {
                    c.get_or_insert_many_async(&[1], |missing| async move {
                        loads.fetch_add(missing.len(), Ordering::SeqCst);
                        vec![7]
                    })
                    .await
                })
            })
            .collect();
        // The leader's miss, then each batch's, counted as it joins.
        while cache.stats().misses < 3 {
            tokio::task::yield_now().await;
        }
        leader.abort();
        let both = async {
            for batch in batches {
                assert_eq!(batch.await.unwrap(), [7]);
            }
        };
        tokio::time::timeout(Duration::from_secs(60), both)
            .await
            .expect("both batches finish (they passed the lead between them)");
    });
    assert_eq!(loads.load(Ordering::SeqCst), 1);
    assert_eq!(cache.loads_in_flight(), 0);
}

#[test]
fn async_batches_on_tokio() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let cache: Arc<Cache<u64, u64>> = Arc::new(Cache::new(1_000));
    let loads = Arc::new(AtomicUsize::new(0));
    rt.block_on(async {
        let tasks: Vec<_> = (0..16u64)
            .map(|t| {
                let (cache, loads) = (cache.clone(), loads.clone());
                tokio::spawn(async move {
                    let keys: Vec<u64> = (t % 4..t % 4 + 8).collect();
                    let got = cache
                        .get_or_insert_many_async(&keys, |missing| async move {
                            loads.fetch_add(missing.len(), Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(5)).await;
                            missing.iter().map(|k| k + 1).collect()
                        })
                        .await;
                    assert_eq!(got, keys.iter().map(|k| k + 1).collect::<Vec<_>>());
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
    assert_eq!(loads.load(Ordering::SeqCst), 11, "keys 0..11, each once");
    // A cancelled batch hands its flights over.
    rt.block_on(async {
        let slow = cache.get_or_insert_many_async(&[100, 101], |_| async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            vec![0, 0]
        });
        assert!(tokio::time::timeout(Duration::from_millis(20), slow)
            .await
            .is_err());
    });
    assert_eq!(cache.loads_in_flight(), 0);
    assert_eq!(cache.get_or_insert_with(100, || 7), 7);
}

#[test]
fn retain_removes_rejected_entries() {
    let cache: Cache<u64, u64> = Cache::builder().capacity(100).shards(4).build();
    for i in 0..50 {
        cache.insert(i, i);
    }
    let mut seen = 0;
    cache.retain(|k, v| {
        seen += 1;
        assert_eq!(k, v);
        k % 3 == 0
    });
    assert_eq!(seen, 50);
    assert_eq!(cache.len(), 17);
    assert!(cache.iter().all(|(k, _)| k % 3 == 0));
    cache.check_invariants();
}

/// `f` may use the cache (it runs outside the locks), and an entry written
/// while `f` runs is judged again on its new value.
#[test]
fn retain_judges_a_rewritten_entry_again() {
    let cache: Cache<u64, u64> = Cache::builder().capacity(100).shards(1).build();
    cache.insert(1, 1);
    cache.insert(2, 2);
    let mut calls = Vec::new();
    cache.retain(|&k, &v| {
        calls.push((k, v));
        if k == 1 && v == 1 {
            cache.insert(1, 10); // rewritten while f runs
        }
        v != 1 && v != 2
    });
    assert_eq!(cache.get(&1), Some(10), "the rewritten entry was kept");
    assert_eq!(cache.get(&2), None);
    assert!(
        calls.contains(&(1, 10)),
        "asked again about the new value: {calls:?}"
    );
}
