//! Eviction policy: every decision about which entry stays and which goes
//! is made here, on top of the shard's [`Arena`].
//!
//! The shard tells the policy what happened (an access, a hit, an insertion,
//! a removal) and asks it for the next victim while it is over budget; the
//! policy moves nodes between the arena's segments. All of it runs under the
//! shard lock, on that shard's entries only. The one piece shared by the
//! shards of a W-TinyLFU cache, the window [`Tuner`], has its own lock,
//! taken only for sampled keys and only when it is free (a busy tuner
//! drops the sample rather than make anyone wait): under a shard's write
//! lock, or, for a lookup made under a read lock, after that lock is
//! released.

mod sketch;
mod tinylfu;
mod tuner;

use tinylfu::TinyLfu;
pub(crate) use tinylfu::Weights;
use tuner::Tuner;

use crossbeam_utils::CachePadded;

use crate::arena::{Arena, Segment};
use crate::sync::{Arc, AtomicU32, AtomicU64, Mutex, Ordering};

/// Which eviction policy a cache uses; see
/// [`CacheBuilder::policy`](crate::CacheBuilder::policy).
///
/// ```
/// use shardcache::{Cache, Policy};
///
/// let cache: Cache<u64, u64> = Cache::builder().capacity(100).policy(Policy::TinyLfu).build();
/// assert_eq!(cache.capacity(), 100);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Policy {
    /// Exact least-recently-used eviction within each shard (the default).
    /// With one shard the cache evicts exactly as the `lru` crate and
    /// Python's `functools.lru_cache` do.
    #[default]
    Lru,
    /// W-TinyLFU: a small LRU admission window in front of a segmented LRU,
    /// where a frequency sketch decides whether a newcomer may displace an
    /// established entry; the window's size adapts to the workload (sized
    /// from shadow caches). Resists scans and loops, and on the recorded
    /// traces beats LRU by 13 points of hit ratio on average. See
    /// `docs/policy.md`.
    ///
    /// Cost: the shadow caches replay a sample of the keys that is larger,
    /// relative to the traffic, the smaller the cache (every key below 128
    /// entries). Measured in instructions per read-through operation on a
    /// skewed workload, W-TinyLFU costs about 7× LRU at 100 entries, 2.2×
    /// at 1,000 and 1.1× at 10,000. For a small, very hot cache, prefer
    /// LRU unless the hit ratio pays for it. Memory beyond LRU's: the
    /// sketch, 4 to 8 bytes per entry of capacity (a fixed 8 KiB below
    /// 1,024 entries), and the shadow caches (about 18 to 30 KiB at any size).
    TinyLfu,
}

/// The entry a policy chose to evict: its slot, and its key's hash when
/// choosing it took the hash anyway (W-TinyLFU's admission duel), so the
/// shard does not run the key's `Hash` a second time to unfile it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Victim {
    pub(crate) index: u32,
    pub(crate) hash: Option<u64>,
}

impl Victim {
    #[inline]
    pub(crate) fn unhashed(index: u32) -> Self {
        Victim { index, hash: None }
    }

    #[inline]
    pub(crate) fn hashed(index: u32, hash: u64) -> Self {
        Victim {
            index,
            hash: Some(hash),
        }
    }
}

/// What the shards of one W-TinyLFU cache share: the window tuner and its
/// latest decision.
pub(crate) struct Shared {
    /// On a cache line of its own: locking it must not invalidate the line
    /// of `fraction` and `sample_limit`, which every access reads.
    tuner: CachePadded<Mutex<Tuner>>,
    /// The tuner's decision, read by every shard on every access.
    fraction: AtomicU32,
    /// The tuner's `sample_limit()` (fixed for the tuner's life).
    sample_limit: AtomicU64,
}

impl Shared {
    pub(crate) fn new(capacity: u64) -> Arc<Self> {
        let tuner = Tuner::new(capacity);
        Arc::new(Shared {
            fraction: AtomicU32::new(tuner.fraction()),
            sample_limit: AtomicU64::new(tuner.sample_limit()),
            tuner: CachePadded::new(Mutex::new(tuner)),
        })
    }

    /// Starts tuning afresh for a new capacity.
    pub(crate) fn reset(&self, capacity: u64) {
        let mut tuner = self.tuner.lock();
        *tuner = Tuner::new(capacity);
        self.sample_limit
            .store(tuner.sample_limit(), Ordering::Relaxed);
        self.fraction.store(tuner.fraction(), Ordering::Relaxed);
    }

    #[inline]
    fn sampled(&self, hash: u64) -> bool {
        Tuner::sampled(self.sample_limit.load(Ordering::Relaxed), hash)
    }

    /// Runs `f` on the tuner if `hash` is sampled and the tuner is free.
    /// Never waits: the caller may hold a shard lock, and a thread descheduled
    /// while it holds the tuner would otherwise stall every shard behind it
    /// (measured: W-TinyLFU read-through at 8 threads on 2 cores fell to
    /// 0.4× of LRU). A sample dropped under contention only thins the
    /// tuner's random sample.
    #[inline]
    fn sample(&self, hash: u64, f: impl FnOnce(&mut Tuner)) {
        if self.sampled(hash) {
            if let Some(mut tuner) = self.tuner.try_lock() {
                f(&mut tuner);
            }
        }
    }

    /// Feeds a looked-up key to the tuner and publishes its decision
    /// (written only when it changes: every shard reads it). Called under
    /// the shard's write lock, or, for a lookup under a read lock, after
    /// that lock is released (`Cache::note_shared_lookup`); either way the
    /// shards apply the decision on their next write.
    #[inline]
    pub(crate) fn on_lookup(&self, hash: u64) {
        self.sample(hash, |tuner| {
            tuner.on_get(hash);
            let fraction = tuner.fraction();
            if self.fraction.load(Ordering::Relaxed) != fraction {
                self.fraction.store(fraction, Ordering::Relaxed);
            }
        });
    }

    /// Feeds a stored key to the tuner.
    #[inline]
    fn on_store(&self, hash: u64) {
        self.sample(hash, |tuner| tuner.on_insert(hash));
    }
}

/// A shard's policy state.
pub(crate) enum PolicyState {
    /// LRU. `lazy` (caches of more than one shard): a hit only marks its
    /// node, and eviction gives marked nodes at the tail a second chance
    /// (moves them to the head, unmarked) instead of evicting them. That
    /// spares every hit the relinking of its neighbours (two cache misses on
    /// a large shard) at a measured cost of well under a point of hit ratio
    /// (`tests/hit_ratio.rs`). A one-shard cache keeps exact LRU.
    Lru { lazy: bool },
    /// W-TinyLFU. `lazy` (caches of more than one shard), as for LRU: a
    /// hit only marks its node, under the shard's read lock, and the hit is
    /// applied (counted in the sketch, the node promoted) when the node
    /// next reaches the tail of its segment, where the policy looks for a
    /// candidate or a victim. A marked node is never evicted or duelled
    /// with its hit still pending. A one-shard cache applies every hit at
    /// once (exact W-TinyLFU, as the reference model checks).
    TinyLfu {
        lfu: Box<TinyLfu>,
        /// `None` for a cache of capacity 0 (nothing to tune).
        shared: Option<Arc<Shared>>,
        lazy: bool,
    },
}

impl PolicyState {
    pub(crate) fn new(
        policy: Policy,
        budget: u64,
        shards: usize,
        shared: Option<Arc<Shared>>,
    ) -> Self {
        match policy {
            Policy::Lru => PolicyState::Lru { lazy: shards > 1 },
            Policy::TinyLfu => PolicyState::TinyLfu {
                lfu: Box::new(TinyLfu::for_shard(
                    budget,
                    shards as u64,
                    tuner::INITIAL_FRACTION,
                )),
                shared,
                lazy: shards > 1,
            },
        }
    }

    /// The segment a new entry enters.
    #[inline]
    pub(crate) fn entry_segment(&self) -> Segment {
        match self {
            PolicyState::Lru { .. } => Segment::Main,
            PolicyState::TinyLfu { .. } => Segment::Window,
        }
    }

    /// A lookup of `hash` is about to happen: W-TinyLFU feeds sampled keys
    /// to the tuner and applies its latest window decision.
    #[inline]
    pub(crate) fn on_lookup<K, V>(&mut self, arena: &mut Arena<K, V>, hash: u64, w: Weights<'_>) {
        if let PolicyState::TinyLfu {
            lfu,
            shared: Some(shared),
            ..
        } = self
        {
            shared.on_lookup(hash);
            lfu.set_fraction(arena, shared.fraction.load(Ordering::Relaxed), w);
        }
    }

    /// A lookup found the entry at `index`.
    #[inline]
    pub(crate) fn on_hit<K, V>(
        &mut self,
        arena: &mut Arena<K, V>,
        index: u32,
        hash: u64,
        w: Weights<'_>,
    ) {
        match self {
            PolicyState::Lru { lazy: false } => arena.touch(index),
            PolicyState::Lru { lazy: true } | PolicyState::TinyLfu { lazy: true, .. } => {
                arena.mark(index)
            }
            PolicyState::TinyLfu { lfu, .. } => lfu.on_hit(arena, index, hash, w),
        }
    }

    /// An insert or update of `hash` is about to be stored.
    pub(crate) fn on_store<K, V>(&mut self, arena: &mut Arena<K, V>, hash: u64, w: Weights<'_>) {
        if let PolicyState::TinyLfu {
            lfu,
            shared: Some(shared),
            ..
        } = self
        {
            shared.on_store(hash);
            lfu.set_fraction(arena, shared.fraction.load(Ordering::Relaxed), w);
        }
    }

    /// A new entry of `weight` was stored at the head of `entry_segment()`.
    pub(crate) fn on_insert(&mut self, hash: u64, weight: u64) {
        if let PolicyState::TinyLfu { lfu, .. } = self {
            lfu.on_insert(hash, weight);
        }
    }

    /// An entry on `segment` weighing `weight` left the shard.
    pub(crate) fn on_remove(&mut self, segment: Segment, weight: u64) {
        if let PolicyState::TinyLfu { lfu, .. } = self {
            lfu.on_remove(segment, weight);
        }
    }

    /// Every entry left the shard.
    pub(crate) fn on_clear(&mut self) {
        if let PolicyState::TinyLfu { lfu, .. } = self {
            lfu.on_clear();
        }
    }

    /// A resident entry's weight changed.
    pub(crate) fn on_reweigh(&mut self, segment: Segment, old: u64, new: u64) {
        if let PolicyState::TinyLfu { lfu, .. } = self {
            lfu.on_reweigh(segment, old, new);
        }
    }

    /// Whether lookups may run under the shard's read lock: a hit then only
    /// marks its node (lazy LRU and lazy W-TinyLFU).
    #[inline]
    pub(crate) fn reads_shared(&self) -> bool {
        matches!(
            self,
            PolicyState::Lru { lazy: true } | PolicyState::TinyLfu { lazy: true, .. }
        )
    }

    /// Whether the shard makes room before linking a new entry in (LRU:
    /// the newcomer is never a candidate) or after (W-TinyLFU: the newcomer
    /// may lose admission).
    #[inline]
    pub(crate) fn makes_room_first(&self) -> bool {
        matches!(self, PolicyState::Lru { .. })
    }

    /// The entry to evict next to make room. `None` only when the arena is
    /// empty.
    #[inline]
    pub(crate) fn victim<K, V>(
        &mut self,
        arena: &mut Arena<K, V>,
        hash_of: &impl Fn(&K) -> u64,
        w: Weights<'_>,
    ) -> Option<Victim> {
        match self {
            PolicyState::Lru { lazy: false } => arena.tail(Segment::Main).map(Victim::unhashed),
            PolicyState::Lru { lazy: true } => loop {
                // Terminates: each pass unmarks one node, so within `len`
                // passes an unmarked node is at the tail.
                let tail = arena.tail(Segment::Main)?;
                if !arena.take_mark(tail) {
                    break Some(Victim::unhashed(tail));
                }
                arena.touch(tail);
            },
            PolicyState::TinyLfu { lfu, .. } => lfu.victim(arena, hash_of, w),
        }
    }

    /// After the evictions of an insertion.
    pub(crate) fn settle<K, V>(&mut self, arena: &mut Arena<K, V>, w: Weights<'_>) {
        if let PolicyState::TinyLfu { lfu, .. } = self {
            lfu.settle(arena, w);
        }
    }

    pub(crate) fn set_budget(&mut self, budget: u64) {
        if let PolicyState::TinyLfu { lfu, .. } = self {
            lfu.set_budget(budget);
        }
    }

    /// Heap bytes of policy state beyond the arena (the sketch).
    pub(crate) fn heap_bytes(&self) -> usize {
        match self {
            PolicyState::Lru { .. } => 0,
            PolicyState::TinyLfu { lfu, .. } => lfu.sketch_bytes(),
        }
    }

    /// Checks the policy's bookkeeping against the arena (tests).
    pub(crate) fn validate<K, V>(&self, arena: &Arena<K, V>, w: Weights<'_>) {
        if let PolicyState::TinyLfu { lfu, .. } = self {
            lfu.validate(arena, w);
        }
    }
}
