//! One shard: its entries (an [`Arena`]), the index over them, its policy,
//! its counters, and the registry of its loads in progress ([`Flights`],
//! whose protocol lives in `flight.rs` and `load.rs`).
//!
//! A `Shard` is changed only through `&mut`, that is with its write lock
//! held (see `cache.rs`); the read lock serves `peek`, `contains` and, on
//! lazily promoting shards, `get_shared`, whose only writes are a node's
//! atomic mark and a sample for W-TinyLFU's tuner (behind its own lock).
//! Its methods never run a loader, never drop an entry (what they remove
//! goes to a [`Removed`] that the caller drops after unlocking) and never
//! block. The user code they may run is the key's `Hash` (through the
//! shard's hasher, to find an evicted or moved entry in the index), its
//! `Eq`, and `V::clone` for a value being read; each happens before the
//! shard is changed or after the change is complete, so a panic there
//! leaves the shard consistent.
//!
//! # Invariants
//! Checked by [`Shard::validate`]:
//! - `index` holds exactly the indices of the arena's occupied slots, each
//!   filed under the hash of its key;
//! - `weight` is the sum of the entries' weights (1 each when unweighted) and
//!   never exceeds `budget` once an operation returns.

use std::borrow::Borrow;
use std::hash::{BuildHasher, Hash};

use crate::arena::{Arena, Drained, MAX_NODES};
use crate::flight::Flights;
use crate::index::Index;
use crate::policy::PolicyState;
use crate::removed::{Cause, Removed};
use crate::stats::Counters;
use crate::sync::Arc;

pub(crate) struct Shard<K, V, S> {
    arena: Arena<K, V>,
    /// Arena indices, filed under their key's hash.
    index: Index,
    policy: PolicyState,
    /// The cache's hasher: the one home of a key's hash inside the shard.
    hasher: Arc<S>,
    /// Entry weights by slot, when the cache has a weigher.
    weights: Option<Vec<u64>>,
    budget: u64,
    weight: u64,
    /// The loads in progress of this shard's keys.
    pub(crate) flights: Flights<K, V>,
    /// Only read or written with the write lock held (lookups under the
    /// read lock count in the cache's `ReadCounters`).
    pub(crate) counters: Counters,
}

impl<K: Eq + Hash, V, S: BuildHasher> Shard<K, V, S> {
    pub(crate) fn new(budget: u64, weighted: bool, policy: PolicyState, hasher: Arc<S>) -> Self {
        Shard {
            arena: Arena::new(),
            index: Index::new(),
            policy,
            hasher,
            weights: weighted.then(Vec::new),
            budget,
            weight: 0,
            flights: Flights::new(),
            counters: Counters::default(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.arena.len()
    }

    pub(crate) fn weight(&self) -> u64 {
        self.weight
    }

    /// Whether lookups may run under the read lock (see
    /// [`Shard::get_shared`]).
    pub(crate) fn reads_shared(&self) -> bool {
        self.policy.reads_shared()
    }

    /// How many slots the arena may ever need: the budget when every entry
    /// weighs 1, else unbounded.
    fn slot_limit(&self) -> usize {
        match self.weights {
            None => usize::try_from(self.budget)
                .unwrap_or(MAX_NODES)
                .min(MAX_NODES),
            Some(_) => MAX_NODES,
        }
    }

    #[inline]
    fn find<Q>(&self, hash: u64, key: &Q) -> Option<u32>
    where
        K: Borrow<Q>,
        Q: ?Sized + Eq,
    {
        let arena = &self.arena;
        self.index
            .find(hash, |index| arena.key(index).borrow() == key)
    }

    /// Looks a key up for a reader under the write lock: a hit promotes the
    /// entry; the outcome is counted if `count` (a loading call that starts
    /// over was counted on its first pass).
    #[inline]
    pub(crate) fn get<Q>(&mut self, hash: u64, key: &Q, count: bool) -> Option<V>
    where
        K: Borrow<Q>,
        Q: ?Sized + Eq,
        V: Clone,
    {
        self.policy
            .on_lookup(&mut self.arena, hash, self.weights.as_deref());
        match self.find(hash, key) {
            Some(index) => {
                self.counters.hits += u64::from(count);
                self.policy
                    .on_hit(&mut self.arena, index, hash, self.weights.as_deref());
                Some(self.arena.value(index).clone())
            }
            None => {
                self.counters.misses += u64::from(count);
                None
            }
        }
    }

    /// Looks a key up under the shard's read lock, for a lazily promoting
    /// (multi-shard) shard: a hit marks its node. The caller counts the
    /// outcome (in the cache's striped `ReadCounters`).
    #[inline]
    pub(crate) fn get_shared<Q>(&self, hash: u64, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: ?Sized + Eq,
        V: Clone,
    {
        self.policy.on_shared_lookup(hash);
        let index = self.find(hash, key)?;
        self.arena.mark(index);
        Some(self.arena.value(index).clone())
    }

    /// Looks a key up without promoting or counting.
    #[inline]
    pub(crate) fn peek<Q>(&self, hash: u64, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: ?Sized + Eq,
        V: Clone,
    {
        self.find(hash, key)
            .map(|index| self.arena.value(index).clone())
    }

    #[inline]
    pub(crate) fn contains<Q>(&self, hash: u64, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: ?Sized + Eq,
    {
        self.find(hash, key).is_some()
    }

    /// Inserts or replaces an entry of weight `weight` (a write: a load of
    /// the key in progress is superseded). See [`Shard::store`].
    pub(crate) fn insert(
        &mut self,
        hash: u64,
        incoming: &mut Option<(K, V)>,
        weight: u64,
        removed: &mut Removed<K, V>,
    ) {
        if let Some((key, _)) = incoming {
            self.flights.supersede(hash, key);
        }
        self.store(hash, incoming, weight, removed);
    }

    /// Stores the entry in `incoming` (parked there, in the caller's frame,
    /// until it is linked in, so that a panicking `Hash` or `Eq` drops it
    /// after the lock is released), evicting as needed. What it removes
    /// goes to `removed`: evicted entries, and a replaced one (the caller's
    /// key with the old value).
    pub(crate) fn store(
        &mut self,
        hash: u64,
        incoming: &mut Option<(K, V)>,
        weight: u64,
        removed: &mut Removed<K, V>,
    ) {
        let Some((key, _)) = incoming.as_ref() else {
            return;
        };
        let existing = self.find(hash, key);
        if weight > self.budget {
            // Heavier than the whole shard: not stored, evicts nothing; an
            // older value for the key is stale, so it goes.
            if let Some((key, value)) = incoming.take() {
                removed.push(key, value, Cause::Size);
            }
            if let Some(index) = existing {
                let (key, value) = self.remove_index(hash, index);
                removed.push(key, value, Cause::Replaced);
            }
            return;
        }
        self.counters.inserts += 1;
        self.policy
            .on_store(&mut self.arena, hash, self.weights.as_deref());
        match existing {
            Some(index) => {
                let Some((key, value)) = incoming.take() else {
                    return;
                };
                let old = std::mem::replace(self.arena.value_mut(index), value);
                removed.push(key, old, Cause::Replaced);
                if let Some(weights) = &mut self.weights {
                    let old = std::mem::replace(&mut weights[index as usize], weight);
                    self.weight = self.weight - old + weight;
                    self.policy
                        .on_reweigh(self.arena.segment(index), old, weight);
                }
                self.policy
                    .on_hit(&mut self.arena, index, hash, self.weights.as_deref());
            }
            None => {
                if self.policy.makes_room_first() {
                    // LRU: room first, so the newcomer is never a candidate.
                    self.evict_to(self.budget - weight, removed);
                }
                if self.index.is_full() {
                    self.grow_index();
                }
                // No user code runs from here until the entry is linked in.
                let Some((key, value)) = incoming.take() else {
                    return;
                };
                let limit = self.slot_limit();
                let index = self
                    .arena
                    .insert(self.policy.entry_segment(), key, value, limit);
                self.index.insert(hash, index);
                self.weight += weight;
                if let Some(weights) = &mut self.weights {
                    if weights.len() <= index as usize {
                        weights.resize(index as usize + 1, 0);
                    }
                    weights[index as usize] = weight;
                }
                self.policy.on_insert(hash, weight);
            }
        }
        // W-TinyLFU decides with the newcomer in the window; a weighted
        // update may have grown an entry.
        self.evict_to(self.budget, removed);
        self.policy.settle(&mut self.arena, self.weights.as_deref());
    }

    /// Evicts the policy's victims until the shard weighs at most `target`
    /// (and leaves a slot free when the arena is at its index limit).
    fn evict_to(&mut self, target: u64, removed: &mut Removed<K, V>) {
        while self.weight > target || self.arena.len() >= MAX_NODES {
            let hasher = &*self.hasher;
            let hash_of = |key: &K| hasher.hash_one(key);
            let victim = self
                .policy
                .victim(&mut self.arena, &hash_of, self.weights.as_deref());
            let Some(victim) = victim else {
                break;
            };
            // Hash first (unless the policy did): if the user's `Hash`
            // panics, nothing has changed yet.
            let hash = victim
                .hash
                .unwrap_or_else(|| hash_of(self.arena.key(victim.index)));
            let (key, value) = self.remove_index(hash, victim.index);
            removed.push(key, value, Cause::Size);
            self.counters.evictions += 1;
        }
    }

    /// Removes the entry at `index`, filed under `hash`.
    fn remove_index(&mut self, hash: u64, index: u32) -> (K, V) {
        if !self.index.remove(hash, index) {
            unreachable!("shardcache: entry missing from the index (inconsistent Hash?)");
        }
        let weight = self.weights.as_ref().map_or(1, |w| w[index as usize]);
        self.weight -= weight;
        self.policy.on_remove(self.arena.segment(index), weight);
        self.arena.remove(index)
    }

    /// Rebuilds the index with room to grow: fresh, without hashbrown's
    /// tombstones, sized no larger than the entry budget when every entry
    /// weighs 1. Building a new table (instead of letting hashbrown grow or
    /// rehash in place) keeps the old one intact if a key's `Hash` panics.
    #[cold]
    fn grow_index(&mut self) {
        let len = self.index.len();
        let target = (len * 2).max(16).min(self.slot_limit()).max(len + 1);
        let (arena, hasher) = (&self.arena, &*self.hasher);
        self.index
            .rebuild(target, |i| hasher.hash_one(arena.key(i)));
    }

    /// Removes `key` (a write: a load of it in progress is superseded).
    pub(crate) fn remove<Q>(&mut self, hash: u64, key: &Q) -> Option<(K, V)>
    where
        K: Borrow<Q>,
        Q: ?Sized + Eq,
    {
        self.flights.supersede(hash, key);
        let index = self.find(hash, key)?;
        Some(self.remove_index(hash, index))
    }

    /// Removes every entry and supersedes every load in progress. The
    /// entries come back to be dropped after unlocking.
    pub(crate) fn clear(&mut self) -> Drained<K, V> {
        self.flights.supersede_all();
        self.index.clear();
        self.policy.on_clear();
        if let Some(weights) = &mut self.weights {
            weights.clear();
        }
        self.weight = 0;
        self.arena.take_all()
    }

    /// Changes the budget to `budget` (of a cache of `capacity`), evicting
    /// down to it.
    pub(crate) fn set_budget(&mut self, budget: u64, capacity: u64, removed: &mut Removed<K, V>) {
        self.budget = budget;
        self.policy.set_budget(budget, capacity);
        self.evict_to(budget, removed);
        self.policy.settle(&mut self.arena, self.weights.as_deref());
    }

    pub(crate) fn for_each(&self, f: impl FnMut(u32, &K, &V)) {
        self.arena.for_each(f);
    }

    /// Checks the invariants of the module docs, the arena's, the policy's
    /// and the flight registry's.
    #[cfg(any(test, feature = "test-hooks"))]
    pub(crate) fn validate(&self) {
        let hash_of = |key: &K| self.hasher.hash_one(key);
        let occupied = self.arena.validate();
        assert_eq!(occupied.len(), self.index.len(), "index and arena disagree");
        for &index in &occupied {
            let hash = hash_of(self.arena.key(index));
            assert!(
                self.index.find(hash, |i| i == index).is_some(),
                "entry {index} missing from the index"
            );
        }
        let weight: u64 = match &self.weights {
            Some(weights) => occupied.iter().map(|&i| weights[i as usize]).sum(),
            None => occupied.len() as u64,
        };
        assert_eq!(weight, self.weight, "weight does not add up");
        self.policy.validate(&self.arena, self.weights.as_deref());
        assert!(self.weight <= self.budget, "over budget");
        self.flights.validate(hash_of);
    }

    /// W-TinyLFU's published window decision and the tuner's own (tests).
    #[cfg(any(test, feature = "test-hooks"))]
    pub(crate) fn window_decision(&self) -> Option<(u32, u32)> {
        self.policy.window_decision()
    }

    /// Heap bytes of the policy's own state (the W-TinyLFU sketch).
    #[cfg(any(test, feature = "test-hooks"))]
    pub(crate) fn policy_bytes(&self) -> usize {
        self.policy.heap_bytes()
    }

    /// The keys of each segment, most recent first (tests).
    #[cfg(any(test, feature = "test-hooks"))]
    pub(crate) fn segments(&self) -> [Vec<&K>; 3] {
        let mut lists: [Vec<&K>; 3] = Default::default();
        use crate::arena::Segment;
        for segment in [Segment::Main, Segment::Window, Segment::Protected] {
            let mut at = self.arena.head(segment);
            while let Some(index) = at {
                lists[segment as usize].push(self.arena.key(index));
                at = self.arena.next(index);
            }
        }
        lists
    }
}
