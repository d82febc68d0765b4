//! Refresh-ahead and fail-safe: a herd on a stale key with a blocked
//! reload (inline and on an executor), each rule of a refresh's result,
//! and fail-safe against a failing and recovering backend. All on a test
//! clock.
#![cfg(not(shardcache_loom))]

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Barrier, Mutex};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::{Duration, Instant};

use shardcache::{BuildError, Cache, Clock, RemovalCause};

#[derive(Clone)]
struct TestClock(Instant, Arc<AtomicU64>);

impl TestClock {
    fn new() -> Self {
        TestClock(Instant::now(), Arc::new(AtomicU64::new(0)))
    }
    fn advance(&self, by: Duration) {
        self.1.fetch_add(by.as_nanos() as u64, Ordering::SeqCst);
    }
}

impl Clock for TestClock {
    fn now(&self) -> Instant {
        self.0 + Duration::from_nanos(self.1.load(Ordering::SeqCst))
    }
}

const SEC: Duration = Duration::from_secs(1);

/// Refresh tasks an executor queued.
type Tasks = Arc<Mutex<Vec<Box<dyn FnOnce() + Send>>>>;
/// Long enough for a thread that should not block to have returned.
const PATIENCE: Duration = Duration::from_secs(20);

/// A gate a loader blocks on until the test opens it.
#[derive(Clone, Default)]
struct Gate(Arc<(Mutex<bool>, std::sync::Condvar)>);

impl Gate {
    fn open(&self) {
        *self.0 .0.lock().unwrap() = true;
        self.0 .1.notify_all();
    }
    fn wait(&self) {
        let mut open = self.0 .0.lock().unwrap();
        while !*open {
            open = self.0 .1.wait(open).unwrap();
        }
    }
}

fn block_on<F: Future>(f: F) -> F::Output {
    let mut cx = Context::from_waker(Waker::noop());
    let mut f = pin!(f);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        thread::yield_now();
    }
}

/// 8 threads hit a key past `refresh_after` while its reload is blocked:
/// one runs its loader, the other 7 get the old value before the reload
/// finishes; the loader's caller gets the new value.
fn herd_inline(shards: usize) {
    let clock = TestClock::new();
    let cache: Arc<Cache<u64, u64>> = Arc::new(
        Cache::builder()
            .capacity(64)
            .shards(shards)
            .time_to_live(60 * SEC)
            .refresh_after(45 * SEC)
            .clock(clock.clone())
            .build(),
    );
    assert_eq!(cache.get_or_insert_with(1, || 1), 1);
    clock.advance(50 * SEC);
    let gate = Gate::default();
    let loads = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = mpsc::channel();
    let start = Arc::new(Barrier::new(8));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (cache, gate, loads, tx, start) = (
                cache.clone(),
                gate.clone(),
                loads.clone(),
                tx.clone(),
                start.clone(),
            );
            thread::spawn(move || {
                start.wait();
                let got = cache.get_or_insert_with(1, || {
                    loads.fetch_add(1, Ordering::SeqCst);
                    gate.wait();
                    2
                });
                tx.send(got).unwrap();
            })
        })
        .collect();
    // Seven return while the reload is blocked, all with the old value.
    for _ in 0..7 {
        assert_eq!(rx.recv_timeout(PATIENCE), Ok(1), "a stale caller waited");
    }
    assert_eq!(loads.load(Ordering::SeqCst), 1, "one reload");
    assert!(
        rx.try_recv().is_err(),
        "the reloading caller is still blocked"
    );
    gate.open();
    assert_eq!(
        rx.recv_timeout(PATIENCE),
        Ok(2),
        "the reloader gets the new value"
    );
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(loads.load(Ordering::SeqCst), 1);
    assert_eq!(cache.get(&1), Some(2));
    let stats = cache.stats();
    assert_eq!(stats.refreshes, 1);
    assert_eq!(stats.loads, 2);
    assert_eq!(cache.loads_in_flight(), 0);
    cache.check_invariants();
}

#[test]
fn herd_gets_the_stale_value_while_one_caller_reloads() {
    herd_inline(1);
}

#[test]
fn herd_gets_the_stale_value_while_one_caller_reloads_read_path() {
    herd_inline(4);
}

/// With a refresher on an executor: all 8 get the old value at once, and
/// the refresher runs once, on an executor thread.
#[test]
fn herd_with_an_executor_all_get_the_stale_value() {
    let clock = TestClock::new();
    let gate = Gate::default();
    let ran_on = Arc::new(Mutex::new(Vec::new()));
    let (g, r) = (gate.clone(), ran_on.clone());
    let cache: Arc<Cache<u64, u64>> = Arc::new(
        Cache::builder()
            .capacity(64)
            .shards(2)
            .time_to_live(60 * SEC)
            .refresh_after(45 * SEC)
            .clock(clock.clone())
            .refresher(move |key: &u64, stale: &u64| {
                r.lock()
                    .unwrap()
                    .push(thread::current().name().map(str::to_owned));
                g.wait();
                Some(key * 100 + stale)
            })
            .executor(|task: Box<dyn FnOnce() + Send>| {
                thread::Builder::new()
                    .name("refresh-executor".into())
                    .spawn(task)
                    .unwrap();
            })
            .build(),
    );
    assert_eq!(cache.get_or_insert_with(1, || 1), 1);
    clock.advance(50 * SEC);
    let (tx, rx) = mpsc::channel();
    let start = Arc::new(Barrier::new(8));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (cache, tx, start) = (cache.clone(), tx.clone(), start.clone());
            thread::spawn(move || {
                start.wait();
                let got = cache.get_or_insert_with(1, || unreachable!("no caller loads"));
                tx.send(got).unwrap();
            })
        })
        .collect();
    for _ in 0..8 {
        assert_eq!(rx.recv_timeout(PATIENCE), Ok(1), "a caller waited");
    }
    for t in threads {
        t.join().unwrap();
    }
    // A `get` during the refresh starts no second one.
    assert_eq!(cache.get(&1), Some(1));
    gate.open();
    let deadline = Instant::now() + PATIENCE;
    while cache.get(&1) != Some(101) {
        assert!(Instant::now() < deadline, "the refresh never landed");
        thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(
        *ran_on.lock().unwrap(),
        vec![Some("refresh-executor".to_owned())],
        "the refresher ran once, on the executor"
    );
    assert_eq!(cache.stats().refreshes, 1);
    assert_eq!(cache.loads_in_flight(), 0);
    cache.check_invariants();
}

/// With an executor, `get` past `refresh_after` triggers the refresh too;
/// `peek` never does.
#[test]
fn get_triggers_an_executor_refresh_and_peek_does_not() {
    for shards in [1, 4] {
        let clock = TestClock::new();
        let calls = Arc::new(AtomicUsize::new(0));
        let c = calls.clone();
        let cache: Cache<u64, u64> = Cache::builder()
            .capacity(64)
            .shards(shards)
            .refresh_after(10 * SEC)
            .clock(clock.clone())
            .refresher(move |_: &u64, stale: &u64| {
                c.fetch_add(1, Ordering::SeqCst);
                Some(stale + 1)
            })
            .executor(|task: Box<dyn FnOnce() + Send>| task())
            .build();
        cache.insert(1, 1);
        clock.advance(11 * SEC);
        assert_eq!(cache.peek(&1), Some(1));
        assert_eq!(calls.load(Ordering::SeqCst), 0, "peek refreshed");
        // The executor ran the task at once; the next read applies it.
        assert_eq!(cache.get(&1), Some(1));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(cache.get(&1), Some(2), "shards = {shards}");
        assert_eq!(cache.get(&1), Some(2));
        assert_eq!(calls.load(Ordering::SeqCst), 1, "fresh again: no refresh");
        assert_eq!(cache.loads_in_flight(), 0);
        cache.check_invariants();
    }
}

/// A successful refresh replaces the value (the listener hears
/// `Replaced`) and restarts its clocks.
#[test]
fn a_refresh_replaces_and_restarts_the_clocks() {
    let clock = TestClock::new();
    let heard = Arc::new(Mutex::new(Vec::new()));
    let log = heard.clone();
    let cache: Cache<u64, u64> = Cache::builder()
        .capacity(64)
        .time_to_live(60 * SEC)
        .refresh_after(45 * SEC)
        .clock(clock.clone())
        .removal_listener(move |k: &u64, v: &u64, cause| log.lock().unwrap().push((*k, *v, cause)))
        .build();
    cache.get_or_insert_with(1, || 1);
    clock.advance(50 * SEC);
    assert_eq!(
        cache.get_or_insert_with(1, || 2),
        2,
        "the reloader gets its value"
    );
    assert_eq!(*heard.lock().unwrap(), vec![(1, 1, RemovalCause::Replaced)]);
    // The old deadline (60 s) has passed; the new one is 50 + 60.
    clock.advance(40 * SEC);
    assert_eq!(cache.get(&1), Some(2));
    assert_eq!(
        cache.get_or_insert_with(1, || 3),
        2,
        "fresh for 45 s after the refresh"
    );
    clock.advance(20 * SEC);
    assert_eq!(cache.get(&1), None, "expired 60 s after the refresh");
}

/// A failed or panicking reload keeps the stale value, and only the caller
/// that ran it sees the error; the next caller may refresh.
#[test]
fn a_failed_or_panicking_refresh_keeps_the_stale_value() {
    let clock = TestClock::new();
    let cache: Cache<u64, u64> = Cache::builder()
        .capacity(64)
        .time_to_live(60 * SEC)
        .refresh_after(45 * SEC)
        .clock(clock.clone())
        .build();
    cache.get_or_insert_with(1, || 1);
    clock.advance(50 * SEC);
    let failed = cache.try_get_or_insert_with(1, || Err::<u64, _>("down"));
    assert_eq!(*failed.unwrap_err(), "down");
    assert_eq!(cache.peek(&1), Some(1));
    let panicked = catch_unwind(AssertUnwindSafe(|| {
        cache.get_or_insert_with(1, || panic!("reload"))
    }));
    assert!(panicked.is_err());
    assert_eq!(cache.peek(&1), Some(1));
    assert_eq!(cache.loads_in_flight(), 0);
    assert_eq!(cache.stats().load_failures, 2);
    assert_eq!(cache.stats().refreshes, 2);
    assert_eq!(
        cache.get_or_insert_with(1, || 2),
        2,
        "the next caller refreshes"
    );
    cache.check_invariants();
}

/// A refresher returning `None` keeps the stale value (inline, without an
/// executor: it runs instead of the caller's loader).
#[test]
fn an_inline_refresher_runs_instead_of_the_loader() {
    let clock = TestClock::new();
    let answer = Arc::new(Mutex::new(None));
    let a = answer.clone();
    let cache: Cache<u64, u64> = Cache::builder()
        .capacity(64)
        .refresh_after(10 * SEC)
        .clock(clock.clone())
        .refresher(move |_: &u64, _: &u64| *a.lock().unwrap())
        .build();
    cache.insert(1, 1);
    clock.advance(11 * SEC);
    assert_eq!(
        cache.get_or_insert_with(1, || unreachable!()),
        1,
        "None keeps it"
    );
    *answer.lock().unwrap() = Some(7);
    assert_eq!(cache.get_or_insert_with(1, || unreachable!()), 7);
    assert_eq!(cache.get(&1), Some(7));
    assert_eq!(cache.stats().refreshes, 2);
}

/// An async caller reloads inside its own future; dropping the future
/// mid-reload leaves the stale value and no flight.
#[test]
fn a_dropped_async_refresh_leaves_the_stale_value() {
    let clock = TestClock::new();
    let cache: Cache<u64, u64> = Cache::builder()
        .capacity(64)
        .time_to_live(60 * SEC)
        .refresh_after(45 * SEC)
        .clock(clock.clone())
        .build();
    cache.insert(1, 1);
    clock.advance(50 * SEC);
    {
        let mut cx = Context::from_waker(Waker::noop());
        let mut fut = pin!(cache.get_or_insert_async(1, std::future::pending::<u64>()));
        assert!(fut.as_mut().poll(&mut cx).is_pending());
        assert_eq!(cache.loads_in_flight(), 1);
        // Meanwhile another caller gets the stale value at once.
        assert_eq!(block_on(cache.get_or_insert_async(1, async { 3 })), 1);
    }
    assert_eq!(cache.loads_in_flight(), 0);
    assert_eq!(cache.peek(&1), Some(1));
    assert_eq!(block_on(cache.get_or_insert_async(1, async { 2 })), 2);
    assert_eq!(cache.get(&1), Some(2));
}

/// An insert during a refresh wins over the refreshed value.
#[test]
fn an_insert_during_a_refresh_wins() {
    let clock = TestClock::new();
    let cache: Arc<Cache<u64, u64>> = Arc::new(
        Cache::builder()
            .capacity(64)
            .refresh_after(10 * SEC)
            .clock(clock.clone())
            .build(),
    );
    cache.insert(1, 1);
    clock.advance(11 * SEC);
    let gate = Gate::default();
    let (c, g) = (cache.clone(), gate.clone());
    let reloader = thread::spawn(move || {
        c.get_or_insert_with(1, || {
            g.wait();
            2
        })
    });
    while cache.loads_in_flight() == 0 {
        thread::yield_now();
    }
    cache.insert(1, 99);
    gate.open();
    assert_eq!(reloader.join().unwrap(), 2, "its caller gets its value");
    assert_eq!(cache.get(&1), Some(99), "the insert won");
}

/// An executor refresh that completes after `clear` stores nothing; one
/// that completes after the cache is dropped is harmless.
#[test]
fn an_executor_refresh_after_clear_or_drop_is_harmless() {
    let clock = TestClock::new();
    let tasks: Tasks = Arc::default();
    let queue = tasks.clone();
    let cache: Cache<u64, u64> = Cache::builder()
        .capacity(64)
        .refresh_after(10 * SEC)
        .clock(clock.clone())
        .refresher(|_: &u64, stale: &u64| Some(stale + 1))
        .executor(move |task| queue.lock().unwrap().push(task))
        .build();
    cache.insert(1, 1);
    cache.insert(2, 2);
    clock.advance(11 * SEC);
    assert_eq!(cache.get(&1), Some(1));
    assert_eq!(tasks.lock().unwrap().len(), 1);
    cache.clear();
    tasks.lock().unwrap().pop().unwrap()();
    cache.cleanup();
    assert_eq!(cache.get(&1), None, "cleared: the refresh is not stored");
    assert_eq!(cache.loads_in_flight(), 0);
    cache.insert(2, 2);
    clock.advance(11 * SEC);
    assert_eq!(cache.get(&2), Some(2));
    let task = tasks.lock().unwrap().pop().unwrap();
    drop(cache);
    task();
}

/// A task the executor drops unrun ends the refresh: the stale value
/// stays, and a later read refreshes again.
#[test]
fn a_dropped_task_ends_its_refresh() {
    let clock = TestClock::new();
    let drop_next = Arc::new(AtomicUsize::new(1));
    let d = drop_next.clone();
    let cache: Cache<u64, u64> = Cache::builder()
        .capacity(64)
        .refresh_after(10 * SEC)
        .clock(clock.clone())
        .refresher(|_: &u64, stale: &u64| Some(stale + 1))
        .executor(move |task: Box<dyn FnOnce() + Send>| {
            if d.fetch_sub(1, Ordering::SeqCst) == 0 {
                task()
            }
        })
        .build();
    cache.insert(1, 1);
    clock.advance(11 * SEC);
    assert_eq!(cache.get_or_insert_with(1, || 5), 1);
    assert_eq!(
        cache.get_or_insert_with(1, || 5),
        1,
        "dropped: applied, then refreshed"
    );
    assert_eq!(cache.get(&1), Some(2));
    assert_eq!(cache.stats().refreshes, 2);
    assert_eq!(cache.loads_in_flight(), 0);
}

/// Fail-safe: the backend fails → the stale value, the loader called once
/// per `fail_safe_retry`; the backend is back → the fresh value. Past the
/// window, and without a stale value, errors pass through.
#[test]
fn fail_safe_serves_the_stale_value_and_spares_the_backend() {
    let clock = TestClock::new();
    let cache: Cache<u64, u64> = Cache::builder()
        .capacity(64)
        .time_to_live(10 * SEC)
        .stale_if_error(600 * SEC)
        .fail_safe_retry(5 * SEC)
        .clock(clock.clone())
        .build();
    let calls = AtomicUsize::new(0);
    let up = std::sync::atomic::AtomicBool::new(false);
    let backend = |v: u64| {
        calls.fetch_add(1, Ordering::SeqCst);
        if up.load(Ordering::SeqCst) {
            Ok(v)
        } else {
            Err("down")
        }
    };
    up.store(true, Ordering::SeqCst);
    assert_eq!(cache.try_get_or_insert_with(1, || backend(1)), Ok(1));
    up.store(false, Ordering::SeqCst);
    clock.advance(11 * SEC);
    assert_eq!(cache.get(&1), None, "expired: get never returns it");
    assert_eq!(cache.peek(&1), None);
    assert_eq!(cache.len(), 1, "kept");
    assert_eq!(cache.try_get_or_insert_with(1, || backend(2)), Ok(1));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    for _ in 0..10 {
        assert_eq!(cache.try_get_or_insert_with(1, || backend(2)), Ok(1));
        clock.advance(SEC / 4);
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "not asked within fail_safe_retry"
    );
    clock.advance(3 * SEC);
    assert_eq!(cache.try_get_or_insert_with(1, || backend(2)), Ok(1));
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "asked again after fail_safe_retry"
    );
    assert_eq!(cache.stats().stale_served, 12);
    // Errors without a stale value pass through.
    assert_eq!(
        *cache.try_get_or_insert_with(9, || backend(9)).unwrap_err(),
        "down"
    );
    // The backend is back.
    up.store(true, Ordering::SeqCst);
    clock.advance(5 * SEC);
    assert_eq!(cache.try_get_or_insert_with(1, || backend(2)), Ok(2));
    assert_eq!(cache.get(&1), Some(2));
    // Past the window the entry is gone and errors pass through.
    up.store(false, Ordering::SeqCst);
    clock.advance(611 * SEC);
    assert_eq!(
        *cache.try_get_or_insert_with(1, || backend(3)).unwrap_err(),
        "down"
    );
    assert_eq!(cache.len(), 0);
    cache.check_invariants();
}

/// A fail-safe load that fails returns the stale value to its waiters too.
#[test]
fn fail_safe_serves_the_waiters() {
    let clock = TestClock::new();
    let cache: Arc<Cache<u64, u64>> = Arc::new(
        Cache::builder()
            .capacity(64)
            .time_to_live(10 * SEC)
            .stale_if_error(60 * SEC)
            .clock(clock.clone())
            .build(),
    );
    cache.insert(1, 1);
    clock.advance(11 * SEC);
    let gate = Gate::default();
    let calls = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (cache, gate, calls) = (cache.clone(), gate.clone(), calls.clone());
            thread::spawn(move || {
                cache.try_get_or_insert_with(1, || {
                    calls.fetch_add(1, Ordering::SeqCst);
                    gate.wait();
                    Err::<u64, _>("down")
                })
            })
        })
        .collect();
    while cache.stats().misses < 4 {
        thread::yield_now();
    }
    gate.open();
    for t in threads {
        assert_eq!(t.join().unwrap(), Ok(1));
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(cache.stats().stale_served, 4);
}

/// Kept stale entries count against capacity and are evicted like others;
/// `cleanup` reclaims them only once their window is over.
#[test]
fn kept_entries_count_against_capacity() {
    let clock = TestClock::new();
    let (tx, rx) = mpsc::channel();
    let cache: Cache<u64, u64> = Cache::builder()
        .capacity(2)
        .shards(1)
        .time_to_live(10 * SEC)
        .stale_if_error(60 * SEC)
        .clock(clock.clone())
        .removal_listener(move |k: &u64, _: &u64, cause| tx.send((*k, cause)).unwrap())
        .build();
    cache.insert(1, 1);
    cache.insert(2, 2);
    clock.advance(11 * SEC);
    cache.cleanup();
    assert_eq!(cache.len(), 2, "kept through cleanup");
    assert!(rx.try_recv().is_err());
    cache.insert(3, 3);
    assert_eq!(cache.len(), 2);
    assert_eq!(rx.try_recv(), Ok((1, RemovalCause::Expired)));
    clock.advance(60 * SEC);
    cache.cleanup();
    assert_eq!(cache.len(), 1);
    assert_eq!(rx.try_recv(), Ok((2, RemovalCause::Expired)));
    cache.check_invariants();
}

#[test]
fn build_errors() {
    let built = Cache::<u64, u64>::builder()
        .capacity(4)
        .executor(|task| task())
        .try_build();
    assert_eq!(built.unwrap_err(), BuildError::ExecutorWithoutRefresher);
    let built = Cache::<u64, u64>::builder()
        .capacity(4)
        .refresh_after(Duration::ZERO)
        .try_build();
    assert_eq!(built.unwrap_err(), BuildError::ZeroRefreshAfter);
    assert!(BuildError::ExecutorWithoutRefresher
        .to_string()
        .contains("`refresher`"));
}

/// A cache without refresh or fail-safe keeps no write times.
#[test]
fn no_settings_no_side_table() {
    let plain: Cache<u64, u64> = Cache::builder()
        .capacity(1000)
        .shards(1)
        .time_to_live(SEC)
        .build();
    let aged: Cache<u64, u64> = Cache::builder()
        .capacity(1000)
        .shards(1)
        .time_to_live(SEC)
        .refresh_after(SEC / 2)
        .build();
    for i in 0..1000 {
        plain.insert(i, i);
        aged.insert(i, i);
    }
    assert!(aged.expiry_bytes() >= plain.expiry_bytes() + 1000 * 16);
}

static MEMO_CALLS: AtomicUsize = AtomicUsize::new(0);

#[shardcache::memoize(capacity = 16, refresh_after = Duration::from_millis(20))]
fn doubled(x: u64) -> u64 {
    MEMO_CALLS.fetch_add(1, Ordering::SeqCst);
    x * 2
}

/// `#[memoize(refresh_after = …)]`: a result older than that is
/// recomputed by the next call (the only caller here, so it runs it).
#[test]
fn memoize_refresh_after() {
    assert_eq!(doubled(4), 8);
    assert_eq!(doubled(4), 8);
    assert_eq!(MEMO_CALLS.load(Ordering::SeqCst), 1);
    thread::sleep(Duration::from_millis(60));
    assert_eq!(doubled(4), 8);
    assert_eq!(MEMO_CALLS.load(Ordering::SeqCst), 2, "refreshed");
}

/// A compute or a batch that meets an executor refresh which ended but is
/// not yet applied applies it and goes on (no livelock); an abandoned one
/// (the refresher kept the stale value) too.
#[test]
fn compute_and_batch_meet_an_ended_executor_refresh() {
    for keep in [false, true] {
        let clock = TestClock::new();
        let tasks: Tasks = Arc::default();
        let queue = tasks.clone();
        let cache: Cache<u64, u64> = Cache::builder()
            .capacity(64)
            .refresh_after(10 * SEC)
            .clock(clock.clone())
            .refresher(move |_: &u64, stale: &u64| (!keep).then_some(stale + 100))
            .executor(move |task| queue.lock().unwrap().push(task))
            .build();
        cache.insert(1, 1);
        cache.insert(2, 2);
        clock.advance(11 * SEC);
        assert_eq!(cache.get(&1), Some(1));
        assert_eq!(cache.get(&2), Some(2));
        for task in tasks.lock().unwrap().drain(..) {
            task();
        }
        let computed = cache.compute(1, |v| shardcache::Compute::Put(v.copied().unwrap_or(0) + 1));
        assert_eq!(computed, Some(if keep { 2 } else { 102 }));
        let got = cache.get_or_insert_many(&[2], |_| unreachable!("2 is cached"));
        assert_eq!(got, vec![if keep { 2 } else { 102 }]);
        assert_eq!(cache.loads_in_flight(), 0);
        cache.check_invariants();
    }
}
