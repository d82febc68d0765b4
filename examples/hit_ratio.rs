//! The hit-ratio report: replays every shipped trace (`tests/traces/`) at
//! 5%, 20% and 50% of its distinct keys through Belady's optimal policy,
//! exact LRU, shardcache (LRU and TinyLfu, the power-of-two default shard
//! count of a 2-core machine, `traces::report_shards`), quick_cache and
//! moka, and prints the table with each policy's average gap to optimal.
//!
//! Run: `cargo run --release --example hit_ratio`
//! With `--curve FILE`, also writes hit ratio against capacity (2% to 80% of
//! the distinct keys) for a few traces as CSV, for
//! `scripts/plot_hit_ratio.py`. With `--runs N` (default 5), every cell of
//! a randomized cache is the mean of N replays: shardcache with N fixed
//! seeds of `traces::report_hasher` (the same hashes on every target),
//! quick_cache and moka with their own random state. One replay of a small
//! cache moves by up to 3 points between seeds (sketch collisions and the
//! tuner's sample change with the hash), enough to flip a comparison
//! between policies. Each row also gives TinyLfu's lowest and highest
//! replay (its spread over the seeds) and its margin against the best of
//! exact LRU, quick_cache and moka in that cell: the policy should never
//! be the wrong choice, LRU included.
//!
//! With `--large`, also replays synthetic Zipf traces (exponents 0.8 and
//! 1.0 over 2^20 keys, 2^22 accesses) at 2^15 to 2^17 entries, larger than
//! any shipped trace's cells (the randomized columns the mean of at most
//! two runs; a few minutes, most of it moka's).

#[path = "../tests/support/traces.rs"]
mod traces;

#[path = "../benches/support/mod.rs"]
mod support;

use std::num::NonZeroUsize;

use shardcache::{Cache, Policy};

/// Every policy in the report, in column order.
const COLUMNS: [&str; 6] = ["OPT", "LRU", "sc LRU", "sc TinyLfu", "quick_cache", "moka"];

/// Hits of a read-through replay: `get`, and `insert` on a miss.
fn replay(trace: &[u64], mut get: impl FnMut(u64) -> bool, mut insert: impl FnMut(u64)) -> u64 {
    let mut hits = 0;
    for &key in trace {
        if get(key) {
            hits += 1;
        } else {
            insert(key);
        }
    }
    hits
}

fn shardcache(trace: &[u64], capacity: usize, policy: Policy, seed: u64) -> u64 {
    let cache: Cache<u64, (), _> = Cache::builder()
        .capacity(capacity as u64)
        .policy(policy)
        .shards(traces::report_shards(capacity))
        .hasher(traces::report_hasher(seed))
        .build();
    replay(
        trace,
        |k| cache.get(&k).is_some(),
        |k| {
            cache.insert(k, ());
        },
    )
}

/// Hit ratios (percent) of every column for one trace and capacity, the
/// randomized ones averaged over `runs` replays; and the lowest and highest
/// of shardcache TinyLfu's replays (its spread over the hasher seeds).
fn row(trace: &[u64], capacity: usize, runs: u64) -> ([f64; 6], (f64, f64)) {
    let pct = |hits: u64| 100.0 * hits as f64 / trace.len() as f64;
    let mean = |replay: &dyn Fn(u64) -> u64| {
        (0..runs).map(|run| pct(replay(run))).sum::<f64>() / runs as f64
    };
    let tinylfu: Vec<f64> = (0..runs)
        .map(|seed| pct(shardcache(trace, capacity, Policy::TinyLfu, seed)))
        .collect();
    let spread = tinylfu
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    let mut lru = lru::LruCache::new(NonZeroUsize::new(capacity).expect("capacity > 0"));
    let mut lru_hits = 0;
    for &k in trace {
        if lru.get(&k).is_some() {
            lru_hits += 1;
        } else {
            lru.put(k, ());
        }
    }
    let quick = |_run| {
        let quick = quick_cache::sync::Cache::<u64, ()>::new(capacity);
        replay(trace, |k| quick.get(&k).is_some(), |k| quick.insert(k, ()))
    };
    // moka applies its policy asynchronously; running its pending tasks after
    // every access lets it see every read and write in order.
    let moka = |_run| {
        let moka = moka::sync::Cache::<u64, ()>::new(capacity as u64);
        replay(
            trace,
            |k| {
                let hit = moka.get(&k).is_some();
                moka.run_pending_tasks();
                hit
            },
            |k| {
                moka.insert(k, ());
                moka.run_pending_tasks();
            },
        )
    };
    (
        [
            pct(traces::belady_hits(trace, capacity)),
            pct(lru_hits),
            mean(&|seed| shardcache(trace, capacity, Policy::Lru, seed)),
            tinylfu.iter().sum::<f64>() / runs as f64,
            mean(&quick),
            mean(&moka),
        ],
        spread,
    )
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let curve = args
        .iter()
        .position(|a| a == "--curve")
        .and_then(|i| args.get(i + 1).cloned());
    let runs: u64 = args
        .iter()
        .position(|a| a == "--runs")
        .and_then(|i| args.get(i + 1))
        .map_or(5, |n| n.parse().expect("--runs takes a number"))
        .max(1);
    println!("Hit %, the randomized columns the mean of {runs} runs:");
    println!();

    println!(
        "| trace | % | capacity | {} | TinyLfu min–max | TinyLfu − max(LRU, peers) |",
        COLUMNS.join(" | ")
    );
    println!(
        "| --- | ---: | ---: |{}",
        " ---: |".repeat(COLUMNS.len() + 2)
    );
    let mut gaps = [0.0f64; 6];
    let mut better_peer_gap = 0.0;
    let mut worst: (f64, String) = (f64::MAX, String::new());
    let mut worst_any: (f64, String) = (f64::MAX, String::new());
    let mut cells = 0.0;
    for &name in traces::ALL {
        let trace = traces::load(name);
        let distinct = traces::distinct(&trace);
        for &percent in traces::PERCENTS {
            let capacity = traces::capacity_for(distinct, percent);
            let (r, (lo, hi)) = row(&trace, capacity, runs);
            let cols: Vec<String> = r.iter().map(|v| format!("{v:.2}")).collect();
            // Against every alternative a user could pick, LRU included.
            let best_other = r[1].max(r[4]).max(r[5]);
            let margin_any = r[3] - best_other;
            println!(
                "| {name} | {percent} | {capacity} | {} | {lo:.2}–{hi:.2} | {margin_any:+.2} |",
                cols.join(" | ")
            );
            if margin_any < worst_any.0 {
                worst_any = (margin_any, format!("{name} {percent}%"));
            }
            for (gap, v) in gaps.iter_mut().zip(r) {
                *gap += r[0] - v;
            }
            let better_peer = r[4].max(r[5]);
            better_peer_gap += r[0] - better_peer;
            let margin = r[3] - better_peer;
            if margin < worst.0 {
                worst = (margin, format!("{name} {percent}%"));
            }
            cells += 1.0;
        }
    }
    println!();
    println!("Average gap to optimal, in points of hit ratio ({cells} cells):");
    println!();
    println!(
        "| {} | better of quick_cache and moka, per cell |",
        COLUMNS[1..].join(" | ")
    );
    println!("|{}", " ---: |".repeat(COLUMNS.len()));
    let avg: Vec<String> = gaps[1..]
        .iter()
        .map(|g| format!("{:.2}", g / cells))
        .collect();
    println!("| {} | {:.2} |", avg.join(" | "), better_peer_gap / cells);
    println!();
    println!(
        "TinyLfu's worst cell against the better peer: {} ({:+.2} points)",
        worst.1, worst.0
    );
    println!(
        "TinyLfu's worst cell against max(LRU, quick_cache, moka): {} ({:+.2} points)",
        worst_any.1, worst_any.0
    );

    if args.iter().any(|a| a == "--large") {
        println!();
        let large_runs = runs.min(2);
        println!(
            "Large caches, Zipf over 2^20 keys, 2^22 accesses (hit %, the randomized \
             columns the mean of {large_runs} runs):"
        );
        println!();
        println!("| Zipf | capacity | {} |", COLUMNS.join(" | "));
        println!("| ---: | ---: |{}", " ---: |".repeat(COLUMNS.len()));
        for exponent in [0.8, 1.0] {
            let trace = support::zipf_trace(1 << 22, 1 << 20, exponent, 7);
            for capacity in [1 << 15, 1 << 16, 1 << 17] {
                let cols: Vec<String> = row(&trace, capacity, large_runs)
                    .0
                    .iter()
                    .map(|v| format!("{v:.2}"))
                    .collect();
                println!("| {exponent:.1} | {capacity} | {} |", cols.join(" | "));
            }
        }
    }

    if let Some(path) = curve {
        let mut csv = String::from("trace,percent,capacity,policy,hit_ratio\n");
        for name in ["multi2", "loop", "web12", "2_pools"] {
            let trace = traces::load(name);
            let distinct = traces::distinct(&trace);
            for percent in [2, 5, 10, 20, 30, 40, 50, 60, 80] {
                let capacity = traces::capacity_for(distinct, percent);
                for (policy, v) in COLUMNS.iter().zip(row(&trace, capacity, runs).0) {
                    csv.push_str(&format!("{name},{percent},{capacity},{policy},{v:.3}\n"));
                }
            }
        }
        std::fs::write(&path, csv).expect("writing the curve CSV");
        eprintln!("wrote {path}");
    }
}
