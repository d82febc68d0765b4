//! `#[memoize]`: call-once under concurrency, recursion, Python parity of
//! `cache_info()`, results, borrowed keys, methods and async functions.
#![cfg(all(not(shardcache_loom), feature = "macros"))]

#[path = "support/traces.rs"]
mod traces;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use shardcache::{memoize, CacheInfo};

/// Runs `call` on `n` threads released together; their results, in order.
fn all_at_once<T: Send + 'static>(n: usize, call: fn() -> T) -> Vec<T> {
    let barrier = Arc::new(Barrier::new(n));
    let threads: Vec<_> = (0..n)
        .map(|_| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                call()
            })
        })
        .collect();
    threads.into_iter().map(|t| t.join().unwrap()).collect()
}

/// Called by a loader to hold the load open until `misses` callers have
/// missed (and so joined it), so that a slow thread start on a busy machine
/// cannot turn a coalesced caller into a late hit. Gives up after 10 s.
fn wait_for_misses(info: fn() -> CacheInfo, misses: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while info().misses < misses && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    // A caller counted as a miss is about to join the load.
    std::thread::sleep(Duration::from_millis(20));
}

static FIB_CALLS: AtomicUsize = AtomicUsize::new(0);

#[memoize(capacity = 128)]
fn fib(n: u64) -> u128 {
    FIB_CALLS.fetch_add(1, Ordering::SeqCst);
    if n < 2 {
        n as u128
    } else {
        fib(n - 1) + fib(n - 2)
    }
}

#[test]
fn recursive_fibonacci_runs_each_call_once() {
    assert_eq!(fib(90), 2_880_067_194_370_816_120);
    assert_eq!(
        FIB_CALLS.load(Ordering::SeqCst),
        91,
        "fib(0..=90), each once"
    );
    let info = fib::cache_info();
    assert_eq!(
        (info.hits, info.misses, info.size, info.capacity),
        (88, 91, 91, 128)
    );
    assert_eq!(fib(90), 2_880_067_194_370_816_120);
    assert_eq!(FIB_CALLS.load(Ordering::SeqCst), 91);
}

static SLOW_CALLS: AtomicUsize = AtomicUsize::new(0);

#[memoize]
fn slow_square(x: u64) -> u64 {
    SLOW_CALLS.fetch_add(1, Ordering::SeqCst);
    wait_for_misses(slow_square::cache_info, 16);
    x * x
}

#[test]
fn sixteen_threads_on_one_cold_argument_run_it_once() {
    for result in all_at_once(16, || slow_square(12)) {
        assert_eq!(result, 144);
    }
    assert_eq!(SLOW_CALLS.load(Ordering::SeqCst), 1);
    let info = slow_square::cache_info();
    assert_eq!(info.misses, 16, "every caller missed");
    assert_eq!(info.coalesced, 15, "fifteen were served by the one call");
}

/// The seed program (examples/seed.rs) as Python runs it.
#[memoize(capacity = 128)]
fn compute_heavy_stuff(param: u64) -> u64 {
    (0..param).map(|i| i * i).sum()
}

#[test]
fn cache_info_matches_python_on_the_seed_program() {
    // CPython 3.11 on the seed program:
    //
    //   from functools import lru_cache
    //   class DataHeavyClass:
    //       @lru_cache(maxsize=128)
    //       def compute_heavy_stuff(self, param):
    //           return sum(i * i for i in range(param))
    //   data = DataHeavyClass()
    //   print(data.compute_heavy_stuff(10000))
    //   print(data.compute_heavy_stuff(10000))
    //   print(data.compute_heavy_stuff(20000))
    //   print(DataHeavyClass.compute_heavy_stuff.cache_info())
    //
    // prints 333283335000, 333283335000, 2666466670000 and
    // CacheInfo(hits=1, misses=2, maxsize=128, currsize=2)
    assert_eq!(compute_heavy_stuff(10_000), 333_283_335_000);
    assert_eq!(compute_heavy_stuff(10_000), 333_283_335_000);
    assert_eq!(compute_heavy_stuff(20_000), 2_666_466_670_000);
    assert_eq!(
        compute_heavy_stuff::cache_info().to_string(),
        "CacheInfo(hits=1, misses=2, maxsize=128, currsize=2)"
    );
}

#[memoize(capacity = 2)]
fn identity(x: u64) -> u64 {
    x
}

#[test]
fn cache_clear_restarts_the_counts_as_in_python() {
    // CPython 3.11:
    //
    //   @lru_cache(maxsize=2)
    //   def identity(x): return x
    //   identity(1); identity(1); identity(2); identity(3); identity(1)
    //   print(identity.cache_info())
    //   identity.cache_clear(); print(identity.cache_info())
    //   identity(1); identity(1); print(identity.cache_info())
    //
    // CacheInfo(hits=1, misses=4, maxsize=2, currsize=2)
    // CacheInfo(hits=0, misses=0, maxsize=2, currsize=0)
    // CacheInfo(hits=1, misses=1, maxsize=2, currsize=1)
    for x in [1, 1, 2, 3, 1] {
        identity(x);
    }
    assert_eq!(
        identity::cache_info().to_string(),
        "CacheInfo(hits=1, misses=4, maxsize=2, currsize=2)"
    );
    identity::cache_clear();
    assert_eq!(
        identity::cache_info().to_string(),
        "CacheInfo(hits=0, misses=0, maxsize=2, currsize=0)"
    );
    identity(1);
    identity(1);
    assert_eq!(
        identity::cache_info().to_string(),
        "CacheInfo(hits=1, misses=1, maxsize=2, currsize=1)"
    );
}

#[memoize(capacity = 128)]
fn traced(key: u64) -> u64 {
    key.wrapping_mul(2)
}

#[memoize(capacity = 128)]
fn traced_cs(key: u64) -> u64 {
    key.wrapping_mul(3)
}

// The expected numbers come from CPython 3.11 replaying the same traces
// (shared/traces/NAME.u64 hold the keys that tests/traces/NAME.trace encodes):
//
//   import struct
//   from functools import lru_cache
//   for name in ["cpp", "cs"]:
//       raw = open(f"traces/{name}.u64", "rb").read()
//       keys = [k for (k,) in struct.iter_unpack("<Q", raw)]
//       @lru_cache(maxsize=128)
//       def traced(key):
//           return key * 2
//       for k in keys[:5000]:
//           traced(k)
//       print(name, traced.cache_info())
//
//   cpp CacheInfo(hits=3959, misses=1041, maxsize=128, currsize=128)
//   cs CacheInfo(hits=99, misses=4901, maxsize=128, currsize=128)
#[test]
fn cache_info_matches_python_on_a_recorded_trace() {
    for key in traces::load("cpp").into_iter().take(5_000) {
        traced(key);
    }
    let info = traced::cache_info();
    assert_eq!(
        (info.hits, info.misses, info.capacity, info.size),
        (3959, 1041, 128, 128)
    );
    traced::cache_clear();
    assert_eq!(traced::cache_info().size, 0);

    for key in traces::load("cs").into_iter().take(5_000) {
        traced_cs(key);
    }
    assert_eq!(
        traced_cs::cache_info().to_string(),
        "CacheInfo(hits=99, misses=4901, maxsize=128, currsize=128)"
    );
}

static PARSES: AtomicUsize = AtomicUsize::new(0);

#[derive(Clone, Debug, PartialEq)]
struct ParseError(String);

#[memoize(key = text.to_owned(), key_type = String)]
fn parse(text: &str) -> Result<i64, ParseError> {
    PARSES.fetch_add(1, Ordering::SeqCst);
    text.parse()
        .map_err(|_| ParseError(format!("not a number: {text}")))
}

#[test]
fn borrowed_arguments_key_through_an_owned_key_and_only_ok_is_cached() {
    assert_eq!(parse("42"), Ok(42));
    assert_eq!(parse("42"), Ok(42));
    assert_eq!(PARSES.load(Ordering::SeqCst), 1);
    assert_eq!(parse("x"), Err(ParseError("not a number: x".into())));
    assert_eq!(parse("x").unwrap_err().0, "not a number: x");
    assert_eq!(PARSES.load(Ordering::SeqCst), 3, "errors are not cached");
    assert_eq!(parse::cache_info().size, 1);
    assert_eq!(parse::uncached("7"), Ok(7));
}

static NEVER_KEPT_CALLS: AtomicUsize = AtomicUsize::new(0);

#[memoize(capacity = 0)]
fn never_kept(x: u64) -> u64 {
    NEVER_KEPT_CALLS.fetch_add(1, Ordering::SeqCst);
    if x == 5 {
        // Two sequential misses, then sixteen concurrent ones.
        wait_for_misses(never_kept::cache_info, 2 + 16);
    }
    x + 1
}

#[test]
fn capacity_zero_keeps_nothing_but_coalesces() {
    assert_eq!(never_kept(1), 2);
    assert_eq!(never_kept(1), 2);
    assert_eq!(
        NEVER_KEPT_CALLS.load(Ordering::SeqCst),
        2,
        "nothing is kept"
    );
    let info = never_kept::cache_info();
    assert_eq!(
        (info.hits, info.misses, info.size, info.capacity),
        (0, 2, 0, 0)
    );

    // Sixteen concurrent callers still share one call.
    for result in all_at_once(16, || never_kept(5)) {
        assert_eq!(result, 6);
    }
    assert_eq!(NEVER_KEPT_CALLS.load(Ordering::SeqCst), 3);
    assert_eq!(never_kept::cache_info().coalesced, 15);
    assert_eq!(never_kept::cache_info().size, 0);
}

static LOOKUPS: AtomicUsize = AtomicUsize::new(0);

struct Repository {
    scale: u64,
}

impl Repository {
    #[memoize(key = id, capacity = 16)]
    fn lookup(&self, id: u64) -> u64 {
        LOOKUPS.fetch_add(1, Ordering::SeqCst);
        id * self.scale
    }
}

#[test]
fn methods_key_on_what_they_are_told() {
    let repo = Repository { scale: 3 };
    assert_eq!(repo.lookup(5), 15);
    assert_eq!(repo.lookup(5), 15);
    assert_eq!(LOOKUPS.load(Ordering::SeqCst), 1);
    assert_eq!(Repository::lookup_cache_info().hits, 1);
    assert_eq!(repo.lookup_uncached(5), 15);
    Repository::lookup_cache_clear();
    assert_eq!(Repository::lookup_cache_info().size, 0);
}

#[memoize(capacity = 32, policy = TinyLfu, shards = 1)]
fn with_options(a: u32, b: u32) -> u64 {
    u64::from(a) * u64::from(b)
}

#[test]
fn options_reach_the_cache() {
    assert_eq!(with_options(6, 7), 42);
    assert_eq!(with_options::cache().capacity(), 32);
    assert_eq!(with_options::cache().shards(), 1);
}

static ASYNC_LOADS: AtomicUsize = AtomicUsize::new(0);

#[memoize]
async fn fetch(id: u64) -> String {
    ASYNC_LOADS.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(20)).await;
    format!("row {id}")
}

#[test]
fn async_functions_share_one_load() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        let tasks: Vec<_> = (0..50).map(|_| tokio::spawn(fetch(7))).collect();
        for task in tasks {
            assert_eq!(task.await.unwrap(), "row 7");
        }
    });
    assert_eq!(ASYNC_LOADS.load(Ordering::SeqCst), 1);
    assert_eq!(rt.block_on(fetch::uncached(8)), "row 8");
}

#[test]
fn functions_declared_in_a_block_are_memoized_too() {
    #[derive(Clone, Debug, PartialEq, Eq, Hash)]
    struct Point(i32, i32);

    static CALLS: AtomicUsize = AtomicUsize::new(0);

    #[memoize(capacity = 4)]
    fn manhattan(p: Point) -> u32 {
        CALLS.fetch_add(1, Ordering::SeqCst);
        p.0.unsigned_abs() + p.1.unsigned_abs()
    }

    assert_eq!(manhattan(Point(3, -4)), 7);
    assert_eq!(manhattan(Point(3, -4)), 7);
    assert_eq!(CALLS.load(Ordering::SeqCst), 1);
    assert_eq!(manhattan::cache_info().hits, 1);
    assert_eq!(manhattan::uncached(Point(1, 1)), 2);
}

static LOOKUPS_BY_ID: AtomicUsize = AtomicUsize::new(0);

/// Keyed on `id` alone: `trace_label` does not change the result.
#[memoize(key = id)]
fn user_name(id: u32, trace_label: &str) -> String {
    LOOKUPS_BY_ID.fetch_add(1, Ordering::SeqCst);
    let _ = trace_label;
    format!("user{id}")
}

#[test]
fn key_on_a_subset_of_the_arguments() {
    assert_eq!(user_name(1, "first"), "user1");
    assert_eq!(user_name(1, "second"), "user1");
    assert_eq!(LOOKUPS_BY_ID.load(Ordering::SeqCst), 1);
    let _: &'static shardcache::Cache<u32, String> = user_name::cache();
}

static SQRT_CALLS: AtomicUsize = AtomicUsize::new(0);

#[memoize]
fn int_sqrt(mut n: u64) -> Option<u64> {
    SQRT_CALLS.fetch_add(1, Ordering::SeqCst);
    let root = (n as f64).sqrt() as u64;
    n -= root * root;
    (n == 0).then_some(root)
}

#[test]
fn options_are_cached_none_included() {
    assert_eq!(int_sqrt(49), Some(7));
    assert_eq!(int_sqrt(50), None);
    assert_eq!(int_sqrt(50), None);
    assert_eq!(SQRT_CALLS.load(Ordering::SeqCst), 2, "None is cached too");
    assert_eq!(int_sqrt::cache_info().size, 2);
}

static FAILING_CALLS: AtomicUsize = AtomicUsize::new(0);

#[memoize]
fn flaky(x: u64) -> Result<u64, String> {
    FAILING_CALLS.fetch_add(1, Ordering::SeqCst);
    wait_for_misses(flaky::cache_info, 8);
    if x == 0 {
        Err("zero".to_owned())
    } else {
        Ok(x)
    }
}

#[test]
fn one_error_reaches_every_concurrent_caller_and_is_not_cached() {
    for result in all_at_once(8, || flaky(0)) {
        assert_eq!(result, Err("zero".to_owned()));
    }
    assert_eq!(FAILING_CALLS.load(Ordering::SeqCst), 1, "one call for all");
    assert_eq!(flaky::cache_info().size, 0);
    assert_eq!(flaky(0), Err("zero".to_owned()));
    assert_eq!(FAILING_CALLS.load(Ordering::SeqCst), 2, "then tried again");
}

static ASYNC_TRIES: AtomicUsize = AtomicUsize::new(0);

#[memoize(key = name.to_owned(), key_type = String)]
async fn resolve(name: &str) -> Result<u32, Arc<std::io::Error>> {
    ASYNC_TRIES.fetch_add(1, Ordering::SeqCst);
    tokio::task::yield_now().await;
    match name {
        "localhost" => Ok(0x7f00_0001),
        _ => Err(Arc::new(std::io::Error::other(format!(
            "unknown host {name}"
        )))),
    }
}

#[test]
fn async_results_cache_only_ok() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        assert_eq!(resolve("localhost").await.unwrap(), 0x7f00_0001);
        assert_eq!(resolve("localhost").await.unwrap(), 0x7f00_0001);
        assert!(resolve("example").await.is_err());
        assert!(resolve("example").await.is_err());
    });
    assert_eq!(ASYNC_TRIES.load(Ordering::SeqCst), 3);
    assert_eq!(resolve::cache_info().size, 1);
}

#[derive(Clone, Debug, PartialEq)]
struct Config {
    level: u8,
}

static CONFIGS_BUILT: AtomicUsize = AtomicUsize::new(0);

impl Config {
    /// An associated function without `self`: it names `Self`, so its cache
    /// functions are associated functions too. (The result type is spelled
    /// out: the cache is a `static`, which cannot name `Self`.)
    #[memoize]
    fn preset(level: u8) -> Config {
        CONFIGS_BUILT.fetch_add(1, Ordering::SeqCst);
        Self { level }
    }

    /// A `&self` method with a borrowed argument, keyed on an owned copy
    /// and on the field the result depends on.
    #[memoize(key = (self.level, label.to_owned()), key_type = (u8, String))]
    fn describe(&self, label: &str) -> String {
        format!("{label}@{}", self.level)
    }
}

#[test]
fn associated_functions_and_methods() {
    assert_eq!(Config::preset(3), Config { level: 3 });
    assert_eq!(Config::preset(3), Config { level: 3 });
    assert_eq!(CONFIGS_BUILT.load(Ordering::SeqCst), 1);
    assert_eq!(Config::preset_cache_info().hits, 1);
    assert_eq!(Config::preset_uncached(4), Config { level: 4 });
    Config::preset_cache_clear();

    let config = Config::preset(2);
    assert_eq!(config.describe("a"), "a@2");
    assert_eq!(config.describe("a"), "a@2");
    assert_eq!(Config::describe_cache_info().hits, 1);
}

/// Lifetime parameters are fine (only type parameters make a function
/// generic in the way a `static` cannot follow).
#[memoize(key = (a.to_owned(), b.to_owned()), key_type = (String, String))]
fn longer<'a>(a: &'a str, b: &'a str) -> &'static str {
    if a.len() >= b.len() {
        "first"
    } else {
        "second"
    }
}

#[test]
fn lifetime_parameters() {
    assert_eq!(longer("abc", "de"), "first");
    assert_eq!(longer("abc", "de"), "first");
    assert_eq!(longer::cache_info().hits, 1);
    assert_eq!(longer::uncached("a", "bc"), "second");
}

static TTL_CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

#[shardcache::memoize(capacity = 16, ttl = std::time::Duration::from_millis(30))]
fn stamped(x: u64) -> u64 {
    TTL_CALLS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    x * 2
}

#[test]
fn ttl_recomputes_after_expiry() {
    assert_eq!(stamped(4), 8);
    assert_eq!(stamped(4), 8);
    assert_eq!(TTL_CALLS.load(std::sync::atomic::Ordering::SeqCst), 1);
    std::thread::sleep(std::time::Duration::from_millis(60));
    assert_eq!(stamped(4), 8);
    assert_eq!(TTL_CALLS.load(std::sync::atomic::Ordering::SeqCst), 2);
}
