//! W-TinyLFU's frequency sketch: a 4-bit count-min sketch of recent
//! accesses, aged by halving.

/// splitmix64's finalizer, a bijective 64-bit mixer: derives the sketch's
/// counter positions and the tuner's sampling from the key's hash.
#[inline]
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The largest power of two `<= max(x, 1)`.
pub(crate) fn prev_pow2(x: u64) -> u64 {
    1u64 << (63 - x.max(1).leading_zeros())
}

const SEEDS: [u64; 4] = [
    0x9E37_79B9_7F4A_7C15,
    0xC2B2_AE3D_27D4_EB4F,
    0x1656_67B1_9E37_79F9,
    0x27D4_EB2F_1656_67C5,
];

/// `prev_pow2(sizing capacity)` words of sixteen 4-bit counters: at most 8
/// bytes per entry of capacity. A key's four counters are at, for each
/// seed, `x = mix64(hash ^ seed)`: word `x & (words - 1)`, nibble `x >> 60`.
/// Its estimate is the smallest of the four. Every `period` increments all
/// counters are halved, so the sketch tracks recent frequency.
#[derive(Clone, Debug)]
pub(crate) struct Sketch {
    table: Box<[u64]>,
    ops: u64,
    period: u64,
}

impl Sketch {
    pub(crate) fn new(sizing_capacity: u64, period: u64) -> Self {
        let words = usize::try_from(prev_pow2(sizing_capacity))
            .unwrap_or(1 << 30)
            .min(1 << 30);
        Sketch {
            table: vec![0; words].into_boxed_slice(),
            ops: 0,
            period: period.max(1),
        }
    }

    #[inline]
    fn slots(&self, hash: u64) -> [(usize, u32); 4] {
        let mask = self.table.len() as u64 - 1;
        SEEDS.map(|seed| {
            let x = mix64(hash ^ seed);
            ((x & mask) as usize, ((x >> 60) as u32) * 4)
        })
    }

    /// The estimated recent count of `hash`, 0..=15.
    pub(crate) fn frequency(&self, hash: u64) -> u8 {
        self.slots(hash)
            .iter()
            .map(|&(word, shift)| ((self.table[word] >> shift) & 15) as u8)
            .min()
            .unwrap_or(0)
    }

    /// Counts one access of `hash` (saturating each counter at 15), then
    /// ages the whole sketch if the period is over.
    pub(crate) fn increment(&mut self, hash: u64) {
        for (word, shift) in self.slots(hash) {
            if (self.table[word] >> shift) & 15 < 15 {
                self.table[word] += 1 << shift;
            }
        }
        self.ops += 1;
        if self.ops >= self.period {
            for word in self.table.iter_mut() {
                *word = (*word >> 1) & 0x7777_7777_7777_7777;
            }
            self.ops = 0;
        }
    }

    /// Heap bytes.
    pub(crate) fn bytes(&self) -> usize {
        self.table.len() * 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_saturate_and_halve() {
        let mut sketch = Sketch::new(256, 1000);
        for _ in 0..20 {
            sketch.increment(42);
        }
        assert_eq!(sketch.frequency(42), 15);
        assert!(sketch.frequency(7) < 15);
        let mut aging = Sketch::new(256, 10);
        for _ in 0..9 {
            aging.increment(1);
        }
        assert_eq!(aging.frequency(1), 9);
        aging.increment(1); // the 10th increment halves: 10 -> 5
        assert_eq!(aging.frequency(1), 5);
    }
}
