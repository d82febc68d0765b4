//! The flight: the record of one load in progress, shared by the caller
//! driving it (the leader) and every caller waiting for it, sync threads and
//! async tasks alike; and [`Flights`], a shard's registry of its loads in
//! progress.
//!
//! A flight is registered in its shard's [`Flights`] (a [`FlightSlot`]
//! holding the key) from the miss that starts it until the load ends; the
//! registry is read and written only with the shard's write lock held.
//! Its own small mutex guards the [`State`]; the shard lock is always taken
//! first when both are held, and neither is held while a loader runs or a
//! waker is woken. The full protocol, with the loom model of each step, is in
//! `docs/single-flight.md`.
//!
//! # States
//! `Pending` (led by `leader`) → `Ready(value)` | `Failed(error)` when the
//! leader finishes, or → `Pending` led by the oldest waiter when the leader
//! gives up (panic, cancellation, timeout of a chosen waiter), or →
//! `Abandoned` when it gives up with nobody waiting.

use std::any::Any;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use std::borrow::Borrow;

use hashbrown::HashTable;

use crate::sync::{thread_local, Arc, Condvar, Mutex};

/// A failed load's error, shared by every caller of that load.
pub(crate) type SharedError = std::sync::Arc<dyn Any + Send + Sync>;

/// The shard's record of a flight: the key being loaded (stored once, moved
/// into the arena when the load completes) and whether a newer write has
/// superseded the load.
pub(crate) struct FlightSlot<K, V> {
    pub(crate) key: K,
    hash: u64,
    flight: Arc<Flight<V>>,
    pub(crate) superseded: bool,
}

/// A shard's loads in progress, by key. Lives beside the shard's entries,
/// under the same lock, so that a write to a key and the supersession of
/// its load are one step.
///
/// # Invariants
/// One slot per key with a load in progress; none of those keys was cached
/// when its load began, except for a compute's (see `compute.rs`) and a
/// refresh's (`refresh.rs`, which loads a key whose stale entry stays
/// cached meanwhile).
pub(crate) struct Flights<K, V> {
    table: HashTable<FlightSlot<K, V>>,
}

/// What a caller that missed does next (see [`Flights::join`]).
pub(crate) enum Join<K, V> {
    /// Run the load: the caller leads this new flight.
    Lead(Arc<Flight<V>>),
    /// Another caller is loading: wait on the flight as waiter `id`. The
    /// key comes back for a retry.
    Wait(Arc<Flight<V>>, u64, K),
    /// The caller's own thread is loading this key: waiting would
    /// deadlock. The key comes back, to drop after unlocking.
    Recursive(K),
}

impl<K: Eq, V> Flights<K, V> {
    pub(crate) fn new() -> Self {
        Flights {
            table: HashTable::new(),
        }
    }

    #[cfg(any(test, feature = "test-hooks"))]
    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }

    /// Joins the flight of `key` (which missed), or starts one.
    pub(crate) fn join(&mut self, hash: u64, key: K) -> Join<K, V> {
        if let Some(slot) = self.table.find(hash, |slot| slot.key == key) {
            if slot.flight.is_loading_on_this_thread() {
                return Join::Recursive(key);
            }
            let flight = slot.flight.clone();
            let id = flight.register();
            return Join::Wait(flight, id, key);
        }
        let flight = Arc::new(Flight::new());
        let slot = FlightSlot {
            key,
            hash,
            flight: flight.clone(),
            superseded: false,
        };
        self.table.insert_unique(hash, slot, |slot| slot.hash);
        Join::Lead(flight)
    }

    /// Whether a load of `key` is in progress (a refresh, or a load that
    /// began on a miss). Read-only: the read lock suffices.
    pub(crate) fn contains<Q>(&self, hash: u64, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: ?Sized + Eq,
    {
        !self.table.is_empty()
            && self
                .table
                .find(hash, |slot| slot.key.borrow() == key)
                .is_some()
    }

    /// Registers a refresh of the cached `key` (whose entry stays cached),
    /// led by `leader` (0: the caller; [`DETACHED`]: an executor task),
    /// unless a load of it is already in progress: then the key comes back.
    pub(crate) fn start(&mut self, hash: u64, key: K, leader: u64) -> Result<Arc<Flight<V>>, K> {
        if self.contains(hash, &key) {
            return Err(key);
        }
        let flight = Arc::new(Flight::new());
        flight.state.lock().leader = leader;
        let slot = FlightSlot {
            key,
            hash,
            flight: flight.clone(),
            superseded: false,
        };
        self.table.insert_unique(hash, slot, |slot| slot.hash);
        Ok(flight)
    }

    /// Marks the load of `key`, if any, as superseded: a newer write won, so
    /// its value must not be stored.
    pub(crate) fn supersede<Q>(&mut self, hash: u64, key: &Q)
    where
        K: Borrow<Q>,
        Q: ?Sized + Eq,
    {
        if self.table.is_empty() {
            return;
        }
        if let Some(slot) = self.table.find_mut(hash, |slot| slot.key.borrow() == key) {
            slot.superseded = true;
        }
    }

    /// Supersedes every load in progress (`clear`).
    pub(crate) fn supersede_all(&mut self) {
        for slot in self.table.iter_mut() {
            slot.superseded = true;
        }
    }

    /// Removes `flight`'s slot, if it is still registered.
    pub(crate) fn take(&mut self, hash: u64, flight: &Arc<Flight<V>>) -> Option<FlightSlot<K, V>> {
        let entry = self
            .table
            .find_entry(hash, |slot| Arc::ptr_eq(&slot.flight, flight))
            .ok()?;
        Some(entry.remove().0)
    }

    /// The key `flight` loads, while it is registered.
    pub(crate) fn key(&self, hash: u64, flight: &Arc<Flight<V>>) -> Option<&K> {
        self.table
            .find(hash, |slot| Arc::ptr_eq(&slot.flight, flight))
            .map(|slot| &slot.key)
    }

    #[cfg(any(test, feature = "test-hooks"))]
    /// Checks that every slot is filed under its key's hash (tests).
    pub(crate) fn validate(&self, hash_of: impl Fn(&K) -> u64) {
        for slot in self.table.iter() {
            assert_eq!(
                slot.hash,
                hash_of(&slot.key),
                "flight filed under a wrong hash"
            );
        }
    }
}

pub(crate) struct Flight<V> {
    state: Mutex<State<V>>,
    cond: Condvar,
}

struct State<V> {
    outcome: Outcome<V>,
    /// Who drives the load: 0 for the caller that started it, else the id
    /// of the waiter it was handed to.
    leader: u64,
    /// Waiting callers in arrival order (the oldest leads next).
    waiters: VecDeque<Waiter>,
    next_id: u64,
}

struct Waiter {
    id: u64,
    /// The task to wake, for async waiters that have been polled.
    waker: Option<Waker>,
}

enum Outcome<V> {
    Pending,
    Ready(V),
    Failed(SharedError),
    Abandoned,
}

/// What a waiter learns from its flight.
pub(crate) enum Wait<V> {
    /// The load succeeded.
    Value(V),
    /// The load failed with this error.
    Failed(SharedError),
    /// The waiter was chosen to drive the load.
    Lead,
    /// The flight ended without a result for this waiter; start over.
    Retry,
    /// The waiter's deadline passed first.
    TimedOut,
}

/// Tasks to wake once every lock is released.
#[derive(Default)]
#[must_use]
pub(crate) struct Wakers(Vec<Waker>);

impl Wakers {
    /// Wakes the sync waiters and every task. A waker is runtime code; if
    /// one panics, the tasks after it are still woken (else they would wait
    /// forever), then the first panic is resumed.
    pub(crate) fn wake<V>(self, flight: &Flight<V>) {
        flight.cond.notify_all();
        let mut panicked = None;
        for waker in self.0 {
            let woken = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| waker.wake()));
            if let Err(panic) = woken {
                panicked.get_or_insert(panic);
            }
        }
        if let Some(panic) = panicked {
            std::panic::resume_unwind(panic);
        }
    }
}

pub(crate) enum HandOver {
    /// Leadership passed to the oldest waiter; wake it.
    To(Wakers),
    /// Nobody waits: the flight is over and must leave its shard.
    Ended,
    /// The caller does not lead this flight (any more).
    NotLeader,
}

/// The leader id of a flight driven by an executor task (a refresh off
/// the callers' threads, `refresh.rs`): no caller leads it.
pub(crate) const DETACHED: u64 = u64::MAX;

/// How a detached flight ended (see [`Flight::settle_detached`]).
pub(crate) enum Settled {
    /// It has a value, or nobody waits: its slot must leave the shard.
    Ended(Wakers),
    /// A waiter took it over and will finish it as any leader does.
    HandedOver(Wakers),
    /// It was not pending under a detached leader (never happens).
    NotDetached,
}

thread_local! {
    // Not `const`-initialised: loom's `thread_local!` does not accept it.
    #[allow(clippy::missing_const_for_thread_local)]
    /// Addresses of the flights this thread is running a loader for
    /// (innermost last), to catch a loader that waits for its own key.
    static LOADING: RefCell<Vec<usize>> = RefCell::new(Vec::new());
}

/// Marks a flight as being loaded on this thread while it lives.
pub(crate) struct LoadingScope(usize);

impl LoadingScope {
    pub(crate) fn enter<V>(flight: &Flight<V>) -> Self {
        let address = flight.address();
        LOADING.with(|loading| loading.borrow_mut().push(address));
        LoadingScope(address)
    }
}

impl Drop for LoadingScope {
    fn drop(&mut self) {
        LOADING.with(|loading| {
            let mut loading = loading.borrow_mut();
            if let Some(at) = loading.iter().rposition(|&a| a == self.0) {
                loading.remove(at);
            }
        });
    }
}

impl<V> Flight<V> {
    pub(crate) fn new() -> Self {
        Flight {
            state: Mutex::new(State {
                outcome: Outcome::Pending,
                leader: 0,
                waiters: VecDeque::new(),
                next_id: 1,
            }),
            cond: Condvar::new(),
        }
    }

    fn address(&self) -> usize {
        self as *const Self as usize
    }

    /// Whether this thread is inside this flight's loader.
    pub(crate) fn is_loading_on_this_thread(&self) -> bool {
        let address = self.address();
        LOADING.with(|loading| loading.borrow().contains(&address))
    }

    /// Adds a waiter and returns its id. Called with the shard lock held, so
    /// the flight cannot end between the shard lookup and the registration.
    pub(crate) fn register(&self) -> u64 {
        let mut state = self.state.lock();
        let id = state.next_id;
        state.next_id += 1;
        state.waiters.push_back(Waiter { id, waker: None });
        id
    }

    /// Ends the flight with a value; returns how many waiters it serves and
    /// the tasks to wake. Called with the shard lock held.
    pub(crate) fn finish_ready(&self, value: V) -> (u64, Wakers) {
        let mut state = self.state.lock();
        let served = state.waiters.len() as u64;
        state.outcome = Outcome::Ready(value);
        (served, take_wakers(&mut state.waiters))
    }

    /// Ends the flight with an error. Called with the shard lock held.
    pub(crate) fn finish_failed(&self, error: SharedError) -> Wakers {
        let mut state = self.state.lock();
        state.outcome = Outcome::Failed(error);
        take_wakers(&mut state.waiters)
    }

    /// Ends the flight without a value for its waiters, who start over (a
    /// compute that kept an absent key or removed it). Called with the
    /// shard lock held, after the slot was taken.
    pub(crate) fn finish_empty(&self) -> Wakers {
        let mut state = self.state.lock();
        state.outcome = Outcome::Abandoned;
        take_wakers(&mut state.waiters)
    }

    /// The leader `id` gives up. Called with the shard lock held.
    pub(crate) fn hand_over(&self, id: u64) -> HandOver {
        let mut state = self.state.lock();
        if !matches!(state.outcome, Outcome::Pending) || state.leader != id {
            return HandOver::NotLeader;
        }
        Self::pass_on(&mut state)
    }

    /// Passes a pending flight to its oldest waiter, or abandons it if
    /// nobody waits (for [`Flight::hand_over`] and
    /// [`Flight::settle_detached`]).
    fn pass_on(state: &mut State<V>) -> HandOver {
        match state.waiters.pop_front() {
            Some(next) => {
                state.leader = next.id;
                HandOver::To(Wakers(next.waker.into_iter().collect()))
            }
            None => {
                state.outcome = Outcome::Abandoned;
                HandOver::Ended
            }
        }
    }

    /// The detached leader (an executor task) is done, without the shard
    /// lock: `Some(value)` serves every waiter; `None` hands the flight to
    /// the oldest waiter, or ends it if nobody waits. `post` runs under the
    /// flight's own lock, before anyone can see the outcome, when the slot
    /// must leave the shard (the flight ended); it must not block.
    pub(crate) fn settle_detached(&self, value: Option<V>, post: impl FnOnce()) -> Settled {
        let mut state = self.state.lock();
        if !matches!(state.outcome, Outcome::Pending) || state.leader != DETACHED {
            return Settled::NotDetached;
        }
        match value {
            Some(value) => {
                post();
                state.outcome = Outcome::Ready(value);
                Settled::Ended(take_wakers(&mut state.waiters))
            }
            // Abandoned or handed over; the lock is still held, so the
            // post lands before anyone sees the flight abandoned.
            None => match Self::pass_on(&mut state) {
                HandOver::To(wakers) => Settled::HandedOver(wakers),
                HandOver::Ended | HandOver::NotLeader => {
                    post();
                    Settled::Ended(Wakers::default())
                }
            },
        }
    }

    /// Removes waiter `id` if it is still waiting; false if it is not (it
    /// was chosen to lead, or the flight ended). Called with the shard lock
    /// held.
    pub(crate) fn deregister(&self, id: u64) -> bool {
        let mut state = self.state.lock();
        match state.waiters.iter().position(|w| w.id == id) {
            Some(at) => {
                state.waiters.remove(at);
                true
            }
            None => false,
        }
    }

    fn check(state: &State<V>, id: u64) -> Option<Wait<V>>
    where
        V: Clone,
    {
        match &state.outcome {
            Outcome::Ready(value) => Some(Wait::Value(value.clone())),
            Outcome::Failed(error) => Some(Wait::Failed(error.clone())),
            Outcome::Abandoned => Some(Wait::Retry),
            Outcome::Pending if state.leader == id => Some(Wait::Lead),
            Outcome::Pending => None,
        }
    }

    /// Blocks waiter `id` until the flight ends, it is chosen to lead, or
    /// `deadline` passes.
    pub(crate) fn wait(&self, id: u64, deadline: Option<Instant>) -> Wait<V>
    where
        V: Clone,
    {
        let mut state = self.state.lock();
        loop {
            if let Some(wait) = Self::check(&state, id) {
                return wait;
            }
            match deadline {
                None => state = self.cond.wait(state),
                Some(deadline) => {
                    let timed_out;
                    (state, timed_out) = self.cond.wait_until(state, deadline);
                    if timed_out {
                        return Self::check(&state, id).unwrap_or(Wait::TimedOut);
                    }
                }
            }
        }
    }

    /// Polls waiter `id`: ready when the flight ends or it is chosen to lead;
    /// otherwise stores the task's waker (replacing an older one) and stays
    /// pending. The waker is stored under the same lock that the leader
    /// takes to publish an outcome, so no wake-up is lost.
    pub(crate) fn poll_wait(&self, id: u64, cx: &mut Context<'_>) -> Poll<Wait<V>>
    where
        V: Clone,
    {
        let mut state = self.state.lock();
        if let Some(wait) = Self::check(&state, id) {
            return Poll::Ready(wait);
        }
        if let Some(waiter) = state.waiters.iter_mut().find(|w| w.id == id) {
            match &mut waiter.waker {
                Some(waker) if waker.will_wake(cx.waker()) => {}
                slot => *slot = Some(cx.waker().clone()),
            }
        }
        Poll::Pending
    }
}

fn take_wakers(waiters: &mut VecDeque<Waiter>) -> Wakers {
    Wakers(waiters.drain(..).filter_map(|w| w.waker).collect())
}
