//! loom models of the service-cache operations: `compute` racing a load and
//! an insert of its key, two computes of one key, overlapping batches, and
//! batches handed a load whose leader gave up. Each asserts every allowed
//! outcome.
#![cfg(shardcache_loom)]

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};

use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;

use shardcache::Compute;

fn add_one(n: Option<&u64>) -> Compute<u64> {
    Compute::Put(n.copied().unwrap_or(0) + 1)
}

/// A compute and a load of one absent key are serialized: either the load
/// comes first (it loads 10, the compute makes 11) or the compute does (it
/// puts 1, the load gets 1 without running its loader). Never both a load
/// and a lost increment.
#[test]
fn compute_vs_load_of_the_same_key() {
    common::model(3, || {
        let cache = Arc::new(common::cache(4));
        let loads = Arc::new(AtomicUsize::new(0));
        let (c, l) = (cache.clone(), loads.clone());
        let loader = thread::spawn(move || {
            c.get_or_insert_with(1, || {
                l.fetch_add(1, Ordering::SeqCst);
                10
            })
        });
        let computed = cache.compute(1, add_one);
        let loaded = loader.join().unwrap();
        let ran = loads.load(Ordering::SeqCst);
        match (loaded, computed) {
            (10, Some(11)) => assert_eq!(ran, 1),
            (1, Some(1)) => assert_eq!(ran, 0),
            other => panic!("not serialized: {other:?}"),
        }
        assert_eq!(cache.peek(&1), computed);
        assert_eq!(cache.loads_in_flight(), 0);
    });
}

/// Two computes of one key never lose an increment.
#[test]
fn two_computes_of_one_key() {
    common::model(3, || {
        let cache = Arc::new(common::cache(4));
        let c = cache.clone();
        let other = thread::spawn(move || c.compute(1, add_one));
        let mine = cache.compute(1, add_one);
        let theirs = other.join().unwrap();
        let mut both = [mine, theirs];
        both.sort();
        assert_eq!(both, [Some(1), Some(2)]);
        assert_eq!(cache.peek(&1), Some(2));
        assert_eq!(cache.loads_in_flight(), 0);
    });
}

/// A compute (+1 on 0) racing an insert of 100: the insert before the
/// compute is what it sees (101); an insert while `f` runs wins (the
/// compute returns 100); an insert after it replaces 1.
#[test]
fn compute_vs_insert() {
    common::model(3, || {
        let cache = Arc::new(common::cache(4));
        cache.insert(1, 0);
        let c = cache.clone();
        let writer = thread::spawn(move || c.insert(1, 100));
        let computed = cache.compute(1, add_one);
        let replaced = writer.join().unwrap();
        let now = cache.peek(&1);
        match (computed, replaced, now) {
            (Some(101), Some(0), Some(101)) => {} // insert first
            (Some(100), Some(0), Some(100)) => {} // insert during f: it wins
            (Some(1), Some(1), Some(100)) => {}   // insert after
            other => panic!("unexpected outcome {other:?}"),
        }
        assert_eq!(cache.loads_in_flight(), 0);
    });
}

/// Two batches over the same two keys, asked in opposite orders: no
/// deadlock, each key loaded exactly once, both get both values.
#[test]
fn two_overlapping_batches() {
    common::model(2, || {
        let cache = Arc::new(common::cache(4));
        let loads = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
        let batch = |keys: [u64; 2]| {
            let (c, l) = (cache.clone(), loads.clone());
            move || {
                c.get_or_insert_many(&keys, |missing| {
                    for &k in missing {
                        l[k as usize].fetch_add(1, Ordering::SeqCst);
                    }
                    missing.iter().map(|k| k + 10).collect()
                })
            }
        };
        let other = thread::spawn(batch([1, 0]));
        let mine = batch([0, 1])();
        assert_eq!(mine, [10, 11]);
        assert_eq!(other.join().unwrap(), [11, 10]);
        for (k, n) in loads.iter().enumerate() {
            assert_eq!(n.load(Ordering::SeqCst), 1, "key {k}");
        }
        assert_eq!(cache.loads_in_flight(), 0);
    });
}

/// A batch over keys `lo` and `hi` (in its pass order) racing a single load
/// of `hi` whose loader asks for `lo`: the batch must not wait for `hi`
/// while it leads `lo`, or the two would wait for each other. Each key is
/// loaded once, and both callers agree on `hi`'s value.
#[test]
fn batch_vs_a_loader_that_needs_its_key() {
    use std::hash::BuildHasher;
    let hash = |k: u64| common::Fixed::default().hash_one(k);
    let (lo, hi) = if hash(0) < hash(1) { (0, 1) } else { (1, 0) };
    common::model(2, move || {
        let cache = Arc::new(common::cache(4));
        let loads = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
        let (c, l) = (cache.clone(), loads.clone());
        let loader = thread::spawn(move || {
            c.get_or_insert_with(hi, || {
                l[hi as usize].fetch_add(1, Ordering::SeqCst);
                let below = c.get_or_insert_with(lo, || {
                    l[lo as usize].fetch_add(1, Ordering::SeqCst);
                    1
                });
                below + 100
            })
        });
        let got = cache.get_or_insert_many(&[lo, hi], |missing| {
            for &k in missing {
                loads[k as usize].fetch_add(1, Ordering::SeqCst);
            }
            missing
                .iter()
                .map(|&k| if k == lo { 10 } else { 20 })
                .collect()
        });
        let theirs = loader.join().unwrap();
        assert_eq!(got[1], theirs, "one value for hi");
        assert!(theirs == 20 || theirs == got[0] + 100);
        for (k, n) in loads.iter().enumerate() {
            assert_eq!(n.load(Ordering::SeqCst), 1, "key {k}");
        }
        assert_eq!(cache.loads_in_flight(), 0);
    });
}

/// Two batches wait on a load whose loader panics. The batch handed the
/// lead ends the flight for everyone rather than pass it to the other
/// batch, which would pass it back: two batches that each hand on a lead
/// and rejoin the flight pass it between them forever. Both start over,
/// the key is loaded once, and both get its value.
#[test]
fn batches_handed_the_lead_of_a_failed_load() {
    common::model(2, || {
        let cache = Arc::new(common::cache(4));
        let loads = Arc::new(AtomicUsize::new(0));
        let batch = || {
            let (c, l) = (cache.clone(), loads.clone());
            thread::spawn(move || {
                c.get_or_insert_many(&[1], |missing| {
                    l.fetch_add(missing.len(), Ordering::SeqCst);
                    vec![7]
                })
            })
        };
        let mut batches = Vec::new();
        let led = catch_unwind(AssertUnwindSafe(|| {
            cache.get_or_insert_with(1, || {
                // Each batch's miss is counted in the step that joins it
                // to this flight.
                for misses in [2, 3] {
                    batches.push(batch());
                    while cache.stats().misses < misses {
                        thread::yield_now();
                    }
                }
                panic!("loader")
            })
        }));
        assert!(led.is_err(), "the leader's caller got its panic");
        for batch in batches {
            assert_eq!(batch.join().unwrap(), [7]);
        }
        assert_eq!(loads.load(Ordering::SeqCst), 1, "one load after the panic");
        assert_eq!(cache.loads_in_flight(), 0);
    });
}
