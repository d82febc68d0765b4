//! A shard's hierarchical timer wheel, on `u32` links.
//!
//! Entries are filed by deadline in buckets: 5 levels, the finest of 64
//! buckets of 2^24 ns (16.8 ms, spanning 1.07 s), then 64 of 2^30 ns
//! (1.07 s, spanning 68.7 s), 64 of 2^36 ns (68.7 s, spanning 73 min), 64
//! of 2^42 ns (73 min, spanning 78 h), and one overflow bucket for anything
//! later (revisited every 2^48 ns, 78 h). An entry goes to the finest level
//! whose span covers its time left, in the bucket of its deadline there
//! (Caffeine's layout, with finer buckets).
//!
//! Each bucket is a circular doubly-linked list through the entries'
//! [`Timing`] links (indices of arena slots), closed by a sentinel: link
//! values from [`SENTINEL`] up name sentinels, which live in the wheel
//! itself, so filing, unfiling and moving a whole bucket are O(1) and never
//! need to know which bucket an entry is in. A 258th list, the *due list*,
//! collects the buckets whose time has passed when the wheel
//! [`advance`](Wheel::advance)s (a splice per bucket, whatever its length);
//! the shard then takes a bounded number of entries off the due list per
//! operation and removes those that are due or files the others anew (a
//! deadline moved later by a read, or an entry filed a lap ahead).
//!
//! The wheel never decides whether an entry is returned: reads compare the
//! entry's own deadline with the time. It only decides when the memory of
//! an expired entry is reclaimed.

use crate::expiry::{Timing, NEVER};
#[cfg(test)]
use std::sync::atomic::Ordering::Relaxed;

/// The link of an entry in no list.
pub(crate) const UNLINKED: u32 = u32::MAX;
/// Links from here up name sentinels (arena slots are below 2^29).
const SENTINEL: u32 = 1 << 30;

const LEVELS: usize = 5;
const SHIFTS: [u32; LEVELS] = [24, 30, 36, 42, 48];
const BUCKETS: [u64; LEVELS] = [64, 64, 64, 64, 1];
const OFFSETS: [usize; LEVELS] = [0, 64, 128, 192, 256];
const OVERFLOW: usize = 256;
/// The due list's sentinel.
const DUE: usize = 257;
const SENTINELS: usize = 258;

/// See the module docs.
pub(crate) struct Wheel {
    /// Each sentinel's `[prev, next]`.
    sentinels: Box<[[u32; 2]]>,
    /// The time the wheel was last advanced to (nanoseconds since the
    /// cache's epoch); it never goes back.
    time: u64,
    /// How long after its deadline an entry is due (fail-safe's
    /// `stale_if_error`, `refresh.rs`; else 0).
    grace: u64,
}

#[inline]
fn sentinel(s: usize) -> u32 {
    SENTINEL + s as u32
}

impl Wheel {
    pub(crate) fn new(grace: u64) -> Self {
        Wheel {
            sentinels: (0..SENTINELS).map(|s| [sentinel(s); 2]).collect(),
            time: 0,
            grace,
        }
    }

    #[inline]
    pub(crate) fn grace(&self) -> u64 {
        self.grace
    }

    #[inline]
    pub(crate) fn time(&self) -> u64 {
        self.time
    }

    #[inline]
    fn set_next(&mut self, t: &mut [Timing], link: u32, to: u32) {
        if link >= SENTINEL {
            self.sentinels[(link - SENTINEL) as usize][1] = to;
        } else {
            t[link as usize].next = to;
        }
    }

    #[inline]
    fn set_prev(&mut self, t: &mut [Timing], link: u32, to: u32) {
        if link >= SENTINEL {
            self.sentinels[(link - SENTINEL) as usize][0] = to;
        } else {
            t[link as usize].prev = to;
        }
    }

    /// The bucket for `deadline` at the wheel's time.
    fn bucket(&self, deadline: u64) -> usize {
        if deadline == NEVER {
            return OVERFLOW;
        }
        let left = deadline.saturating_sub(self.time);
        for level in 0..LEVELS - 1 {
            if left < 1 << SHIFTS[level + 1] {
                let ticks = deadline >> SHIFTS[level];
                return OFFSETS[level] + (ticks & (BUCKETS[level] - 1)) as usize;
            }
        }
        OVERFLOW
    }

    /// Files the entry at `index` by its deadline; one without a deadline
    /// is filed in the overflow bucket if `keep` (reads may give it one),
    /// else not at all.
    pub(crate) fn schedule(&mut self, t: &mut [Timing], index: u32, keep: bool) {
        let deadline = t[index as usize].get();
        if deadline == NEVER && !keep {
            return;
        }
        debug_assert!(
            deadline.saturating_add(self.grace) >= self.time,
            "an entry filed for a time the wheel has passed"
        );
        let s = self.bucket(deadline.saturating_add(self.grace));
        self.append(t, s, index);
    }

    /// Links `index` at the end of sentinel `s`'s list.
    fn append(&mut self, t: &mut [Timing], s: usize, index: u32) {
        let last = self.sentinels[s][0];
        t[index as usize].prev = last;
        t[index as usize].next = sentinel(s);
        self.set_next(t, last, index);
        self.sentinels[s][0] = index;
    }

    /// Unfiles the entry at `index`, if it is filed.
    #[inline]
    pub(crate) fn unschedule(&mut self, t: &mut [Timing], index: u32) {
        let Some(timing) = t.get(index as usize) else {
            return;
        };
        let (prev, next) = (timing.prev, timing.next);
        if next == UNLINKED {
            return;
        }
        self.set_next(t, prev, next);
        self.set_prev(t, next, prev);
        let timing = &mut t[index as usize];
        timing.prev = UNLINKED;
        timing.next = UNLINKED;
    }

    /// Moves bucket `s`'s whole list to the end of the due list.
    fn splice_due(&mut self, t: &mut [Timing], s: usize) {
        let [last, first] = self.sentinels[s];
        if first == sentinel(s) {
            return;
        }
        let due_last = self.sentinels[DUE][0];
        self.set_next(t, due_last, first);
        self.set_prev(t, first, due_last);
        self.set_next(t, last, sentinel(DUE));
        self.sentinels[DUE][0] = last;
        self.sentinels[s] = [sentinel(s); 2];
    }

    /// Advances the wheel to `now`: at each level whose tick changed, the
    /// buckets from the old tick's to the new one's (a whole lap at most)
    /// join the due list. O(buckets), whatever they hold. Returns whether
    /// the finest level's tick changed.
    pub(crate) fn advance(&mut self, t: &mut [Timing], now: u64) -> bool {
        if now >> SHIFTS[0] <= self.time >> SHIFTS[0] {
            self.time = self.time.max(now);
            return false;
        }
        for level in 0..LEVELS {
            let before = self.time >> SHIFTS[level];
            let after = now >> SHIFTS[level];
            if after <= before {
                break;
            }
            let steps = (after - before + 1).min(BUCKETS[level]);
            for step in 0..steps {
                let s = OFFSETS[level] + ((before + step) & (BUCKETS[level] - 1)) as usize;
                self.splice_due(t, s);
            }
        }
        self.time = now;
        true
    }

    /// A time before which no entry filed in a bucket is due: each one was
    /// filed for a time (its deadline plus the grace, or earlier) at or
    /// after this. [`NEVER`] when no bucket holds an entry. The due list
    /// is not counted: the caller checks it is empty. O(buckets).
    ///
    /// Why it holds, given two things the callers keep: an entry is filed
    /// for a time no earlier than the wheel's ([`schedule`] asserts it),
    /// and a filed entry's deadline never moves earlier in place (the
    /// shard keeps a floor only where reads move no deadline). An entry is
    /// filed in the bucket of its time's tick `k` at some level, with `k`
    /// from the wheel's tick at that level to at most a lap later. When
    /// the wheel's tick there reaches `k`, [`advance`] moves the bucket to
    /// the due list. So an entry still in a bucket has `k` from the
    /// wheel's current tick to a lap later, and at each level the first
    /// non-empty bucket from the current tick on starts no later than any
    /// of its entries (an entry a whole lap ahead shares the current
    /// tick's bucket, whose start is earlier still); the minimum over the
    /// levels bounds them all. The overflow bucket's entries were filed
    /// at least 2^48 ns ahead within the current tick of 2^48 ns, so are
    /// due no earlier than the next one.
    ///
    /// [`schedule`]: Wheel::schedule
    /// [`advance`]: Wheel::advance
    pub(crate) fn earliest(&self) -> u64 {
        let mut earliest = NEVER;
        for level in 0..LEVELS - 1 {
            let tick = self.time >> SHIFTS[level];
            let first = (0..BUCKETS[level]).find(|step| {
                let s = OFFSETS[level] + ((tick + step) & (BUCKETS[level] - 1)) as usize;
                self.sentinels[s][1] != sentinel(s)
            });
            if let Some(step) = first {
                let start = (tick + step).saturating_mul(1 << SHIFTS[level]);
                earliest = earliest.min(start);
            }
        }
        if self.sentinels[OVERFLOW][1] != sentinel(OVERFLOW) {
            let next = (self.time >> SHIFTS[LEVELS - 1]) + 1;
            earliest = earliest.min(next.saturating_mul(1 << SHIFTS[LEVELS - 1]));
        }
        earliest
    }

    /// The first entry of the due list (left on it).
    #[inline]
    pub(crate) fn peek_due(&self) -> Option<u32> {
        let first = self.sentinels[DUE][1];
        (first != sentinel(DUE)).then_some(first)
    }

    /// Puts every filed entry on the due list (`cleanup`).
    pub(crate) fn all_due(&mut self, t: &mut [Timing]) {
        for s in 0..DUE {
            self.splice_due(t, s);
        }
    }

    /// Whether the due list holds entries, or the finest level's tick has
    /// passed since the wheel last advanced.
    #[inline]
    pub(crate) fn has_work(&self, now: u64) -> bool {
        self.sentinels[DUE][1] != sentinel(DUE) || now >> SHIFTS[0] > self.time >> SHIFTS[0]
    }

    /// Empties every list (the entries are gone); the time stays.
    pub(crate) fn clear(&mut self) {
        for (s, links) in self.sentinels.iter_mut().enumerate() {
            *links = [sentinel(s); 2];
        }
    }

    #[cfg(any(test, feature = "test-hooks"))]
    pub(crate) fn heap_bytes(&self) -> usize {
        self.sentinels.len() * 8
    }

    /// Walks every list, checking that `prev` mirrors `next` and that no
    /// entry is filed twice; returns the filed entries, sorted.
    #[cfg(any(test, feature = "test-hooks"))]
    pub(crate) fn validate(&self, t: &[Timing]) -> Vec<u32> {
        let mut filed = Vec::new();
        for s in 0..SENTINELS {
            let mut prev = sentinel(s);
            let mut at = self.sentinels[s][1];
            while at != sentinel(s) {
                assert!(at < SENTINEL, "list {s} runs into another sentinel");
                let timing = &t[at as usize];
                assert_eq!(timing.prev, prev, "wheel prev link of {at} is wrong");
                filed.push(at);
                assert!(filed.len() <= t.len(), "wheel list {s} loops");
                prev = at;
                at = timing.next;
            }
            assert_eq!(self.sentinels[s][0], prev, "wheel list {s}'s tail is wrong");
        }
        for (i, timing) in t.iter().enumerate() {
            if timing.next == UNLINKED {
                assert_eq!(timing.prev, UNLINKED, "half-linked entry {i}");
            }
        }
        let count = filed.len();
        filed.sort_unstable();
        filed.dedup();
        assert_eq!(filed.len(), count, "an entry is filed twice");
        filed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        /// From 0 to about 2^bits ns, spread over every level's scale.
        fn span(&mut self, bits: u64) -> u64 {
            let shift = self.next() % bits;
            self.next() % (2 << shift)
        }
    }

    fn timings(n: usize) -> Vec<Timing> {
        (0..n).map(|_| Timing::vacant()).collect()
    }

    /// `earliest` is a floor for every filed entry whenever the due list
    /// is empty, over random filing, unfiling, deadlines moved later in
    /// place (as a store does), advances at every level's scale and
    /// draining the due list (as `Shard::maintain` does).
    #[test]
    fn earliest_is_no_later_than_any_filed_deadline() {
        for seed in 1..=20u64 {
            let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            let mut t = timings(64);
            let mut wheel = Wheel::new(0);
            let mut checked = 0;
            for _ in 0..4000 {
                let i = (rng.next() % 64) as u32;
                let now = wheel.time();
                match rng.next() % 8 {
                    0..=2 => {
                        wheel.unschedule(&mut t, i);
                        let deadline = match rng.next() % 16 {
                            0 => NEVER,
                            _ => now.saturating_add(rng.span(52)),
                        };
                        t[i as usize].deadline.store(deadline, Relaxed);
                        wheel.schedule(&mut t, i, true);
                    }
                    3 => wheel.unschedule(&mut t, i),
                    4 => {
                        let old = t[i as usize].get();
                        let later = old.saturating_add(rng.span(40));
                        t[i as usize].deadline.store(later, Relaxed);
                    }
                    5 | 6 => {
                        wheel.advance(&mut t, now.saturating_add(rng.span(50)));
                    }
                    _ => {
                        let now = wheel.time();
                        while let Some(due) = wheel.peek_due() {
                            wheel.unschedule(&mut t, due);
                            if t[due as usize].get() > now {
                                wheel.schedule(&mut t, due, true);
                            }
                        }
                    }
                }
                if wheel.peek_due().is_none() {
                    let earliest = wheel.earliest();
                    for filed in wheel.validate(&t) {
                        let deadline = t[filed as usize].get();
                        assert!(
                            earliest <= deadline,
                            "seed {seed}: entry {filed} due at {deadline}, floor {earliest}, time {}",
                            wheel.time()
                        );
                    }
                    checked += 1;
                }
            }
            assert!(checked > 1000, "seed {seed}: checked only {checked} times");
        }
    }

    /// The floor is not needlessly low: entries filed far ahead leave it
    /// far ahead.
    #[test]
    fn earliest_tracks_far_deadlines() {
        let mut t = timings(4);
        let mut wheel = Wheel::new(0);
        assert_eq!(wheel.earliest(), NEVER);
        let hour = 3_600_000_000_000u64;
        t[0].deadline.store(hour, Relaxed);
        wheel.schedule(&mut t, 0, false);
        let earliest = wheel.earliest();
        assert!(earliest <= hour && earliest > hour / 2, "floor {earliest}");
        wheel.unschedule(&mut t, 0);
        assert_eq!(wheel.earliest(), NEVER);
    }
}
