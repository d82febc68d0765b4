//! A two-tier cache for services that run on many machines: a fast
//! in-process L1 ([`shardcache`]) over a shared L2 on Redis, kept coherent
//! by Redis's server-assisted client-side caching (`CLIENT TRACKING` in
//! broadcast mode on the tier's key prefix).
//!
//! A change made by any client to a key under the namespace (another
//! instance, `redis-cli DEL`, a program in another language, Redis's own
//! expiry or eviction) removes the key from every instance's L1.
//!
//! ```no_run
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use shardcache_redis::TieredCache;
//!
//! let l1 = shardcache::CacheBuilder::<String, u64>::new().capacity(10_000);
//! let scores = TieredCache::builder(l1, "redis://127.0.0.1:6379", "scores:")
//!     .build()
//!     .await?;
//! let score = scores
//!     .get_or_insert_async("ada".to_string(), async { 42 })
//!     .await;
//! assert_eq!(score, 42);
//! # Ok(()) }
//! ```
//!
//! See [`TieredCache`] for the operations and `docs/tiered.md` for the
//! coherence protocol, its guarantees and the behaviour when Redis is down.

#![deny(unsafe_code)]
#![warn(missing_docs)]

mod builder;
mod codec;
mod error;
mod link;
mod stats;
mod tier;

pub use builder::{
    TieredBuilder, DEFAULT_BACKOFF, DEFAULT_HEALTH_CHECK, DEFAULT_REDIS_TIMEOUT, DEFAULT_TTL,
};
pub use codec::{Codec, CodecError, Postcard};
pub use error::{ConfigError, TierError};
pub use stats::TierStats;
pub use tier::TieredCache;
