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

#![deny(unsafe_code)]
#![warn(missing_docs)]

mod arena;
mod builder;
mod cache;
mod flight;
mod load;
mod policy;
mod shard;
mod stats;
mod sync;

pub use builder::{default_shards, BuildError, CacheBuilder, MAX_SHARDS, MIN_SHARD_CAPACITY};
pub use cache::{Cache, Iter};
pub use load::Timeout;
pub use policy::Policy;
pub use stats::{CacheInfo, Stats};

/// Memoizes a function: Python's `@functools.lru_cache(maxsize=128)`,
/// concurrent and call-once.
///
/// ```
/// #[shardcache::memoize(capacity = 128)]
/// fn fib(n: u64) -> u128 {
///     if n < 2 { n as u128 } else { fib(n - 1) + fib(n - 2) }
/// }
///
/// fn main() {
///     assert_eq!(fib(90), 2_880_067_194_370_816_120);
///     // Each fib(k) ran once; the rest were hits (fib(k) asks for k-1, k-2).
///     let info = fib::cache_info();
///     assert_eq!((info.misses, info.hits, info.size), (91, 88, 91));
///     fib::cache_clear();
///     assert_eq!(fib::uncached(10), 55); // the body without the cache
/// }
/// ```
///
/// The function's results are kept in a [`Cache`] (a `static`, built on first
/// use) keyed by its arguments. Concurrent calls with the same arguments run
/// the body once and share the result; a body may call the memoized function
/// recursively with other arguments.
///
/// # Options
/// - `capacity = N` (default 128): entries kept; 0 keeps nothing but still
///   coalesces concurrent calls.
/// - `shards = N`, `policy = Lru | TinyLfu`: as [`CacheBuilder`].
/// - `key = expr`: the cache key, built from the arguments (to key on some
///   of them, or to turn borrowed arguments into owned ones), with
///   `key_type = Type` unless the key is an argument or a tuple of arguments.
///
/// # What is generated
/// For `fn name(…)`, a module `name` (functions and modules have separate
/// namespaces) with `name::cache_info()` ([`CacheInfo`]: hits, misses,
/// capacity, size, coalesced), `name::cache_clear()`, `name::uncached(…)`
/// (the body without the cache, like Python's `__wrapped__`) and
/// `name::cache()` (the [`Cache`] itself). For a `&self` method (which needs
/// `key = …`), associated functions `name_cache_info()`,
/// `name_cache_clear()`, `name_uncached(&self, …)` and `name_cache()`.
///
/// # Keys and results
/// - By default the key is the tuple of the arguments, cloned: every argument
///   must be an owned `Clone + Hash + Eq + Send + Sync + 'static` type.
///   Borrowed arguments (`&str`, `&[T]`) need `key = …`:
///   `#[memoize(key = name.to_owned(), key_type = String)] fn f(name: &str)`.
/// - `-> Result<T, E>` caches only `Ok(T)`; an `Err` reaches every
///   concurrent caller and is not cached (it is cloned out of the shared
///   `Arc<E>`, so `E: Clone`).
/// - `-> Option<T>` is cached as it is, `None` included (as Python caches
///   `None`); return a `Result` to cache only successes.
/// - `async fn` works the same way through
///   [`get_or_insert_async`](Cache::get_or_insert_async).
/// - Generic functions and `impl Trait` arguments are rejected (a function
///   has one cache of one type).
/// - A memoized function must be a module item (or a method in an `impl`
///   block), not an item declared inside a function body: its cache module
///   reaches it through `super::`.
///
/// See `docs/memoize.md`.
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

/// The README's examples, compiled and run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
