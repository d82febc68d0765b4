//! Each slot's cap: the latest deadline reads may give its entry (the
//! write time plus the `time_to_live`, or the `insert_with_ttl` lifetime),
//! kept where reads move deadlines (`time_to_idle`, an `Expiry`) and
//! something bounds them. See `Expiration::on_write`.
//!
//! A cap is only ever read for a live entry, at the shard's time `now`:
//! then `now < deadline <= cap`, and `cap - now` is at most the lifetime
//! the entry was written with. So with a `time_to_live`, a cap is kept in
//! 4 bytes: its low 32 bits in units of `2^shift` ns, the unit chosen so
//! that the `time_to_live` is under 2^31 units (a unit is then under a
//! 2^30th of it: 256 ns for five minutes). Read back against `now` as an
//! offset of less than 2^31 units either way, those bits name exactly one
//! time: the cap, rounded down to its unit. An entry given a longer
//! lifetime (`insert_with_ttl`), or none, turns the shard's caps to 8 bytes
//! each, once; a shard with no `time_to_live` has 8-byte caps from the
//! start.

use crate::arena::grow_side_table;
use crate::expiry::NEVER;

/// See the module docs.
pub(crate) enum Caps {
    /// Low 32 bits of each cap in units of `2^shift` ns (slots never set
    /// hold 0: only live entries' caps are read).
    Compact { shift: u32, caps: Vec<u32> },
    /// Each cap in nanoseconds, or [`NEVER`].
    Wide(Vec<u64>),
}

impl Caps {
    /// Caps for entries written with lifetimes up to `ttl` (more turns
    /// them wide), or wide ones if `ttl` is `None`.
    pub(crate) fn new(ttl: Option<u64>) -> Self {
        match ttl {
            Some(ttl) => Caps::Compact {
                shift: (u64::BITS - ttl.leading_zeros()).saturating_sub(31),
                caps: Vec::new(),
            },
            None => Caps::Wide(Vec::new()),
        }
    }

    /// The cap of the live entry at `index`, read at the shard's time
    /// `now` (before the entry's deadline).
    #[inline]
    pub(crate) fn get(&self, index: u32, now: u64) -> u64 {
        match self {
            Caps::Compact { shift, caps } => match caps.get(index as usize) {
                None => NEVER,
                Some(&low) => {
                    // Signed: a cap read after it (never, for a live
                    // entry) comes out in the past, not 2^32 units ahead.
                    let now = now >> shift;
                    let ahead = low.wrapping_sub(now as u32) as i32;
                    let cap = now.saturating_add_signed(i64::from(ahead));
                    cap.saturating_mul(1 << shift)
                }
            },
            Caps::Wide(caps) => caps.get(index as usize).copied().unwrap_or(NEVER),
        }
    }

    /// Sets the cap of the entry at `index`, written at the shard's time
    /// `now`; grows the table in step with the arena (`slots` is its
    /// capacity).
    pub(crate) fn set(&mut self, index: u32, cap: u64, now: u64, slots: usize) {
        if let Caps::Compact { shift, .. } = self {
            let ahead = (cap >> *shift).saturating_sub(now >> *shift);
            if cap == NEVER || ahead >= 1 << 31 {
                self.widen(now);
            }
        }
        let i = index as usize;
        match self {
            Caps::Compact { shift, caps } => {
                grow_side_table(caps, index, slots, || 0);
                caps[i] = (cap >> *shift) as u32;
            }
            Caps::Wide(caps) => {
                grow_side_table(caps, index, slots, || NEVER);
                caps[i] = cap;
            }
        }
    }

    /// Turns compact caps wide, reading each at `now` (the caps of
    /// expired entries come out wrong, and are never read: an expired
    /// entry is not read, and a write gives it a new cap).
    fn widen(&mut self, now: u64) {
        let Caps::Compact { caps, .. } = &*self else {
            return;
        };
        let slots = caps.len() as u32;
        let wide = (0..slots).map(|i| self.get(i, now)).collect();
        *self = Caps::Wide(wide);
    }

    /// Every entry left the shard.
    pub(crate) fn clear(&mut self) {
        match self {
            Caps::Compact { caps, .. } => *caps = Vec::new(),
            Caps::Wide(caps) => *caps = Vec::new(),
        }
    }

    #[cfg(any(test, feature = "test-hooks"))]
    pub(crate) fn heap_bytes(&self) -> usize {
        match self {
            Caps::Compact { caps, .. } => caps.capacity() * 4,
            Caps::Wide(caps) => caps.capacity() * 8,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: u64 = 1_000_000_000;

    /// A compact cap reads back within one unit below, at any time
    /// before it, however far the clock has run (past 2^32 units).
    #[test]
    fn compact_caps_read_back_at_any_time_before_them() {
        let ttl = 300 * SEC;
        let mut caps = Caps::new(Some(ttl));
        let Caps::Compact { shift, .. } = caps else {
            panic!("a time_to_live gives compact caps");
        };
        assert_eq!(shift, 8, "five minutes is under 2^31 units of 256 ns");
        let unit = 1 << shift;
        for start in [0, 7 * SEC, 1 << 45, (1 << 50) + 12_345, u64::MAX >> 2] {
            let cap = start + ttl;
            caps.set(3, cap, start, 8);
            for now in [start, start + 1, start + ttl / 2, cap - unit, cap - 1] {
                let read = caps.get(3, now);
                assert!(
                    read <= cap && cap - read < unit,
                    "cap {cap} read {read} at {now}"
                );
            }
        }
        // Low bits all ones, read within the cap's own unit.
        let cap = (((7u64 << 32) | 0xFFFF_FFFF) << shift) + 100;
        caps.set(1, cap, cap - ttl, 8);
        assert_eq!(caps.get(1, cap - 50), cap - 100);
        assert_eq!(caps.get(1, cap - ttl), cap - 100);
        assert_eq!(caps.get(9, 0), NEVER, "a slot past the table has no cap");
        assert_eq!(caps.heap_bytes(), 8 * 4);
    }

    /// A cap beyond the compact range turns the table wide, keeping the
    /// caps already there.
    #[test]
    fn a_longer_lifetime_widens_the_caps() {
        let now = 1 << 40;
        let mut caps = Caps::new(Some(SEC));
        caps.set(0, now + SEC, now, 4);
        caps.set(1, now + 1_000_000 * SEC, now, 4);
        assert!(matches!(caps, Caps::Wide(_)));
        assert_eq!(caps.get(1, now), now + 1_000_000 * SEC);
        let kept = caps.get(0, now + 1);
        assert!(kept <= now + SEC && now + SEC - kept < 4, "read {kept}");
        let mut wide = Caps::new(None);
        wide.set(2, 42, 0, 4);
        assert_eq!(wide.get(2, 0), 42);
        let mut none = Caps::new(Some(SEC));
        none.set(0, now + SEC, now, 4);
        none.set(1, NEVER, now, 4);
        assert!(matches!(none, Caps::Wide(_)), "no cap widens too");
        assert_eq!(none.get(1, now), NEVER);
        assert_eq!(none.get(0, now), now + SEC);
    }
}
