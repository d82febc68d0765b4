//! Throughput under contention, shardcache against its peers in the same
//! run: read-through, all hits, a write-heavy mix, single-flight herds (sync
//! and async), and a hot-set hit against a bare `HashMap` behind a mutex.
//!
//! Threads are a rayon pool of 1, 2, 4 and 8 workers: on a 2-core machine 4
//! and 8 oversubscribe the cores, as busy services do. Keys follow a
//! scrambled Zipf distribution over 2^20 keys, precomputed outside the timed
//! loop. Run: `cargo bench --bench contention`; then
//! `python3 scripts/plot_benchmarks.py` turns criterion's output into the
//! tables and plots of `docs/benchmarks.md`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rayon::prelude::*;

mod support;
use support::{make, read_through, zipf_trace, BenchCache, CACHES};

const KEYS: u64 = 1 << 20;
/// Operations per timed batch, split evenly over the threads.
const OPS: usize = 1 << 19;
const THREADS: [usize; 4] = [1, 2, 4, 8];

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a rayon pool")
}

/// Runs `op` over `trace`, split into one slice per thread, and times it.
fn batch(
    pool: &rayon::ThreadPool,
    threads: usize,
    cache: &dyn BenchCache,
    trace: &[u64],
    op: fn(&dyn BenchCache, u64, usize),
) -> Duration {
    let chunk = trace.len() / threads;
    let start = Instant::now();
    pool.install(|| {
        (0..threads).into_par_iter().for_each(|t| {
            for (i, &key) in trace[t * chunk..(t + 1) * chunk].iter().enumerate() {
                op(cache, key, i);
            }
        })
    });
    start.elapsed()
}

fn read_through_op(cache: &dyn BenchCache, key: u64, _: usize) {
    read_through(cache, key);
}

fn get_op(cache: &dyn BenchCache, key: u64, _: usize) {
    cache.get(key);
}

/// 75% read-through, 12.5% inserts, 12.5% removes.
fn write_heavy_op(cache: &dyn BenchCache, key: u64, i: usize) {
    match i % 8 {
        0 => cache.insert(key),
        4 => cache.remove(key),
        _ => {
            read_through(cache, key);
        }
    }
}

fn throughput_group(
    c: &mut Criterion,
    name: &str,
    s: f64,
    capacity: usize,
    prefill: bool,
    op: fn(&dyn BenchCache, u64, usize),
) {
    let trace = zipf_trace(OPS, KEYS, s, 42);
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(OPS as u64));
    for cache_name in CACHES {
        for threads in THREADS {
            let pool = pool(threads);
            let cache = make(cache_name, capacity);
            if prefill {
                for rank in 0..KEYS {
                    cache.insert(support::scramble(rank));
                }
            } else {
                // Warm up to the steady state.
                batch(&pool, threads, cache.as_ref(), &trace, read_through_op);
            }
            group.bench_with_input(
                BenchmarkId::new(cache_name, threads),
                &threads,
                |b, &threads| {
                    b.iter_custom(|iters| {
                        (0..iters)
                            .map(|_| batch(&pool, threads, cache.as_ref(), &trace, op))
                            .sum()
                    })
                },
            );
        }
    }
    group.finish();
}

fn read_through_bench(c: &mut Criterion) {
    throughput_group(c, "read_through_s1.0", 1.0, 1 << 17, false, read_through_op);
    throughput_group(c, "read_through_s0.8", 0.8, 1 << 17, false, read_through_op);
}

fn all_hits_bench(c: &mut Criterion) {
    throughput_group(c, "all_hits_s1.0", 1.0, 1 << 21, true, get_op);
    throughput_group(c, "all_hits_s0.8", 0.8, 1 << 21, true, get_op);
}

fn write_heavy_bench(c: &mut Criterion) {
    throughput_group(c, "write_heavy_s1.0", 1.0, 1 << 17, false, write_heavy_op);
}

/// A loader of about 100 µs (a database round trip, say).
fn slow_value(key: u64, loads: &AtomicUsize) -> u64 {
    loads.fetch_add(1, Ordering::Relaxed);
    std::thread::sleep(Duration::from_micros(100));
    key
}

const HERD_KEYS: u64 = 64;

/// Every thread asks for the same 64 cold keys (each in its own order):
/// one load per key is the goal.
fn herd_bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("herd");
    group.sample_size(10);
    for threads in THREADS {
        let pool = pool(threads);
        group.throughput(Throughput::Elements(HERD_KEYS * threads as u64));
        let herd = |get: &(dyn Fn(u64) + Sync)| {
            pool.install(|| {
                (0..threads).into_par_iter().for_each(|t| {
                    for i in 0..HERD_KEYS {
                        get((i + t as u64 * 7) % HERD_KEYS);
                    }
                })
            });
        };
        group.bench_function(BenchmarkId::new("shardcache", threads), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let cache = shardcache::Cache::<u64, u64>::new(1024);
                    let loads = AtomicUsize::new(0);
                    let start = Instant::now();
                    herd(&|k| {
                        cache.get_or_insert_with(k, || slow_value(k, &loads));
                    });
                    total += start.elapsed();
                    assert_eq!(
                        loads.load(Ordering::Relaxed) as u64,
                        HERD_KEYS,
                        "one load per key"
                    );
                    assert_eq!(cache.stats().loads, HERD_KEYS);
                }
                total
            })
        });
        group.bench_function(BenchmarkId::new("quick_cache", threads), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let cache = quick_cache::sync::Cache::<u64, u64>::new(1024);
                    let loads = AtomicUsize::new(0);
                    let start = Instant::now();
                    herd(&|k| {
                        let _ = cache.get_or_insert_with(&k, || Ok::<_, ()>(slow_value(k, &loads)));
                    });
                    total += start.elapsed();
                }
                total
            })
        });
        group.bench_function(BenchmarkId::new("moka", threads), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let cache = moka::sync::Cache::<u64, u64>::new(1024);
                    let loads = AtomicUsize::new(0);
                    let start = Instant::now();
                    herd(&|k| {
                        cache.get_with(k, || slow_value(k, &loads));
                    });
                    total += start.elapsed();
                }
                total
            })
        });
    }
    group.finish();
}

/// 1,000 tokio tasks on 64 cold keys, with a 100 µs async loader.
fn async_herd_bench(c: &mut Criterion) {
    const TASKS: u64 = 1000;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_time()
        .build()
        .expect("a tokio runtime");
    let mut group = c.benchmark_group("async_herd");
    group.sample_size(10);
    group.throughput(Throughput::Elements(TASKS));
    async fn pause() {
        tokio::time::sleep(Duration::from_micros(100)).await;
    }
    group.bench_function("shardcache", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let cache = Arc::new(shardcache::Cache::<u64, u64>::new(1024));
                let start = Instant::now();
                rt.block_on(async {
                    let tasks: Vec<_> = (0..TASKS)
                        .map(|t| {
                            let cache = cache.clone();
                            tokio::spawn(async move {
                                let k = t % HERD_KEYS;
                                cache
                                    .get_or_insert_async(k, async move {
                                        pause().await;
                                        k
                                    })
                                    .await
                            })
                        })
                        .collect();
                    for task in tasks {
                        task.await.unwrap();
                    }
                });
                total += start.elapsed();
                assert_eq!(cache.stats().loads, HERD_KEYS, "one load per key");
            }
            total
        })
    });
    group.bench_function("quick_cache", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let cache = Arc::new(quick_cache::sync::Cache::<u64, u64>::new(1024));
                let start = Instant::now();
                rt.block_on(async {
                    let tasks: Vec<_> = (0..TASKS)
                        .map(|t| {
                            let cache = cache.clone();
                            tokio::spawn(async move {
                                let k = t % HERD_KEYS;
                                cache
                                    .get_or_insert_async(&k, async move {
                                        pause().await;
                                        Ok::<_, ()>(k)
                                    })
                                    .await
                            })
                        })
                        .collect();
                    for task in tasks {
                        let _ = task.await.unwrap();
                    }
                });
                total += start.elapsed();
            }
            total
        })
    });
    group.bench_function("moka", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let cache = moka::future::Cache::<u64, u64>::new(1024);
                let start = Instant::now();
                rt.block_on(async {
                    let tasks: Vec<_> = (0..TASKS)
                        .map(|t| {
                            let cache = cache.clone();
                            tokio::spawn(async move {
                                let k = t % HERD_KEYS;
                                cache
                                    .get_with(k, async move {
                                        pause().await;
                                        k
                                    })
                                    .await
                            })
                        })
                        .collect();
                    for task in tasks {
                        task.await.unwrap();
                    }
                });
                total += start.elapsed();
            }
            total
        })
    });
    group.finish();
}

/// One thread, all hits on a 1,000-key hot set: the cost of a hit against
/// a bare hashbrown `HashMap` behind an uncontended mutex.
fn hot_hit_bench(c: &mut Criterion) {
    const HOT: u64 = 1000;
    let keys: Vec<u64> = zipf_trace(1 << 16, HOT, 1.0, 7);
    let mut group = c.benchmark_group("hot_hit");
    group.throughput(Throughput::Elements(keys.len() as u64));
    let map = Mutex::new(hashbrown::HashMap::<u64, u64, ahash::RandomState>::default());
    for rank in 0..HOT {
        let k = support::scramble(rank);
        map.lock().unwrap().insert(k, k);
    }
    group.bench_function("hashbrown+mutex", |b| {
        b.iter(|| {
            let mut sum = 0u64;
            for k in &keys {
                sum = sum.wrapping_add(*map.lock().unwrap().get(k).unwrap());
            }
            sum
        })
    });
    for (name, shards) in [("shardcache", None), ("shardcache-1shard", Some(1))] {
        let mut builder = shardcache::Cache::<u64, u64>::builder().capacity(1 << 16);
        if let Some(n) = shards {
            builder = builder.shards(n);
        }
        let cache = builder.build();
        for rank in 0..HOT {
            let k = support::scramble(rank);
            cache.insert(k, k);
        }
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut sum = 0u64;
                for k in &keys {
                    sum = sum.wrapping_add(cache.get(k).unwrap());
                }
                sum
            })
        });
    }
    let quick = quick_cache::sync::Cache::<u64, u64>::new(1 << 16);
    for rank in 0..HOT {
        let k = support::scramble(rank);
        quick.insert(k, k);
    }
    group.bench_function("quick_cache", |b| {
        b.iter(|| {
            let mut sum = 0u64;
            for k in &keys {
                sum = sum.wrapping_add(quick.get(k).unwrap());
            }
            sum
        })
    });
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(1500))
}

criterion_group! {
    name = benches;
    config = config();
    targets = hot_hit_bench, read_through_bench, all_hits_bench, write_heavy_bench, herd_bench, async_herd_bench
}
criterion_main!(benches);
