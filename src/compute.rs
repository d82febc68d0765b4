//! Atomic read-modify-write of one key: [`Cache::compute`].
//!
//! A compute takes the key's flight slot as a load does, so computes and
//! loads of one key are serialized: a compute that finds a flight waits
//! for it (then starts over on the new value), and a load that misses
//! while a compute runs waits for the compute. The leader reads the current
//! value (a clone, under the shard lock, in the same step that registers
//! the flight), runs `f` on it with no lock held, then applies `f`'s answer
//! under the lock unless a write (`insert`, `remove`, `clear`) superseded
//! it meanwhile: as for loads, the write wins. See `docs/single-flight.md`.

use std::hash::{BuildHasher, Hash};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

use crate::cache::Cache;
use crate::expiry::Stamp;
use crate::flight::{Flight, Join, LoadingScope, Wait};
use crate::listener::RemovalCause;
use crate::load::recursive_load;
use crate::sync::Arc;

/// What a [`Cache::compute`] does with the key: the answer of its closure.
///
/// ```
/// use shardcache::{Cache, Compute};
/// let cache = Cache::new(10);
/// cache.compute("hits", |n: Option<&u64>| Compute::Put(n.map_or(1, |n| n + 1)));
/// assert_eq!(cache.get("hits"), Some(1));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Compute<V> {
    /// Leave the key as it is (absent stays absent).
    Keep,
    /// Store this value (inserting or replacing).
    Put(V),
    /// Remove the key.
    Remove,
}

impl<K: Hash + Eq, V: Clone, S: BuildHasher> Cache<K, V, S> {
    /// Atomically reads, changes and writes the value of `key`: `f` gets the
    /// current value (or `None`) and says what to do with it. Returns the
    /// value the key holds once the compute is over: the value put, the
    /// current one on [`Compute::Keep`], `None` after [`Compute::Remove`].
    ///
    /// ```
    /// use shardcache::{Cache, Compute};
    /// let cache = Cache::new(10);
    /// let add = |n: Option<&u64>| Compute::Put(n.copied().unwrap_or(0) + 1);
    /// assert_eq!(cache.compute("counter", add), Some(1));
    /// assert_eq!(cache.compute("counter", add), Some(2));
    /// assert_eq!(cache.compute("counter", |_| Compute::Keep), Some(2));
    /// assert_eq!(cache.compute("counter", |_| Compute::Remove), None);
    /// assert!(cache.is_empty());
    /// ```
    ///
    /// # Concurrent calls
    /// - Computes and loads of one key are serialized through the key's
    ///   single flight: a compute waits for a load (or compute) of the key
    ///   in flight and then runs on its result; a
    ///   [`get_or_insert_with`](Self::get_or_insert_with) that misses while
    ///   a compute runs waits for it and gets the value it puts (after a
    ///   `Keep` of an absent key, or a `Remove`, it starts over). So
    ///   concurrent `compute(k, +1)` calls never lose an increment.
    /// - A plain read ([`get`](Self::get), or a loading call that finds the
    ///   key cached) is not blocked: it sees the value before the compute.
    /// - `f` runs with no lock held; other keys, in the same shard too, are
    ///   served meanwhile.
    /// - **Writes win:** an [`insert`](Self::insert),
    ///   [`remove`](Self::remove) or [`clear`](Self::clear) of the key that
    ///   lands while `f` runs supersedes the compute, as it supersedes a
    ///   load: `f`'s answer is dropped and `compute` returns what that write
    ///   left (the inserted value, or `None`). A write that lands before the
    ///   compute took the key is what `f` sees.
    /// - `f` may use the cache for other keys; asking for its own key (a
    ///   load or compute of it) panics with the recursive-load message
    ///   instead of deadlocking.
    /// - A value put on a capacity-0 cache, or heavier than its shard, is
    ///   returned (and given to waiting loads) but not stored.
    ///
    /// # Panics
    /// When `f` panics (the panic is resumed after the key's flight passes
    /// to the oldest waiting caller), or on the recursive call above.
    pub fn compute(&self, key: K, f: impl FnOnce(Option<&V>) -> Compute<V>) -> Option<V> {
        let hash = self.hash(&key);
        let (flight, current) = self.compute_lead(hash, key);
        let answer = catch_unwind(AssertUnwindSafe(|| {
            let _scope = LoadingScope::enter(&flight);
            f(current.as_ref())
        }));
        drop(current);
        let concluded = answer.and_then(|answer| {
            catch_unwind(AssertUnwindSafe(|| {
                self.conclude_compute(hash, &flight, answer)
            }))
        });
        match concluded {
            Ok(value) => value,
            Err(panic) => {
                // Not counted as a failed load. A no-op if the flight ended.
                self.abandon(hash, &flight, 0, false);
                resume_unwind(panic)
            }
        }
    }

    /// Takes `key`'s flight slot (waiting out any flight of the key first)
    /// and reads its current value in the same locked step.
    fn compute_lead(&self, hash: u64, mut key: K) -> (Arc<Flight<V>>, Option<V>) {
        loop {
            // An ended executor refresh keeps its flight registered until
            // applied (`refresh.rs`): apply it, or this loop would meet it
            // again.
            self.apply_refreshes();
            let now = self.now();
            let (flight, id) = {
                let mut shard = self.shard(hash);
                match shard.flights.join(hash, key) {
                    Join::Lead(flight) => {
                        // `V::clone` is user code: if it panics, the new
                        // flight (nobody can have joined it yet) ends here.
                        let read = catch_unwind(AssertUnwindSafe(|| {
                            let locked = &*shard;
                            let key = locked.flights.key(hash, &flight)?;
                            locked.peek(hash, key, now)
                        }));
                        match read {
                            Ok(current) => return (flight, current),
                            Err(panic) => {
                                let slot = shard.flights.take(hash, &flight);
                                let wakers = flight.finish_empty();
                                drop(shard);
                                wakers.wake(&flight);
                                drop(slot);
                                resume_unwind(panic)
                            }
                        }
                    }
                    Join::Wait(flight, id, returned) => {
                        key = returned;
                        (flight, id)
                    }
                    Join::Recursive(key) => {
                        drop(shard);
                        drop(key);
                        recursive_load()
                    }
                }
            };
            // Whatever the flight ends with, start over on the new state.
            // Handed the lead of a load (its leader gave up), end it for
            // everyone: its waiters start over too, and one of them or this
            // compute takes the key next.
            if let Wait::Lead = flight.wait(id, None) {
                self.end_empty(hash, &flight);
            }
        }
    }

    /// Applies `answer` as the leader of `flight` and ends the flight.
    fn conclude_compute(
        &self,
        hash: u64,
        flight: &Arc<Flight<V>>,
        answer: Compute<V>,
    ) -> Option<V> {
        let value = match answer {
            Compute::Put(value) => value,
            Compute::Keep => return self.end_compute(hash, flight, false),
            Compute::Remove => return self.end_compute(hash, flight, true),
        };
        // As `finish`: clone before locking (to store, and for the
        // waiters), weigh under the read lock.
        let mut stored = Some(value.clone());
        let shared = value.clone();
        let now = self.now();
        let mut outbox = self.outbox();
        let weight = self.weigh_loaded(hash, flight, &value);
        let mut incoming = None;
        let mut put = Some(value);
        let result;
        let wakers = {
            let mut shard = self.shard(hash);
            match shard.flights.take(hash, flight) {
                Some(slot) if !slot.superseded => {
                    incoming = stored.take().map(|value| (slot.key, value));
                    let stamp = Stamp::at(now);
                    shard.store(hash, &mut incoming, weight, stamp, &mut outbox.removed);
                    result = put.take();
                }
                // A write won: report what it left (the value put is dropped
                // after unlocking).
                Some(slot) => {
                    result = shard.peek(hash, &slot.key, now);
                    incoming = stored.take().map(|value| (slot.key, value));
                }
                None => result = put.take(),
            }
            let (served, wakers) = flight.finish_ready(shared);
            shard.counters.coalesced += served;
            wakers
        };
        wakers.wake(flight);
        drop((incoming, stored, put));
        outbox.deliver();
        result
    }

    /// Ends a compute that kept (or, if `remove`, removed) the key: its
    /// waiters start over. Returns the key's value now.
    fn end_compute(&self, hash: u64, flight: &Arc<Flight<V>>, remove: bool) -> Option<V> {
        let time = self.now();
        let mut outbox = self.outbox();
        let (slot, now, wakers) = {
            let mut shard = self.shard(hash);
            let slot = shard.flights.take(hash, flight);
            let now = match &slot {
                Some(slot) if remove && !slot.superseded => {
                    let gone = shard.remove(hash, &slot.key, time, &mut outbox.removed);
                    if let Some((key, value)) = gone {
                        outbox.removed.push(key, value, RemovalCause::Explicit);
                    }
                    None
                }
                Some(slot) => shard.peek(hash, &slot.key, time),
                None => None,
            };
            (slot, now, flight.finish_empty())
        };
        wakers.wake(flight);
        drop(slot);
        outbox.deliver();
        now
    }
}
