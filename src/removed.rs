//! What leaves a shard under its lock: the entries an operation removed,
//! each with why, carried out to be dropped after the lock is released (so
//! that user `Drop` code never runs under it).
//!
//! The caller declares a [`Removed`] before it takes the lock, so that if
//! user code panics under the lock (a key's `Hash` or `Eq`), unwinding
//! releases the lock first and drops what was collected after.

/// Why an entry left the cache: the public [`RemovalCause`], which the
/// removal listener hears (`listener.rs`).
pub(crate) use crate::listener::RemovalCause as Cause;

/// Entries removed under a shard lock. The first is held inline: most
/// operations remove at most one entry, and need no allocation for it.
pub(crate) struct Removed<K, V> {
    first: Option<(K, V, Cause)>,
    rest: Vec<(K, V, Cause)>,
}

impl<K, V> Removed<K, V> {
    pub(crate) fn new() -> Self {
        Removed {
            first: None,
            rest: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, key: K, value: V, cause: Cause) {
        if self.first.is_none() {
            self.first = Some((key, value, cause));
        } else {
            self.rest.push((key, value, cause));
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.first.is_none() && self.rest.is_empty()
    }

    /// Every entry with its cause, in removal order.
    pub(crate) fn into_entries(self) -> impl Iterator<Item = (K, V, Cause)> {
        self.first.into_iter().chain(self.rest)
    }

    /// Takes the value an insert replaced, for its caller.
    pub(crate) fn take_replaced(&mut self) -> Option<V> {
        if matches!(self.first, Some((_, _, Cause::Replaced))) {
            return self.first.take().map(|(_, value, _)| value);
        }
        let at = self.rest.iter().position(|e| e.2 == Cause::Replaced)?;
        Some(self.rest.swap_remove(at).1)
    }
}
