//! Single-flight loading: the `get_or_insert*` family of [`Cache`], for sync
//! threads and async tasks alike.
//!
//! A caller that misses either starts a flight (and runs its loader, with no
//! lock held) or joins the key's flight and waits for it. The protocol, its
//! states and the loom model of each guarantee are in
//! `docs/single-flight.md`; the flight record itself is in `flight.rs`.

use std::convert::Infallible;
use std::error::Error;
use std::fmt;
use std::future::{poll_fn, Future};
use std::hash::{BuildHasher, Hash};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::pin::{pin, Pin};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::cache::Cache;
use crate::flight::{Flight, LoadingScope, SharedError, Wait};
use crate::shard::{Garbage, Step};
use crate::sync::Arc;

/// The error of [`Cache::get_or_insert_with_timeout`]: the caller waited for
/// another caller's load longer than its timeout. That load goes on and, when
/// it completes, its value is cached for the others.
///
/// ```
/// let err = shardcache::Timeout;
/// assert!(err.to_string().contains("timed out"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeout;

impl fmt::Display for Timeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("shardcache: timed out waiting for another caller's load of the same key")
    }
}

impl Error for Timeout {}

/// Why a sync flight ended without a value.
enum Miss<E> {
    Failed(std::sync::Arc<E>),
    TimedOut,
}

#[cold]
#[inline(never)]
fn recursive_load() -> ! {
    panic!(
        "shardcache: recursive load: a loader asked the cache for the very key it is loading \
         (directly or through the loaders of other keys on the same thread); waiting for itself \
         would deadlock. Compute the value without asking the cache for its own key."
    )
}

/// Hands a flight over if its async leader is dropped (cancelled) before it
/// finished the flight. (Panics are caught and handled by `conclude`.)
struct CancelGuard<'a, K: Hash + Eq, V: Clone, S: BuildHasher> {
    cache: &'a Cache<K, V, S>,
    hash: u64,
    flight: &'a Arc<Flight<V>>,
    id: u64,
    armed: bool,
}

impl<K: Hash + Eq, V: Clone, S: BuildHasher> Drop for CancelGuard<'_, K, V, S> {
    fn drop(&mut self) {
        if self.armed {
            self.cache.abandon(self.hash, self.flight, self.id, false);
        }
    }
}

/// Waits on a flight as waiter `id`; leaves the flight if dropped first.
struct WaitFuture<'a, K: Hash + Eq, V: Clone, S: BuildHasher> {
    cache: &'a Cache<K, V, S>,
    hash: u64,
    flight: &'a Arc<Flight<V>>,
    id: u64,
    done: bool,
}

impl<K: Hash + Eq, V: Clone, S: BuildHasher> Future for WaitFuture<'_, K, V, S> {
    type Output = Wait<V>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Wait<V>> {
        let this = self.get_mut();
        let poll = this.flight.poll_wait(this.id, cx);
        this.done = poll.is_ready();
        poll
    }
}

impl<K: Hash + Eq, V: Clone, S: BuildHasher> Drop for WaitFuture<'_, K, V, S> {
    fn drop(&mut self) {
        if !self.done {
            self.cache.leave(self.hash, self.flight, self.id);
        }
    }
}

impl<K: Hash + Eq, V: Clone, S: BuildHasher> Cache<K, V, S> {
    /// Returns the value for `key`, computing it with `load` on a miss; the
    /// result is cached and returned. Concurrent callers that miss the same
    /// key share one call of one loader: the first runs its `load`, the
    /// others block until it finishes and receive clones of its value.
    ///
    /// ```
    /// let cache = shardcache::Cache::new(100);
    /// let v = cache.get_or_insert_with("answer", || 42);
    /// assert_eq!(v, 42);
    /// assert_eq!(cache.get_or_insert_with("answer", || unreachable!()), 42);
    /// ```
    ///
    /// # Concurrent calls
    /// - The loader runs with no lock held; other keys, in the same shard
    ///   too, are served meanwhile.
    /// - If the loader panics, the panic reaches its own caller; the oldest
    ///   waiter then runs its own `load`, and so on: nobody waits forever.
    /// - An [`insert`](Self::insert), [`remove`](Self::remove) or
    ///   [`clear`](Self::clear) of the key while the load runs wins: the
    ///   loaded value is returned to the callers but not stored.
    /// - With capacity 0 nothing is stored, but concurrent loads are still
    ///   coalesced.
    /// - A loader may itself call the cache for other keys (a memoized
    ///   recursion). Asking for its own key, on the same thread, directly or
    ///   through other loaders, would deadlock, so it panics instead.
    /// - Dropping the cache while loads are in flight is safe: every caller
    ///   in a load borrows the cache, so the last `Arc` can only go once
    ///   they have all returned, and the flight records go with it.
    /// - Each call counts one lookup in [`stats`](Self::stats), a hit or a
    ///   miss, even when it starts over after another caller's failed or
    ///   abandoned load.
    ///
    /// # Panics
    /// When `load` panics (the panic is resumed), or on the recursive load
    /// described above.
    pub fn get_or_insert_with(&self, key: K, load: impl FnOnce() -> V) -> V {
        match self.load_sync(key, None, || Ok::<V, Infallible>(load())) {
            Ok(value) => value,
            Err(Miss::Failed(never)) => match *never {},
            Err(Miss::TimedOut) => unreachable!("shardcache: no deadline was set"),
        }
    }

    /// Like [`get_or_insert_with`](Self::get_or_insert_with) for a loader
    /// that can fail. A failed load is not cached. Its error goes, as one
    /// shared `Arc<E>`, to the caller that ran the loader and to every
    /// caller waiting on that load, so a failing backend is asked once per
    /// wave of callers, not once per caller. (An `Arc` because `E` need not
    /// be `Clone`.)
    ///
    /// ```
    /// let cache = shardcache::Cache::new(100);
    /// let failed = cache.try_get_or_insert_with(1, || Err::<u32, _>("backend down"));
    /// assert_eq!(*failed.unwrap_err(), "backend down");
    /// assert!(cache.is_empty()); // failures are not cached
    /// assert_eq!(cache.try_get_or_insert_with(1, || Ok::<_, &str>(7)), Ok(7));
    /// ```
    ///
    /// # Concurrent calls
    /// As for `get_or_insert_with`. A waiter whose own error type differs
    /// from the failed loader's (or a waiter in `get_or_insert_with`) cannot
    /// receive that error: it starts over and may run its own loader.
    pub fn try_get_or_insert_with<E: Send + Sync + 'static>(
        &self,
        key: K,
        load: impl FnOnce() -> Result<V, E>,
    ) -> Result<V, std::sync::Arc<E>> {
        self.load_sync(key, None, load).map_err(|miss| match miss {
            Miss::Failed(error) => error,
            Miss::TimedOut => unreachable!("shardcache: no deadline was set"),
        })
    }

    /// Like [`get_or_insert_with`](Self::get_or_insert_with), but waits at
    /// most `timeout` for another caller's load of the key. On timeout it
    /// returns [`Timeout`] and that load goes on for the others. If this
    /// caller runs the loader itself (it was first, or the leader it waited
    /// for gave up), the loader is not interrupted.
    ///
    /// ```
    /// use std::time::Duration;
    /// let cache = shardcache::Cache::new(100);
    /// let v = cache.get_or_insert_with_timeout(1, Duration::from_millis(10), || "one");
    /// assert_eq!(v, Ok("one"));
    /// ```
    pub fn get_or_insert_with_timeout(
        &self,
        key: K,
        timeout: Duration,
        load: impl FnOnce() -> V,
    ) -> Result<V, Timeout> {
        let deadline = Instant::now().checked_add(timeout);
        match self.load_sync(key, deadline, || Ok::<V, Infallible>(load())) {
            Ok(value) => Ok(value),
            Err(Miss::Failed(never)) => match *never {},
            Err(Miss::TimedOut) => Err(Timeout),
        }
    }

    /// The async form of [`get_or_insert_with`](Self::get_or_insert_with):
    /// concurrent callers that miss the same key, async tasks and sync
    /// threads alike, share one load. The first caller awaits its `init`
    /// inline (nothing is spawned; `init` need not be `'static`); the others
    /// wait without blocking their executor thread.
    ///
    /// Works on any executor: the library has no runtime dependency.
    ///
    /// ```
    /// let cache = shardcache::Cache::new(100);
    /// // Any executor works; `block_on` here is a minimal one (hidden).
    /// let v = block_on(cache.get_or_insert_async(1, async { "one" }));
    /// assert_eq!(v, "one");
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
    /// Dropping the returned future is always safe. If it was running the
    /// load, the oldest waiter takes over and runs its own `init`; if it was
    /// waiting, it leaves the queue (and if it had just been chosen to take
    /// over, the next waiter is chosen instead). So a runtime's timeout
    /// around this call never strands other callers.
    ///
    /// # Panics
    /// As `get_or_insert_with`. An `init` that awaits the cache for its own
    /// key from within its own poll (on the same thread) panics with the
    /// recursive-load message instead of hanging; an `init` that spawns a task
    /// which waits for the key, and awaits that task, deadlocks.
    pub async fn get_or_insert_async<F>(&self, key: K, init: F) -> V
    where
        F: Future<Output = V>,
    {
        let init = async { Ok::<V, Infallible>(init.await) };
        match self.load_async(key, init).await {
            Ok(value) => value,
            Err(never) => match *never {},
        }
    }

    /// The async form of
    /// [`try_get_or_insert_with`](Self::try_get_or_insert_with): a failed
    /// load is not cached and its error is shared by every caller of that
    /// load.
    ///
    /// ```
    /// let cache = shardcache::Cache::new(100);
    /// let result = block_on(cache.try_get_or_insert_async(1, async { Err::<u8, _>("down") }));
    /// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
    /// #     use std::future::Future;
    /// #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    /// #     let mut f = std::pin::pin!(f);
    /// #     loop {
    /// #         if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; }
    /// #     }
    /// # }
    /// assert_eq!(*result.unwrap_err(), "down");
    /// ```
    pub async fn try_get_or_insert_async<E, F>(
        &self,
        key: K,
        init: F,
    ) -> Result<V, std::sync::Arc<E>>
    where
        E: Send + Sync + 'static,
        F: Future<Output = Result<V, E>>,
    {
        self.load_async(key, init).await
    }

    /// The sync protocol: look up, then lead or wait, until a value, an
    /// error of type `E`, or the deadline.
    fn load_sync<E: Send + Sync + 'static>(
        &self,
        mut key: K,
        deadline: Option<Instant>,
        load: impl FnOnce() -> Result<V, E>,
    ) -> Result<V, Miss<E>> {
        let hash = self.hash(&key);
        if let Some(value) = self.shared_hit(hash, &key) {
            return Ok(value);
        }
        // Only the first pass counts the lookup; a caller that starts over
        // (its flight failed with another error type, or ended unfinished)
        // is still one lookup.
        let mut first = true;
        loop {
            let step = self.shard(hash).get_or_join(hash, key, first);
            first = false;
            let (flight, id) = match step {
                Step::Hit(value, _key) => return Ok(value),
                Step::Recursive(key) => {
                    drop(key);
                    recursive_load()
                }
                Step::Lead(flight) => (flight, 0),
                Step::Wait(flight, id, returned) => {
                    key = returned;
                    let mut wait = flight.wait(id, deadline);
                    if let Wait::TimedOut = wait {
                        self.leave(hash, &flight, id);
                        // The flight may have ended meanwhile: prefer its result.
                        wait = match flight.wait(id, Some(Instant::now())) {
                            done @ (Wait::Value(_) | Wait::Failed(_)) => done,
                            _ => return Err(Miss::TimedOut),
                        };
                    }
                    match wait {
                        Wait::Value(value) => return Ok(value),
                        Wait::Failed(error) => match error.downcast::<E>() {
                            Ok(error) => return Err(Miss::Failed(error)),
                            Err(_) => continue,
                        },
                        Wait::Retry => continue,
                        Wait::TimedOut => return Err(Miss::TimedOut),
                        Wait::Lead => (flight, id),
                    }
                }
            };
            return self
                .lead_sync(hash, &flight, id, load)
                .map_err(Miss::Failed);
        }
    }

    /// Runs `load` as the leader of `flight` and finishes the flight.
    fn lead_sync<E: Send + Sync + 'static>(
        &self,
        hash: u64,
        flight: &Arc<Flight<V>>,
        id: u64,
        load: impl FnOnce() -> Result<V, E>,
    ) -> Result<V, std::sync::Arc<E>> {
        let started = Instant::now();
        let result = catch_unwind(AssertUnwindSafe(|| {
            let _scope = LoadingScope::enter(flight);
            load()
        }));
        self.conclude(hash, flight, id, result, started)
    }

    /// Finishes a flight with its loader's outcome. A panic (the loader's,
    /// or one in `V::clone` or the weigher while finishing) hands the flight
    /// over and is then resumed. The hand-over runs after the panic was
    /// caught, not during unwinding, so it takes the shard lock as ordinary
    /// code does.
    fn conclude<E: Send + Sync + 'static>(
        &self,
        hash: u64,
        flight: &Arc<Flight<V>>,
        id: u64,
        result: std::thread::Result<Result<V, E>>,
        started: Instant,
    ) -> Result<V, std::sync::Arc<E>> {
        let finished = result
            .and_then(|r| catch_unwind(AssertUnwindSafe(|| self.finish(hash, flight, r, started))));
        match finished {
            Ok(result) => result,
            Err(panic) => {
                self.abandon(hash, flight, id, true);
                resume_unwind(panic)
            }
        }
    }

    /// The async protocol, as `load_sync` without a deadline.
    async fn load_async<E, F>(&self, mut key: K, init: F) -> Result<V, std::sync::Arc<E>>
    where
        E: Send + Sync + 'static,
        F: Future<Output = Result<V, E>>,
    {
        let hash = self.hash(&key);
        if let Some(value) = self.shared_hit(hash, &key) {
            return Ok(value);
        }
        // Only the first pass counts the lookup; a caller that starts over
        // (its flight failed with another error type, or ended unfinished)
        // is still one lookup.
        let mut first = true;
        loop {
            let step = self.shard(hash).get_or_join(hash, key, first);
            first = false;
            let (flight, id) = match step {
                Step::Hit(value, _key) => return Ok(value),
                Step::Recursive(key) => {
                    drop(key);
                    recursive_load()
                }
                Step::Lead(flight) => (flight, 0),
                Step::Wait(flight, id, returned) => {
                    key = returned;
                    let wait = WaitFuture {
                        cache: self,
                        hash,
                        flight: &flight,
                        id,
                        done: false,
                    }
                    .await;
                    match wait {
                        Wait::Value(value) => return Ok(value),
                        Wait::Failed(error) => match error.downcast::<E>() {
                            Ok(error) => return Err(error),
                            Err(_) => continue,
                        },
                        Wait::Retry | Wait::TimedOut => continue,
                        Wait::Lead => (flight, id),
                    }
                }
            };
            return self.lead_async(hash, &flight, id, init).await;
        }
    }

    /// Awaits `init` as the leader of `flight` and finishes the flight. If
    /// this future is dropped mid-load, the guard hands the flight over.
    async fn lead_async<E, F>(
        &self,
        hash: u64,
        flight: &Arc<Flight<V>>,
        id: u64,
        init: F,
    ) -> Result<V, std::sync::Arc<E>>
    where
        E: Send + Sync + 'static,
        F: Future<Output = Result<V, E>>,
    {
        let mut cancelled = CancelGuard {
            cache: self,
            hash,
            flight,
            id,
            armed: true,
        };
        let started = Instant::now();
        let mut init = pin!(init);
        let result = poll_fn(|cx| {
            let _scope = LoadingScope::enter(flight);
            match catch_unwind(AssertUnwindSafe(|| init.as_mut().poll(cx))) {
                Ok(Poll::Pending) => Poll::Pending,
                Ok(Poll::Ready(result)) => Poll::Ready(Ok(result)),
                Err(panic) => Poll::Ready(Err(panic)),
            }
        })
        .await;
        cancelled.armed = false;
        self.conclude(hash, flight, id, result, started)
    }

    /// Ends a flight with its loader's result: stores and shares a value, or
    /// shares an error.
    fn finish<E: Send + Sync + 'static>(
        &self,
        hash: u64,
        flight: &Arc<Flight<V>>,
        result: Result<V, E>,
        started: Instant,
    ) -> Result<V, std::sync::Arc<E>> {
        match result {
            Ok(value) => {
                let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
                // Clone before locking: `V::clone` is user code.
                let stored = value.clone();
                let shared = value.clone();
                // The weigher is user code too, and the key it needs lives
                // in the flight's slot: weighed under the read lock, so the
                // shard's read-locked lookups go on while it runs (until a
                // writer queues). Only this leader removes its slot, so the
                // key is still there when the write lock is taken below; a
                // write landing in between supersedes the load, as it would
                // during the load.
                let weight = if self.weigher.is_some() {
                    self.shard_read(hash)
                        .flight_key(hash, flight)
                        .map_or(1, |key| self.weigh(key, &stored))
                } else {
                    1
                };
                // Declared before the guard: dropped after it, even by a panic.
                let mut garbage = Garbage::new();
                let wakers = {
                    let mut shard = self.shard(hash);
                    let hash_of = |k: &K| self.hash(k);
                    shard.complete_flight(
                        hash,
                        flight,
                        stored,
                        shared,
                        weight,
                        nanos,
                        &hash_of,
                        &mut garbage,
                    )
                };
                wakers.wake(flight);
                drop(garbage);
                Ok(value)
            }
            Err(error) => {
                let error = std::sync::Arc::new(error);
                let shared: SharedError = error.clone();
                let (slot, wakers) = self.shard(hash).fail_flight(hash, flight, shared);
                wakers.wake(flight);
                drop(slot);
                Err(error)
            }
        }
    }

    /// The leader `id` of `flight` gives up (it panicked, or its future was
    /// dropped): hand the flight to the oldest waiter, or end it.
    pub(crate) fn abandon(&self, hash: u64, flight: &Arc<Flight<V>>, id: u64, panicked: bool) {
        let (slot, wakers) = self.shard(hash).abandon_flight(hash, flight, id, panicked);
        wakers.wake(flight);
        drop(slot);
    }

    /// Waiter `id` stops waiting (timeout, dropped future).
    pub(crate) fn leave(&self, hash: u64, flight: &Arc<Flight<V>>, id: u64) {
        let (slot, wakers) = self.shard(hash).leave_flight(hash, flight, id);
        wakers.wake(flight);
        drop(slot);
    }
}
