//! Async single-flight on real runtimes (tokio multi-thread and
//! current-thread, smol): herds, cancelled leaders, and sync threads mixed
//! with async tasks.
#![cfg(not(shardcache_loom))]

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use shardcache::Cache;

#[path = "support/rng.rs"]
mod rng;
use rng::Rng;

type Task = Pin<Box<dyn Future<Output = ()> + Send>>;
/// Awaits a spawned task.
type Join = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = ()>>>>;

/// 1,000 tasks on 64 cold keys: exactly 64 loads, every task gets its value.
async fn herd(cache: Arc<Cache<u64, u64>>, spawn: impl Fn(Task) -> Join) {
    let loads = Arc::new(AtomicUsize::new(0));
    let mut joins = Vec::new();
    for task in 0..1000u64 {
        let (cache, loads) = (cache.clone(), loads.clone());
        joins.push(spawn(Box::pin(async move {
            let key = task % 64;
            let v = cache
                .get_or_insert_async(key, async {
                    loads.fetch_add(1, Ordering::SeqCst);
                    // Hold the load open across a yield so others pile up.
                    yield_now().await;
                    key + 1000
                })
                .await;
            assert_eq!(v, key + 1000);
        })));
    }
    for join in joins {
        join().await;
    }
    assert_eq!(loads.load(Ordering::SeqCst), 64);
    assert_eq!(cache.stats().loads, 64);
    assert_eq!(cache.loads_in_flight(), 0);
}

/// Yields once to the executor.
async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            std::task::Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    })
    .await
}

#[test]
fn tokio_multi_thread_herd() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .build()
        .unwrap();
    rt.block_on(herd(Arc::new(Cache::new(1024)), |fut| {
        let handle = tokio::spawn(fut);
        Box::new(move || Box::pin(async move { handle.await.unwrap() }))
    }));
}

#[test]
fn tokio_current_thread_herd() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(herd(Arc::new(Cache::new(1024)), |fut| {
        let handle = tokio::spawn(fut);
        Box::new(move || Box::pin(async move { handle.await.unwrap() }))
    }));
}

#[test]
fn smol_herd() {
    let ex = Arc::new(smol::Executor::new());
    let threads: Vec<_> = (0..3)
        .map(|_| {
            let ex = ex.clone();
            let (stop, until) = smol::channel::bounded::<()>(1);
            (
                std::thread::spawn(move || smol::block_on(ex.run(until.recv()))),
                stop,
            )
        })
        .collect();
    let ex2 = ex.clone();
    smol::block_on(ex.run(herd(Arc::new(Cache::new(1024)), move |fut| {
        let task = ex2.spawn(fut);
        Box::new(move || Box::pin(task))
    })));
    for (thread, stop) in threads {
        drop(stop);
        let _ = thread.join().unwrap();
    }
}

#[test]
fn leaders_cancelled_by_timeouts_mid_load_hand_over() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        let cache: Arc<Cache<u64, u64>> = Arc::new(Cache::new(64));
        let runs = Arc::new(AtomicUsize::new(0));
        // The first leaders never finish in time: each is cancelled by its
        // timeout mid-load. Waiters with patience must still complete.
        let mut impatient = Vec::new();
        for _ in 0..5 {
            let (cache, runs) = (cache.clone(), runs.clone());
            impatient.push(tokio::spawn(async move {
                tokio::time::timeout(
                    Duration::from_millis(20),
                    cache.get_or_insert_async(1, async {
                        runs.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                        0
                    }),
                )
                .await
            }));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
        let mut patient = Vec::new();
        for _ in 0..20 {
            let (cache, runs) = (cache.clone(), runs.clone());
            patient.push(tokio::spawn(async move {
                cache
                    .get_or_insert_async(1, async {
                        runs.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        42
                    })
                    .await
            }));
        }
        for task in impatient {
            // Each impatient task either timed out or was served by a patient leader.
            if let Ok(v) = task.await.unwrap() {
                assert_eq!(v, 42);
            }
        }
        for task in patient {
            assert_eq!(task.await.unwrap(), 42);
        }
        assert_eq!(cache.get(&1), Some(42));
        assert_eq!(cache.loads_in_flight(), 0);
        assert!(
            runs.load(Ordering::SeqCst) >= 2,
            "at least one leader was cancelled"
        );
        assert_eq!(cache.stats().loads, 1, "exactly one load completed");
    });
}

#[test]
fn sync_threads_and_async_tasks_share_loads() {
    let cache: Arc<Cache<u64, u64>> = Arc::new(Cache::new(1024));
    let loads = Arc::new(AtomicUsize::new(0));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let barrier = Arc::new(std::sync::Barrier::new(5));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let (cache, loads, barrier) = (cache.clone(), loads.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                for i in 0..64u64 {
                    let key = (i + t * 16) % 64;
                    let v = cache.get_or_insert_with(key, || {
                        loads.fetch_add(1, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_micros(200));
                        key * 3
                    });
                    assert_eq!(v, key * 3);
                }
            })
        })
        .collect();
    barrier.wait();
    rt.block_on(async {
        let mut tasks = Vec::new();
        for t in 0..64u64 {
            let (cache, loads) = (cache.clone(), loads.clone());
            tasks.push(tokio::spawn(async move {
                for i in 0..64u64 {
                    let key = (i + t) % 64;
                    let v = cache
                        .get_or_insert_async(key, async {
                            loads.fetch_add(1, Ordering::SeqCst);
                            yield_now().await;
                            key * 3
                        })
                        .await;
                    assert_eq!(v, key * 3);
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
    });
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(loads.load(Ordering::SeqCst), 64);
    assert_eq!(cache.loads_in_flight(), 0);
}

#[test]
fn async_errors_are_shared() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let cache: Arc<Cache<u64, u64>> = Arc::new(Cache::new(8));
        let calls = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..10 {
            let (cache, calls) = (cache.clone(), calls.clone());
            tasks.push(tokio::spawn(async move {
                cache
                    .try_get_or_insert_async(1, async {
                        calls.fetch_add(1, Ordering::SeqCst);
                        yield_now().await;
                        Err::<u64, &str>("down")
                    })
                    .await
            }));
        }
        for task in tasks {
            assert_eq!(*task.await.unwrap().unwrap_err(), "down");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(cache.is_empty());
    });
}

#[test]
fn an_async_loader_awaiting_its_own_key_panics() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let cache: Arc<Cache<u64, u64>> = Arc::new(Cache::new(8));
    let c = cache.clone();
    let result = rt.block_on(rt.spawn(async move {
        c.get_or_insert_async(1, async { c.get_or_insert_async(1, async { 1 }).await })
            .await
    }));
    let panic = result.unwrap_err().into_panic();
    let message = panic.downcast_ref::<&str>().copied().unwrap_or_default();
    assert!(message.contains("recursive load"), "{message}");
    assert_eq!(cache.loads_in_flight(), 0);
    assert_eq!(rt.block_on(cache.get_or_insert_async(1, async { 2 })), 2);
}

/// How a waiter in [`async_leader_panics_mid_load`] asks for the key.
#[derive(Clone, Copy, Debug)]
enum Caller {
    /// A tokio task in `get_or_insert_async`.
    Task,
    /// A std thread in `get_or_insert_with`.
    Thread,
}

/// Waits (without blocking the executor) until `cond` holds; panics after
/// about 10 s, so a broken hand-over fails instead of hanging.
async fn until(mut cond: impl FnMut() -> bool) {
    for _ in 0..50_000 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    panic!("condition never held");
}

/// An async leader whose `init` panics after an await point, while
/// `waiters` wait on the same key (each registered before the next starts,
/// all before the panic). The panic reaches the leader's own task; the
/// oldest waiter, and only it, runs its loader (waiter `i` would load
/// `70 + i`), and every waiter gets its value.
async fn async_leader_panics_mid_load(waiters: &[Caller]) {
    let cache: Arc<Cache<u64, u64>> = Arc::new(Cache::new(8));
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let c = cache.clone();
    let leader = tokio::spawn(async move {
        c.get_or_insert_async(1, async move {
            // Mid-load: suspended here until every waiter has registered.
            released.await.unwrap();
            panic!("async loader failed")
        })
        .await
    });
    until(|| cache.loads_in_flight() == 1).await;
    let ran = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut results: Vec<tokio::sync::oneshot::Receiver<u64>> = Vec::new();
    for (i, &caller) in waiters.iter().enumerate() {
        let (c, ran) = (cache.clone(), ran.clone());
        let (send, result) = tokio::sync::oneshot::channel();
        let value = 70 + i as u64;
        match caller {
            Caller::Task => drop(tokio::spawn(async move {
                let v = c
                    .get_or_insert_async(1, async {
                        ran.lock().unwrap().push(i);
                        yield_now().await;
                        value
                    })
                    .await;
                let _ = send.send(v);
            })),
            Caller::Thread => drop(std::thread::spawn(move || {
                let v = c.get_or_insert_with(1, || {
                    ran.lock().unwrap().push(i);
                    value
                });
                let _ = send.send(v);
            })),
        }
        results.push(result);
        // Registered: a miss is counted under the shard lock that
        // registers the waiter.
        until(|| cache.stats().misses == 2 + i as u64).await;
    }
    assert!(
        ran.lock().unwrap().is_empty(),
        "nobody loaded before the panic"
    );
    release.send(()).unwrap();

    let panic = leader.await.expect_err("the leader's task panicked");
    assert!(panic.is_panic());
    let panic = panic.into_panic();
    assert_eq!(
        panic.downcast_ref::<&str>(),
        Some(&"async loader failed"),
        "the panic reaches the leader's caller"
    );
    for (i, result) in results.into_iter().enumerate() {
        let v = tokio::time::timeout(Duration::from_secs(10), result)
            .await
            .unwrap_or_else(|_| panic!("waiter {i} ({:?}) still waits", waiters[i]))
            .unwrap_or_else(|_| panic!("waiter {i} ({:?}) panicked", waiters[i]));
        assert_eq!(
            v, 70,
            "waiter {i} ({:?}) got the oldest's value",
            waiters[i]
        );
    }
    assert_eq!(*ran.lock().unwrap(), [0], "only the oldest waiter loaded");
    let stats = cache.stats();
    let n = waiters.len() as u64;
    assert_eq!(
        (
            stats.misses,
            stats.loads,
            stats.load_failures,
            stats.coalesced
        ),
        (1 + n, 1, 1, n - 1)
    );
    assert_eq!(cache.loads_in_flight(), 0);
    cache.check_invariants();
    assert_eq!(cache.peek(&1), Some(70));
}

#[test]
fn async_leader_panic_hands_over_to_an_async_waiter_current_thread() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async_leader_panics_mid_load(&[Caller::Task; 3]));
}

#[test]
fn async_leader_panic_hands_over_to_an_async_waiter_multi_thread() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async_leader_panics_mid_load(&[Caller::Task; 3]));
}

#[test]
fn async_leader_panic_hands_over_to_a_sync_thread() {
    // The sync thread is the oldest waiter: it takes over and its value
    // wakes the async waiter behind it.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async_leader_panics_mid_load(&[
        Caller::Thread,
        Caller::Task,
    ]));
}

#[test]
fn async_leader_panic_hands_over_to_an_async_waiter_before_a_sync_thread() {
    // The async waiter is the oldest: it takes over, and the sync thread
    // blocked behind it gets its value.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async_leader_panics_mid_load(&[
        Caller::Task,
        Caller::Thread,
        Caller::Task,
    ]));
}

/// A waker that records its wake and, if told to, panics in it.
struct RecordingWaker {
    woken: std::sync::atomic::AtomicBool,
    panics: bool,
}

impl std::task::Wake for RecordingWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::SeqCst);
        if self.panics {
            panic!("waker panicked");
        }
    }
}

/// A runtime's waker that panics must not leave the tasks after it asleep:
/// every waiter is woken, then the panic reaches the caller that woke them.
#[test]
fn a_panicking_waker_does_not_strand_the_other_waiters() {
    use std::task::{Context, Poll, Waker};
    let cache: Arc<Cache<u64, u64>> = Arc::new(Cache::builder().capacity(8).shards(1).build());
    let (release, hold) = std::sync::mpsc::channel::<()>();
    let c = cache.clone();
    let leader = std::thread::spawn(move || {
        c.get_or_insert_with(1, || {
            hold.recv().unwrap();
            7
        })
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while cache.loads_in_flight() == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the leader never started"
        );
        std::thread::yield_now();
    }
    let wakers: Vec<Arc<RecordingWaker>> = [true, false]
        .into_iter()
        .map(|panics| {
            Arc::new(RecordingWaker {
                woken: false.into(),
                panics,
            })
        })
        .collect();
    let mut waiters: Vec<Pin<Box<dyn Future<Output = u64> + Send>>> = (0..2)
        .map(|_| {
            let cache = cache.clone();
            Box::pin(async move { cache.get_or_insert_async(1, async { 99 }).await })
                as Pin<Box<dyn Future<Output = u64> + Send>>
        })
        .collect();
    // Register both as waiters, the panicking waker first.
    for (waiter, waker) in waiters.iter_mut().zip(&wakers) {
        let waker = Waker::from(waker.clone());
        assert!(waiter
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_pending());
    }
    release.send(()).unwrap();
    let woke = leader.join();
    assert!(
        woke.is_err(),
        "the waker's panic reaches the leader's caller"
    );
    assert!(
        wakers.iter().all(|w| w.woken.load(Ordering::SeqCst)),
        "every waiter was woken"
    );
    for (waiter, waker) in waiters.iter_mut().zip(&wakers) {
        let waker = Waker::from(waker.clone());
        match waiter.as_mut().poll(&mut Context::from_waker(&waker)) {
            Poll::Ready(value) => assert_eq!(value, 7),
            Poll::Pending => panic!("a woken waiter is still pending"),
        }
    }
    let stats = cache.stats();
    assert_eq!(
        (stats.loads, stats.load_failures, stats.coalesced),
        (1, 0, 2),
        "{stats:?}"
    );
    assert_eq!(cache.get(&1), Some(7));
    assert_eq!(cache.loads_in_flight(), 0);
}

/// Every kind of caller on six hot keys at once: on a tokio runtime, async
/// loads and batches, some cancelled by short timeouts and some with
/// panicking loaders; beside it, two threads of sync loads, batches,
/// computes, timed loads and panicking loaders; and writes from both.
/// Every caller finishes (within a minute, against a fraction of a second
/// of work), every value returned or cached is its key's one value, and no
/// flight is left behind. Seeded, so a failing mix repeats (up to the
/// interleaving).
fn mix(rt: tokio::runtime::Runtime) {
    // Room for half the keys: most calls miss.
    let cache: Arc<Cache<u64, u64>> = Arc::new(Cache::builder().capacity(3).shards(1).build());
    let threads: Vec<_> = (1..=2)
        .map(|seed| {
            let cache = cache.clone();
            std::thread::spawn(move || {
                let mut rng = Rng(seed);
                for _ in 0..1_000 {
                    sync_call(&cache, &mut rng);
                }
            })
        })
        .collect();
    let all = async {
        let tasks: Vec<_> = (0..24u64)
            .map(|seed| {
                let cache = cache.clone();
                tokio::spawn(async move {
                    let mut rng = Rng(100 + seed);
                    for _ in 0..300 {
                        async_call(&cache, &mut rng).await;
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    };
    rt.block_on(async { tokio::time::timeout(Duration::from_secs(60), all).await })
        .expect("every async caller finishes");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    for thread in threads {
        while !thread.is_finished() {
            assert!(
                std::time::Instant::now() < deadline,
                "every sync caller finishes"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        thread.join().expect("no sync caller fails");
    }
    assert_eq!(cache.loads_in_flight(), 0);
    cache.check_invariants();
    for (key, value) in cache.iter() {
        assert_eq!(value, of(key));
    }
}

#[test]
fn a_mix_of_every_kind_of_caller_finishes_on_tokio_multi_thread() {
    mix(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap());
}

/// The same mix with one executor thread, where tasks interleave only at
/// their awaits.
#[test]
fn a_mix_of_every_kind_of_caller_finishes_on_tokio_current_thread() {
    mix(tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap());
}

/// The one value of `key` in the mix.
fn of(key: u64) -> u64 {
    key * 10 + 7
}

/// The values of `keys`, in order.
fn of_all(keys: &[u64]) -> Vec<u64> {
    keys.iter().map(|&k| of(k)).collect()
}

/// 1 to 3 of the six keys, maybe repeated.
fn some_keys(rng: &mut Rng) -> Vec<u64> {
    (0..1 + rng.below(3)).map(|_| rng.below(6)).collect()
}

/// One random async call of the mix.
async fn async_call(cache: &Arc<Cache<u64, u64>>, rng: &mut Rng) {
    let key = rng.below(6);
    let keys = some_keys(rng);
    let pause = Duration::from_micros(rng.below(400));
    let patience = Duration::from_micros(rng.below(600));
    let load = async move {
        tokio::time::sleep(pause).await;
        of(key)
    };
    let load_many = move |missing: Vec<u64>| async move {
        tokio::time::sleep(pause).await;
        of_all(&missing)
    };
    match rng.below(10) {
        0..=2 => assert_eq!(cache.get_or_insert_async(key, load).await, of(key)),
        3..=5 => {
            let got = cache.get_or_insert_many_async(&keys, load_many).await;
            assert_eq!(got, of_all(&keys));
        }
        6 => {
            let got = tokio::time::timeout(patience, cache.get_or_insert_async(key, load)).await;
            if let Ok(got) = got {
                assert_eq!(got, of(key));
            }
        }
        7 => {
            let batch = cache.get_or_insert_many_async(&keys, load_many);
            if let Ok(got) = tokio::time::timeout(patience, batch).await {
                assert_eq!(got, of_all(&keys));
            }
        }
        8 => {
            // In a task of its own, to see its panic (if its loader runs).
            let cache = cache.clone();
            let call = tokio::spawn(async move {
                let keys = [key, (key + 1) % 6];
                cache
                    .get_or_insert_many_async(&keys, |_| async move {
                        tokio::time::sleep(pause).await;
                        panic!("loader")
                    })
                    .await
            });
            if let Ok(got) = call.await {
                assert_eq!(got, [of(key), of((key + 1) % 6)]);
            }
        }
        _ => {
            if rng.below(2) == 0 {
                cache.insert(key, of(key));
            } else {
                cache.remove(&key);
            }
        }
    }
}

/// One random sync call of the mix.
fn sync_call(cache: &Cache<u64, u64>, rng: &mut Rng) {
    let key = rng.below(6);
    let keys = some_keys(rng);
    let pause = Duration::from_micros(rng.below(300));
    match rng.below(6) {
        0 => {
            let got = cache.get_or_insert_with(key, || {
                std::thread::sleep(pause);
                of(key)
            });
            assert_eq!(got, of(key));
        }
        1 => {
            let got = cache.get_or_insert_many(&keys, |missing| {
                std::thread::sleep(pause);
                of_all(missing)
            });
            assert_eq!(got, of_all(&keys));
        }
        2 => {
            // A remove while `f` runs wins: then the key holds nothing.
            let got = cache.compute(key, |_| shardcache::Compute::Put(of(key)));
            assert!(got.is_none() || got == Some(of(key)));
        }
        3 => {
            let got = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                cache.get_or_insert_with(key, || {
                    std::thread::sleep(pause);
                    panic!("loader")
                })
            }));
            if let Ok(got) = got {
                assert_eq!(got, of(key));
            }
        }
        4 => {
            if let Ok(got) = cache.get_or_insert_with_timeout(key, pause, || of(key)) {
                assert_eq!(got, of(key));
            }
        }
        _ => {
            cache.remove(&key);
        }
    }
}
