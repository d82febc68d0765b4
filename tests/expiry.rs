//! Expiry and the removal listener: unit checks of each rule, a
//! model-based test against a reference map with deadlines (random
//! operations and clock advances, every listener event checked), and a
//! multi-threaded stress test with drop counting.
#![cfg(not(shardcache_loom))]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use shardcache::{BuildError, Cache, Clock, Expiry, Policy, RemovalCause};

#[path = "support/rng.rs"]
mod rng;
use rng::Rng;

/// A test clock: a fixed start plus an offset in nanoseconds.
#[derive(Clone)]
struct TestClock(Instant, Arc<AtomicU64>);

impl TestClock {
    fn new() -> Self {
        TestClock(Instant::now(), Arc::new(AtomicU64::new(0)))
    }
    fn advance(&self, by: Duration) {
        self.1.fetch_add(by.as_nanos() as u64, Ordering::SeqCst);
    }
    fn nanos(&self) -> u64 {
        self.1.load(Ordering::SeqCst)
    }
}

impl Clock for TestClock {
    fn now(&self) -> Instant {
        self.0 + Duration::from_nanos(self.1.load(Ordering::SeqCst))
    }
}

type Events<K, V> = Arc<Mutex<Vec<(K, V, RemovalCause)>>>;

fn recorder<K: Clone + Send + 'static, V: Clone + Send + 'static>() -> (
    Events<K, V>,
    impl Fn(&K, &V, RemovalCause) + Send + Sync + 'static,
) {
    let events: Events<K, V> = Arc::default();
    let log = events.clone();
    (events, move |k: &K, v: &V, cause| {
        log.lock().unwrap().push((k.clone(), v.clone(), cause))
    })
}

const SEC: Duration = Duration::from_secs(1);

#[test]
fn time_to_live_hides_then_reclaims() {
    let clock = TestClock::new();
    let (events, listener) = recorder();
    let cache: Cache<u64, u64> = Cache::builder()
        .capacity(100)
        .time_to_live(10 * SEC)
        .clock(clock.clone())
        .removal_listener(listener)
        .build();
    cache.insert(1, 10);
    clock.advance(9 * SEC);
    assert_eq!(cache.get(&1), Some(10));
    clock.advance(SEC);
    assert_eq!(cache.get(&1), None, "expired at exactly its deadline");
    assert_eq!(cache.peek(&1), None);
    assert!(!cache.contains_key(&1));
    assert_eq!(cache.iter().count(), 0);
    let stats = cache.stats();
    assert_eq!((stats.hits, stats.misses), (1, 1));
    cache.cleanup();
    assert_eq!(cache.len(), 0);
    assert_eq!(
        *events.lock().unwrap(),
        vec![(1, 10, RemovalCause::Expired)]
    );
    assert_eq!(cache.stats().expirations, 1);
    assert_eq!(cache.stats().evictions, 0);
    cache.check_invariants();
}

#[test]
fn writes_reclaim_without_cleanup() {
    let clock = TestClock::new();
    let (events, listener) = recorder();
    let cache: Cache<u64, u64> = Cache::builder()
        .capacity(10_000)
        .shards(4)
        .time_to_live(SEC)
        .clock(clock.clone())
        .removal_listener(listener)
        .build();
    for i in 0..1000 {
        cache.insert(i, i);
    }
    clock.advance(3 * SEC);
    // Bounded work per write: enough writes reclaim everything.
    for i in 1000..1200 {
        cache.insert(i, i);
    }
    cache.check_invariants();
    assert_eq!(cache.len(), 200);
    assert_eq!(events.lock().unwrap().len(), 1000);
    assert!(events
        .lock()
        .unwrap()
        .iter()
        .all(|e| e.2 == RemovalCause::Expired));
}

#[test]
fn time_to_idle_is_extended_by_reads_but_not_peeks() {
    let clock = TestClock::new();
    let cache: Cache<u64, u64> = Cache::builder()
        .capacity(100)
        .shards(2)
        .time_to_idle(10 * SEC)
        .clock(clock.clone())
        .build();
    cache.insert(1, 1);
    cache.insert(2, 2);
    for _ in 0..5 {
        clock.advance(6 * SEC);
        assert_eq!(cache.get(&1), Some(1));
        assert_eq!(
            cache.peek(&2).is_some(),
            clock.nanos() < 10 * SEC.as_nanos() as u64
        );
    }
    clock.advance(10 * SEC);
    assert_eq!(cache.get(&1), None);
    cache.cleanup();
    assert!(cache.is_empty());
    cache.check_invariants();
}

#[test]
fn time_to_live_caps_time_to_idle() {
    let clock = TestClock::new();
    let cache: Cache<u64, u64> = Cache::builder()
        .capacity(100)
        .shards(1)
        .time_to_live(10 * SEC)
        .time_to_idle(4 * SEC)
        .clock(clock.clone())
        .build();
    cache.insert(1, 1);
    for _ in 0..3 {
        clock.advance(3 * SEC);
        assert_eq!(cache.get(&1), Some(1));
    }
    clock.advance(SEC); // 10 s after the write
    assert_eq!(cache.get(&1), None);
}

struct ByValue;

impl Expiry<u64, u64> for ByValue {
    fn expire_after_create(&self, _: &u64, value: &u64, _: Instant) -> Option<Duration> {
        (*value != 0).then(|| Duration::from_secs(*value))
    }
    fn expire_after_update(
        &self,
        k: &u64,
        v: &u64,
        now: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        self.expire_after_create(k, v, now)
    }
}

#[test]
fn an_expiry_gives_each_entry_its_lifetime() {
    let clock = TestClock::new();
    let cache: Cache<u64, u64> = Cache::builder()
        .capacity(100)
        .expiry(ByValue)
        .clock(clock.clone())
        .build();
    cache.insert(1, 1);
    cache.insert(5, 5);
    cache.insert(0, 0); // never expires
                        // A loader's value decides its own lifetime.
    assert_eq!(cache.get_or_insert_with(3, || 3), 3);
    clock.advance(2 * SEC);
    assert_eq!(cache.get(&1), None);
    assert_eq!(cache.get(&3), Some(3));
    clock.advance(2 * SEC);
    assert_eq!(cache.get(&3), None);
    assert_eq!(cache.get(&5), Some(5));
    cache.insert(5, 100); // an update re-times it
    clock.advance(10 * SEC);
    assert_eq!(cache.get(&5), Some(100));
    clock.advance(Duration::from_secs(1_000_000));
    assert_eq!(cache.get(&0), Some(0));
    cache.cleanup();
    assert_eq!(cache.len(), 1);
    cache.check_invariants();
}

#[test]
fn insert_with_ttl_works_on_a_cache_built_without_expiry() {
    let cache: Cache<u64, u64> = Cache::builder().capacity(100).shards(2).build();
    cache.insert(1, 1);
    cache.insert_with_ttl(2, 2, Duration::from_millis(1));
    assert_eq!(cache.get(&1), Some(1));
    std::thread::sleep(Duration::from_millis(30));
    assert_eq!(cache.get(&2), None);
    cache.cleanup();
    assert_eq!(cache.len(), 1);
    assert_eq!(cache.stats().expirations, 1);
    cache.check_invariants();
}

#[test]
fn zero_durations_are_build_errors_naming_the_field() {
    let ttl = Cache::<u64, u64>::builder()
        .capacity(1)
        .time_to_live(Duration::ZERO)
        .try_build()
        .unwrap_err();
    assert_eq!(ttl, BuildError::ZeroTimeToLive);
    assert!(ttl.to_string().contains("`time_to_live`"));
    let tti = Cache::<u64, u64>::builder()
        .capacity(1)
        .time_to_idle(Duration::ZERO)
        .try_build()
        .unwrap_err();
    assert!(tti.to_string().contains("`time_to_idle`"));
}

#[test]
fn listener_hears_each_cause() {
    let clock = TestClock::new();
    let (events, listener) = recorder();
    let cache: Cache<u64, u64> = Cache::builder()
        .capacity(2)
        .shards(1)
        .time_to_live(10 * SEC)
        .clock(clock.clone())
        .weigher(|_, v: &u64| if *v >= 1000 { 3 } else { 1 })
        .removal_listener(listener)
        .build();
    cache.insert(1, 1);
    assert_eq!(cache.insert(1, 2), Some(1)); // Replaced
    cache.insert(2, 2);
    cache.insert(3, 3); // evicts 1: Size
    assert_eq!(cache.remove(&2), Some(2)); // Explicit
    clock.advance(10 * SEC);
    assert_eq!(cache.insert(3, 4), None); // over an expired entry: Expired
    cache.insert(9, 1000); // too heavy: Size, never entered
    cache.clear(); // Explicit
    let heard = events.lock().unwrap().clone();
    assert_eq!(
        heard,
        vec![
            (1, 1, RemovalCause::Replaced),
            (1, 2, RemovalCause::Size),
            (2, 2, RemovalCause::Explicit),
            (3, 3, RemovalCause::Expired),
            (9, 1000, RemovalCause::Size),
            (3, 4, RemovalCause::Explicit),
        ]
    );
    // Dropping the cache reports nothing: its entries go with it.
    cache.insert(5, 5);
    drop(cache);
    assert_eq!(events.lock().unwrap().len(), 6);
}

#[test]
fn listener_may_call_into_the_cache_for_the_same_key() {
    let cache: Arc<Cache<u64, u64>> = Arc::new_cyclic(|weak: &std::sync::Weak<Cache<u64, u64>>| {
        let weak = weak.clone();
        Cache::builder()
            .capacity(1)
            .shards(1)
            .removal_listener(move |k: &u64, v: &u64, cause| {
                if let Some(cache) = weak.upgrade() {
                    if cause == RemovalCause::Explicit && *v < 3 {
                        // Re-insert the same key, and read it.
                        cache.insert(*k, v + 1);
                        let _ = cache.get(k);
                    }
                }
            })
            .build()
    });
    cache.insert(1, 0);
    assert_eq!(cache.remove(&1), Some(0));
    assert_eq!(cache.get(&1), Some(1));
    cache.remove(&1);
    cache.remove(&1);
    assert_eq!(cache.get(&1), Some(3));
    cache.check_invariants();
}

/// Counts drops of its values (and, through `CREATED`, its clones).
#[derive(Debug)]
struct Counted(u64, Arc<AtomicUsize>);

static CLONES: AtomicUsize = AtomicUsize::new(0);

impl Clone for Counted {
    fn clone(&self) -> Self {
        CLONES.fetch_add(1, Ordering::SeqCst);
        Counted(self.0, self.1.clone())
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.1.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn a_panicking_listener_still_lets_every_entry_be_reported_and_dropped() {
    let drops = Arc::new(AtomicUsize::new(0));
    let heard = Arc::new(AtomicUsize::new(0));
    let h = heard.clone();
    let cache: Cache<u64, Counted> = Cache::builder()
        .capacity(10)
        .shards(1)
        .removal_listener(move |k: &u64, _: &Counted, _| {
            h.fetch_add(1, Ordering::SeqCst);
            if k % 2 == 0 {
                panic!("listener panics on even keys");
            }
        })
        .build();
    for i in 0..10 {
        cache.insert(i, Counted(i, drops.clone()));
    }
    let created = 10;
    let cleared = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cache.clear()));
    assert!(cleared.is_err(), "the first panic is resumed");
    assert_eq!(heard.load(Ordering::SeqCst), 10, "every entry reported");
    assert_eq!(
        drops.load(Ordering::SeqCst),
        created,
        "every value dropped once"
    );
    // The cache still works.
    cache.insert(1, Counted(1, drops.clone()));
    assert_eq!(cache.get(&1).map(|c| c.0), Some(1));
    cache.check_invariants();
    // A panic on a replace: the old value is still dropped once.
    let replaced = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        cache.insert(2, Counted(2, drops.clone()));
        cache.insert(2, Counted(2, drops.clone()))
    }));
    assert!(replaced.is_err());
    drop(cache);
    // 10 + 1 + 2 values were created, plus the clone `get` returned.
    assert_eq!(drops.load(Ordering::SeqCst), 14);
}

#[test]
fn a_panicking_expiry_leaves_the_cache_consistent() {
    struct Grumpy;
    impl Expiry<u64, u64> for Grumpy {
        fn expire_after_create(&self, _: &u64, v: &u64, _: Instant) -> Option<Duration> {
            assert!(*v != 13, "unlucky");
            Some(SEC)
        }
        fn expire_after_read(
            &self,
            _: &u64,
            v: &u64,
            _: Instant,
            _: Option<Duration>,
        ) -> Option<Duration> {
            assert!(*v != 7, "unlucky read");
            Some(SEC)
        }
    }
    for shards in [1, 2] {
        let cache: Cache<u64, u64> = Cache::builder()
            .capacity(10)
            .shards(shards)
            .expiry(Grumpy)
            .build();
        cache.insert(1, 1);
        let bad = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cache.insert(2, 13)));
        assert!(bad.is_err());
        cache.insert(3, 7);
        let bad = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cache.get(&3)));
        assert!(bad.is_err());
        cache.check_invariants();
        assert_eq!(cache.get(&1), Some(1));
        assert_eq!(cache.len(), 2);
    }
}

#[test]
fn a_herd_on_an_expired_key_runs_one_load() {
    let clock = TestClock::new();
    let cache: Arc<Cache<u64, u64>> = Arc::new(
        Cache::builder()
            .capacity(100)
            .shards(2)
            .time_to_live(SEC)
            .clock(clock.clone())
            .build(),
    );
    cache.get_or_insert_with(1, || 1);
    clock.advance(2 * SEC);
    let loads = Arc::new(AtomicUsize::new(0));
    let barrier = Arc::new(std::sync::Barrier::new(8));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (cache, loads, barrier) = (cache.clone(), loads.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                cache.get_or_insert_with(1, || {
                    loads.fetch_add(1, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(50));
                    2
                })
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), 2, "no stale value");
    }
    assert_eq!(loads.load(Ordering::SeqCst), 1);
    assert_eq!(cache.stats().loads, 2);
}

const NEVER: u64 = u64::MAX;
/// The cache's read slack (1 ms): a read moves a deadline only by at
/// least this much.
const SLACK: u64 = 1 << 20;

/// The reference: each key's value, deadline and cap (nanoseconds).
#[derive(Clone, Copy, Debug)]
struct Entry {
    value: u64,
    deadline: u64,
    cap: u64,
}

#[derive(Clone, Copy, Debug)]
enum Op {
    Get(u64),
    Peek(u64),
    Contains(u64),
    Insert(u64, u64),
    InsertTtl(u64, u64, u64),
    Remove(u64),
    Load(u64, u64),
    Clear,
    Cleanup,
    Advance(u64),
}

struct Model {
    ttl: Option<u64>,
    tti: Option<u64>,
    entries: HashMap<u64, Entry>,
}

impl Model {
    fn live(&self, key: u64, now: u64) -> Option<Entry> {
        self.entries.get(&key).copied().filter(|e| e.deadline > now)
    }

    fn write(&mut self, key: u64, value: u64, now: u64, ttl: Option<u64>) {
        let cap = match ttl {
            Some(ttl) => now + ttl,
            None => self.ttl.map_or(NEVER, |t| now + t),
        };
        let deadline = cap.min(self.tti.map_or(NEVER, |t| now + t));
        self.entries.insert(
            key,
            Entry {
                value,
                deadline,
                cap,
            },
        );
    }

    fn read(&mut self, key: u64, now: u64) {
        if let (Some(tti), Some(e)) = (self.tti, self.entries.get_mut(&key)) {
            let new = (now + tti).min(e.cap);
            if new < e.deadline || new - e.deadline >= SLACK {
                e.deadline = new;
            }
        }
    }
}

/// Random operations and clock advances on a cache and the reference;
/// every answer and every listener event is checked. Lifetimes and
/// advances are of milliseconds, or with `wide` of every scale from
/// microseconds to days (every level of the timer wheel), in multiples of
/// `GRAIN + 1` ns.
fn differential(
    seed: u64,
    shards: usize,
    capacity: u64,
    policy: Policy,
    ttl: Option<u64>,
    tti: Option<u64>,
    wide: bool,
) {
    let clock = TestClock::new();
    let (events, listener) = recorder::<u64, u64>();
    let mut builder = Cache::builder()
        .capacity(capacity)
        .shards(shards)
        .policy(policy)
        .clock(clock.clone())
        .removal_listener(listener);
    if let Some(ttl) = ttl {
        builder = builder.time_to_live(Duration::from_nanos(ttl));
    }
    if let Some(tti) = tti {
        builder = builder.time_to_idle(Duration::from_nanos(tti));
    }
    let cache: Cache<u64, u64> = builder.build();
    let mut model = Model {
        ttl,
        tti,
        entries: HashMap::new(),
    };
    let mut rng = Rng(seed);
    let ms = 1_000_000u64;
    let keys = capacity + capacity / 2 + 2;
    let (mut lookups, mut hits) = (0u64, 0u64);
    for step in 0..3000 {
        let key = rng.below(keys);
        let op = match rng.below(100) {
            0..=29 => Op::Get(key),
            30..=34 => Op::Peek(key),
            35..=37 => Op::Contains(key),
            38..=59 => Op::Insert(key, rng.next() % 1000),
            60..=64 if wide => Op::InsertTtl(key, rng.next() % 1000, (rng.span(50) | GRAIN) + 1),
            60..=64 => Op::InsertTtl(key, rng.next() % 1000, (1 + rng.below(40)) * ms),
            65..=71 => Op::Remove(key),
            72..=79 => Op::Load(key, rng.next() % 1000),
            80 => Op::Clear,
            81..=83 => Op::Cleanup,
            _ if wide => Op::Advance(rng.span(46) & !GRAIN),
            _ => Op::Advance(rng.below(12) * ms),
        };
        let now = clock.nanos();
        let pre = model.live(key, now);
        let context = format!("seed {seed}, step {step}, {op:?}, now {now}, pre {pre:?}");
        // Run the operation; check its answer against the pre-state.
        match op {
            Op::Get(k) => {
                lookups += 1;
                hits += u64::from(pre.is_some());
                assert_eq!(cache.get(&k), pre.map(|e| e.value), "{context}");
            }
            Op::Peek(k) => assert_eq!(cache.peek(&k), pre.map(|e| e.value), "{context}"),
            Op::Contains(k) => assert_eq!(cache.contains_key(&k), pre.is_some(), "{context}"),
            Op::Insert(k, v) => {
                assert_eq!(cache.insert(k, v), pre.map(|e| e.value), "{context}")
            }
            Op::InsertTtl(k, v, t) => assert_eq!(
                cache.insert_with_ttl(k, v, Duration::from_nanos(t)),
                pre.map(|e| e.value),
                "{context}"
            ),
            Op::Remove(k) => assert_eq!(cache.remove(&k), pre.map(|e| e.value), "{context}"),
            Op::Load(k, v) => {
                lookups += 1;
                hits += u64::from(pre.is_some());
                let expected = pre.map_or(v, |e| e.value);
                assert_eq!(cache.get_or_insert_with(k, || v), expected, "{context}");
            }
            Op::Clear => cache.clear(),
            Op::Cleanup => cache.cleanup(),
            Op::Advance(by) => clock.advance(Duration::from_nanos(by)),
        }
        // Every event must be legal in the pre-state; apply it.
        let mut replaced = false;
        let mut newcomer_evicted = false;
        for (k, v, cause) in events.lock().unwrap().drain(..) {
            let entry = model.entries.get(&k).copied();
            let context = format!("{context}: event ({k}, {v}, {cause:?}), model {entry:?}");
            let heavy_newcomer = false;
            let newcomer = match op {
                Op::Insert(x, y) | Op::InsertTtl(x, y, _) => x == k && y == v,
                Op::Load(x, y) => x == k && y == v && pre.is_none(),
                _ => false,
            };
            if cause == RemovalCause::Size && newcomer && !newcomer_evicted {
                // W-TinyLFU's admission evicted the entry the operation
                // just stored (after any entry it replaced).
                newcomer_evicted = true;
                continue;
            }
            let entry = entry.unwrap_or_else(|| panic!("an unknown entry: {context}"));
            assert_eq!(entry.value, v, "{context}");
            let live = entry.deadline > now;
            match cause {
                RemovalCause::Expired => assert!(!live, "{context}"),
                RemovalCause::Size => assert!(live && !heavy_newcomer, "{context}"),
                RemovalCause::Replaced => {
                    assert!(live, "{context}");
                    assert!(
                        matches!(op, Op::Insert(x, _) | Op::InsertTtl(x, _, _) if x == k),
                        "{context}"
                    );
                    replaced = true;
                }
                RemovalCause::Explicit => {
                    assert!(
                        matches!(op, Op::Clear) || (matches!(op, Op::Remove(x) if x == k) && live),
                        "{context}"
                    );
                }
                other => panic!("unexpected cause {other:?}: {context}"),
            }
            model.entries.remove(&k);
        }
        // Then apply the operation to the reference.
        match op {
            Op::Get(k) if pre.is_some() => model.read(k, now),
            Op::Insert(k, v) | Op::Load(k, v) if !(matches!(op, Op::Load(..)) && pre.is_some()) => {
                if matches!(op, Op::Insert(..)) {
                    assert_eq!(replaced, pre.is_some(), "a live entry replaced: {context}");
                }
                if !newcomer_evicted {
                    model.write(k, v, now, None)
                }
            }
            Op::Load(k, _) => model.read(k, now),
            Op::InsertTtl(k, v, t) => {
                assert_eq!(replaced, pre.is_some(), "{context}");
                if !newcomer_evicted {
                    model.write(k, v, now, Some(t))
                }
            }
            Op::Remove(k) => assert!(
                !model.entries.contains_key(&k),
                "remove reported: {context}"
            ),
            Op::Clear => assert!(model.entries.is_empty(), "clear reported all: {context}"),
            Op::Cleanup => {
                let now = clock.nanos();
                assert!(
                    model.entries.values().all(|e| e.deadline > now),
                    "cleanup left an expired entry: {context}"
                );
                assert_eq!(cache.len(), model.entries.len(), "{context}");
            }
            _ => {}
        }
        if step % 64 == 0 {
            cache.check_invariants();
            let now = clock.nanos();
            for k in 0..keys {
                assert_eq!(
                    cache.peek(&k),
                    model.live(k, now).map(|e| e.value),
                    "key {k}: {context}"
                );
            }
        }
    }
    cache.check_invariants();
    let stats = cache.stats();
    assert_eq!(stats.hits + stats.misses, lookups);
    assert_eq!(stats.hits, hits);
}

#[test]
fn model_ttl_one_shard_lru() {
    for seed in 1..=6 {
        differential(seed, 1, 16, Policy::Lru, Some(30_000_000), None, false);
    }
}

#[test]
fn model_tti_two_shards_lru() {
    for seed in 11..=16 {
        differential(seed, 2, 16, Policy::Lru, None, Some(20_000_000), false);
    }
}

#[test]
fn model_ttl_and_tti_tinylfu() {
    for seed in 21..=26 {
        differential(
            seed,
            1,
            16,
            Policy::TinyLfu,
            Some(40_000_000),
            Some(15_000_000),
            false,
        );
        differential(
            seed,
            2,
            16,
            Policy::TinyLfu,
            Some(40_000_000),
            Some(15_000_000),
            false,
        );
    }
}

#[test]
fn model_insert_with_ttl_only() {
    for seed in 31..=34 {
        differential(seed, 2, 32, Policy::Lru, None, None, false);
    }
}

/// With `wide`, times are multiples of 2^12 ns: the unit of a compact cap
/// for a `time_to_live` under 2^43 ns (`src/caps.rs`), whose caps, so
/// kept, read back exactly.
const GRAIN: u64 = (1 << 12) - 1;

/// Lifetimes from microseconds to days and advances as varied. With a
/// `time_to_live` alone: the shard's floor (a hit before it skips the
/// entry's deadline) is lowered and raised through every wheel level.
/// One shard looks up under the write lock, two under the read lock; at
/// capacity 100 more entries fall due at once than a write reclaims.
#[test]
fn model_ttl_across_wheel_levels() {
    let hour = 3_600_000_000_000;
    assert_eq!((2 * hour) & GRAIN, 0);
    for seed in 41..=46 {
        differential(seed, 1, 16, Policy::Lru, Some(2 * hour), None, true);
        differential(seed, 1, 100, Policy::Lru, Some(2 * hour), None, true);
        differential(seed, 2, 16, Policy::Lru, Some(2 * hour), None, true);
        differential(seed, 2, 32, Policy::TinyLfu, None, None, true);
        // Caps kept in 4 bytes (`src/caps.rs`), widened by the longest
        // `insert_with_ttl` lifetimes.
        differential(
            seed,
            2,
            16,
            Policy::Lru,
            Some(2 * hour),
            Some(1 << 40),
            true,
        );
    }
}

/// Many threads, short TTLs, a counting listener and counted drops:
/// every value created is dropped exactly once, and every entry that left
/// the cache was reported exactly once.
#[test]
fn stress_short_ttls_lose_nothing_and_drop_once() {
    for policy in [Policy::Lru, Policy::TinyLfu] {
        let created = Arc::new(AtomicUsize::new(0));
        let drops = Arc::new(AtomicUsize::new(0));
        let heard = Arc::new(AtomicUsize::new(0));
        let h = heard.clone();
        let cache: Arc<Cache<u64, Counted>> = Arc::new(
            Cache::builder()
                .capacity(512)
                .shards(4)
                .policy(policy)
                .time_to_live(Duration::from_millis(3))
                .time_to_idle(Duration::from_millis(2))
                .removal_listener(move |_: &u64, _: &Counted, _| {
                    h.fetch_add(1, Ordering::Relaxed);
                })
                .build(),
        );
        let threads: Vec<_> = (0..8u64)
            .map(|t| {
                let (cache, created, drops) = (cache.clone(), created.clone(), drops.clone());
                std::thread::spawn(move || {
                    let mut rng = Rng(t + 1);
                    let start = Instant::now();
                    while start.elapsed() < Duration::from_millis(400) {
                        let key = rng.below(2048);
                        let make = || {
                            created.fetch_add(1, Ordering::Relaxed);
                            Counted(key, drops.clone())
                        };
                        match rng.below(10) {
                            0..=3 => drop(cache.get(&key)),
                            4..=6 => drop(cache.get_or_insert_with(key, make)),
                            7 => drop(cache.insert(key, make())),
                            8 => drop(cache.insert_with_ttl(key, make(), Duration::from_millis(1))),
                            _ => drop(cache.remove(&key)),
                        }
                        if rng.below(500) == 0 {
                            cache.cleanup();
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        cache.check_invariants();
        let left = cache.len();
        let stats = cache.stats();
        assert!(stats.expirations > 0, "{policy:?}: some entries expired");
        assert_eq!(
            heard.load(Ordering::SeqCst) + left,
            stats.inserts as usize,
            "{policy:?}: every entry that entered left once, heard, or is still there"
        );
        drop(Arc::try_unwrap(cache).expect("the last reference"));
        let clones = CLONES.swap(0, Ordering::SeqCst);
        // Other tests clone `Counted` too, but only this one counts drops
        // in `drops`: compare with what this test made, clones included
        // (a lower bound check on clones keeps it exact for the values).
        assert!(drops.load(Ordering::SeqCst) >= created.load(Ordering::SeqCst));
        assert!(drops.load(Ordering::SeqCst) <= created.load(Ordering::SeqCst) + clones);
        assert!(heard.load(Ordering::SeqCst) > 0);
    }
}
