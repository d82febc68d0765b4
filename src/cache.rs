//! The public face: [`Cache`] and its plain (non-loading) operations.
//!
//! Every operation hashes its key outside any lock, picks the shard from the
//! hash, holds that one shard's lock for a bounded amount of work, and drops
//! whatever it removed (evicted entries, replaced values) after releasing the
//! lock. Loading operations (`get_or_insert_with` and friends) live in
//! `load.rs`; the constructors (`Cache::new`, `Cache::builder`) beside the
//! builder, in `builder.rs`.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::time::Duration;

use ahash::RandomState;
use crossbeam_utils::CachePadded;

use crate::expiry::{nanos, Expiration, Stamp};
use crate::listener::{Listener, Outbox, RemovalCause};
use crate::policy::{Policy, PolicyState};
use crate::shard::Shard;
use crate::stats::{CacheInfo, ReadCounters, Stats};
use crate::sync::{
    Arc, AtomicBool, AtomicU64, Mutex, Ordering, RwLock, RwLockReadGuard, RwLockWriteGuard,
};

/// A weigher: the cost of an entry against the cache's capacity. An `Arc`,
/// so that a refresh on an executor can weigh its value (`refresh.rs`).
pub(crate) type Weigher<K, V> = std::sync::Arc<dyn Fn(&K, &V) -> u64 + Send + Sync>;

/// One shard behind its own lock, padded to a cache line of its own so
/// that locking one shard never contends with its neighbours' lines.
type ShardLock<K, V, S> = CachePadded<RwLock<Shard<K, V, S>>>;

/// A concurrent, sharded, memory-bounded cache with single-flight loading.
///
/// Share one `Cache` between threads behind an [`Arc`](std::sync::Arc): every
/// method takes `&self`. Keys are spread over shards by hash, each shard an
/// exact LRU (by default) with its own lock, so threads working on different
/// keys rarely wait for each other.
///
/// Reads return clones of the stored values. For values that are expensive
/// to clone, store `Arc<T>`: a clone is then a reference-count increment.
///
/// ```
/// use std::sync::Arc;
/// use std::thread;
/// use shardcache::Cache;
///
/// let cache: Arc<Cache<u64, String>> = Arc::new(Cache::new(1_000));
/// let handles: Vec<_> = (0..4)
///     .map(|t| {
///         let cache = Arc::clone(&cache);
///         thread::spawn(move || {
///             for i in 0..100 {
///                 // Every thread asks for the same keys; each is computed once.
///                 let v = cache.get_or_insert_with(i, || format!("value {i}"));
///                 assert_eq!(v, format!("value {i}"));
///             }
///             t
///         })
///     })
///     .collect();
/// for h in handles {
///     h.join().unwrap();
/// }
/// assert_eq!(cache.len(), 100);
/// assert_eq!(cache.stats().loads, 100);
/// ```
///
/// # Guarantees
/// - `len() <= capacity()` (or, with a weigher, `weight() <= capacity()`)
///   whenever any thread looks.
/// - With one shard, eviction is exactly LRU: the cache answers every
///   operation as the `lru` crate's `LruCache` would.
/// - Values removed by eviction, replacement, `remove` or `clear` are dropped
///   after the shard lock is released, exactly once.
/// - A panic in a key's `Hash` or `Eq`, a value's `Clone`, the weigher or a
///   loader leaves the cache consistent and usable.
pub struct Cache<K, V, S = RandomState> {
    shards: Box<[ShardLock<K, V, S>]>,
    /// Shared with the shards, which hash the keys they evict or move.
    hasher: Arc<S>,
    pub(crate) weigher: Option<Weigher<K, V>>,
    /// The total capacity.
    capacity: AtomicU64,
    /// Serialises `set_capacity` calls, so that the shards' budgets always
    /// add up to one of them.
    resizing: Mutex<()>,
    /// Whether `get` runs under the shard's read lock (caches of several
    /// shards, either policy: a hit only marks its entry). Fixed at build
    /// time.
    reads_shared: bool,
    /// Hits and misses of the lookups that run under a read lock.
    read_counters: ReadCounters,
    /// The name and slow-load threshold (`observe.rs`).
    observer: crate::observe::Observer,
    /// Whether any shard keeps timers, so that operations read the clock:
    /// set at build time when expiry is configured, or by the first
    /// `insert_with_ttl`. Relaxed: an operation that misses the change
    /// reads no clock before it locks its shard, and reads it under the
    /// lock if the shard has timers (`Expiration::unread`).
    expiring: AtomicBool,
    /// The expiry settings and the clock.
    expiration: Arc<Expiration<K, V>>,
    /// Hears every entry that leaves the cache (`listener.rs`).
    listener: Option<Listener<K, V>>,
    /// The refresher, its executor and their mailbox (`refresh.rs`).
    pub(crate) refresh: Option<Box<crate::refresh::Refresh<K, V>>>,
}

impl<K, V, S> Cache<K, V, S> {
    /// The cache's name and load watch settings (`observe.rs`).
    pub(crate) fn observer(&self) -> &crate::observe::Observer {
        &self.observer
    }
}

impl<K: Hash + Eq, V: Clone, S: BuildHasher> Cache<K, V, S> {
    /// A cache of `shards` shards sharing `capacity` (the builder has
    /// checked the settings).
    #[allow(clippy::too_many_arguments)] // one per builder setting group
    pub(crate) fn with_settings(
        capacity: u64,
        shards: usize,
        policy: Policy,
        hasher: S,
        weigher: Option<Weigher<K, V>>,
        observer: crate::observe::Observer,
        expiration: Expiration<K, V>,
        listener: Option<Listener<K, V>>,
    ) -> Self {
        let expiration = Arc::new(expiration);
        let hasher = Arc::new(hasher);
        let budgets: Vec<u64> = (0..shards).map(|i| share(capacity, shards, i)).collect();
        let shards: Box<[_]> = PolicyState::for_shards(policy, capacity, &budgets)
            .into_iter()
            .zip(&budgets)
            .map(|(policy, &budget)| {
                let mut shard = Shard::new(budget, weigher.is_some(), policy, hasher.clone());
                if expiration.configured {
                    shard.enable_expiry(&expiration);
                }
                CachePadded::new(RwLock::new(shard))
            })
            .collect();
        let reads_shared = shards.iter().all(|s| s.read().reads_shared());
        Cache {
            shards,
            hasher,
            weigher,
            capacity: AtomicU64::new(capacity),
            resizing: Mutex::new(()),
            reads_shared,
            read_counters: ReadCounters::new(reads_shared),
            observer,
            expiring: AtomicBool::new(expiration.configured),
            expiration,
            listener,
            refresh: None,
        }
    }

    /// The time for an operation, read before it takes a lock (the clock
    /// may be user code): nanoseconds since the cache's epoch, or 0 (not
    /// read) for a cache that does not expire entries.
    #[inline]
    pub(crate) fn now(&self) -> u64 {
        if self.expiring.load(Ordering::Relaxed) {
            self.expiration.now()
        } else {
            0
        }
    }

    /// A new, empty outbox for what an operation removes.
    #[inline]
    pub(crate) fn outbox(&self) -> Outbox<'_, K, V> {
        Outbox::new(self.listener.as_ref())
    }

    /// After a read-locked miss: if the shard has expired entries to
    /// reclaim, take its write lock and do a bounded amount of that work.
    #[cold]
    fn maintain_after_miss(&self, hash: u64, now: u64) {
        let mut outbox = self.outbox();
        self.shard(hash).maintain(now, 32, &mut outbox.removed);
        outbox.deliver();
    }

    #[inline]
    pub(crate) fn hash<Q: ?Sized + Hash>(&self, key: &Q) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The shard a hash belongs to. Uses bits 24..56 of the hash: hashbrown
    /// takes a bucket from the low bits and its control byte from the top
    /// seven, so the keys of one shard still differ in both.
    #[inline]
    fn shard_lock(&self, hash: u64) -> &RwLock<Shard<K, V, S>> {
        let bits = (hash >> 24) as u32 as u64;
        let index = ((bits * self.shards.len() as u64) >> 32) as usize;
        &self.shards[index]
    }

    /// Shard `index` (of [`shards`](Self::shards)), unlocked.
    #[inline]
    pub(crate) fn shard_at(&self, index: usize) -> &RwLock<Shard<K, V, S>> {
        &self.shards[index]
    }

    /// The shard of a hash, locked for writing.
    #[inline]
    pub(crate) fn shard(&self, hash: u64) -> RwLockWriteGuard<'_, Shard<K, V, S>> {
        self.shard_lock(hash).write()
    }

    /// The shard of a hash, locked for reading.
    #[inline]
    pub(crate) fn shard_read(&self, hash: u64) -> RwLockReadGuard<'_, Shard<K, V, S>> {
        self.shard_lock(hash).read()
    }

    /// Whether lookups run under the shard's read lock (see `reads_shared`).
    #[inline]
    pub(crate) fn reads_shared(&self) -> bool {
        self.reads_shared
    }

    /// Whether the cache weighs its entries.
    pub(crate) fn weighs(&self) -> bool {
        self.weigher.is_some()
    }

    #[inline]
    pub(crate) fn weigh(&self, key: &K, value: &V) -> u64 {
        match &self.weigher {
            Some(weigher) => weigher(key, value),
            None => 1,
        }
    }

    /// Returns a clone of the value for `key` and marks it most recently
    /// used. Counts a hit or a miss.
    ///
    /// ```
    /// let cache: shardcache::Cache<String, u32> = shardcache::Cache::new(10);
    /// cache.insert("apple".to_string(), 3);
    /// assert_eq!(cache.get("apple"), Some(3)); // look up by &str
    /// assert_eq!(cache.get("pear"), None);
    /// ```
    #[inline]
    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: ?Sized + Hash + Eq,
    {
        let hash = self.hash(key);
        let now = self.now();
        if self.reads_shared {
            let shard = self.shard_read(hash);
            let found = shard.get_shared(hash, key, now);
            if let Some((value, stale)) = found {
                // Past `refresh_after`, with an executor: start a refresh
                // unless one runs (and apply those that ended).
                let refresh = stale
                    && self.refreshes_detached()
                    && (!shard.flights.contains(hash, key) || self.refreshes_pending());
                drop(shard);
                self.read_counters.hit();
                if refresh {
                    return self.refresh_on_read(hash, key, value);
                }
                Some(value)
            } else {
                let work = shard.has_expiry_work(now);
                drop(shard);
                self.read_counters.miss();
                if work {
                    self.maintain_after_miss(hash, now);
                }
                None
            }
        } else {
            self.get_exclusive(hash, key, now, true)
        }
    }

    /// A loading call's first look, on a lazily promoting cache: a hit
    /// under the shard's read lock, counted; on a miss (not counted here)
    /// the caller goes on to the write-locked path, which counts it.
    #[inline]
    pub(crate) fn shared_hit<Q>(&self, hash: u64, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: ?Sized + Eq,
    {
        if !self.reads_shared {
            return None;
        }
        let now = self.now();
        let shard = self.shard_read(hash);
        let (found, stale) = shard.get_shared(hash, key, now)?;
        // A stale entry is served here only while its refresh runs (and no
        // ended refresh waits to be applied); else the write-locked path
        // starts a refresh.
        if stale && (!shard.flights.contains(hash, key) || self.refreshes_pending()) {
            return None;
        }
        drop(shard);
        self.read_counters.hit();
        Some(found)
    }

    /// A `get` (counted) found `key` past `refresh_after` on a cache that
    /// refreshes on an executor, under the read lock: looks again under the
    /// write lock, after applying ended refreshes, and starts one for `key`
    /// unless one runs.
    #[cold]
    #[inline(never)]
    fn refresh_on_read<Q>(&self, hash: u64, key: &Q, stale: V) -> Option<V>
    where
        K: Borrow<Q>,
        Q: ?Sized + Hash + Eq,
    {
        let now = self.now();
        self.get_exclusive(hash, key, now, false).or(Some(stale))
    }

    /// `get` under the shard's write lock (one-shard caches): out of
    /// line, so that the read-locked path inlined into callers stays small
    /// (no register spills for the bigger path it does not take).
    /// Counts the lookup if `count`. Past `refresh_after`, with an executor,
    /// it starts a refresh.
    #[inline(never)]
    fn get_exclusive<Q>(&self, hash: u64, key: &Q, now: u64, count: bool) -> Option<V>
    where
        K: Borrow<Q>,
        Q: ?Sized + Hash + Eq,
    {
        self.apply_refreshes();
        let mut outbox = self.outbox();
        let mut shard = self.shard(hash);
        let found = shard.lookup(hash, key, count, now, &mut outbox.removed);
        let (found, started) = match found {
            crate::refresh::Lookup::Stale(value) => {
                let started = self.start_detached(&mut shard, hash, key, now);
                (Some(value), started)
            }
            found => (found.live(), None),
        };
        drop(shard);
        outbox.deliver();
        if let (Some((flight, key)), Some(value)) = (started, &found) {
            self.launch(hash, flight, key, value.clone());
        }
        found
    }

    /// Returns a clone of the value for `key` without marking it used and
    /// without counting a hit or miss.
    ///
    /// ```
    /// let cache = shardcache::Cache::builder().capacity(2).shards(1).build();
    /// cache.insert(1, "one");
    /// cache.insert(2, "two");
    /// assert_eq!(cache.peek(&1), Some("one")); // 1 stays least recently used
    /// cache.insert(3, "three");
    /// assert_eq!(cache.peek(&1), None);
    /// ```
    #[inline]
    pub fn peek<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: ?Sized + Hash + Eq,
    {
        let hash = self.hash(key);
        let now = self.now();
        self.shard_read(hash).peek(hash, key, now)
    }

    /// Whether `key` is cached. Does not mark it used or count.
    ///
    /// ```
    /// let cache = shardcache::Cache::new(2);
    /// cache.insert("k", ());
    /// assert!(cache.contains_key("k"));
    /// assert!(!cache.contains_key("x"));
    /// ```
    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: ?Sized + Hash + Eq,
    {
        let hash = self.hash(key);
        let now = self.now();
        self.shard_read(hash).contains(hash, key, now)
    }

    /// Stores `value` under `key` as the most recently used entry, evicting
    /// the least recently used entries of its shard if it is full. Returns
    /// the value it replaced, if any.
    ///
    /// An entry heavier than its shard's share of the capacity is not
    /// stored (and evicts nothing); if the key held an older value, that
    /// value is removed and returned, so a reader never sees it again.
    ///
    /// An insert that happens while a load of the same key is in flight wins:
    /// the load's value goes to its callers but is not stored over this one.
    ///
    /// ```
    /// let cache = shardcache::Cache::new(10);
    /// assert_eq!(cache.insert("k", 1), None);
    /// assert_eq!(cache.insert("k", 2), Some(1));
    /// assert_eq!(cache.get("k"), Some(2));
    /// ```
    #[inline]
    pub fn insert(&self, key: K, value: V) -> Option<V> {
        let stamp = Stamp::at(self.now());
        self.insert_stamped(key, value, stamp)
    }

    /// [`insert`](Self::insert), for an entry that expires `ttl` after
    /// this write, whatever the cache's `time_to_live` and
    /// [`Expiry`](crate::Expiry) say (`time_to_idle`, if set, may end it
    /// sooner; reads never extend it past `ttl`). Works on any cache: the
    /// first call on a cache built without expiry gives the key's shard
    /// its timers (16 bytes per entry slot from then on). A later plain
    /// `insert` of the key times it by the cache's settings again.
    ///
    /// ```
    /// use std::time::Duration;
    /// let cache = shardcache::Cache::new(10);
    /// cache.insert_with_ttl("session", 7, Duration::from_secs(5));
    /// assert_eq!(cache.get("session"), Some(7)); // gone in 5 s
    /// ```
    pub fn insert_with_ttl(&self, key: K, value: V, ttl: Duration) -> Option<V> {
        if !self.expiring.load(Ordering::Relaxed) {
            self.expiring.store(true, Ordering::Relaxed);
        }
        let stamp = Stamp {
            now: self.expiration.now(),
            ttl: Some(nanos(ttl)),
        };
        self.insert_stamped(key, value, stamp)
    }

    #[inline]
    fn insert_stamped(&self, key: K, value: V, stamp: Stamp) -> Option<V> {
        let hash = self.hash(&key);
        let weight = self.weigh(&key, &value);
        // Declared before the guard: dropped after it, even by a panic.
        let mut incoming = Some((key, value));
        let mut outbox = self.outbox();
        {
            let mut shard = self.shard(hash);
            if stamp.ttl.is_some() {
                shard.enable_expiry(&self.expiration);
            }
            shard.insert(hash, &mut incoming, weight, stamp, &mut outbox.removed);
        }
        outbox.deliver()
    }

    /// Removes every expired entry now, shard by shard (each under its
    /// write lock in turn), and reports them to the removal listener.
    /// Without it, expired entries are reclaimed as their shards are
    /// written (a bounded amount per operation) and are never returned
    /// meanwhile, but count in [`len`](Self::len).
    ///
    /// ```
    /// use std::time::Duration;
    /// let cache = shardcache::Cache::new(10);
    /// cache.insert_with_ttl(1, "one", Duration::from_nanos(1));
    /// std::thread::sleep(Duration::from_millis(20));
    /// cache.cleanup();
    /// assert_eq!(cache.len(), 0);
    /// assert_eq!(cache.stats().expirations, 1);
    /// ```
    pub fn cleanup(&self) {
        self.apply_refreshes();
        if !self.expiring.load(Ordering::Relaxed) {
            return;
        }
        for shard in self.shards.iter() {
            let now = self.expiration.now();
            let mut outbox = self.outbox();
            shard.write().cleanup(now, &mut outbox.removed);
            outbox.deliver();
        }
    }

    /// Removes `key` and returns its value. A load of `key` in flight is
    /// superseded: its value goes to its callers but is not stored.
    ///
    /// ```
    /// let cache = shardcache::Cache::new(10);
    /// cache.insert(7, "seven");
    /// assert_eq!(cache.remove(&7), Some("seven"));
    /// assert_eq!(cache.remove(&7), None);
    /// ```
    pub fn remove<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: ?Sized + Hash + Eq,
    {
        let hash = self.hash(key);
        let now = self.now();
        let mut outbox = self.outbox();
        let found = self.shard(hash).remove(hash, key, now, &mut outbox.removed);
        outbox.deliver();
        let (key, value) = found?;
        if let Some(listener) = &self.listener {
            return Some(crate::listener::report_kept(
                listener,
                key,
                value,
                RemovalCause::Explicit,
            ));
        }
        Some(value)
    }

    /// The number of entries, summed shard by shard (not a point-in-time
    /// snapshot while other threads write). With expiry, this counts
    /// expired entries not yet reclaimed: an idle shard keeps them until
    /// it is written or [`cleanup`](Self::cleanup) runs (they are never
    /// returned meanwhile).
    ///
    /// ```
    /// let cache = shardcache::Cache::new(10);
    /// cache.insert(1, 1);
    /// assert_eq!(cache.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.shards.iter().map(|shard| shard.read().len()).sum()
    }

    /// Whether the cache holds no entry.
    ///
    /// ```
    /// let cache = shardcache::Cache::<u8, u8>::new(10);
    /// assert!(cache.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.shards.iter().all(|shard| shard.read().len() == 0)
    }

    /// The total weight of the entries: their number when there is no
    /// weigher.
    ///
    /// ```
    /// let cache = shardcache::Cache::builder()
    ///     .capacity(100)
    ///     .weigher(|_k: &u32, v: &String| v.len() as u64)
    ///     .build();
    /// cache.insert(1, "four".to_string());
    /// assert_eq!(cache.weight(), 4);
    /// ```
    pub fn weight(&self) -> u64 {
        self.shards.iter().map(|shard| shard.read().weight()).sum()
    }

    /// The capacity: the most entries (or, with a weigher, the most total
    /// weight) the cache holds. Each shard holds at most its share; the
    /// shares add up exactly to the capacity.
    ///
    /// ```
    /// assert_eq!(shardcache::Cache::<u8, u8>::new(128).capacity(), 128);
    /// ```
    pub fn capacity(&self) -> u64 {
        self.capacity.load(Ordering::Relaxed)
    }

    /// Changes the capacity of a live cache. Shrinking evicts, shard by
    /// shard, down to the new shares; growing takes effect at once.
    ///
    /// The shard count stays as built: a capacity below it leaves some shards
    /// with no room, and keys that hash there are not stored.
    ///
    /// ```
    /// let cache = shardcache::Cache::builder().capacity(4).shards(1).build();
    /// for i in 0..4 {
    ///     cache.insert(i, i);
    /// }
    /// cache.set_capacity(2);
    /// assert_eq!(cache.len(), 2);
    /// assert!(cache.contains_key(&3) && cache.contains_key(&2)); // the most recent stay
    /// ```
    pub fn set_capacity(&self, capacity: u64) {
        let _resizing = self.resizing.lock();
        self.capacity.store(capacity, Ordering::Relaxed);
        for (i, shard) in self.shards.iter().enumerate() {
            let budget = share(capacity, self.shards.len(), i);
            let now = self.now();
            let mut outbox = self.outbox();
            shard
                .write()
                .set_budget(budget, capacity, now, &mut outbox.removed);
            outbox.deliver();
        }
    }

    /// Removes every entry. Loads in flight are superseded: their values go
    /// to their callers but are not stored.
    ///
    /// ```
    /// let cache = shardcache::Cache::new(10);
    /// cache.insert(1, 1);
    /// cache.clear();
    /// assert!(cache.is_empty());
    /// ```
    pub fn clear(&self) {
        for shard in self.shards.iter() {
            let drained = shard.write().clear();
            match &self.listener {
                None => drop(drained),
                Some(listener) => {
                    let entries = drained
                        .into_entries()
                        .map(|(key, value)| (key, value, RemovalCause::Explicit));
                    crate::listener::report_all(listener, entries, true);
                }
            }
        }
    }

    /// A snapshot of the statistics, summed over the shards.
    ///
    /// ```
    /// let cache = shardcache::Cache::new(10);
    /// cache.get_or_insert_with(1, || 10);
    /// cache.get(&1);
    /// let stats = cache.stats();
    /// assert_eq!((stats.hits, stats.misses, stats.loads), (1, 1, 1));
    /// ```
    pub fn stats(&self) -> Stats {
        let mut stats = Stats::default();
        for shard in self.shards.iter() {
            let counters = shard.read().counters;
            counters.add_to(&mut stats);
        }
        self.read_counters.add_to(&mut stats);
        stats
    }

    /// Hits, misses, capacity and size in the shape of Python's
    /// `lru_cache().cache_info()`.
    ///
    /// ```
    /// let cache = shardcache::Cache::new(128);
    /// cache.get_or_insert_with(10_000u64, || (0..10_000u64).map(|i| i * i).sum::<u64>());
    /// assert_eq!(cache.cache_info().to_string(), "CacheInfo(hits=0, misses=1, maxsize=128, currsize=1)");
    /// ```
    pub fn cache_info(&self) -> CacheInfo {
        let stats = self.stats();
        CacheInfo {
            hits: stats.hits,
            misses: stats.misses,
            capacity: self.capacity(),
            size: self.len(),
            coalesced: stats.coalesced,
        }
    }

    /// The number of shards.
    ///
    /// ```
    /// let cache: shardcache::Cache<u64, u64> = shardcache::Cache::builder().capacity(64).shards(4).build();
    /// assert_eq!(cache.shards(), 4);
    /// ```
    pub fn shards(&self) -> usize {
        self.shards.len()
    }

    /// Iterates over clones of the entries, one shard at a time: each shard
    /// is copied under its lock when the iterator reaches it. Not a
    /// point-in-time snapshot across shards: writes to shards not yet reached
    /// show up, writes to shards already passed do not. Does not mark entries
    /// used.
    ///
    /// ```
    /// let cache = shardcache::Cache::new(10);
    /// cache.insert(1, "a");
    /// cache.insert(2, "b");
    /// let mut all: Vec<_> = cache.iter().collect();
    /// all.sort();
    /// assert_eq!(all, vec![(1, "a"), (2, "b")]);
    /// ```
    pub fn iter(&self) -> Iter<'_, K, V, S>
    where
        K: Clone,
    {
        Iter {
            cache: self,
            next_shard: 0,
            buffer: Vec::new().into_iter(),
        }
    }

    /// Checks every internal invariant (arena lists, index, weights, flight
    /// records) and panics on the first one broken. Takes every shard lock
    /// in turn. Test support, behind the `test-hooks` feature.
    #[cfg(feature = "test-hooks")]
    pub fn check_invariants(&self) {
        for shard in self.shards.iter() {
            shard.read().validate();
        }
    }

    /// The keys of each eviction segment of each shard, most recent first:
    /// `[main (LRU list or probation), window, protected]`. Test support,
    /// behind the `test-hooks` feature.
    #[cfg(feature = "test-hooks")]
    pub fn segments(&self) -> Vec<[Vec<K>; 3]>
    where
        K: Clone,
    {
        self.shards
            .iter()
            .map(|shard| {
                let shard = shard.read();
                shard
                    .segments()
                    .map(|keys| keys.into_iter().cloned().collect())
            })
            .collect()
    }

    /// Heap bytes of policy state outside the arenas (W-TinyLFU's
    /// sketches). Test support, behind the `test-hooks` feature.
    #[cfg(feature = "test-hooks")]
    pub fn policy_bytes(&self) -> usize {
        self.shards.iter().map(|s| s.read().policy_bytes()).sum()
    }

    /// W-TinyLFU's window decision, per-mille: `(published, tuner's)`, the
    /// value the shards apply and the shared tuner's current choice; `None`
    /// under LRU or at capacity 0. They agree whenever no lookup or resize
    /// is in progress. Test support, behind the `test-hooks` feature.
    #[cfg(feature = "test-hooks")]
    pub fn window_decision(&self) -> Option<(u32, u32)> {
        self.shards.first()?.read().window_decision()
    }

    /// Heap bytes of the expiry side tables and timer wheels. Test
    /// support, behind the `test-hooks` feature.
    #[cfg(feature = "test-hooks")]
    pub fn expiry_bytes(&self) -> usize {
        self.shards.iter().map(|s| s.read().expiry_bytes()).sum()
    }

    /// The number of loads in flight. Test support, behind the
    /// `test-hooks` feature.
    #[cfg(feature = "test-hooks")]
    pub fn loads_in_flight(&self) -> usize {
        self.shards.iter().map(|s| s.read().flights.len()).sum()
    }
}

/// Shard `index`'s share of `capacity` among `shards`: the shares differ by
/// at most one and add up exactly to `capacity`.
pub(crate) fn share(capacity: u64, shards: usize, index: usize) -> u64 {
    let shards = shards as u64;
    capacity / shards + u64::from((index as u64) < capacity % shards)
}

/// An iterator over clones of a cache's entries; see [`Cache::iter`].
///
/// ```
/// let cache = shardcache::Cache::new(10);
/// cache.insert(1, "a");
/// let iter = cache.iter();
/// assert!(format!("{iter:?}").starts_with("Iter"));
/// ```
pub struct Iter<'a, K, V, S> {
    cache: &'a Cache<K, V, S>,
    next_shard: usize,
    buffer: std::vec::IntoIter<(K, V)>,
}

impl<K: Hash + Eq + Clone, V: Clone, S: BuildHasher> Iterator for Iter<'_, K, V, S> {
    type Item = (K, V);

    fn next(&mut self) -> Option<(K, V)> {
        loop {
            if let Some(entry) = self.buffer.next() {
                return Some(entry);
            }
            let shard = self.cache.shards.get(self.next_shard)?;
            self.next_shard += 1;
            let now = self.cache.now();
            let shard = shard.read();
            let mut entries = Vec::with_capacity(shard.len());
            shard.for_each(now, |_, k, v| entries.push((k.clone(), v.clone())));
            drop(shard);
            self.buffer = entries.into_iter();
        }
    }
}

impl<K, V, S> fmt::Debug for Iter<'_, K, V, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Iter")
            .field("next_shard", &self.next_shard)
            .field("buffered", &self.buffer.len())
            .finish_non_exhaustive()
    }
}

impl<K, V, S> fmt::Debug for Cache<K, V, S>
where
    K: Hash + Eq,
    V: Clone,
    S: BuildHasher,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache")
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .field("shards", &self.shards.len())
            .finish_non_exhaustive()
    }
}
