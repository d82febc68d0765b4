//! Batch loads: `get_or_insert_many` and its async form (Caffeine's
//! `getAll`).
//!
//! A batch resolves its keys in passes, in a fixed order (by hash), one
//! shard lock at a time and never two at once. A pass looks each
//! unresolved key up: a hit is kept; a key nobody loads gets a flight led
//! by the batch; a key in flight elsewhere stops the pass: the batch first
//! gives up the flights it took in this pass (their waiters take them
//! over, or they end), then waits for that flight with nothing held, and
//! starts a new pass. So a batch never waits while it leads a flight, and
//! two overlapping batches cannot deadlock; the one that takes their
//! first common key first goes on, the other waits for it. A batch handed
//! the lead of the flight it waits on ends that flight for everyone, who
//! start over (as a compute does): were it to pass the lead on, two
//! batches waiting on one flight would pass it between them forever.
//!
//! When a pass completes, the batch leads a flight for every key not yet
//! resolved, calls `load` once for them (in the order of `keys`) and
//! finishes each flight as a single load would (`Cache::finish`). If
//! `load` panics or returns the wrong number of values, every led flight
//! is handed over and nothing is cached.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::{poll_fn, Future};
use std::hash::{BuildHasher, Hash};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::pin::{pin, Pin};
use std::task::{Context, Poll};
use std::time::Instant;

use crate::cache::Cache;
use crate::flight::{Flight, Join, LoadingScope, Wait};
use crate::load::recursive_load;
use crate::sync::Arc;

/// A key in flight elsewhere that stopped a pass.
struct Blocked<V> {
    at: usize,
    flight: Arc<Flight<V>>,
    id: u64,
}

/// One batch call's state.
struct Batch<'a, K: Hash + Eq, V: Clone, S: BuildHasher> {
    cache: &'a Cache<K, V, S>,
    keys: &'a [K],
    hashes: Vec<u64>,
    /// For each position, the position of the key's first occurrence.
    first: Vec<usize>,
    /// First occurrences, in pass order (by hash, then position).
    order: Vec<usize>,
    /// Resolved values, at first occurrences.
    values: Vec<Option<V>>,
    counted: Vec<bool>,
    /// Flights this call leads, by position of the key.
    led: Vec<(usize, Arc<Flight<V>>)>,
}

impl<'a, K: Hash + Eq + Clone, V: Clone, S: BuildHasher> Batch<'a, K, V, S> {
    fn new(cache: &'a Cache<K, V, S>, keys: &'a [K]) -> Self {
        let hashes: Vec<u64> = keys.iter().map(|key| cache.hash(key)).collect();
        let mut seen: HashMap<&K, usize> = HashMap::with_capacity(keys.len());
        let first: Vec<usize> = keys
            .iter()
            .enumerate()
            .map(|(at, key)| *seen.entry(key).or_insert(at))
            .collect();
        let mut order: Vec<usize> = (0..keys.len()).filter(|&at| first[at] == at).collect();
        order.sort_by_key(|&at| (hashes[at], at));
        Batch {
            cache,
            keys,
            hashes,
            first,
            order,
            values: (0..keys.len()).map(|_| None).collect(),
            counted: vec![false; keys.len()],
            led: Vec::new(),
        }
    }

    /// One pass over the unresolved keys: `None` when every key is resolved
    /// or led by this call, else the flight elsewhere to wait for (this
    /// pass's flights given up).
    fn pass(&mut self) -> Option<Blocked<V>> {
        // An ended executor refresh keeps its flight registered until
        // applied (`refresh.rs`): apply it, or a retry would meet it again.
        self.cache.apply_refreshes();
        for i in 0..self.order.len() {
            let at = self.order[i];
            if self.values[at].is_some() || self.led.iter().any(|(led, _)| *led == at) {
                continue;
            }
            let hash = self.hashes[at];
            let count = !std::mem::replace(&mut self.counted[at], true);
            // Cloned before locking (`K::clone` is user code); a clone not
            // kept is dropped after unlocking.
            let key = self.keys[at].clone();
            let cache = self.cache;
            let now = cache.now();
            // What the lookup removes (expired entries) is reported and
            // dropped after unlocking.
            let mut outbox = cache.outbox();
            let mut shard = cache.shard(hash);
            if let Some(value) = shard.get(hash, &key, count, now, &mut outbox.removed) {
                drop(shard);
                outbox.deliver();
                self.values[at] = Some(value);
                continue;
            }
            let joined = shard.flights.join(hash, key);
            drop(shard);
            outbox.deliver();
            match joined {
                Join::Lead(flight) => {
                    self.led.push((at, flight));
                }
                Join::Wait(flight, id, key) => {
                    drop(key);
                    self.give_up_all(false);
                    return Some(Blocked { at, flight, id });
                }
                Join::Recursive(key) => {
                    drop(key);
                    self.give_up_all(false);
                    recursive_load()
                }
            }
        }
        None
    }

    /// Takes in what a wait on a blocking flight brought.
    fn waited(&mut self, blocked: &Blocked<V>, wait: Wait<V>) {
        match wait {
            Wait::Value(value) => self.values[blocked.at] = Some(value),
            // Handed the lead: end the flight for everyone, who start over;
            // the next pass takes the key again, in order. Passing it on
            // instead could hand it to another batch, which would pass it
            // back and rejoin, the two passing it between them forever.
            Wait::Lead => self
                .cache
                .end_empty(self.hashes[blocked.at], &blocked.flight),
            Wait::Failed(_) | Wait::Retry | Wait::TimedOut => {}
        }
    }

    /// Gives up every flight this call leads (waiters take over, or they
    /// end); `failed` counts them as failed loads.
    fn give_up_all(&mut self, failed: bool) {
        for (at, flight) in std::mem::take(&mut self.led) {
            self.cache.abandon(self.hashes[at], &flight, 0, failed);
        }
    }

    /// The keys to load, in the order of `keys`.
    fn keys_to_load(&mut self) -> Vec<K> {
        self.led.sort_by_key(|(at, _)| *at);
        self.led
            .iter()
            .map(|(at, _)| self.keys[*at].clone())
            .collect()
    }

    /// Finishes the led flights with `load`'s outcome.
    fn conclude(&mut self, loaded: std::thread::Result<Vec<V>>, started: Instant) {
        let values = match loaded {
            Ok(values) if values.len() == self.led.len() => values,
            Ok(values) => {
                let (got, wanted) = (values.len(), self.led.len());
                self.give_up_all(true);
                drop(values);
                panic!(
                    "shardcache: get_or_insert_many: the loader returned {got} values for {wanted} \
                     keys (it must return one value per key, in order); nothing was cached"
                );
            }
            Err(panic) => {
                self.give_up_all(true);
                resume_unwind(panic)
            }
        };
        let mut led = std::mem::take(&mut self.led).into_iter();
        for value in values {
            let (at, flight) = led.next().expect("one value per led key");
            let hash = self.hashes[at];
            let finished = catch_unwind(AssertUnwindSafe(|| {
                self.cache
                    .finish::<Infallible>(hash, &flight, Ok(value), started)
            }));
            match finished {
                Ok(Ok(value)) => self.values[at] = Some(value),
                Ok(Err(never)) => match *never {},
                Err(panic) => {
                    self.cache.abandon(hash, &flight, 0, true);
                    self.led = led.collect();
                    self.give_up_all(true);
                    resume_unwind(panic)
                }
            }
        }
    }

    /// The values in the order of `keys` (a repeated key's value cloned).
    fn into_values(mut self) -> Vec<V> {
        let mut uses = vec![0usize; self.keys.len()];
        for &first in &self.first {
            uses[first] += 1;
        }
        (0..self.keys.len())
            .map(|at| {
                let first = self.first[at];
                uses[first] -= 1;
                let value = if uses[first] == 0 {
                    self.values[first].take()
                } else {
                    self.values[first].clone()
                };
                value.expect("every key resolved")
            })
            .collect()
    }
}

impl<K: Hash + Eq, V: Clone, S: BuildHasher> Drop for Batch<'_, K, V, S> {
    /// A batch dropped while it leads flights (its future was cancelled)
    /// hands them over.
    fn drop(&mut self) {
        for (at, flight) in std::mem::take(&mut self.led) {
            self.cache.abandon(self.hashes[at], &flight, 0, false);
        }
    }
}

/// Waits on a blocking flight; leaves it if dropped first.
struct BatchWait<'a, K: Hash + Eq, V: Clone, S: BuildHasher> {
    cache: &'a Cache<K, V, S>,
    hash: u64,
    blocked: &'a Blocked<V>,
    done: bool,
}

impl<K: Hash + Eq, V: Clone, S: BuildHasher> Future for BatchWait<'_, K, V, S> {
    type Output = Wait<V>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Wait<V>> {
        let this = self.get_mut();
        let poll = this.blocked.flight.poll_wait(this.blocked.id, cx);
        this.done = poll.is_ready();
        poll
    }
}

impl<K: Hash + Eq, V: Clone, S: BuildHasher> Drop for BatchWait<'_, K, V, S> {
    fn drop(&mut self) {
        if !self.done {
            self.cache
                .leave(self.hash, &self.blocked.flight, self.blocked.id);
        }
    }
}

impl<K: Hash + Eq, V: Clone, S: BuildHasher> Cache<K, V, S> {
    /// Returns the values of `keys`, in their order, loading every missing
    /// key with one call of `load`. Keys already cached are hits; keys
    /// another caller is loading are waited for; all the rest go to `load`,
    /// in the order of `keys` (a repeated key once), which must return one
    /// value per key, in the same order. The loaded values are cached.
    ///
    /// ```
    /// let cache = shardcache::Cache::new(100);
    /// cache.insert(2, "two".to_string());
    /// let got = cache.get_or_insert_many(&[1, 2, 3], |missing| {
    ///     assert_eq!(missing, &[1, 3]); // one call for every key not cached
    ///     missing.iter().map(|k| format!("#{k}")).collect()
    /// });
    /// assert_eq!(got, ["#1", "two", "#3"]);
    /// assert_eq!(cache.len(), 3);
    /// ```
    ///
    /// # Concurrent calls
    /// - Each key is loaded once however batches and single loads overlap:
    ///   a batch joins the flights of keys in flight elsewhere, and single
    ///   loads (and other batches) wait for the keys a batch loads.
    /// - `load` runs with no lock held. A batch never waits for another
    ///   caller while it holds flights of its own (it gives them up, waits,
    ///   and starts over), so overlapping batches cannot deadlock.
    /// - A write (`insert`, `remove`, `clear`) of a key while `load` runs
    ///   wins over the loaded value, as for single loads.
    /// - `load` may use the cache for other keys; asking for one of the
    ///   keys it loads panics with the recursive-load message.
    /// - Each key counts one lookup (a hit or a miss) in
    ///   [`stats`](Self::stats), and each loaded key one load.
    ///
    /// # Panics
    /// When `load` panics, or returns a number of values other than the
    /// number of keys it was given (the message names both): nothing is
    /// cached and every caller waiting on these keys takes over or starts
    /// over. Also on the recursive load above.
    pub fn get_or_insert_many(&self, keys: &[K], load: impl FnOnce(&[K]) -> Vec<V>) -> Vec<V>
    where
        K: Clone,
    {
        let mut batch = Batch::new(self, keys);
        while let Some(blocked) = batch.pass() {
            let wait = blocked.flight.wait(blocked.id, None);
            batch.waited(&blocked, wait);
        }
        if !batch.led.is_empty() {
            let missing = batch.keys_to_load();
            let started = Instant::now();
            let loaded = catch_unwind(AssertUnwindSafe(|| {
                let _scopes: Vec<LoadingScope> = batch
                    .led
                    .iter()
                    .map(|(_, flight)| LoadingScope::enter(flight))
                    .collect();
                load(&missing)
            }));
            drop(missing);
            batch.conclude(loaded, started);
        }
        batch.into_values()
    }

    /// The async form of
    /// [`get_or_insert_many`](Self::get_or_insert_many): `load` gets the
    /// missing keys (owned, in order) and returns a future of their values.
    /// Waits do not block the executor thread.
    ///
    /// ```
    /// let cache = shardcache::Cache::new(100);
    /// let got = block_on(cache.get_or_insert_many_async(&[1, 2], |missing| async move {
    ///     missing.iter().map(|k| k * 10).collect()
    /// }));
    /// assert_eq!(got, [10, 20]);
    /// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
    /// #     use std::future::Future;
    /// #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    /// #     let mut f = std::pin::pin!(f);
    /// #     loop {
    /// #         if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; }
    /// #     }
    /// # }
    /// ```
    ///
    /// # Cancellation
    /// Dropping the future is safe: flights it leads are handed to their
    /// waiters, a wait it is in is left.
    pub async fn get_or_insert_many_async<F, Fut>(&self, keys: &[K], load: F) -> Vec<V>
    where
        K: Clone,
        F: FnOnce(Vec<K>) -> Fut,
        Fut: Future<Output = Vec<V>>,
    {
        let mut batch = Batch::new(self, keys);
        while let Some(blocked) = batch.pass() {
            let wait = BatchWait {
                cache: self,
                hash: batch.hashes[blocked.at],
                blocked: &blocked,
                done: false,
            }
            .await;
            batch.waited(&blocked, wait);
        }
        if !batch.led.is_empty() {
            let missing = batch.keys_to_load();
            let started = Instant::now();
            let flights: Vec<Arc<Flight<V>>> =
                batch.led.iter().map(|(_, flight)| flight.clone()).collect();
            let mut init = pin!(load(missing));
            let loaded = poll_fn(|cx| {
                let _scopes: Vec<LoadingScope> =
                    flights.iter().map(|f| LoadingScope::enter(f)).collect();
                match catch_unwind(AssertUnwindSafe(|| init.as_mut().poll(cx))) {
                    Ok(Poll::Pending) => Poll::Pending,
                    Ok(Poll::Ready(values)) => Poll::Ready(Ok(values)),
                    Err(panic) => Poll::Ready(Err(panic)),
                }
            })
            .await;
            drop(flights);
            batch.conclude(loaded, started);
        }
        batch.into_values()
    }
}
