//! `retain`: removes the entries a predicate rejects, without running the
//! predicate under a shard lock.
//!
//! Shard by shard: copy the entries under the read lock, run `f` on the
//! copies with no lock held, then, under the write lock, remove the
//! rejected keys if the shard stored nothing since the copy (its insert
//! counter, bumped by every store, is unchanged: then each rejected key
//! that is still there holds the very value `f` saw). If the shard was
//! written meanwhile, the rejected keys still cached are copied again and
//! `f` asked again about their current values, a bounded number of times.

use std::hash::{BuildHasher, Hash};

use crate::cache::Cache;

/// Re-checks of a shard written to while `f` ran, before `retain` leaves
/// its remaining rejected keys in place.
const ROUNDS: usize = 16;

impl<K: Hash + Eq, V: Clone, S: BuildHasher> Cache<K, V, S> {
    /// Removes every entry for which `f` returns `false`.
    ///
    /// `f` runs with no lock held, on clones of the entries, one shard at a
    /// time; an entry is removed only if it still holds the value `f` saw.
    /// Removals are explicit removals (as by [`remove`](Self::remove)): a
    /// load of a removed key in flight is superseded.
    ///
    /// ```
    /// let cache = shardcache::Cache::new(10);
    /// for i in 0..6 {
    ///     cache.insert(i, i * 10);
    /// }
    /// cache.retain(|_key, value| value % 20 == 0);
    /// let mut left: Vec<_> = cache.iter().map(|(k, _)| k).collect();
    /// left.sort();
    /// assert_eq!(left, [0, 2, 4]);
    /// ```
    ///
    /// # Concurrent calls
    /// Not a snapshot: entries written to a shard after `retain` copied it
    /// are not seen. When a shard is written while `f` runs, `f` is asked
    /// again about the rejected entries' current values (so it may see an
    /// entry more than once); after 16 such rounds on one shard the entries
    /// still rejected there are left in place.
    pub fn retain(&self, mut f: impl FnMut(&K, &V) -> bool)
    where
        K: Clone,
    {
        for shard in 0..self.shards() {
            let (epoch, entries) = self.copy_shard(shard);
            let mut doomed: Vec<(u64, K)> = entries
                .into_iter()
                .filter(|(key, value)| !f(key, value))
                .map(|(key, _)| (self.hash(&key), key))
                .collect();
            let mut epoch = epoch;
            for _ in 0..ROUNDS {
                if doomed.is_empty() {
                    break;
                }
                match self.remove_if_unwritten(shard, epoch, &doomed) {
                    None => break,
                    Some((now, current)) => {
                        epoch = now;
                        doomed = current
                            .into_iter()
                            .filter(|(_, key, value)| !f(key, value))
                            .map(|(hash, key, _)| (hash, key))
                            .collect();
                    }
                }
            }
        }
    }

    /// Clones of shard `index`'s entries, with its insert counter.
    fn copy_shard(&self, index: usize) -> (u64, Vec<(K, V)>)
    where
        K: Clone,
    {
        let now = self.now();
        let shard = self.shard_at(index).read();
        let mut entries = Vec::with_capacity(shard.len());
        shard.for_each(now, |_, key, value| {
            entries.push((key.clone(), value.clone()))
        });
        (shard.counters.inserts, entries)
    }

    /// Removes the `doomed` keys of shard `index` if it stored nothing since
    /// `epoch`. Otherwise returns its insert counter now and the current
    /// values of the doomed keys still cached, to ask `f` again.
    #[allow(clippy::type_complexity)]
    fn remove_if_unwritten(
        &self,
        index: usize,
        epoch: u64,
        doomed: &[(u64, K)],
    ) -> Option<(u64, Vec<(u64, K, V)>)>
    where
        K: Clone,
    {
        let now = self.now();
        // Removals are explicit (expired entries met on the way, expired).
        let mut outbox = self.outbox();
        let mut shard = self.shard_at(index).write();
        if shard.counters.inserts == epoch {
            for (hash, key) in doomed {
                if let Some((key, value)) = shard.remove(*hash, key, now, &mut outbox.removed) {
                    outbox
                        .removed
                        .push(key, value, crate::listener::RemovalCause::Explicit);
                }
            }
            drop(shard);
            outbox.deliver();
            return None;
        }
        drop(shard);
        outbox.deliver();
        // Copied under the read lock, so lookups go on meanwhile.
        let shard = self.shard_at(index).read();
        let current: Vec<(u64, K, V)> = doomed
            .iter()
            .filter_map(|(hash, key)| {
                let value = shard.peek(*hash, key, now)?;
                Some((*hash, key.clone(), value))
            })
            .collect();
        let epoch = shard.counters.inserts;
        drop(shard);
        Some((epoch, current))
    }
}
