//! A borrowed-key hit allocates nothing: every allocation of this test
//! binary is counted by its global allocator (a binary of its own, so the
//! allocator affects no other test).
#![cfg(not(shardcache_loom))]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use shardcache::Cache;

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Whether this thread's allocations count: only the test's own, so
    /// that the test harness's threads (which may allocate at any time, for
    /// example to report a slow test on a loaded machine) cannot fail it.
    static COUNTED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn count() {
    if COUNTED.try_with(std::cell::Cell::get).unwrap_or(false) {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn a_borrowed_key_hit_allocates_nothing() {
    COUNTED.with(|c| c.set(true));
    // One shard (hits under the write lock) and several (under the read
    // lock): both paths.
    for shards in [1, 8] {
        let cache: Cache<String, u64> = Cache::builder().capacity(1_000).shards(shards).build();
        let keys: Vec<String> = (0..100).map(|i| format!("key-{i}")).collect();
        for (i, key) in keys.iter().enumerate() {
            cache.insert(key.clone(), i as u64);
        }
        // Warm up thread-locals and the like.
        for key in &keys {
            cache.get_or_insert_with_ref(key.as_str(), || unreachable!());
        }
        let before = ALLOCATIONS.load(Ordering::SeqCst);
        let mut sum = 0;
        for _ in 0..10 {
            for key in &keys {
                sum += cache.get_or_insert_with_ref(key.as_str(), || unreachable!());
                sum += cache
                    .try_get_or_insert_with_ref(key.as_str(), || Err::<u64, ()>(()))
                    .unwrap();
            }
        }
        let after = ALLOCATIONS.load(Ordering::SeqCst);
        assert_eq!(sum, 2 * 10 * (0..100).sum::<u64>());
        assert_eq!(
            after - before,
            0,
            "{shards} shards: allocations on 2,000 hits"
        );
        // A miss owns its key: at least that allocation.
        let before = ALLOCATIONS.load(Ordering::SeqCst);
        cache.get_or_insert_with_ref("new", || 1);
        let n = ALLOCATIONS.load(Ordering::SeqCst);
        assert!(
            n > before,
            "{shards} shards: a miss counted {} allocations",
            n - before
        );
    }
}
