//! W-TinyLFU's frequency sketch: a blocked 4-bit count-min sketch of recent
//! accesses, aged by halving.
//!
//! The layout is Caffeine's: the table is an array of 64-byte blocks (one
//! cache line each, eight 64-bit words of sixteen 4-bit counters), and all
//! four counters of a key live in one block, so counting a key costs one
//! cache miss rather than four.

/// splitmix64's finalizer, a bijective 64-bit mixer (test hashes).
#[cfg(test)]
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The sketch's one remix of a key's hash (xorshift, multiply, xorshift:
/// every output bit depends on every input bit), so that a weak hasher's
/// patterns do not become counter collisions.
#[inline]
pub(crate) fn remix(mut h: u64) -> u64 {
    h ^= h >> 32;
    h = h.wrapping_mul(0xD6E8_FEB8_6659_FD93);
    h ^ (h >> 32)
}

/// The largest power of two `<= max(x, 1)`.
pub(crate) fn prev_pow2(x: u64) -> u64 {
    1u64 << (63 - x.max(1).leading_zeros())
}

/// Words per block: one 64-byte cache line.
const BLOCK_WORDS: usize = 8;
/// The most blocks a sketch has (2^30 words, 8 GiB).
const MAX_BLOCKS: u64 = 1 << 27;
/// Every counter's high bit cleared after a right shift by one: halving.
const HALVE_MASK: u64 = 0x7777_7777_7777_7777;

/// One cache line of counters.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C, align(64))]
struct Block([u64; BLOCK_WORDS]);

/// `max(prev_pow2(sizing capacity) / 8, 1)` blocks of eight words of
/// sixteen 4-bit counters: at most 8 bytes per entry of sizing capacity,
/// and at least one 64-byte block.
///
/// A key's counters: with `r = remix(hash)`, its block is
/// `r & (blocks - 1)`, and for `i` in `0..4`, with `b = r >> (44 + 5 i)`
/// (five bits), counter `i` is in word `2 i + (b & 1)` of the block, nibble
/// `(b >> 1) & 15`. So the four counters are in four different words (four
/// rows of 32 counters per block), and the block index (the low 27 bits of
/// `r` at most) and the positions (bits 44..64) do not overlap. The estimate
/// is the smallest of the four. Every `period` increments all counters are
/// halved, so the sketch tracks recent frequency.
#[derive(Clone, Debug)]
pub(crate) struct Sketch {
    table: Box<[Block]>,
    /// `blocks - 1` (a power of two minus one).
    mask: u64,
    ops: u64,
    period: u64,
}

impl Sketch {
    pub(crate) fn new(sizing_capacity: u64, period: u64) -> Self {
        let blocks = Self::blocks_for(sizing_capacity);
        Sketch {
            table: vec![Block::default(); blocks as usize].into_boxed_slice(),
            mask: blocks - 1,
            ops: 0,
            period: period.max(1),
        }
    }

    fn blocks_for(sizing_capacity: u64) -> u64 {
        (prev_pow2(sizing_capacity) / BLOCK_WORDS as u64).clamp(1, MAX_BLOCKS)
    }

    /// Re-sizes the sketch for a new capacity (a cache resized with
    /// `set_capacity`). The counts survive if the table keeps its size;
    /// otherwise the sketch starts empty, as a key's counters move.
    pub(crate) fn resize(&mut self, sizing_capacity: u64, period: u64) {
        if Self::blocks_for(sizing_capacity) != self.mask + 1 {
            *self = Sketch::new(sizing_capacity, period);
        } else {
            self.period = period.max(1);
            if self.ops >= self.period {
                self.halve();
            }
        }
    }

    /// The key's block, and the bits that place its counters in it: five
    /// per counter, from bit 0 (`remix(hash) >> 44`).
    #[inline]
    fn locate(&self, hash: u64) -> (usize, u64) {
        let r = remix(hash);
        ((r & self.mask) as usize, r >> 44)
    }

    /// Counter `row`'s word in its block and bit shift in that word, from
    /// its five bits `b`: word `2 row + (b & 1)`, nibble `(b >> 1) & 15`.
    #[inline(always)]
    fn counter(row: usize, b: u64) -> (usize, u64) {
        (2 * row + (b & 1) as usize, (b & 0x1E) << 1)
    }

    /// The estimated recent count of `hash`, 0..=15.
    #[inline]
    pub(crate) fn frequency(&self, hash: u64) -> u8 {
        let (block, mut bits) = self.locate(hash);
        let words = &self.table[block].0;
        let mut min = 15;
        for row in 0..4 {
            let (word, shift) = Self::counter(row, bits);
            min = min.min((words[word] >> shift) & 15);
            bits >>= 5;
        }
        min as u8
    }

    /// Counts one access of `hash` (saturating each counter at 15), then
    /// ages the whole sketch if the period is over.
    #[inline]
    pub(crate) fn increment(&mut self, hash: u64) {
        let (block, mut bits) = self.locate(hash);
        let words = &mut self.table[block].0;
        for row in 0..4 {
            let (word, shift) = Self::counter(row, bits);
            let count = (words[word] >> shift) & 15;
            // +1, unless the counter is at 15 (then `count + 1 == 16`).
            words[word] += (((count + 1) >> 4) ^ 1) << shift;
            bits >>= 5;
        }
        self.ops += 1;
        if self.ops >= self.period {
            self.halve();
        }
    }

    /// Halves every counter (rounding down) and starts a new period.
    #[cold]
    fn halve(&mut self) {
        for block in self.table.iter_mut() {
            for word in &mut block.0 {
                *word = (*word >> 1) & HALVE_MASK;
            }
        }
        self.ops = 0;
    }

    #[cfg(any(test, feature = "test-hooks"))]
    /// Heap bytes.
    pub(crate) fn bytes(&self) -> usize {
        std::mem::size_of_val::<[Block]>(&self.table)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Well-spread distinct hashes, as a good hasher gives.
    fn hashes(seed: u64, n: usize) -> Vec<u64> {
        (0..n as u64).map(|i| mix64(i ^ (seed << 40))).collect()
    }

    #[test]
    fn layout() {
        // One block at least; otherwise prev_pow2(capacity) words.
        assert_eq!(Sketch::new(1, 10).bytes(), 64);
        assert_eq!(Sketch::new(8, 10).bytes(), 64);
        assert_eq!(Sketch::new(256, 10).bytes(), 256 * 8);
        assert_eq!(Sketch::new(1000, 10).bytes(), 512 * 8);
        assert_eq!(Sketch::new(1024, 10).bytes(), 1024 * 8);
        let sketch = Sketch::new(1 << 12, 10);
        assert_eq!(
            sketch.table.as_ptr() as usize % 64,
            0,
            "blocks are cache lines"
        );
        for h in hashes(1, 1000) {
            let (block, mut bits) = sketch.locate(h);
            assert!(block < sketch.table.len());
            for row in 0..4 {
                let (word, shift) = Sketch::counter(row, bits);
                assert_eq!(word / 2, row, "counter {row} is in row {row}");
                assert!(shift < 64 && shift % 4 == 0);
                bits >>= 5;
            }
        }
    }

    #[test]
    fn estimates_grow_with_each_count_and_saturate() {
        let mut sketch = Sketch::new(256, u64::MAX);
        for h in hashes(2, 200) {
            sketch.increment(h); // background load
        }
        let key = 0xDEAD_BEEF_u64;
        let mut last = sketch.frequency(key);
        for _ in 0..20 {
            sketch.increment(key);
            let now = sketch.frequency(key);
            assert!(now >= last, "an estimate never drops between halvings");
            assert!(now > last || now == 15, "a count below 15 always grows");
            last = now;
        }
        assert_eq!(last, 15);
        assert!(sketch.frequency(7) < 15);
    }

    #[test]
    fn counts_halve_every_period() {
        let mut aging = Sketch::new(256, 10);
        for _ in 0..9 {
            aging.increment(1);
        }
        assert_eq!(aging.frequency(1), 9);
        aging.increment(1); // the 10th increment halves: 10 -> 5
        assert_eq!(aging.frequency(1), 5);
        for _ in 0..10 {
            aging.increment(2); // 5 -> 2, and 2's own 10 -> 5
        }
        assert_eq!(aging.frequency(1), 2);
        assert_eq!(aging.frequency(2), 5);
    }

    #[test]
    fn resizing_keeps_counts_only_if_the_table_keeps_its_size() {
        let mut sketch = Sketch::new(256, 1000);
        for _ in 0..3 {
            sketch.increment(9);
        }
        sketch.resize(300, 3000); // still 256 words: counts stay
        assert_eq!((sketch.bytes(), sketch.period), (256 * 8, 3000));
        assert_eq!(sketch.frequency(9), 3);
        sketch.resize(4096, 40_960); // grows with the cache
        assert_eq!((sketch.bytes(), sketch.period), (4096 * 8, 40_960));
        assert_eq!(sketch.frequency(9), 0);
        for _ in 0..5 {
            sketch.increment(9);
        }
        sketch.resize(4096, 4); // a shorter period that is already over
        assert_eq!(sketch.frequency(9), 2, "halved at once");
    }

    #[test]
    fn frequent_keys_stand_out_at_a_realistic_load() {
        // A sketch for 1,000 entries (512 words, the sparsest sizing) half
        // way through an aging period: 250 keys seen 8 times each among
        // 3,000 keys seen once, interleaved.
        let capacity = 1_000;
        let mut sketch = Sketch::new(capacity, 10 * capacity);
        let frequent = hashes(3, 250);
        let once = hashes(4, 3_000);
        let mut once_iter = once.iter();
        for _ in 0..8 {
            for &h in &frequent {
                sketch.increment(h);
            }
            for &h in once_iter.by_ref().take(375) {
                sketch.increment(h);
            }
        }
        assert_eq!(sketch.ops, 5_000, "no halving yet");
        // Count-min never underestimates.
        assert!(frequent.iter().all(|&h| sketch.frequency(h) >= 8));
        let estimates: Vec<u8> = once.iter().map(|&h| sketch.frequency(h)).collect();
        assert!(estimates.iter().all(|&e| e >= 1));
        let over = |t: u8| estimates.iter().filter(|&&e| e > t).count();
        // Most one-off keys are estimated at 1, few collide up to 4 or
        // more (the old one-word-per-counter layout: 1,218, 17 and 1).
        assert!(over(1) < 1_500, "{} of 3000 above 1", over(1));
        assert!(over(3) < 60, "{} of 3000 above 3", over(3));
        assert!(over(7) < 5, "{} of 3000 as high as a frequent key", over(7));
    }
}
