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
