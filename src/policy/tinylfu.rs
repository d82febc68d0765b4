//! W-TinyLFU on a shard's arena: an LRU admission window in front of a
//! segmented LRU (probation and protected), with a frequency sketch deciding
//! which of the window's evictee and main's victim stays.
//!
//! Sizes are in weight units (entries, when the cache has no weigher). The
//! window's share of the capacity is set by the [`Tuner`](super::tuner)
//! through [`TinyLfu::set_fraction`]. On one-shard caches (no marks) every
//! decision matches the reference model in `tests/support/tinylfu_ref.rs`,
//! which `tests/tinylfu_model.rs` checks step by step; lazily promoting
//! shards apply marked hits where the policy meets them (see `victim`).

use super::sketch::Sketch;
use super::Victim;
use crate::arena::{Arena, Segment};

/// Protected segment's cap, per-mille of main's target size.
const PROTECTED_PERMILLE: u64 = 800;
/// The sketch halves every `RESET_MULTIPLIER × max(capacity, floor)`
/// increments.
pub(crate) const RESET_MULTIPLIER: u64 = 10;
/// Capacity floor (for the whole cache) of the sketch's aging period:
/// without it small caches forget a loop slightly larger than themselves.
pub(crate) const MIN_SKETCH_CAPACITY: u64 = 256;
/// Capacity floor (for the whole cache) of the sketch's size: a cache of
/// fewer entries still gets a sketch sized for this many (8 KiB). A small
/// cache sees many more distinct keys per aging period than it holds, and
/// fewer collisions between their counts gained 0.15 to 0.25 points of
/// average gap to optimal on the shipped traces (eight seed sets); 2,048
/// lost 3 to 5 points on zigzag at 50%.
pub(crate) const MIN_SKETCH_SIZE: u64 = 1024;
/// A candidate not more frequent than the victim still gets in, with
/// probability 1/128, if its estimate is at least this: nobody can pin main's
/// victim forever by inflating its count.
const ADMIT_RANDOM_THRESHOLD: u8 = 12;
const ADMIT_RANDOM_MASK: u64 = 127;
/// Until a shard first holds half its budget, a key is counted only while
/// its estimate is below this (see `TinyLfu::count`).
const FILL_COUNT_CAP: u8 = 2;
const RNG_SEED: u64 = 0x853C_49E6_748F_EA9B;

/// Entry weights by slot (`None`: every entry weighs 1).
pub(crate) type Weights<'a> = Option<&'a [u64]>;

#[inline]
fn weight_of(weights: Weights<'_>, index: u32) -> u64 {
    weights.map_or(1, |w| w[index as usize])
}

/// The W-TinyLFU state of one shard (or of one shadow cache).
pub(crate) struct TinyLfu {
    budget: u64,
    /// Window target, per-mille of the budget.
    fraction: u32,
    /// The window's target weight, from `budget` and `fraction`.
    window_target: u64,
    /// Protected's cap, from `budget` and `fraction`.
    protected_target: u64,
    sketch: Sketch,
    /// `set_budget` sizes the sketch for `max(budget, size_floor)` entries
    /// and ages it every `RESET_MULTIPLIER * max(budget, period_floor)`
    /// increments (the shard's shares of the cache's floors).
    size_floor: u64,
    period_floor: u64,
    rng: u64,
    /// Weight held by each segment, indexed by `Segment as usize`.
    held: [u64; 3],
    /// Whether the shard has ever held half its budget (see `count`).
    /// Set for good: neither `set_budget` nor a clear resets it (a
    /// cleared shard keeps its sketch, and with it what it has counted).
    warm: bool,
}

impl TinyLfu {
    /// One of `shards` shards of a cache, holding `budget`: the sketch's
    /// floors are shared by the shards.
    pub(crate) fn for_shard(budget: u64, shards: u64, fraction: u32) -> Self {
        let share = |floor: u64| (floor / shards.max(1)).max(1);
        let (size_floor, period_floor) = (share(MIN_SKETCH_SIZE), share(MIN_SKETCH_CAPACITY));
        let mut lfu = Self::with_sketch(
            budget,
            fraction,
            budget.max(size_floor),
            RESET_MULTIPLIER * budget.max(period_floor),
        );
        lfu.size_floor = size_floor;
        lfu.period_floor = period_floor;
        lfu
    }

    /// A window of `fraction` per-mille and a sketch sized for
    /// `sketch_capacity` entries, aging every `period` increments. No
    /// floors (a shadow cache, which never changes budget); `for_shard`
    /// sets a shard's.
    pub(crate) fn with_sketch(
        budget: u64,
        fraction: u32,
        sketch_capacity: u64,
        period: u64,
    ) -> Self {
        let mut lfu = TinyLfu {
            budget,
            fraction,
            window_target: 0,
            protected_target: 0,
            sketch: Sketch::new(sketch_capacity, period),
            size_floor: 1,
            period_floor: 1,
            rng: RNG_SEED,
            held: [0; 3],
            warm: false,
        };
        lfu.retarget();
        lfu
    }

    /// A new budget (`set_capacity`): new segment targets, and a sketch
    /// sized and aged for the new budget, as a new cache would have (the
    /// shard stays `warm`, though).
    pub(crate) fn set_budget(&mut self, budget: u64) {
        self.budget = budget;
        self.retarget();
        self.sketch.resize(
            budget.max(self.size_floor),
            RESET_MULTIPLIER * budget.max(self.period_floor),
        );
    }

    #[cfg(any(test, feature = "test-hooks"))]
    pub(crate) fn sketch_bytes(&self) -> usize {
        self.sketch.bytes()
    }

    /// Recomputes the segment targets after a change of budget or fraction.
    /// The window's: 0 with a 0 fraction, else the fraction of the budget
    /// rounded half up, clamped to `1..=budget`. Protected's: 80% of the
    /// rest (main's target), rounded down.
    fn retarget(&mut self) {
        self.window_target = if self.budget == 0 || self.fraction == 0 {
            0
        } else {
            let share = u128::from(self.budget) * u128::from(self.fraction) + 500;
            u64::try_from(share / 1000)
                .unwrap_or(u64::MAX)
                .clamp(1, self.budget)
        };
        let main = u128::from(self.main_size());
        self.protected_target = (main * u128::from(PROTECTED_PERMILLE) / 1000) as u64;
    }

    #[inline]
    fn window_size(&self) -> u64 {
        self.window_target
    }

    #[inline]
    fn main_size(&self) -> u64 {
        self.budget - self.window_target
    }

    fn held(&self, segment: Segment) -> u64 {
        self.held[segment as usize]
    }

    /// Moves a node to the most recent end of `segment`.
    fn place<K, V>(
        &mut self,
        arena: &mut Arena<K, V>,
        index: u32,
        segment: Segment,
        w: Weights<'_>,
    ) {
        let from = arena.segment(index);
        if from == segment {
            arena.touch(index);
        } else {
            let weight = weight_of(w, index);
            self.held[from as usize] -= weight;
            self.held[segment as usize] += weight;
            arena.move_to(index, segment);
        }
    }

    /// Main's least recently used node: probation's, or protected's when
    /// probation is empty.
    fn main_victim<K, V>(arena: &Arena<K, V>) -> Option<u32> {
        arena
            .tail(Segment::Main)
            .or_else(|| arena.tail(Segment::Protected))
    }

    /// Applies the hit a lazily promoting shard recorded as the node's
    /// mark, now that the node reached a tail: if marked, the mark is
    /// cleared and the hit counted in the sketch; returns whether it was.
    /// (Never true on exact shards, which do not mark.) The key is hashed
    /// after the mark is taken and before anything moves, so a panicking
    /// `Hash` costs a mark and nothing else.
    fn take_hit<K, V>(
        &mut self,
        arena: &mut Arena<K, V>,
        index: u32,
        hash_of: &impl Fn(&K) -> u64,
    ) -> bool {
        if !arena.take_mark(index) {
            return false;
        }
        let hash = hash_of(arena.key(index));
        self.count(hash);
        true
    }

    /// The window's least recent node that was not hit since it last
    /// reached the tail: a marked tail gets its hit applied, as an exact
    /// shard would have at the hit (counted, moved to the window's head).
    fn window_candidate<K, V>(
        &mut self,
        arena: &mut Arena<K, V>,
        hash_of: &impl Fn(&K) -> u64,
    ) -> Option<u32> {
        loop {
            // Terminates: each pass clears a mark.
            let tail = arena.tail(Segment::Window)?;
            if !self.take_hit(arena, tail, hash_of) {
                return Some(tail);
            }
            arena.touch(tail);
        }
    }

    /// Main's victim, after applying the hits marked on the nodes that
    /// reach its tail: a marked probation tail is promoted to protected (as
    /// a hit on an exact shard is), a marked protected tail (probation
    /// empty) moves to protected's head.
    fn main_candidate<K, V>(
        &mut self,
        arena: &mut Arena<K, V>,
        hash_of: &impl Fn(&K) -> u64,
        w: Weights<'_>,
    ) -> Option<u32> {
        loop {
            // Terminates: each pass clears a mark (moves keep marks, and
            // promotion happens only after the mark is taken).
            let victim = Self::main_victim(arena)?;
            if !self.take_hit(arena, victim, hash_of) {
                return Some(victim);
            }
            if arena.segment(victim) == Segment::Main {
                self.place(arena, victim, Segment::Protected, w);
                self.demote_unmarked_overflow(arena, hash_of, w);
            } else {
                arena.touch(victim);
            }
        }
    }

    /// Counts an access in the sketch. Until the shard first holds half
    /// its budget (`warm`) a key is counted only while its estimate is
    /// below `FILL_COUNT_CAP` (2): the sketch records that a key was seen,
    /// and whether it came back, not how often. While a cache fills it
    /// admits everything, so the counts matter only later, and a burst of
    /// repeats during start-up (initialisation code, a warm-up loop) would
    /// otherwise pin keys that are never used again in main for several
    /// aging periods. (Caffeine and moka get a similar effect by not
    /// counting at all until the cache is half full; recording a key's
    /// first reuse keeps the keys that do come back ahead of one-off
    /// newcomers: a cap of 1 cost 0.5 points on multi1 at 20%, a cap of
    /// 15 (counting everything) 3.7 points on ps at 5%.)
    #[inline]
    fn count(&mut self, hash: u64) {
        if self.warm || self.sketch.frequency(hash) < FILL_COUNT_CAP {
            self.sketch.increment(hash);
        }
    }

    fn xorshift64(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        x
    }

    /// Whether the window's evictee (`candidate`, a hash) should replace
    /// main's victim, whose estimate is `v`: if it is estimated more
    /// frequent; or, rarely, if it is frequent enough (the generator
    /// advances only then).
    fn admit(&mut self, candidate: u64, v: u8) -> bool {
        let c = self.sketch.frequency(candidate);
        if c > v {
            true
        } else if c >= ADMIT_RANDOM_THRESHOLD {
            self.xorshift64() & ADMIT_RANDOM_MASK == 0
        } else {
            false
        }
    }

    /// A hit (or an update) of a resident node: counted in the sketch, then
    /// promoted: window → window head; probation or protected → protected
    /// head, demoting protected's overflow to probation's head.
    pub(crate) fn on_hit<K, V>(
        &mut self,
        arena: &mut Arena<K, V>,
        index: u32,
        hash: u64,
        w: Weights<'_>,
    ) {
        self.count(hash);
        match arena.segment(index) {
            Segment::Window => {
                arena.touch(index);
                return;
            }
            Segment::Protected => arena.touch(index),
            Segment::Main => {
                let weight = weight_of(w, index);
                self.held[Segment::Main as usize] -= weight;
                self.held[Segment::Protected as usize] += weight;
                arena.move_to(index, Segment::Protected);
            }
        }
        // Over the cap after a promotion, or after main's target shrank.
        if self.held(Segment::Protected) > self.protected_target {
            self.demote_overflow(arena, w);
        }
    }

    /// Demotes protected's least recent nodes to probation's head until it
    /// is within its cap.
    fn demote_overflow<K, V>(&mut self, arena: &mut Arena<K, V>, w: Weights<'_>) {
        while self.held(Segment::Protected) > self.protected_target {
            let Some(demoted) = arena.tail(Segment::Protected) else {
                break;
            };
            self.place(arena, demoted, Segment::Main, w);
        }
    }

    /// `demote_overflow` on a lazily promoting shard: a marked protected
    /// tail has its hit applied (counted, moved to protected's head)
    /// instead of being demoted, as an exact shard would have moved it on
    /// the hit.
    fn demote_unmarked_overflow<K, V>(
        &mut self,
        arena: &mut Arena<K, V>,
        hash_of: &impl Fn(&K) -> u64,
        w: Weights<'_>,
    ) {
        // Terminates: each pass clears a mark or demotes a node.
        while self.held(Segment::Protected) > self.protected_target {
            let Some(tail) = arena.tail(Segment::Protected) else {
                break;
            };
            if self.take_hit(arena, tail, hash_of) {
                arena.touch(tail);
            } else {
                self.place(arena, tail, Segment::Main, w);
            }
        }
    }

    /// A new node was stored at the window's head.
    pub(crate) fn on_insert(&mut self, hash: u64, weight: u64) {
        self.count(hash);
        self.held[Segment::Window as usize] += weight;
        if !self.warm {
            let held: u64 = self.held.iter().sum();
            self.warm = held.saturating_mul(2) >= self.budget;
        }
    }

    /// A node left the shard.
    pub(crate) fn on_remove(&mut self, segment: Segment, weight: u64) {
        self.held[segment as usize] -= weight;
    }

    /// Every node left the shard.
    pub(crate) fn on_clear(&mut self) {
        self.held = [0; 3];
    }

    /// A resident node's weight changed.
    pub(crate) fn on_reweigh(&mut self, segment: Segment, old: u64, new: u64) {
        self.held[segment as usize] = self.held[segment as usize] - old + new;
    }

    /// The next node to evict while the shard is over budget. When the
    /// window is over its target its least recent node duels main's victim
    /// (the winner of an admission moves to probation's head first);
    /// otherwise main's victim goes, or the window's when main is empty.
    /// On a lazily promoting shard the hits marked on the nodes reaching
    /// those tails are applied first (see `window_candidate` and
    /// `main_candidate`); elsewhere nothing is marked and this is exact
    /// W-TinyLFU.
    pub(crate) fn victim<K, V>(
        &mut self,
        arena: &mut Arena<K, V>,
        hash_of: &impl Fn(&K) -> u64,
        w: Weights<'_>,
    ) -> Option<Victim> {
        if self.held(Segment::Window) > self.window_size() {
            let candidate = self.window_candidate(arena, hash_of)?;
            let Some(victim) = self.main_candidate(arena, hash_of, w) else {
                return Some(Victim::unhashed(candidate));
            };
            let c = hash_of(arena.key(candidate));
            let v = hash_of(arena.key(victim));
            // The loser goes, with the hash the duel computed for it.
            if self.admit(c, self.sketch.frequency(v)) {
                self.place(arena, candidate, Segment::Main, w);
                Some(Victim::hashed(victim, v))
            } else {
                Some(Victim::hashed(candidate, c))
            }
        } else {
            self.main_candidate(arena, hash_of, w)
                .or_else(|| self.window_candidate(arena, hash_of))
                .map(Victim::unhashed)
        }
    }

    /// After an insertion's evictions: the window's overflow moves to
    /// probation's head, no contest (the cache is not full yet).
    pub(crate) fn settle<K, V>(&mut self, arena: &mut Arena<K, V>, w: Weights<'_>) {
        while self.held(Segment::Window) > self.window_size() {
            let Some(oldest) = arena.tail(Segment::Window) else {
                break;
            };
            self.place(arena, oldest, Segment::Main, w);
        }
    }

    /// Changes the window's target and rebalances at once, evicting
    /// nothing: window overflow to probation's head, then main's overflow
    /// (its victims first) to the window's head.
    pub(crate) fn set_fraction<K, V>(
        &mut self,
        arena: &mut Arena<K, V>,
        fraction: u32,
        w: Weights<'_>,
    ) {
        if fraction == self.fraction {
            return;
        }
        self.fraction = fraction;
        self.retarget();
        self.settle(arena, w);
        while self.held(Segment::Main) + self.held(Segment::Protected) > self.main_size() {
            let Some(moved) = Self::main_victim(arena) else {
                break;
            };
            self.place(arena, moved, Segment::Window, w);
        }
    }

    #[cfg(any(test, feature = "test-hooks"))]
    /// Checks the segment weights against the arena (tests).
    pub(crate) fn validate<K, V>(&self, arena: &Arena<K, V>, w: Weights<'_>) {
        let mut held = [0u64; 3];
        arena.for_each(|index, _, _| held[arena.segment(index) as usize] += weight_of(w, index));
        assert_eq!(held, self.held, "segment weights do not add up");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Stores `key` (its own hash) at the window's head and evicts as a
    /// shard does: the victims while over budget, then the window's
    /// overflow settles into probation. Returns the evicted keys.
    fn store(arena: &mut Arena<u64, ()>, lfu: &mut TinyLfu, key: u64) -> Vec<u64> {
        arena.insert(Segment::Window, key, (), 64);
        lfu.on_insert(key, 1);
        let mut evicted = Vec::new();
        while arena.len() as u64 > lfu.budget {
            let victim = lfu.victim(arena, &|k: &u64| *k, None).expect("a victim");
            let segment = arena.segment(victim.index);
            lfu.on_remove(segment, 1);
            evicted.push(arena.remove(victim.index).0);
        }
        lfu.settle(arena, None);
        evicted
    }

    /// A full, warm 4-entry W-TinyLFU (a 1-entry window, main of 3) with
    /// a sketch of 1,024 blocks aging every `period` counts, holding keys
    /// 1 to 4 (key 1 at probation's tail, main's victim).
    fn four_stored(period: u64) -> (Arena<u64, ()>, TinyLfu) {
        let mut arena: Arena<u64, ()> = Arena::new();
        let mut lfu = TinyLfu::with_sketch(4, 250, 8192, period);
        for key in 1..=4 {
            assert!(store(&mut arena, &mut lfu, key).is_empty());
        }
        assert!(lfu.warm);
        (arena, lfu)
    }

    #[test]
    fn the_duel_admits_only_a_more_frequent_candidate() {
        let (mut arena, mut lfu) = four_stored(1_000_000);
        for _ in 0..5 {
            lfu.count(1);
        }
        // Candidate 4 (seen once) loses to main's victim, key 1 (six).
        assert_eq!(store(&mut arena, &mut lfu, 5), vec![4]);
        for _ in 0..7 {
            lfu.count(5);
        }
        // Candidate 5 (eight) beats key 1, which goes.
        assert_eq!(store(&mut arena, &mut lfu, 6), vec![1]);
        lfu.validate(&arena, None);
    }

    #[test]
    fn repeats_count_up_to_the_cap_until_the_shard_is_half_full() {
        let mut arena: Arena<u64, ()> = Arena::new();
        let mut lfu = TinyLfu::with_sketch(8, 0, 8, 1_000);
        // Key 4 was seen twice already (inserted, then removed, twice).
        for _ in 0..2 {
            let gone = arena.insert(Segment::Window, 4, (), 9);
            lfu.on_insert(4, 1);
            arena.remove(gone);
            lfu.on_remove(Segment::Window, 1);
        }
        let first = arena.insert(Segment::Window, 1, (), 9);
        lfu.on_insert(1, 1);
        for _ in 0..5 {
            lfu.on_hit(&mut arena, first, 1, None);
        }
        assert_eq!(
            lfu.sketch.frequency(1),
            FILL_COUNT_CAP,
            "a filling shard counts a key up to the cap"
        );
        for key in 2..=4 {
            arena.insert(Segment::Window, key, (), 9);
            lfu.on_insert(key, 1);
            assert_eq!(lfu.warm, key == 4, "warm once 4 of 8 are held");
        }
        // The insert that warmed the shard was counted as a filling one.
        assert_eq!(
            lfu.sketch.frequency(4),
            FILL_COUNT_CAP,
            "counted before the shard turned warm"
        );
        for expected in FILL_COUNT_CAP + 1..=FILL_COUNT_CAP + 3 {
            lfu.on_hit(&mut arena, first, 1, None);
            assert_eq!(
                lfu.sketch.frequency(1),
                expected,
                "a warm shard counts every access"
            );
        }
    }
}
