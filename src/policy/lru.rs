//! Exact LRU on a shard's arena (one list, [`Segment::Main`]), with lazy
//! promotion on caches of several shards.
//!
//! An exact shard moves a hit to the head of the list at once. A lazy shard
//! (a cache of more than one shard) lets a hit under the shard's read lock
//! only mark its node; eviction gives a marked node at the tail a second
//! chance (moves it to the head, unmarked) instead of evicting it. That
//! spares every hit the relinking of its neighbours (two cache misses on a
//! large shard) at a cost of well under a point of hit ratio
//! (`tests/hit_ratio.rs` checks it against one global LRU).

use crate::arena::{Arena, Segment};

/// The LRU state of one shard: only whether it promotes lazily.
pub(crate) struct Lru {
    pub(crate) lazy: bool,
}

impl Lru {
    /// A lookup found the node at `index`.
    #[inline]
    pub(crate) fn on_hit<K, V>(&self, arena: &mut Arena<K, V>, index: u32) {
        if self.lazy {
            arena.mark(index);
        } else {
            arena.touch(index);
        }
    }

    /// The node to evict: the tail, after giving every marked node that
    /// reaches the tail its second chance. `None` only when the arena is
    /// empty.
    #[inline]
    pub(crate) fn victim<K, V>(&self, arena: &mut Arena<K, V>) -> Option<u32> {
        loop {
            // Terminates: each pass unmarks one node, so within `len`
            // passes an unmarked node is at the tail.
            let tail = arena.tail(Segment::Main)?;
            if !arena.take_mark(tail) {
                return Some(tail);
            }
            arena.touch(tail);
        }
    }
}
