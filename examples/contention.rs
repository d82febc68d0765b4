//! A service memoizing expensive lookups: one `Arc<Cache>` shared by a rayon
//! pool of workers that all draw keys from a skewed (Zipf) distribution and
//! call `get_or_insert_with` with a slow loader. Shows progress while it runs
//! and ends with throughput, hit ratio, loads, coalesced loads and
//! evictions.
//!
//! ```text
//! cargo run --release --example contention -- [--threads 8] [--keys 1048576]
//!     [--capacity 131072] [--seconds 5] [--zipf 1.0] [--load-us 50]
//!     [--policy lru|tinylfu]
//! ```

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use shardcache::{Cache, Policy};

#[path = "../benches/support/mod.rs"]
mod support;

struct Args {
    threads: usize,
    keys: u64,
    capacity: u64,
    seconds: f64,
    zipf: f64,
    load_us: u64,
    policy: Policy,
}

const USAGE: &str = "usage: contention [--threads N] [--keys N] [--capacity N] [--seconds S] \
                     [--zipf S] [--load-us N] [--policy lru|tinylfu]";

fn usage(problem: &str) -> ! {
    eprintln!("contention: {problem}");
    eprintln!("{USAGE}");
    std::process::exit(2)
}

fn number<T: std::str::FromStr>(flag: &str, value: &str) -> T {
    value
        .parse()
        .unwrap_or_else(|_| usage(&format!("{flag}: `{value}` is not a number")))
}

fn parse_args() -> Args {
    let mut args = Args {
        threads: 8,
        keys: 1 << 20,
        capacity: 1 << 17,
        seconds: 5.0,
        zipf: 1.0,
        load_us: 50,
        policy: Policy::Lru,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--help" || flag == "-h" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        let value = it
            .next()
            .unwrap_or_else(|| usage(&format!("{flag} needs a value")));
        match flag.as_str() {
            "--threads" => args.threads = number(&flag, &value),
            "--keys" => args.keys = number(&flag, &value),
            "--capacity" => args.capacity = number(&flag, &value),
            "--seconds" => args.seconds = number(&flag, &value),
            "--zipf" => args.zipf = number(&flag, &value),
            "--load-us" => args.load_us = number(&flag, &value),
            "--policy" => {
                args.policy = match value.as_str() {
                    "lru" => Policy::Lru,
                    "tinylfu" => Policy::TinyLfu,
                    _ => usage("--policy is lru or tinylfu"),
                }
            }
            _ => usage(&format!("unknown option {flag}")),
        }
    }
    if args.threads == 0 || args.keys == 0 {
        usage("--threads and --keys must be at least 1");
    }
    args
}

/// The expensive lookup being memoized: a database round trip, say.
fn expensive_lookup(key: u64, micros: u64) -> Arc<String> {
    std::thread::sleep(Duration::from_micros(micros));
    Arc::new(format!("record {key:016x}"))
}

fn main() {
    let args = parse_args();
    let cache: Arc<Cache<u64, Arc<String>>> = Arc::new(
        Cache::builder()
            .capacity(args.capacity)
            .policy(args.policy)
            .try_build()
            .unwrap_or_else(|e| usage(&e.to_string())),
    );
    println!(
        "{} threads, {} keys (Zipf {}), capacity {} in {} shards, {:?}, {} µs loads, {} s",
        args.threads,
        args.keys,
        args.zipf,
        args.capacity,
        cache.shards(),
        args.policy,
        args.load_us,
        args.seconds
    );
    // One long trace; each worker starts at its own offset and wraps around.
    let trace = support::zipf_trace(1 << 22, args.keys, args.zipf, 1);
    let starts: Vec<usize> = (0..args.threads)
        .map(|t| t * trace.len() / args.threads)
        .collect();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads)
        .build()
        .expect("a rayon pool");
    let ops = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    std::thread::scope(|scope| {
        let (cache, ops, stop, trace, starts) = (&cache, &ops, &stop, &trace, &starts);
        scope.spawn(move || {
            pool.install(|| {
                rayon::scope(|s| {
                    for &start in starts {
                        s.spawn(move |_| {
                            let mut done = 0u64;
                            let (tail, head) = trace.split_at(start);
                            'run: loop {
                                for chunk in head.chunks(256).chain(tail.chunks(256)) {
                                    for &key in chunk {
                                        let value = cache.get_or_insert_with(key, || {
                                            expensive_lookup(key, args.load_us)
                                        });
                                        debug_assert!(value.ends_with(&format!("{key:016x}")));
                                    }
                                    done += chunk.len() as u64;
                                    ops.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                                    if stop.load(Ordering::Relaxed) {
                                        break 'run;
                                    }
                                }
                            }
                            let _ = done;
                        });
                    }
                })
            })
        });
        // Progress, once a second.
        let deadline = started + Duration::from_secs_f64(args.seconds);
        let mut last = (started, 0u64);
        while Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(250).min(deadline - Instant::now()));
            let now = Instant::now();
            if now.duration_since(last.0) >= Duration::from_secs(1) || now >= deadline {
                let total = ops.load(Ordering::Relaxed);
                let rate = (total - last.1) as f64 / now.duration_since(last.0).as_secs_f64();
                let stats = cache.stats();
                print!(
                    "\r  {:5.1} s  {:>12} lookups  {:>10.0} lookups/s  hit ratio {:5.1}%  loads {:>8}",
                    now.duration_since(started).as_secs_f64(),
                    total,
                    rate,
                    100.0 * stats.hit_ratio(),
                    stats.loads
                );
                let _ = std::io::stdout().flush();
                last = (now, total);
            }
        }
        stop.store(true, Ordering::Relaxed);
    });
    let elapsed = started.elapsed().as_secs_f64();
    let stats = cache.stats();
    let total = ops.load(Ordering::Relaxed);
    println!();
    println!();
    println!(
        "| throughput (lookups/s) | hit ratio | loads | coalesced loads | evictions | entries |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: | ---: |");
    println!(
        "| {:.0} | {:.2}% | {} | {} | {} | {} |",
        total as f64 / elapsed,
        100.0 * stats.hit_ratio(),
        stats.loads,
        stats.coalesced,
        stats.evictions,
        cache.len()
    );
    assert!(cache.len() as u64 <= args.capacity);
    assert_eq!(
        stats.hits + stats.misses,
        total,
        "every lookup counted once"
    );
}
