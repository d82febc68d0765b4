//! The `metrics` feature end to end: the Prometheus exporter's HTTP listener
//! on a free loopback port (as `examples/metrics.rs` sets it up), known
//! hits, misses, loads and failures, and the exact series scraped over HTTP.
#![cfg(feature = "metrics")]
#![cfg(not(shardcache_loom))]

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use shardcache::Cache;

/// Installs the exporter once for this test binary (the recorder is
/// global) and returns its port.
fn exporter() -> u16 {
    static PORT: OnceLock<u16> = OnceLock::new();
    *PORT.get_or_init(|| {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|listener| listener.local_addr())
            .expect("a free loopback port")
            .port();
        PrometheusBuilder::new()
            .with_http_listener(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
            .set_buckets_for_metric(
                Matcher::Full("shardcache_load_duration_seconds".into()),
                &[0.001, 0.01, 0.1, 1.0],
            )
            .unwrap()
            .install()
            .expect("install the Prometheus exporter");
        port
    })
}

/// GETs `/metrics` and returns the body. Retries for a few seconds while
/// the listener starts.
fn scrape(port: u16) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match try_scrape(port) {
            Ok(body) => return body,
            Err(error) if Instant::now() < deadline => {
                let _ = error;
                thread::sleep(Duration::from_millis(20));
            }
            Err(error) => panic!("scraping 127.0.0.1:{port}: {error}"),
        }
    }
}

fn try_scrape(port: u16) -> std::io::Result<String> {
    let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    // HTTP/1.0: the server answers without chunked encoding and closes.
    stream.write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP response: {response:?}")))?;
    let status = head.lines().next().unwrap_or_default();
    if !status.contains(" 200") {
        return Err(std::io::Error::other(format!("status {status:?}")));
    }
    Ok(body.to_string())
}

/// The value of the sample `series` (name and labels, as rendered), if the
/// text has it.
fn sample(text: &str, series: &str) -> Option<String> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(str::to_string)
}

fn assert_samples(text: &str, expected: &[(&str, &str)]) {
    for (series, value) in expected {
        assert_eq!(
            sample(text, series).as_deref(),
            Some(*value),
            "{series} in the scraped text:\n{text}"
        );
    }
}

#[test]
fn scraped_series_carry_the_exact_counts_and_labels() {
    let port = exporter();
    let cache: Cache<u64, u64> = Cache::builder().capacity(8).shards(1).name("users").build();
    // 10 loads (misses) into 8 slots: keys 0 and 1 are evicted.
    for key in 0..10 {
        assert_eq!(cache.get_or_insert_with(key, || key * 10), key * 10);
    }
    for key in 2..10 {
        assert_eq!(cache.get(&key), Some(key * 10)); // 8 hits
    }
    assert_eq!(cache.get(&0), None); // a miss
    let failed = cache.try_get_or_insert_with(100, || Err::<u64, _>("backend down"));
    assert!(failed.is_err()); // a miss and a load error
    let panicked = catch_unwind(AssertUnwindSafe(|| {
        cache.get_or_insert_with(101, || panic!("loader bug"))
    }));
    assert!(panicked.is_err()); // a miss and a load panic
    assert_eq!(cache.insert(5, 55), Some(50)); // an insert (a replacement)

    let stats = cache.stats();
    assert_eq!(
        (stats.hits, stats.misses, stats.inserts, stats.evictions),
        (8, 13, 11, 2)
    );
    assert_eq!(
        (stats.loads, stats.load_failures, stats.load_panics),
        (10, 2, 1)
    );

    // Lookups never call the facade: before the report the scrape has the
    // load durations (recorded per load) but no counters.
    let before = scrape(port);
    assert_eq!(
        sample(&before, "shardcache_hits_total{cache=\"users\"}"),
        None
    );
    assert_samples(
        &before,
        &[(
            "shardcache_load_duration_seconds_count{cache=\"users\",outcome=\"ok\"}",
            "10",
        )],
    );

    cache.report_metrics();
    let text = scrape(port);
    assert_samples(
        &text,
        &[
            ("shardcache_hits_total{cache=\"users\"}", "8"),
            ("shardcache_misses_total{cache=\"users\"}", "13"),
            ("shardcache_inserts_total{cache=\"users\"}", "11"),
            ("shardcache_loads_total{cache=\"users\"}", "10"),
            ("shardcache_load_errors_total{cache=\"users\"}", "1"),
            ("shardcache_load_panics_total{cache=\"users\"}", "1"),
            ("shardcache_coalesced_total{cache=\"users\"}", "0"),
            ("shardcache_evictions_total{cache=\"users\",cause=\"size\"}", "2"),
            ("shardcache_evictions_total{cache=\"users\",cause=\"expired\"}", "0"),
            ("shardcache_entries{cache=\"users\"}", "8"),
            ("shardcache_weight{cache=\"users\"}", "8"),
            ("shardcache_capacity{cache=\"users\"}", "8"),
            (
                "shardcache_load_duration_seconds_count{cache=\"users\",outcome=\"ok\"}",
                "10",
            ),
            (
                "shardcache_load_duration_seconds_count{cache=\"users\",outcome=\"error\"}",
                "1",
            ),
            (
                "shardcache_load_duration_seconds_count{cache=\"users\",outcome=\"panic\"}",
                "1",
            ),
            (
                "shardcache_load_duration_seconds_bucket{cache=\"users\",outcome=\"ok\",le=\"+Inf\"}",
                "10",
            ),
        ],
    );
    for line in [
        "# TYPE shardcache_hits_total counter",
        "# HELP shardcache_hits_total Lookups that found their key.",
        "# TYPE shardcache_entries gauge",
        "# TYPE shardcache_load_duration_seconds histogram",
    ] {
        assert!(text.lines().any(|l| l == line), "no {line:?} in:\n{text}");
    }

    // The report sets totals: reporting again after 3 more hits shows 11,
    // not 8 + 11.
    for key in 2..5 {
        cache.get(&key);
    }
    cache.report_metrics();
    let text = scrape(port);
    assert_samples(&text, &[("shardcache_hits_total{cache=\"users\"}", "11")]);
}

#[test]
fn each_cache_reports_under_its_own_name_and_unnamed_ones_under_default() {
    let port = exporter();
    let orders: Cache<u64, u64> = Cache::builder().capacity(100).name("orders").build();
    let unnamed: Cache<u64, u64> = Cache::new(100);
    orders.insert(1, 1);
    orders.get(&1);
    orders.get(&1);
    unnamed.get(&1);
    orders.report_metrics();
    unnamed.report_metrics();
    let text = scrape(port);
    assert_samples(
        &text,
        &[
            ("shardcache_hits_total{cache=\"orders\"}", "2"),
            ("shardcache_misses_total{cache=\"orders\"}", "0"),
            ("shardcache_entries{cache=\"orders\"}", "1"),
            ("shardcache_capacity{cache=\"orders\"}", "100"),
            ("shardcache_hits_total{cache=\"default\"}", "0"),
            ("shardcache_misses_total{cache=\"default\"}", "1"),
            ("shardcache_entries{cache=\"default\"}", "0"),
        ],
    );
}
