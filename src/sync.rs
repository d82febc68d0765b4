//! The synchronisation facade: every lock, atomic, `Arc` and thread-local
//! the crate uses comes from here.
//!
//! Under `--cfg shardcache_loom` the types are loom's, so the loom models in
//! `loom-tests/` explore every interleaving of the real code; otherwise they
//! are std's. A crate-specific cfg (instead of the usual `loom`) keeps
//! dependencies that react to `cfg(loom)`, such as tokio, out of the models.
//!
//! Locks here do not poison: the cache never runs user code (loaders, drops
//! of evicted values) while it holds a lock, and the few user callbacks that
//! do run under a shard lock (`Hash`, `Eq`, `Clone` of a value being read,
//! and the weigher of a completing load, under the read lock) run between
//! complete steps (before a step changes anything, or after it
//! is done, as when W-TinyLFU hashes a node whose hit it applies next), so
//! a panic can never leave a half-updated shard behind. Poisoning would
//! only turn one panic into a cache that fails forever.

#[cfg(not(shardcache_loom))]
mod imp {
    pub(crate) use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
    pub(crate) use std::sync::Arc;
    use std::sync::PoisonError;
    pub(crate) use std::thread_local;
    use std::time::Instant;

    /// This thread's number, for counters striped by thread (`stats.rs`):
    /// the smallest number that no live thread holds, taken on the
    /// thread's first call and held until it exits (a thread-local
    /// destructor gives it back). So no two live threads share a number,
    /// and while at most `n` threads that have called this are alive,
    /// their numbers are below `n`. A call made after the thread's number
    /// was given back (from another thread-local's destructor) gets
    /// `usize::MAX` where the platform reports that; a thread's first call
    /// from such a destructor registers this one's there, which std
    /// documents as unreliable on some platforms (macOS).
    #[inline]
    pub(crate) fn thread_number() -> usize {
        NUMBER.try_with(|number| number.0).unwrap_or(usize::MAX)
    }

    /// The numbers handed out so far, and those given back.
    static NUMBERS: std::sync::Mutex<Numbers> = std::sync::Mutex::new(Numbers {
        next: 0,
        free: std::collections::BinaryHeap::new(),
    });

    struct Numbers {
        next: usize,
        /// Smallest first.
        free: std::collections::BinaryHeap<std::cmp::Reverse<usize>>,
    }

    /// A thread's number, given back when the thread exits. The mutex
    /// orders the old holder's last count before the new holder's first.
    struct Number(usize);

    impl Number {
        fn take() -> Number {
            let mut numbers = NUMBERS.lock().unwrap_or_else(PoisonError::into_inner);
            match numbers.free.pop() {
                Some(std::cmp::Reverse(number)) => Number(number),
                None => {
                    numbers.next += 1;
                    Number(numbers.next - 1)
                }
            }
        }
    }

    impl Drop for Number {
        fn drop(&mut self) {
            let mut numbers = NUMBERS.lock().unwrap_or_else(PoisonError::into_inner);
            numbers.free.push(std::cmp::Reverse(self.0));
        }
    }

    std::thread_local! {
        static NUMBER: Number = Number::take();
    }

    /// A mutual-exclusion lock that ignores poisoning.
    #[derive(Debug, Default)]
    pub(crate) struct Mutex<T>(std::sync::Mutex<T>);

    /// The guard of a [`Mutex`].
    pub(crate) type MutexGuard<'a, T> = std::sync::MutexGuard<'a, T>;

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Self(std::sync::Mutex::new(value))
        }

        #[inline]
        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            self.0.lock().unwrap_or_else(PoisonError::into_inner)
        }

        /// The lock if it is free now, else `None`.
        #[inline]
        pub(crate) fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
            match self.0.try_lock() {
                Ok(guard) => Some(guard),
                Err(std::sync::TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
                Err(std::sync::TryLockError::WouldBlock) => None,
            }
        }
    }

    /// A reader-writer lock that ignores poisoning.
    #[derive(Debug, Default)]
    pub(crate) struct RwLock<T>(std::sync::RwLock<T>);

    pub(crate) type RwLockReadGuard<'a, T> = std::sync::RwLockReadGuard<'a, T>;
    pub(crate) type RwLockWriteGuard<'a, T> = std::sync::RwLockWriteGuard<'a, T>;

    impl<T> RwLock<T> {
        pub(crate) fn new(value: T) -> Self {
            Self(std::sync::RwLock::new(value))
        }

        #[inline]
        pub(crate) fn read(&self) -> RwLockReadGuard<'_, T> {
            self.0.read().unwrap_or_else(PoisonError::into_inner)
        }

        #[inline]
        pub(crate) fn write(&self) -> RwLockWriteGuard<'_, T> {
            self.0.write().unwrap_or_else(PoisonError::into_inner)
        }
    }

    /// A condition variable paired with [`Mutex`].
    #[derive(Debug, Default)]
    pub(crate) struct Condvar(std::sync::Condvar);

    impl Condvar {
        pub(crate) fn new() -> Self {
            Self(std::sync::Condvar::new())
        }

        pub(crate) fn wait<'a, T>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
            self.0.wait(guard).unwrap_or_else(PoisonError::into_inner)
        }

        /// Waits until notified or until `deadline`; the flag says whether
        /// the deadline passed (at once if it already has).
        pub(crate) fn wait_until<'a, T>(
            &self,
            guard: MutexGuard<'a, T>,
            deadline: Instant,
        ) -> (MutexGuard<'a, T>, bool) {
            let now = Instant::now();
            if now >= deadline {
                return (guard, true);
            }
            let (guard, result) = self
                .0
                .wait_timeout(guard, deadline - now)
                .unwrap_or_else(PoisonError::into_inner);
            (guard, result.timed_out())
        }

        pub(crate) fn notify_all(&self) {
            self.0.notify_all();
        }
    }
}

#[cfg(shardcache_loom)]
mod imp {
    pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
    pub(crate) use loom::sync::Arc;
    pub(crate) use loom::thread_local;
    use std::ops::{Deref, DerefMut};
    use std::time::Instant;

    std::thread_local! {
        /// The built-in clock's reading under loom, in nanoseconds: set by
        /// a model (`loom_set_builtin_clock`), never advanced by itself.
        /// Thread-local, so that models running in parallel on the test
        /// harness's threads do not share it (each model runs all its
        /// threads on the harness thread that started it).
        static BUILTIN_CLOCK: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    }

    /// The built-in clock's reading under loom (see `BUILTIN_CLOCK`).
    pub(crate) fn builtin_clock() -> u64 {
        BUILTIN_CLOCK.with(|clock| clock.get())
    }

    /// Sets the built-in clock under loom (see `BUILTIN_CLOCK`).
    pub(crate) fn set_builtin_clock(nanos: u64) {
        BUILTIN_CLOCK.with(|clock| clock.set(nanos));
    }

    /// Under loom no thread owns a counter stripe (`stats.rs`): every
    /// count is an atomic add on a shared stripe, and the models stay small.
    #[inline]
    pub(crate) fn thread_number() -> usize {
        usize::MAX
    }

    /// loom's mutex behind the std side's signatures. (loom 0.7 never
    /// reports poison, so the `unwrap_or_else` only keeps the two sides
    /// alike.)
    #[derive(Debug)]
    pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

    /// loom's guard and the mutex it came from, so that a timed wait can
    /// release the lock and take it again (loom's guard does not say which
    /// mutex it holds).
    pub(crate) struct MutexGuard<'a, T> {
        mutex: &'a Mutex<T>,
        guard: loom::sync::MutexGuard<'a, T>,
    }

    impl<T> Deref for MutexGuard<'_, T> {
        type Target = T;
        fn deref(&self) -> &T {
            &self.guard
        }
    }

    impl<T> DerefMut for MutexGuard<'_, T> {
        fn deref_mut(&mut self) -> &mut T {
            &mut self.guard
        }
    }

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Self(loom::sync::Mutex::new(value))
        }

        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            let guard = self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            MutexGuard { mutex: self, guard }
        }

        pub(crate) fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
            let guard = match self.0.try_lock() {
                Ok(guard) => guard,
                Err(std::sync::TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
                Err(std::sync::TryLockError::WouldBlock) => return None,
            };
            Some(MutexGuard { mutex: self, guard })
        }
    }

    /// loom's reader-writer lock behind the std side's signatures.
    #[derive(Debug)]
    pub(crate) struct RwLock<T>(loom::sync::RwLock<T>);

    pub(crate) type RwLockReadGuard<'a, T> = loom::sync::RwLockReadGuard<'a, T>;
    pub(crate) type RwLockWriteGuard<'a, T> = loom::sync::RwLockWriteGuard<'a, T>;

    impl<T> RwLock<T> {
        pub(crate) fn new(value: T) -> Self {
            Self(loom::sync::RwLock::new(value))
        }

        pub(crate) fn read(&self) -> RwLockReadGuard<'_, T> {
            self.0
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        }

        pub(crate) fn write(&self) -> RwLockWriteGuard<'_, T> {
            self.0
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        }
    }

    /// loom's condition variable, plus timed waits that can time out.
    ///
    /// loom has no clock (its own `wait_timeout` never times out), so a
    /// timed wait parks on a `loom::sync::Notify` of its own, registered
    /// here under the caller's mutex. `notify_all` takes the registered
    /// waiters and notifies each; loom may also wake a `Notify` spuriously,
    /// once, and it explores both branches: that spurious wake-up is the
    /// timeout. So every timed wait is explored both woken and timed out,
    /// the timeout landing anywhere before the notification (the waiter
    /// takes the mutex again after it, which lets the other threads run
    /// first). A woken branch that is never notified is a deadlock, as a
    /// lost wake-up of an untimed wait is.
    #[derive(Debug)]
    pub(crate) struct Condvar {
        inner: loom::sync::Condvar,
        /// Timed waiters not yet notified. A std mutex: loom runs one
        /// thread at a time and nothing inside it is a loom operation.
        timed: std::sync::Mutex<Vec<std::sync::Arc<loom::sync::Notify>>>,
    }

    impl Condvar {
        pub(crate) fn new() -> Self {
            Self {
                inner: loom::sync::Condvar::new(),
                timed: std::sync::Mutex::new(Vec::new()),
            }
        }

        fn timed(&self) -> std::sync::MutexGuard<'_, Vec<std::sync::Arc<loom::sync::Notify>>> {
            self.timed
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        }

        pub(crate) fn wait<'a, T>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
            let MutexGuard { mutex, guard } = guard;
            let guard = self
                .inner
                .wait(guard)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            MutexGuard { mutex, guard }
        }

        /// Waits until notified or "until `deadline`": a deadline that has
        /// passed on the real clock times out at once (as on std); any other
        /// deadline is explored both ways (see the type's docs).
        pub(crate) fn wait_until<'a, T>(
            &self,
            guard: MutexGuard<'a, T>,
            deadline: Instant,
        ) -> (MutexGuard<'a, T>, bool) {
            if Instant::now() >= deadline {
                return (guard, true);
            }
            let parked = std::sync::Arc::new(loom::sync::Notify::new());
            self.timed().push(parked.clone());
            let MutexGuard { mutex, guard } = guard;
            drop(guard);
            parked.wait();
            // Still registered: nobody notified it, so it timed out.
            let timed_out = {
                let mut timed = self.timed();
                let at = timed
                    .iter()
                    .position(|p| std::sync::Arc::ptr_eq(p, &parked));
                at.map(|at| timed.swap_remove(at)).is_some()
            };
            (mutex.lock(), timed_out)
        }

        pub(crate) fn notify_all(&self) {
            self.inner.notify_all();
            let timed = std::mem::take(&mut *self.timed());
            for parked in timed {
                parked.notify();
            }
        }
    }
}

pub(crate) use imp::*;

/// An atomic that loom does not model, for the arena nodes' link words. The
/// only access that can race is a reader's relaxed `fetch_or` of a node's
/// referenced mark under the shard's *read* lock; every other access holds
/// the *write* lock, whose acquisition orders it after those readers; what a
/// reader reads of the mark (to skip setting it twice) decides nothing
/// else. loom's atomic would make every link update of every model a
/// scheduling point (and grow each node), for no interleaving the shard
/// lock does not already decide; the model of the read path
/// (`loom-tests/read_path.rs`) still explores the marks through the lock.
pub(crate) use std::sync::atomic::AtomicU32 as LockedAtomicU32;
