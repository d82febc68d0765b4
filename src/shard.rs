//! One shard: its entries (an [`Arena`]), the index over them, its policy,
//! its in-flight loads and its counters.
//!
//! A `Shard` is changed only through `&mut`, that is with its write lock held
//! (see `cache.rs`); the read lock serves `peek`, `contains` and, on lazily
//! promoting shards, `get_shared`, whose only write is a node's atomic mark.
//! Its methods never run a loader, never drop an entry (the
//! entries they remove come back as [`Garbage`] for the caller to drop after
//! unlocking) and never block. The user code they may run is the key's
//! `Hash` (to find an evicted or moved entry in the index), its `Eq`, and `V::clone`
//! for a value being read; each happens before the shard is changed or
//! after the change is complete, so a panic there leaves the shard
//! consistent.
//!
//! # Invariants
//! - `index` holds exactly the indices of the arena's occupied slots, each
//!   filed under the hash of its key (checked by [`Shard::validate`]);
//! - `weight` is the sum of the entries' weights (1 each when unweighted) and
//!   never exceeds `budget` once an operation returns;
//! - `flights` holds one slot per key with a load in progress, and none of
//!   those keys was in the arena when its load began.

use std::borrow::Borrow;
use std::hash::Hash;

use hashbrown::HashTable;

use crate::arena::{Arena, Drained, Segment, MAX_NODES};
use crate::flight::{Flight, FlightSlot};
use crate::index::Index;
use crate::policy::{Policy, PolicyState, Shared};
use crate::stats::Counters;
use crate::sync::Arc;

/// Entries and values removed under the lock, dropped by the caller after it
/// has released the lock (so user `Drop` code never runs under it). The
/// caller owns it from before it locks, so that if user code panics under
/// the lock (a key's `Hash` or `Eq`), unwinding releases the lock first and
/// drops what was collected, the incoming entry included, after.
pub(crate) struct Garbage<K, V> {
    /// The entry being stored, parked here until it is linked in.
    pending: Option<(K, V)>,
    /// A completed load's value for its waiters, parked likewise.
    shared: Option<V>,
    first: Option<(K, V)>,
    rest: Vec<(K, V)>,
    /// The value an insert replaced (handed back to the caller).
    value: Option<V>,
    key: Option<K>,
    drained: Option<Drained<K, V>>,
}

impl<K, V> Garbage<K, V> {
    pub(crate) fn new() -> Self {
        Garbage {
            pending: None,
            shared: None,
            first: None,
            rest: Vec::new(),
            value: None,
            key: None,
            drained: None,
        }
    }

    /// The entry parked for storing.
    fn pending_entry(&self) -> &(K, V) {
        self.pending
            .as_ref()
            .expect("shardcache: store without an entry")
    }

    /// Takes the entry parked for storing, to link it in.
    fn take_pending(&mut self) -> (K, V) {
        self.pending
            .take()
            .expect("shardcache: store without an entry")
    }

    /// The value an insert replaced, if any.
    pub(crate) fn take_replaced(&mut self) -> Option<V> {
        self.value.take()
    }

    fn push(&mut self, entry: (K, V)) {
        if self.first.is_none() {
            self.first = Some(entry);
        } else {
            self.rest.push(entry);
        }
    }
}

/// The outcome of a lookup that may start or join a load.
pub(crate) enum Step<K, V> {
    /// The key was cached. The caller's key comes back, to be dropped
    /// after unlocking (its `Drop` is user code).
    Hit(V, K),
    /// The caller must run the load; its flight is registered.
    Lead(Arc<Flight<V>>),
    /// Another caller is loading; wait on the flight as waiter `id`. The key
    /// comes back for a retry.
    Wait(Arc<Flight<V>>, u64, K),
    /// The caller's own thread is loading this key: waiting would deadlock.
    /// The key comes back, as for a hit.
    Recursive(K),
}

pub(crate) struct Shard<K, V> {
    arena: Arena<K, V>,
    /// Arena indices, filed under their key's hash.
    index: Index,
    flights: HashTable<FlightSlot<K, V>>,
    policy: PolicyState,
    /// Entry weights by slot, when the cache has a weigher.
    weights: Option<Vec<u64>>,
    budget: u64,
    weight: u64,
    /// Only read or written with the write lock held (lookups under the
    /// read lock count in the cache's `ReadCounters`).
    pub(crate) counters: Counters,
}

impl<K: Eq + Hash, V> Shard<K, V> {
    pub(crate) fn new(
        budget: u64,
        weighted: bool,
        policy: Policy,
        shards: usize,
        shared: Option<Arc<Shared>>,
    ) -> Self {
        Shard {
            arena: Arena::new(),
            index: Index::new(),
            flights: HashTable::new(),
            policy: PolicyState::new(policy, budget, shards, shared),
            weights: weighted.then(Vec::new),
            budget,
            weight: 0,
            counters: Counters::default(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.arena.len()
    }

    /// Whether lookups may run under the read lock (see
    /// [`Shard::get_shared`]).
    pub(crate) fn reads_shared(&self) -> bool {
        self.policy.reads_shared()
    }

    /// The shard's counters (not those of lookups under the read lock).
    pub(crate) fn counters(&self) -> Counters {
        self.counters
    }

    pub(crate) fn weight(&self) -> u64 {
        self.weight
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

    /// Looks a key up for a reader: a hit promotes the entry and counts; a
    /// miss counts.
    #[inline]
    pub(crate) fn get<Q>(&mut self, hash: u64, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: ?Sized + Eq,
        V: Clone,
    {
        self.lookup(hash, key, true)
    }

    /// `get`, counting the outcome only if `count` (a loading call that
    /// starts over was counted on its first pass).
    #[inline]
    fn lookup<Q>(&mut self, hash: u64, key: &Q, count: bool) -> Option<V>
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
    /// outcome (in the cache's striped `ReadCounters`) and, after
    /// unlocking, reports the lookup to W-TinyLFU's tuner
    /// (`Cache::note_shared_lookup`).
    #[inline]
    pub(crate) fn get_shared<Q>(&self, hash: u64, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: ?Sized + Eq,
        V: Clone,
    {
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

    /// Marks an in-flight load of `key` as superseded: a newer write won, so
    /// the load's value must not be stored.
    fn supersede<Q>(&mut self, hash: u64, key: &Q)
    where
        K: Borrow<Q>,
        Q: ?Sized + Eq,
    {
        if self.flights.is_empty() {
            return;
        }
        if let Some(slot) = self.flights.find_mut(hash, |slot| slot.key.borrow() == key) {
            slot.superseded = true;
        }
    }

    /// Inserts or replaces an entry of weight `weight`, evicting as needed;
    /// what it removes goes to `garbage`.
    pub(crate) fn insert(
        &mut self,
        hash: u64,
        key: K,
        value: V,
        weight: u64,
        hash_of: &impl Fn(&K) -> u64,
        garbage: &mut Garbage<K, V>,
    ) {
        let pending = garbage.pending.insert((key, value));
        self.supersede(hash, &pending.0);
        self.store(hash, weight, hash_of, garbage);
    }

    /// Stores the entry parked in `garbage.pending`.
    fn store(
        &mut self,
        hash: u64,
        weight: u64,
        hash_of: &impl Fn(&K) -> u64,
        garbage: &mut Garbage<K, V>,
    ) {
        let existing = self.find(hash, &garbage.pending_entry().0);
        if weight > self.budget {
            let (key, value) = garbage.take_pending();
            // Heavier than the whole shard: not stored, evicts nothing; an
            // older value for the key is stale, so it goes.
            garbage.push((key, value));
            if let Some(index) = existing {
                let (old_key, old_value) = self.remove_index(hash, index);
                garbage.key = Some(old_key);
                garbage.value = Some(old_value);
            }
            return;
        }
        self.counters.inserts += 1;
        self.policy
            .on_store(&mut self.arena, hash, self.weights.as_deref());
        match existing {
            Some(index) => {
                let (key, value) = garbage.take_pending();
                garbage.key = Some(key);
                garbage.value = Some(std::mem::replace(self.arena.value_mut(index), value));
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
                    self.evict_to(self.budget - weight, hash_of, garbage);
                }
                if self.index.is_full() {
                    self.grow_index(hash_of);
                }
                // No user code runs from here until the entry is linked in.
                let (key, value) = garbage.take_pending();
                let index =
                    self.arena
                        .insert(self.policy.entry_segment(), key, value, self.slot_limit());
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
        self.evict_to(self.budget, hash_of, garbage);
        self.policy.settle(&mut self.arena, self.weights.as_deref());
    }

    /// Evicts the policy's victims until the shard weighs at most `target`
    /// (and leaves a slot free when the arena is at its index limit).
    fn evict_to(&mut self, target: u64, hash_of: &impl Fn(&K) -> u64, garbage: &mut Garbage<K, V>) {
        while self.weight > target || self.arena.len() >= MAX_NODES {
            let victim = self
                .policy
                .victim(&mut self.arena, hash_of, self.weights.as_deref());
            let Some(victim) = victim else {
                break;
            };
            // Hash first (unless the policy did): if the user's `Hash`
            // panics, nothing has changed yet.
            let hash = victim
                .hash
                .unwrap_or_else(|| hash_of(self.arena.key(victim.index)));
            garbage.push(self.remove_index(hash, victim.index));
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
    fn grow_index(&mut self, hash_of: &impl Fn(&K) -> u64) {
        let len = self.index.len();
        let target = (len * 2).max(16).min(self.slot_limit()).max(len + 1);
        let arena = &self.arena;
        self.index.rebuild(target, |i| hash_of(arena.key(i)));
    }

    pub(crate) fn remove<Q>(&mut self, hash: u64, key: &Q) -> Option<(K, V)>
    where
        K: Borrow<Q>,
        Q: ?Sized + Eq,
    {
        self.supersede(hash, key);
        let index = self.find(hash, key)?;
        Some(self.remove_index(hash, index))
    }

    /// Removes every entry and supersedes every load in flight.
    pub(crate) fn clear(&mut self) -> Garbage<K, V> {
        for slot in self.flights.iter_mut() {
            slot.superseded = true;
        }
        self.index.clear();
        self.policy.on_clear();
        if let Some(weights) = &mut self.weights {
            weights.clear();
        }
        self.weight = 0;
        let mut garbage = Garbage::new();
        garbage.drained = Some(self.arena.take_all());
        garbage
    }

    /// Changes the budget, evicting down to it into `garbage`.
    pub(crate) fn set_budget(
        &mut self,
        budget: u64,
        hash_of: &impl Fn(&K) -> u64,
        garbage: &mut Garbage<K, V>,
    ) {
        self.budget = budget;
        self.policy.set_budget(budget);
        self.evict_to(budget, hash_of, garbage);
        self.policy.settle(&mut self.arena, self.weights.as_deref());
    }

    pub(crate) fn for_each(&self, f: impl FnMut(u32, &K, &V)) {
        self.arena.for_each(f);
    }

    // ---- single-flight: the shard's side of the protocol in flight.rs ----

    /// Looks `key` up for a caller that will load it on a miss: a hit
    /// promotes; a miss joins the key's flight or starts one. The lookup
    /// is counted if `count` (the call's first pass; a caller that starts
    /// over after a failed or abandoned flight was counted already).
    pub(crate) fn get_or_join(&mut self, hash: u64, key: K, count: bool) -> Step<K, V>
    where
        V: Clone,
    {
        if let Some(value) = self.lookup(hash, &key, count) {
            return Step::Hit(value, key);
        }
        if let Some(slot) = self.flights.find(hash, |slot| slot.key == key) {
            if slot.flight.is_loading_on_this_thread() {
                return Step::Recursive(key);
            }
            let flight = slot.flight.clone();
            let id = flight.register();
            return Step::Wait(flight, id, key);
        }
        let flight = Arc::new(Flight::new());
        self.flights.insert_unique(
            hash,
            FlightSlot {
                key,
                hash,
                flight: flight.clone(),
                superseded: false,
            },
            |slot| slot.hash,
        );
        Step::Lead(flight)
    }

    fn take_flight(&mut self, hash: u64, flight: &Arc<Flight<V>>) -> Option<FlightSlot<K, V>> {
        let entry = self
            .flights
            .find_entry(hash, |slot| Arc::ptr_eq(&slot.flight, flight))
            .ok()?;
        Some(entry.remove().0)
    }

    /// The flight's slot, while it is registered.
    pub(crate) fn flight_key(&self, hash: u64, flight: &Arc<Flight<V>>) -> Option<&K> {
        self.flights
            .find(hash, |slot| Arc::ptr_eq(&slot.flight, flight))
            .map(|slot| &slot.key)
    }

    /// Ends a flight whose load produced `stored`: stores it (unless a newer
    /// write superseded the load), then hands `shared` to the waiters.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn complete_flight(
        &mut self,
        hash: u64,
        flight: &Arc<Flight<V>>,
        stored: V,
        shared: V,
        weight: u64,
        load_nanos: u64,
        hash_of: &impl Fn(&K) -> u64,
        garbage: &mut Garbage<K, V>,
    ) -> crate::flight::Wakers {
        // Parked in `garbage` while the store may run user code.
        garbage.shared = Some(shared);
        match self.take_flight(hash, flight) {
            Some(slot) if !slot.superseded => {
                garbage.pending = Some((slot.key, stored));
                self.store(hash, weight, hash_of, garbage);
            }
            Some(slot) => garbage.push((slot.key, stored)),
            None => garbage.value = Some(stored),
        }
        self.counters.loads += 1;
        self.counters.load_nanos += load_nanos;
        let shared = garbage
            .shared
            .take()
            .expect("shardcache: the waiters' value was parked");
        let (served, wakers) = flight.finish_ready(shared);
        self.counters.coalesced += served;
        wakers
    }

    /// Ends a flight whose load failed with `error`.
    pub(crate) fn fail_flight(
        &mut self,
        hash: u64,
        flight: &Arc<Flight<V>>,
        error: crate::flight::SharedError,
    ) -> (Option<FlightSlot<K, V>>, crate::flight::Wakers) {
        let slot = self.take_flight(hash, flight);
        self.counters.load_failures += 1;
        (slot, flight.finish_failed(error))
    }

    /// The caller driving `flight` (as waiter `id`, or the original leader)
    /// gives up without a result: leadership passes to the oldest waiter, or
    /// the flight ends if nobody waits.
    pub(crate) fn abandon_flight(
        &mut self,
        hash: u64,
        flight: &Arc<Flight<V>>,
        id: u64,
        failed: bool,
    ) -> (Option<FlightSlot<K, V>>, crate::flight::Wakers) {
        let handed_over = match flight.hand_over(id) {
            crate::flight::HandOver::Ended => (self.take_flight(hash, flight), Default::default()),
            crate::flight::HandOver::To(wakers) => (None, wakers),
            // Not (or no longer) the flight's driver: e.g. the panic came
            // after the load had completed (an evicted value's `Drop`), so
            // there is no failed load to count.
            crate::flight::HandOver::NotLeader => return (None, Default::default()),
        };
        if failed {
            self.counters.load_failures += 1;
        }
        handed_over
    }

    /// A waiter leaves before its flight ended. If it had been chosen to
    /// lead, leadership passes on as in [`Shard::abandon_flight`].
    pub(crate) fn leave_flight(
        &mut self,
        hash: u64,
        flight: &Arc<Flight<V>>,
        id: u64,
    ) -> (Option<FlightSlot<K, V>>, crate::flight::Wakers) {
        if flight.deregister(id) {
            (None, Default::default())
        } else {
            self.abandon_flight(hash, flight, id, false)
        }
    }

    /// Checks the invariants of the module docs and the arena's.
    pub(crate) fn validate(&self, hash_of: &impl Fn(&K) -> u64) {
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
        for slot in self.flights.iter() {
            assert_eq!(
                slot.hash,
                hash_of(&slot.key),
                "flight filed under a wrong hash"
            );
        }
    }

    /// Heap bytes of the policy's own state (the W-TinyLFU sketch).
    pub(crate) fn policy_bytes(&self) -> usize {
        self.policy.heap_bytes()
    }

    /// The keys of each segment, most recent first (tests).
    pub(crate) fn segments(&self) -> [Vec<&K>; 3] {
        let mut lists: [Vec<&K>; 3] = Default::default();
        for segment in [Segment::Main, Segment::Window, Segment::Protected] {
            let mut at = self.arena.head(segment);
            while let Some(index) = at {
                lists[segment as usize].push(self.arena.key(index));
                at = self.arena.next(index);
            }
        }
        lists
    }

    /// Number of loads in flight (tests).
    pub(crate) fn flights_len(&self) -> usize {
        self.flights.len()
    }
}
