//! The window tuner: sizes W-TinyLFU's admission window from five small
//! shadow caches.
//!
//! Each shadow is a W-TinyLFU with a fixed window (1%, 3%, 10%, 30%, 100% of
//! its capacity; at 100% it is exact LRU) fed the same hash-sampled subset
//! of the cache's accesses, its capacity scaled down by the sample rate. The
//! real window starts at 1%. Every epoch it moves to the shadow with the best
//! decayed hit count: straight there if that score leads the current
//! fraction's by more than `JUMP_PERMILLE` of the decayed sampled lookups
//! (a lead of 5 points of hit ratio), else one step toward it if it leads
//! by more than `HYSTERESIS_PERMILLE` of them (1 point). Epochs start
//! short (1, 2, 3 × a shadow's capacity, then 4 ×), so that a short trace
//! gets its first decisions early. One tuner serves every shard of a
//! cache (behind its own lock, taken only for sampled keys and only if
//! free: a busy tuner drops the sample; writers take it under their shard
//! lock, readers after releasing theirs); the decision is published in an
//! atomic that each shard applies on its next write-locked access.

use hashbrown::HashTable;

use super::tinylfu::{TinyLfu, MIN_SKETCH_CAPACITY, RESET_MULTIPLIER};
use crate::arena::{Arena, Segment};

/// Window fractions (per-mille) of the shadows; the real window is always
/// one of these. Roughly ×3 apart, from nearly LFU (1%) to exact LRU
/// (100%, an empty main): an 80% window still lets frequency decide a
/// fifth of the cache, and lost 2 points to LRU on recency-heavy traces.
pub(crate) const FRACTIONS: [u32; SHADOWS] = [10, 30, 100, 300, 1000];
const SHADOWS: usize = 5;
/// Where a new cache starts (a 1% window).
pub(crate) const INITIAL_FRACTION: u32 = FRACTIONS[0];
const MIN_SHADOW_CAPACITY: u64 = 64;
const MAX_SAMPLE_SHIFT: u32 = 16;
const EPOCH_MULTIPLIER: u64 = 4;
const MIN_EPOCH: u64 = 32;
const SCORE_DECAY_SHIFT: u32 = 4;
/// The decision moves only if the best score beats the current fraction's
/// by more than this share, per-mille, of the decayed count of sampled
/// lookups: a lead of 1 point of hit ratio. (A lead relative to the
/// current score, as before, let a filling cache's first epochs, with a
/// handful of hits each, move the window on a one-hit difference.)
const HYSTERESIS_PERMILLE: u64 = 10;
/// The decision jumps straight to the best fraction (rather than one step
/// toward it) when the best score leads the current one by more than this
/// share, per-mille, of the decayed count of sampled lookups: a lead of 5
/// points of hit ratio, far beyond the shadows' sampling noise.
const JUMP_PERMILLE: u64 = 50;
/// Odd (2^64 / golden ratio): multiplying by it moves every bit of the hash
/// into the top bits, which decide the sample (Fibonacci hashing). Cheaper
/// than a full mixer on a path every lookup takes, and uniform even for a
/// weak user hasher (an identity hash of sequential keys).
const SAMPLE_MULTIPLIER: u64 = 0x9E37_79B9_7F4A_7C15;

/// A shadow cache: W-TinyLFU over key hashes alone (a 64-bit hash stands
/// for its key), on its own small arena.
struct Shadow {
    arena: Arena<u64, ()>,
    table: HashTable<u32>,
    policy: TinyLfu,
    capacity: u64,
}

impl Shadow {
    fn find(&self, hash: u64) -> Option<u32> {
        let arena = &self.arena;
        self.table.find(hash, |&i| *arena.key(i) == hash).copied()
    }

    /// A lookup: a hit is counted and promoted.
    fn get(&mut self, hash: u64) -> bool {
        match self.find(hash) {
            Some(index) => {
                self.policy.on_hit(&mut self.arena, index, hash, None);
                true
            }
            None => false,
        }
    }

    /// An insert, as the real shard does it (unit weights).
    fn insert(&mut self, hash: u64) {
        if self.capacity == 0 {
            return;
        }
        if let Some(index) = self.find(hash) {
            self.policy.on_hit(&mut self.arena, index, hash, None);
            return;
        }
        let limit = self.capacity as usize + 1;
        let index = self.arena.insert(Segment::Window, hash, (), limit);
        let arena = &self.arena;
        self.table.insert_unique(hash, index, |&i| *arena.key(i));
        self.policy.on_insert(hash, 1);
        while self.arena.len() as u64 > self.capacity {
            let Some(victim) = self.policy.victim(&mut self.arena, &|h: &u64| *h, None) else {
                break;
            };
            let victim = victim.index;
            let segment = self.arena.segment(victim);
            let (key, ()) = self.arena.remove(victim);
            if let Ok(entry) = self.table.find_entry(key, |&i| i == victim) {
                entry.remove();
            }
            self.policy.on_remove(segment, 1);
        }
        self.policy.settle(&mut self.arena, None);
    }
}

/// Chooses the window fraction of a W-TinyLFU cache. See the module docs.
pub(crate) struct Tuner {
    /// A key is sampled if `shift == 0` or the top `shift` bits of
    /// `hash * SAMPLE_MULTIPLIER` (wrapping) are zero.
    shift: u32,
    shadows: Vec<Shadow>,
    hits: [u64; SHADOWS],
    score: [u64; SHADOWS],
    /// The sampled lookups, decayed and scaled as the scores are.
    lookups: u64,
    seen: u64,
    /// This epoch's length in sampled lookups.
    epoch: u64,
    /// Epochs ended so far (saturating at `EPOCH_MULTIPLIER`).
    epochs: u64,
    /// Index into `FRACTIONS` of the current decision.
    current: usize,
}

impl Tuner {
    /// A tuner for a cache of total `capacity` (> 0): samples 1 key in
    /// 2^shift, the largest shift (up to 16) leaving each shadow 64 entries.
    pub(crate) fn new(capacity: u64) -> Self {
        let mut shift = 0;
        while shift < MAX_SAMPLE_SHIFT && (capacity >> (shift + 1)) >= MIN_SHADOW_CAPACITY {
            shift += 1;
        }
        let cap = capacity >> shift;
        let sized = capacity.max(MIN_SKETCH_CAPACITY);
        let period = ((RESET_MULTIPLIER * sized) >> shift).max(1);
        let shadows = FRACTIONS
            .iter()
            .map(|&fraction| Shadow {
                arena: Arena::new(),
                table: HashTable::new(),
                policy: TinyLfu::with_sketch(cap, fraction, sized >> shift, period),
                capacity: cap,
            })
            .collect();
        Tuner {
            shift,
            shadows,
            hits: [0; SHADOWS],
            score: [0; SHADOWS],
            lookups: 0,
            seen: 0,
            epoch: Self::epoch_length(cap, 0),
            epochs: 0,
            current: FRACTIONS
                .iter()
                .position(|&f| f == INITIAL_FRACTION)
                .unwrap_or(0),
        }
    }

    /// Epoch `n`'s length (from 0) for shadows of `cap` entries: `n + 1`
    /// times `cap` sampled lookups, up to `EPOCH_MULTIPLIER` times.
    fn epoch_length(cap: u64, n: u64) -> u64 {
        (cap * (n + 1).min(EPOCH_MULTIPLIER)).max(MIN_EPOCH)
    }

    /// Whether the tuner looks at this key, given its `sample_limit()`:
    /// the same test as "the top `shift` bits of `hash * SAMPLE_MULTIPLIER`
    /// are zero", as one multiply and one compare.
    #[inline]
    pub(crate) fn sampled(limit: u64, hash: u64) -> bool {
        hash.wrapping_mul(SAMPLE_MULTIPLIER) <= limit
    }

    /// The largest product `sampled` accepts: `2^(64 - shift) - 1`, or
    /// every product when `shift` is 0.
    pub(crate) fn sample_limit(&self) -> u64 {
        u64::MAX.checked_shr(self.shift).unwrap_or(0)
    }

    /// The decided window fraction, per-mille.
    pub(crate) fn fraction(&self) -> u32 {
        FRACTIONS[self.current]
    }

    /// A lookup of a sampled key: every shadow replays it read-through.
    pub(crate) fn on_get(&mut self, hash: u64) {
        for (i, shadow) in self.shadows.iter_mut().enumerate() {
            if shadow.get(hash) {
                self.hits[i] += 1;
            } else {
                shadow.insert(hash);
            }
        }
        self.seen += 1;
        if self.seen >= self.epoch {
            self.end_epoch();
        }
    }

    /// An insert of a sampled key: shadows that lack it insert it.
    pub(crate) fn on_insert(&mut self, hash: u64) {
        for shadow in &mut self.shadows {
            if shadow.find(hash).is_none() {
                shadow.insert(hash);
            }
        }
    }

    /// Decays the scores, adds this epoch's hits, and moves the decision
    /// toward the best score (ties: nearest, then smaller): straight to it
    /// if its lead over the current score exceeds `JUMP_PERMILLE` of the
    /// decayed lookups, else one step if it leads by more than
    /// `HYSTERESIS_PERMILLE` of them.
    fn end_epoch(&mut self) {
        self.lookups = self.lookups - (self.lookups >> SCORE_DECAY_SHIFT) + (self.seen << 8);
        for i in 0..SHADOWS {
            self.score[i] =
                self.score[i] - (self.score[i] >> SCORE_DECAY_SHIFT) + (self.hits[i] << 8);
        }
        let rank = |j: usize| {
            (
                std::cmp::Reverse(self.score[j]),
                j.abs_diff(self.current),
                j,
            )
        };
        let mut best = (0..SHADOWS)
            .min_by_key(|&j| rank(j))
            .unwrap_or(self.current);
        let lead = (self.score[best] - self.score[self.current]).saturating_mul(1000);
        if lead > self.lookups.saturating_mul(JUMP_PERMILLE) {
            self.current = best;
        } else if lead <= self.lookups.saturating_mul(HYSTERESIS_PERMILLE) {
            best = self.current;
        }
        match best.cmp(&self.current) {
            std::cmp::Ordering::Greater => self.current += 1,
            std::cmp::Ordering::Less => self.current -= 1,
            std::cmp::Ordering::Equal => {}
        }
        self.hits = [0; SHADOWS];
        self.seen = 0;
        self.epochs = (self.epochs + 1).min(EPOCH_MULTIPLIER);
        self.epoch = Self::epoch_length(self.shadows[0].capacity, self.epochs);
    }
}
