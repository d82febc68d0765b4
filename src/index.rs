//! The index: a shard's arena slots filed under their keys' hashes (a
//! `hashbrown::HashTable<u32>`), and where a probe for a hash will land, so
//! that a lookup can start loading it early.
//!
//! On a cache larger than the CPU's caches, a hit waits on three cache
//! misses, each needing the one before: the index's control bytes, the
//! index slot that a matching control byte points to, and the arena node
//! that slot names. hashbrown keeps its `u32` slots just below its control
//! bytes, slot `i` at `ctrl - 4 × (i + 1)`, and a probe for `hash` starts
//! at bucket `hash & mask` (hashbrown's bucket mask). So once the index
//! knows `ctrl`, a lookup can ask for the first control group and for the slot at the
//! probe's start in the same breath, before it reads either, and the first
//! two misses overlap instead of following each other (a hit nearly always
//! matches within a bucket or two of the probe's start: the index runs at
//! most 7/8 full, and usually about half).
//!
//! The index learns `ctrl` from the table itself (at the first insertion
//! after each rebuild: the new entry's bucket index and address).
//! [`Index::validate_hint`] checks the slot arithmetic (stride and
//! direction) against every occupied bucket, and a unit test checks that
//! probes start at `hash & mask` (most entries of a half-full table sit
//! in that bucket). That the control bytes begin right above slot 0 is
//! hashbrown's layout, which no test can observe. The hint is only ever
//! handed to
//! [`prefetch_addr`](crate::prefetch::prefetch_addr), which cannot fault or
//! change anything, so a hashbrown that laid its table out differently
//! would make the hint useless, never a lookup wrong. Small tables (below
//! [`HINTED_BUCKETS`]) get no hint: their lines are usually cached already.
//! What the hint bought is in `docs/benchmarks.md` (profile round 5).

use hashbrown::HashTable;

use crate::prefetch::prefetch_addr;

/// The fewest buckets for which lookups prefetch (16k buckets: an 80 KiB
/// table per shard, so a cache of eight such shards has outgrown a core's
/// L2 with its indices alone).
pub(crate) const HINTED_BUCKETS: usize = 1 << 14;

const SLOT: usize = std::mem::size_of::<u32>();

/// Arena indices under their key's hash. See the module docs.
pub(crate) struct Index {
    table: HashTable<u32>,
    /// The address of the table's control bytes, or 0 for "no hint" (a
    /// small table, or one rebuilt and not yet inserted into).
    ctrl: usize,
}

impl Index {
    pub(crate) fn new() -> Self {
        Index {
            table: HashTable::new(),
            ctrl: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether an insertion needs [`Index::rebuild`] first.
    pub(crate) fn is_full(&self) -> bool {
        self.table.len() == self.table.capacity()
    }

    /// Starts loading the control group and the slot where a probe for
    /// `hash` begins (every probe does; a shard also calls it ahead of a
    /// probe it expects to make).
    #[inline]
    pub(crate) fn prefetch(&self, hash: u64) {
        if self.ctrl != 0 {
            let bucket = hash as usize & self.mask();
            prefetch_addr(self.ctrl.wrapping_add(bucket));
            prefetch_addr(self.ctrl.wrapping_sub(SLOT * (bucket + 1)));
        }
    }

    /// The first index under `hash` that `eq` accepts.
    #[inline]
    pub(crate) fn find(&self, hash: u64, mut eq: impl FnMut(u32) -> bool) -> Option<u32> {
        self.prefetch(hash);
        self.table.find(hash, |&index| eq(index)).copied()
    }

    /// Files `index` under `hash`. The index must not be full.
    pub(crate) fn insert(&mut self, hash: u64, index: u32) {
        debug_assert!(
            !self.is_full(),
            "the index was not rebuilt before inserting"
        );
        let entry = self.table.insert_unique(hash, index, |_| {
            unreachable!("shardcache: the index was rebuilt before inserting")
        });
        let (slot, bucket) = (entry.get() as *const u32 as usize, entry.bucket_index());
        if self.ctrl == 0 && self.table.num_buckets() >= HINTED_BUCKETS {
            // Slot `b` sits `4 × (b + 1)` bytes below the control bytes.
            self.ctrl = slot + SLOT * (bucket + 1);
        }
    }

    /// Unfiles `index` from under `hash`; false if it was not there.
    pub(crate) fn remove(&mut self, hash: u64, index: u32) -> bool {
        self.prefetch(hash);
        match self.table.find_entry(hash, |&i| i == index) {
            Ok(entry) => {
                entry.remove();
                true
            }
            Err(_) => false,
        }
    }

    /// Rebuilds the index with room for `capacity` entries: a fresh table,
    /// without hashbrown's tombstones. `hash_of` gives an arena index's
    /// hash (the user's `Hash`: if it panics, the old table is intact).
    pub(crate) fn rebuild(&mut self, capacity: usize, hash_of: impl Fn(u32) -> u64) {
        let mut fresh = HashTable::with_capacity(capacity);
        for &index in self.table.iter() {
            fresh.insert_unique(hash_of(index), index, |&i| hash_of(i));
        }
        self.table = fresh;
        // Learned again at the next insertion.
        self.ctrl = 0;
    }

    /// Unfiles everything, keeping the table's allocation (and the hint).
    pub(crate) fn clear(&mut self) {
        self.table.clear();
    }

    /// Whether `index` is filed under `hash`, without prefetching (for
    /// `check_invariants`).
    pub(crate) fn contains(&self, hash: u64, index: u32) -> bool {
        self.table.find(hash, |&i| i == index).is_some()
    }

    /// Checks the hint against the table: every occupied bucket's slot is
    /// where the hint's arithmetic puts it (for `check_invariants`).
    pub(crate) fn validate_hint(&self) {
        if self.ctrl == 0 {
            return;
        }
        for bucket in self.table.iter_buckets() {
            let slot = self
                .table
                .get_bucket(bucket)
                .map(|s| s as *const u32 as usize);
            assert_eq!(
                slot,
                Some(self.ctrl - SLOT * (bucket + 1)),
                "the index's prefetch hint misplaces bucket {bucket}"
            );
        }
    }

    /// The bucket mask: where a probe for a hash starts is `hash & mask`.
    #[inline]
    fn mask(&self) -> usize {
        self.table.num_buckets() - 1
    }

    /// Whether lookups are prefetching (tests).
    #[cfg(test)]
    pub(crate) fn hinted(&self) -> bool {
        self.ctrl != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mix(i: u32) -> u64 {
        (u64::from(i) + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15)
    }

    /// Grows an index as a shard does and checks, after every rebuild,
    /// that the hint matches hashbrown's layout and lookups still answer.
    #[test]
    fn hint_matches_the_table_layout() {
        let mut index = Index::new();
        let n = (HINTED_BUCKETS as u32) * 2;
        for i in 0..n {
            if index.is_full() {
                index.rebuild((index.len() * 2).max(16), mix);
            }
            index.insert(mix(i), i);
            if i % 997 == 0 {
                index.validate_hint();
            }
        }
        assert!(index.hinted(), "a table of {n} entries should be hinted");
        index.validate_hint();
        // Probes start at `hash & mask`: in this table (at most half full
        // after its last rebuild) most entries sit in that very bucket.
        let at_start = (0..n)
            .filter(|&i| {
                let bucket = index.table.find_bucket_index(mix(i), |&j| j == i);
                bucket == Some(mix(i) as usize & index.mask())
            })
            .count();
        assert!(
            at_start > n as usize / 2,
            "only {at_start} of {n} entries at their probe's start bucket"
        );
        for i in (0..n).step_by(7) {
            assert_eq!(index.find(mix(i), |j| j == i), Some(i));
            assert!(index.remove(mix(i), i));
            assert_eq!(index.find(mix(i), |j| j == i), None);
        }
        index.validate_hint();
        index.clear();
        assert_eq!(index.len(), 0);
        assert_eq!(index.find(mix(1), |_| true), None);
    }

    #[test]
    fn small_tables_are_not_hinted() {
        let mut index = Index::new();
        for i in 0..1000 {
            if index.is_full() {
                index.rebuild((index.len() * 2).max(16), mix);
            }
            index.insert(mix(i), i);
        }
        assert!(!index.hinted());
    }
}
