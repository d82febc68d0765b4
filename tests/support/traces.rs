//! Recorded cache access traces shipped in `tests/traces/`, and Belady's
//! optimal hit count as the ceiling to compare eviction policies against.
//!
//! Needs only shardcache's public constants; include it from tests,
//! examples and benches with
//!
//! ```ignore
//! #[path = "../tests/support/traces.rs"]
//! mod traces;
//! ```
//!
//! Traces are stored as `NAME.trace` (see `tests/traces/README.md`): one
//! LEB128 varint per access holding the zigzag-encoded difference between
//! this key and the previous one (the first key is relative to 0), keys
//! wrapping as `u64`. Replay them as a read-through cache would: `get(key)`,
//! and insert the key on a miss; hit ratio = hits / accesses.
#![allow(dead_code)]

use std::collections::{BinaryHeap, HashMap, HashSet};

/// Directory holding the `.trace` files.
pub const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/traces/");

/// Every shipped trace, by name (`load(name)` reads `DIR/name.trace`).
pub const ALL: &[&str] = &[
    "loop", "scan", "zigzag", "cs", "cpp", "gli", "ps", "multi1", "multi2", "2_pools", "web07",
    "web12",
];

/// Capacities, in percent of a trace's distinct keys, that the hit-ratio
/// comparisons use.
pub const PERCENTS: &[usize] = &[5, 20, 50];

/// Cache capacity for `percent`% of `distinct` keys (rounded to nearest,
/// at least 1).
pub fn capacity_for(distinct: usize, percent: usize) -> usize {
    ((distinct * percent + 50) / 100).max(1)
}

/// Loads the trace `name` (one of [`ALL`]) as its sequence of keys.
///
/// # Panics
///
/// If the file is missing or malformed (a truncated varint).
pub fn load(name: &str) -> Vec<u64> {
    let path = format!("{DIR}{name}.trace");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    decode(&bytes).unwrap_or_else(|| panic!("{path}: truncated or overlong varint"))
}

/// Decodes the `.trace` format; `None` if a varint is truncated or longer
/// than 10 bytes.
pub fn decode(bytes: &[u8]) -> Option<Vec<u64>> {
    let mut keys = Vec::with_capacity(bytes.len());
    let mut prev = 0u64;
    let mut i = 0;
    while i < bytes.len() {
        let mut z = 0u64;
        let mut shift = 0u32;
        loop {
            let b = *bytes.get(i)?;
            i += 1;
            if shift >= 64 {
                return None;
            }
            z |= u64::from(b & 0x7f) << shift;
            shift += 7;
            if b & 0x80 == 0 {
                break;
            }
        }
        // zigzag: 0, -1, 1, -2, ... <- 0, 1, 2, 3, ...
        let delta = (z >> 1) ^ (z & 1).wrapping_neg();
        prev = prev.wrapping_add(delta);
        keys.push(prev);
    }
    Some(keys)
}

/// Encodes keys in the `.trace` format (the inverse of [`decode`]).
pub fn encode(keys: &[u64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(keys.len() * 2);
    let mut prev = 0u64;
    for &k in keys {
        let d = k.wrapping_sub(prev) as i64;
        let mut z = ((d << 1) ^ (d >> 63)) as u64;
        loop {
            let b = (z & 0x7f) as u8;
            z >>= 7;
            if z == 0 {
                out.push(b);
                break;
            }
            out.push(b | 0x80);
        }
        prev = k;
    }
    out
}

/// Number of distinct keys in `trace`.
pub fn distinct(trace: &[u64]) -> usize {
    trace.iter().collect::<HashSet<_>>().len()
}

/// Hits of Belady's optimal policy (MIN) replaying `trace` through a cache
/// of `capacity` entries: on a miss with the cache full, the entry whose
/// next use is farthest in the future (never = infinitely far) is dropped,
/// and that may be the missing key itself, which is then not cached
/// (optimal with bypass, the usual ceiling). O(n log n).
pub fn belady_hits(trace: &[u64], capacity: usize) -> u64 {
    if capacity == 0 {
        return 0;
    }
    const NEVER: usize = usize::MAX;
    // next[i] = index of the next access to trace[i] after i, or NEVER.
    let mut next = vec![NEVER; trace.len()];
    let mut seen: HashMap<u64, usize> = HashMap::new();
    for (i, &k) in trace.iter().enumerate().rev() {
        if let Some(j) = seen.insert(k, i) {
            next[i] = j;
        }
    }
    drop(seen);
    // Cached key -> its current next use. The max-heap holds (next use, key)
    // with stale entries (next use no longer current) skipped lazily.
    let mut cached: HashMap<u64, usize> = HashMap::with_capacity(capacity * 2);
    let mut heap: BinaryHeap<(usize, u64)> = BinaryHeap::new();
    let mut hits = 0u64;
    for (i, &k) in trace.iter().enumerate() {
        let n = next[i];
        if let Some(cur) = cached.get_mut(&k) {
            hits += 1;
            *cur = n;
            heap.push((n, k));
            continue;
        }
        if cached.len() >= capacity {
            // Farthest next use among cached keys.
            let (far, victim) = loop {
                let &(far, victim) = heap.peek().expect("heap holds every cached key");
                if cached.get(&victim) == Some(&far) {
                    break (far, victim);
                }
                heap.pop();
            };
            if n >= far {
                continue; // the missing key is needed no sooner: bypass it
            }
            heap.pop();
            cached.remove(&victim);
        }
        cached.insert(k, n);
        heap.push((n, k));
        // Keep the heap from growing without bound with stale entries.
        if heap.len() > 4 * capacity + 64 {
            heap = cached.iter().map(|(&k, &n)| (n, k)).collect();
        }
    }
    hits
}

/// The hasher of the hit-ratio report's `run`-th shardcache replay, and of
/// the tests that pin its figures: keys hashed by splitmix64's finalizer
/// from a seed fixed per run. Written out here rather than taken from
/// `ahash` so that the figures repeat on every target (ahash's output
/// depends on the CPU features a build enables, AES on Apple's chips).
pub fn report_hasher(run: u64) -> ReportHasher {
    ReportHasher(mix64(
        run.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
    ))
}

/// The shard count of the hit-ratio report's shardcache caches: the
/// power-of-two part of the default shard count on a 2-core machine (8
/// shards per core, and no shard under 512 entries), so that the figures
/// do not depend on the machine that replays them either. The default's
/// second step (snug index tables, `src/builder.rs`) would add one to three
/// shards at 5 of the report's 32 capacities; the report leaves it out, so
/// that its figures stay comparable from one version to the next.
pub fn report_shards(capacity: usize) -> usize {
    const CORES: usize = 2;
    let most = (CORES * 8usize).next_power_of_two();
    let by_size = capacity as u64 / 512;
    if by_size == 0 {
        1
    } else {
        (1usize << (63 - by_size.leading_zeros())).min(most)
    }
}

/// See [`report_hasher`].
#[derive(Clone, Copy, Debug)]
pub struct ReportHasher(u64);

impl std::hash::BuildHasher for ReportHasher {
    type Hasher = SeededHasher;
    fn build_hasher(&self) -> SeededHasher {
        SeededHasher(self.0)
    }
}

/// The [`ReportHasher`]'s hasher: every word written is mixed into the state.
#[derive(Clone, Copy, Debug)]
pub struct SeededHasher(u64);

impl std::hash::Hasher for SeededHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = mix64(self.0 ^ n);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// splitmix64's finalizer: a bijective 64-bit mixer.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
