//! Loading calls keyed by a borrowed form of the key (`&str` for a
//! `String` key): a hit hashes and compares the borrowed key and allocates
//! nothing; the key is owned (`to_owned`) only on a miss, which then goes
//! through the ordinary single-flight protocol of `load.rs`.

use std::borrow::Borrow;
use std::future::Future;
use std::hash::{BuildHasher, Hash};

use crate::cache::Cache;

impl<K: Hash + Eq, V: Clone, S: BuildHasher> Cache<K, V, S> {
    /// A hit for a borrowed key, counted; `None` on a miss (not counted:
    /// the owned call that follows counts it).
    #[inline]
    fn borrowed_hit<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: ?Sized + Hash + Eq,
    {
        let hash = self.hash(key);
        if self.reads_shared() {
            return self.shared_hit(hash, key);
        }
        let now = self.now();
        let mut outbox = self.outbox();
        let mut shard = self.shard(hash);
        // A stale entry (past `refresh_after`) goes to the owned call,
        // which refreshes it (`refresh.rs`).
        let found = match shard.lookup(hash, key, false, now, &mut outbox.removed) {
            crate::refresh::Lookup::Hit(value) => Some(value),
            _ => None,
        };
        shard.counters.hits += u64::from(found.is_some());
        drop(shard);
        outbox.deliver();
        found
    }

    /// [`get_or_insert_with`](Self::get_or_insert_with) by a borrowed key:
    /// a hit allocates nothing; on a miss the key is made owned
    /// (`key.to_owned()`) and the call proceeds as `get_or_insert_with`,
    /// single flight included.
    ///
    /// ```
    /// let cache: shardcache::Cache<String, usize> = shardcache::Cache::new(10);
    /// let name: &str = "alice";
    /// assert_eq!(cache.get_or_insert_with_ref(name, || name.len()), 5); // miss: owns the key
    /// assert_eq!(cache.get_or_insert_with_ref(name, || unreachable!()), 5); // hit: no allocation
    /// ```
    ///
    /// # Panics
    /// As `get_or_insert_with`.
    #[inline]
    pub fn get_or_insert_with_ref<Q>(&self, key: &Q, load: impl FnOnce() -> V) -> V
    where
        K: Borrow<Q>,
        Q: ?Sized + Hash + Eq + ToOwned<Owned = K>,
    {
        match self.borrowed_hit(key) {
            Some(value) => value,
            None => self.get_or_insert_with(key.to_owned(), load),
        }
    }

    /// [`try_get_or_insert_with`](Self::try_get_or_insert_with) by a
    /// borrowed key (see [`get_or_insert_with_ref`](Self::get_or_insert_with_ref)).
    ///
    /// ```
    /// let cache: shardcache::Cache<String, u32> = shardcache::Cache::new(10);
    /// assert_eq!(*cache.try_get_or_insert_with_ref("k", || Err::<u32, _>("down")).unwrap_err(), "down");
    /// assert_eq!(cache.try_get_or_insert_with_ref("k", || Ok::<_, &str>(1)), Ok(1));
    /// ```
    pub fn try_get_or_insert_with_ref<Q, E>(
        &self,
        key: &Q,
        load: impl FnOnce() -> Result<V, E>,
    ) -> Result<V, std::sync::Arc<E>>
    where
        K: Borrow<Q>,
        Q: ?Sized + Hash + Eq + ToOwned<Owned = K>,
        E: Send + Sync + 'static,
    {
        match self.borrowed_hit(key) {
            Some(value) => Ok(value),
            None => self.try_get_or_insert_with(key.to_owned(), load),
        }
    }

    /// [`get_or_insert_async`](Self::get_or_insert_async) by a borrowed
    /// key (see [`get_or_insert_with_ref`](Self::get_or_insert_with_ref)).
    ///
    /// ```
    /// let cache: shardcache::Cache<String, u32> = shardcache::Cache::new(10);
    /// assert_eq!(block_on(cache.get_or_insert_async_ref("k", async { 3 })), 3);
    /// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
    /// #     use std::future::Future;
    /// #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    /// #     let mut f = std::pin::pin!(f);
    /// #     loop {
    /// #         if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; }
    /// #     }
    /// # }
    /// ```
    pub async fn get_or_insert_async_ref<Q, F>(&self, key: &Q, init: F) -> V
    where
        K: Borrow<Q>,
        Q: ?Sized + Hash + Eq + ToOwned<Owned = K>,
        F: Future<Output = V>,
    {
        match self.borrowed_hit(key) {
            Some(value) => value,
            None => self.get_or_insert_async(key.to_owned(), init).await,
        }
    }

    /// [`try_get_or_insert_async`](Self::try_get_or_insert_async) by a
    /// borrowed key (see [`get_or_insert_with_ref`](Self::get_or_insert_with_ref)).
    ///
    /// ```
    /// let cache: shardcache::Cache<String, u32> = shardcache::Cache::new(10);
    /// let got = block_on(cache.try_get_or_insert_async_ref("k", async { Ok::<_, ()>(3) }));
    /// assert_eq!(got, Ok(3));
    /// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
    /// #     use std::future::Future;
    /// #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    /// #     let mut f = std::pin::pin!(f);
    /// #     loop {
    /// #         if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; }
    /// #     }
    /// # }
    /// ```
    pub async fn try_get_or_insert_async_ref<Q, E, F>(
        &self,
        key: &Q,
        init: F,
    ) -> Result<V, std::sync::Arc<E>>
    where
        K: Borrow<Q>,
        Q: ?Sized + Hash + Eq + ToOwned<Owned = K>,
        E: Send + Sync + 'static,
        F: Future<Output = Result<V, E>>,
    {
        match self.borrowed_hit(key) {
            Some(value) => Ok(value),
            None => self.try_get_or_insert_async(key.to_owned(), init).await,
        }
    }
}
