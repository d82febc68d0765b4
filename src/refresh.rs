//! Refresh-ahead (stale-while-revalidate) and fail-safe (stale-if-error),
//! built on single-flight (`load.rs`, `flight.rs`) and expiry (`expiry.rs`).
//!
//! # Time
//! An entry written at `w` with deadline `d` (from `time_to_live` and
//! friends) is, at time `t`:
//! - fresh while `t < w + refresh_after`;
//! - stale-servable while `w + refresh_after <= t < d`: a loading call
//!   returns it at once, and one caller (chosen by single-flight) reloads;
//! - expired from `d`: no read returns it; with `stale_if_error(g)` it is
//!   kept (counted against capacity, invisible to `get`) until `d + g`, for
//!   a `try_…` load that fails to fall back on;
//! - gone from `d + g` (the wheel files it by `d + g`: `wheel.rs`).
//!
//! The write time `w` and the time of the last failed load are a side
//! table of the shard's timers ([`Ages`], 16 bytes a slot), kept only when
//! `refresh_after` or `stale_if_error` is set: a cache without them pays
//! nothing.
//!
//! # Who refreshes
//! A loading call that finds a stale entry (under the shard's write lock)
//! registers a flight for the key (the entry stays cached) unless one is
//! registered already, in which case it returns the stale value at once.
//! The caller that registered it reloads:
//! - inline, with its own loader, or with the cache's refresher if one is
//!   set and there is no executor; its flight ends through the ordinary
//!   `finish` path, so an `insert`, `remove` or `clear` meanwhile wins;
//!   a failure, panic, `None` from the refresher or a dropped future ends
//!   the flight (or hands it to the oldest waiter) without touching the
//!   entry, and only the caller that ran it sees the error;
//! - on the executor, when one is set: the flight is *detached* (its
//!   leader is [`DETACHED`]), the caller returns the stale value, and the
//!   task ([`Detached`]) owns everything it needs: the key, the stale
//!   value, `Arc`s of the flight, the refresher, the weigher and the
//!   cache's [`Mailbox`]. It never touches the cache: it settles the flight
//!   (serving any waiter, or handing the flight to the oldest one) and posts
//!   the new value to the mailbox, under the flight's lock, before anyone
//!   can see the outcome. The next loading call, a `get` that finds a
//!   stale entry, a `compute` or batch, or `cleanup` applies the mailbox: each posted flight is
//!   taken out of its shard and, unless a write superseded it, its value is
//!   stored. A task that completes after `clear` finds its flight
//!   superseded; one that completes after the cache is dropped posts to a
//!   mailbox nobody reads, which goes with the task. A task the executor
//!   drops without running settles the flight as a refresher's `None`.
//!
//! Who can wait on a refresh flight? Only callers that found no usable
//! value (the entry was removed, evicted or expired during the refresh):
//! callers that find the stale entry never wait.
//!
//! # Fail-safe
//! A loading call that finds a kept (expired) entry loads as on a miss,
//! with a clone of the stale value at hand. If its `try_…` loader fails,
//! the failure time is recorded in the entry, and the caller, and every
//! waiter that also found the stale value, get `Ok(stale)` (counted in
//! `stale_served`). For `fail_safe_retry` after that, loading calls get the
//! stale value without calling the loader.

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use std::future::Future;
use std::hash::{BuildHasher, Hash};

use crate::cache::{Cache, Weigher};
use crate::expiry::{nanos, Expiration, Stamp, NEVER};
use crate::flight::{Flight, LoadingScope, Settled, DETACHED};
use crate::shard::Shard;
use crate::sync::{Arc, AtomicU32, Mutex, Ordering};

/// The windows, in nanoseconds ([`NEVER`]: unset).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Windows {
    pub(crate) refresh_after: u64,
    /// `stale_if_error`: how long after its deadline an expired entry is
    /// kept (0: not kept).
    pub(crate) grace: u64,
    /// `fail_safe_retry`.
    pub(crate) retry: u64,
}

/// Each slot's write time and last failed load (see the module docs).
pub(crate) struct Ages {
    windows: Windows,
    slots: Vec<Age>,
}

#[derive(Clone, Copy)]
struct Age {
    written: u64,
    /// [`NEVER`]: no failure since the write.
    failed: u64,
}

impl Ages {
    pub(crate) fn new(windows: Windows) -> Self {
        Ages {
            windows,
            slots: Vec::new(),
        }
    }

    /// The entry at `index` was written at `now` (`slots`: the arena's
    /// capacity, to grow in step with it).
    pub(crate) fn on_store(&mut self, index: u32, now: u64, slots: usize) {
        let i = index as usize;
        let vacant = || Age {
            written: 0,
            failed: NEVER,
        };
        crate::arena::grow_side_table(&mut self.slots, index, slots, vacant);
        self.slots[i] = Age {
            written: now,
            failed: NEVER,
        };
    }

    /// Whether the (live) entry at `index` is past `refresh_after`.
    #[inline]
    pub(crate) fn is_stale(&self, index: u32, now: u64) -> bool {
        self.windows.refresh_after != NEVER
            && self
                .slots
                .get(index as usize)
                .is_some_and(|age| now.saturating_sub(age.written) >= self.windows.refresh_after)
    }

    /// Whether a load of the (kept) entry at `index` failed less than
    /// `fail_safe_retry` ago.
    #[inline]
    pub(crate) fn failed(&self, index: u32, now: u64) -> bool {
        self.slots.get(index as usize).is_some_and(|age| {
            age.failed != NEVER && now < age.failed.saturating_add(self.windows.retry)
        })
    }

    pub(crate) fn set_failed(&mut self, index: u32, now: u64) {
        if let Some(age) = self.slots.get_mut(index as usize) {
            age.failed = now;
        }
    }

    #[cfg(any(test, feature = "test-hooks"))]
    pub(crate) fn heap_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Age>()
    }
}

/// What a write-locked lookup found ([`Shard::lookup`]).
pub(crate) enum Lookup<V> {
    /// A live entry, not past `refresh_after`.
    Hit(V),
    /// A live entry past `refresh_after`: served, and refreshed.
    Stale(V),
    /// An expired entry that fail-safe keeps: a miss, with the stale value
    /// to fall back on; `failed` if a load of it failed within
    /// `fail_safe_retry`.
    Kept {
        value: V,
        failed: bool,
    },
    Miss,
}

impl<V> Lookup<V> {
    /// The value a plain read returns.
    #[inline]
    pub(crate) fn live(self) -> Option<V> {
        match self {
            Lookup::Hit(value) | Lookup::Stale(value) => Some(value),
            Lookup::Kept { .. } | Lookup::Miss => None,
        }
    }
}

/// The refresher, as the cache calls it.
pub(crate) type Refresher<K, V> = std::sync::Arc<dyn Fn(&K, &V) -> Option<V> + Send + Sync>;
/// A refresh task, as the executor receives it.
pub(crate) type Task = Box<dyn FnOnce() + Send>;
/// The executor: runs a refresh task off the caller's thread.
pub(crate) type Executor = Box<dyn Fn(Task) + Send + Sync>;

/// A refresh just registered (see [`Cache::start_refresh`]).
pub(crate) enum Started<K, V> {
    /// The caller leads it, with a clone of the key if the cache has a
    /// refresher.
    Inline(Arc<Flight<V>>, Option<K>),
    /// It goes to the executor, with this key.
    Detached(Arc<Flight<V>>, K),
}

/// A refresher, with what the cache needs to send refreshes of it to an
/// executor: `K: Clone + Send + 'static` and `V: Send + 'static` are known
/// only where the refresher is set, so the key's clone and the boxing of a
/// task are captured there as plain functions.
pub(crate) struct RefresherParts<K, V> {
    refresher: Refresher<K, V>,
    clone_key: fn(&K) -> K,
    boxer: fn(Detached<K, V>) -> Task,
}

/// The refresh settings of a [`CacheBuilder`](crate::CacheBuilder).
pub(crate) struct Settings<K, V> {
    refresh_after: Option<Duration>,
    stale_if_error: Option<Duration>,
    fail_safe_retry: Option<Duration>,
    refresher: Option<RefresherParts<K, V>>,
    executor: Option<Executor>,
}

impl<K, V> Default for Settings<K, V> {
    fn default() -> Self {
        Settings {
            refresh_after: None,
            stale_if_error: None,
            fail_safe_retry: None,
            refresher: None,
            executor: None,
        }
    }
}

/// The default `fail_safe_retry`.
pub(crate) const DEFAULT_RETRY: Duration = Duration::from_secs(5);

impl<K, V> Settings<K, V> {
    /// The setting that cannot work, if any.
    pub(crate) fn check(&self) -> Result<(), crate::BuildError> {
        if self.refresh_after == Some(Duration::ZERO) {
            return Err(crate::BuildError::ZeroRefreshAfter);
        }
        if self.executor.is_some() && self.refresher.is_none() {
            return Err(crate::BuildError::ExecutorWithoutRefresher);
        }
        Ok(())
    }

    /// Gives the expiry settings the windows (so the shards keep write
    /// times and a clock is read) and returns the cache's part.
    pub(crate) fn install(self, expiration: &mut Expiration<K, V>) -> Option<Box<Refresh<K, V>>> {
        if self.refresh_after.is_some() || self.stale_if_error.is_some() {
            expiration.configured = true;
            expiration.windows = Some(Windows {
                refresh_after: self.refresh_after.map_or(NEVER, nanos),
                grace: self.stale_if_error.map_or(0, nanos),
                retry: nanos(self.fail_safe_retry.unwrap_or(DEFAULT_RETRY)),
            });
        }
        let refresher = self.refresher?;
        Some(Box::new(Refresh {
            refresher,
            executor: self.executor,
            mailbox: Arc::new(Mailbox::new()),
        }))
    }
}

/// A cache's refresher, executor and mailbox (only with a refresher).
pub(crate) struct Refresh<K, V> {
    refresher: RefresherParts<K, V>,
    executor: Option<Executor>,
    mailbox: Arc<Mailbox<V>>,
}

/// Executor refreshes that ended, waiting to be applied to their shards.
pub(crate) struct Mailbox<V> {
    /// Non-zero while `done` may hold messages.
    pending: AtomicU32,
    done: Mutex<Vec<Done<V>>>,
}

/// One ended executor refresh: its flight, and the value to store (with
/// its weight), or none.
pub(crate) struct Done<V> {
    hash: u64,
    flight: Arc<Flight<V>>,
    value: Option<(V, u64)>,
    /// The refresher panicked (counted as a failed load).
    failed: bool,
}

impl<V> Mailbox<V> {
    fn new() -> Self {
        Mailbox {
            pending: AtomicU32::new(0),
            done: Mutex::new(Vec::new()),
        }
    }

    #[inline]
    fn pending(&self) -> bool {
        self.pending.load(Ordering::Acquire) != 0
    }

    fn post(&self, done: Done<V>) {
        let mut queue = self.done.lock();
        queue.push(done);
        self.pending.store(1, Ordering::Release);
    }

    fn drain(&self) -> Vec<Done<V>> {
        let mut queue = self.done.lock();
        self.pending.store(0, Ordering::Release);
        std::mem::take(&mut *queue)
    }
}

/// A refresh on the executor: owns all it needs (see the module docs).
pub(crate) struct Detached<K, V> {
    hash: u64,
    key: K,
    stale: V,
    flight: Arc<Flight<V>>,
    mailbox: Arc<Mailbox<V>>,
    refresher: Refresher<K, V>,
    weigher: Option<Weigher<K, V>>,
    /// Whether the task ran (else its drop settles the flight).
    settled: bool,
}

impl<K, V: Clone> Detached<K, V> {
    /// The task: calls the refresher, weighs and clones its value (no lock
    /// held: all of it user code), settles the flight.
    fn run(mut self) {
        let (refresher, weigher) = (&self.refresher, &self.weigher);
        let (key, stale) = (&self.key, &self.stale);
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let value = refresher(key, stale)?;
            let weight = weigher.as_ref().map_or(1, |weigh| weigh(key, &value));
            let stored = value.clone();
            Some((value, (stored, weight)))
        }));
        match outcome {
            Ok(Some((shared, stored))) => self.settle(Some(shared), Some(stored), false),
            Ok(None) => self.settle(None, None, false),
            // The panic reaches nobody: the executor's thread is no caller
            // of the cache. It is counted as a failed load.
            Err(_) => self.settle(None, None, true),
        }
    }
}

impl<K, V> Detached<K, V> {
    fn settle(&mut self, shared: Option<V>, stored: Option<(V, u64)>, failed: bool) {
        self.settled = true;
        let mut done = Some(Done {
            hash: self.hash,
            flight: self.flight.clone(),
            value: stored,
            failed,
        });
        let mailbox = &self.mailbox;
        let settled = self.flight.settle_detached(shared, || {
            if let Some(done) = done.take() {
                mailbox.post(done);
            }
        });
        match settled {
            Settled::Ended(wakers) | Settled::HandedOver(wakers) => wakers.wake(&self.flight),
            Settled::NotDetached => {}
        }
    }
}

impl<K, V> Drop for Detached<K, V> {
    /// A task dropped unrun (an executor shutting down, or panicking):
    /// the refresh ends as if the refresher kept the stale value.
    fn drop(&mut self) {
        if !self.settled {
            self.settle(None, None, false);
        }
    }
}

fn boxer<K: Send + 'static, V: Clone + Send + 'static>(task: Detached<K, V>) -> Task {
    Box::new(move || task.run())
}

/// How an inline refresh ended without a new value.
pub(crate) enum Reload<E> {
    /// The refresher returned `None`: keep the stale value.
    Keep,
    /// The loader failed.
    Failed(E),
}

impl<K: Hash + Eq, V: Clone, S: BuildHasher> Cache<K, V, S> {
    /// Whether stale entries are refreshed on an executor.
    #[inline]
    pub(crate) fn refreshes_detached(&self) -> bool {
        self.refresh
            .as_ref()
            .is_some_and(|refresh| refresh.executor.is_some())
    }

    /// Whether executor refreshes have ended and wait to be applied.
    #[inline]
    pub(crate) fn refreshes_pending(&self) -> bool {
        self.refresh
            .as_ref()
            .is_some_and(|refresh| refresh.mailbox.pending())
    }

    /// Applies every ended executor refresh: takes its flight out of its
    /// shard and stores its value, unless a write superseded it.
    pub(crate) fn apply_refreshes(&self) {
        let Some(refresh) = &self.refresh else {
            return;
        };
        if !refresh.mailbox.pending() {
            return;
        }
        for done in refresh.mailbox.drain() {
            self.apply(done);
        }
    }

    fn apply(&self, done: Done<V>) {
        let Done {
            hash,
            flight,
            value,
            failed,
        } = done;
        let now = self.now();
        // Declared before the guard: dropped after it.
        let mut value = value;
        let mut incoming = None;
        let mut slot;
        let mut outbox = self.outbox();
        {
            let mut shard = self.shard(hash);
            shard.counters.load_failures += u64::from(failed);
            shard.counters.load_panics += u64::from(failed);
            slot = shard.flights.take(hash, &flight);
            if let Some(taken) = slot.take_if(|slot| !slot.superseded) {
                if let Some((value, weight)) = value.take() {
                    incoming = Some((taken.key, value));
                    shard.counters.loads += 1;
                    let stamp = Stamp::at(now);
                    shard.store(hash, &mut incoming, weight, stamp, &mut outbox.removed);
                }
            }
        }
        drop((incoming, slot, value, flight));
        outbox.deliver();
    }

    /// Under the write lock, for a `get` that found the entry of `key`
    /// stale: registers a detached refresh of it unless a load of it is in
    /// progress, cloning the stored key for the flight and for the task.
    pub(crate) fn start_detached<Q>(
        &self,
        shard: &mut Shard<K, V, S>,
        hash: u64,
        key: &Q,
        now: u64,
    ) -> Option<(Arc<Flight<V>>, K)>
    where
        K: std::borrow::Borrow<Q>,
        Q: ?Sized + Eq,
    {
        let refresh = self.refresh.as_ref()?;
        refresh.executor.as_ref()?;
        if shard.flights.contains(hash, key) {
            return None;
        }
        let stored = shard.stale_key(hash, key, now)?;
        let clone_key = refresh.refresher.clone_key;
        let (for_flight, for_task) = (clone_key(stored), clone_key(stored));
        let flight = shard.flights.start(hash, for_flight, DETACHED).ok()?;
        shard.counters.refreshes += 1;
        Some((flight, for_task))
    }

    /// Under the write lock, for a loading call that found its key stale
    /// and no load of it in progress: registers the refresh, led by the
    /// caller or detached.
    pub(crate) fn start_refresh(
        &self,
        shard: &mut Shard<K, V, S>,
        hash: u64,
        key: K,
    ) -> Started<K, V> {
        let detached = self.refreshes_detached();
        let clone = self
            .refresh
            .as_ref()
            .map(|refresh| (refresh.refresher.clone_key)(&key));
        let leader = if detached { DETACHED } else { 0 };
        let flight = match shard.flights.start(hash, key, leader) {
            Ok(flight) => flight,
            Err(_) => unreachable!("shardcache: a refresh began beside a load of its key"),
        };
        shard.counters.refreshes += 1;
        match (detached, clone) {
            (true, Some(key)) => Started::Detached(flight, key),
            (_, clone) => Started::Inline(flight, clone),
        }
    }

    /// Sends a detached refresh to the executor (no lock held). If the
    /// executor panics, the panic reaches the caller; a task it dropped
    /// settles its flight itself.
    pub(crate) fn launch(&self, hash: u64, flight: Arc<Flight<V>>, key: K, stale: V) {
        let Some(refresh) = &self.refresh else {
            return;
        };
        let Some(executor) = &refresh.executor else {
            return;
        };
        let task = Detached {
            hash,
            key,
            stale,
            flight,
            mailbox: refresh.mailbox.clone(),
            refresher: refresh.refresher.refresher.clone(),
            weigher: self.weigher.clone(),
            settled: false,
        };
        executor((refresh.refresher.boxer)(task));
    }

    /// The inline refresh of a caller that leads `flight` (registered by
    /// [`Cache::start_refresh`]): the cache's refresher if it has one (with
    /// `key`, its clone of the key), else the caller's `load`.
    pub(crate) fn refresh_sync<E: Send + Sync + 'static>(
        &self,
        hash: u64,
        flight: &Arc<Flight<V>>,
        stale: V,
        key: Option<K>,
        load: impl FnOnce() -> Result<V, E>,
    ) -> Result<V, std::sync::Arc<E>> {
        let started = Instant::now();
        let watch = self.observer().watch_load(hash, started);
        let result = catch_unwind(AssertUnwindSafe(|| {
            let _scope = LoadingScope::enter(flight);
            let _span = watch.enter();
            match (&self.refresh, &key) {
                (Some(refresh), Some(key)) => {
                    (refresh.refresher.refresher)(key, &stale).ok_or(Reload::Keep)
                }
                _ => load().map_err(Reload::Failed),
            }
        }));
        drop(key);
        let concluded = self.conclude_refresh(hash, flight, result, stale, started);
        watch.finished(&concluded);
        concluded
    }

    /// [`Cache::refresh_sync`] for async callers: `init` is awaited inside
    /// the caller's future. Dropping it mid-reload ends the flight (or
    /// hands it to the oldest waiter) and leaves the stale value in place.
    pub(crate) async fn refresh_async<E, F>(
        &self,
        hash: u64,
        flight: &Arc<Flight<V>>,
        stale: V,
        key: Option<K>,
        init: F,
    ) -> Result<V, std::sync::Arc<E>>
    where
        E: Send + Sync + 'static,
        F: Future<Output = Result<V, E>>,
    {
        if self.refresh.is_some() && key.is_some() {
            // The refresher is a plain function: it runs inline.
            drop(init);
            return self.refresh_sync(hash, flight, stale, key, || -> Result<V, E> {
                unreachable!("shardcache: the refresher runs instead")
            });
        }
        let (result, started, watch) = self.run_loader(hash, flight, 0, init).await;
        let result = result.map(|loaded| loaded.map_err(Reload::Failed));
        let concluded = self.conclude_refresh(hash, flight, result, stale, started);
        watch.finished(&concluded);
        concluded
    }

    /// Ends an inline refresh: a new value is stored through the ordinary
    /// `finish` (a write meanwhile supersedes it); otherwise the flight is
    /// given up without touching the entry, and only this caller sees the
    /// error or panic.
    fn conclude_refresh<E: Send + Sync + 'static>(
        &self,
        hash: u64,
        flight: &Arc<Flight<V>>,
        result: std::thread::Result<Result<V, Reload<E>>>,
        stale: V,
        started: Instant,
    ) -> Result<V, std::sync::Arc<E>> {
        match result {
            Ok(Ok(value)) => {
                drop(stale);
                self.conclude(hash, flight, 0, Ok(Ok::<V, E>(value)), started)
            }
            Ok(Err(Reload::Keep)) => {
                self.abandon(hash, flight, 0, false);
                Ok(stale)
            }
            Ok(Err(Reload::Failed(error))) => {
                // Given up as a cancelled leader is (not counted), then
                // counted as a failed load (not a panic).
                self.abandon(hash, flight, 0, false);
                self.shard(hash).counters.load_failures += 1;
                Err(std::sync::Arc::new(error))
            }
            Err(panic) => {
                self.abandon(hash, flight, 0, true);
                drop(stale);
                resume_unwind(panic)
            }
        }
    }

    /// Fail-safe: a load's error, for a caller that had a kept stale value,
    /// becomes that value (counted in `stale_served`).
    pub(crate) fn fail_safe<E>(
        &self,
        hash: u64,
        result: Result<V, std::sync::Arc<E>>,
        fallback: Option<V>,
    ) -> Result<V, std::sync::Arc<E>> {
        match (result, fallback) {
            (Err(_), Some(stale)) => {
                self.shard(hash).counters.stale_served += 1;
                Ok(stale)
            }
            (result, _) => result,
        }
    }
}

impl<K, V, S> crate::CacheBuilder<K, V, S> {
    /// Stale-while-revalidate: an entry older than this (since it was
    /// written) but not expired is still returned by loading calls
    /// (`get_or_insert_with`, `try_…`, `…_async`), and exactly one caller,
    /// chosen by single-flight, reloads it while every other concurrent
    /// caller gets the stale value at once. Without a
    /// [`refresher`](Self::refresher) the chosen caller runs its own loader
    /// and gets the new value; with a refresher and an
    /// [`executor`](Self::executor) every caller gets the stale value, the
    /// refresh runs on the executor, and `get` past `refresh_after`
    /// triggers it too. `peek` never does.
    ///
    /// A successful reload replaces the value and restarts its clocks
    /// (the removal listener hears [`Replaced`](crate::RemovalCause));
    /// a failed or panicking one keeps the stale value, and only the caller
    /// that ran it sees the error. An `insert`, `remove` or `clear` during
    /// a refresh wins. Each slot of the cache then keeps its write time
    /// (16 bytes). Zero is a
    /// [`BuildError::ZeroRefreshAfter`](crate::BuildError::ZeroRefreshAfter).
    ///
    /// ```
    /// use std::time::Duration;
    /// let cache: shardcache::Cache<&str, u64> = shardcache::Cache::builder()
    ///     .capacity(100)
    ///     .time_to_live(Duration::from_secs(60))
    ///     .refresh_after(Duration::from_secs(45))
    ///     .build();
    /// assert_eq!(cache.get_or_insert_with("k", || 1), 1);
    /// ```
    pub fn refresh_after(mut self, after: Duration) -> Self {
        self.refresh.refresh_after = Some(after);
        self
    }

    /// Fail-safe: an expired entry is kept (never returned by `get`, but
    /// counted against capacity) for up to `window` after it expires. A
    /// `try_…` load of its key that fails then returns `Ok` with the stale
    /// value to its caller and to every caller waiting on that load
    /// (counted in [`Stats::stale_served`](crate::Stats::stale_served)),
    /// and for [`fail_safe_retry`](Self::fail_safe_retry) after the failure
    /// loading calls get the stale value without calling their loader. After
    /// `window` the entry is gone and errors pass through.
    ///
    /// ```
    /// use std::time::Duration;
    /// let cache: shardcache::Cache<&str, u64> = shardcache::Cache::builder()
    ///     .capacity(100)
    ///     .time_to_live(Duration::from_secs(60))
    ///     .stale_if_error(Duration::from_secs(600))
    ///     .build();
    /// assert_eq!(cache.try_get_or_insert_with("k", || Ok::<_, ()>(1)), Ok(1));
    /// ```
    pub fn stale_if_error(mut self, window: Duration) -> Self {
        self.refresh.stale_if_error = Some(window);
        self
    }

    /// How long a failed load of a kept stale entry is remembered (see
    /// [`stale_if_error`](Self::stale_if_error)): meanwhile loading calls
    /// get the stale value and the backend is not asked. Default 5 s; zero
    /// asks the backend on every call (still once per wave of concurrent
    /// callers).
    ///
    /// ```
    /// use std::time::Duration;
    /// let cache: shardcache::Cache<&str, u64> = shardcache::Cache::builder()
    ///     .capacity(100)
    ///     .time_to_live(Duration::from_secs(60))
    ///     .stale_if_error(Duration::from_secs(600))
    ///     .fail_safe_retry(Duration::from_secs(5))
    ///     .build();
    /// # let _ = cache;
    /// ```
    pub fn fail_safe_retry(mut self, retry: Duration) -> Self {
        self.refresh.fail_safe_retry = Some(retry);
        self
    }

    /// The cache-wide reload for [`refresh_after`](Self::refresh_after):
    /// called with the key and its stale value, it returns the new value,
    /// or `None` to keep the stale one. A loading call's own loader borrows
    /// from its caller and cannot leave its thread; this one can, so with
    /// an [`executor`](Self::executor) refreshes run off the callers'
    /// threads (once per key at a time). Without an executor it runs
    /// inline on the chosen caller, instead of that caller's loader.
    ///
    /// ```
    /// use std::time::Duration;
    /// let cache: shardcache::Cache<u64, String> = shardcache::Cache::builder()
    ///     .capacity(100)
    ///     .refresh_after(Duration::from_secs(30))
    ///     .refresher(|key: &u64, _stale: &String| Some(format!("fresh {key}")))
    ///     .build();
    /// # let _ = cache;
    /// ```
    pub fn refresher(
        mut self,
        refresher: impl Fn(&K, &V) -> Option<V> + Send + Sync + 'static,
    ) -> Self
    where
        K: Clone + Send + 'static,
        V: Clone + Send + 'static,
    {
        self.refresh.refresher = Some(RefresherParts {
            refresher: std::sync::Arc::new(refresher),
            clone_key: K::clone,
            boxer: boxer::<K, V>,
        });
        self
    }

    /// Runs refreshes off the callers' threads: given each refresh as a
    /// task, it must run it (now or later, on any thread) or drop it (the
    /// stale value then stays, and a later read refreshes again). Requires
    /// a [`refresher`](Self::refresher), else
    /// [`BuildError::ExecutorWithoutRefresher`](crate::BuildError::ExecutorWithoutRefresher).
    /// The cache need not outlive the task: a refresh that completes after
    /// the cache is dropped (or after `clear`) is harmless.
    ///
    /// ```
    /// use std::time::Duration;
    /// let cache: shardcache::Cache<u64, u64> = shardcache::Cache::builder()
    ///     .capacity(100)
    ///     .refresh_after(Duration::from_secs(30))
    ///     .refresher(|key: &u64, _stale: &u64| Some(key * 2))
    ///     .executor(|task: Box<dyn FnOnce() + Send>| {
    ///         std::thread::spawn(task);
    ///     })
    ///     .build();
    /// # let _ = cache;
    /// ```
    pub fn executor(
        mut self,
        executor: impl Fn(Box<dyn FnOnce() + Send>) + Send + Sync + 'static,
    ) -> Self {
        self.refresh.executor = Some(Box::new(executor));
        self
    }
}
