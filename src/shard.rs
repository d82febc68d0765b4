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
use crate::expiry::{Expiration, Stamp, Timers};
use crate::flight::Flights;
use crate::index::Index;
use crate::policy::PolicyState;
use crate::refresh::Lookup;
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
    /// Deadlines and the timer wheel, when the cache expires entries
    /// (`expiry.rs`); `None` costs nothing per entry.
    timers: Option<Box<Timers<K, V>>>,
}

/// The most wheel entries a write-locked operation takes off the due list
/// (removing the expired, refiling the others): bounded work per operation.
const MAINTENANCE: usize = 32;

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
            timers: None,
        }
    }

    /// Gives the shard timers (at build time, or on a first
    /// `insert_with_ttl`), sized for the slots it has.
    pub(crate) fn enable_expiry(&mut self, config: &Arc<Expiration<K, V>>) {
        if self.timers.is_none() {
            let mut timers = Timers::new(config.clone());
            timers.reserve(self.arena.slot_capacity());
            self.timers = Some(Box::new(timers));
        }
    }

    /// Whether the shard has expiry work due at `now` (checked under the
    /// read lock by a read that missed).
    #[inline]
    pub(crate) fn has_expiry_work(&self, now: u64) -> bool {
        self.timers.as_ref().is_some_and(|t| t.has_work(now))
    }

    /// Advances the wheel to `now` and takes up to `budget` entries off
    /// its due list: the expired go to `removed`, the others are filed
    /// anew. Every write-locked operation starts with it.
    pub(crate) fn maintain(&mut self, now: u64, budget: usize, removed: &mut Removed<K, V>) {
        let Some(timers) = self.timers.as_deref_mut() else {
            return;
        };
        let mut changed = timers.advance(timers.clamp(now));
        let now = timers.wheel.time();
        for _ in 0..budget {
            let Some(timers) = self.timers.as_deref_mut() else {
                return;
            };
            let Some(index) = timers.peek_due() else {
                break;
            };
            changed = true;
            if !self.arena.is_occupied(index) {
                timers.unfile(index);
            } else if timers.is_reclaimable(index, now) {
                // Hash first: if the user's `Hash` panics, nothing changed.
                let hash = self.hasher.hash_one(self.arena.key(index));
                self.expire_index(hash, index, removed);
            } else {
                timers.reschedule(index);
            }
        }
        if changed {
            if let Some(timers) = self.timers.as_deref_mut() {
                timers.raise_floor();
            }
        }
    }

    /// Removes every entry expired at `now` (`Cache::cleanup`).
    pub(crate) fn cleanup(&mut self, now: u64, removed: &mut Removed<K, V>) {
        let Some(timers) = self.timers.as_deref_mut() else {
            return;
        };
        timers.advance(now);
        timers.all_due();
        self.maintain(now, usize::MAX, removed);
    }

    /// Removes the expired entry at `index`, filed under `hash`.
    fn expire_index(&mut self, hash: u64, index: u32, removed: &mut Removed<K, V>) {
        let (key, value) = self.remove_index(hash, index);
        removed.push(key, value, Cause::Expired);
        self.counters.expirations += 1;
    }

    /// Whether the entry at `index` has expired by the wheel's time (the
    /// current time during a write-locked operation, after `maintain`).
    #[inline]
    fn expired_now(&self, index: u32) -> bool {
        self.timers
            .as_ref()
            .is_some_and(|t| t.is_expired(index, t.wheel.time()))
    }

    /// Whether the entry at `index` has expired at `now` (read lock).
    #[inline]
    fn expired_at(&self, index: u32, now: u64) -> bool {
        self.timers
            .as_ref()
            .is_some_and(|t| t.is_expired(index, t.clamp(now)))
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

    /// [`Shard::find`] on a shard with timers, also reading the entry's
    /// deadline: read inside the probe, beside the key, so that the two
    /// memory accesses (arena node and timing side table) are in flight
    /// at once instead of one after the other (measured: the all-hits
    /// workload with a TTL ran 0.76× the TTL-less cache with the deadline
    /// read after the probe).
    #[inline]
    fn find_timed<Q>(&self, hash: u64, key: &Q, timers: &Timers<K, V>) -> Option<(u32, u64)>
    where
        K: Borrow<Q>,
        Q: ?Sized + Eq,
    {
        let arena = &self.arena;
        let mut deadline = 0;
        let index = self.index.find(hash, |index| {
            deadline = timers.deadline(index);
            arena.key(index).borrow() == key
        })?;
        Some((index, deadline))
    }

    /// Looks a key up for a reader under the write lock: a hit promotes the
    /// entry; the outcome is counted if `count` (a loading call that starts
    /// over was counted on its first pass).
    /// An expired entry is a miss, and is removed (to `removed`), unless
    /// fail-safe keeps it (`refresh.rs`): then it is a miss that hands back
    /// the stale value ([`Lookup::Kept`]). A live entry past
    /// `refresh_after` is a hit, [`Lookup::Stale`].
    #[inline]
    pub(crate) fn lookup<Q>(
        &mut self,
        hash: u64,
        key: &Q,
        count: bool,
        now: u64,
        removed: &mut Removed<K, V>,
    ) -> Lookup<V>
    where
        K: Borrow<Q>,
        Q: ?Sized + Eq,
        V: Clone,
    {
        self.maintain(now, MAINTENANCE, removed);
        self.policy
            .on_lookup(&mut self.arena, hash, self.weights.as_deref());
        // Before the shard's floor a hit needs nothing from the timers
        // (see `Timers::all_live`); past it the deadline is looked at.
        let timers = self
            .timers
            .as_deref()
            .filter(|t| !t.all_live(t.wheel.time()));
        let found = match timers {
            Some(timers) => self.find_timed(hash, key, timers).map(|(index, _)| index),
            None => self.find(hash, key),
        };
        match found {
            Some(index) => {
                let mut stale = false;
                if let Some(timers) = timers {
                    let now = timers.wheel.time();
                    if timers.is_expired(index, now) {
                        self.counters.misses += u64::from(count);
                        if !timers.is_reclaimable(index, now) {
                            let failed = timers.ages.as_ref().is_some_and(|a| a.failed(index, now));
                            let value = self.arena.value(index).clone();
                            return Lookup::Kept { value, failed };
                        }
                        self.expire_index(hash, index, removed);
                        return Lookup::Miss;
                    }
                    stale = timers.ages.as_ref().is_some_and(|a| a.is_stale(index, now));
                    let (key, value) = (self.arena.key(index), self.arena.value(index));
                    timers.on_read(index, key, value, now);
                }
                self.counters.hits += u64::from(count);
                self.policy
                    .on_hit(&mut self.arena, index, hash, self.weights.as_deref());
                let value = self.arena.value(index).clone();
                if stale {
                    Lookup::Stale(value)
                } else {
                    Lookup::Hit(value)
                }
            }
            None => {
                self.counters.misses += u64::from(count);
                Lookup::Miss
            }
        }
    }

    /// [`Shard::lookup`] for a reader that neither refreshes nor falls back
    /// on a kept stale value: a live entry, stale or not.
    #[inline]
    pub(crate) fn get<Q>(
        &mut self,
        hash: u64,
        key: &Q,
        count: bool,
        now: u64,
        removed: &mut Removed<K, V>,
    ) -> Option<V>
    where
        K: Borrow<Q>,
        Q: ?Sized + Eq,
        V: Clone,
    {
        self.lookup(hash, key, count, now, removed).live()
    }

    /// A load of `key` failed at `now`: if fail-safe keeps its expired
    /// entry, remember when, so that loading calls serve the stale value
    /// without a loader for `fail_safe_retry` (`refresh.rs`).
    pub(crate) fn note_failure(&mut self, hash: u64, key: &K, now: u64) {
        let keeps = self.timers.as_ref().is_some_and(|t| t.wheel.grace() > 0);
        if !keeps {
            return;
        }
        let Some(index) = self.find(hash, key) else {
            return;
        };
        if let Some(timers) = self.timers.as_deref_mut() {
            let now = timers.clamp(now);
            if timers.is_expired(index, now) {
                if let Some(ages) = &mut timers.ages {
                    ages.set_failed(index, now);
                }
            }
        }
    }

    /// Looks a key up under the shard's read lock, for a lazily promoting
    /// (multi-shard) shard: a hit marks its node. The caller counts the
    /// outcome (in the cache's striped `ReadCounters`).
    /// An expired entry is a miss (left for a write to remove). The flag
    /// says whether the entry is past `refresh_after` (`refresh.rs`).
    #[inline]
    pub(crate) fn get_shared<Q>(&self, hash: u64, key: &Q, now: u64) -> Option<(V, bool)>
    where
        K: Borrow<Q>,
        Q: ?Sized + Eq,
        V: Clone,
    {
        self.policy.on_shared_lookup(hash);
        if let Some(timers) = self.timers.as_deref() {
            // Before the floor, no entry has expired and a hit needs
            // nothing from the timers (see `Timers::all_live`).
            let time = timers.clamp(now);
            if !timers.all_live(time) {
                return self.get_shared_timed(hash, key, time, timers);
            }
        }
        let arena = &self.arena;
        let mut value = None;
        self.index.find(hash, |index| {
            value = arena.hit_if(index, |k| k.borrow() == key);
            value.is_some()
        });
        value.map(|value| (value.clone(), false))
    }

    /// [`Shard::get_shared`] on a shard with timers, at the shard's time
    /// `time` ([`Timers::clamp`]). Kept out of line, so that the hit path
    /// of a cache without expiry holds fewer registers.
    #[inline(never)]
    fn get_shared_timed<Q>(
        &self,
        hash: u64,
        key: &Q,
        time: u64,
        timers: &Timers<K, V>,
    ) -> Option<(V, bool)>
    where
        K: Borrow<Q>,
        Q: ?Sized + Eq,
        V: Clone,
    {
        let (index, deadline) = self.find_timed(hash, key, timers)?;
        if deadline <= time {
            return None;
        }
        let stale = timers
            .ages
            .as_ref()
            .is_some_and(|a| a.is_stale(index, time));
        let (key, value) = (self.arena.key(index), self.arena.value(index));
        timers.on_read(index, key, value, time);
        self.arena.mark(index);
        Some((value.clone(), stale))
    }

    /// Looks a key up without promoting or counting (an expired entry is
    /// absent).
    #[inline]
    pub(crate) fn peek<Q>(&self, hash: u64, key: &Q, now: u64) -> Option<V>
    where
        K: Borrow<Q>,
        Q: ?Sized + Eq,
        V: Clone,
    {
        self.find(hash, key)
            .filter(|&index| !self.expired_at(index, now))
            .map(|index| self.arena.value(index).clone())
    }

    /// The stored key equal to `key`, if its entry is live and past
    /// `refresh_after` at `now` (to clone it for a refresh, `refresh.rs`).
    pub(crate) fn stale_key<Q>(&self, hash: u64, key: &Q, now: u64) -> Option<&K>
    where
        K: Borrow<Q>,
        Q: ?Sized + Eq,
    {
        let index = self.find(hash, key)?;
        let timers = self.timers.as_deref()?;
        let now = timers.clamp(now);
        let stale = !timers.is_expired(index, now)
            && timers.ages.as_ref().is_some_and(|a| a.is_stale(index, now));
        stale.then(|| self.arena.key(index))
    }

    #[inline]
    pub(crate) fn contains<Q>(&self, hash: u64, key: &Q, now: u64) -> bool
    where
        K: Borrow<Q>,
        Q: ?Sized + Eq,
    {
        self.find(hash, key)
            .is_some_and(|index| !self.expired_at(index, now))
    }

    /// Inserts or replaces an entry of weight `weight` (a write: a load of
    /// the key in progress is superseded). See [`Shard::store`].
    pub(crate) fn insert(
        &mut self,
        hash: u64,
        incoming: &mut Option<(K, V)>,
        weight: u64,
        stamp: Stamp,
        removed: &mut Removed<K, V>,
    ) {
        if let Some((key, _)) = incoming {
            self.flights.supersede(hash, key);
        }
        self.store(hash, incoming, weight, stamp, removed);
    }

    /// Stores the entry in `incoming` (parked there, in the caller's frame,
    /// until it is linked in, so that a panicking `Hash` or `Eq` drops it
    /// after the lock is released), evicting as needed. What it removes
    /// goes to `removed`: evicted entries, and a replaced one (the caller's
    /// key with the old value). With expiry, `stamp` times the write, and
    /// an expired entry of the key is removed (as expired) and replaced by
    /// a new entry.
    pub(crate) fn store(
        &mut self,
        hash: u64,
        incoming: &mut Option<(K, V)>,
        weight: u64,
        stamp: Stamp,
        removed: &mut Removed<K, V>,
    ) {
        self.maintain(stamp.now, MAINTENANCE, removed);
        let Some((key, value)) = incoming.as_ref() else {
            return;
        };
        let mut existing = self.find(hash, key);
        // The new timing first: the `Expiry` is user code, so it runs
        // before anything changes.
        let mut timing = None;
        let mut expired = false;
        if let Some(timers) = self.timers.as_deref() {
            let now = timers.wheel.time();
            expired = existing.is_some_and(|index| timers.is_expired(index, now));
            let old = existing
                .filter(|_| !expired)
                .map(|index| timers.deadline(index));
            timing = Some(timers.config.on_write(key, value, now, old, stamp.ttl));
        }
        if expired {
            if let Some(index) = existing.take() {
                self.expire_index(hash, index, removed);
            }
        }
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
                if let (Some(timers), Some(timing)) = (self.timers.as_deref_mut(), timing) {
                    timers.on_store(index, timing, self.arena.slot_capacity());
                }
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
                if let (Some(timers), Some(timing)) = (self.timers.as_deref_mut(), timing) {
                    timers.on_store(index, timing, self.arena.slot_capacity());
                }
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
            if self.expired_now(victim.index) {
                self.expire_index(hash, victim.index, removed);
                continue;
            }
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
        if let Some(timers) = self.timers.as_deref_mut() {
            timers.on_remove(index);
        }
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
    /// An expired entry is not returned: it goes to `removed`, as expired.
    pub(crate) fn remove<Q>(
        &mut self,
        hash: u64,
        key: &Q,
        now: u64,
        removed: &mut Removed<K, V>,
    ) -> Option<(K, V)>
    where
        K: Borrow<Q>,
        Q: ?Sized + Eq,
    {
        self.flights.supersede(hash, key);
        self.maintain(now, MAINTENANCE, removed);
        let index = self.find(hash, key)?;
        if self.expired_now(index) {
            self.expire_index(hash, index, removed);
            return None;
        }
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
        if let Some(timers) = self.timers.as_deref_mut() {
            timers.clear();
        }
        self.weight = 0;
        self.arena.take_all()
    }

    /// Changes the budget to `budget` (of a cache of `capacity`), evicting
    /// down to it.
    pub(crate) fn set_budget(
        &mut self,
        budget: u64,
        capacity: u64,
        now: u64,
        removed: &mut Removed<K, V>,
    ) {
        self.maintain(now, MAINTENANCE, removed);
        self.budget = budget;
        self.policy.set_budget(budget, capacity);
        self.evict_to(budget, removed);
        self.policy.settle(&mut self.arena, self.weights.as_deref());
    }

    /// Calls `f` on every entry not expired at `now`.
    pub(crate) fn for_each(&self, now: u64, mut f: impl FnMut(u32, &K, &V)) {
        self.arena.for_each(|index, key, value| {
            if !self.expired_at(index, now) {
                f(index, key, value);
            }
        });
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
        if let Some(timers) = &self.timers {
            timers.validate(&occupied);
        }
    }

    /// Heap bytes of the expiry side tables and wheel (tests).
    #[cfg(any(test, feature = "test-hooks"))]
    pub(crate) fn expiry_bytes(&self) -> usize {
        self.timers.as_ref().map_or(0, |t| t.heap_bytes())
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
