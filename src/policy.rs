//! Eviction policy: every decision about which entry stays and which goes
//! is made here, on top of the shard's [`Arena`].
//!
//! The shard tells the policy what happened (a hit, a miss, an insertion) and
//! asks it for the next victim when it needs room; the policy moves nodes
//! between the arena's segments. All of it runs under the shard lock, on that
//! shard's entries only.

use crate::arena::{Arena, Segment};

/// Which eviction policy a cache uses; see
/// [`CacheBuilder::policy`](crate::CacheBuilder::policy).
///
/// ```
/// use shardcache::{Cache, Policy};
///
/// let cache: Cache<u64, u64> = Cache::builder().capacity(100).policy(Policy::Lru).build();
/// assert_eq!(cache.capacity(), 100);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Policy {
    /// Exact least-recently-used eviction within each shard (the default).
    /// With one shard the cache evicts exactly as the `lru` crate and
    /// Python's `functools.lru_cache` do.
    #[default]
    Lru,
}

/// A shard's policy state.
pub(crate) enum PolicyState {
    Lru,
}

impl PolicyState {
    pub(crate) fn new(policy: Policy) -> Self {
        match policy {
            Policy::Lru => PolicyState::Lru,
        }
    }

    /// A lookup found the entry at `index`.
    #[inline]
    pub(crate) fn on_hit<K, V>(&mut self, arena: &mut Arena<K, V>, index: u32) {
        match self {
            PolicyState::Lru => arena.touch(index),
        }
    }

    /// The segment a new entry enters.
    #[inline]
    pub(crate) fn entry_segment(&self) -> Segment {
        match self {
            PolicyState::Lru => Segment::Main,
        }
    }

    /// The entry to evict next to make room. `None` only when the arena is
    /// empty.
    #[inline]
    pub(crate) fn victim<K, V>(&mut self, arena: &mut Arena<K, V>) -> Option<u32> {
        match self {
            PolicyState::Lru => arena.tail(Segment::Main),
        }
    }
}
