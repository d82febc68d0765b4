//! Loaders that may find nothing: `optionally_get_or_insert_with` and its
//! async form. A `None` travels through the single-flight protocol as a
//! failed load of a private error type, so it is shared with the callers
//! waiting on that load (those of the same method) and never cached.

use std::future::Future;
use std::hash::{BuildHasher, Hash};

use crate::cache::Cache;

/// The "error" of a loader that returned `None`.
struct Nothing;

impl<K: Hash + Eq, V: Clone, S: BuildHasher> Cache<K, V, S> {
    /// Like [`get_or_insert_with`](Self::get_or_insert_with) for a loader
    /// that may find no value: a `None` is returned to the caller and to
    /// every caller waiting on that load, and is not cached (the next call
    /// loads again). In [`stats`](Self::stats) it counts as a failed load.
    ///
    /// ```
    /// let cache = shardcache::Cache::new(10);
    /// assert_eq!(cache.optionally_get_or_insert_with(1, || None::<u32>), None);
    /// assert!(cache.is_empty()); // nothing cached
    /// assert_eq!(cache.optionally_get_or_insert_with(1, || Some(7)), Some(7));
    /// assert_eq!(cache.optionally_get_or_insert_with(1, || unreachable!()), Some(7));
    /// ```
    ///
    /// # Concurrent calls
    /// As `get_or_insert_with`. A caller of another method waiting on a
    /// load that found nothing (a `get_or_insert_with`) starts over and may
    /// run its own loader.
    pub fn optionally_get_or_insert_with(
        &self,
        key: K,
        load: impl FnOnce() -> Option<V>,
    ) -> Option<V> {
        self.try_get_or_insert_with(key, || load().ok_or(Nothing))
            .ok()
    }

    /// The async form of
    /// [`optionally_get_or_insert_with`](Self::optionally_get_or_insert_with).
    ///
    /// ```
    /// let cache = shardcache::Cache::new(10);
    /// assert_eq!(block_on(cache.optionally_get_or_insert_async(1, async { None::<u8> })), None);
    /// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
    /// #     use std::future::Future;
    /// #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    /// #     let mut f = std::pin::pin!(f);
    /// #     loop {
    /// #         if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; }
    /// #     }
    /// # }
    /// ```
    pub async fn optionally_get_or_insert_async<F>(&self, key: K, init: F) -> Option<V>
    where
        F: Future<Output = Option<V>>,
    {
        self.try_get_or_insert_async(key, async { init.await.ok_or(Nothing) })
            .await
            .ok()
    }
}
