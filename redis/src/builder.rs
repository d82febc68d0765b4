//! The tier's builder.

use std::hash::Hash;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use shardcache::CacheBuilder;

use crate::{Codec, ConfigError, Postcard, TieredCache};

/// Settings of a [`TieredCache`], from [`TieredCache::builder`].
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use shardcache_redis::TieredCache;
///
/// let l1 = shardcache::CacheBuilder::<u64, String>::new().capacity(10_000);
/// let users = TieredCache::builder(l1, "redis://127.0.0.1:6379", "users:")
///     .ttl(Duration::from_secs(600))
///     .redis_timeout(Duration::from_millis(200))
///     .backoff(Duration::from_secs(1))
///     .build()
///     .await?;
/// # Ok(()) }
/// ```
#[must_use = "a builder does nothing until `build` is awaited"]
pub struct TieredBuilder<K, V, C = Postcard> {
    pub(crate) l1: CacheBuilder<K, V>,
    pub(crate) redis_url: String,
    pub(crate) namespace: String,
    pub(crate) ttl: Duration,
    pub(crate) redis_timeout: Duration,
    pub(crate) backoff: Duration,
    pub(crate) health_check: Duration,
    pub(crate) codec: C,
}

/// The default L2 time to live: 5 minutes.
pub const DEFAULT_TTL: Duration = Duration::from_secs(300);
/// The default bound on each Redis command: 500 ms.
pub const DEFAULT_REDIS_TIMEOUT: Duration = Duration::from_millis(500);
/// The default pause after a failure before reconnecting: 1 s.
pub const DEFAULT_BACKOFF: Duration = Duration::from_secs(1);
/// The default interval between health checks (`PING`): 1 s.
pub const DEFAULT_HEALTH_CHECK: Duration = Duration::from_secs(1);

impl<K, V> TieredBuilder<K, V, Postcard>
where
    K: Serialize + DeserializeOwned + Hash + Eq + Send + Sync + 'static,
    V: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
{
    pub(crate) fn new(
        l1: CacheBuilder<K, V>,
        redis_url: impl Into<String>,
        namespace: impl Into<String>,
    ) -> Self {
        TieredBuilder {
            l1,
            redis_url: redis_url.into(),
            namespace: namespace.into(),
            ttl: DEFAULT_TTL,
            redis_timeout: DEFAULT_REDIS_TIMEOUT,
            backoff: DEFAULT_BACKOFF,
            health_check: DEFAULT_HEALTH_CHECK,
            codec: Postcard,
        }
    }
}

impl<K, V, C> TieredBuilder<K, V, C>
where
    K: Serialize + DeserializeOwned + Hash + Eq + Send + Sync + 'static,
    V: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
    C: Codec,
{
    /// How long values live in Redis (`SET key value PX ttl`); at least
    /// 1 ms. Default [`DEFAULT_TTL`]. When Redis expires a key, every L1
    /// drops it too.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// The longest any one Redis command (or connection attempt) may take;
    /// past it the command counts as failed and the connection as lost.
    /// Must be non-zero. Default [`DEFAULT_REDIS_TIMEOUT`].
    pub fn redis_timeout(mut self, timeout: Duration) -> Self {
        self.redis_timeout = timeout;
        self
    }

    /// After a failure, how long the tier serves from L1 and the loader
    /// alone before trying to reconnect (and between attempts). Must be
    /// non-zero. Default [`DEFAULT_BACKOFF`].
    pub fn backoff(mut self, backoff: Duration) -> Self {
        self.backoff = backoff;
        self
    }

    /// How often an idle connection is checked with `PING`, so that a lost
    /// connection (and the invalidations it may have missed) is noticed
    /// even without traffic. Must be non-zero. Default
    /// [`DEFAULT_HEALTH_CHECK`].
    pub fn health_check(mut self, interval: Duration) -> Self {
        self.health_check = interval;
        self
    }

    /// Another codec for keys and values (default [`Postcard`]). Every
    /// instance sharing a namespace must use the same one.
    pub fn codec<C2: Codec>(self, codec: C2) -> TieredBuilder<K, V, C2> {
        TieredBuilder {
            l1: self.l1,
            redis_url: self.redis_url,
            namespace: self.namespace,
            ttl: self.ttl,
            redis_timeout: self.redis_timeout,
            backoff: self.backoff,
            health_check: self.health_check,
            codec,
        }
    }

    /// Checks the settings, builds L1, connects to Redis and turns on
    /// client tracking for the namespace.
    ///
    /// A Redis that cannot be reached is not an error: the tier starts in
    /// the degraded mode (L1 and the loader) and keeps trying to connect in
    /// the background, every `backoff`. The first attempt takes at most
    /// `redis_timeout`.
    ///
    /// Must be awaited within a Tokio runtime (with the time driver
    /// enabled): the tier spawns one background task per instance, which
    /// ends when the last clone of the tier is dropped.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the field: an empty `namespace`, a
    /// `redis_url` that does not parse, a `ttl` under 1 ms, a zero
    /// `redis_timeout`, `backoff` or `health_check`, or an `l1` builder that
    /// [`CacheBuilder::try_build`] rejects.
    pub async fn build(mut self) -> Result<TieredCache<K, V, C>, ConfigError> {
        if self.namespace.is_empty() {
            return Err(ConfigError::new(
                "namespace",
                "must not be empty: it is the prefix that client tracking watches",
            ));
        }
        if self.ttl < Duration::from_millis(1) {
            return Err(ConfigError::new("ttl", "must be at least 1 ms"));
        }
        for (field, value) in [
            ("redis_timeout", self.redis_timeout),
            ("backoff", self.backoff),
            ("health_check", self.health_check),
        ] {
            if value.is_zero() {
                return Err(ConfigError::new(field, "must be non-zero"));
            }
        }
        let client = crate::link::client(&self.redis_url)
            .map_err(|error| ConfigError::new("redis_url", error))?;
        let l1 = std::mem::replace(&mut self.l1, CacheBuilder::new())
            .try_build()
            .map_err(|error| ConfigError::new("l1", error.to_string()))?;
        Ok(TieredCache::start(l1, client, self).await)
    }
}
