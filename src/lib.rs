//! A concurrent, sharded, memory-bounded cache for multithreaded services:
//! Python's `functools.lru_cache` grown up for servers.
//!
//! Share one [`Cache`] (behind an `Arc`) across every thread. Keys are spread
//! over lock-striped shards; each shard keeps its entries in an arena (one
//! `Vec` of nodes linked by `u32` indices, no allocation per entry) and evicts
//! in exact LRU order. When many threads miss the same key at once,
//! [`Cache::get_or_insert_with`] (or its async form) computes it once and
//! hands every caller the result.
//!
//! ```
//! use std::sync::Arc;
//! use shardcache::Cache;
//!
//! let cache = Arc::new(Cache::new(10_000));
//! let workers: Vec<_> = (0..4u64)
//!     .map(|_| {
//!         let cache = Arc::clone(&cache);
//!         std::thread::spawn(move || cache.get_or_insert_with(7u64, || 7 * 6))
//!     })
//!     .collect();
//! for w in workers {
//!     assert_eq!(w.join().unwrap(), 42);
//! }
//! assert_eq!(cache.stats().loads, 1); // computed once
//! ```
//!
//! See the [`Cache`] docs for the guarantees, `docs/design.md` for the data
//! layout and `docs/single-flight.md` for the loading protocol.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod arena;
mod batch;
mod borrowed;
mod builder;
mod cache;
mod caps;
mod compute;
mod expiry;
mod flight;
mod index;
mod listener;
mod load;
mod observe;
mod optional;
mod policy;
mod refresh;
mod removed;
mod retain;
mod shard;
mod stats;
mod sync;
mod wheel;

pub use builder::{BuildError, CacheBuilder};
pub use cache::{Cache, Iter};
pub use compute::Compute;
pub use expiry::{Clock, Expiry};
pub use listener::RemovalCause;
pub use load::Timeout;
pub use observe::{DEFAULT_NAME, DEFAULT_SLOW_LOAD_THRESHOLD};
pub use policy::Policy;
pub use stats::{CacheInfo, Stats};

// The attribute's documentation lives on the macro itself (macros/src/lib.rs).
#[cfg(feature = "macros")]
pub use shardcache_macros::memoize;

/// Support for the code `#[memoize]` generates. Not public API.
#[doc(hidden)]
#[cfg(feature = "macros")]
pub mod __private {
    /// What an argument must be to form a memoized function's key.
    #[diagnostic::on_unimplemented(
        message = "memoize: argument type `{Self}` cannot be part of a cache key",
        label = "must be `Clone + Hash + Eq + Send + Sync + 'static`",
        note = "build an owned key from the arguments with `#[memoize(key = …, key_type = …)]`"
    )]
    pub trait KeyPart: Clone + std::hash::Hash + Eq + Send + Sync + 'static {}

    impl<T: Clone + std::hash::Hash + Eq + Send + Sync + 'static> KeyPart for T {}

    /// An owned copy of an argument for the key.
    #[inline]
    pub fn key_part<T: KeyPart>(value: &T) -> T {
        value.clone()
    }

    /// The error of a failed memoized call, out of the `Arc` it was shared in.
    pub fn unshare<E: Clone>(error: std::sync::Arc<E>) -> E {
        std::sync::Arc::try_unwrap(error).unwrap_or_else(|shared| (*shared).clone())
    }
}

/// Sets the built-in clock of the loom build (which stands still unless a
/// model moves it): for the models in `loom-tests/`. Not public API.
#[doc(hidden)]
#[cfg(shardcache_loom)]
pub fn loom_set_builtin_clock(since_start: std::time::Duration) {
    sync::set_builtin_clock(since_start.as_nanos() as u64);
}

/// The README's examples, compiled and run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
