//! Drops, panics in user code, borrowed lookups, capacity 0 and weights.
#![cfg(not(shardcache_loom))]

use std::cell::Cell;
use std::hash::{Hash, Hasher};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use shardcache::{Cache, Policy};

/// A value that counts its live instances and its drops.
#[derive(Debug)]
struct Tracked {
    id: u64,
    live: Arc<AtomicUsize>,
    drops: Arc<AtomicUsize>,
}

impl Tracked {
    fn new(id: u64, live: &Arc<AtomicUsize>, drops: &Arc<AtomicUsize>) -> Self {
        live.fetch_add(1, Ordering::SeqCst);
        Tracked {
            id,
            live: live.clone(),
            drops: drops.clone(),
        }
    }
}

impl Clone for Tracked {
    fn clone(&self) -> Self {
        Tracked::new(self.id, &self.live, &self.drops)
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        let before = self.live.fetch_sub(1, Ordering::SeqCst);
        assert!(before > 0, "double drop");
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn every_value_is_dropped_exactly_once() {
    drops_exactly_once(Policy::Lru);
    drops_exactly_once(Policy::TinyLfu);
}

fn drops_exactly_once(policy: Policy) {
    let live = Arc::new(AtomicUsize::new(0));
    let drops = Arc::new(AtomicUsize::new(0));
    {
        let cache: Cache<u64, Tracked> = Cache::builder()
            .capacity(50)
            .shards(2)
            .policy(policy)
            .build();
        for i in 0..500u64 {
            cache.insert(i % 120, Tracked::new(i, &live, &drops));
            if i % 7 == 0 {
                drop(cache.remove(&(i % 13)));
            }
            if i % 5 == 0 {
                drop(cache.get(&(i % 120)));
            }
            if i == 250 {
                cache.clear();
            }
            if i == 300 {
                cache.set_capacity(10);
            }
            let v = cache.get_or_insert_with(1000 + i % 3, || Tracked::new(i, &live, &drops));
            drop(v);
        }
        assert_eq!(
            live.load(Ordering::SeqCst),
            cache.len(),
            "only cached values are alive"
        );
        cache.check_invariants();
    }
    assert_eq!(
        live.load(Ordering::SeqCst),
        0,
        "dropping the cache drops every value"
    );
}

/// A value whose drop checks that it does not run under a shard lock: it
/// touches the same cache (a lock held by this thread would deadlock or, with
/// a non-reentrant mutex, hang the test).
struct ReentrantDrop(Arc<Cache<u64, u64>>);

impl Clone for ReentrantDrop {
    fn clone(&self) -> Self {
        ReentrantDrop(self.0.clone())
    }
}

impl Drop for ReentrantDrop {
    fn drop(&mut self) {
        self.0.insert(999, 1);
        self.0.get(&999);
    }
}

#[test]
fn evicted_and_replaced_values_drop_outside_the_lock() {
    let side = Arc::new(Cache::builder().capacity(4).shards(1).build());
    let cache: Cache<u64, ReentrantDrop> = Cache::builder().capacity(2).shards(1).build();
    // The drop re-enters `side`, not `cache`; to check `cache` itself, use
    // a second layer below.
    for i in 0..10 {
        cache.insert(i % 3, ReentrantDrop(side.clone()));
    }
    cache.clear();

    // Values whose drop uses the very cache that drops them.
    let cache: Arc<Cache<u64, Guarded>> = Arc::new(Cache::builder().capacity(2).shards(1).build());
    let weak = Arc::downgrade(&cache);
    for i in 0..20 {
        cache.insert(i % 5, Guarded(weak.clone()));
        cache.remove(&((i + 1) % 5));
    }
    cache.set_capacity(1);
    cache.clear();
}

struct Guarded(std::sync::Weak<Cache<u64, Guarded>>);

impl Clone for Guarded {
    fn clone(&self) -> Self {
        Guarded(self.0.clone())
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        if let Some(cache) = self.0.upgrade() {
            // Would deadlock if this drop ran under the shard lock.
            let _ = cache.len();
        }
    }
}

thread_local! {
    static FAIL_HASH: Cell<bool> = const { Cell::new(false) };
    static FAIL_EQ: Cell<bool> = const { Cell::new(false) };
}

/// A key whose `Hash` or `Eq` panics on demand.
#[derive(Clone, Debug)]
struct Touchy(u64);

impl Hash for Touchy {
    fn hash<H: Hasher>(&self, state: &mut H) {
        if FAIL_HASH.with(Cell::get) {
            panic!("hash failed");
        }
        self.0.hash(state);
    }
}

impl PartialEq for Touchy {
    fn eq(&self, other: &Self) -> bool {
        if FAIL_EQ.with(Cell::get) {
            panic!("eq failed");
        }
        self.0 == other.0
    }
}

impl Eq for Touchy {}

#[test]
fn panicking_hash_and_eq_leave_the_cache_usable() {
    let cache: Cache<Touchy, u64> = Cache::builder().capacity(8).shards(1).build();
    for i in 0..8 {
        cache.insert(Touchy(i), i);
    }
    // Hash panics: on the caller's key (before locking), and on an evicted
    // key (under the lock, before the shard changes).
    FAIL_HASH.with(|f| f.set(true));
    assert!(catch_unwind(AssertUnwindSafe(|| cache.insert(Touchy(100), 100))).is_err());
    FAIL_HASH.with(|f| f.set(false));
    cache.check_invariants();
    assert_eq!(cache.len(), 8);

    // Eq panics while probing.
    FAIL_EQ.with(|f| f.set(true));
    assert!(catch_unwind(AssertUnwindSafe(|| cache.get(&Touchy(3)))).is_err());
    assert!(catch_unwind(AssertUnwindSafe(|| cache.insert(Touchy(3), 33))).is_err());
    assert!(catch_unwind(AssertUnwindSafe(|| cache.remove(&Touchy(4)))).is_err());
    FAIL_EQ.with(|f| f.set(false));
    cache.check_invariants();
    assert_eq!(
        cache.get(&Touchy(3)),
        Some(3),
        "a failed insert changed nothing"
    );
    assert_eq!(cache.len(), 8);

    // A full cache still evicts and serves after the panics.
    for i in 10..30 {
        cache.insert(Touchy(i), i);
    }
    assert_eq!(cache.len(), 8);
    assert_eq!(cache.get(&Touchy(29)), Some(29));
    cache.check_invariants();
}

/// A key whose `Hash`, once armed with a key number, panics for every
/// other key, counting its panics: armed with the key being inserted or
/// looked up, it hits precisely the paths that hash *other* keys (an
/// eviction victim, a duellist).
#[derive(Clone, Debug)]
struct Picky(u64, Arc<Arming>);

#[derive(Debug)]
struct Arming {
    /// The one key that may be hashed; `u64::MAX`: any.
    allowed: AtomicU64,
    panics: AtomicUsize,
}

impl Arming {
    fn new() -> Arc<Arming> {
        Arc::new(Arming {
            allowed: AtomicU64::new(u64::MAX),
            panics: AtomicUsize::new(0),
        })
    }

    fn arm(&self, allowed: u64) {
        self.allowed.store(allowed, Ordering::SeqCst);
    }

    fn disarm(&self) {
        self.arm(u64::MAX);
    }
}

impl PartialEq for Picky {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl Eq for Picky {}

impl Hash for Picky {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let allowed = self.1.allowed.load(Ordering::SeqCst);
        if allowed != u64::MAX && allowed != self.0 {
            self.1.panics.fetch_add(1, Ordering::SeqCst);
            panic!("only key {allowed} may be hashed");
        }
        self.0.hash(state);
    }
}

#[test]
fn a_panic_while_hashing_an_eviction_victim_changes_nothing() {
    let arming = Arming::new();
    let cache: Cache<Picky, u64> = Cache::builder().capacity(3).shards(1).build();
    for i in 0..3 {
        cache.insert(Picky(i, arming.clone()), i);
    }
    arming.arm(5);
    // Key 0 is the LRU victim: hashing it under the lock panics.
    assert!(catch_unwind(AssertUnwindSafe(
        || cache.insert(Picky(5, arming.clone()), 5)
    ))
    .is_err());
    arming.disarm();
    cache.check_invariants();
    assert_eq!(cache.len(), 3);
    assert!(cache.contains_key(&Picky(0, arming.clone())));
    assert!(!cache.contains_key(&Picky(5, arming.clone())));
    cache.insert(Picky(5, arming.clone()), 5);
    assert!(!cache.contains_key(&Picky(0, arming.clone())));
    cache.check_invariants();
}

/// A lookup runs no other key's `Hash`: a miss on a full W-TinyLFU shard,
/// where the next insertion will duel two cached keys, leaves them alone.
#[test]
fn a_tinylfu_miss_hashes_no_other_key() {
    let arming = Arming::new();
    // Two shards: lookups run under the read lock.
    let cache: Cache<Picky, u64> = Cache::builder()
        .capacity(1024)
        .shards(2)
        .policy(Policy::TinyLfu)
        .build();
    for i in 0..4096 {
        cache.insert(Picky(i, arming.clone()), i);
    }
    assert_eq!(cache.len(), 1024);
    let probe = 1 << 40;
    arming.arm(probe);
    assert_eq!(cache.get(&Picky(probe, arming.clone())), None);
    assert_eq!(
        arming.panics.load(Ordering::SeqCst),
        0,
        "the miss hashed another key"
    );
    arming.disarm();
    cache.check_invariants();
    assert_eq!(cache.len(), 1024);
    assert_eq!(cache.stats().misses, 1);
}

/// A value whose drop checks, from another thread and with a time limit,
/// that its cache is not locked at that moment (so a failure is a count, not
/// a hung test).
#[derive(Clone)]
struct LockProbe {
    cache: std::sync::Weak<Cache<Picky, LockProbe>>,
    blocked: Arc<AtomicUsize>,
}

/// Whether `cache` answers `len()` (every shard's lock) from another
/// thread within ten seconds: false if this thread holds one of its locks.
fn answers_while_dropping<K, V>(cache: Arc<Cache<K, V>>) -> bool
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        cache.len();
        let _ = done.send(());
    });
    finished
        .recv_timeout(std::time::Duration::from_secs(10))
        .is_ok()
}

/// Adds one to `blocked` if `cache` is still alive and locked by this thread.
fn count_if_locked<K, V>(cache: &std::sync::Weak<Cache<K, V>>, blocked: &AtomicUsize)
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    if let Some(cache) = cache.upgrade() {
        if !answers_while_dropping(cache) {
            blocked.fetch_add(1, Ordering::SeqCst);
        }
    }
}

impl Drop for LockProbe {
    fn drop(&mut self) {
        count_if_locked(&self.cache, &self.blocked);
    }
}

#[test]
fn a_panic_while_hashing_a_victim_drops_the_entries_after_unlocking() {
    let arming = Arming::new();
    let blocked = Arc::new(AtomicUsize::new(0));
    let cache: Arc<Cache<Picky, LockProbe>> =
        Arc::new(Cache::builder().capacity(3).shards(1).build());
    let probe = LockProbe {
        cache: Arc::downgrade(&cache),
        blocked: blocked.clone(),
    };
    for i in 0..3 {
        cache.insert(Picky(i, arming.clone()), probe.clone());
    }
    arming.arm(5);
    // Key 0 is the LRU victim: hashing it under the lock panics, and the
    // incoming entry is dropped by the unwinding.
    let incoming = probe.clone();
    assert!(catch_unwind(AssertUnwindSafe(
        || cache.insert(Picky(5, arming.clone()), incoming)
    ))
    .is_err());
    assert_eq!(
        blocked.load(Ordering::SeqCst),
        0,
        "a value was dropped under the shard lock"
    );
    arming.disarm();
    cache.check_invariants();
    assert_eq!(cache.len(), 3);
    // The same through a completed load that must evict.
    arming.arm(6);
    let loaded = probe.clone();
    assert!(catch_unwind(AssertUnwindSafe(|| {
        cache.get_or_insert_with(Picky(6, arming.clone()), || loaded)
    }))
    .is_err());
    assert_eq!(
        blocked.load(Ordering::SeqCst),
        0,
        "a loaded value was dropped under the shard lock"
    );
    arming.disarm();
    cache.check_invariants();
    drop(probe);
    assert_eq!(blocked.load(Ordering::SeqCst), 0);
}

#[test]
fn a_panicking_weigher_leaves_the_cache_usable() {
    let cache: Cache<u64, u64> = Cache::builder()
        .capacity(10)
        .shards(1)
        .weigher(|_k, v| if *v == 13 { panic!("unlucky") } else { *v })
        .build();
    cache.insert(1, 4);
    assert!(catch_unwind(AssertUnwindSafe(|| cache.insert(2, 13))).is_err());
    assert!(catch_unwind(AssertUnwindSafe(|| cache.get_or_insert_with(3, || 13))).is_err());
    assert_eq!(
        cache.loads_in_flight(),
        0,
        "the failed load left no flight behind"
    );
    cache.check_invariants();
    assert_eq!(cache.get(&1), Some(4));
    assert_eq!(cache.get_or_insert_with(3, || 5), 5);
    assert_eq!(cache.weight(), 9);
}

#[test]
fn a_panicking_clone_leaves_the_cache_usable() {
    #[derive(Debug)]
    struct Fragile(u64);
    impl Clone for Fragile {
        fn clone(&self) -> Self {
            if self.0 == 7 {
                panic!("clone failed");
            }
            Fragile(self.0)
        }
    }
    let cache: Cache<u64, Fragile> = Cache::builder().capacity(4).shards(1).build();
    cache.insert(7, Fragile(7));
    cache.insert(1, Fragile(1));
    assert!(catch_unwind(AssertUnwindSafe(|| cache.get(&7))).is_err());
    assert!(catch_unwind(AssertUnwindSafe(
        || cache.get_or_insert_with(8, || Fragile(7))
    ))
    .is_err());
    cache.check_invariants();
    assert_eq!(cache.loads_in_flight(), 0);
    assert_eq!(cache.get(&1).map(|f| f.0), Some(1));
    assert_eq!(cache.len(), 2);
}

#[test]
fn borrowed_lookups() {
    let cache: Cache<String, usize> = Cache::new(16);
    cache.insert("alpha".to_string(), 1);
    assert_eq!(cache.get("alpha"), Some(1));
    assert_eq!(cache.peek("alpha"), Some(1));
    assert!(cache.contains_key("alpha"));
    assert_eq!(cache.remove("alpha"), Some(1));
    assert_eq!(cache.get("alpha"), None);

    let cache: Cache<Vec<u8>, u8> = Cache::new(4);
    cache.insert(vec![1, 2], 3);
    assert_eq!(cache.get(&[1u8, 2][..]), Some(3));
}

#[test]
fn capacity_zero_stores_nothing() {
    let cache: Cache<u64, u64> = Cache::new(0);
    assert_eq!(cache.capacity(), 0);
    assert_eq!(cache.insert(1, 1), None);
    assert_eq!(cache.get(&1), None);
    assert_eq!(cache.get_or_insert_with(2, || 2), 2);
    assert_eq!(cache.get_or_insert_with(2, || 3), 3, "nothing was stored");
    assert!(cache.is_empty());
    let stats = cache.stats();
    assert_eq!((stats.hits, stats.misses, stats.loads), (0, 3, 2));
    cache.check_invariants();
}

#[test]
fn weights_bound_the_total() {
    let cache: Cache<u64, Vec<u8>> = Cache::builder()
        .capacity(100)
        .shards(1)
        .weigher(|_k, v: &Vec<u8>| v.len() as u64)
        .build();
    for i in 0..50u64 {
        cache.insert(i, vec![0; (i % 30) as usize]);
        assert!(cache.weight() <= 100);
        cache.check_invariants();
    }
    // Too heavy for the shard: not stored, evicts nothing.
    let before: Vec<u64> = {
        let mut keys: Vec<u64> = cache.iter().map(|(k, _)| k).collect();
        keys.sort_unstable();
        keys
    };
    cache.insert(1000, vec![0; 101]);
    assert!(!cache.contains_key(&1000));
    let after: Vec<u64> = {
        let mut keys: Vec<u64> = cache.iter().map(|(k, _)| k).collect();
        keys.sort_unstable();
        keys
    };
    assert_eq!(before, after, "a too-heavy entry evicts nothing");
    // Replacing an entry with a too-heavy value removes the stale one.
    let key = after[0];
    assert!(cache.insert(key, vec![0; 500]).is_some());
    assert!(!cache.contains_key(&key));
    // Growing an entry's weight evicts others, never the entry itself.
    cache.insert(2000, vec![0; 1]);
    cache.insert(2000, vec![0; 90]);
    assert!(cache.contains_key(&2000));
    assert!(cache.weight() <= 100);
    cache.check_invariants();
    // Exactly full.
    cache.clear();
    cache.insert(1, vec![0; 60]);
    cache.insert(2, vec![0; 40]);
    assert_eq!((cache.len(), cache.weight()), (2, 100));
    cache.insert(3, vec![0; 1]);
    assert_eq!(
        (cache.len(), cache.weight()),
        (1 + 1, 41),
        "LRU entry 1 evicted"
    );
}

#[test]
fn sharded_budgets_add_up_to_the_capacity() {
    for capacity in [1u64, 5, 63, 64, 100, 1000, 12_345] {
        for shards in [1usize, 2, 3, 8] {
            if shards as u64 > capacity {
                continue;
            }
            // A fixed hasher, so which keys land in which shard is the same
            // on every run.
            let cache: Cache<u64, u64, ahash::RandomState> = Cache::builder()
                .capacity(capacity)
                .shards(shards)
                .hasher(ahash::RandomState::with_seeds(1, 2, 3, 4))
                .build();
            for i in 0..capacity * 20 + 100 {
                cache.insert(i, i);
            }
            // Every shard is full at its share, so the shares add up exactly.
            // (With this many distinct keys every shard receives > its share.)
            assert_eq!(
                cache.len() as u64,
                capacity,
                "capacity {capacity}, shards {shards}"
            );
        }
    }
}

#[test]
fn set_capacity_shrinks_and_grows() {
    let cache: Cache<u64, u64> = Cache::builder().capacity(100).shards(4).build();
    for i in 0..1000 {
        cache.insert(i, i);
    }
    assert_eq!(cache.len(), 100);
    cache.set_capacity(10);
    assert_eq!(cache.capacity(), 10);
    assert_eq!(cache.len(), 10);
    cache.check_invariants();
    cache.set_capacity(400);
    for i in 0..10_000 {
        cache.insert(i, i);
    }
    assert_eq!(cache.len(), 400);
    cache.check_invariants();
    assert!(cache.stats().evictions > 0);
}

#[test]
fn invalid_configurations_name_the_field() {
    use shardcache::BuildError;
    let err = Cache::<u64, u64>::builder().try_build().unwrap_err();
    assert_eq!(err, BuildError::MissingCapacity);
    assert!(err.to_string().contains("`capacity`"));
    let err = Cache::<u64, u64>::builder()
        .capacity(8)
        .shards(0)
        .try_build()
        .unwrap_err();
    assert!(err.to_string().contains("`shards`"));
    let err = Cache::<u64, u64>::builder()
        .capacity(8)
        .shards(1 << 20)
        .try_build()
        .unwrap_err();
    assert!(err.to_string().contains("`shards`"));
    let err = Cache::<u64, u64>::builder()
        .capacity(3)
        .shards(4)
        .try_build()
        .unwrap_err();
    assert!(err
        .to_string()
        .contains("`shards` (4) exceeds `capacity` (3)"));
    let err = Cache::<u64, u64>::builder()
        .capacity(1 << 40)
        .shards(1)
        .try_build()
        .unwrap_err();
    assert!(err.to_string().contains("`capacity`"));
    let panic =
        catch_unwind(|| Cache::<u64, u64>::builder().capacity(1).shards(0).build()).unwrap_err();
    let message = panic.downcast_ref::<String>().unwrap();
    assert!(message.contains("`shards` must be at least 1"), "{message}");
    // A weighted cache may have more capacity units than a shard has slots.
    let cache: Cache<u64, u64> = Cache::builder()
        .capacity(1 << 40)
        .shards(1)
        .weigher(|_, _| 1)
        .build();
    assert_eq!(cache.capacity(), 1 << 40);
}

/// The documented default shard count, computed independently of the
/// library: eight shards per available core rounded up to a power of two (at
/// most 65,536), but no more than the largest power of two that leaves
/// every shard 512 units, and at least one.
const MAX_SHARDS: usize = 1 << 16;
const MIN_SHARD_CAPACITY: u64 = 512;

fn expected_default_shards(capacity: u64) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let wanted = (cores * 8).next_power_of_two().min(MAX_SHARDS);
    let mut by_size = 1usize;
    while (by_size as u64 * 2)
        .checked_mul(MIN_SHARD_CAPACITY)
        .is_some_and(|needed| needed <= capacity)
    {
        by_size *= 2;
    }
    wanted.min(by_size)
}

/// The documented default for entries that weigh 1: from the weighted
/// count up to twice it, within the same 512-unit floor, the count whose
/// hash tables take the fewest buckets in all when each must hold its
/// shard's budget plus a third (a table is a power of two at most 7/8
/// full), the smallest on a tie.
fn expected_unweighted_shards(capacity: u64) -> usize {
    let base = expected_default_shards(capacity);
    let most = (2 * base - 1)
        .min((capacity / MIN_SHARD_CAPACITY) as usize)
        .max(base);
    let buckets = |n: usize| {
        let budget = capacity.div_ceil(n as u64);
        let room = budget + budget / 3;
        n as u64 * (room * 8).div_ceil(7).max(8).next_power_of_two()
    };
    let mut best = base;
    for n in base..=most {
        if buckets(n) < buckets(best) {
            best = n;
        }
    }
    best
}

/// The shard count the library picks for `capacity` when `shards` is unset
/// (weighted, so that any capacity builds).
fn default_shards(capacity: u64) -> usize {
    Cache::<u64, u64>::builder()
        .capacity(capacity)
        .weigher(|_, _| 1)
        .build()
        .shards()
}

#[test]
fn default_shard_count_keeps_small_caches_whole() {
    let min = MIN_SHARD_CAPACITY;
    // Below two full shards' worth of capacity the cache stays one exact LRU.
    for capacity in [0, 1, 64, 127, 128, min, 1000, 2 * min - 1] {
        assert_eq!(default_shards(capacity), 1, "capacity {capacity}");
        assert_eq!(
            Cache::<u64, u64>::new(capacity).shards(),
            1,
            "capacity {capacity}"
        );
    }
    // Every core gives at least eight shards, so two full shards' worth is
    // enough to split.
    assert_eq!(default_shards(2 * min), 2);
    assert_eq!(Cache::<u64, u64>::new(2 * min).shards(), 2);
    // A large cache is split into the per-core count, not kept whole.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per_core = (cores * 8).next_power_of_two();
    assert_eq!(
        default_shards(1 << 20),
        per_core.min(2048),
        "2^20 units allow 2048 shards of {min}"
    );
    assert!(Cache::<u64, u64>::new(1 << 20).shards() >= 4);
    // Unweighted, the count rises where that makes the hash tables
    // smaller: 1,000,000 entries in 16 shards need tables of 2^17 buckets
    // for 62,500 entries each, in 24 shards 2^16 for 41,667 (with a third
    // to spare).
    if per_core == 16 {
        assert_eq!(Cache::<u64, u64>::new(1_000_000).shards(), 24);
    }
    // `Cache::new` and the builder use the same rules when `shards` is
    // unset.
    for capacity in [
        0u64,
        1000,
        1024,
        3 * min,
        4 * min,
        10_000,
        100_000,
        1 << 17,
        1_000_000,
        1 << 20,
        1 << 28,
    ] {
        let shards = Cache::<u64, u64>::new(capacity).shards();
        assert_eq!(
            shards,
            expected_unweighted_shards(capacity),
            "capacity {capacity}"
        );
        let built: Cache<u64, u64> = Cache::builder().capacity(capacity).build();
        assert_eq!(built.shards(), shards, "capacity {capacity}");
        assert!(
            shards == 1 || capacity / shards as u64 >= min,
            "capacity {capacity}: {shards} shards leave less than {min} per shard"
        );
    }
    for capacity in [
        0u64,
        1,
        64,
        127,
        128,
        1000,
        1023,
        1024,
        1025,
        3 * min,
        4 * min - 1,
        4 * min,
        1 << 17,
        1 << 20,
        1 << 30,
        1 << 40,
        u64::MAX,
    ] {
        let shards = default_shards(capacity);
        assert_eq!(
            shards,
            expected_default_shards(capacity),
            "capacity {capacity}"
        );
        assert!(shards.is_power_of_two(), "capacity {capacity}");
        assert!(
            shards == 1 || capacity / shards as u64 >= min,
            "capacity {capacity}: {shards} shards leave less than {min} per shard"
        );
    }
}

#[test]
fn cache_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Cache<String, Arc<Vec<u8>>>>();
    assert_send_sync::<Cache<u64, u64, std::collections::hash_map::RandomState>>();
}

/// A value whose drop panics once armed.
#[derive(Clone)]
struct PanicOnDrop(Arc<AtomicBool>);

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        if self.0.swap(false, Ordering::SeqCst) {
            panic!("drop panicked");
        }
    }
}

/// A completed load whose store evicts a value with a panicking `Drop`: the
/// panic reaches the caller (it happened in its call), but the load did not
/// fail: its value is stored and counted as a load, not a failure.
#[test]
fn a_panicking_drop_after_a_load_is_not_a_failed_load() {
    let armed = Arc::new(AtomicBool::new(false));
    let cache: Cache<u64, PanicOnDrop> = Cache::builder().capacity(1).shards(1).build();
    cache.insert(1, PanicOnDrop(armed.clone()));
    armed.store(true, Ordering::SeqCst);
    // Loading key 2 evicts key 1, whose drop (after unlocking) panics.
    let result = catch_unwind(AssertUnwindSafe(|| {
        cache.get_or_insert_with(2, || PanicOnDrop(Arc::new(AtomicBool::new(false))))
    }));
    assert!(result.is_err(), "the drop's panic reaches the caller");
    assert!(
        !armed.load(Ordering::SeqCst),
        "the evicted value was dropped"
    );
    let stats = cache.stats();
    assert_eq!((stats.loads, stats.load_failures), (1, 0), "{stats:?}");
    assert!(cache.contains_key(&2), "the loaded value was stored");
    assert_eq!(cache.loads_in_flight(), 0);
    cache.check_invariants();
}

/// A key whose drop, once armed, checks from another thread (with a time
/// limit) that its cache is not locked.
#[derive(Clone)]
struct ProbeKey {
    id: u64,
    cache: std::sync::Weak<Cache<ProbeKey, u64>>,
    armed: Arc<AtomicBool>,
    blocked: Arc<AtomicUsize>,
}

impl PartialEq for ProbeKey {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl Eq for ProbeKey {}

impl Hash for ProbeKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.id.hash(state);
    }
}

impl Drop for ProbeKey {
    fn drop(&mut self) {
        if !self.armed.swap(false, Ordering::SeqCst) {
            return;
        }
        count_if_locked(&self.cache, &self.blocked);
    }
}

/// The key a loading call is given but does not store (a hit, or a
/// recursive load) is dropped after the shard lock is released.
#[test]
fn a_loading_calls_unused_key_drops_outside_the_lock() {
    let armed = Arc::new(AtomicBool::new(false));
    let blocked = Arc::new(AtomicUsize::new(0));
    let cache: Arc<Cache<ProbeKey, u64>> = Arc::new(Cache::builder().capacity(4).shards(1).build());
    let key = |id| ProbeKey {
        id,
        cache: Arc::downgrade(&cache),
        armed: armed.clone(),
        blocked: blocked.clone(),
    };
    cache.insert(key(1), 10);
    // A hit: the call's own key is not stored and is dropped.
    let probe = key(1);
    armed.store(true, Ordering::SeqCst);
    assert_eq!(cache.get_or_insert_with(probe, || unreachable!()), 10);
    assert!(!armed.load(Ordering::SeqCst), "the key was dropped");
    // A recursive load: the inner call's key is dropped before its panic.
    let outer = key(2);
    let inner = key(2);
    let result = catch_unwind(AssertUnwindSafe(|| {
        cache.get_or_insert_with(outer, || {
            armed.store(true, Ordering::SeqCst);
            cache.get_or_insert_with(inner, || 0)
        })
    }));
    assert!(result.is_err());
    assert!(!armed.load(Ordering::SeqCst), "the inner key was dropped");
    assert_eq!(
        blocked.load(Ordering::SeqCst),
        0,
        "a key was dropped under the shard lock"
    );
    cache.check_invariants();
}
