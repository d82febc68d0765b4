//! The `tracing` feature: one span per load with the cache's name, the key's
//! hash and the outcome; a warning for a slow load and for a panicking one;
//! never the key. A small capturing layer records what a subscriber sees.
#![cfg(feature = "tracing")]
#![cfg(not(shardcache_loom))]

use std::collections::hash_map::DefaultHasher;
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::hash::{BuildHasher, BuildHasherDefault};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use shardcache::Cache;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context as LayerContext, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// A hasher with no random state, so the test knows each key's hash.
type Fixed = BuildHasherDefault<DefaultHasher>;

/// The key of every load: personal data that must not reach a trace.
const KEY: &str = "alice@example.com";

#[derive(Debug)]
struct SpanRecord {
    name: &'static str,
    target: String,
    level: Level,
    fields: BTreeMap<String, String>,
    closed: bool,
}

#[derive(Debug)]
struct EventRecord {
    target: String,
    level: Level,
    fields: BTreeMap<String, String>,
    /// The index in `Log::spans` of the span the event happened in.
    parent: Option<usize>,
}

#[derive(Debug, Default)]
struct Log {
    spans: Vec<SpanRecord>,
    events: Vec<EventRecord>,
}

impl Log {
    fn load_spans(&self) -> Vec<&SpanRecord> {
        self.spans
            .iter()
            .filter(|s| s.name == "shardcache.load")
            .collect()
    }

    fn warnings(&self) -> Vec<&EventRecord> {
        self.events
            .iter()
            .filter(|e| e.target == "shardcache" && e.level == Level::WARN)
            .collect()
    }

    /// Every field name and value of every span and event, for the check
    /// that no key leaks.
    fn all_text(&self) -> String {
        let spans = self.spans.iter().map(|s| &s.fields);
        let events = self.events.iter().map(|e| &e.fields);
        spans
            .chain(events)
            .flat_map(|fields| fields.iter())
            .map(|(k, v)| format!("{k}={v}\n"))
            .collect()
    }
}

/// Records spans (their fields, including later `record`s, and their close)
/// and events (their fields and the span they happened in).
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Log>>);

/// The index of a span in `Log::spans`, kept in the span's extensions.
struct Index(usize);

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().to_string(), format!("{value:?}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_string(), value.to_string());
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: LayerContext<'_, S>) {
        let mut fields = BTreeMap::new();
        attrs.record(&mut Fields(&mut fields));
        let meta = attrs.metadata();
        let mut log = self.0.lock().unwrap();
        log.spans.push(SpanRecord {
            name: meta.name(),
            target: meta.target().to_string(),
            level: *meta.level(),
            fields,
            closed: false,
        });
        let index = log.spans.len() - 1;
        ctx.span(id).unwrap().extensions_mut().insert(Index(index));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: LayerContext<'_, S>) {
        let span = ctx.span(id).unwrap();
        let index = span.extensions().get::<Index>().unwrap().0;
        values.record(&mut Fields(&mut self.0.lock().unwrap().spans[index].fields));
    }

    fn on_event(&self, event: &Event<'_>, ctx: LayerContext<'_, S>) {
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        let parent = ctx
            .event_span(event)
            .map(|span| span.extensions().get::<Index>().unwrap().0);
        let meta = event.metadata();
        self.0.lock().unwrap().events.push(EventRecord {
            target: meta.target().to_string(),
            level: *meta.level(),
            fields,
            parent,
        });
    }

    fn on_close(&self, id: Id, ctx: LayerContext<'_, S>) {
        let span = ctx.span(&id).unwrap();
        let index = span.extensions().get::<Index>().unwrap().0;
        self.0.lock().unwrap().spans[index].closed = true;
    }
}

/// Runs `f` with the capturing subscriber as this thread's default and
/// returns what it captured.
fn capture(f: impl FnOnce()) -> Log {
    let layer = Capture::default();
    let log = Arc::clone(&layer.0);
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, f);
    // Taken out, not unwrapped from its `Arc`: while another test thread
    // registers a callsite, tracing-core briefly holds a reference to every
    // live dispatcher, this one included (it records nothing through it).
    let mut log = log.lock().unwrap();
    std::mem::take(&mut *log)
}

fn cache(name: &'static str, threshold: Duration) -> Cache<String, u64, Fixed> {
    Cache::builder()
        .capacity(100)
        .hasher(Fixed::default())
        .name(name)
        .slow_load_threshold(threshold)
        .build()
}

fn hash_field(key: &str) -> String {
    format!("{:016x}", Fixed::default().hash_one(key))
}

fn assert_no_key(log: &Log) {
    let text = log.all_text();
    assert!(
        !text.contains("alice"),
        "the key leaked into a trace:\n{text}"
    );
    assert!(!text.contains("secret"), "a panic message leaked:\n{text}");
}

#[test]
fn a_load_has_one_span_with_the_name_the_key_hash_and_the_outcome() {
    let cache = cache("users", Duration::from_secs(60));
    let log = capture(|| {
        let value = cache.get_or_insert_with(KEY.to_string(), || {
            tracing::info!(target: "backend", "querying the user table");
            7
        });
        assert_eq!(value, 7);
        // A hit runs no loader and makes no span.
        assert_eq!(cache.get(KEY), Some(7));
        assert_eq!(cache.get_or_insert_with(KEY.to_string(), || 8), 7);
    });
    let spans = log.load_spans();
    assert_eq!(spans.len(), 1, "{log:#?}");
    let span = spans[0];
    assert_eq!(span.target, "shardcache");
    assert_eq!(span.level, Level::INFO);
    assert!(span.closed);
    let expected: BTreeMap<String, String> = [
        ("cache", "users".to_string()),
        ("key_hash", hash_field(KEY)),
        ("outcome", "ok".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(span.fields, expected);
    // The loader's own event nests in the load span.
    let backend = log.events.iter().find(|e| e.target == "backend").unwrap();
    assert_eq!(
        backend.parent.map(|i| log.spans[i].name),
        Some("shardcache.load")
    );
    // A fast load warns of nothing.
    assert!(log.warnings().is_empty(), "{log:#?}");
    assert_no_key(&log);
}

#[test]
fn an_unnamed_cache_is_labelled_default() {
    let cache: Cache<String, u64> = Cache::new(10);
    let log = capture(|| {
        cache.get_or_insert_with(KEY.to_string(), || 1);
    });
    assert_eq!(
        log.load_spans()[0].fields["cache"],
        shardcache::DEFAULT_NAME
    );
    assert_eq!(shardcache::DEFAULT_NAME, "default");
}

#[test]
fn a_failed_load_records_the_error_outcome() {
    let cache = cache("users", Duration::from_secs(60));
    let log = capture(|| {
        let failed = cache.try_get_or_insert_with(KEY.to_string(), || Err::<u64, _>("down"));
        assert!(failed.is_err());
    });
    let spans = log.load_spans();
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].fields["outcome"], "error");
    assert!(log.warnings().is_empty(), "{log:#?}");
    assert_no_key(&log);
    let stats = cache.stats();
    assert_eq!((stats.load_failures, stats.load_panics), (1, 0));
}

#[test]
fn a_slow_load_warns_from_within_its_span() {
    let cache = cache("users", Duration::from_millis(20));
    assert_eq!(cache.slow_load_threshold(), Duration::from_millis(20));
    let log = capture(|| {
        cache.get_or_insert_with(KEY.to_string(), || {
            std::thread::sleep(Duration::from_millis(40));
            1
        });
        // Under the threshold: no warning.
        cache.get_or_insert_with("bob".to_string(), || 2);
    });
    assert_eq!(log.load_spans().len(), 2);
    let warnings = log.warnings();
    assert_eq!(warnings.len(), 1, "{log:#?}");
    let warning = warnings[0];
    assert_eq!(warning.fields["message"], "shardcache: slow load");
    assert_eq!(warning.fields["cache"], "users");
    assert_eq!(warning.fields["key_hash"], hash_field(KEY));
    assert_eq!(warning.fields["outcome"], "ok");
    assert_eq!(warning.fields["threshold_ms"], "20.0");
    let elapsed: f64 = warning.fields["elapsed_ms"].parse().unwrap();
    assert!(elapsed >= 40.0, "elapsed_ms {elapsed}");
    let parent = &log.spans[warning.parent.unwrap()];
    assert_eq!(parent.name, "shardcache.load");
    assert_eq!(parent.fields["key_hash"], hash_field(KEY));
    assert_no_key(&log);
}

#[test]
fn a_panicking_load_warns_without_the_panic_message() {
    let cache = cache("users", Duration::from_secs(60));
    let log = capture(|| {
        let panicked = catch_unwind(AssertUnwindSafe(|| {
            cache.get_or_insert_with(KEY.to_string(), || panic!("secret: {KEY}"))
        }));
        assert!(panicked.is_err());
    });
    let spans = log.load_spans();
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].fields["outcome"], "panic");
    assert!(spans[0].closed);
    let warnings = log.warnings();
    assert_eq!(warnings.len(), 1, "{log:#?}");
    let warning = warnings[0];
    assert!(
        warning.fields["message"].starts_with("shardcache: a load panicked"),
        "{warning:?}"
    );
    assert_eq!(warning.fields["cache"], "users");
    assert_eq!(warning.fields["key_hash"], hash_field(KEY));
    assert!(warning.fields.contains_key("elapsed_ms"));
    assert_eq!(log.spans[warning.parent.unwrap()].name, "shardcache.load");
    assert_no_key(&log);
    let stats = cache.stats();
    assert_eq!((stats.load_failures, stats.load_panics), (1, 1));
}

#[test]
fn an_async_load_is_traced_and_a_cancelled_one_says_so() {
    let cache = cache("users", Duration::from_secs(60));
    let log = capture(|| {
        let waker = Waker::noop();
        let mut cx = Context::from_waker(waker);
        // Completes on its first poll.
        let mut done = pin!(cache.get_or_insert_async(KEY.to_string(), async { 5 }));
        assert_eq!(done.as_mut().poll(&mut cx), Poll::Ready(5));
        // Never completes: dropped while loading.
        {
            let mut stuck = pin!(cache.get_or_insert_async("bob".to_string(), async {
                std::future::pending::<()>().await;
                6
            }));
            assert_eq!(stuck.as_mut().poll(&mut cx), Poll::Pending);
        }
    });
    let spans = log.load_spans();
    assert_eq!(spans.len(), 2, "{log:#?}");
    assert_eq!(spans[0].fields["outcome"], "ok");
    assert_eq!(spans[0].fields["key_hash"], hash_field(KEY));
    assert_eq!(spans[1].fields["outcome"], "cancelled");
    assert!(spans.iter().all(|s| s.closed));
    assert!(log.warnings().is_empty(), "{log:#?}");
    assert_no_key(&log);
}
