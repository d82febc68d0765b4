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
use crate::expiry::Stamp;
use crate::flight::{Flight, HandOver, Join, LoadingScope, SharedError, Wait, Wakers};
use crate::refresh::{Lookup, Started};
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

/// Where one pass of a loading call stands after looking its key up.
enum Step<K, V> {
    /// The key was cached (or a stale value is served: `refresh.rs`).
    Hit(V),
    /// The caller runs the load, as the flight's leader `id` (0 for the
    /// caller that started it). With fail-safe, the kept stale value to
    /// return if the load fails.
    Lead(Arc<Flight<V>>, u64, Option<V>),
    /// Another caller is loading: wait on the flight as waiter `id`. The
    /// key comes back for a retry; and the kept stale value, as for `Lead`.
    Wait(Arc<Flight<V>>, u64, K, Option<V>),
    /// The entry is past `refresh_after`: the caller refreshes it inline
    /// (its stale value, and a clone of the key for the cache's refresher).
    Refresh(Arc<Flight<V>>, V, Option<K>),
}

/// What a waiter does with its flight's answer.
enum Next<V, E> {
    Return(Result<V, std::sync::Arc<E>>),
    /// Start over: the flight ended without a result for this caller (it
    /// was abandoned, or failed with another error type).
    Retry,
    /// Run the load: the flight was handed to this waiter.
    Lead,
}

impl<V, E: Send + Sync + 'static> Next<V, E> {
    fn after(wait: Wait<V>) -> Self {
        match wait {
            Wait::Value(value) => Next::Return(Ok(value)),
            Wait::Failed(error) => match error.downcast::<E>() {
                Ok(error) => Next::Return(Err(error)),
                Err(_) => Next::Retry,
            },
            Wait::Retry | Wait::TimedOut => Next::Retry,
            Wait::Lead => Next::Lead,
        }
    }
}

#[cold]
#[inline(never)]
pub(crate) fn recursive_load() -> ! {
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

    /// One pass of the protocol, shared by the sync and async paths: look
    /// the key up under the shard's write lock; on a miss, join its flight
    /// or start one. The lookup is counted if `count` (the call's first
    /// pass; a caller that starts over after a failed or abandoned flight
    /// was counted already).
    fn step(&self, hash: u64, key: K, count: bool) -> Step<K, V> {
        self.apply_refreshes();
        let now = self.now();
        // Declared before the guard: what the lookup removes (expired
        // entries) is reported and dropped after it is released.
        let mut outbox = self.outbox();
        let mut shard = self.shard(hash);
        let kept = match shard.lookup(hash, &key, count, now, &mut outbox.removed) {
            Lookup::Hit(value) => {
                drop(shard);
                drop(key);
                outbox.deliver();
                return Step::Hit(value);
            }
            // Past `refresh_after`: served at once while a load of the key
            // runs; else this caller starts the refresh.
            Lookup::Stale(value) => {
                let started = match shard.flights.contains(hash, &key) {
                    true => None,
                    false => Some(self.start_refresh(&mut shard, hash, key)),
                };
                drop(shard);
                outbox.deliver();
                return match started {
                    None => Step::Hit(value),
                    Some(Started::Inline(flight, key)) => Step::Refresh(flight, value, key),
                    Some(Started::Detached(flight, key)) => {
                        self.launch(hash, flight, key, value.clone());
                        Step::Hit(value)
                    }
                };
            }
            // Fail-safe: a load failed lately; the stale value, no loader.
            Lookup::Kept {
                value,
                failed: true,
            } => {
                shard.counters.stale_served += 1;
                drop(shard);
                drop(key);
                outbox.deliver();
                return Step::Hit(value);
            }
            Lookup::Kept { value, .. } => Some(value),
            Lookup::Miss => None,
        };
        let step = match shard.flights.join(hash, key) {
            Join::Lead(flight) => Step::Lead(flight, 0, kept),
            Join::Wait(flight, id, key) => Step::Wait(flight, id, key, kept),
            Join::Recursive(key) => {
                drop(shard);
                drop(key);
                outbox.deliver();
                recursive_load()
            }
        };
        drop(shard);
        outbox.deliver();
        step
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
        let mut first = true;
        loop {
            let (flight, id, kept) = match self.step(hash, key, std::mem::take(&mut first)) {
                Step::Hit(value) => return Ok(value),
                Step::Refresh(flight, stale, key) => {
                    return self
                        .refresh_sync(hash, &flight, stale, key, load)
                        .map_err(Miss::Failed)
                }
                Step::Lead(flight, id, kept) => (flight, id, kept),
                Step::Wait(flight, id, returned, kept) => {
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
                    match Next::after(wait) {
                        Next::Return(result) => {
                            return self.fail_safe(hash, result, kept).map_err(Miss::Failed)
                        }
                        Next::Retry => continue,
                        Next::Lead => (flight, id, kept),
                    }
                }
            };
            let result = self.lead_sync(hash, &flight, id, load);
            return self.fail_safe(hash, result, kept).map_err(Miss::Failed);
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
        let watch = self.observer().watch_load(hash, started);
        let result = catch_unwind(AssertUnwindSafe(|| {
            let _scope = LoadingScope::enter(flight);
            let _span = watch.enter();
            load()
        }));
        let concluded = self.conclude(hash, flight, id, result, started);
        watch.finished(&concluded);
        concluded
    }

    /// Finishes a flight with its loader's outcome. A panic (the loader's,
    /// or one in `V::clone` or the weigher while finishing) hands the flight
    /// over and is then resumed. The hand-over runs after the panic was
    /// caught, not during unwinding, so it takes the shard lock as ordinary
    /// code does.
    pub(crate) fn conclude<E: Send + Sync + 'static>(
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
        let mut first = true;
        loop {
            let (flight, id, kept) = match self.step(hash, key, std::mem::take(&mut first)) {
                Step::Hit(value) => return Ok(value),
                Step::Refresh(flight, stale, key) => {
                    return self.refresh_async(hash, &flight, stale, key, init).await
                }
                Step::Lead(flight, id, kept) => (flight, id, kept),
                Step::Wait(flight, id, returned, kept) => {
                    key = returned;
                    let wait = WaitFuture {
                        cache: self,
                        hash,
                        flight: &flight,
                        id,
                        done: false,
                    }
                    .await;
                    match Next::after(wait) {
                        Next::Return(result) => return self.fail_safe(hash, result, kept),
                        Next::Retry => continue,
                        Next::Lead => (flight, id, kept),
                    }
                }
            };
            let result = self.lead_async(hash, &flight, id, init).await;
            return self.fail_safe(hash, result, kept);
        }
    }

    /// Awaits `init` as the leader of `flight` and finishes the flight.
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
        let (result, started, watch) = self.run_loader(hash, flight, id, init).await;
        let concluded = self.conclude(hash, flight, id, result, started);
        watch.finished(&concluded);
        concluded
    }

    /// Awaits a loader as the leader `id` of `flight`, inside the flight's
    /// loading scope and the load's span, catching a panic. If this future
    /// is dropped mid-load, the guard hands the flight over. Returns the
    /// outcome, when the load started, and its watch, for the caller to
    /// conclude the flight.
    pub(crate) async fn run_loader<T, F: Future<Output = T>>(
        &self,
        hash: u64,
        flight: &Arc<Flight<V>>,
        id: u64,
        init: F,
    ) -> (
        std::thread::Result<T>,
        Instant,
        crate::observe::LoadWatch<'_>,
    ) {
        let mut cancelled = CancelGuard {
            cache: self,
            hash,
            flight,
            id,
            armed: true,
        };
        let started = Instant::now();
        let watch = self.observer().watch_load(hash, started);
        let mut init = pin!(init);
        let result = poll_fn(|cx| {
            let _scope = LoadingScope::enter(flight);
            let _span = watch.enter();
            match catch_unwind(AssertUnwindSafe(|| init.as_mut().poll(cx))) {
                Ok(Poll::Pending) => Poll::Pending,
                Ok(Poll::Ready(result)) => Poll::Ready(Ok(result)),
                Err(panic) => Poll::Ready(Err(panic)),
            }
        })
        .await;
        cancelled.armed = false;
        (result, started, watch)
    }

    /// The weight of `value`, loaded by `flight`. The weigher is user code,
    /// and the key it needs lives in the flight's slot: weighed under the
    /// read lock, so the shard's read-locked lookups go on while it runs
    /// (until a writer queues). Only the flight's leader removes its slot,
    /// so the key is still there when the leader takes the write lock to
    /// store; a write landing in between supersedes the load, as it would
    /// during the load.
    pub(crate) fn weigh_loaded(&self, hash: u64, flight: &Arc<Flight<V>>, value: &V) -> u64 {
        if !self.weighs() {
            return 1;
        }
        self.shard_read(hash)
            .flights
            .key(hash, flight)
            .map_or(1, |key| self.weigh(key, value))
    }

    /// Ends a flight with its loader's result: stores and shares a value, or
    /// shares an error.
    pub(crate) fn finish<E: Send + Sync + 'static>(
        &self,
        hash: u64,
        flight: &Arc<Flight<V>>,
        result: Result<V, E>,
        started: Instant,
    ) -> Result<V, std::sync::Arc<E>> {
        let value = match result {
            Ok(value) => value,
            Err(error) => {
                let error = std::sync::Arc::new(error);
                let shared: SharedError = error.clone();
                let now = self.now();
                let (slot, wakers) = {
                    let mut shard = self.shard(hash);
                    shard.counters.load_failures += 1;
                    let slot = shard.flights.take(hash, flight);
                    if let Some(slot) = &slot {
                        // Fail-safe remembers the failure (`refresh.rs`).
                        shard.note_failure(hash, &slot.key, now);
                    }
                    (slot, flight.finish_failed(shared))
                };
                wakers.wake(flight);
                drop(slot);
                return Err(error);
            }
        };
        let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        // Declared before the guard, so dropped after it even by a panic:
        // the clones (`V::clone` is user code, run before locking) and what
        // the store removes.
        let mut stored = Some(value.clone());
        let shared = value.clone();
        let now = self.now();
        let mut outbox = self.outbox();
        let weight = self.weigh_loaded(hash, flight, &value);
        let mut incoming = None;
        let wakers = {
            let mut shard = self.shard(hash);
            match shard.flights.take(hash, flight) {
                Some(slot) if !slot.superseded => {
                    incoming = stored.take().map(|value| (slot.key, value));
                    let stamp = Stamp::at(now);
                    shard.store(hash, &mut incoming, weight, stamp, &mut outbox.removed);
                }
                // Superseded by a write, or cleared: not stored (the key and
                // the value are dropped after unlocking).
                Some(slot) => incoming = stored.take().map(|value| (slot.key, value)),
                None => {}
            }
            shard.counters.loads += 1;
            shard.counters.load_nanos += nanos;
            let (served, wakers) = flight.finish_ready(shared);
            shard.counters.coalesced += served;
            wakers
        };
        wakers.wake(flight);
        drop((incoming, stored));
        outbox.deliver();
        Ok(value)
    }

    /// The leader `id` of `flight` gives up (it panicked, or its future was
    /// dropped): hand the flight to the oldest waiter, or end it. A failed
    /// load (`panicked`) is counted if `id` still led it.
    pub(crate) fn abandon(&self, hash: u64, flight: &Arc<Flight<V>>, id: u64, panicked: bool) {
        self.give_up(hash, flight, id, Some(panicked));
    }

    /// Waiter `id` stops waiting (timeout, dropped future). If it had been
    /// chosen to lead, leadership passes on as in [`Cache::abandon`].
    pub(crate) fn leave(&self, hash: u64, flight: &Arc<Flight<V>>, id: u64) {
        self.give_up(hash, flight, id, None);
    }

    /// Ends `flight` (led by this caller) for everyone without a value:
    /// its waiters start over. For a waiter handed a lead it does not
    /// want (a compute, a batch), which would otherwise pass it on.
    pub(crate) fn end_empty(&self, hash: u64, flight: &Arc<Flight<V>>) {
        let (slot, wakers) = {
            let mut shard = self.shard(hash);
            (shard.flights.take(hash, flight), flight.finish_empty())
        };
        wakers.wake(flight);
        drop(slot);
    }

    /// `id` gives up on `flight`, as its leader (`Some(panicked)`) or as a
    /// waiter (`None`, which may have just been chosen to lead), all under
    /// the shard lock. If it leads, the flight passes to the oldest waiter,
    /// or ends if nobody waits.
    fn give_up(&self, hash: u64, flight: &Arc<Flight<V>>, id: u64, leader: Option<bool>) {
        let (slot, wakers) = {
            let mut shard = self.shard(hash);
            if leader.is_none() && flight.deregister(id) {
                return;
            }
            let handed = match flight.hand_over(id) {
                HandOver::Ended => (shard.flights.take(hash, flight), Wakers::default()),
                HandOver::To(wakers) => (None, wakers),
                // Not (or no longer) the flight's leader: e.g. the panic came
                // after the load had completed (an evicted value's `Drop`),
                // so there is no failed load to count.
                HandOver::NotLeader => return,
            };
            shard.counters.load_failures += u64::from(leader == Some(true));
            shard.counters.load_panics += u64::from(leader == Some(true));
            handed
        };
        wakers.wake(flight);
        drop(slot);
    }
}
