//! The arena list: one shard's entries in a single `Vec`, linked by `u32`
//! indices into doubly-linked recency lists.
//!
//! There is no per-entry allocation and no pointer: a node names its
//! neighbours by slot index, a removed node's slot joins a free list threaded
//! through the vacant slots, and the next insertion reuses it. Each node sits
//! in one of three [`Segment`]s (the LRU policy uses only [`Segment::Main`];
//! W-TinyLFU uses all three), recorded in two spare bits of its `prev` link,
//! beside the node's *referenced* mark (lazy promotion), so a `u64 → u64`
//! node is 24 bytes.
//!
//! # Invariants
//! Checked by [`Arena::validate`] (tests) and by `debug_assert!`s:
//! - every occupied slot is on exactly one segment list, and the node's
//!   segment tag names that list;
//! - following `next` from a list's head visits `len` nodes and ends at its
//!   tail, and `prev` mirrors `next`;
//! - every vacant slot is on the free list exactly once, so
//!   `occupied + free == slots.len()`.
//!
//! The arena never calls user code except to drop or move `K` and `V`.

use std::num::NonZeroU32;

use crate::sync::{LockedAtomicU32, Ordering};

/// The "no node" index. Slot indices are below it.
pub(crate) const NIL: u32 = (1 << 29) - 1;

/// The most nodes one arena holds (one shard's entry count).
pub(crate) const MAX_NODES: usize = NIL as usize;

const SEGMENT_SHIFT: u32 = 30;
/// The referenced mark in a node's `prev` word.
const MARK: u32 = 1 << 29;
const INDEX_MASK: u32 = MARK - 1;

/// A recency list within the arena.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Segment {
    /// The LRU list (LRU policy), or W-TinyLFU's probation list.
    Main = 0,
    /// W-TinyLFU's admission window.
    Window = 1,
    /// W-TinyLFU's protected list.
    Protected = 2,
}

impl Segment {
    #[cfg(any(test, feature = "test-hooks"))]
    const ALL: [Segment; 3] = [Segment::Main, Segment::Window, Segment::Protected];

    fn from_bits(bits: u32) -> Segment {
        match bits {
            0 => Segment::Main,
            1 => Segment::Window,
            _ => Segment::Protected,
        }
    }
}

/// An occupied slot: the entry and its links.
struct Node<K, V> {
    key: K,
    value: V,
    /// Bits 0..29: the previous (more recent) node or `NIL`; bit 29: the
    /// *referenced* mark; bits 30..32: the node's segment. Atomic only for
    /// the mark: a hit under the shard's *read* lock sets it with a relaxed
    /// `fetch_or` (after a relaxed load to skip a set mark); every other
    /// access holds the write lock (through `&mut`, or `&self` with no
    /// reader possible), so readers never see a link change, and what they
    /// read of the mark only decides whether to set it.
    prev: LockedAtomicU32,
    /// The next (less recent) node's index plus one (`NIL + 1` for none).
    /// Non-zero, so `Slot` needs no separate tag.
    next: NonZeroU32,
}

/// A slot of the arena: a node, or a vacant slot on the free list (holding
/// the next vacant slot's index). `Option`-like niche packing keeps
/// `Slot<u64, u64>` at 24 bytes.
enum Slot<K, V> {
    Occupied(Node<K, V>),
    Vacant(u32),
}

#[derive(Clone, Copy, Debug)]
struct Ends {
    head: u32,
    tail: u32,
    len: u32,
}

const EMPTY_LIST: Ends = Ends {
    head: NIL,
    tail: NIL,
    len: 0,
};

/// A shard's entries and recency lists. See the module docs.
pub(crate) struct Arena<K, V> {
    slots: Vec<Slot<K, V>>,
    free: u32,
    /// Indexed by segment; four so that a 2-bit tag indexes it unchecked.
    lists: [Ends; 4],
    len: usize,
}

/// What `Arena::take_all` hands back: the old slots, to be dropped by the
/// caller once it has released the shard lock.
pub(crate) struct Drained<K, V>(Vec<Slot<K, V>>);

impl<K, V> Drained<K, V> {
    /// The drained entries (for the removal listener).
    pub(crate) fn into_entries(self) -> impl Iterator<Item = (K, V)> {
        self.0.into_iter().filter_map(|slot| match slot {
            Slot::Occupied(node) => Some((node.key, node.value)),
            Slot::Vacant(_) => None,
        })
    }
}

/// Makes `table`, a side table with an item per arena slot (deadlines,
/// caps, ages), reach slot `index`, filling new slots with `vacant`. It
/// reserves room for `slots` (the arena's capacity) at once, so that side
/// tables grow in step with the arena rather than by their own doubling.
pub(crate) fn grow_side_table<T>(
    table: &mut Vec<T>,
    index: u32,
    slots: usize,
    vacant: impl FnMut() -> T,
) {
    let i = index as usize;
    if table.len() <= i {
        table.reserve_exact(slots.max(i + 1) - table.len());
        table.resize_with(i + 1, vacant);
    }
}

#[inline]
fn link(index: u32) -> NonZeroU32 {
    // `index <= NIL < u32::MAX`, so `index + 1` is in 1..=2^29.
    NonZeroU32::new(index + 1).unwrap_or(NonZeroU32::MIN)
}

impl<K, V> Node<K, V> {
    /// Sets the referenced mark (see [`Arena::mark`]).
    #[inline]
    fn mark(&self) {
        if self.prev.load(Ordering::Relaxed) & MARK == 0 {
            self.prev.fetch_or(MARK, Ordering::Relaxed);
        }
    }

    /// The `prev` word: index, mark and segment.
    #[inline]
    fn prev_word(&self) -> u32 {
        self.prev.load(Ordering::Relaxed)
    }

    /// Points `prev` at `index`, keeping the mark and the segment.
    #[inline]
    fn set_prev(&mut self, index: u32) {
        let word = self.prev.get_mut();
        *word = (*word & !INDEX_MASK) | index;
    }

    /// Makes the node a list head on `segment`, unmarked.
    #[inline]
    fn set_head_of(&mut self, segment: usize) {
        *self.prev.get_mut() = NIL | ((segment as u32) << SEGMENT_SHIFT);
    }

    /// The next node's index (or `NIL`).
    #[inline]
    fn next_index(&self) -> u32 {
        self.next.get() - 1
    }

    #[inline]
    fn set_next(&mut self, index: u32) {
        self.next = link(index);
    }
}

impl<K, V> Arena<K, V> {
    pub(crate) fn new() -> Self {
        Arena {
            slots: Vec::new(),
            free: NIL,
            lists: [EMPTY_LIST; 4],
            len: 0,
        }
    }

    /// Number of occupied slots.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The number of slots reserved.
    #[inline]
    pub(crate) fn slot_capacity(&self) -> usize {
        self.slots.capacity()
    }

    #[inline]
    fn node(&self, index: u32) -> &Node<K, V> {
        match &self.slots[index as usize] {
            Slot::Occupied(node) => node,
            Slot::Vacant(_) => unreachable!("shardcache: index {index} names a vacant slot"),
        }
    }

    #[inline]
    fn node_mut(&mut self, index: u32) -> &mut Node<K, V> {
        match &mut self.slots[index as usize] {
            Slot::Occupied(node) => node,
            Slot::Vacant(_) => unreachable!("shardcache: index {index} names a vacant slot"),
        }
    }

    /// Whether slot `index` holds an entry.
    #[inline]
    pub(crate) fn is_occupied(&self, index: u32) -> bool {
        matches!(self.slots.get(index as usize), Some(Slot::Occupied(_)))
    }

    #[inline]
    pub(crate) fn key(&self, index: u32) -> &K {
        &self.node(index).key
    }

    #[inline]
    pub(crate) fn value(&self, index: u32) -> &V {
        &self.node(index).value
    }

    #[inline]
    pub(crate) fn value_mut(&mut self, index: u32) -> &mut V {
        &mut self.node_mut(index).value
    }

    /// The segment a node is on.
    #[inline]
    pub(crate) fn segment(&self, index: u32) -> Segment {
        Segment::from_bits(self.node(index).prev_word() >> SEGMENT_SHIFT)
    }

    /// The least recently used node of a segment.
    #[inline]
    pub(crate) fn tail(&self, segment: Segment) -> Option<u32> {
        let tail = self.lists[segment as usize].tail;
        (tail != NIL).then_some(tail)
    }

    #[cfg(any(test, feature = "test-hooks"))]
    /// The most recently used node of a segment.
    pub(crate) fn head(&self, segment: Segment) -> Option<u32> {
        let head = self.lists[segment as usize].head;
        (head != NIL).then_some(head)
    }

    #[cfg(any(test, feature = "test-hooks"))]
    /// The node after `index` (towards the tail).
    pub(crate) fn next(&self, index: u32) -> Option<u32> {
        let next = self.node(index).next_index();
        (next != NIL).then_some(next)
    }

    /// Stores a new entry at the head of `segment` and returns its index.
    /// `limit` is the most slots this arena will ever need (the shard's
    /// entry budget), so growth stops exactly there instead of doubling
    /// past it.
    pub(crate) fn insert(&mut self, segment: Segment, key: K, value: V, limit: usize) -> u32 {
        let node = Node {
            key,
            value,
            prev: LockedAtomicU32::new(NIL),
            next: link(NIL),
        };
        let index = if self.free != NIL {
            let index = self.free;
            let slot = std::mem::replace(&mut self.slots[index as usize], Slot::Occupied(node));
            match slot {
                Slot::Vacant(next_free) => self.free = next_free,
                Slot::Occupied(_) => unreachable!("shardcache: free list names an occupied slot"),
            }
            index
        } else {
            assert!(
                self.slots.len() < MAX_NODES,
                "shardcache: a shard cannot hold more than {MAX_NODES} entries"
            );
            if self.slots.len() == self.slots.capacity() {
                let cap = self.slots.capacity();
                let target = (cap * 2).max(8).min(limit.max(cap + 1));
                self.slots.reserve_exact(target - cap);
            }
            self.slots.push(Slot::Occupied(node));
            (self.slots.len() - 1) as u32
        };
        self.len += 1;
        self.link_front(index, segment);
        index
    }

    /// Unlinks a node, frees its slot and returns its entry.
    pub(crate) fn remove(&mut self, index: u32) -> (K, V) {
        self.unlink(index);
        let slot = std::mem::replace(&mut self.slots[index as usize], Slot::Vacant(self.free));
        self.free = index;
        self.len -= 1;
        match slot {
            Slot::Occupied(node) => (node.key, node.value),
            Slot::Vacant(_) => unreachable!("shardcache: removed a vacant slot"),
        }
    }

    /// Moves a node to the head of its own segment (the hit path: a direct
    /// relink, the list's length unchanged). Clears its mark.
    #[inline]
    pub(crate) fn touch(&mut self, index: u32) {
        let word = self.node(index).prev_word();
        let segment = (word >> SEGMENT_SHIFT) as usize;
        let old_head = self.lists[segment].head;
        if old_head == index {
            *self.node_mut(index).prev.get_mut() &= !MARK;
            return;
        }
        // Not the head, so it has a predecessor.
        let prev = word & INDEX_MASK;
        let next = self.node(index).next_index();
        self.node_mut(prev).set_next(next);
        if next == NIL {
            self.lists[segment].tail = prev;
        } else {
            self.node_mut(next).set_prev(prev);
        }
        let node = self.node_mut(index);
        node.set_head_of(segment);
        node.next = link(old_head);
        self.node_mut(old_head).set_prev(index);
        self.lists[segment].head = index;
    }

    /// Marks a node as referenced (a hit under lazy promotion). Takes
    /// `&self`: hits hold only the shard's read lock. The mark shares the
    /// node's cache line, which the hit has just read; no write when it is
    /// already set, so a hot entry's line is not bounced between cores.
    #[inline]
    pub(crate) fn mark(&self, index: u32) {
        self.node(index).mark();
    }

    /// A hit under the read lock, looking at the slot once: if `matches`
    /// accepts the key at `index`, marks the node (as [`Arena::mark`]) and
    /// returns its value.
    #[inline]
    pub(crate) fn hit_if(&self, index: u32, matches: impl FnOnce(&K) -> bool) -> Option<&V> {
        let node = self.node(index);
        if !matches(&node.key) {
            return None;
        }
        node.mark();
        Some(&node.value)
    }

    /// Clears a node's referenced mark; returns whether it was set. Under
    /// the write lock, so no hit can race it.
    #[inline]
    pub(crate) fn take_mark(&mut self, index: u32) -> bool {
        let word = self.node_mut(index).prev.get_mut();
        let marked = *word & MARK != 0;
        *word &= !MARK;
        marked
    }

    /// Moves a node to the head of `segment`, keeping its mark (a hit not
    /// yet applied stays pending).
    pub(crate) fn move_to(&mut self, index: u32, segment: Segment) {
        let mark = self.node(index).prev_word() & MARK;
        self.unlink(index);
        self.link_front(index, segment);
        *self.node_mut(index).prev.get_mut() |= mark;
    }

    /// Empties the arena. The old slots come back so that the caller drops
    /// the entries after releasing its lock.
    pub(crate) fn take_all(&mut self) -> Drained<K, V> {
        self.free = NIL;
        self.lists = [EMPTY_LIST; 4];
        self.len = 0;
        Drained(std::mem::take(&mut self.slots))
    }

    /// Calls `f` on every entry, in slot order.
    pub(crate) fn for_each(&self, mut f: impl FnMut(u32, &K, &V)) {
        for (index, slot) in self.slots.iter().enumerate() {
            if let Slot::Occupied(node) = slot {
                f(index as u32, &node.key, &node.value);
            }
        }
    }

    /// Links a node in at the head of `segment`, unmarked.
    #[inline]
    fn link_front(&mut self, index: u32, segment: Segment) {
        let list = &mut self.lists[segment as usize];
        let old_head = list.head;
        list.head = index;
        if old_head == NIL {
            list.tail = index;
        }
        list.len += 1;
        let node = self.node_mut(index);
        node.set_head_of(segment as usize);
        node.next = link(old_head);
        if old_head != NIL {
            self.node_mut(old_head).set_prev(index);
        }
    }

    #[inline]
    fn unlink(&mut self, index: u32) {
        let node = self.node(index);
        let word = node.prev_word();
        let segment = (word >> SEGMENT_SHIFT) as usize;
        let prev = word & INDEX_MASK;
        let next = node.next_index();
        if prev == NIL {
            self.lists[segment].head = next;
        } else {
            self.node_mut(prev).set_next(next);
        }
        if next == NIL {
            self.lists[segment].tail = prev;
        } else {
            self.node_mut(next).set_prev(prev);
        }
        self.lists[segment].len -= 1;
    }

    #[cfg(any(test, feature = "test-hooks"))]
    /// Checks every invariant of the module docs; panics with a description
    /// of the first one broken. Returns the indices of occupied slots.
    pub(crate) fn validate(&self) -> Vec<u32> {
        let mut seen = vec![false; self.slots.len()];
        let mut total = 0usize;
        for segment in Segment::ALL {
            let ends = self.lists[segment as usize];
            let mut prev = NIL;
            let mut at = ends.head;
            let mut count = 0u32;
            while at != NIL {
                assert!((at as usize) < self.slots.len(), "link out of bounds");
                assert!(!seen[at as usize], "node {at} linked twice");
                seen[at as usize] = true;
                let node = self.node(at);
                assert_eq!(
                    node.prev_word() & INDEX_MASK,
                    prev,
                    "prev link of {at} is wrong"
                );
                assert_eq!(self.segment(at), segment, "segment tag of {at} is wrong");
                prev = at;
                at = node.next_index();
                count += 1;
                assert!(count <= ends.len, "list {segment:?} longer than its length");
            }
            assert_eq!(count, ends.len, "list {segment:?} shorter than its length");
            assert_eq!(prev, ends.tail, "tail of {segment:?} is wrong");
            total += count as usize;
        }
        assert_eq!(total, self.len, "lengths do not add up");
        let mut free = self.free;
        let mut vacant = 0usize;
        while free != NIL {
            match &self.slots[free as usize] {
                Slot::Vacant(next) => {
                    assert!(!seen[free as usize], "slot {free} both free and linked");
                    seen[free as usize] = true;
                    vacant += 1;
                    free = *next;
                }
                Slot::Occupied(_) => panic!("free list names occupied slot {free}"),
            }
        }
        assert_eq!(vacant + self.len, self.slots.len(), "a slot is lost");
        (0..self.slots.len() as u32)
            .filter(|&i| matches!(self.slots[i as usize], Slot::Occupied(_)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_of_u64_pair_is_24_bytes() {
        assert_eq!(std::mem::size_of::<Slot<u64, u64>>(), 24);
    }

    #[test]
    fn lists_and_free_list_stay_consistent() {
        let mut arena = Arena::new();
        let a = arena.insert(Segment::Main, 1u64, 10u64, 100);
        let b = arena.insert(Segment::Main, 2, 20, 100);
        let c = arena.insert(Segment::Window, 3, 30, 100);
        arena.validate();
        assert_eq!(arena.tail(Segment::Main), Some(a));
        arena.touch(a);
        assert_eq!(arena.tail(Segment::Main), Some(b));
        assert_eq!(arena.segment(c), Segment::Window);
        assert_eq!(arena.remove(b), (2, 20));
        arena.validate();
        let d = arena.insert(Segment::Main, 4, 40, 100);
        assert_eq!(d, b, "a freed slot is reused");
        assert_eq!(arena.len(), 3);
        arena.validate();
        let _ = arena.take_all();
        assert_eq!(arena.len(), 0);
        arena.validate();
    }

    #[test]
    fn growth_stops_at_the_limit() {
        let mut arena = Arena::new();
        for i in 0..1000u64 {
            arena.insert(Segment::Main, i, i, 1000);
        }
        assert_eq!(arena.slot_capacity(), 1000);
    }
}
