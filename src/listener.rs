//! The removal listener: [`RemovalCause`], and the [`Outbox`] that carries
//! what an operation removed out of the shard lock, reports each entry to
//! the listener, and drops it.
//!
//! # The listener's rules
//! - It hears every entry that leaves the cache, exactly once, with its
//!   cause; and an entry too heavy to store, which never entered, as
//!   [`RemovalCause::Size`]. A loaded value that is not stored because a
//!   write superseded its load never entered the cache: not reported.
//! - It runs after the shard lock is released, on the thread whose
//!   operation removed the entry (an `insert`, a `get` that found the entry
//!   expired, `cleanup`, ...). So it may call into the cache, for the same
//!   key too, without deadlock.
//! - If it panics on one entry, the other entries are still reported and
//!   every entry is still dropped; then the first panic is resumed to the
//!   caller of the operation. The cache is unaffected. (If the operation
//!   itself is unwinding from another panic, listener panics are swallowed.)
//! - Each entry is dropped right after the listener returns for it.

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

use crate::removed::Removed;

/// Why an entry left the cache, as told to the
/// [`removal_listener`](crate::CacheBuilder::removal_listener).
///
/// ```
/// use shardcache::RemovalCause;
/// assert!(RemovalCause::Expired.is_eviction());
/// assert!(RemovalCause::Size.is_eviction());
/// assert!(!RemovalCause::Explicit.is_eviction());
/// assert!(!RemovalCause::Replaced.is_eviction());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RemovalCause {
    /// Its time was up: `time_to_live`, `time_to_idle`, the [`Expiry`]
    /// or `insert_with_ttl`. Also an expired entry a write replaced.
    ///
    /// [`Expiry`]: crate::Expiry
    Expired,
    /// Evicted by the policy to stay within capacity, or too heavy to be
    /// stored at all.
    Size,
    /// Removed by [`remove`](crate::Cache::remove) or
    /// [`clear`](crate::Cache::clear).
    Explicit,
    /// Its value was replaced by an insert (or a completed load) of the
    /// same key while it was live.
    Replaced,
}

impl RemovalCause {
    /// Whether the cache removed the entry on its own (`Expired`, `Size`)
    /// rather than because a caller asked (`Explicit`, `Replaced`).
    ///
    /// ```
    /// assert!(shardcache::RemovalCause::Size.is_eviction());
    /// ```
    pub fn is_eviction(self) -> bool {
        matches!(self, RemovalCause::Expired | RemovalCause::Size)
    }
}

/// A removal listener.
pub(crate) type Listener<K, V> = Box<dyn Fn(&K, &V, RemovalCause) + Send + Sync>;

/// What an operation removed under a shard lock, on its way out: declared
/// before the lock is taken (so that it is dropped after the guard, even
/// by a panic), then [`Outbox::deliver`]ed once the lock is released.
pub(crate) struct Outbox<'a, K, V> {
    pub(crate) removed: Removed<K, V>,
    listener: Option<&'a Listener<K, V>>,
}

impl<'a, K, V> Outbox<'a, K, V> {
    #[inline]
    pub(crate) fn new(listener: Option<&'a Listener<K, V>>) -> Self {
        Outbox {
            removed: Removed::new(),
            listener,
        }
    }

    /// Reports every entry to the listener and drops it, except the value
    /// an insert replaced, which comes back for the insert's caller (after
    /// the listener heard it). Call with no lock held. Resumes the first
    /// panic of the listener (or of a value's `Drop`) once every entry is
    /// done.
    #[inline]
    pub(crate) fn deliver(mut self) -> Option<V> {
        let removed = std::mem::replace(&mut self.removed, Removed::new());
        match self.listener {
            None => {
                let mut removed = removed;
                removed.take_replaced()
            }
            Some(listener) => report(listener, removed, true),
        }
    }
}

impl<K, V> Drop for Outbox<'_, K, V> {
    /// Only reached with entries left when the operation is unwinding (or
    /// forgot to deliver): they are still reported, and listener panics
    /// are swallowed (a second panic while unwinding would abort).
    fn drop(&mut self) {
        if self.removed.is_empty() {
            return;
        }
        let removed = std::mem::replace(&mut self.removed, Removed::new());
        if let Some(listener) = self.listener {
            let resume = !std::thread::panicking();
            drop(report(listener, removed, resume));
        }
    }
}

/// Reports `entries` (key, value, cause) to `listener` one by one, dropping
/// each after; the first `Replaced` value is kept and returned instead.
pub(crate) fn report<K, V>(
    listener: &Listener<K, V>,
    removed: Removed<K, V>,
    resume: bool,
) -> Option<V> {
    report_all(listener, removed.into_entries(), resume)
}

/// [`report`] over any entries (`clear` drains an arena).
pub(crate) fn report_all<K, V>(
    listener: &Listener<K, V>,
    entries: impl Iterator<Item = (K, V, RemovalCause)>,
    resume: bool,
) -> Option<V> {
    let mut panicked = None;
    let mut replaced = None;
    for (key, value, cause) in entries {
        let heard = catch_unwind(AssertUnwindSafe(|| listener(&key, &value, cause)));
        if let Err(panic) = heard {
            panicked.get_or_insert(panic);
        }
        if cause == RemovalCause::Replaced && replaced.is_none() {
            replaced = Some(value);
            let dropped = catch_unwind(AssertUnwindSafe(move || drop(key)));
            if let Err(panic) = dropped {
                panicked.get_or_insert(panic);
            }
        } else {
            let dropped = catch_unwind(AssertUnwindSafe(move || drop((key, value))));
            if let Err(panic) = dropped {
                panicked.get_or_insert(panic);
            }
        }
    }
    match panicked {
        Some(panic) if resume => {
            drop(replaced);
            resume_unwind(panic)
        }
        _ => replaced,
    }
}

/// Reports one entry whose value goes back to the caller (`remove`): the
/// key is dropped, the value returned, unless the listener panics (then
/// both are dropped and the panic resumed).
pub(crate) fn report_kept<K, V>(
    listener: &Listener<K, V>,
    key: K,
    value: V,
    cause: RemovalCause,
) -> V {
    let heard = catch_unwind(AssertUnwindSafe(|| listener(&key, &value, cause)));
    drop(key);
    match heard {
        Ok(()) => value,
        Err(panic) => {
            drop(value);
            resume_unwind(panic)
        }
    }
}

impl<K, V, S> crate::CacheBuilder<K, V, S> {
    /// Calls `listener` for every entry that leaves the cache, with why,
    /// exactly once: after the shard lock is released, on the thread whose
    /// operation removed it, before the entry is dropped. It may call into
    /// the cache. A panic in it reaches the caller of that operation once
    /// every other removed entry was reported and dropped; the cache is
    /// unaffected. An entry too heavy to be stored at all is reported as
    /// [`RemovalCause::Size`] (it never entered); a loaded value not stored
    /// because a write superseded its load is not reported. Entries still
    /// in the cache when it is dropped go with it, unreported: call
    /// [`clear`](crate::Cache::clear) first to hear them, as
    /// [`RemovalCause::Explicit`].
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use shardcache::{Cache, RemovalCause};
    ///
    /// let heard = Arc::new(Mutex::new(Vec::new()));
    /// let log = heard.clone();
    /// let cache = Cache::builder()
    ///     .capacity(1)
    ///     .removal_listener(move |k: &u32, v: &&str, cause| log.lock().unwrap().push((*k, *v, cause)))
    ///     .build();
    /// cache.insert(1, "a");
    /// cache.insert(1, "b"); // replaces "a"
    /// cache.insert(2, "c"); // evicts 1
    /// cache.remove(&2);
    /// assert_eq!(*heard.lock().unwrap(), vec![
    ///     (1, "a", RemovalCause::Replaced),
    ///     (1, "b", RemovalCause::Size),
    ///     (2, "c", RemovalCause::Explicit),
    /// ]);
    /// ```
    pub fn removal_listener(
        mut self,
        listener: impl Fn(&K, &V, RemovalCause) + Send + Sync + 'static,
    ) -> Self {
        self.listener = Some(Box::new(listener));
        self
    }
}
