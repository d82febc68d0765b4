//! Statistics: per-shard counters, the striped counters of shared-lock
//! lookups, and the public snapshot.
//!
//! Each shard counts its own events in plain integers, updated only while
//! its write lock is held (which the operation holds anyway), so counting
//! adds no atomic traffic and no contention. Lookups that run under a shard's
//! *read* lock (`get` on caches of several shards, and the first look of a
//! loading call there) cannot write those plain
//! integers; they count in [`ReadCounters`], atomics striped by thread over
//! cache lines of their own, so two threads hitting the same shard do not
//! also fight over a counter's line. [`Cache::stats`](crate::Cache::stats)
//! sums the shards one lock at a time, then the stripes; the sum is
//! therefore not a point-in-time snapshot across shards, but every field is
//! exact for the events each part had seen when it was read.

use std::fmt;
use std::time::Duration;

use crossbeam_utils::CachePadded;

use crate::sync::{thread_number, AtomicU64, Ordering};

/// The counters of one shard. Only read or written with the shard lock held.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Counters {
    pub(crate) hits: u64,
    pub(crate) misses: u64,
    pub(crate) inserts: u64,
    pub(crate) evictions: u64,
    pub(crate) loads: u64,
    pub(crate) load_failures: u64,
    pub(crate) load_panics: u64,
    pub(crate) coalesced: u64,
    pub(crate) load_nanos: u64,
    pub(crate) expirations: u64,
    pub(crate) refreshes: u64,
    pub(crate) stale_served: u64,
}

impl Counters {
    pub(crate) fn add_to(&self, stats: &mut Stats) {
        stats.hits += self.hits;
        stats.misses += self.misses;
        stats.inserts += self.inserts;
        stats.evictions += self.evictions;
        stats.loads += self.loads;
        stats.load_failures += self.load_failures;
        stats.load_panics += self.load_panics;
        stats.coalesced += self.coalesced;
        stats.load_time += Duration::from_nanos(self.load_nanos);
        stats.expirations += self.expirations;
        stats.refreshes += self.refreshes;
        stats.stale_served += self.stale_served;
    }
}

/// Hits and misses of lookups made under a shard's read lock, striped by
/// thread, each stripe on a cache line of its own.
///
/// A thread whose [`thread_number`] is below the stripe count owns the
/// stripe of that number: only it writes there, so it counts with a
/// relaxed load and store. A locked read-modify-write would, on x86, also
/// be a full fence in the middle of every hit (measured: about 5–10% of a
/// single thread's all-hits throughput). Threads beyond the owned stripes
/// (more threads than that using caches at once) share the other stripes
/// and count with atomic adds. Either way every count is exact.
pub(crate) struct ReadCounters {
    /// The stripe of thread number `n` is `owned[n]`, written by that
    /// thread only.
    owned: Box<[CachePadded<Stripe>]>,
    /// The stripes of the other threads, by thread number modulo their
    /// count (a power of two).
    shared: Box<[CachePadded<Stripe>]>,
}

#[derive(Default)]
struct Stripe {
    hits: AtomicU64,
    misses: AtomicU64,
}

impl ReadCounters {
    /// For a cache whose lookups take the read lock (`used`): four owned
    /// stripes per core (a power of two, 8 to 64: services run more threads
    /// than cores), and as many shared ones. Otherwise one shared stripe,
    /// never written, and under loom one shared stripe that every thread
    /// adds to, so that a model's `stats()` stays a few loads.
    pub(crate) fn new(used: bool) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let count = (cores * 4).next_power_of_two().clamp(8, 64);
        let (owned, shared) = if used && !cfg!(shardcache_loom) {
            (count, count)
        } else {
            (0, 1)
        };
        let stripes = |n| (0..n).map(|_| CachePadded::default()).collect();
        ReadCounters {
            owned: stripes(owned),
            shared: stripes(shared),
        }
    }

    /// Adds one to `pick`'s counter in this thread's stripe.
    #[inline]
    fn count(&self, pick: impl Fn(&Stripe) -> &AtomicU64) {
        let number = thread_number();
        if let Some(stripe) = self.owned.get(number) {
            // Only this thread writes this stripe while it lives (no two
            // live threads share a number), so no increment can be lost
            // between the load and the store; readers see one value or the
            // next.
            let counter = pick(stripe);
            counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        } else {
            let stripe = &self.shared[number & (self.shared.len() - 1)];
            pick(stripe).fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts a hit.
    #[inline]
    pub(crate) fn hit(&self) {
        self.count(|s| &s.hits);
    }

    /// Counts a miss.
    #[inline]
    pub(crate) fn miss(&self) {
        self.count(|s| &s.misses);
    }

    /// Adds every stripe's counts to `stats`.
    pub(crate) fn add_to(&self, stats: &mut Stats) {
        for stripe in self.owned.iter().chain(self.shared.iter()) {
            stats.hits += stripe.hits.load(Ordering::Relaxed);
            stats.misses += stripe.misses.load(Ordering::Relaxed);
        }
    }
}

/// A snapshot of a cache's statistics, from [`Cache::stats`](crate::Cache::stats).
///
/// Lookups are the calls that can hit: [`get`](crate::Cache::get) and the
/// `get_or_insert*` family. [`peek`](crate::Cache::peek) and
/// [`contains_key`](crate::Cache::contains_key) are not counted. Every lookup
/// is either a hit or a miss, so `hits + misses` is the number of lookups.
///
/// ```
/// use shardcache::Cache;
///
/// let cache = Cache::new(10);
/// cache.insert("a", 1);
/// assert_eq!(cache.get("a"), Some(1));
/// assert_eq!(cache.get("b"), None);
/// let stats = cache.stats();
/// assert_eq!((stats.hits, stats.misses, stats.inserts), (1, 1, 1));
/// assert_eq!(stats.hit_ratio(), 0.5);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Lookups that found their key.
    pub hits: u64,
    /// Lookups that did not find their key (including callers that then
    /// waited for another caller's load).
    pub misses: u64,
    /// Entries stored by [`insert`](crate::Cache::insert) or by a completed
    /// load, new keys and replacements alike.
    pub inserts: u64,
    /// Entries the policy evicted to stay within capacity (not counting
    /// explicit removals, replacements or [`clear`](crate::Cache::clear)).
    pub evictions: u64,
    /// Loader calls that returned a value (one per coalesced group).
    pub loads: u64,
    /// Loader calls that returned an error or panicked.
    pub load_failures: u64,
    /// Of the `load_failures`, the loads that panicked: in the loader, or
    /// in the value's `Clone` or the weigher while the value was stored.
    /// (`load_failures - load_panics` loader calls returned an error.)
    pub load_panics: u64,
    /// Callers that missed and were served by another caller's load instead
    /// of running their own loader (groupcache's "loads deduped").
    pub coalesced: u64,
    /// Total time spent in loaders that returned a value.
    pub load_time: Duration,
    /// Entries removed because they had expired (by the timer wheel, by
    /// [`cleanup`](crate::Cache::cleanup), or found expired by a lookup or
    /// a write); not counted in `evictions`.
    pub expirations: u64,
    /// Refreshes begun because an entry was past
    /// [`refresh_after`](crate::CacheBuilder::refresh_after) (one per key
    /// at a time; those that complete also count in `loads`).
    pub refreshes: u64,
    /// Stale values served by fail-safe
    /// ([`stale_if_error`](crate::CacheBuilder::stale_if_error)) instead
    /// of an error, or instead of calling a loader within
    /// `fail_safe_retry` of a failure. (Stale values served while a
    /// refresh runs count as hits.)
    pub stale_served: u64,
}

impl Stats {
    /// The number of lookups: `hits + misses`.
    ///
    /// ```
    /// let stats = shardcache::Stats::default();
    /// assert_eq!(stats.lookups(), 0);
    /// ```
    pub fn lookups(&self) -> u64 {
        self.hits + self.misses
    }

    /// `hits / (hits + misses)`, or 0.0 before the first lookup.
    ///
    /// ```
    /// let cache = shardcache::Cache::new(4);
    /// assert_eq!(cache.stats().hit_ratio(), 0.0);
    /// cache.insert(1, "one");
    /// cache.get(&1);
    /// assert_eq!(cache.stats().hit_ratio(), 1.0);
    /// ```
    pub fn hit_ratio(&self) -> f64 {
        match self.lookups() {
            0 => 0.0,
            lookups => self.hits as f64 / lookups as f64,
        }
    }
}

/// The cache's summary in the shape of Python's `functools.lru_cache`
/// `cache_info()`, from [`Cache::cache_info`](crate::Cache::cache_info).
///
/// Its `Display` matches Python's, `CacheInfo(hits=1, misses=2,
/// maxsize=128, currsize=2)`, with the coalesced count added when non-zero.
///
/// ```
/// let cache = shardcache::Cache::new(128);
/// cache.get_or_insert_with(1, || "one");
/// cache.get_or_insert_with(1, || "one");
/// assert_eq!(
///     cache.cache_info().to_string(),
///     "CacheInfo(hits=1, misses=1, maxsize=128, currsize=1)"
/// );
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheInfo {
    /// Lookups that found their key.
    pub hits: u64,
    /// Lookups that did not.
    pub misses: u64,
    /// The capacity (Python's `maxsize`).
    pub capacity: u64,
    /// The number of entries (Python's `currsize`).
    pub size: usize,
    /// Misses served by another caller's concurrent load.
    pub coalesced: u64,
}

impl fmt::Display for CacheInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "CacheInfo(hits={}, misses={}, maxsize={}, currsize={}",
            self.hits, self.misses, self.capacity, self.size
        )?;
        if self.coalesced != 0 {
            write!(f, ", coalesced={}", self.coalesced)?;
        }
        f.write_str(")")
    }
}

#[cfg(all(test, not(shardcache_loom)))]
mod tests {
    use super::*;
    use std::sync::{Arc, Barrier};

    /// Threads alive at the same time never share a number, in waves of
    /// more threads than there are owned stripes, after earlier waves
    /// have given theirs back.
    #[test]
    fn live_threads_have_distinct_numbers() {
        for _wave in 0..3 {
            let threads = 80;
            let barrier = Arc::new(Barrier::new(threads));
            let numbers: Vec<usize> = (0..threads)
                .map(|_| {
                    let barrier = barrier.clone();
                    std::thread::spawn(move || {
                        let number = thread_number();
                        // Hold the number until every thread has one.
                        barrier.wait();
                        number
                    })
                })
                .collect::<Vec<_>>()
                .into_iter()
                .map(|t| t.join().unwrap())
                .collect();
            let distinct: std::collections::HashSet<_> = numbers.iter().collect();
            assert_eq!(distinct.len(), threads, "{numbers:?}");
        }
    }

    /// Counts stay exact whether threads own a stripe or share one: while
    /// holders keep the owned stripes busy, twice as many workers as there
    /// are shared stripes count at once, in two generations.
    #[test]
    fn counts_are_exact_when_threads_share_stripes() {
        let counters = ReadCounters::new(true);
        let (owned, workers, rounds) = (counters.owned.len(), 2 * counters.shared.len(), 1_000_000);
        for _generation in 0..2 {
            let numbered = Barrier::new(owned + 1);
            let release = Barrier::new(owned + 1);
            std::thread::scope(|s| {
                for _ in 0..owned {
                    s.spawn(|| {
                        thread_number();
                        numbered.wait();
                        release.wait();
                    });
                }
                numbered.wait();
                let start = Barrier::new(workers);
                std::thread::scope(|s| {
                    for _ in 0..workers {
                        s.spawn(|| {
                            start.wait();
                            for i in 0..rounds {
                                if i % 4 == 0 {
                                    counters.miss();
                                } else {
                                    counters.hit();
                                }
                            }
                        });
                    }
                });
                release.wait();
            });
        }
        let mut stats = Stats::default();
        counters.add_to(&mut stats);
        let lookups = 2 * workers as u64 * rounds;
        assert_eq!(stats.misses, lookups / 4);
        assert_eq!(stats.hits, lookups - lookups / 4);
    }
}
