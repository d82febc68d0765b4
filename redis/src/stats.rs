//! The tier's counters.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// The tier's counters, from [`TieredCache::stats`](crate::TieredCache::stats).
/// Each counts since the tier was built.
///
/// ```
/// let stats = shardcache_redis::TierStats::default();
/// assert_eq!(stats.l1_hits + stats.l2_hits + stats.loads, 0);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TierStats {
    /// Reads answered by the in-process cache.
    pub l1_hits: u64,
    /// L1 misses answered by Redis (one per coalesced group of callers).
    pub l2_hits: u64,
    /// L1 misses that Redis did not have (or held undecodable bytes).
    pub l2_misses: u64,
    /// Calls of the caller's loader.
    pub loads: u64,
    /// Redis commands that failed or timed out (reads, writes, health
    /// checks and reconnection attempts).
    pub l2_errors: u64,
    /// Operations that did not try Redis because it was down (the tier was
    /// backing off after a failure).
    pub l2_skipped: u64,
    /// Values in Redis that the codec could not decode; each was treated as
    /// a miss and overwritten by the loaded value.
    pub decode_errors: u64,
    /// Keys named by invalidation messages from Redis (each removed from
    /// L1), plus whole-cache invalidations (a flush).
    pub invalidations: u64,
    /// Connections to Redis lost (a failed command, a timeout, a failed
    /// health check, or the server closing the socket).
    pub disconnects: u64,
    /// Connections re-established after a loss; each cleared L1, since
    /// invalidations may have been missed meanwhile.
    pub reconnects: u64,
    /// Times L1 was cleared: each reconnect and each flush message.
    pub l1_clears: u64,
}

#[derive(Default)]
pub(crate) struct Counters {
    pub l1_hits: AtomicU64,
    pub l2_hits: AtomicU64,
    pub l2_misses: AtomicU64,
    pub loads: AtomicU64,
    pub l2_errors: AtomicU64,
    pub l2_skipped: AtomicU64,
    pub decode_errors: AtomicU64,
    pub invalidations: AtomicU64,
    pub disconnects: AtomicU64,
    pub reconnects: AtomicU64,
    pub l1_clears: AtomicU64,
}

pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Relaxed);
}

impl Counters {
    pub fn snapshot(&self) -> TierStats {
        TierStats {
            l1_hits: self.l1_hits.load(Relaxed),
            l2_hits: self.l2_hits.load(Relaxed),
            l2_misses: self.l2_misses.load(Relaxed),
            loads: self.loads.load(Relaxed),
            l2_errors: self.l2_errors.load(Relaxed),
            l2_skipped: self.l2_skipped.load(Relaxed),
            decode_errors: self.decode_errors.load(Relaxed),
            invalidations: self.invalidations.load(Relaxed),
            disconnects: self.disconnects.load(Relaxed),
            reconnects: self.reconnects.load(Relaxed),
            l1_clears: self.l1_clears.load(Relaxed),
        }
    }
}
