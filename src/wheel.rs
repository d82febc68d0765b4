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
    /// join the due list. O(buckets), whatever they hold.
    pub(crate) fn advance(&mut self, t: &mut [Timing], now: u64) {
        if now <= self.time {
            return;
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
