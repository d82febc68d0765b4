//! Hit ratio on the recorded traces in `tests/traces/`, at 5%, 20% and 50%
//! of each trace's distinct keys.
//!
//! - The default sharding against one exact global LRU: sharding never
//!   costs more than 1 percentage point, for several hash seeds (which keys
//!   share a shard depends on the seed). Sharding may also *gain* hit ratio
//!   on loop-like traces (gli at 50%: up to 2.5 points), which is not a
//!   defect, so the bound is one-sided.
//! - The TinyLfu policy against exact LRU and the peers' recorded figures:
//!   never more than a point behind any of them in a cell, and an average
//!   gap to optimal of at most 4 points (see `docs/policy.md`).
#![cfg(not(shardcache_loom))]

#[path = "support/traces.rs"]
mod traces;

use std::num::NonZeroUsize;

use shardcache::{Cache, Policy};

/// Replays a trace read-through (get, insert on a miss) and returns hits.
fn replay<S: std::hash::BuildHasher>(cache: &Cache<u64, (), S>, trace: &[u64]) -> u64 {
    let mut hits = 0;
    for &key in trace {
        if cache.get(&key).is_some() {
            hits += 1;
        } else {
            cache.insert(key, ());
        }
    }
    hits
}

/// Hash seeds to try.
const SEEDS: [u64; 4] = [1, 2, 3, 0x5EED];

#[test]
fn default_sharding_stays_within_one_point_of_global_lru() {
    let mut report = String::new();
    for &name in traces::ALL {
        let trace = traces::load(name);
        let distinct = traces::distinct(&trace);
        for &percent in traces::PERCENTS {
            let capacity = traces::capacity_for(distinct, percent);
            // The reference: the `lru` crate, one global list.
            let mut global = lru::LruCache::new(NonZeroUsize::new(capacity).unwrap());
            let mut global_hits = 0u64;
            for &key in &trace {
                if global.get(&key).is_some() {
                    global_hits += 1;
                } else {
                    global.put(key, ());
                }
            }
            let one_shard = Cache::builder().capacity(capacity as u64).shards(1).build();
            assert_eq!(
                replay(&one_shard, &trace),
                global_hits,
                "{name}: one shard is exact LRU"
            );

            let accesses = trace.len() as f64;
            let exact = 100.0 * global_hits as f64 / accesses;
            let shards = Cache::<u64, ()>::new(capacity as u64).shards();
            let mut worst = f64::MAX;
            for seed in SEEDS {
                let sharded = Cache::builder()
                    .capacity(capacity as u64)
                    .hasher(ahash::RandomState::with_seeds(seed, !seed, seed << 1, 3))
                    .build();
                let ours = 100.0 * replay(&sharded, &trace) as f64 / accesses;
                worst = worst.min(ours);
                assert!(
                    ours >= exact - 1.0,
                    "{name} at {percent}%, seed {seed}: sharded {ours:.2}% vs exact LRU {exact:.2}%\n{report}"
                );
            }
            report.push_str(&format!(
                "{name:>8} {percent:>2}% cap {capacity:>6} shards {shards:>2}: exact {exact:6.2}% sharded (worst seed) {worst:6.2}%\n"
            ));
        }
    }
    println!("{report}");
}

#[test]
fn traces_decode_to_their_documented_lengths() {
    // From tests/traces/README.md: accesses and distinct keys.
    for (name, accesses, distinct) in [
        ("loop", 505_500, 1_011),
        ("scan", 50_025, 2_001),
        ("2_pools", 100_000, 9_939),
    ] {
        let trace = traces::load(name);
        assert_eq!(
            (trace.len(), traces::distinct(&trace)),
            (accesses, distinct),
            "{name}"
        );
    }
}

/// The better of quick_cache and moka in each cell of the hit-ratio report
/// (`examples/hit_ratio.rs`, mean of five replays each), the highest of six
/// runs of the report (three on 2026-12-02, three on 2026-12-07): (trace,
/// percent, hit %). Neither peer depends on shardcache's code, so every run
/// of the report is one more sample of their own randomness.
const BETTER_PEER: [(&str, usize, f64); 36] = [
    ("loop", 5, 5.01),
    ("loop", 20, 19.93),
    ("loop", 50, 49.93),
    ("scan", 5, 4.61),
    ("scan", 20, 19.00),
    ("scan", 50, 47.85),
    ("zigzag", 5, 2.33),
    ("zigzag", 20, 17.69),
    ("zigzag", 50, 47.32),
    ("cs", 5, 3.13),
    ("cs", 20, 15.26),
    ("cs", 50, 40.72),
    ("cpp", 5, 64.15),
    ("cpp", 20, 84.81),
    ("cpp", 50, 86.14),
    ("gli", 5, 7.80),
    ("gli", 20, 32.57),
    ("gli", 50, 52.88),
    ("ps", 5, 39.14),
    ("ps", 20, 59.43),
    ("ps", 50, 70.49),
    ("multi1", 5, 43.88),
    ("multi1", 20, 56.33),
    ("multi1", 50, 73.78),
    ("multi2", 5, 42.27),
    ("multi2", 20, 59.12),
    ("multi2", 50, 77.05),
    ("2_pools", 5, 51.99),
    ("2_pools", 20, 59.18),
    ("2_pools", 50, 72.98),
    ("web07", 5, 53.41),
    ("web07", 20, 62.41),
    ("web07", 50, 69.36),
    ("web12", 5, 62.94),
    ("web12", 20, 77.41),
    ("web12", 50, 83.39),
];

/// The most TinyLfu may trail, in a cell, the best of exact LRU, quick_cache
/// and moka, in points of hit ratio.
const MAX_SHORTFALL: f64 = 1.0;
/// The most TinyLfu's average gap to optimal may be, in points.
const MAX_AVERAGE_GAP: f64 = 4.0;

/// The hit-ratio targets, pinned: on the shipped traces TinyLfu is never the
/// wrong choice by more than a point, in any cell, against any alternative
/// a user could pick (exact LRU, replayed here, and the recorded per-cell
/// better of quick_cache and moka); its average gap to Belady's optimal is
/// at most 4.0 points and no larger than the per-cell better peer's. The
/// replays are the report's (same hasher seeds, same shard counts, neither
/// depending on the machine), so this checks exactly the figures
/// `docs/policy.md` quotes; the peers' side is recorded, since replaying
/// moka in order takes minutes.
#[test]
fn tinylfu_meets_the_hit_ratio_targets_against_recorded_peers() {
    let (mut ours_gap, mut peer_gap, mut report) = (0.0, 0.0, String::new());
    let mut short = Vec::new();
    let mut cells = BETTER_PEER.iter();
    for &name in traces::ALL {
        let trace = traces::load(name);
        let distinct = traces::distinct(&trace);
        for &percent in traces::PERCENTS {
            let &(peer_name, peer_percent, peer) = cells.next().expect("a recorded cell");
            assert_eq!((peer_name, peer_percent), (name, percent), "cell order");
            let capacity = traces::capacity_for(distinct, percent);
            let accesses = trace.len() as f64;
            let optimal = 100.0 * traces::belady_hits(&trace, capacity) as f64 / accesses;
            let mut lru = lru::LruCache::new(NonZeroUsize::new(capacity).unwrap());
            let mut lru_hits = 0u64;
            for &key in &trace {
                if lru.get(&key).is_some() {
                    lru_hits += 1;
                } else {
                    lru.put(key, ());
                }
            }
            let lru = 100.0 * lru_hits as f64 / accesses;
            let ours = (0..5)
                .map(|run| {
                    let cache = Cache::builder()
                        .capacity(capacity as u64)
                        .policy(Policy::TinyLfu)
                        .shards(traces::report_shards(capacity))
                        .hasher(traces::report_hasher(run))
                        .build();
                    100.0 * replay(&cache, &trace) as f64 / accesses
                })
                .sum::<f64>()
                / 5.0;
            ours_gap += optimal - ours;
            peer_gap += optimal - peer;
            let best_other = lru.max(peer);
            if ours < best_other - MAX_SHORTFALL {
                short.push(format!(
                    "{name} at {percent}%: {ours:.2} against {best_other:.2}"
                ));
            }
            report.push_str(&format!(
                "{name:>8} {percent:>2}%: optimal {optimal:6.2} TinyLfu {ours:6.2} LRU {lru:6.2} better peer {peer:6.2} margin {:+.2}\n",
                ours - best_other
            ));
        }
    }
    let cells = BETTER_PEER.len() as f64;
    let (ours_gap, peer_gap) = (ours_gap / cells, peer_gap / cells);
    println!("{report}average gap: TinyLfu {ours_gap:.3}, better peer {peer_gap:.3}");
    assert!(
        short.is_empty(),
        "cells more than {MAX_SHORTFALL} point behind max(LRU, better peer): {short:?}\n{report}"
    );
    assert!(
        ours_gap <= MAX_AVERAGE_GAP && ours_gap <= peer_gap,
        "average gap to optimal: TinyLfu {ours_gap:.3}, better peer {peer_gap:.3}\n{report}"
    );
}
