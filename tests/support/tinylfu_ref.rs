//! Reference W-TinyLFU: a plain, single-threaded statement of the eviction
//! policy behind `Policy::TinyLfu`, written for clarity, not speed.
//!
//! The cache's arena-based policy is checked step by step against this model
//! (same keys, same hashes, same sequence of calls => same resident keys in
//! the same lists and order), so every decision below is specified exactly.
//! "MRU"/"LRU" are the most / least recently used ends of a list.
//!
//! # Structure
//!
//! * `window`: an LRU list every new key enters; target size
//!   [`Core::window_size`] = the current window fraction of the capacity
//!   (a fraction of 0 is still modelled: then a new key must win admission
//!   at once).
//! * main, a segmented LRU: `probation` (keys admitted from the window, or
//!   demoted) and `protected` (keys hit while in main), the latter capped at
//!   [`Core::protected_size`] = 80% of main.
//! * [`Sketch`]: a blocked 4-bit count-min sketch of recent access frequency
//!   (a key's four counters in one 64-byte block); a key leaving the window
//!   displaces main's LRU victim only if it is estimated more frequent
//!   ([`Core::admit`]).
//! * [`Tuner`]: five small shadow W-TinyLFU caches (window 1%, 3%, 10%, 30%,
//!   100%) fed a hash-sampled subset of the keys, capacity scaled by the
//!   sample rate; every epoch (1, 2, 3, then 4 × a shadow's capacity
//!   sampled lookups) the real window fraction moves toward the shadow with
//!   the best (exponentially decayed) hit count: straight to it if that
//!   leads the current fraction's score by more than 5% of the decayed
//!   lookups, else one step if it leads by more than 1% of them. A new cache starts
//!   at the 1% window.
//!
//! Deterministic given the sequence of (key, hash) calls: the sketch, the
//! sampling and the 1/128 random admission use only the 64-bit hashes and a
//! seeded xorshift64 generator (one per [`Core`], shadows included).
//!
//! # Sharded caches
//!
//! Each shard runs its own [`Core`] ([`Core::for_shard`]: own sketch, sized
//! from the shard's capacity with the 1,024-entry size floor and the
//! 256-entry period floor divided among the shards) while ONE [`Tuner`]
//! sized for the total capacity sees the sampled keys of every shard; after the tuner handles an access its
//! [`Tuner::fraction`] is applied to every shard with [`Core::set_fraction`]
//! (see `ShardedModel` in the measurement harness / REPORT.md). With one
//! shard that is exactly [`TinyLfu`].
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};

// ---------------------------------------------------------------------------
// Constants: the whole algorithm's tuning
// ---------------------------------------------------------------------------

/// Window fractions, per-mille of capacity, of the shadow caches; the real
/// window fraction is always one of these.
pub const SHADOW_FRACTIONS: [u32; 5] = [10, 30, 100, 300, 1000];
/// Index into `SHADOW_FRACTIONS` a new cache starts at (0 = a 1% window).
pub const INITIAL_FRACTION_INDEX: usize = 0;
/// Protected segment's cap, per-mille of main's target size (rounded down).
pub const PROTECTED_PERMILLE: u64 = 800;
/// The sketch halves its counters every
/// `RESET_MULTIPLIER * max(capacity, MIN_SKETCH_CAPACITY)` increments.
pub const RESET_MULTIPLIER: u64 = 10;
/// Capacity floor for the sketch's reset period (small caches would
/// otherwise forget a loop slightly larger than themselves).
pub const MIN_SKETCH_CAPACITY: u64 = 256;
/// Capacity floor for the real cache's sketch size (shadows excepted).
pub const MIN_SKETCH_SIZE: u64 = 1024;
/// A candidate that is not more frequent than the victim is still admitted
/// with probability 1/128 when its estimate is at least this (so nobody can
/// pin main's victim by inflating its count).
pub const ADMIT_RANDOM_THRESHOLD: u8 = 12;
/// Random admission happens when `xorshift64() & ADMIT_RANDOM_MASK == 0`.
pub const ADMIT_RANDOM_MASK: u64 = 127;
/// Initial state of every Core's xorshift64 generator.
pub const RNG_SEED: u64 = 0x853C_49E6_748F_EA9B;
/// Sample rate is `1 / 2^shift`, with the largest `shift <= MAX_SAMPLE_SHIFT`
/// such that `capacity >> shift >= MIN_SHADOW_CAPACITY` (shift 0 = every key,
/// for capacities below 128).
pub const MIN_SHADOW_CAPACITY: u64 = 64;
pub const MAX_SAMPLE_SHIFT: u32 = 16;
/// Epoch `n` (from 0) lasts `max(min(n + 1, EPOCH_MULTIPLIER) * shadow
/// capacity, MIN_EPOCH)` sampled lookups.
pub const EPOCH_MULTIPLIER: u64 = 4;
pub const MIN_EPOCH: u64 = 32;
/// Each epoch: `score = score - (score >> SCORE_DECAY_SHIFT) + (hits << 8)`.
pub const SCORE_DECAY_SHIFT: u32 = 4;
/// The decision moves only if the best score exceeds the current fraction's
/// by more than `HYSTERESIS_PERMILLE` per-mille of the decayed lookups:
/// `(score[best] - score[current]) * 1000 > lookups * HYSTERESIS_PERMILLE`.
pub const HYSTERESIS_PERMILLE: u64 = 10;
/// The decision jumps straight to the best fraction when
/// `(score[best] - score[current]) * 1000 > lookups * JUMP_PERMILLE`, where
/// `lookups` is the count of sampled lookups decayed and scaled as the
/// scores are: `lookups = lookups - (lookups >> 4) + (seen << 8)`.
pub const JUMP_PERMILLE: u64 = 50;
/// Until the cache is `warm`, a key is counted only while its estimate is
/// below this.
pub const FILL_COUNT_CAP: u8 = 2;

const SAMPLE_MULTIPLIER: u64 = 0x9E37_79B9_7F4A_7C15;

/// The largest power of two `<= max(x, 1)`.
fn prev_pow2(x: u64) -> u64 {
    1u64 << (63 - x.max(1).leading_zeros())
}

// ---------------------------------------------------------------------------
// Count-min sketch
// ---------------------------------------------------------------------------

/// Blocked 4-bit count-min sketch: `B = max(prev_pow2(sizing capacity) / 8,
/// 1)` blocks of 8 u64 words (one 64-byte cache line each) of 16 nibble
/// counters; so at most 8 bytes per entry of sizing capacity, at least 64
/// bytes.
///
/// A key's 4 counters, all in one block: `r = remix(hash)`; block
/// `r & (B - 1)`; for `i in 0..4`, `b = (r >> (44 + 5 * i)) & 31`: word
/// `2 * i + (b & 1)` of the block, nibble `b >> 1` (bits `4*nibble ..
/// 4*nibble+4`). The four counters are always in four different words.
#[derive(Clone, Debug)]
pub struct Sketch {
    /// Word `w` of block `k` is `table[8 * k + w]`.
    table: Vec<u64>,
    blocks: u64,
    /// Increments since the last halving.
    ops: u64,
    /// Halve every counter when `ops` reaches this.
    period: u64,
}

/// The sketch's remix of a hash: `h ^= h >> 32; h *= 0xD6E8_FEB8_6659_FD93
/// (wrapping); h ^ (h >> 32)`.
pub fn remix(mut h: u64) -> u64 {
    h ^= h >> 32;
    h = h.wrapping_mul(0xD6E8_FEB8_6659_FD93);
    h ^ (h >> 32)
}

impl Sketch {
    pub fn new(sizing_capacity: u64, period: u64) -> Self {
        let blocks = (prev_pow2(sizing_capacity) / 8).max(1);
        Sketch {
            table: vec![0; 8 * blocks as usize],
            blocks,
            ops: 0,
            period: period.max(1),
        }
    }

    /// (index into `table`, bit shift) of each of the key's 4 counters.
    fn slots(&self, hash: u64) -> [(usize, u32); 4] {
        let r = remix(hash);
        let block = (r % self.blocks) as usize;
        [0u32, 1, 2, 3].map(|i| {
            let b = (r >> (44 + 5 * i)) & 31;
            let word = 2 * i as usize + (b & 1) as usize;
            let nibble = (b >> 1) as u32;
            (8 * block + word, 4 * nibble)
        })
    }

    /// Estimated count: the minimum of the key's 4 counters, 0..=15.
    pub fn frequency(&self, hash: u64) -> u8 {
        self.slots(hash)
            .iter()
            .map(|&(w, s)| ((self.table[w] >> s) & 15) as u8)
            .min()
            .unwrap()
    }

    /// Bumps each of the key's counters that is below 15; then `ops += 1`
    /// (always, saturated or not), and when `ops == period` every counter is
    /// halved (rounding down) and `ops = 0`.
    pub fn increment(&mut self, hash: u64) {
        for (w, s) in self.slots(hash) {
            if (self.table[w] >> s) & 15 < 15 {
                self.table[w] += 1 << s;
            }
        }
        self.ops += 1;
        if self.ops >= self.period {
            for word in &mut self.table {
                *word = (*word >> 1) & 0x7777_7777_7777_7777;
            }
            self.ops = 0;
        }
    }
}

// ---------------------------------------------------------------------------
// LRU lists, ordered by a strictly increasing stamp
// ---------------------------------------------------------------------------

/// The list (the arena's 2-bit tag) a resident key is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum List {
    Window,
    Probation,
    Protected,
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    list: List,
    stamp: u64,
    hash: u64,
}

// ---------------------------------------------------------------------------
// W-TinyLFU with a settable window (one shard; also each shadow cache)
// ---------------------------------------------------------------------------

#[derive(Clone, Debug)]
pub struct Core {
    capacity: u64,
    /// Window target, per-mille of capacity.
    fraction: u32,
    entries: HashMap<u64, Entry>,
    /// stamp -> key per list; the smallest stamp is the LRU end.
    window: BTreeMap<u64, u64>,
    probation: BTreeMap<u64, u64>,
    protected: BTreeMap<u64, u64>,
    next_stamp: u64,
    sketch: Sketch,
    rng: u64,
    /// Set (for good) once the cache first holds half its capacity; until
    /// then [`Core::count`] records only that a key was seen.
    warm: bool,
}

impl Core {
    /// The real cache (or one shard of it) with `capacity` entries:
    /// sketch sized from `max(capacity, MIN_SKETCH_SIZE)` and reset from
    /// `max(capacity, MIN_SKETCH_CAPACITY)`, window fraction `SHADOW_FRACTIONS[INITIAL_FRACTION_INDEX]`.
    pub fn new(capacity: u64) -> Self {
        Self::for_shard(capacity, 1)
    }

    /// One of `shards` shards of a cache, this shard holding `capacity`: the
    /// sketch floors apply to the whole cache, so the shard's sketch is a
    /// [`Sketch`] sized from `max(capacity, MIN_SKETCH_SIZE / shards)`,
    /// halving every `RESET_MULTIPLIER * max(capacity, MIN_SKETCH_CAPACITY /
    /// shards)` increments (integer divisions, at least 1).
    pub fn for_shard(capacity: u64, shards: u64) -> Self {
        let share = |floor: u64| (floor / shards.max(1)).max(1);
        Self::with_sketch(
            capacity,
            SHADOW_FRACTIONS[INITIAL_FRACTION_INDEX],
            capacity.max(share(MIN_SKETCH_SIZE)),
            RESET_MULTIPLIER * capacity.max(share(MIN_SKETCH_CAPACITY)),
        )
    }

    /// General form (shadows): `fraction` per-mille, sketch
    /// [`Sketch::new`]`(sketch_capacity, period)`.
    pub fn with_sketch(capacity: u64, fraction: u32, sketch_capacity: u64, period: u64) -> Self {
        Core {
            capacity,
            fraction,
            entries: HashMap::new(),
            window: BTreeMap::new(),
            probation: BTreeMap::new(),
            protected: BTreeMap::new(),
            next_stamp: 0,
            sketch: Sketch::new(sketch_capacity, period),
            rng: RNG_SEED,
            warm: false,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }
    pub fn capacity(&self) -> u64 {
        self.capacity
    }
    pub fn contains(&self, key: u64) -> bool {
        self.entries.contains_key(&key)
    }
    /// Which list `key` is in, if resident.
    pub fn list_of(&self, key: u64) -> Option<List> {
        self.entries.get(&key).map(|e| e.list)
    }
    /// Keys of `list` from LRU to MRU (for step-by-step comparison).
    pub fn keys(&self, list: List) -> Vec<u64> {
        match list {
            List::Window => &self.window,
            List::Probation => &self.probation,
            List::Protected => &self.protected,
        }
        .values()
        .copied()
        .collect()
    }
    pub fn fraction(&self) -> u32 {
        self.fraction
    }
    pub fn frequency(&self, hash: u64) -> u8 {
        self.sketch.frequency(hash)
    }

    /// Window target: 0 if capacity or fraction is 0; else
    /// `round_half_up(capacity * fraction / 1000)` clamped to `1..=capacity`.
    pub fn window_size(&self) -> u64 {
        if self.capacity == 0 || self.fraction == 0 {
            return 0;
        }
        ((self.capacity * self.fraction as u64 + 500) / 1000).clamp(1, self.capacity)
    }

    /// Main's target: `capacity - window_size()`.
    pub fn main_size(&self) -> u64 {
        self.capacity - self.window_size()
    }

    /// Protected cap: `main_size() * PROTECTED_PERMILLE / 1000`, rounded down.
    pub fn protected_size(&self) -> u64 {
        self.main_size() * PROTECTED_PERMILLE / 1000
    }

    fn list_mut(&mut self, list: List) -> &mut BTreeMap<u64, u64> {
        match list {
            List::Window => &mut self.window,
            List::Probation => &mut self.probation,
            List::Protected => &mut self.protected,
        }
    }

    /// Moves (or adds) `key` to the MRU end of `list`.
    fn place_mru(&mut self, key: u64, hash: u64, list: List) {
        let stamp = self.next_stamp;
        self.next_stamp += 1;
        if let Some(old) = self.entries.get(&key).copied() {
            self.list_mut(old.list).remove(&old.stamp);
        }
        self.entries.insert(key, Entry { list, stamp, hash });
        self.list_mut(list).insert(stamp, key);
    }

    fn lru_of(&self, list: List) -> Option<u64> {
        match list {
            List::Window => &self.window,
            List::Probation => &self.probation,
            List::Protected => &self.protected,
        }
        .first_key_value()
        .map(|(_, &k)| k)
    }

    /// Main's LRU: probation LRU, or protected LRU if probation is empty.
    fn main_lru(&self) -> Option<u64> {
        self.lru_of(List::Probation)
            .or_else(|| self.lru_of(List::Protected))
    }

    fn main_len(&self) -> u64 {
        (self.probation.len() + self.protected.len()) as u64
    }

    fn move_mru(&mut self, key: u64, list: List) {
        let hash = self.entries[&key].hash;
        self.place_mru(key, hash, list);
    }

    fn evict(&mut self, key: u64) {
        let e = self.entries.remove(&key).expect("evicting a resident key");
        self.list_mut(e.list).remove(&e.stamp);
    }

    fn xorshift64(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        x
    }

    /// TinyLFU admission of `candidate` (leaving the window) over `victim`
    /// (main's LRU): yes if `freq(candidate) > freq(victim)`; otherwise, if
    /// `freq(candidate) >= ADMIT_RANDOM_THRESHOLD`, yes when
    /// `xorshift64() & 127 == 0` (the generator advances only in this case);
    /// otherwise no.
    pub fn admit(&mut self, candidate_hash: u64, victim_hash: u64) -> bool {
        let c = self.sketch.frequency(candidate_hash);
        let v = self.sketch.frequency(victim_hash);
        if c > v {
            true
        } else if c >= ADMIT_RANDOM_THRESHOLD {
            self.xorshift64() & ADMIT_RANDOM_MASK == 0
        } else {
            false
        }
    }

    /// Promotion of a resident key on a hit or an update: window -> window
    /// MRU; probation or protected -> protected MRU, then while protected
    /// holds more than `protected_size()` keys its LRU moves to probation
    /// MRU (with a protected cap of 0 the key itself lands in probation MRU).
    fn promote(&mut self, key: u64, e: Entry) {
        match e.list {
            List::Window => self.place_mru(key, e.hash, List::Window),
            List::Probation | List::Protected => {
                self.place_mru(key, e.hash, List::Protected);
                while self.protected.len() as u64 > self.protected_size() {
                    let k = self.lru_of(List::Protected).unwrap();
                    self.move_mru(k, List::Probation);
                }
            }
        }
    }

    /// Counts an access: `sketch.increment(hash)`, except that before the
    /// cache is `warm` a key whose estimate is already `FILL_COUNT_CAP` is
    /// not counted again.
    fn count(&mut self, hash: u64) {
        if self.warm || self.sketch.frequency(hash) < FILL_COUNT_CAP {
            self.sketch.increment(hash);
        }
    }

    /// Lookup. Hit: [`Core::count`], then promote; returns true.
    /// Miss: no change at all (the access is counted by the `insert` that a
    /// read-through cache follows a miss with); returns false.
    pub fn get(&mut self, key: u64, hash: u64) -> bool {
        match self.entries.get(&key).copied() {
            Some(e) => {
                self.count(hash);
                self.promote(key, e);
                true
            }
            None => false,
        }
    }

    /// Insert or update; returns the evicted keys in eviction order.
    ///
    /// * capacity 0: nothing happens (no sketch change).
    /// * Otherwise [`Core::count`] first.
    /// * Existing key (update): promoted as on a hit (the sketch is counted
    ///   only once); nothing is evicted.
    /// * New key: placed at window MRU (the cache is `warm` from now on if
    ///   it holds half its capacity, the new key included), then
    ///   [`Core::make_room`].
    pub fn insert(&mut self, key: u64, hash: u64) -> Vec<u64> {
        if self.capacity == 0 {
            return Vec::new();
        }
        self.count(hash);
        if let Some(e) = self.entries.get(&key).copied() {
            self.promote(key, e);
            return Vec::new();
        }
        self.place_mru(key, hash, List::Window);
        // Warm once the cache holds half its capacity, the new key included.
        self.warm |= 2 * self.entries.len() as u64 >= self.capacity;
        self.make_room()
    }

    /// Restores `len() <= capacity` and `window.len() <= window_size()`:
    ///
    /// 1. While `len() > capacity` (once after an insert into a full cache):
    ///    * window over target: candidate = window LRU (with a 0 window this
    ///      is the key just inserted); victim = main LRU (probation LRU, else
    ///      protected LRU). No victim: evict the candidate. Else if
    ///      `admit(candidate, victim)`: evict the victim and move the
    ///      candidate to probation MRU; else evict the candidate.
    ///    * window within target (main over its target): evict main LRU, or
    ///      window LRU if main is empty.
    /// 2. While the window is over target (cache not yet full): window LRU
    ///    moves to probation MRU, no contest.
    pub fn make_room(&mut self) -> Vec<u64> {
        let mut evicted = Vec::new();
        while self.entries.len() as u64 > self.capacity {
            if self.window.len() as u64 > self.window_size() {
                let cand = self.lru_of(List::Window).unwrap();
                let loser = match self.main_lru() {
                    None => cand,
                    Some(victim) => {
                        let (ch, vh) = (self.entries[&cand].hash, self.entries[&victim].hash);
                        if self.admit(ch, vh) {
                            self.move_mru(cand, List::Probation);
                            victim
                        } else {
                            cand
                        }
                    }
                };
                self.evict(loser);
                evicted.push(loser);
            } else {
                let victim = self
                    .main_lru()
                    .or_else(|| self.lru_of(List::Window))
                    .unwrap();
                self.evict(victim);
                evicted.push(victim);
            }
        }
        while self.window.len() as u64 > self.window_size() {
            let k = self.lru_of(List::Window).unwrap();
            self.move_mru(k, List::Probation);
        }
        evicted
    }

    /// Changes the window target and rebalances at once, evicting nothing:
    /// 1. while window.len() > window_size(): window LRU -> probation MRU;
    /// 2. while main.len() > main_size(): main LRU (probation LRU, else
    ///    protected LRU) -> window MRU.
    ///
    /// Protected's cap is re-applied only at the next promotion. A call with
    /// the current fraction does nothing.
    pub fn set_fraction(&mut self, fraction: u32) {
        if fraction == self.fraction {
            return;
        }
        self.fraction = fraction;
        while self.window.len() as u64 > self.window_size() {
            let k = self.lru_of(List::Window).unwrap();
            self.move_mru(k, List::Probation);
        }
        while self.main_len() > self.main_size() {
            let k = self.main_lru().unwrap();
            self.move_mru(k, List::Window);
        }
    }

    /// Removes `key` if resident: no sketch change, nothing else moves.
    pub fn remove(&mut self, key: u64) -> bool {
        if self.entries.contains_key(&key) {
            self.evict(key);
            true
        } else {
            false
        }
    }
}

// ---------------------------------------------------------------------------
// Window tuner: shadow caches on a hash-sampled subset of keys
// ---------------------------------------------------------------------------

#[derive(Clone, Debug)]
pub struct Tuner {
    /// A key is sampled iff `shift == 0` or
    /// `hash * SAMPLE_MULTIPLIER >> (64 - shift) == 0` (wrapping).
    shift: u32,
    /// One shadow per `SHADOW_FRACTIONS` entry, same order.
    shadows: Vec<Core>,
    hits: [u64; 5],
    score: [u64; 5],
    /// Decayed, scaled sampled lookups (see `JUMP_PERMILLE`).
    lookups: u64,
    /// Sampled lookups so far in this epoch, and the epoch's length.
    seen: u64,
    epoch: u64,
    /// Epochs ended, saturating at `EPOCH_MULTIPLIER`.
    epochs: u64,
    /// Index into `SHADOW_FRACTIONS` of the current decision.
    current: usize,
}

impl Tuner {
    /// Tuner for a cache of total `capacity` (> 0):
    /// * `shift` = largest `s <= MAX_SAMPLE_SHIFT` with
    ///   `capacity >> s >= MIN_SHADOW_CAPACITY` (0 if none);
    /// * each shadow: capacity `capacity >> shift`, its fixed fraction,
    ///   sketch sizing capacity `max(capacity, MIN_SKETCH_CAPACITY) >> shift`,
    ///   period `max((RESET_MULTIPLIER * max(capacity, MIN_SKETCH_CAPACITY))
    ///   >> shift, 1)`;
    /// * first epoch = `max(capacity >> shift, MIN_EPOCH)`.
    pub fn new(capacity: u64) -> Self {
        let mut shift = 0;
        while shift < MAX_SAMPLE_SHIFT && (capacity >> (shift + 1)) >= MIN_SHADOW_CAPACITY {
            shift += 1;
        }
        let cap = capacity >> shift;
        let sized = capacity.max(MIN_SKETCH_CAPACITY);
        let period = ((RESET_MULTIPLIER * sized) >> shift).max(1);
        let shadows = SHADOW_FRACTIONS
            .iter()
            .map(|&f| Core::with_sketch(cap, f, sized >> shift, period))
            .collect();
        Tuner {
            shift,
            shadows,
            hits: [0; 5],
            score: [0; 5],
            lookups: 0,
            seen: 0,
            epoch: cap.max(MIN_EPOCH),
            epochs: 0,
            current: INITIAL_FRACTION_INDEX,
        }
    }

    pub fn sampled(&self, hash: u64) -> bool {
        self.shift == 0 || hash.wrapping_mul(SAMPLE_MULTIPLIER) >> (64 - self.shift) == 0
    }

    /// The decided window fraction, per-mille.
    pub fn fraction(&self) -> u32 {
        SHADOW_FRACTIONS[self.current]
    }

    /// A lookup of a sampled key (callers check [`Tuner::sampled`]): each
    /// shadow, in order, replays it read-through (`get`; on a miss
    /// `insert`), counting its hits; then `seen += 1` and at `seen == epoch`
    /// the epoch ends.
    pub fn on_get(&mut self, key: u64, hash: u64) {
        for (i, s) in self.shadows.iter_mut().enumerate() {
            if s.get(key, hash) {
                self.hits[i] += 1;
            } else {
                s.insert(key, hash);
            }
        }
        self.seen += 1;
        if self.seen >= self.epoch {
            self.end_epoch();
        }
    }

    /// An insert of a sampled key: each shadow not holding it inserts it
    /// (after a read-through miss they all hold it already: no-op).
    pub fn on_insert(&mut self, key: u64, hash: u64) {
        for s in &mut self.shadows {
            if !s.contains(key) {
                s.insert(key, hash);
            }
        }
    }

    /// End of epoch: `lookups` and every `score[i]` decay by 1/16 and gain
    /// this epoch's `seen << 8` and `hits[i] << 8`; best = highest score,
    /// ties broken by nearest index to `current`, then lower index; if
    /// best's lead over current's score, times 1000, exceeds `lookups *
    /// JUMP_PERMILLE`, current = best; otherwise if that lead times 1000 is
    /// at most `lookups * HYSTERESIS_PERMILLE` (saturating products) best =
    /// current, and `current` moves ONE index toward best (stays if
    /// equal); hits and seen reset to 0, and the next epoch is one shadow
    /// capacity longer, up to `EPOCH_MULTIPLIER` of them.
    fn end_epoch(&mut self) {
        self.lookups = self.lookups - (self.lookups >> SCORE_DECAY_SHIFT) + (self.seen << 8);
        for i in 0..5 {
            self.score[i] =
                self.score[i] - (self.score[i] >> SCORE_DECAY_SHIFT) + (self.hits[i] << 8);
        }
        let mut best = self.current;
        for i in 0..5 {
            let key = |j: usize| {
                (
                    std::cmp::Reverse(self.score[j]),
                    j.abs_diff(self.current),
                    j,
                )
            };
            if key(i) < key(best) {
                best = i;
            }
        }
        let lead = (self.score[best] - self.score[self.current]).saturating_mul(1000);
        if lead > self.lookups.saturating_mul(JUMP_PERMILLE) {
            self.current = best;
        } else if lead <= self.lookups.saturating_mul(HYSTERESIS_PERMILLE) {
            best = self.current;
        }
        if best > self.current {
            self.current += 1;
        } else if best < self.current {
            self.current -= 1;
        }
        self.hits = [0; 5];
        self.seen = 0;
        self.epochs = (self.epochs + 1).min(EPOCH_MULTIPLIER);
        let cap = self.shadows[0].capacity();
        self.epoch = (cap * (self.epochs + 1).min(EPOCH_MULTIPLIER)).max(MIN_EPOCH);
    }
}

// ---------------------------------------------------------------------------
// The adaptive policy for one shard
// ---------------------------------------------------------------------------

/// W-TinyLFU with a shadow-tuned window: the reference model.
///
/// Capacity 0 stores nothing (no tuner, no sketch activity). Capacity 1:
/// with a non-zero fraction (the initial 1% rounds up to one entry) the
/// window holds the single entry (plain LRU of one); if the tuner picks the
/// 0 fraction a new key must beat the resident one in admission.
#[derive(Clone, Debug)]
pub struct TinyLfu {
    core: Core,
    tuner: Option<Tuner>,
}

impl TinyLfu {
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity as u64;
        TinyLfu {
            core: Core::new(capacity),
            tuner: (capacity > 0).then(|| Tuner::new(capacity)),
        }
    }

    pub fn len(&self) -> usize {
        self.core.len()
    }
    pub fn contains(&self, key: u64) -> bool {
        self.core.contains(key)
    }
    pub fn core(&self) -> &Core {
        &self.core
    }

    /// Lookup: if the key is sampled, first `tuner.on_get` and
    /// `core.set_fraction(tuner.fraction())`; then `core.get`.
    pub fn get(&mut self, key: u64, hash: u64) -> bool {
        if let Some(t) = &mut self.tuner {
            if t.sampled(hash) {
                t.on_get(key, hash);
                self.core.set_fraction(t.fraction());
            }
        }
        self.core.get(key, hash)
    }

    /// Insert/update: if sampled, first `tuner.on_insert`; then
    /// `core.insert`. Returns the evicted keys in order.
    pub fn insert(&mut self, key: u64, hash: u64) -> Vec<u64> {
        if let Some(t) = &mut self.tuner {
            if t.sampled(hash) {
                t.on_insert(key, hash);
            }
        }
        self.core.insert(key, hash)
    }

    /// Removes the key if resident (shadows and sketch untouched).
    pub fn remove(&mut self, key: u64, _hash: u64) -> bool {
        self.core.remove(key)
    }
}
