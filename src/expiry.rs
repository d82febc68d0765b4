//! Time-based expiry: the public [`Expiry`] and [`Clock`] traits, the
//! cache's time source and settings ([`Expiration`]), and a shard's
//! per-entry timing data ([`Timers`]: a side table indexed by arena slot,
//! and the timer wheel of `wheel.rs`).
//!
//! A cache built without expiry has no `Timers` at all: its arena nodes and
//! hit path are those of a cache that never heard of expiry. With expiry,
//! each slot has a [`Timing`] (16 bytes: the deadline, and the entry's two
//! links in the wheel) and, when reads can extend an entry's life past a
//! fixed cap (`time_to_idle` or an [`Expiry`] with `time_to_live`, or
//! `insert_with_ttl`), that cap (4 or 8 bytes more, see `caps.rs`). A
//! shard also keeps a floor, a time before which none of its entries
//! expires, so that hits before it skip the deadline ([`Timers::all_live`]).
//!
//! Times are nanoseconds since the cache's epoch (its creation), as `u64`;
//! [`NEVER`] is "no deadline". See `docs/expiry.md`.

use std::time::{Duration, Instant};

use crate::caps::Caps;
use crate::wheel::Wheel;

/// Decides, entry by entry, how long an entry lives: from its creation, and
/// again after each read and each update. Returning `None` means the entry
/// never expires (by this rule; `time_to_live` and `time_to_idle`, if also
/// set, still apply: the earliest deadline wins).
///
/// `expire_after_create` and `expire_after_update` run under the shard's
/// write lock, `expire_after_read` under its read lock (the write lock on a
/// one-shard cache): keep them cheap and do not call into the cache from
/// them. Each runs before the operation changes anything, so a panic in one
/// reaches the caller and leaves the cache as it was.
///
/// ```
/// use std::time::{Duration, Instant};
/// use shardcache::{Cache, Expiry};
///
/// /// A DNS answer lives as long as its own TTL says.
/// struct ByAnswer;
/// impl Expiry<String, (String, u64)> for ByAnswer {
///     fn expire_after_create(&self, _: &String, answer: &(String, u64), _: Instant) -> Option<Duration> {
///         Some(Duration::from_secs(answer.1))
///     }
/// }
///
/// let cache: Cache<String, (String, u64)> = Cache::builder().capacity(100).expiry(ByAnswer).build();
/// let ip = cache.get_or_insert_with("example.com".into(), || ("93.184.215.14".into(), 300));
/// assert_eq!(ip.1, 300);
/// ```
pub trait Expiry<K, V>: Send + Sync + 'static {
    /// The lifetime of a new entry (`None`: no deadline).
    fn expire_after_create(&self, key: &K, value: &V, now: Instant) -> Option<Duration>;

    /// The remaining lifetime after a read, given the current one
    /// (`remaining`, `None` if it had no deadline). The default keeps it.
    ///
    /// ```
    /// # use std::time::{Duration, Instant};
    /// struct Sliding;
    /// impl shardcache::Expiry<u8, u8> for Sliding {
    ///     fn expire_after_create(&self, _: &u8, _: &u8, _: Instant) -> Option<Duration> {
    ///         Some(Duration::from_secs(10))
    ///     }
    ///     fn expire_after_read(&self, _: &u8, _: &u8, _: Instant, _: Option<Duration>) -> Option<Duration> {
    ///         Some(Duration::from_secs(10)) // every read restarts the clock
    ///     }
    /// }
    /// ```
    fn expire_after_read(
        &self,
        key: &K,
        value: &V,
        now: Instant,
        remaining: Option<Duration>,
    ) -> Option<Duration> {
        let _ = (key, value, now);
        remaining
    }

    /// The remaining lifetime after the entry's value is replaced, given the
    /// current one. The default keeps it.
    ///
    /// ```
    /// # use std::time::{Duration, Instant};
    /// struct Renew;
    /// impl shardcache::Expiry<u8, u8> for Renew {
    ///     fn expire_after_create(&self, _: &u8, _: &u8, _: Instant) -> Option<Duration> {
    ///         Some(Duration::from_secs(10))
    ///     }
    ///     fn expire_after_update(&self, k: &u8, v: &u8, now: Instant, _: Option<Duration>) -> Option<Duration> {
    ///         self.expire_after_create(k, v, now) // an update starts afresh
    ///     }
    /// }
    /// ```
    fn expire_after_update(
        &self,
        key: &K,
        value: &V,
        now: Instant,
        remaining: Option<Duration>,
    ) -> Option<Duration> {
        let _ = (key, value, now);
        remaining
    }
}

/// The source of time for expiry. The default reads the system's
/// monotonic clock (see [`CacheBuilder::clock`](crate::CacheBuilder::clock));
/// inject another to test expiry without sleeping.
///
/// A clock should not go backwards. If it does, each shard holds its time
/// at the latest reading it has seen until the clock catches up, so
/// entries neither come back to life nor, under `time_to_idle`, get a
/// deadline earlier than one already given.
///
/// ```
/// use std::sync::{Arc, atomic::{AtomicU64, Ordering}};
/// use std::time::{Duration, Instant};
///
/// /// A test clock: a fixed start plus an offset the test advances.
/// #[derive(Clone)]
/// struct TestClock(Instant, Arc<AtomicU64>);
/// impl shardcache::Clock for TestClock {
///     fn now(&self) -> Instant {
///         self.0 + Duration::from_millis(self.1.load(Ordering::Relaxed))
///     }
/// }
///
/// let clock = TestClock(Instant::now(), Arc::new(AtomicU64::new(0)));
/// let cache = shardcache::Cache::builder()
///     .capacity(10)
///     .time_to_live(Duration::from_secs(1))
///     .clock(clock.clone())
///     .build();
/// cache.insert(1, "one");
/// clock.1.store(999, Ordering::Relaxed);
/// assert_eq!(cache.get(&1), Some("one"));
/// clock.1.store(1_000, Ordering::Relaxed);
/// assert_eq!(cache.get(&1), None);
/// ```
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> Instant;
}

/// No deadline.
pub(crate) const NEVER: u64 = u64::MAX;

/// When a write happens: the time (nanoseconds since the cache's epoch, 0
/// for a cache without expiry) and the entry's own lifetime, if the write
/// gives one (`insert_with_ttl`).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Stamp {
    pub(crate) now: u64,
    pub(crate) ttl: Option<u64>,
}

impl Stamp {
    #[inline]
    pub(crate) fn at(now: u64) -> Self {
        Stamp { now, ttl: None }
    }
}

/// A duration in nanoseconds, saturating (a lifetime beyond 584 years is
/// forever).
#[inline]
pub(crate) fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(NEVER)
}

/// Where "now" comes from.
enum Source {
    /// The kernel's coarse monotonic clock (see [`coarse_nanos`]), as
    /// nanoseconds since `base`, its reading at the epoch.
    Coarse {
        base: u64,
    },
    Custom(Box<dyn Clock>),
}

/// The cheap system clock: on Linux `CLOCK_MONOTONIC_COARSE`, the monotonic
/// clock at the kernel tick's resolution (1–10 ms, 4 ms on the reference
/// machine), read from the vDSO without a system call; elsewhere
/// `Instant::now()`. About five times cheaper than `Instant::now()` where
/// the vDSO reads the TSC, and ten where it cannot (a precise read is then
/// a system call): the figures are in `docs/expiry.md`.
#[cfg(all(target_os = "linux", not(shardcache_loom)))]
#[inline]
fn coarse_nanos() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::MonotonicCoarse);
    (t.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(t.tv_nsec as u64)
}

#[cfg(all(not(target_os = "linux"), not(shardcache_loom)))]
#[inline]
fn coarse_nanos() -> u64 {
    use std::sync::OnceLock;
    static START: OnceLock<Instant> = OnceLock::new();
    nanos(START.get_or_init(Instant::now).elapsed())
}

/// Under loom, a clock that a model sets (`sync.rs`).
#[cfg(shardcache_loom)]
fn coarse_nanos() -> u64 {
    crate::sync::builtin_clock()
}

/// The settings of a cache's expiry and its time source, shared by the
/// cache and its shards.
pub(crate) struct Expiration<K, V> {
    epoch: Instant,
    source: Source,
    ttl: Option<u64>,
    tti: Option<u64>,
    custom: Option<Box<dyn Lifetimes<K, V>>>,
    /// Whether any setting was given: then every shard keeps timers from
    /// the start (else only after an `insert_with_ttl`).
    pub(crate) configured: bool,
    /// Refresh-ahead and fail-safe windows (`refresh.rs`), if either is
    /// set: then each slot's write time is kept too.
    pub(crate) windows: Option<crate::refresh::Windows>,
}

/// The expiry settings of a [`CacheBuilder`](crate::CacheBuilder).
pub(crate) struct Settings<K, V> {
    pub(crate) ttl: Option<Duration>,
    pub(crate) tti: Option<Duration>,
    pub(crate) custom: Option<Box<dyn Lifetimes<K, V>>>,
    pub(crate) clock: Option<Box<dyn Clock>>,
}

impl<K, V> Default for Settings<K, V> {
    fn default() -> Self {
        Settings {
            ttl: None,
            tti: None,
            custom: None,
            clock: None,
        }
    }
}

impl<K, V> Settings<K, V> {
    /// The field that cannot work, if any.
    pub(crate) fn check(&self) -> Result<(), crate::BuildError> {
        if self.ttl == Some(Duration::ZERO) {
            return Err(crate::BuildError::ZeroTimeToLive);
        }
        if self.tti == Some(Duration::ZERO) {
            return Err(crate::BuildError::ZeroTimeToIdle);
        }
        Ok(())
    }

    pub(crate) fn is_set(&self) -> bool {
        self.ttl.is_some() || self.tti.is_some() || self.custom.is_some() || self.clock.is_some()
    }
}

impl<K, V> Expiration<K, V> {
    pub(crate) fn new(settings: Settings<K, V>) -> Self {
        let configured = settings.is_set();
        let source = match settings.clock {
            Some(clock) => Source::Custom(clock),
            None => Source::Coarse {
                base: coarse_nanos(),
            },
        };
        let epoch = match &source {
            Source::Custom(clock) => clock.now(),
            Source::Coarse { .. } => Instant::now(),
        };
        Expiration {
            epoch,
            source,
            ttl: settings.ttl.map(nanos),
            tti: settings.tti.map(nanos),
            custom: settings.custom,
            configured,
            windows: None,
        }
    }

    /// Nanoseconds since the epoch (0 for a clock reading before it).
    #[inline]
    pub(crate) fn now(&self) -> u64 {
        match &self.source {
            Source::Coarse { base } => coarse_nanos().saturating_sub(*base),
            Source::Custom(clock) => nanos(clock.now().saturating_duration_since(self.epoch)),
        }
    }

    /// "Now" for an operation that read no clock (its `now` is 0: it
    /// missed the cache's `expiring` flag, racing the first
    /// `insert_with_ttl` of a cache built without expiry) yet found timers
    /// in its shard, which that call gave it under the lock after setting
    /// the flag. Read here, under the lock, so that the entry is not judged
    /// by the time of the shard's latest write. Only the built-in clock is
    /// read, which is not user code: a cache with a clock of its own sets
    /// the flag when it is built, so its operations always read the clock,
    /// and their 0 is a reading.
    #[cold]
    pub(crate) fn unread(&self) -> u64 {
        match &self.source {
            Source::Coarse { base } => coarse_nanos().saturating_sub(*base),
            Source::Custom(_) => 0,
        }
    }

    fn instant(&self, now: u64) -> Instant {
        self.epoch + Duration::from_nanos(now)
    }

    /// Whether reads may move deadlines (`time_to_idle`, or an [`Expiry`]).
    #[inline]
    pub(crate) fn reads_move_deadlines(&self) -> bool {
        self.tti.is_some() || self.custom.is_some()
    }

    /// Whether entries need a cap kept apart from their deadline: reads
    /// may move deadlines, and `time_to_live` bounds them.
    fn caps_entries(&self) -> bool {
        self.reads_move_deadlines() && self.ttl.is_some()
    }

    /// The deadline and cap of an entry written at `now`: created (`old`
    /// is `None`) or updated (`old` is its deadline). `ttl`, from
    /// `insert_with_ttl`, overrides the `time_to_live` and the [`Expiry`].
    /// Runs the [`Expiry`], user code: call before changing anything.
    pub(crate) fn on_write(
        &self,
        key: &K,
        value: &V,
        now: u64,
        old: Option<u64>,
        ttl: Option<u64>,
    ) -> (u64, u64) {
        if let Some(ttl) = ttl {
            let cap = now.saturating_add(ttl);
            let tti = self.tti.map_or(NEVER, |tti| now.saturating_add(tti));
            return (cap.min(tti), cap);
        }
        let cap = self.ttl.map_or(NEVER, |ttl| now.saturating_add(ttl));
        let tti = self.tti.map_or(NEVER, |tti| now.saturating_add(tti));
        let custom = match &self.custom {
            None => NEVER,
            Some(custom) => {
                let at = self.instant(now);
                let lifetime = match old {
                    None => custom.create(key, value, at),
                    Some(old) => custom.update(key, value, at, remaining(old, now)),
                };
                lifetime.map_or(NEVER, |d| now.saturating_add(nanos(d)))
            }
        };
        (cap.min(tti).min(custom), cap)
    }

    /// The deadline of an entry after a read at `now`, given its deadline
    /// and cap. Runs the [`Expiry`], user code: call before changing
    /// anything.
    #[inline]
    pub(crate) fn on_read(&self, key: &K, value: &V, now: u64, deadline: u64, cap: u64) -> u64 {
        let tti = self.tti.map_or(NEVER, |tti| now.saturating_add(tti));
        let custom = match &self.custom {
            None => NEVER,
            Some(custom) => custom
                .read(key, value, self.instant(now), remaining(deadline, now))
                .map_or(NEVER, |d| now.saturating_add(nanos(d))),
        };
        tti.min(custom).min(cap)
    }
}

/// An [`Expiry`] as the shards call it: the trait's `'static` bound would
/// otherwise make `K` and `V` `'static` wherever the box is used.
pub(crate) trait Lifetimes<K, V>: Send + Sync {
    fn create(&self, key: &K, value: &V, now: Instant) -> Option<Duration>;
    fn read(&self, key: &K, value: &V, now: Instant, left: Option<Duration>) -> Option<Duration>;
    fn update(&self, key: &K, value: &V, now: Instant, left: Option<Duration>) -> Option<Duration>;
}

struct Erased<E>(E);

impl<K, V, E: Expiry<K, V>> Lifetimes<K, V> for Erased<E> {
    fn create(&self, key: &K, value: &V, now: Instant) -> Option<Duration> {
        self.0.expire_after_create(key, value, now)
    }
    fn read(&self, key: &K, value: &V, now: Instant, left: Option<Duration>) -> Option<Duration> {
        self.0.expire_after_read(key, value, now, left)
    }
    fn update(&self, key: &K, value: &V, now: Instant, left: Option<Duration>) -> Option<Duration> {
        self.0.expire_after_update(key, value, now, left)
    }
}

/// The time left until `deadline`, `None` for no deadline.
fn remaining(deadline: u64, now: u64) -> Option<Duration> {
    (deadline != NEVER).then(|| Duration::from_nanos(deadline.saturating_sub(now)))
}

/// Reads under the read lock record a new deadline only when it moves by
/// at least this much (about 1 ms), so that a hot entry's line is not
/// written on every hit: `time_to_idle` may end up to 1 ms early.
pub(crate) const READ_SLACK: u64 = 1 << 20;

/// One slot's timing: its deadline and its links in the shard's wheel.
/// 16 bytes.
pub(crate) struct Timing {
    /// Nanoseconds since the epoch, or [`NEVER`]. Atomic (a relaxed
    /// "locked" atomic, as the arena's marks) because a hit under the
    /// shard's read lock may move it (`time_to_idle`); every other access
    /// holds the write lock, and the wheel re-checks the deadline of every
    /// entry it finds due, so a moved deadline is honoured.
    pub(crate) deadline: LockedAtomicU64,
    /// The wheel's links (see `wheel.rs`), [`crate::wheel::UNLINKED`] when
    /// the entry is in no wheel list.
    pub(crate) prev: u32,
    pub(crate) next: u32,
}

use std::sync::atomic::AtomicU64 as LockedAtomicU64;
use std::sync::atomic::Ordering::Relaxed;

impl Timing {
    pub(crate) fn vacant() -> Self {
        Timing {
            deadline: LockedAtomicU64::new(NEVER),
            prev: crate::wheel::UNLINKED,
            next: crate::wheel::UNLINKED,
        }
    }

    #[inline]
    pub(crate) fn get(&self) -> u64 {
        self.deadline.load(Relaxed)
    }
}

/// A shard's expiry state: the settings, each slot's [`Timing`] (and cap),
/// and the wheel.
pub(crate) struct Timers<K, V> {
    pub(crate) config: crate::sync::Arc<Expiration<K, V>>,
    timings: Vec<Timing>,
    /// Each slot's cap (see [`Expiration::on_write`]), kept only once an
    /// entry has one that reads could pass.
    caps: Option<Caps>,
    /// `config.reads_move_deadlines()`, kept here for the hit path.
    reads_move: bool,
    /// A time before which no entry of the shard expires: every occupied
    /// slot's deadline is at or after it. A hit before it need not load
    /// the entry's deadline, a line of `timings` of its own (see
    /// [`Timers::all_live`]). Lowered by every write that sets a
    /// deadline, raised from the wheel ([`Timers::raise_floor`]). Kept
    /// only where deadlines change under the write lock alone and hits
    /// need nothing else from the side tables ([`Timers::bounded`]):
    /// else 0.
    floor: u64,
    pub(crate) wheel: Wheel,
    /// Each slot's write time and last failed load, kept only with
    /// refresh-ahead or fail-safe (`refresh.rs`).
    pub(crate) ages: Option<crate::refresh::Ages>,
}

impl<K, V> Timers<K, V> {
    pub(crate) fn new(config: crate::sync::Arc<Expiration<K, V>>) -> Self {
        let caps = config.caps_entries().then(|| Caps::new(config.ttl));
        let ages = config.windows.map(crate::refresh::Ages::new);
        // Fail-safe keeps an expired entry `grace` past its deadline: the
        // wheel files it by then.
        let grace = config.windows.map_or(0, |w| w.grace);
        let mut timers = Timers {
            reads_move: config.reads_move_deadlines(),
            floor: 0,
            config,
            timings: Vec::new(),
            caps,
            wheel: Wheel::new(grace),
            ages,
        };
        if timers.bounded() {
            timers.floor = NEVER;
        }
        timers
    }

    /// Makes room for `slots` slots (entries stored before the timers).
    pub(crate) fn reserve(&mut self, slots: usize) {
        self.timings.reserve_exact(slots);
        self.timings.resize_with(slots, Timing::vacant);
    }

    /// The shard's time for an operation that read the clock (`now`)
    /// before it locked the shard: the reading, but never before the
    /// wheel's latest (a clock that goes backwards holds still). An
    /// operation that read no clock passes 0 ([`Expiration::unread`]).
    #[inline]
    pub(crate) fn clamp(&self, now: u64) -> u64 {
        let now = if now == 0 { self.config.unread() } else { now };
        now.max(self.wheel.time())
    }

    /// Whether the floor is kept: reads move no deadline (no
    /// `time_to_idle`, no [`Expiry`]) and no slot has ages (`refresh.rs`).
    fn bounded(&self) -> bool {
        !self.reads_move && self.ages.is_none()
    }

    /// Whether every entry of the shard is live at `time`, the shard's
    /// time ([`Timers::clamp`]): it is before the floor. Then a hit
    /// returns the entry as if it had no timers.
    #[inline]
    pub(crate) fn all_live(&self, time: u64) -> bool {
        time < self.floor
    }

    /// Raises the floor to what the wheel guarantees, if the due list is
    /// empty (its entries may be due now). Called when the wheel's tick
    /// changed or its due list was worked: O(buckets), a few times per
    /// finest tick (16.8 ms) at most.
    pub(crate) fn raise_floor(&mut self) {
        if !self.bounded() || self.wheel.peek_due().is_some() {
            return;
        }
        // Bounded timers have no fail-safe window: the wheel's times are
        // the deadlines themselves.
        debug_assert_eq!(self.wheel.grace(), 0);
        self.floor = self.floor.max(self.wheel.earliest());
    }

    #[inline]
    pub(crate) fn deadline(&self, index: u32) -> u64 {
        self.timings[index as usize].get()
    }

    #[inline]
    pub(crate) fn is_expired(&self, index: u32, now: u64) -> bool {
        self.deadline(index) <= now
    }

    /// Whether the entry at `index` is past its deadline and past the
    /// fail-safe window after it (without fail-safe: expired): its memory
    /// may go.
    #[inline]
    pub(crate) fn is_reclaimable(&self, index: u32, now: u64) -> bool {
        self.deadline(index).saturating_add(self.wheel.grace()) <= now
    }

    /// The cap of the live entry at `index`, read at `now`.
    fn cap(&self, index: u32, now: u64) -> u64 {
        self.caps
            .as_ref()
            .map_or(NEVER, |caps| caps.get(index, now))
    }

    /// A live entry at `index` is read at `now`: moves its deadline if a
    /// read should (`time_to_idle`, the [`Expiry`]). Under the read lock:
    /// only the deadline's atomic changes; the wheel finds the entry in its
    /// old bucket later, sees it is not due, and files it anew.
    #[inline]
    pub(crate) fn on_read(&self, index: u32, key: &K, value: &V, now: u64) {
        if !self.reads_move {
            return;
        }
        let timing = &self.timings[index as usize];
        let old = timing.get();
        let new = self
            .config
            .on_read(key, value, now, old, self.cap(index, now));
        if new < old || new - old >= READ_SLACK {
            timing.deadline.store(new, Relaxed);
        }
    }

    /// Sets the timing of the entry just stored at `index` (deadline and
    /// cap from [`Expiration::on_write`]) and files it in the wheel. Grows
    /// the side tables in step with the arena (`slots` is its capacity).
    pub(crate) fn on_store(&mut self, index: u32, (deadline, cap): (u64, u64), slots: usize) {
        let i = index as usize;
        crate::arena::grow_side_table(&mut self.timings, index, slots, Timing::vacant);
        // A cap is only needed where reads may move the deadline; without
        // that the deadline never passes it.
        if cap != NEVER && self.caps.is_none() && self.config.reads_move_deadlines() {
            self.caps = Some(Caps::new(self.config.ttl));
        }
        if let Some(caps) = &mut self.caps {
            caps.set(index, cap, self.wheel.time(), slots);
        }
        if let Some(ages) = &mut self.ages {
            ages.on_store(index, self.wheel.time(), slots);
        }
        self.floor = self.floor.min(deadline);
        let timing = &self.timings[i];
        if timing.next != crate::wheel::UNLINKED && deadline >= timing.get() {
            // Filed no later than its old deadline, so no later than the
            // new one: the wheel will find it early, see it is not due
            // and file it anew. Saves touching its neighbours' links now
            // (an update, or a slot reused after an eviction).
            timing.deadline.store(deadline, Relaxed);
            return;
        }
        self.wheel.unschedule(&mut self.timings, index);
        self.timings[i].deadline.store(deadline, Relaxed);
        let keep = self.config.reads_move_deadlines();
        self.wheel.schedule(&mut self.timings, index, keep);
    }

    /// The slot `index` was vacated: left filed, as it is (unfiling would
    /// touch two other entries' links on every eviction); the wheel drops
    /// it when it reaches it ([`Timers::unfile`]), unless a new entry
    /// takes the slot first ([`Timers::on_store`]).
    #[inline]
    pub(crate) fn on_remove(&mut self, _index: u32) {}

    /// Takes the vacant slot `index` off its wheel list.
    pub(crate) fn unfile(&mut self, index: u32) {
        self.wheel.unschedule(&mut self.timings, index);
    }

    /// Every entry left the shard.
    pub(crate) fn clear(&mut self) {
        self.timings = Vec::new();
        if let Some(caps) = &mut self.caps {
            caps.clear();
        }
        self.wheel.clear();
        if self.bounded() {
            self.floor = NEVER;
        }
    }

    /// Advances the wheel to `now`: every bucket whose time has passed
    /// joins the due list. Returns whether the finest tick changed.
    #[inline]
    pub(crate) fn advance(&mut self, now: u64) -> bool {
        self.wheel.advance(&mut self.timings, now)
    }

    /// The next entry on the due list, not yet taken off it.
    #[inline]
    pub(crate) fn peek_due(&self) -> Option<u32> {
        self.wheel.peek_due()
    }

    /// Files the entry at `index` (taken off the due list, not due) anew.
    pub(crate) fn reschedule(&mut self, index: u32) {
        self.wheel.unschedule(&mut self.timings, index);
        let keep = self.config.reads_move_deadlines();
        self.wheel.schedule(&mut self.timings, index, keep);
    }

    /// Puts every filed entry on the due list (`cleanup`).
    pub(crate) fn all_due(&mut self) {
        self.wheel.all_due(&mut self.timings);
    }

    /// Whether the wheel has work at `now` (a read that missed may then
    /// take the write lock to do it).
    #[inline]
    pub(crate) fn has_work(&self, now: u64) -> bool {
        self.wheel.has_work(now)
    }

    /// Heap bytes of the side tables and the wheel.
    #[cfg(any(test, feature = "test-hooks"))]
    pub(crate) fn heap_bytes(&self) -> usize {
        self.timings.capacity() * std::mem::size_of::<Timing>()
            + self.caps.as_ref().map_or(0, |c| c.heap_bytes())
            + self.ages.as_ref().map_or(0, |a| a.heap_bytes())
            + self.wheel.heap_bytes()
    }

    /// Checks that the occupied slots with a deadline (all of them, when
    /// reads move deadlines) are filed in the wheel, vacant slots may be
    /// (they leave lazily), and no deadline is before the floor.
    #[cfg(any(test, feature = "test-hooks"))]
    pub(crate) fn validate(&self, occupied: &[u32]) {
        let filed = self.wheel.validate(&self.timings);
        let keep = self.config.reads_move_deadlines();
        for &i in occupied {
            if keep || self.deadline(i) != NEVER {
                assert!(filed.binary_search(&i).is_ok(), "entry {i} is not filed");
            }
            assert!(
                self.floor <= self.deadline(i),
                "entry {i} is due at {} before the floor {}",
                self.deadline(i),
                self.floor
            );
        }
    }
}

impl<K, V, S> crate::CacheBuilder<K, V, S> {
    /// Every entry expires this long after it was inserted or last updated
    /// (not extended by reads). An expired entry is never returned; its
    /// memory is reclaimed as its shard is written, or by
    /// [`Cache::cleanup`](crate::Cache::cleanup). Where reads move
    /// deadlines too (`time_to_idle`, an [`Expiry`]), this bound is kept
    /// to within a 2^30th of itself, early rather than late (256 ns for
    /// five minutes). Zero is a
    /// [`BuildError::ZeroTimeToLive`](crate::BuildError::ZeroTimeToLive).
    ///
    /// ```
    /// use std::time::Duration;
    /// let cache: shardcache::Cache<u64, u64> = shardcache::Cache::builder()
    ///     .capacity(100)
    ///     .time_to_live(Duration::from_secs(300))
    ///     .build();
    /// cache.insert(1, 1);
    /// assert_eq!(cache.get(&1), Some(1));
    /// ```
    pub fn time_to_live(mut self, ttl: Duration) -> Self {
        self.expiration.ttl = Some(ttl);
        self
    }

    /// Every entry expires this long after it was last read or written.
    /// With `time_to_live` too, the earlier deadline wins. A read moves
    /// the deadline only when it moves by 1 ms or more (so a hot entry's
    /// memory is not written on every hit): an entry may expire up to 1 ms
    /// early. With the default clock, "now" advances in kernel ticks (see
    /// [`clock`](Self::clock)). Zero is a
    /// [`BuildError::ZeroTimeToIdle`](crate::BuildError::ZeroTimeToIdle).
    ///
    /// ```
    /// use std::time::Duration;
    /// let cache: shardcache::Cache<u64, u64> = shardcache::Cache::builder()
    ///     .capacity(100)
    ///     .time_to_idle(Duration::from_secs(60))
    ///     .build();
    /// cache.insert(1, 1);
    /// assert_eq!(cache.get(&1), Some(1));
    /// ```
    pub fn time_to_idle(mut self, tti: Duration) -> Self {
        self.expiration.tti = Some(tti);
        self
    }

    /// Decides each entry's lifetime (see [`Expiry`]); with
    /// `time_to_live` or `time_to_idle` too, the earliest deadline wins.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// struct TenSeconds;
    /// impl shardcache::Expiry<u64, u64> for TenSeconds {
    ///     fn expire_after_create(&self, _: &u64, _: &u64, _: Instant) -> Option<Duration> {
    ///         Some(Duration::from_secs(10))
    ///     }
    /// }
    /// let cache: shardcache::Cache<u64, u64> =
    ///     shardcache::Cache::builder().capacity(100).expiry(TenSeconds).build();
    /// cache.insert(1, 1);
    /// assert_eq!(cache.get(&1), Some(1));
    /// ```
    pub fn expiry(mut self, expiry: impl Expiry<K, V>) -> Self {
        self.expiration.custom = Some(Box::new(Erased(expiry)));
        self
    }

    /// The time source for expiry (see [`Clock`]). Read once per
    /// operation, before any lock is taken, and only by caches that expire
    /// entries.
    ///
    /// The default reads the system's monotonic clock at the kernel tick's
    /// resolution (`CLOCK_MONOTONIC_COARSE` on Linux: 1 to 10 ms, 4 ms on
    /// most kernels; `Instant::now()` elsewhere), about ten times cheaper
    /// than `Instant::now()`: by the precise clock, an entry may be
    /// returned up to one tick after its deadline (never by the cache's
    /// own clock). Inject a precise clock for sub-tick expiry.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// struct Precise;
    /// impl shardcache::Clock for Precise {
    ///     fn now(&self) -> Instant {
    ///         Instant::now()
    ///     }
    /// }
    /// let cache: shardcache::Cache<u64, u64> = shardcache::Cache::builder()
    ///     .capacity(100)
    ///     .time_to_live(Duration::from_millis(1))
    ///     .clock(Precise)
    ///     .build();
    /// cache.insert(1, 1);
    /// std::thread::sleep(Duration::from_millis(2));
    /// assert_eq!(cache.get(&1), None);
    /// ```
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.expiration.clock = Some(Box::new(clock));
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timing_is_16_bytes() {
        assert_eq!(std::mem::size_of::<Timing>(), 16);
    }
}
