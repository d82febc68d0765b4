//! What observability adds without its features: the cache's name, the
//! slow-load threshold, and the panics counted apart from the errors.
#![cfg(not(shardcache_loom))]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use shardcache::Cache;

#[test]
fn names_and_thresholds_default_and_can_be_set() {
    let unnamed: Cache<u64, u64> = Cache::new(10);
    assert_eq!(unnamed.name(), "default");
    assert_eq!(unnamed.slow_load_threshold(), Duration::from_secs(1));

    let named: Cache<u64, u64> = Cache::builder()
        .name(format!("users-{}", 2))
        .slow_load_threshold(Duration::from_millis(5))
        .capacity(10)
        .build();
    assert_eq!(named.name(), "users-2");
    assert_eq!(named.slow_load_threshold(), Duration::from_millis(5));

    // The settings survive a change of hasher.
    let hashed: Cache<u64, u64, std::collections::hash_map::RandomState> = Cache::builder()
        .name("sessions")
        .slow_load_threshold(Duration::from_millis(7))
        .hasher(Default::default())
        .capacity(10)
        .build();
    assert_eq!(hashed.name(), "sessions");
    assert_eq!(hashed.slow_load_threshold(), Duration::from_millis(7));
}

#[test]
fn panics_are_counted_apart_from_errors() {
    let cache: Cache<u64, u64> = Cache::new(10);
    let _ = cache.try_get_or_insert_with(1, || Err::<u64, _>("down"));
    let panicked = catch_unwind(AssertUnwindSafe(|| {
        cache.get_or_insert_with(2, || panic!("loader bug"))
    }));
    assert!(panicked.is_err());
    // A panic in the value's `Clone` while the loaded value is stored
    // counts as a panicking load too.
    #[derive(Debug)]
    struct Fragile;
    impl Clone for Fragile {
        fn clone(&self) -> Self {
            panic!("clone failed")
        }
    }
    let fragile: Cache<u64, Fragile> = Cache::new(10);
    let panicked = catch_unwind(AssertUnwindSafe(|| {
        fragile.get_or_insert_with(3, || Fragile)
    }));
    assert!(panicked.is_err());

    assert_eq!(cache.get_or_insert_with(2, || 20), 20);
    let stats = cache.stats();
    assert_eq!(
        (stats.loads, stats.load_failures, stats.load_panics),
        (1, 2, 1)
    );
    let stats = fragile.stats();
    assert_eq!(
        (stats.loads, stats.load_failures, stats.load_panics),
        (0, 1, 1)
    );
}
