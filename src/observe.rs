//! Observability: the cache's name, its export to the `metrics` facade
//! (feature `metrics`), and a `tracing` span per load with warnings for
//! slow and panicking loaders (feature `tracing`). `docs/observability.md`
//! has the series table and the span's fields.
//!
//! Nothing here runs on the hit path. Counts reach the facade only when
//! [`Cache::report_metrics`] reads them from [`Cache::stats`]; only a load,
//! slow anyway, does work per event, through the [`LoadWatch`] that
//! `load.rs` opens when a leader starts its loader and closes when the
//! flight is concluded. Without either feature the watch is an empty type
//! with no `Drop`, and every call on it compiles to nothing.
//!
//! Where it hooks in: the builder and the `Cache` carry an [`Observer`]
//! (the name and the slow-load threshold), and `load.rs` opens a
//! [`LoadWatch`] in `lead_sync` and `lead_async`.

use std::borrow::Cow;
use std::hash::{BuildHasher, Hash};
use std::marker::PhantomData;
use std::time::{Duration, Instant};

use crate::builder::CacheBuilder;
use crate::cache::Cache;

/// The name of a cache built without [`CacheBuilder::name`]: the `cache`
/// label of its metrics and the `cache` field of its spans.
///
/// ```
/// let cache: shardcache::Cache<u64, u64> = shardcache::Cache::new(10);
/// assert_eq!(cache.name(), shardcache::DEFAULT_NAME);
/// assert_eq!(shardcache::DEFAULT_NAME, "default");
/// ```
pub const DEFAULT_NAME: &str = "default";

/// The load duration from which the `tracing` feature logs a slow-load
/// warning, unless [`CacheBuilder::slow_load_threshold`] says otherwise:
/// one second.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(shardcache::DEFAULT_SLOW_LOAD_THRESHOLD, Duration::from_secs(1));
/// ```
pub const DEFAULT_SLOW_LOAD_THRESHOLD: Duration = Duration::from_secs(1);

/// A cache's observability settings: set on the builder, kept by the cache.
#[derive(Clone, Debug)]
pub(crate) struct Observer {
    name: Cow<'static, str>,
    slow_load: Duration,
}

impl Default for Observer {
    fn default() -> Self {
        Observer {
            name: Cow::Borrowed(DEFAULT_NAME),
            slow_load: DEFAULT_SLOW_LOAD_THRESHOLD,
        }
    }
}

impl<K: Hash + Eq, V: Clone, S: BuildHasher> CacheBuilder<K, V, S> {
    /// The cache's name: the `cache` label of every metric it reports and
    /// the `cache` field of every span and event it emits
    /// (`docs/observability.md`). Unset, it is [`DEFAULT_NAME`]
    /// (`"default"`). Give each cache of a process its own name: two caches
    /// of one name report into the same series and overwrite each other's
    /// counts.
    ///
    /// ```
    /// let users: shardcache::Cache<u64, String> =
    ///     shardcache::Cache::builder().capacity(1_000).name("users").build();
    /// assert_eq!(users.name(), "users");
    ///
    /// let region = String::from("sessions-eu");
    /// let sessions: shardcache::Cache<u64, u64> =
    ///     shardcache::Cache::builder().capacity(1_000).name(region).build();
    /// assert_eq!(sessions.name(), "sessions-eu");
    /// ```
    pub fn name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.observer.name = name.into();
        self
    }

    /// With the `tracing` feature, a load that takes at least `threshold`
    /// logs a `WARN` event (`docs/observability.md`). Unset, it is
    /// [`DEFAULT_SLOW_LOAD_THRESHOLD`] (one second); `Duration::MAX` turns
    /// the warning off. Without the feature the setting is kept but unused.
    ///
    /// ```
    /// use std::time::Duration;
    /// let cache: shardcache::Cache<u64, u64> = shardcache::Cache::builder()
    ///     .capacity(1_000)
    ///     .slow_load_threshold(Duration::from_millis(250))
    ///     .build();
    /// assert_eq!(cache.slow_load_threshold(), Duration::from_millis(250));
    /// ```
    pub fn slow_load_threshold(mut self, threshold: Duration) -> Self {
        self.observer.slow_load = threshold;
        self
    }
}

impl<K, V, S> Cache<K, V, S> {
    /// The name given by [`CacheBuilder::name`], or [`DEFAULT_NAME`].
    ///
    /// ```
    /// let cache: shardcache::Cache<u8, u8> =
    ///     shardcache::Cache::builder().capacity(4).name("tiny").build();
    /// assert_eq!(cache.name(), "tiny");
    /// ```
    pub fn name(&self) -> &str {
        &self.observer().name
    }

    /// The slow-load threshold given by
    /// [`CacheBuilder::slow_load_threshold`], or
    /// [`DEFAULT_SLOW_LOAD_THRESHOLD`].
    ///
    /// ```
    /// let cache: shardcache::Cache<u8, u8> = shardcache::Cache::new(4);
    /// assert_eq!(cache.slow_load_threshold(), shardcache::DEFAULT_SLOW_LOAD_THRESHOLD);
    /// ```
    pub fn slow_load_threshold(&self) -> Duration {
        self.observer().slow_load
    }
}

impl Observer {
    /// Opens the watch of a load that a leader starts at `started`, for the
    /// key of hash `hash` (the key itself never reaches the watch).
    #[inline]
    pub(crate) fn watch_load(&self, hash: u64, started: Instant) -> LoadWatch<'_> {
        #[cfg(not(any(feature = "metrics", feature = "tracing")))]
        let _ = (hash, started);
        LoadWatch {
            #[cfg(any(feature = "metrics", feature = "tracing"))]
            active: Active::new(self, hash, started),
            observer: PhantomData,
        }
    }
}

/// How a watched load ended.
#[cfg_attr(not(any(feature = "metrics", feature = "tracing")), allow(dead_code))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    /// The loader returned a value.
    Ok,
    /// The loader returned an error.
    Error,
    /// The loader (or the value's `Clone` or the weigher while the value
    /// was stored) panicked.
    Panic,
    /// The async leader's future was dropped during the load; a waiter
    /// takes the load over.
    Cancelled,
}

#[cfg_attr(not(any(feature = "metrics", feature = "tracing")), allow(dead_code))]
impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Error => "error",
            Outcome::Panic => "panic",
            Outcome::Cancelled => "cancelled",
        }
    }
}

/// One load, from its leader's start to the flight's conclusion. Closed by
/// [`finished`](Self::finished); dropped without it, the load panicked (when
/// the thread is unwinding) or its async leader was cancelled.
#[must_use = "close the watch with `finished`"]
pub(crate) struct LoadWatch<'a> {
    #[cfg(any(feature = "metrics", feature = "tracing"))]
    active: Active<'a>,
    observer: PhantomData<&'a Observer>,
}

/// The guard of [`LoadWatch::enter`]: the load's span is entered while it
/// lives (with the `tracing` feature).
pub(crate) struct Entered<'a> {
    #[cfg(feature = "tracing")]
    _entered: tracing::span::Entered<'a>,
    _watch: PhantomData<&'a ()>,
}

impl LoadWatch<'_> {
    /// Enters the load's span while the loader runs, so the loader's own
    /// spans and events nest in it.
    #[inline]
    pub(crate) fn enter(&self) -> Entered<'_> {
        Entered {
            #[cfg(feature = "tracing")]
            _entered: self.active.span.enter(),
            _watch: PhantomData,
        }
    }

    /// Closes the watch with the flight's result.
    #[inline]
    pub(crate) fn finished<V, E>(self, result: &Result<V, E>) {
        #[cfg(any(feature = "metrics", feature = "tracing"))]
        {
            let mut this = self;
            let outcome = match result {
                Ok(_) => Outcome::Ok,
                Err(_) => Outcome::Error,
            };
            this.active.end(outcome);
        }
        #[cfg(not(any(feature = "metrics", feature = "tracing")))]
        let _ = (self, result);
    }
}

/// The state of a watched load when a feature needs one.
#[cfg(any(feature = "metrics", feature = "tracing"))]
struct Active<'a> {
    observer: &'a Observer,
    started: Instant,
    ended: bool,
    #[cfg(feature = "tracing")]
    hash: u64,
    #[cfg(feature = "tracing")]
    span: tracing::Span,
}

#[cfg(any(feature = "metrics", feature = "tracing"))]
impl<'a> Active<'a> {
    fn new(observer: &'a Observer, hash: u64, started: Instant) -> Self {
        #[cfg(not(feature = "tracing"))]
        let _ = hash;
        Active {
            observer,
            started,
            ended: false,
            #[cfg(feature = "tracing")]
            hash,
            #[cfg(feature = "tracing")]
            span: tracing::info_span!(
                target: "shardcache",
                "shardcache.load",
                cache = &*observer.name,
                key_hash = %KeyHash(hash),
                outcome = tracing::field::Empty,
            ),
        }
    }

    fn end(&mut self, outcome: Outcome) {
        self.ended = true;
        let elapsed = self.started.elapsed();
        #[cfg(feature = "metrics")]
        if outcome != Outcome::Cancelled {
            metrics::histogram!(
                metrics_export::LOAD_DURATION,
                "cache" => self.observer.name.clone(),
                "outcome" => outcome.as_str(),
            )
            .record(elapsed);
        }
        #[cfg(feature = "tracing")]
        self.trace_end(outcome, elapsed);
        #[cfg(not(any(feature = "tracing", feature = "metrics")))]
        let _ = (outcome, elapsed);
    }

    /// Records the outcome on the span, and warns of a panic or a slow load
    /// from within the span. Neither the key nor the panic's message (which
    /// may hold the key) goes into the events.
    #[cfg(feature = "tracing")]
    fn trace_end(&self, outcome: Outcome, elapsed: Duration) {
        self.span.record("outcome", outcome.as_str());
        let _entered = self.span.enter();
        let elapsed_ms = elapsed.as_secs_f64() * 1e3;
        let cache = &*self.observer.name;
        let key_hash = KeyHash(self.hash);
        match outcome {
            Outcome::Panic => tracing::warn!(
                target: "shardcache",
                cache,
                key_hash = %key_hash,
                elapsed_ms,
                "shardcache: a load panicked; the panic goes on to the caller that ran \
                 the loader, and the oldest waiting caller, if any, takes the load over"
            ),
            Outcome::Ok | Outcome::Error if elapsed >= self.observer.slow_load => {
                tracing::warn!(
                    target: "shardcache",
                    cache,
                    key_hash = %key_hash,
                    outcome = outcome.as_str(),
                    elapsed_ms,
                    threshold_ms = self.observer.slow_load.as_secs_f64() * 1e3,
                    "shardcache: slow load"
                )
            }
            _ => {}
        }
    }
}

#[cfg(any(feature = "metrics", feature = "tracing"))]
impl Drop for Active<'_> {
    fn drop(&mut self) {
        if !self.ended {
            self.end(if std::thread::panicking() {
                Outcome::Panic
            } else {
                Outcome::Cancelled
            });
        }
    }
}

/// A key's hash as the spans show it: 16 hex digits.
#[cfg(feature = "tracing")]
struct KeyHash(u64);

#[cfg(feature = "tracing")]
impl std::fmt::Display for KeyHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// The export to the `metrics` facade.
#[cfg(feature = "metrics")]
mod metrics_export {
    use std::hash::{BuildHasher, Hash};

    use metrics::{describe_counter, describe_gauge, describe_histogram, Label, Unit};

    use crate::cache::Cache;
    use crate::stats::Stats;

    /// The histogram of load durations, recorded per load.
    pub(super) const LOAD_DURATION: &str = "shardcache_load_duration_seconds";

    /// A counter read from [`Stats`].
    struct Series {
        name: &'static str,
        /// Labels beside `cache`.
        labels: &'static [(&'static str, &'static str)],
        help: &'static str,
        read: fn(&Stats) -> u64,
    }

    /// Every counter, one line each. A new `Stats` field joins here with its
    /// line; an eviction cause joins as `shardcache_evictions_total` with
    /// its own `cause` label (e.g. `("cause", "expired")`).
    #[rustfmt::skip]
    const COUNTERS: &[Series] = &[
        Series { name: "shardcache_hits_total", labels: &[], help: "Lookups that found their key.", read: |s| s.hits },
        Series { name: "shardcache_misses_total", labels: &[], help: "Lookups that did not find their key.", read: |s| s.misses },
        Series { name: "shardcache_inserts_total", labels: &[], help: "Entries stored by an insert or a completed load.", read: |s| s.inserts },
        Series { name: "shardcache_loads_total", labels: &[], help: "Loader calls that returned a value.", read: |s| s.loads },
        Series { name: "shardcache_load_errors_total", labels: &[], help: "Loader calls that returned an error.", read: |s| s.load_failures.saturating_sub(s.load_panics) },
        Series { name: "shardcache_load_panics_total", labels: &[], help: "Loads that panicked.", read: |s| s.load_panics },
        Series { name: "shardcache_coalesced_total", labels: &[], help: "Misses served by another caller's load.", read: |s| s.coalesced },
        Series { name: "shardcache_evictions_total", labels: &[("cause", "size")], help: "Entries removed by the cache, by cause.", read: |s| s.evictions },
        Series { name: "shardcache_evictions_total", labels: &[("cause", "expired")], help: "Entries removed by the cache, by cause.", read: |s| s.expirations },
    ];

    /// The labels of one series: `cache`, then its own.
    fn labels(cache: &metrics::SharedString, own: &[(&'static str, &'static str)]) -> Vec<Label> {
        let mut labels = Vec::with_capacity(1 + own.len());
        labels.push(Label::new("cache", cache.clone()));
        labels.extend(own.iter().map(|&(k, v)| Label::from_static_parts(k, v)));
        labels
    }

    impl<K: Hash + Eq, V: Clone, S: BuildHasher> Cache<K, V, S> {
        /// Reports the cache's counts and sizes to the `metrics` facade's
        /// recorder: sets each counter to its total from
        /// [`stats`](Self::stats) (`Counter::absolute`) and the entries,
        /// weight and capacity gauges, every series labelled
        /// `cache="<name>"` ([`CacheBuilder::name`](crate::CacheBuilder::name)).
        /// Load durations need no call: each load records its own. The
        /// series are listed in `docs/observability.md`.
        ///
        /// Lookups count in the cache's own counters and never call the
        /// facade, so the counters reach the recorder only when this runs:
        /// call it before the exporter is read, or periodically (every few
        /// seconds, from a thread or task of the service). It costs what
        /// [`stats`](Self::stats), [`len`](Self::len) and
        /// [`weight`](Self::weight) cost (a read lock of each shard, three
        /// times) plus one recorder call per series. Available with the
        /// `metrics` feature.
        ///
        /// ```
        /// use metrics_exporter_prometheus::PrometheusBuilder;
        ///
        /// let cache = shardcache::Cache::builder().capacity(100).name("users").build();
        /// cache.insert(1, "ada");
        /// cache.get(&1);
        /// cache.get(&2);
        ///
        /// // A service installs its recorder once (`install`); here a local one.
        /// let recorder = PrometheusBuilder::new().build_recorder();
        /// metrics::with_local_recorder(&recorder, || cache.report_metrics());
        /// let text = recorder.handle().render();
        /// assert!(text.contains("shardcache_hits_total{cache=\"users\"} 1"));
        /// assert!(text.contains("shardcache_misses_total{cache=\"users\"} 1"));
        /// assert!(text.contains("shardcache_entries{cache=\"users\"} 1"));
        /// ```
        pub fn report_metrics(&self) {
            let stats = self.stats();
            let cache = metrics::SharedString::from(self.observer().name.clone());
            for series in COUNTERS {
                describe_counter!(series.name, Unit::Count, series.help);
                metrics::counter!(series.name, labels(&cache, series.labels))
                    .absolute((series.read)(&stats));
            }
            let gauges = [
                (
                    "shardcache_entries",
                    "Entries in the cache.",
                    self.len() as f64,
                ),
                (
                    "shardcache_weight",
                    "Total weight of the entries (their number without a weigher).",
                    self.weight() as f64,
                ),
                (
                    "shardcache_capacity",
                    "The most entries, or total weight with a weigher, the cache holds.",
                    self.capacity() as f64,
                ),
            ];
            for (name, help, value) in gauges {
                describe_gauge!(name, help);
                metrics::gauge!(name, labels(&cache, &[])).set(value);
            }
            describe_histogram!(
                LOAD_DURATION,
                Unit::Seconds,
                "Duration of loads that ended, by outcome (ok, error, panic)."
            );
        }
    }
}

/// The examples of `docs/observability.md`, compiled and run as doctests.
#[doc = include_str!("../docs/observability.md")]
#[cfg(doctest)]
pub struct ObservabilityDoctests;
