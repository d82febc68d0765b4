//! The index: a shard's arena slots filed under their keys' hashes, in a
//! `hashbrown::HashTable<u32>`.
//!
//! The table never grows by itself: the shard calls [`Index::rebuild`]
//! before an insertion that would need room, so that the only place a
//! key's `Hash` runs on a growing table is one where a panic leaves the old
//! table intact.

use hashbrown::HashTable;

/// Arena indices under their key's hash. See the module docs.
pub(crate) struct Index {
    table: HashTable<u32>,
}

impl Index {
    pub(crate) fn new() -> Self {
        Index {
            table: HashTable::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether an insertion needs [`Index::rebuild`] first.
    pub(crate) fn is_full(&self) -> bool {
        self.table.len() == self.table.capacity()
    }

    /// The first index under `hash` that `eq` accepts.
    #[inline]
    pub(crate) fn find(&self, hash: u64, mut eq: impl FnMut(u32) -> bool) -> Option<u32> {
        self.table.find(hash, |&index| eq(index)).copied()
    }

    /// Files `index` under `hash`. The index must not be full.
    pub(crate) fn insert(&mut self, hash: u64, index: u32) {
        debug_assert!(
            !self.is_full(),
            "the index was not rebuilt before inserting"
        );
        self.table.insert_unique(hash, index, |_| {
            unreachable!("shardcache: the index was rebuilt before inserting")
        });
    }

    /// Unfiles `index` from under `hash`; false if it was not there.
    pub(crate) fn remove(&mut self, hash: u64, index: u32) -> bool {
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
    }

    /// How many buckets a table sized for `entries` has: the smallest
    /// power of two at most 7/8 full (hashbrown's load factor for tables
    /// of 8 buckets or more; a unit test checks it against the table).
    /// Used to choose shard counts whose tables waste little room.
    pub(crate) fn buckets_for(entries: u64) -> u64 {
        let needed = u128::from(entries) * 8;
        let needed = needed.div_ceil(7).max(8);
        u64::try_from(needed)
            .ok()
            .and_then(u64::checked_next_power_of_two)
            .unwrap_or(u64::MAX)
    }

    /// Unfiles everything, keeping the table's allocation.
    pub(crate) fn clear(&mut self) {
        self.table.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mix(i: u32) -> u64 {
        (u64::from(i) + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15)
    }

    /// `buckets_for` agrees with the table: a table built for `n` entries
    /// holds 7/8 of `buckets_for(n)` before it would grow.
    #[test]
    fn buckets_for_matches_the_table() {
        let sizes = (16..70_000)
            .step_by(997)
            .chain([57_344, 57_345, 14_336, 14_337]);
        for n in sizes {
            let table = HashTable::<u32>::with_capacity(n);
            let buckets = Index::buckets_for(n as u64);
            assert_eq!(table.capacity() as u64, buckets / 8 * 7, "{n} entries");
        }
        assert_eq!(Index::buckets_for(u64::MAX), u64::MAX);
    }

    /// Grows an index as a shard does; lookups and removals answer after
    /// every rebuild.
    #[test]
    fn rebuilds_keep_every_entry() {
        let mut index = Index::new();
        let n = 40_000u32;
        for i in 0..n {
            if index.is_full() {
                index.rebuild((index.len() * 2).max(16), mix);
            }
            index.insert(mix(i), i);
        }
        assert_eq!(index.len(), n as usize);
        for i in (0..n).step_by(7) {
            assert_eq!(index.find(mix(i), |j| j == i), Some(i));
            assert!(index.remove(mix(i), i));
            assert_eq!(index.find(mix(i), |j| j == i), None);
        }
        index.clear();
        assert_eq!(index.len(), 0);
        assert_eq!(index.find(mix(1), |_| true), None);
    }
}
