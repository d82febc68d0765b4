//! Heap bytes per entry of a full `u64 → u64` cache, shardcache beside its
//! peers, measured with a counting global allocator.
//!
//! Each cache is filled to its capacity (first figure: live heap divided by
//! entries), then churned with as many inserts of new keys again (second
//! figure: the steady state a long-running cache lives in, with index
//! tombstones, free slots, and whatever a policy keeps about evicted keys,
//! such as quick_cache's ghost entries). For TinyLfu both include the
//! frequency sketch and the window tuner's shadows.
//!
//! Run: `cargo run --release --example memory [capacity ...]`
//! (default: 100000 1000000).

use std::alloc::{GlobalAlloc, Layout, System};
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicUsize, Ordering};

use shardcache::{Cache, Policy};

/// Counts the bytes currently allocated.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged; the
// counter is only arithmetic on the sizes passed through.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size, Ordering::Relaxed);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Keys spread like real ones (not sequential), reproducibly.
fn key(i: u64) -> u64 {
    i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5555
}

/// Builds a cache with `make`, fills and then churns it with `insert`, and
/// returns (entries, live heap bytes per entry when filled, the same after
/// the churn).
fn measure<C>(
    capacity: u64,
    make: impl FnOnce() -> C,
    insert: impl Fn(&C, u64),
    len: impl Fn(&C) -> usize,
) -> (usize, f64, f64) {
    let before = LIVE.load(Ordering::SeqCst);
    let cache = make();
    let per_entry = |cache: &C| {
        let bytes = LIVE.load(Ordering::SeqCst) - before;
        bytes as f64 / len(cache).max(1) as f64
    };
    for i in 0..capacity {
        insert(&cache, key(i));
    }
    let filled = per_entry(&cache);
    for i in capacity..capacity * 2 {
        insert(&cache, key(i));
    }
    let churned = per_entry(&cache);
    let entries = len(&cache);
    drop(cache);
    (entries, filled, churned)
}

fn main() {
    let capacities: Vec<u64> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("capacities are integers"))
        .collect();
    let capacities = if capacities.is_empty() {
        vec![100_000, 1_000_000]
    } else {
        capacities
    };
    println!("| cache | capacity | entries | heap bytes/entry, filled | after churn |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    for &capacity in &capacities {
        let cap = capacity as usize;
        let row = |name: &str, (entries, filled, churned): (usize, f64, f64)| {
            println!("| {name} | {capacity} | {entries} | {filled:.1} | {churned:.1} |");
        };
        row(
            "shardcache (LRU, default shards)",
            measure(
                capacity,
                || Cache::<u64, u64>::new(capacity),
                |c, k| {
                    c.insert(k, k);
                },
                Cache::len,
            ),
        );
        row(
            "shardcache (LRU, 1 shard)",
            measure(
                capacity,
                || {
                    Cache::<u64, u64>::builder()
                        .capacity(capacity)
                        .shards(1)
                        .build()
                },
                |c, k| {
                    c.insert(k, k);
                },
                Cache::len,
            ),
        );
        row(
            "shardcache (LRU, default shards, time_to_live)",
            measure(
                capacity,
                || {
                    Cache::<u64, u64>::builder()
                        .capacity(capacity)
                        .time_to_live(std::time::Duration::from_secs(300))
                        .build()
                },
                |c, k| {
                    c.insert(k, k);
                },
                Cache::len,
            ),
        );
        row(
            "shardcache (LRU, default shards, time_to_idle)",
            measure(
                capacity,
                || {
                    Cache::<u64, u64>::builder()
                        .capacity(capacity)
                        .time_to_idle(std::time::Duration::from_secs(300))
                        .build()
                },
                |c, k| {
                    c.insert(k, k);
                },
                Cache::len,
            ),
        );
        row(
            "shardcache (LRU, default shards, time_to_live + time_to_idle)",
            measure(
                capacity,
                || {
                    Cache::<u64, u64>::builder()
                        .capacity(capacity)
                        .time_to_live(std::time::Duration::from_secs(600))
                        .time_to_idle(std::time::Duration::from_secs(300))
                        .build()
                },
                |c, k| {
                    c.insert(k, k);
                },
                Cache::len,
            ),
        );
        row(
            "shardcache (TinyLfu, default shards)",
            measure(
                capacity,
                || {
                    Cache::<u64, u64>::builder()
                        .capacity(capacity)
                        .policy(Policy::TinyLfu)
                        .build()
                },
                |c, k| {
                    c.insert(k, k);
                },
                Cache::len,
            ),
        );
        row(
            "quick_cache::sync::Cache",
            measure(
                capacity,
                || quick_cache::sync::Cache::<u64, u64>::new(cap),
                |c, k| c.insert(k, k),
                |c| c.len(),
            ),
        );
        row(
            "moka::sync::Cache (time_to_live)",
            measure(
                capacity,
                || {
                    moka::sync::Cache::<u64, u64>::builder()
                        .max_capacity(capacity)
                        .time_to_live(std::time::Duration::from_secs(300))
                        .build()
                },
                |c, k| c.insert(k, k),
                |c| {
                    c.run_pending_tasks();
                    c.entry_count() as usize
                },
            ),
        );
        row(
            "lru::LruCache",
            measure(
                capacity,
                || {
                    std::cell::RefCell::new(lru::LruCache::<u64, u64>::new(
                        NonZeroUsize::new(cap).unwrap(),
                    ))
                },
                |c, k| {
                    c.borrow_mut().put(k, k);
                },
                |c| c.borrow().len(),
            ),
        );
        row(
            "moka::sync::Cache",
            measure(
                capacity,
                || moka::sync::Cache::<u64, u64>::new(capacity),
                |c, k| c.insert(k, k),
                |c| {
                    c.run_pending_tasks();
                    c.entry_count() as usize
                },
            ),
        );
    }
    println!();
    for &capacity in &capacities {
        let cache = Cache::<u64, u64>::builder()
            .capacity(capacity)
            .policy(Policy::TinyLfu)
            .build();
        println!(
            "TinyLfu at capacity {capacity}: the frequency sketches take {:.1} bytes per entry of capacity",
            cache.policy_bytes() as f64 / capacity as f64
        );
    }
}
