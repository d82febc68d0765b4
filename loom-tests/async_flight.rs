//! loom models of the async side of single-flight: mixed sync and async
//! callers, cancelled leaders, cancelled chosen waiters, and waker updates.
#![cfg(shardcache_loom)]

mod common;

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use loom::future::block_on;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;

/// Polls a future once with a waker that does nothing.
fn poll_once<F: Future>(fut: std::pin::Pin<&mut F>) -> Poll<F::Output> {
    let mut cx = Context::from_waker(Waker::noop());
    fut.poll(&mut cx)
}

/// A sync leader with one sync and one async waiter: one load, one value.
#[test]
fn sync_and_async_callers_share_one_load() {
    common::model(3, || {
        let cache = Arc::new(common::cache(4));
        let loads = Arc::new(AtomicUsize::new(0));
        let (c, l) = (cache.clone(), loads.clone());
        let sync_a = thread::spawn(move || {
            c.get_or_insert_with(1, || {
                l.fetch_add(1, Ordering::SeqCst);
                5
            })
        });
        let (c, l) = (cache.clone(), loads.clone());
        let sync_b = thread::spawn(move || {
            c.get_or_insert_with(1, || {
                l.fetch_add(1, Ordering::SeqCst);
                5
            })
        });
        let (c, l) = (cache.clone(), loads.clone());
        let task = thread::spawn(move || {
            block_on(c.get_or_insert_async(1, async move {
                l.fetch_add(1, Ordering::SeqCst);
                5
            }))
        });
        assert_eq!(sync_a.join().unwrap(), 5);
        assert_eq!(sync_b.join().unwrap(), 5);
        assert_eq!(task.join().unwrap(), 5);
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        assert_eq!(cache.loads_in_flight(), 0);
    });
}

/// An async leader dropped after its first poll: exactly one waiter takes
/// over and every waiter gets its value.
#[test]
fn cancelled_async_leader_hands_over() {
    common::model(3, || {
        let cache = Arc::new(common::cache(4));
        let loads = Arc::new(AtomicUsize::new(0));
        let c = cache.clone();
        let cancelled = thread::spawn(move || {
            let mut fut = pin!(c.get_or_insert_async(1, std::future::pending::<u64>()));
            // Leads (stuck in its init), waits, or hits; then is dropped.
            poll_once(fut.as_mut()).is_ready()
        });
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let (c, l) = (cache.clone(), loads.clone());
                thread::spawn(move || {
                    c.get_or_insert_with(1, || {
                        l.fetch_add(1, Ordering::SeqCst);
                        9
                    })
                })
            })
            .collect();
        for w in waiters {
            assert_eq!(w.join().unwrap(), 9);
        }
        cancelled.join().unwrap();
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        assert_eq!(cache.loads_in_flight(), 0);
    });
}

/// A waiter dropped after registering (possibly just chosen to lead, never
/// having run): leadership passes on and the other waiter completes. The
/// dropped future's `init` never finishes and the panicking loader never
/// returns, so the patient caller's loader is the one and only load, in
/// every interleaving; the panicking loader counts a failure only if it ran.
#[test]
fn dropped_chosen_waiter_passes_leadership_on() {
    common::model(2, || {
        let cache = Arc::new(common::cache(4));
        let loads = Arc::new(AtomicUsize::new(0));
        let c = cache.clone();
        let panicking = thread::spawn(move || {
            catch_unwind(AssertUnwindSafe(|| {
                c.get_or_insert_with(1, || panic!("leader"))
            }))
            .is_err()
        });
        let c = cache.clone();
        let dropped = thread::spawn(move || {
            let mut fut = pin!(c.get_or_insert_async(1, std::future::pending::<u64>()));
            // Registers; a second poll may find it chosen to lead. Then it is
            // dropped without ever finishing (unless a poll found the value).
            match poll_once(fut.as_mut()) {
                Poll::Ready(v) => Some(v),
                Poll::Pending => match poll_once(fut.as_mut()) {
                    Poll::Ready(v) => Some(v),
                    Poll::Pending => None,
                },
            }
        });
        let (c, l) = (cache.clone(), loads.clone());
        let patient = thread::spawn(move || {
            c.get_or_insert_with(1, || {
                l.fetch_add(1, Ordering::SeqCst);
                4
            })
        });
        assert_eq!(patient.join().unwrap(), 4);
        let panicked = panicking.join().unwrap();
        if let Some(v) = dropped.join().unwrap() {
            assert_eq!(v, 4, "a poll that finished got the patient's value");
        }
        assert_eq!(
            loads.load(Ordering::SeqCst),
            1,
            "the patient loader ran once"
        );
        let stats = cache.stats();
        assert_eq!(stats.loads, 1);
        assert_eq!(stats.load_failures, u64::from(panicked));
        assert_eq!(cache.loads_in_flight(), 0);
        cache.check_invariants();
        assert_eq!(cache.peek(&1), Some(4));
    });
}

/// A sync leader that panics hands the load to an async waiter. Only the
/// task's `init` can produce a value, so it runs exactly once in every
/// interleaving; the panicking loader ran (and counts a failure) only if its
/// caller led, and otherwise its caller either hit the task's value or
/// waited for it (coalesced).
#[test]
fn leader_panic_hands_over_to_an_async_waiter() {
    common::model(3, || {
        let cache = Arc::new(common::cache(4));
        let inits = Arc::new(AtomicUsize::new(0));
        let c = cache.clone();
        let panicking = thread::spawn(move || {
            catch_unwind(AssertUnwindSafe(|| {
                c.get_or_insert_with(1, || panic!("leader"))
            }))
            .is_err()
        });
        let (c, i) = (cache.clone(), inits.clone());
        let task = thread::spawn(move || {
            block_on(c.get_or_insert_async(1, async move {
                i.fetch_add(1, Ordering::SeqCst);
                6
            }))
        });
        assert_eq!(task.join().unwrap(), 6);
        let panicked = panicking.join().unwrap();
        assert_eq!(inits.load(Ordering::SeqCst), 1, "the task's init ran once");
        let stats = cache.stats();
        assert_eq!((stats.loads, stats.load_failures), (1, u64::from(panicked)));
        assert_eq!(
            stats.hits + stats.coalesced,
            u64::from(!panicked),
            "a caller that did not panic was served the task's value"
        );
        assert_eq!(cache.loads_in_flight(), 0);
        cache.check_invariants();
        assert_eq!(cache.peek(&1), Some(6));
    });
}

/// A waiter re-polled with a new waker while the leader completes never
/// misses its wake-up (a lost wake-up would deadlock the model).
#[test]
fn repoll_with_a_new_waker_races_completion() {
    common::model(3, || {
        let cache = Arc::new(common::cache(4));
        let c = cache.clone();
        let leader = thread::spawn(move || c.get_or_insert_with(1, || 8));
        let c = cache.clone();
        let task = thread::spawn(move || {
            let mut fut = pin!(c.get_or_insert_async(1, async { 8 }));
            match poll_once(fut.as_mut()) {
                Poll::Ready(v) => v,
                // Re-polled by block_on with its own (new) waker.
                Poll::Pending => block_on(fut),
            }
        });
        assert_eq!(leader.join().unwrap(), 8);
        assert_eq!(task.join().unwrap(), 8);
        assert_eq!(cache.loads_in_flight(), 0);
        assert_eq!(cache.stats().loads, 1);
    });
}
