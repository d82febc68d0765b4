//! Errors of configuration and of explicit writes.

use std::fmt;

use crate::CodecError;

/// An invalid [`TieredBuilder`](crate::TieredBuilder) setting, naming the
/// field at fault.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use std::time::Duration;
/// use shardcache_redis::TieredCache;
///
/// let l1 = shardcache::CacheBuilder::<u64, String>::new().capacity(100);
/// let error = TieredCache::builder(l1, "redis://127.0.0.1:6379", "")
///     .build()
///     .await
///     .unwrap_err();
/// assert_eq!(error.field(), "namespace");
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    field: &'static str,
    reason: String,
}

impl ConfigError {
    pub(crate) fn new(field: &'static str, reason: impl Into<String>) -> Self {
        ConfigError {
            field,
            reason: reason.into(),
        }
    }

    /// The builder field at fault: `"namespace"`, `"redis_url"`, `"ttl"`,
    /// `"redis_timeout"`, `"backoff"`, `"health_check"` or `"l1"`.
    pub fn field(&self) -> &'static str {
        self.field
    }

    /// What is wrong with it.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid `{}`: {}", self.field, self.reason)
    }
}

impl std::error::Error for ConfigError {}

/// Why an explicit write ([`insert`](crate::TieredCache::insert) or
/// [`remove`](crate::TieredCache::remove)) did not reach Redis. The L1 write
/// has happened in every case.
///
/// ```
/// let error = shardcache_redis::TierError::Unavailable;
/// assert_eq!(error.to_string(), "redis unavailable (backing off after a failure); L1 was written");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TierError {
    /// No connection to Redis: it failed recently and the tier is backing
    /// off before reconnecting. Nothing was sent.
    Unavailable,
    /// Redis did not answer within the configured `redis_timeout`.
    Timeout,
    /// Redis answered with an error, or the connection failed.
    Redis(String),
    /// The key or value could not be encoded.
    Codec(CodecError),
}

impl fmt::Display for TierError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TierError::Unavailable => write!(f, "redis unavailable (backing off after a failure)")?,
            TierError::Timeout => write!(f, "redis did not answer in time")?,
            TierError::Redis(message) => write!(f, "redis error: {message}")?,
            TierError::Codec(error) => write!(f, "{error}")?,
        }
        write!(f, "; L1 was written")
    }
}

impl std::error::Error for TierError {}
