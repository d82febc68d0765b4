//! The hit-ratio report: replays every shipped trace (`tests/traces/`) at
//! 5%, 20% and 50% of its distinct keys through Belady's optimal policy,
//! exact LRU, shardcache (LRU and TinyLfu, default shards), quick_cache and
//! moka, and prints the table with each policy's average gap to optimal.
//!
//! Run: `cargo run --release --example hit_ratio`
//! With `--curve FILE`, also writes hit ratio against capacity (2% to 80% of
//! the distinct keys) for a few traces as CSV, for
//! `scripts/plot_hit_ratio.py`.

#[path = "../tests/support/traces.rs"]
mod traces;

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

fn shardcache(trace: &[u64], capacity: usize, policy: Policy) -> u64 {
    let cache: Cache<u64, ()> = Cache::builder()
        .capacity(capacity as u64)
        .policy(policy)
        .build();
    replay(
        trace,
        |k| cache.get(&k).is_some(),
        |k| {
            cache.insert(k, ());
        },
    )
}

/// Hit ratios (percent) of every column for one trace and capacity.
fn row(trace: &[u64], capacity: usize) -> [f64; 6] {
    let pct = |hits: u64| 100.0 * hits as f64 / trace.len() as f64;
    let mut lru = lru::LruCache::new(NonZeroUsize::new(capacity).expect("capacity > 0"));
    let mut lru_hits = 0;
    for &k in trace {
        if lru.get(&k).is_some() {
            lru_hits += 1;
        } else {
            lru.put(k, ());
        }
    }
    let quick = quick_cache::sync::Cache::<u64, ()>::new(capacity);
    let quick_hits = replay(trace, |k| quick.get(&k).is_some(), |k| quick.insert(k, ()));
    // moka applies its policy asynchronously; running its pending tasks after
    // every access lets it see every read and write in order.
    let moka = moka::sync::Cache::<u64, ()>::new(capacity as u64);
    let moka_hits = replay(
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
    );
    [
        pct(traces::belady_hits(trace, capacity)),
        pct(lru_hits),
        pct(shardcache(trace, capacity, Policy::Lru)),
        pct(shardcache(trace, capacity, Policy::TinyLfu)),
        pct(quick_hits),
        pct(moka_hits),
    ]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let curve = args
        .iter()
        .position(|a| a == "--curve")
        .and_then(|i| args.get(i + 1).cloned());

    println!("| trace | % | capacity | {} |", COLUMNS.join(" | "));
    println!("| --- | ---: | ---: |{}", " ---: |".repeat(COLUMNS.len()));
    let mut gaps = [0.0f64; 6];
    let mut better_peer_gap = 0.0;
    let mut worst: (f64, String) = (f64::MAX, String::new());
    let mut cells = 0.0;
    for &name in traces::ALL {
        let trace = traces::load(name);
        let distinct = traces::distinct(&trace);
        for &percent in traces::PERCENTS {
            let capacity = traces::capacity_for(distinct, percent);
            let r = row(&trace, capacity);
            let cols: Vec<String> = r.iter().map(|v| format!("{v:.2}")).collect();
            println!("| {name} | {percent} | {capacity} | {} |", cols.join(" | "));
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

    if let Some(path) = curve {
        let mut csv = String::from("trace,percent,capacity,policy,hit_ratio\n");
        for name in ["multi2", "loop", "web12", "2_pools"] {
            let trace = traces::load(name);
            let distinct = traces::distinct(&trace);
            for percent in [2, 5, 10, 20, 30, 40, 50, 60, 80] {
                let capacity = traces::capacity_for(distinct, percent);
                for (policy, v) in COLUMNS.iter().zip(row(&trace, capacity)) {
                    csv.push_str(&format!("{name},{percent},{capacity},{policy},{v:.3}\n"));
                }
            }
        }
        std::fs::write(&path, csv).expect("writing the curve CSV");
        eprintln!("wrote {path}");
    }
}
