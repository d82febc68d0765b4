//! A named cache in front of a slow, sometimes failing backend, with its
//! metrics served in Prometheus text format on a loopback port.
//!
//! ```sh
//! cargo run --example metrics --features metrics -- --port 9898 --seconds 60
//! curl -s http://127.0.0.1:9898/metrics | grep shardcache_
//! ```
//!
//! `--port 0` picks a free port. The workload: 2 threads read user records
//! through `try_get_or_insert_with`, keys skewed towards a hot set; the
//! "backend" takes about a millisecond and fails one call in 50. A reporter
//! thread copies the cache's counts to the metrics recorder every second
//! (`Cache::report_metrics`); load durations are recorded as they happen.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use shardcache::Cache;

/// Bucket bounds for the load-duration histogram, in seconds.
const LOAD_BUCKETS: &[f64] = &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 1.0];

/// A user record as the backend returns it.
#[derive(Clone, Debug)]
struct User {
    id: u64,
    name: Arc<str>,
}

#[derive(Debug)]
struct BackendDown;

/// The slow backend: about a millisecond a call, and one call in 50 fails.
fn fetch_user(id: u64) -> Result<User, BackendDown> {
    thread::sleep(Duration::from_millis(1));
    if mix(id ^ 0xbad) % 50 == 0 {
        return Err(BackendDown);
    }
    Ok(User {
        id,
        name: format!("user {id}").into(),
    })
}

/// A 64-bit mixer (splitmix64's finalizer): the workload's random numbers.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// A key skewed towards small ids: most reads fall on a hot set of a few
/// hundred users out of 20,000.
fn next_key(state: &mut u64) -> u64 {
    *state = mix(state.wrapping_add(0x9e37_79b9_7f4a_7c15));
    let uniform = (*state >> 11) as f64 / (1u64 << 53) as f64;
    (20_000f64.powf(uniform * uniform)) as u64
}

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name} takes a number"))
        })
        .unwrap_or(default)
}

fn main() {
    let port = u16::try_from(arg("--port", 9898)).expect("--port takes a port number");
    let seconds = arg("--seconds", 60);
    let port = if port == 0 {
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|l| l.local_addr())
            .expect("no free loopback port")
            .port()
    } else {
        port
    };

    // The exporter: an HTTP listener on loopback, serving every path.
    PrometheusBuilder::new()
        .with_http_listener(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
        .set_buckets_for_metric(
            Matcher::Full("shardcache_load_duration_seconds".into()),
            LOAD_BUCKETS,
        )
        .expect("bucket bounds are not empty")
        .install()
        .expect("install the Prometheus exporter");

    let cache: Arc<Cache<u64, User>> =
        Arc::new(Cache::builder().capacity(1_000).name("users").build());

    println!("serving Prometheus metrics at http://127.0.0.1:{port}/metrics for {seconds} s");
    println!("curl -s http://127.0.0.1:{port}/metrics | grep shardcache_");

    let stop = Arc::new(AtomicBool::new(false));
    let reporter = {
        let (cache, stop) = (Arc::clone(&cache), Arc::clone(&stop));
        thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                cache.report_metrics();
                thread::sleep(Duration::from_secs(1));
            }
        })
    };
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let workers: Vec<_> = (0..2u64)
        .map(|t| {
            let cache = Arc::clone(&cache);
            thread::spawn(move || {
                let mut state = t;
                while Instant::now() < deadline {
                    let id = next_key(&mut state);
                    if let Ok(user) = cache.try_get_or_insert_with(id, || fetch_user(id)) {
                        debug_assert_eq!(user.id, id);
                        debug_assert!(!user.name.is_empty());
                    }
                    // A service does other work between requests.
                    thread::sleep(Duration::from_micros(50));
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    reporter.join().unwrap();
    cache.report_metrics();
    let stats = cache.stats();
    println!(
        "done: {} hits, {} misses ({:.1}% hits), {} loads, {} failed",
        stats.hits,
        stats.misses,
        stats.hit_ratio() * 100.0,
        stats.loads,
        stats.load_failures
    );
}
