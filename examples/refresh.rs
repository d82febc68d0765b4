//! A herd on one hot key across its expiries, with and without
//! `refresh_after`: the latency of every call, as p50 / p99 / max, and
//! (with `--svg PATH`) a plot of the worst latency over time.
//!
//! Each of `--threads` threads calls `get_or_insert_with` on the same key
//! about once a millisecond for `--seconds`; the loader sleeps `--load-ms`
//! (a slow backend); entries live `--ttl-ms`. Three caches:
//! - `expiry only`: when the entry expires, every caller waits for the
//!   reload;
//! - `refresh_after`: from 3/4 of the lifetime on, one caller reloads
//!   inline (it waits) while the rest get the stale value;
//! - `refresh_after + executor`: a refresher on a spawned thread reloads;
//!   no caller waits.
//!
//! ```text
//! cargo run --release --example refresh -- --seconds 3 --svg docs/img/refresh_latency.svg
//! ```

use std::fmt::Write as _;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use shardcache::Cache;

struct Args {
    threads: usize,
    seconds: f64,
    load_ms: u64,
    ttl_ms: u64,
    svg: Option<String>,
}

fn args() -> Args {
    let mut args = Args {
        threads: 8,
        seconds: 3.0,
        load_ms: 20,
        ttl_ms: 200,
        svg: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--threads" => args.threads = value().parse().expect("--threads N"),
            "--seconds" => args.seconds = value().parse().expect("--seconds S"),
            "--load-ms" => args.load_ms = value().parse().expect("--load-ms MS"),
            "--ttl-ms" => args.ttl_ms = value().parse().expect("--ttl-ms MS"),
            "--svg" => args.svg = Some(value()),
            other => panic!("unknown flag {other}; see the example's docs"),
        }
    }
    args
}

/// Every call of one run: (start, since the run began; latency), in µs.
type Samples = Vec<(u64, u64)>;

fn herd(cache: Arc<Cache<u64, u64>>, args: &Args) -> Samples {
    let load = Duration::from_millis(args.load_ms);
    let start = Arc::new(Barrier::new(args.threads));
    let began = Instant::now();
    let end = began + Duration::from_secs_f64(args.seconds);
    let threads: Vec<_> = (0..args.threads)
        .map(|_| {
            let (cache, start) = (cache.clone(), start.clone());
            thread::spawn(move || {
                start.wait();
                let mut samples = Vec::new();
                let mut version = 0;
                loop {
                    let t = Instant::now();
                    if t >= end {
                        return samples;
                    }
                    let v = cache.get_or_insert_with(0, || {
                        thread::sleep(load);
                        version + 1
                    });
                    version = version.max(v);
                    let latency = t.elapsed();
                    samples.push(((t - began).as_micros() as u64, latency.as_micros() as u64));
                    thread::sleep(Duration::from_millis(1));
                }
            })
        })
        .collect();
    let mut all: Samples = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    all.sort_unstable();
    all
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

struct Run {
    name: &'static str,
    color: &'static str,
    samples: Samples,
    p50: u64,
    p99: u64,
    max: u64,
    slow: usize,
}

fn run(name: &'static str, color: &'static str, cache: Cache<u64, u64>, args: &Args) -> Run {
    let samples = herd(Arc::new(cache), args);
    let mut latencies: Vec<u64> = samples.iter().map(|s| s.1).collect();
    latencies.sort_unstable();
    // A call "waited" if it took at least half a load.
    let slow = latencies
        .iter()
        .filter(|&&l| l >= args.load_ms * 500)
        .count();
    Run {
        name,
        color,
        p50: percentile(&latencies, 50.0),
        p99: percentile(&latencies, 99.0),
        max: *latencies.last().unwrap_or(&0),
        slow,
        samples,
    }
}

fn ms(us: u64) -> String {
    format!("{:.2} ms", us as f64 / 1000.0)
}

fn main() {
    let args = args();
    let ttl = Duration::from_millis(args.ttl_ms);
    let refresh = ttl * 3 / 4;
    let base = || Cache::builder().capacity(1024).time_to_live(ttl);
    let load = Duration::from_millis(args.load_ms);
    let runs = [
        run("expiry only", "#d62728", base().build(), &args),
        run(
            "refresh_after",
            "#1f77b4",
            base().refresh_after(refresh).build(),
            &args,
        ),
        run(
            "refresh_after + executor",
            "#2ca02c",
            base()
                .refresh_after(refresh)
                .refresher(move |_: &u64, stale: &u64| {
                    thread::sleep(load);
                    Some(stale + 1)
                })
                .executor(|task: Box<dyn FnOnce() + Send>| {
                    thread::spawn(task);
                })
                .build(),
            &args,
        ),
    ];
    println!(
        "{} threads on one key, loader {} ms, time_to_live {} ms, refresh_after {} ms, {} s each",
        args.threads,
        args.load_ms,
        args.ttl_ms,
        refresh.as_millis(),
        args.seconds
    );
    println!(
        "{:<26} {:>8} {:>10} {:>10} {:>10} {:>8}",
        "cache", "calls", "p50", "p99", "max", "waited"
    );
    for r in &runs {
        println!(
            "{:<26} {:>8} {:>10} {:>10} {:>10} {:>8}",
            r.name,
            r.samples.len(),
            ms(r.p50),
            ms(r.p99),
            ms(r.max),
            r.slow
        );
    }
    if let Some(path) = &args.svg {
        std::fs::write(path, svg(&runs, &args)).expect("write the SVG");
        println!("plot written to {path}");
    }
}

/// The worst latency in each 10 ms window, one line per cache, over time;
/// the legend gives each cache's p50 / p99 / max.
fn svg(runs: &[Run], args: &Args) -> String {
    const W: f64 = 760.0;
    const H: f64 = 340.0;
    const LEFT: f64 = 60.0;
    const RIGHT: f64 = 20.0;
    const TOP: f64 = 30.0;
    const BOTTOM: f64 = 110.0;
    let window = 10_000u64;
    let span = (args.seconds * 1e6) as u64;
    let top = runs.iter().map(|r| r.max).max().unwrap_or(1).max(1) as f64 * 1.1;
    let x = |us: u64| LEFT + (us as f64 / span as f64) * (W - LEFT - RIGHT);
    let y = |us: f64| TOP + (1.0 - us / top) * (H - TOP - BOTTOM);
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(out, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let _ = writeln!(
        out,
        r#"<text x="{}" y="18" font-size="14">Worst latency per 10 ms of {} threads on one hot key (loader {} ms, TTL {} ms)</text>"#,
        LEFT, args.threads, args.load_ms, args.ttl_ms
    );
    // Axes and grid.
    let (x0, x1, y0, y1) = (LEFT, W - RIGHT, y(0.0), y(top));
    let _ = writeln!(
        out,
        r##"<path d="M{x0},{y1} V{y0} H{x1}" stroke="#333" fill="none"/>"##
    );
    let step_ms = ((top / 1000.0 / 5.0).ceil() as u64).max(1);
    let mut tick = 0;
    while (tick * 1000) as f64 <= top {
        let ty = y((tick * 1000) as f64);
        let _ = writeln!(
            out,
            r##"<line x1="{x0}" y1="{ty}" x2="{x1}" y2="{ty}" stroke="#ddd"/><text x="{}" y="{}" text-anchor="end">{tick} ms</text>"##,
            x0 - 6.0,
            ty + 4.0
        );
        tick += step_ms;
    }
    let mut t = 0;
    while t <= span {
        let tx = x(t);
        let _ = writeln!(
            out,
            r#"<text x="{tx}" y="{}" text-anchor="middle">{:.1} s</text>"#,
            y0 + 16.0,
            t as f64 / 1e6
        );
        t += 500_000;
    }
    // One line per run.
    for r in runs {
        let mut worst = vec![0u64; (span / window + 1) as usize];
        for &(at, latency) in &r.samples {
            let i = ((at / window) as usize).min(worst.len() - 1);
            worst[i] = worst[i].max(latency);
        }
        let points: Vec<String> = worst
            .iter()
            .enumerate()
            .map(|(i, &l)| format!("{:.1},{:.1}", x(i as u64 * window), y(l as f64)))
            .collect();
        let _ = writeln!(
            out,
            r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="1.5"/>"#,
            points.join(" "),
            r.color
        );
    }
    // Legend.
    for (i, r) in runs.iter().enumerate() {
        let ly = y0 + 40.0 + i as f64 * 20.0;
        let _ = writeln!(
            out,
            r#"<rect x="{LEFT}" y="{}" width="14" height="4" fill="{}"/><text x="{}" y="{}">{}: p50 {}, p99 {}, max {} ({} of {} calls waited)</text>"#,
            ly - 6.0,
            r.color,
            LEFT + 20.0,
            ly,
            r.name,
            ms(r.p50),
            ms(r.p99),
            ms(r.max),
            r.slow,
            r.samples.len()
        );
    }
    out.push_str("</svg>\n");
    out
}
