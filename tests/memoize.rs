//! `#[memoize]`: call-once under concurrency, recursion, Python parity of
//! `cache_info()`, results, borrowed keys, methods and async functions.
#![cfg(all(not(shardcache_loom), feature = "macros"))]

#[path = "support/traces.rs"]
mod traces;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use shardcache::memoize;

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
    std::thread::sleep(Duration::from_millis(50));
    x * x
}

#[test]
fn sixteen_threads_on_one_cold_argument_run_it_once() {
    let barrier = Arc::new(Barrier::new(16));
    let threads: Vec<_> = (0..16)
        .map(|_| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                slow_square(12)
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), 144);
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
    // Python 3.11:
    //   @lru_cache(maxsize=128)
    //   def compute_heavy_stuff(self, param): return sum(i * i for i in range(param))
    //   called with 10000, 10000, 20000:
    //   333283335000, 333283335000, 2666466670000
    //   CacheInfo(hits=1, misses=2, maxsize=128, currsize=2)
    assert_eq!(compute_heavy_stuff(10_000), 333_283_335_000);
    assert_eq!(compute_heavy_stuff(10_000), 333_283_335_000);
    assert_eq!(compute_heavy_stuff(20_000), 2_666_466_670_000);
    assert_eq!(
        compute_heavy_stuff::cache_info().to_string(),
        "CacheInfo(hits=1, misses=2, maxsize=128, currsize=2)"
    );
}

#[memoize(capacity = 128)]
fn traced(key: u64) -> u64 {
    key.wrapping_mul(2)
}

#[test]
fn cache_info_matches_python_on_a_recorded_trace() {
    // Python 3.11, lru_cache(maxsize=128) over the first 5,000 keys of the
    // cpp trace: CacheInfo(hits=3959, misses=1041, maxsize=128, currsize=128)
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

#[memoize(capacity = 0)]
fn never_kept(x: u64) -> u64 {
    x + 1
}

#[test]
fn capacity_zero_keeps_nothing() {
    assert_eq!(never_kept(1), 2);
    assert_eq!(never_kept(1), 2);
    let info = never_kept::cache_info();
    assert_eq!((info.hits, info.misses, info.size), (0, 2, 0));
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
