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

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rayon::prelude::*;
use shardcache::Policy;

mod support;
use support::{
    batch, get_op, make, read_through, read_through_op, write_heavy_op, zipf_trace, BenchCache,
    CACHES,
};

const KEYS: u64 = 1 << 20;
/// Operations per timed batch, split evenly over the threads.
const OPS: usize = 1 << 19;
/// The trace: 16 batches' worth. Long enough (it touches ~70% of the keys
/// at s = 1.0) that replaying it is still a Zipf stream: a short trace
/// replayed holds few more distinct keys than the cache does, and
/// frequency-aware caches then hit almost every time.
const TRACE: usize = OPS * 16;
/// Untimed read-through operations before the first measurement.
const WARM_UP: usize = OPS * 4;
const THREADS: [usize; 4] = [1, 2, 4, 8];

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a rayon pool")
}

fn throughput_group(
    c: &mut Criterion,
    name: &str,
    s: f64,
    capacity: usize,
    prefill: bool,
    op: fn(&dyn BenchCache, u64, usize),
) {
    let trace = zipf_trace(TRACE, KEYS, s, 42);
    let windows: Vec<&[u64]> = trace.chunks_exact(OPS).collect();
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(OPS as u64));
    for cache_name in CACHES {
        for threads in THREADS {
            // Built on first use, so a filtered run skips the others' setup.
            let mut setup: Option<(rayon::ThreadPool, Box<dyn BenchCache>)> = None;
            // Each batch runs the next window of the trace.
            let mut next = 0usize;
            group.bench_with_input(
                BenchmarkId::new(cache_name, threads),
                &threads,
                |b, &threads| {
                    let (pool, cache) = setup.get_or_insert_with(|| {
                        let pool = pool(threads);
                        let cache = make(cache_name, capacity);
                        if prefill {
                            for rank in 0..KEYS {
                                cache.insert(support::scramble(rank));
                            }
                        } else {
                            // Warm up to the steady state.
                            batch(
                                &pool,
                                threads,
                                cache.as_ref(),
                                &trace[..WARM_UP],
                                read_through_op,
                            );
                            if threads == 1 && name.starts_with("read_through") {
                                // One more untimed pass, counting hits: the
                                // hit ratio explains part of the throughput
                                // (a miss costs an insert and an eviction).
                                let window = &trace[WARM_UP..2 * WARM_UP];
                                let hits = window
                                    .iter()
                                    .filter(|&&k| read_through(cache.as_ref(), k))
                                    .count();
                                record_hit_ratio(
                                    name,
                                    cache_name,
                                    hits as f64 / window.len() as f64,
                                );
                            }
                        }
                        cache.filled();
                        (pool, cache)
                    });
                    b.iter_custom(|iters| {
                        (0..iters)
                            .map(|_| {
                                next = (next + 1) % windows.len();
                                batch(pool, threads, cache.as_ref(), windows[next], op)
                            })
                            .sum()
                    })
                },
            );
        }
    }
    group.finish();
}

/// Records a steady-state read-through hit ratio in
/// `target/criterion/hit_ratios.csv` (replacing an older row for the same
/// group and cache), for the docs.
fn record_hit_ratio(group: &str, cache: &str, ratio: f64) {
    let dir = std::env::var("CRITERION_HOME").unwrap_or_else(|_| "target/criterion".into());
    let path = format!("{dir}/hit_ratios.csv");
    let old = std::fs::read_to_string(&path).unwrap_or_default();
    let mut csv = String::from("group,cache,hit_ratio\n");
    for line in old.lines().skip(1) {
        if !line.starts_with(&format!("{group},{cache},")) {
            csv += line;
            csv.push('\n');
        }
    }
    csv += &format!("{group},{cache},{ratio:.4}\n");
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(path, csv);
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
fn slow_value(key: u64, loads: &AtomicU64) -> u64 {
    loads.fetch_add(1, Ordering::Relaxed);
    std::thread::sleep(Duration::from_micros(100));
    key
}

const HERD_KEYS: u64 = 64;

/// One row of `herd_loads.csv`: group, cache, threads, requests per run, and
/// the most loads any single run made.
type LoadsRow = (String, String, usize, u64, u64);

/// The most loads any single run of a herd made, per (group, cache, threads):
/// written to `target/criterion/herd_loads.csv` for the docs' table.
static HERD_LOADS: Mutex<Vec<LoadsRow>> = Mutex::new(Vec::new());

fn record_loads(group: &str, cache: &str, threads: usize, requests: u64, loads: u64) {
    let mut all = HERD_LOADS.lock().unwrap();
    match all
        .iter_mut()
        .find(|r| r.0 == group && r.1 == cache && r.2 == threads)
    {
        Some(row) => row.4 = row.4.max(loads),
        None => all.push((group.into(), cache.into(), threads, requests, loads)),
    }
}

/// Writes this run's rows, keeping an older run's rows for the cells this
/// run did not measure (a filtered `cargo bench` run replaces only its own).
fn write_loads() {
    let all = HERD_LOADS.lock().unwrap();
    let dir = std::env::var("CRITERION_HOME").unwrap_or_else(|_| "target/criterion".into());
    let path = format!("{dir}/herd_loads.csv");
    let old = std::fs::read_to_string(&path).unwrap_or_default();
    let _ = std::fs::create_dir_all(&dir);
    let mut csv = String::from("group,cache,threads,requests,keys,max_loads\n");
    for line in old.lines().skip(1) {
        let cell: Vec<&str> = line.splitn(4, ',').take(3).collect();
        let measured = all
            .iter()
            .any(|r| cell == [r.0.as_str(), r.1.as_str(), &r.2.to_string()]);
        if !measured {
            csv += line;
            csv.push('\n');
        }
    }
    for (group, cache, threads, requests, loads) in all.iter() {
        csv += &format!("{group},{cache},{threads},{requests},{HERD_KEYS},{loads}\n");
        eprintln!(
            "{group}/{cache}/{threads}: {loads} loads for {HERD_KEYS} keys ({requests} requests)"
        );
    }
    let _ = std::fs::write(path, csv);
}

/// A thundering herd: every thread asks for the same 64 cold keys in the
/// same order, so all of them pile onto each key while it loads. One load
/// per key is the goal; `lru-16mutex` is the hand-rolled read-through (get,
/// load on a miss, insert), which loads once per thread that missed.
fn herd_bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("herd");
    group.sample_size(10);
    for threads in THREADS {
        let pool = pool(threads);
        let requests = HERD_KEYS * threads as u64;
        group.throughput(Throughput::Elements(requests));
        // Runs one herd over a fresh cache: returns the time and the loads.
        let herd = |get: &(dyn Fn(u64) + Sync)| {
            let start = Instant::now();
            pool.install(|| {
                (0..threads).into_par_iter().for_each(|_| {
                    for k in 0..HERD_KEYS {
                        get(support::scramble(k));
                    }
                })
            });
            start.elapsed()
        };
        let mut run = |name: &str, one: &dyn Fn(&AtomicU64) -> Duration| {
            group.bench_function(BenchmarkId::new(name, threads), |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let loads = AtomicU64::new(0);
                        total += one(&loads);
                        record_loads("herd", name, threads, requests, loads.into_inner());
                    }
                    total
                })
            });
        };
        run("shardcache", &|loads| {
            let cache = shardcache::Cache::<u64, u64>::new(1024);
            let t = herd(&|k| {
                cache.get_or_insert_with(k, || slow_value(k, loads));
            });
            assert_eq!(loads.load(Ordering::Relaxed), HERD_KEYS, "one load per key");
            assert_eq!(cache.stats().loads, HERD_KEYS, "stats: one load per key");
            t
        });
        run("quick_cache", &|loads| {
            let cache = quick_cache::sync::Cache::<u64, u64>::new(1024);
            herd(&|k| {
                let _ = cache.get_or_insert_with(&k, || Ok::<_, ()>(slow_value(k, loads)));
            })
        });
        run("moka", &|loads| {
            let cache = moka::sync::Cache::<u64, u64>::new(1024);
            herd(&|k| {
                cache.get_with(k, || slow_value(k, loads));
            })
        });
        run("lru-16mutex", &|loads| {
            let cache = support::LruMutex::new(1024, 16);
            herd(&|k| {
                if !cache.get(k) {
                    slow_value(k, loads);
                    cache.insert(k);
                }
            })
        });
    }
    group.finish();
    write_loads();
}

const ASYNC_TASKS: u64 = 1024;

async fn pause() {
    tokio::time::sleep(Duration::from_micros(100)).await;
}

/// Spawns the tasks on `rt`, task `t` asking for key `t % 64` through
/// `get`, waits for all of them, and returns the time and the loads.
fn async_herd_once<C, F, Fut>(rt: &tokio::runtime::Runtime, cache: C, get: F) -> (Duration, u64)
where
    C: Clone + Send + 'static,
    F: Fn(C, u64, Arc<AtomicU64>) -> Fut,
    Fut: std::future::Future<Output = u64> + Send + 'static,
{
    let loads = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    rt.block_on(async {
        let tasks: Vec<_> = (0..ASYNC_TASKS)
            .map(|t| {
                let k = support::scramble(t % HERD_KEYS);
                tokio::spawn(get(cache.clone(), k, loads.clone()))
            })
            .collect();
        for (t, task) in tasks.into_iter().enumerate() {
            assert_eq!(task.await.unwrap(), support::scramble(t as u64 % HERD_KEYS));
        }
    });
    (start.elapsed(), loads.load(Ordering::Relaxed))
}

async fn shardcache_async(
    cache: Arc<shardcache::Cache<u64, u64>>,
    k: u64,
    loads: Arc<AtomicU64>,
) -> u64 {
    cache
        .get_or_insert_async(k, async move {
            loads.fetch_add(1, Ordering::Relaxed);
            pause().await;
            k
        })
        .await
}

async fn quick_cache_async(
    cache: Arc<quick_cache::sync::Cache<u64, u64>>,
    k: u64,
    loads: Arc<AtomicU64>,
) -> u64 {
    cache
        .get_or_insert_async(&k, async move {
            loads.fetch_add(1, Ordering::Relaxed);
            pause().await;
            Ok::<_, ()>(k)
        })
        .await
        .unwrap()
}

async fn moka_async(cache: moka::future::Cache<u64, u64>, k: u64, loads: Arc<AtomicU64>) -> u64 {
    cache
        .get_with(k, async move {
            loads.fetch_add(1, Ordering::Relaxed);
            pause().await;
            k
        })
        .await
}

/// The async herd: 1,024 tokio tasks (16 per key) on 64 cold keys, with a
/// 100 µs async loader, on a multi-thread runtime of 1, 2, 4 and 8 workers.
fn async_herd_bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("async_herd");
    group.sample_size(10);
    group.throughput(Throughput::Elements(ASYNC_TASKS));
    for workers in THREADS {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_time()
            .build()
            .expect("a tokio runtime");
        let mut bench = |name: &str, once: &dyn Fn() -> (Duration, u64)| {
            group.bench_function(BenchmarkId::new(name, workers), |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let (time, loads) = once();
                        record_loads("async_herd", name, workers, ASYNC_TASKS, loads);
                        total += time;
                    }
                    total
                })
            });
        };
        bench("shardcache", &|| {
            let cache = Arc::new(shardcache::Cache::<u64, u64>::new(1024));
            let (time, loads) = async_herd_once(&rt, cache.clone(), shardcache_async);
            assert_eq!(loads, HERD_KEYS, "one load per key");
            assert_eq!(cache.stats().loads, HERD_KEYS, "stats: one load per key");
            (time, loads)
        });
        bench("quick_cache", &|| {
            let cache = Arc::new(quick_cache::sync::Cache::<u64, u64>::new(1024));
            async_herd_once(&rt, cache, quick_cache_async)
        });
        bench("moka", &|| {
            async_herd_once(&rt, moka::future::Cache::<u64, u64>::new(1024), moka_async)
        });
    }
    group.finish();
    write_loads();
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
    for (name, shards, policy) in [
        ("shardcache", None, Policy::Lru),
        ("shardcache-1shard", Some(1), Policy::Lru),
        ("shardcache-tinylfu", None, Policy::TinyLfu),
    ] {
        let mut builder = shardcache::Cache::<u64, u64>::builder()
            .capacity(1 << 16)
            .policy(policy);
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
