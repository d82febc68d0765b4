//! Eviction policy: every decision about which entry stays and which goes
//! is made here, on top of the shard's [`Arena`].
//!
//! The shard tells the policy what happened (an access, a hit, an insertion,
//! a removal) and asks it for the next victim while it is over budget; the
//! policy moves nodes between the arena's segments. All of it runs under the
//! shard lock, on that shard's entries only. LRU lives in `lru.rs`,
//! W-TinyLFU in `tinylfu.rs` (with its sketch and window tuner).
//!
//! The one piece shared by the shards of a W-TinyLFU cache, the window
//! [`Tuner`], is reached only from here, through a shard's [`PolicyState`]:
//! it has its own lock, taken only for sampled keys and only when it is
//! free (a busy tuner drops the sample rather than make anyone wait).

mod lru;
mod sketch;
mod tinylfu;
mod tuner;

use lru::Lru;
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
    /// from shadow caches). Resists scans and loops; `docs/policy.md` has
    /// its hit ratios against LRU and the peers on recorded traces.
    ///
    /// Cost: the shadow caches replay a sample of the keys that is larger,
    /// relative to the traffic, the smaller the cache (every key below 128
    /// entries), so on caches of a few hundred entries W-TinyLFU does
    /// several times LRU's work per operation, and about the same from
    /// 10,000 entries up. For a small, very hot cache, prefer LRU unless
    /// the hit ratio pays for it. Memory beyond LRU's: the
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
    /// The tuner's decision, read by every shard on every write.
    fraction: AtomicU32,
    /// The tuner's `sample_limit()` (fixed for the tuner's life).
    sample_limit: AtomicU64,
    /// The cache capacity the tuner is sized for.
    capacity: AtomicU64,
}

impl Shared {
    fn new(capacity: u64) -> Arc<Self> {
        let tuner = Tuner::new(capacity);
        Arc::new(Shared {
            fraction: AtomicU32::new(tuner.fraction()),
            sample_limit: AtomicU64::new(tuner.sample_limit()),
            capacity: AtomicU64::new(capacity),
            tuner: CachePadded::new(Mutex::new(tuner)),
        })
    }

    /// Starts tuning afresh if the cache's capacity changed. Every shard
    /// calls it on a resize; the first one resets the tuner, the others
    /// find it sized already.
    fn resize(&self, capacity: u64) {
        let mut tuner = self.tuner.lock();
        if self.capacity.load(Ordering::Relaxed) == capacity {
            return;
        }
        *tuner = Tuner::new(capacity);
        self.capacity.store(capacity, Ordering::Relaxed);
        self.sample_limit
            .store(tuner.sample_limit(), Ordering::Relaxed);
        self.fraction.store(tuner.fraction(), Ordering::Relaxed);
    }

    /// Runs `f` on the tuner if `hash` is sampled and the tuner is free.
    /// Never waits: the caller holds a shard lock, and a thread descheduled
    /// while it holds the tuner would otherwise stall every shard behind it
    /// (W-TinyLFU read-through at 8 threads on 2 cores fell to 0.4× of LRU
    /// when it waited). A sample dropped under contention only thins the
    /// tuner's random sample.
    #[inline]
    fn sample(&self, hash: u64, f: impl FnOnce(&mut Tuner)) {
        if Tuner::sampled(self.sample_limit.load(Ordering::Relaxed), hash) {
            if let Some(mut tuner) = self.tuner.try_lock() {
                f(&mut tuner);
            }
        }
    }

    /// Feeds a looked-up key to the tuner and publishes its decision
    /// (written only when it changes: every shard reads it). The shards
    /// apply it on their next write.
    #[inline]
    fn on_lookup(&self, hash: u64) {
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
    Lru(Lru),
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
    /// The policy states of a cache's shards, one per budget (the shards'
    /// shares of `capacity`). A cache of more than one shard promotes
    /// lazily; W-TinyLFU shards share one window tuner.
    pub(crate) fn for_shards(policy: Policy, capacity: u64, budgets: &[u64]) -> Vec<Self> {
        let shards = budgets.len();
        let lazy = shards > 1;
        let shared = (policy == Policy::TinyLfu).then(|| Shared::new(capacity.max(1)));
        budgets
            .iter()
            .map(|&budget| match policy {
                Policy::Lru => PolicyState::Lru(Lru { lazy }),
                Policy::TinyLfu => PolicyState::TinyLfu {
                    lfu: Box::new(TinyLfu::for_shard(
                        budget,
                        shards as u64,
                        tuner::INITIAL_FRACTION,
                    )),
                    shared: shared.clone(),
                    lazy,
                },
            })
            .collect()
    }

    /// The segment a new entry enters.
    #[inline]
    pub(crate) fn entry_segment(&self) -> Segment {
        match self {
            PolicyState::Lru(_) => Segment::Main,
            PolicyState::TinyLfu { .. } => Segment::Window,
        }
    }

    /// A write-locked lookup of `hash` is about to happen: W-TinyLFU feeds
    /// sampled keys to the tuner and applies its latest window decision.
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

    /// A lookup of `hash` under the shard's read lock: W-TinyLFU feeds
    /// sampled keys to the tuner (the decision is applied on the shard's
    /// next write).
    #[inline]
    pub(crate) fn on_shared_lookup(&self, hash: u64) {
        if let PolicyState::TinyLfu {
            shared: Some(shared),
            ..
        } = self
        {
            shared.on_lookup(hash);
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
            PolicyState::Lru(lru) => lru.on_hit(arena, index),
            PolicyState::TinyLfu { lazy: true, .. } => arena.mark(index),
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
        match self {
            PolicyState::Lru(lru) => lru.lazy,
            PolicyState::TinyLfu { lazy, .. } => *lazy,
        }
    }

    /// Whether the shard makes room before linking a new entry in (LRU:
    /// the newcomer is never a candidate) or after (W-TinyLFU: the newcomer
    /// may lose admission).
    #[inline]
    pub(crate) fn makes_room_first(&self) -> bool {
        matches!(self, PolicyState::Lru(_))
    }

    /// The entry to evict next to make room. `None` only when the arena is
    /// empty. `hash_of` hashes a key (W-TinyLFU's duel and its marked
    /// hits need hashes).
    #[inline]
    pub(crate) fn victim<K, V>(
        &mut self,
        arena: &mut Arena<K, V>,
        hash_of: &impl Fn(&K) -> u64,
        w: Weights<'_>,
    ) -> Option<Victim> {
        match self {
            PolicyState::Lru(lru) => lru.victim(arena).map(Victim::unhashed),
            PolicyState::TinyLfu { lfu, .. } => lfu.victim(arena, hash_of, w),
        }
    }

    /// After the evictions of an insertion.
    pub(crate) fn settle<K, V>(&mut self, arena: &mut Arena<K, V>, w: Weights<'_>) {
        if let PolicyState::TinyLfu { lfu, .. } = self {
            lfu.settle(arena, w);
        }
    }

    /// The shard's share of the capacity is now `budget`, the cache's
    /// capacity `capacity`.
    pub(crate) fn set_budget(&mut self, budget: u64, capacity: u64) {
        if let PolicyState::TinyLfu { lfu, shared, .. } = self {
            lfu.set_budget(budget);
            if let Some(shared) = shared {
                shared.resize(capacity.max(1));
            }
        }
    }

    #[cfg(any(test, feature = "test-hooks"))]
    /// W-TinyLFU's published window decision and the tuner's own, per-mille
    /// (tests).
    pub(crate) fn window_decision(&self) -> Option<(u32, u32)> {
        match self {
            PolicyState::TinyLfu {
                shared: Some(shared),
                ..
            } => {
                let tuner = shared.tuner.lock();
                Some((shared.fraction.load(Ordering::Relaxed), tuner.fraction()))
            }
            _ => None,
        }
    }

    #[cfg(any(test, feature = "test-hooks"))]
    /// Heap bytes of policy state beyond the arena (the sketch).
    pub(crate) fn heap_bytes(&self) -> usize {
        match self {
            PolicyState::Lru(_) => 0,
            PolicyState::TinyLfu { lfu, .. } => lfu.sketch_bytes(),
        }
    }

    #[cfg(any(test, feature = "test-hooks"))]
    /// Checks the policy's bookkeeping against the arena (tests).
    pub(crate) fn validate<K, V>(&self, arena: &Arena<K, V>, w: Weights<'_>) {
        if let PolicyState::TinyLfu { lfu, .. } = self {
            lfu.validate(arena, w);
        }
    }
}
