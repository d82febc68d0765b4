//! Shared set-up for the loom models.

#![allow(dead_code)]

use std::collections::hash_map::DefaultHasher;
use std::hash::BuildHasherDefault;

use shardcache::Cache;

/// A fixed hasher, so every run of a model hashes alike.
pub type Fixed = BuildHasherDefault<DefaultHasher>;

/// A one-shard cache of `capacity` with the fixed hasher.
pub fn cache(capacity: u64) -> Cache<u64, u64, Fixed> {
    Cache::builder()
        .capacity(capacity)
        .shards(1)
        .hasher(Fixed::default())
        .build()
}

/// `cache`, with a weigher: a value `v` weighs `v % 3 + 1` (5 weighs 3,
/// 100 weighs 2).
pub fn weighted_cache(capacity: u64) -> Cache<u64, u64, Fixed> {
    Cache::builder()
        .capacity(capacity)
        .shards(1)
        .hasher(Fixed::default())
        .weigher(|_key: &u64, value: &u64| value % 3 + 1)
        .build()
}

/// Runs a model with a bound on preemptions (LOOM_MAX_PREEMPTIONS overrides
/// it) and with panic messages silenced: models panic on purpose inside
/// `catch_unwind`, and loom would print each one thousands of times.
pub fn model(bound: usize, f: impl Fn() + Sync + Send + 'static) {
    std::panic::set_hook(Box::new(|_| {}));
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(bound);
    }
    // Sequenced models spin (`yield_now`) until another thread has
    // registered; each spin is a branch, so allow longer paths than loom's
    // default 1,000.
    builder.max_branches = builder.max_branches.max(20_000);
    builder.check(f);
    let _ = std::panic::take_hook();
}

/// A one-shot signal between model threads. (loom's `Notify` may wake
/// spuriously, so it cannot sequence a model on its own.)
#[derive(Default)]
pub struct Signal(loom::sync::atomic::AtomicBool);

impl Signal {
    pub fn set(&self) {
        self.0.store(true, loom::sync::atomic::Ordering::SeqCst);
    }

    pub fn wait(&self) {
        while !self.0.load(loom::sync::atomic::Ordering::SeqCst) {
            loom::thread::yield_now();
        }
    }
}
