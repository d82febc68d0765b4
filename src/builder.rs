//! [`CacheBuilder`]: every setting of a cache, checked before it is built,
//! and the constructors [`Cache::new`] and [`Cache::builder`].

use std::error::Error;
use std::fmt;
use std::hash::{BuildHasher, Hash};

use crate::arena::MAX_NODES;
use crate::cache::{share, Cache, Weigher};
use crate::expiry::{self, Expiration};
use crate::index::Index;
use crate::listener::Listener;
use crate::policy::Policy;
use crate::refresh;
use ahash::RandomState;

/// The fewest capacity units a shard gets from the default shard count.
///
/// Small shards evict noticeably worse than one global LRU on loop-heavy
/// traces (measured on the shipped traces over 30 hash seeds: 77-entry shards
/// lost up to 2.4 points of hit ratio, 355-entry shards up to 1.35, 710-entry
/// shards under 1), so small caches get fewer shards: a cache of capacity
/// below 1,024 has one.
const MIN_SHARD_CAPACITY: u64 = 512;

/// Shards per available core in [`default_shards`]. Every operation writes
/// its shard's lock word, so two cores on one shard pass that cache line
/// back and forth; with more shards than cores they meet less often.
/// Measured side by side in one process on 2 cores (`examples/ab.rs`, three
/// processes per cell), against 4 per core: 8 per core ran 1.08–1.28×
/// faster at 2 and 8 threads on read-through and write-heavy and
/// 0.99–1.14× on all hits, under both policies, and as fast at one thread
/// (0.97–1.07×); 16 per core gained up to 1.34× at 2 threads but lost up to
/// 13% at one.
const SHARDS_PER_CORE: usize = 8;

/// The most shards a cache may have.
const MAX_SHARDS: usize = 1 << 16;

/// Builds a [`Cache`] with settings other than the defaults.
///
/// ```
/// use shardcache::{Cache, Policy};
///
/// let cache: Cache<u64, String> = Cache::builder()
///     .capacity(10_000)
///     .shards(8)
///     .policy(Policy::Lru)
///     .build();
/// assert_eq!(cache.shards(), 8);
/// ```
#[must_use = "a builder does nothing until `build` or `try_build`"]
pub struct CacheBuilder<K, V, S = RandomState> {
    capacity: Option<u64>,
    shards: Option<usize>,
    hasher: S,
    weigher: Option<Weigher<K, V>>,
    policy: Policy,
    /// The name and slow-load threshold (`observe.rs`).
    pub(crate) observer: crate::observe::Observer,
    /// `time_to_live`, `time_to_idle`, `expiry`, `clock` (set in `expiry.rs`).
    pub(crate) expiration: expiry::Settings<K, V>,
    /// `removal_listener` (set in `listener.rs`).
    pub(crate) listener: Option<Listener<K, V>>,
    /// `refresh_after`, `stale_if_error`, `fail_safe_retry`, `refresher`,
    /// `executor` (set in `refresh.rs`).
    pub(crate) refresh: refresh::Settings<K, V>,
}

/// Why a [`CacheBuilder`] configuration cannot work. Its message names the
/// setting to change.
///
/// ```
/// let err = shardcache::Cache::<u64, u64>::builder()
///     .capacity(10)
///     .shards(0)
///     .try_build()
///     .unwrap_err();
/// assert!(err.to_string().contains("`shards`"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BuildError {
    /// `capacity` was never set.
    MissingCapacity,
    /// `shards` was 0.
    ZeroShards,
    /// `shards` was above the maximum, 65,536.
    TooManyShards {
        /// The shard count asked for.
        shards: usize,
    },
    /// More shards than capacity units: some shards could hold nothing.
    ShardsExceedCapacity {
        /// The shard count asked for.
        shards: usize,
        /// The capacity asked for.
        capacity: u64,
    },
    /// A shard's share of the capacity is more entries than a shard can
    /// index (2^29 − 1).
    ShardTooLarge {
        /// The capacity asked for.
        capacity: u64,
        /// The shard count.
        shards: usize,
    },
    /// `time_to_live` was zero: every entry would be expired at birth.
    ZeroTimeToLive,
    /// `time_to_idle` was zero: every entry would be expired at birth.
    ZeroTimeToIdle,
    /// `refresh_after` was zero: every read would refresh.
    ZeroRefreshAfter,
    /// An `executor` was set without a `refresher`: a loading call's own
    /// loader cannot leave its thread, so the executor would have nothing
    /// to run.
    ExecutorWithoutRefresher,
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::MissingCapacity => {
                f.write_str("shardcache: `capacity` is not set: call `.capacity(n)` on the builder")
            }
            BuildError::ZeroShards => f.write_str("shardcache: `shards` must be at least 1"),
            BuildError::TooManyShards { shards } => write!(
                f,
                "shardcache: `shards` is {shards}, above the maximum of {MAX_SHARDS}"
            ),
            BuildError::ShardsExceedCapacity { shards, capacity } => write!(
                f,
                "shardcache: `shards` ({shards}) exceeds `capacity` ({capacity}): every shard \
                 needs room for at least one entry; use fewer shards or leave `shards` unset"
            ),
            BuildError::ShardTooLarge { capacity, shards } => write!(
                f,
                "shardcache: `capacity` {capacity} over {shards} shard(s) puts more than \
                 {MAX_NODES} entries in a shard; raise `shards`"
            ),
            BuildError::ZeroTimeToLive => f.write_str(
                "shardcache: `time_to_live` is zero: every entry would expire at once; \
                 leave it unset for no limit",
            ),
            BuildError::ZeroTimeToIdle => f.write_str(
                "shardcache: `time_to_idle` is zero: every entry would expire at once; \
                 leave it unset for no limit",
            ),
            BuildError::ZeroRefreshAfter => f.write_str(
                "shardcache: `refresh_after` is zero: every read would refresh; \
                 leave it unset for no refresh-ahead",
            ),
            BuildError::ExecutorWithoutRefresher => f.write_str(
                "shardcache: an `executor` needs a `refresher` to run: set `.refresher(..)`, \
                 or drop the executor to refresh inline with each caller's own loader",
            ),
        }
    }
}

impl Error for BuildError {}

impl<K: Hash + Eq, V: Clone> Cache<K, V, RandomState> {
    /// A cache of at most `capacity` entries with the default settings:
    /// exact LRU per shard, the default shard count (see
    /// [`CacheBuilder::shards`]), and ahash.
    ///
    /// A capacity of 0 stores nothing (like Python's `lru_cache(maxsize=0)`),
    /// but concurrent loads of one key are still coalesced.
    ///
    /// ```
    /// let cache = shardcache::Cache::new(2);
    /// cache.insert("a", 1);
    /// assert_eq!(cache.get("a"), Some(1));
    /// ```
    ///
    /// # Panics
    /// If `capacity` is too large to index (more than 2^29 − 1 entries per
    /// shard); use [`Cache::builder`] and more shards.
    pub fn new(capacity: u64) -> Self {
        CacheBuilder::new().capacity(capacity).build()
    }

    /// A builder for a cache with other settings: shard count, hasher,
    /// weigher, eviction policy.
    ///
    /// ```
    /// let cache: shardcache::Cache<String, Vec<u8>> = shardcache::Cache::builder()
    ///     .capacity(1 << 20)
    ///     .weigher(|_key: &String, value: &Vec<u8>| value.len() as u64)
    ///     .build();
    /// assert_eq!(cache.capacity(), 1 << 20);
    /// ```
    pub fn builder() -> CacheBuilder<K, V, RandomState> {
        CacheBuilder::new()
    }
}

impl<K: Hash + Eq, V: Clone> CacheBuilder<K, V, RandomState> {
    /// A builder with the defaults: no capacity yet, the default shard
    /// count, ahash, no weigher, [`Policy::Lru`].
    ///
    /// ```
    /// let cache: shardcache::Cache<u8, u8> = shardcache::CacheBuilder::new().capacity(4).build();
    /// assert_eq!(cache.capacity(), 4);
    /// ```
    pub fn new() -> Self {
        CacheBuilder {
            capacity: None,
            shards: None,
            hasher: RandomState::new(),
            weigher: None,
            policy: Policy::default(),
            observer: Default::default(),
            expiration: expiry::Settings::default(),
            listener: None,
            refresh: refresh::Settings::default(),
        }
    }
}

impl<K, V, S> fmt::Debug for CacheBuilder<K, V, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheBuilder")
            .field("capacity", &self.capacity)
            .field("shards", &self.shards)
            .field("weigher", &self.weigher.is_some())
            .field("policy", &self.policy)
            .field("time_to_live", &self.expiration.ttl)
            .field("time_to_idle", &self.expiration.tti)
            .field("listener", &self.listener.is_some())
            .finish_non_exhaustive()
    }
}

impl<K: Hash + Eq, V: Clone> Default for CacheBuilder<K, V, RandomState> {
    fn default() -> Self {
        Self::new()
    }
}

/// The default shard count for a capacity: [`SHARDS_PER_CORE`] shards per
/// available core, rounded up to a power of two, but no more than leave each shard
/// [`MIN_SHARD_CAPACITY`] units, and at least one. Then, when entries weigh
/// 1, see [`fill_indexes`].
fn default_shards(capacity: u64, weighs: bool) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let wanted = (cores * SHARDS_PER_CORE)
        .next_power_of_two()
        .min(MAX_SHARDS);
    let by_size = capacity / MIN_SHARD_CAPACITY;
    if by_size == 0 {
        return 1;
    }
    // The largest power of two not above `by_size`.
    let by_size = 1u64 << (63 - by_size.leading_zeros());
    let base = wanted.min(usize::try_from(by_size).unwrap_or(MAX_SHARDS));
    if weighs {
        base
    } else {
        fill_indexes(capacity, base)
    }
}

/// From `base` shards up to twice as many (still leaving each shard
/// [`MIN_SHARD_CAPACITY`] units), the count whose index tables take the
/// fewest buckets in all when each has room for its shard's budget plus a
/// third, the smallest such count on a tie.
///
/// A table's buckets are a power of two at most 7/8 full, so a per-shard
/// budget just above 7/8 of a power of two doubles its shard's table: a
/// `Cache<u64, u64>` of 1,000,000 entries in 16 shards spends 10.5 bytes
/// per entry on its indexes, in 24 shards 7.9. The third to spare is for
/// churn: every eviction may leave a tombstone in the table, and when they
/// have used up its spare room the shard rebuilds it, so a table filled to
/// its limit is rebuilt every few hundred evictions (measured: filling the
/// tables to the limit cut read-through throughput by a quarter; with a
/// third to spare it ran as fast as before or faster). Entries that weigh
/// 1 fill their budget, so the budget predicts the table; weighted shards
/// size theirs by what they hold.
fn fill_indexes(capacity: u64, base: usize) -> usize {
    let most = (2 * base - 1)
        .min(usize::try_from(capacity / MIN_SHARD_CAPACITY).unwrap_or(MAX_SHARDS))
        .min(MAX_SHARDS)
        .max(base);
    let buckets = |n: usize| {
        let budget = share(capacity, n, 0);
        n as u128 * u128::from(Index::buckets_for(budget.saturating_add(budget / 3)))
    };
    (base..=most).min_by_key(|&n| buckets(n)).unwrap_or(base)
}

impl<K: Hash + Eq, V: Clone, S: BuildHasher> CacheBuilder<K, V, S> {
    /// The most entries the cache holds, or with a [`weigher`](Self::weigher)
    /// the most total weight. Required. 0 stores nothing (loads are still
    /// coalesced).
    ///
    /// ```
    /// let cache: shardcache::Cache<u8, u8> = shardcache::Cache::builder().capacity(0).build();
    /// cache.insert(1, 1);
    /// assert_eq!(cache.len(), 0);
    /// ```
    pub fn capacity(mut self, capacity: u64) -> Self {
        self.capacity = Some(capacity);
        self
    }

    /// The number of shards, each with its own lock and an equal share of
    /// the capacity (shares differ by at most one and add up to the
    /// capacity). Any count from 1 to 65,536 works; powers of two are not
    /// required. With one shard the cache is an exact global LRU.
    ///
    /// Unset, the count is 8 per available core, rounded up to a power of
    /// two, but no more than leaves every shard at least 512 capacity units
    /// (a cache of capacity below 1,024 has one shard), and at least one.
    /// More shards than cores keep two threads off one shard's lock most of
    /// the time; small shards would evict noticeably worse than one global
    /// LRU. Without a weigher the count may then rise, to at most twice
    /// that and within the same floor, to the one whose hash tables take
    /// the least memory while keeping a third of each shard's budget to
    /// spare: a table's size is a power of two, and a budget just past a
    /// size doubles it (at 1,000,000 entries, 24 shards instead of 16 save
    /// 2.6 bytes per entry).
    ///
    /// ```
    /// let cache: shardcache::Cache<u8, u8> = shardcache::Cache::builder().capacity(10).shards(1).build();
    /// assert_eq!(cache.shards(), 1);
    /// ```
    pub fn shards(mut self, shards: usize) -> Self {
        self.shards = Some(shards);
        self
    }

    /// The hasher that picks a key's shard and its slot in the shard's
    /// index. Any [`BuildHasher`]; the default is `ahash::RandomState`.
    ///
    /// ```
    /// use std::collections::hash_map::RandomState;
    /// let cache: shardcache::Cache<u8, u8, RandomState> = shardcache::Cache::builder()
    ///     .capacity(10)
    ///     .hasher(RandomState::new())
    ///     .build();
    /// cache.insert(1, 1);
    /// assert_eq!(cache.get(&1), Some(1));
    /// ```
    pub fn hasher<S2: BuildHasher>(self, hasher: S2) -> CacheBuilder<K, V, S2> {
        CacheBuilder {
            capacity: self.capacity,
            shards: self.shards,
            hasher,
            weigher: self.weigher,
            policy: self.policy,
            observer: self.observer,
            expiration: self.expiration,
            listener: self.listener,
            refresh: self.refresh,
        }
    }

    /// Weighs each entry: the capacity then bounds the total weight instead
    /// of the entry count. An entry heavier than its shard's share of the
    /// capacity is not stored. Called once per insert, outside the shard lock
    /// (for an insert) or under the shard's read lock (when a load
    /// completes, with the key stored for the load: read-locked lookups of
    /// that shard go on while it runs, writes to it wait): keep it cheap,
    /// and do not call back into the cache from it.
    ///
    /// ```
    /// let cache = shardcache::Cache::builder()
    ///     .capacity(10)
    ///     .shards(1)
    ///     .weigher(|_k: &&str, v: &Vec<u8>| v.len() as u64)
    ///     .build();
    /// cache.insert("a", vec![0; 6]);
    /// cache.insert("b", vec![0; 6]); // evicts "a": 12 > 10
    /// assert_eq!((cache.len(), cache.weight()), (1, 6));
    /// ```
    pub fn weigher(mut self, weigher: impl Fn(&K, &V) -> u64 + Send + Sync + 'static) -> Self {
        self.weigher = Some(std::sync::Arc::new(weigher));
        self
    }

    /// The eviction policy (default [`Policy::Lru`]).
    ///
    /// ```
    /// let cache: shardcache::Cache<u8, u8> =
    ///     shardcache::Cache::builder().capacity(8).policy(shardcache::Policy::Lru).build();
    /// assert_eq!(cache.capacity(), 8);
    /// ```
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// Builds the cache, or says which setting cannot work. Use this when
    /// the settings come from user input.
    ///
    /// ```
    /// let built = shardcache::Cache::<u64, u64>::builder().capacity(4).shards(8).try_build();
    /// assert_eq!(
    ///     built.unwrap_err(),
    ///     shardcache::BuildError::ShardsExceedCapacity { shards: 8, capacity: 4 }
    /// );
    /// ```
    pub fn try_build(self) -> Result<Cache<K, V, S>, BuildError> {
        let capacity = self.capacity.ok_or(BuildError::MissingCapacity)?;
        let shards = match self.shards {
            None => default_shards(capacity, self.weigher.is_some()),
            Some(0) => return Err(BuildError::ZeroShards),
            Some(shards) if shards > MAX_SHARDS => {
                return Err(BuildError::TooManyShards { shards })
            }
            Some(shards) if capacity > 0 && shards as u64 > capacity => {
                return Err(BuildError::ShardsExceedCapacity { shards, capacity })
            }
            Some(shards) => shards,
        };
        if self.weigher.is_none() && share(capacity, shards, 0) > MAX_NODES as u64 {
            return Err(BuildError::ShardTooLarge { capacity, shards });
        }
        self.expiration.check()?;
        self.refresh.check()?;
        let mut expiration = Expiration::new(self.expiration);
        let refresh = self.refresh.install(&mut expiration);
        let mut cache = Cache::with_settings(
            capacity,
            shards,
            self.policy,
            self.hasher,
            self.weigher,
            self.observer,
            expiration,
            self.listener,
        );
        cache.refresh = refresh;
        Ok(cache)
    }

    /// Builds the cache.
    ///
    /// ```
    /// let cache: shardcache::Cache<u8, u8> = shardcache::Cache::builder().capacity(4).build();
    /// assert!(cache.is_empty());
    /// ```
    ///
    /// # Panics
    /// With the [`BuildError`] message naming the setting, when the
    /// configuration cannot work (see [`try_build`](Self::try_build)).
    pub fn build(self) -> Cache<K, V, S> {
        match self.try_build() {
            Ok(cache) => cache,
            Err(error) => panic!("{error}"),
        }
    }
}
