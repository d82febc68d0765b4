//! A small deterministic PRNG (xorshift64*) for the randomized tests, so a
//! failure reproduces from its seed. Include it with
//!
//! ```ignore
//! #[path = "support/rng.rs"]
//! mod rng;
//! ```
#![allow(dead_code)]

pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform below `n` (up to a bias too small to matter here).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// From 0 to about 2^bits, spread evenly over the scales.
    pub fn span(&mut self, bits: u64) -> u64 {
        let shift = self.below(bits);
        self.below(2 << shift)
    }
}
