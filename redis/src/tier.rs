//! The two-tier cache.

use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use redis::Value;
use serde::de::DeserializeOwned;
use serde::Serialize;
use shardcache::{Cache, CacheBuilder};
use tokio::sync::{oneshot, Notify};

use crate::link::{self, CommandError, Link, LinkState, Tier};
use crate::stats::{bump, Counters};
use crate::{Codec, Postcard, TierError, TierStats, TieredBuilder};

/// A two-tier cache: a [`shardcache::Cache`] in this process (L1) over a
/// Redis shared by every instance (L2), kept coherent by Redis client
/// tracking.
///
/// Every instance turns on broadcast tracking for its namespace
/// (`CLIENT TRACKING ON BCAST PREFIX <namespace> NOLOOP`), so any change to
/// a key under the namespace, by any client (another instance, `redis-cli`,
/// another language, Redis's own expiry or eviction), removes the key from
/// every other instance's L1. Reads go L1, then L2, then the caller's
/// loader; a miss is loaded once per key per process (shardcache's
/// single-flight). When Redis is down the tier serves from L1 and the
/// loader, never blocking past `redis_timeout`. See `docs/tiered.md` for
/// the protocol and its guarantees.
///
/// Cloning is cheap and shares the instance.
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use shardcache_redis::TieredCache;
///
/// let l1 = shardcache::CacheBuilder::<u64, String>::new().capacity(10_000);
/// let users = TieredCache::builder(l1, "redis://127.0.0.1:6379", "users:")
///     .ttl(Duration::from_secs(60))
///     .build()
///     .await?;
///
/// // L1 miss, L2 miss: the loader runs and its value goes to both tiers.
/// let name = users.get_or_insert_async(7, async { "ada".to_string() }).await;
/// assert_eq!(name, "ada");
/// // Now an L1 hit.
/// assert_eq!(users.get_or_insert_async(7, async { unreachable!() }).await, "ada");
///
/// // Writes go to both tiers and invalidate every other instance's L1.
/// users.insert(7, "grace".to_string()).await?;
/// users.remove(&7).await?;
/// println!("{:?}", users.stats());
/// # Ok(()) }
/// ```
pub struct TieredCache<K, V, C = Postcard> {
    inner: Arc<Inner<K, V, C>>,
}

struct Inner<K, V, C> {
    l1: Cache<K, V>,
    codec: C,
    ttl_ms: u64,
    link: Link,
    /// Dropping it stops the background task.
    _stop: Mutex<Option<oneshot::Sender<()>>>,
}

impl<K, V, C> Clone for TieredCache<K, V, C> {
    fn clone(&self) -> Self {
        TieredCache {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<K, V, C> fmt::Debug for TieredCache<K, V, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TieredCache")
            .field(
                "namespace",
                &String::from_utf8_lossy(&self.inner.link.namespace),
            )
            .field("ttl_ms", &self.inner.ttl_ms)
            .field("stats", &self.inner.link.counters.snapshot())
            .finish_non_exhaustive()
    }
}

impl<K, V> TieredCache<K, V, Postcard>
where
    K: Serialize + DeserializeOwned + Hash + Eq + Send + Sync + 'static,
    V: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
{
    /// A builder for a tier over the L1 that `l1` describes, on the Redis at
    /// `redis_url` (`redis://host:port/db`), storing its keys under
    /// `namespace` (for example `"users:"`; the Redis key is the namespace
    /// followed by the codec's encoding of the key).
    ///
    /// Instances that share a namespace share their L2 entries and
    /// invalidate each other's L1. Namespaces of different tiers on one
    /// Redis should not be prefixes of each other: a change under the
    /// longer one would also reach the shorter one's instances (harmless,
    /// a spurious L1 miss at worst).
    ///
    /// See [`TieredBuilder`] for the other settings and their defaults.
    pub fn builder(
        l1: CacheBuilder<K, V>,
        redis_url: impl Into<String>,
        namespace: impl Into<String>,
    ) -> TieredBuilder<K, V, Postcard> {
        TieredBuilder::new(l1, redis_url, namespace)
    }
}

impl<K, V, C> Tier for Inner<K, V, C>
where
    K: Serialize + DeserializeOwned + Hash + Eq + Send + Sync + 'static,
    V: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
    C: Codec,
{
    fn link(&self) -> &Link {
        &self.link
    }

    fn on_invalidate(&self, data: Vec<Value>) {
        let counters = &self.link.counters;
        match data.into_iter().next() {
            Some(Value::Array(keys)) => {
                for key in keys {
                    bump(&counters.invalidations);
                    let bytes = match key {
                        Value::BulkString(bytes) => bytes,
                        Value::SimpleString(text) => text.into_bytes(),
                        _ => continue,
                    };
                    // A key under the namespace that does not decode was
                    // not written by this tier's codec; it cannot be in L1.
                    if let Some(encoded) = bytes.strip_prefix(self.link.namespace.as_slice()) {
                        if let Ok(key) = self.codec.decode::<K>(encoded) {
                            self.l1.remove(&key);
                        }
                    }
                }
            }
            // A null key list: the whole keyspace was flushed (FLUSHALL,
            // FLUSHDB), or Redis dropped its tracking state.
            _ => {
                bump(&counters.invalidations);
                self.link.epoch.fetch_add(1, Ordering::AcqRel);
                self.clear_l1();
            }
        }
    }

    fn clear_l1(&self) {
        self.l1.clear();
        bump(&self.link.counters.l1_clears);
    }
}

impl<K, V, C> TieredCache<K, V, C>
where
    K: Serialize + DeserializeOwned + Hash + Eq + Send + Sync + 'static,
    V: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
    C: Codec,
{
    pub(crate) async fn start(
        l1: Cache<K, V>,
        client: redis::Client,
        builder: TieredBuilder<K, V, C>,
    ) -> Self {
        let inner = Arc::new(Inner {
            l1,
            codec: builder.codec,
            ttl_ms: u64::try_from(builder.ttl.as_millis()).unwrap_or(u64::MAX),
            link: Link {
                client,
                namespace: builder.namespace.into_bytes(),
                timeout: builder.redis_timeout,
                backoff: builder.backoff,
                health_check: builder.health_check,
                state: Mutex::new(LinkState::default()),
                epoch: Default::default(),
                broken: Arc::new(Notify::new()),
                counters: Counters::default(),
            },
            _stop: Mutex::new(None),
        });
        let stop = link::start(&inner).await;
        *inner._stop.lock().unwrap_or_else(|p| p.into_inner()) = Some(stop);
        TieredCache { inner }
    }

    /// The Redis key that holds `key`'s value: the namespace followed by
    /// the codec's encoding of `key`. Useful to inspect or change entries
    /// with another client.
    ///
    /// # Errors
    /// When the codec cannot encode `key`.
    pub fn redis_key(&self, key: &K) -> Result<Vec<u8>, TierError> {
        let encoded = self.inner.codec.encode(key).map_err(TierError::Codec)?;
        let mut name = Vec::with_capacity(self.inner.link.namespace.len() + encoded.len());
        name.extend_from_slice(&self.inner.link.namespace);
        name.extend_from_slice(&encoded);
        Ok(name)
    }

    /// The in-process tier, to inspect it (its own
    /// [`stats`](shardcache::Cache::stats), [`len`](shardcache::Cache::len),
    /// [`contains_key`](shardcache::Cache::contains_key)). Writing to it
    /// directly bypasses Redis and the other instances.
    pub fn l1(&self) -> &Cache<K, V> {
        &self.inner.l1
    }

    /// The tier's counters.
    pub fn stats(&self) -> TierStats {
        self.inner.link.counters.snapshot()
    }

    /// Whether the tier currently has a connection to Redis with tracking
    /// on (false while it backs off after a failure).
    pub fn is_connected(&self) -> bool {
        self.inner
            .link
            .state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .current
            .is_some()
    }

    /// Returns `key`'s value: from L1; else from Redis; else from `load`,
    /// whose value is then written to Redis with the tier's TTL. Either way
    /// the value is stored in L1.
    ///
    /// On an L1 miss, concurrent callers in this process share one load
    /// (one Redis read, at most one `load`). Redis being down, slow or
    /// holding undecodable bytes for the key never fails the call: it
    /// falls back to `load` within `redis_timeout`, and the problem shows
    /// in [`stats`](Self::stats).
    ///
    /// An invalidation of the key that arrives while the load is in flight
    /// wins: the loaded value is returned but not kept in L1 (see
    /// `docs/tiered.md`).
    pub async fn get_or_insert_async<F>(&self, key: K, load: F) -> V
    where
        F: Future<Output = V>,
    {
        let result = self
            .try_get_or_insert_async(key, async { Ok::<V, std::convert::Infallible>(load.await) })
            .await;
        match result {
            Ok(value) => value,
            Err(never) => match *never {},
        }
    }

    /// Like [`get_or_insert_async`](Self::get_or_insert_async) with a
    /// loader that can fail. A failed load is cached in neither tier; its
    /// error reaches every caller that shared the load, as one `Arc<E>`.
    pub async fn try_get_or_insert_async<E, F>(&self, key: K, load: F) -> Result<V, Arc<E>>
    where
        E: Send + Sync + 'static,
        F: Future<Output = Result<V, E>>,
    {
        let inner = &*self.inner;
        if let Some(value) = inner.l1.get(&key) {
            bump(&inner.link.counters.l1_hits);
            return Ok(value);
        }
        let name = self.redis_key(&key).ok();
        inner
            .l1
            .try_get_or_insert_async(key, async move {
                // The epoch before any Redis traffic: if a connection is
                // lost or made, or a flush arrives, before this load ends,
                // its value may predate an invalidation that this instance
                // never saw, so it must not enter L1.
                let epoch = inner.link.epoch.load(Ordering::Acquire);
                let value = match &name {
                    Some(name) => inner.read_through(name, load).await?,
                    None => {
                        bump(&inner.link.counters.l2_skipped);
                        bump(&inner.link.counters.loads);
                        load.await?
                    }
                };
                if inner.link.epoch.load(Ordering::Acquire) != epoch {
                    inner.keep_out_of_l1(name.as_deref());
                }
                Ok(value)
            })
            .await
    }

    /// Stores `value` in L1 and in Redis (with the TTL); every other
    /// instance drops the key from its L1.
    ///
    /// # Errors
    /// When Redis is down, slow or refuses the write. L1 has been written
    /// in every case.
    pub async fn insert(&self, key: K, value: V) -> Result<(), TierError> {
        let inner = &*self.inner;
        let name = self.redis_key(&key);
        let bytes = inner.codec.encode(&value).map_err(TierError::Codec);
        inner.l1.insert(key, value);
        let (name, bytes) = (name?, bytes?);
        inner.set(&name, &bytes).await
    }

    /// Removes `key` from L1 and from Redis; every other instance drops it
    /// from its L1.
    ///
    /// # Errors
    /// When Redis is down, slow or refuses the delete. The key has been
    /// removed from L1 in every case.
    pub async fn remove(&self, key: &K) -> Result<(), TierError> {
        let inner = &*self.inner;
        inner.l1.remove(key);
        let name = self.redis_key(key)?;
        let Some((mut connection, id)) = inner.link.current() else {
            return Err(TierError::Unavailable);
        };
        let mut del = redis::cmd("DEL");
        del.arg(&name);
        let del = del.query_async::<()>(&mut connection);
        inner.link.run(id, del).await.map_err(TierError::from)
    }

    /// Empties this instance's L1 (Redis and the other instances are left
    /// alone).
    pub fn clear_local(&self) {
        self.inner.l1.clear();
    }
}

impl From<CommandError> for TierError {
    fn from(error: CommandError) -> Self {
        match error {
            CommandError::Timeout => TierError::Timeout,
            CommandError::Redis(message) => TierError::Redis(message),
        }
    }
}

impl<K, V, C> Inner<K, V, C>
where
    K: Serialize + DeserializeOwned + Hash + Eq + Send + Sync + 'static,
    V: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
    C: Codec,
{
    /// L2, then the loader (whose value is written to L2).
    async fn read_through<E, F>(&self, name: &[u8], load: F) -> Result<V, E>
    where
        F: Future<Output = Result<V, E>>,
    {
        let counters = &self.link.counters;
        if let Some((mut connection, id)) = self.link.current() {
            let mut get = redis::cmd("GET");
            get.arg(name);
            let get = get.query_async::<Option<Vec<u8>>>(&mut connection);
            match self.link.run(id, get).await {
                Ok(Some(bytes)) => match self.codec.decode::<V>(&bytes) {
                    Ok(value) => {
                        bump(&counters.l2_hits);
                        return Ok(value);
                    }
                    Err(_) => {
                        bump(&counters.decode_errors);
                        bump(&counters.l2_misses);
                    }
                },
                Ok(None) => bump(&counters.l2_misses),
                Err(_) => {}
            }
        }
        bump(&counters.loads);
        let value = load.await?;
        if let Ok(bytes) = self.codec.encode(&value) {
            // A failed write is counted (and may start a reconnect); the
            // caller still gets its value.
            let _ = self.set(name, &bytes).await;
        }
        Ok(value)
    }

    /// `SET name bytes PX ttl` on the current connection.
    async fn set(&self, name: &[u8], bytes: &[u8]) -> Result<(), TierError> {
        let Some((mut connection, id)) = self.link.current() else {
            return Err(TierError::Unavailable);
        };
        let mut set = redis::cmd("SET");
        set.arg(name).arg(bytes).arg("PX").arg(self.ttl_ms);
        let set = set.query_async::<()>(&mut connection);
        self.link.run(id, set).await.map_err(TierError::from)
    }

    /// Called from within a load: removing the key while its load is in
    /// flight makes shardcache return the value without storing it.
    fn keep_out_of_l1(&self, name: Option<&[u8]>) {
        let key = name
            .and_then(|name| name.strip_prefix(self.link.namespace.as_slice()))
            .and_then(|encoded| self.codec.decode::<K>(encoded).ok());
        match key {
            Some(key) => {
                self.l1.remove(&key);
            }
            // Cannot name the key: keep L1 safe the blunt way.
            None => self.l1.clear(),
        }
    }
}
