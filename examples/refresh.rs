//! A herd on one hot key at its expiry, with and without `refresh_after`:
//! the latency of every call, as p50 / p99 / max, and (with `--svg PATH`) a
//! plot of each round's worst latency.
//!
//! Each round, the cache's clock (a manual one) jumps to the moment the key
//! needs a reload, and `--threads` threads released together each call
//! `get_or_insert_with` on it once; the loader sleeps `--load-ms` (a slow
//! backend). Entries live `--ttl-ms`. Three caches:
//! - `expiry only`: the clock jumps to the entry's deadline; every caller
//!   waits for the reload;
//! - `refresh_after` (3/4 of the lifetime): the clock jumps past it, not to
//!   the deadline; one caller reloads inline (it waits) and the others get
//!   the stale value;
//! - `refresh_after + executor`: a refresher on a spawned thread reloads;
//!   no caller waits.
//!
//! Between rounds the driver pauses a little longer than a load, so that a
//! refresh on the executor lands, as it would in real time. The clock is
//! manual so that every round meets the key at the same point of its life,
//! whatever the machine's load; latencies are real (`Instant`).
//!
//! ```text
//! cargo run --release --example refresh -- --rounds 200 --svg docs/img/refresh_latency.svg
//! ```

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use shardcache::{Cache, Clock};

struct Args {
    threads: usize,
    rounds: u64,
    load_ms: u64,
    ttl_ms: u64,
    svg: Option<String>,
}

fn args() -> Args {
    let mut args = Args {
        threads: 8,
        rounds: 100,
        load_ms: 20,
        ttl_ms: 200,
        svg: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--threads" => args.threads = value().parse().expect("--threads N"),
            "--rounds" => args.rounds = value().parse().expect("--rounds N"),
            "--load-ms" => args.load_ms = value().parse().expect("--load-ms MS"),
            "--ttl-ms" => args.ttl_ms = value().parse().expect("--ttl-ms MS"),
            "--svg" => args.svg = Some(value()),
            other => panic!("unknown flag {other}; see the example's docs"),
        }
    }
    args
}

/// A clock the driver moves.
#[derive(Clone)]
struct ManualClock(Instant, Arc<AtomicU64>);

impl ManualClock {
    fn new() -> Self {
        ManualClock(Instant::now(), Arc::new(AtomicU64::new(0)))
    }
    fn advance(&self, by: Duration) {
        self.1.fetch_add(by.as_nanos() as u64, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.0 + Duration::from_nanos(self.1.load(Ordering::SeqCst))
    }
}

/// Every call: (round, latency in µs).
type Samples = Vec<(u64, u64)>;

/// `rounds` rounds: the clock jumps by `step`, then the herd calls once.
fn herd(cache: Cache<u64, u64>, clock: &ManualClock, step: Duration, args: &Args) -> Samples {
    let cache = Arc::new(cache);
    let load = Duration::from_millis(args.load_ms);
    cache.get_or_insert_with(0, || 0);
    let go = Arc::new(Barrier::new(args.threads + 1));
    let done = Arc::new(Barrier::new(args.threads + 1));
    let rounds = args.rounds;
    let threads: Vec<_> = (0..args.threads)
        .map(|_| {
            let (cache, go, done) = (cache.clone(), go.clone(), done.clone());
            thread::spawn(move || {
                let mut samples = Vec::new();
                for round in 0..rounds {
                    go.wait();
                    let t = Instant::now();
                    cache.get_or_insert_with(0, || {
                        thread::sleep(load);
                        round + 1
                    });
                    samples.push((round, t.elapsed().as_micros() as u64));
                    done.wait();
                }
                samples
            })
        })
        .collect();
    for _ in 0..rounds {
        clock.advance(step);
        go.wait();
        done.wait();
        thread::sleep(load + Duration::from_millis(10));
    }
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

fn run(
    name: &'static str,
    color: &'static str,
    cache: Cache<u64, u64>,
    clock: &ManualClock,
    step: Duration,
    args: &Args,
) -> Run {
    let samples = herd(cache, clock, step, args);
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
    // Past refresh_after, before the deadline.
    let stale = (refresh + ttl) / 2;
    let load = Duration::from_millis(args.load_ms);
    let base = |clock: &ManualClock| {
        Cache::builder()
            .capacity(1024)
            .time_to_live(ttl)
            .clock(clock.clone())
    };
    let runs = [
        {
            let clock = ManualClock::new();
            let cache = base(&clock).build();
            run("expiry only", "#d62728", cache, &clock, ttl, &args)
        },
        {
            let clock = ManualClock::new();
            let cache = base(&clock).refresh_after(refresh).build();
            run("refresh_after", "#1f77b4", cache, &clock, stale, &args)
        },
        {
            let clock = ManualClock::new();
            let cache = base(&clock)
                .refresh_after(refresh)
                .refresher(move |_: &u64, stale: &u64| {
                    thread::sleep(load);
                    Some(stale + 1)
                })
                .executor(|task: Box<dyn FnOnce() + Send>| {
                    thread::spawn(task);
                })
                .build();
            let name = "refresh_after + executor";
            run(name, "#2ca02c", cache, &clock, stale, &args)
        },
    ];
    println!(
        "{} threads on one key per round, {} rounds; loader {} ms, time_to_live {} ms, \
         refresh_after {} ms",
        args.threads,
        args.rounds,
        args.load_ms,
        args.ttl_ms,
        refresh.as_millis()
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
    println!("(waited: calls that took at least half a load)");
    if let Some(path) = &args.svg {
        std::fs::write(path, svg(&runs, &args)).expect("write the SVG");
        println!("plot written to {path}");
    }
}

/// Each round's worst latency, one line per cache; the legend gives each
/// cache's p50 / p99 / max over every call.
fn svg(runs: &[Run], args: &Args) -> String {
    const W: f64 = 760.0;
    const H: f64 = 340.0;
    const LEFT: f64 = 60.0;
    const RIGHT: f64 = 20.0;
    const TOP: f64 = 30.0;
    const BOTTOM: f64 = 110.0;
    let span = args.rounds.saturating_sub(1).max(1);
    let top = runs.iter().map(|r| r.max).max().unwrap_or(1).max(1) as f64 * 1.1;
    let x = |round: u64| LEFT + (round as f64 / span as f64) * (W - LEFT - RIGHT);
    let y = |us: f64| TOP + (1.0 - us / top) * (H - TOP - BOTTOM);
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(out, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let _ = writeln!(
        out,
        r#"<text x="{}" y="18" font-size="14">Worst latency per round: {} threads meet a hot key as it needs a reload (loader {} ms, TTL {} ms)</text>"#,
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
    let every = (span / 5).max(1);
    let mut round = 0;
    while round <= span {
        let _ = writeln!(
            out,
            r#"<text x="{}" y="{}" text-anchor="middle">round {round}</text>"#,
            x(round),
            y0 + 16.0
        );
        round += every;
    }
    // One line per run.
    for r in runs {
        let mut worst = vec![0u64; args.rounds as usize];
        for &(round, latency) in &r.samples {
            worst[round as usize] = worst[round as usize].max(latency);
        }
        let points: Vec<String> = worst
            .iter()
            .enumerate()
            .map(|(i, &l)| format!("{:.1},{:.1}", x(i as u64), y(l as f64)))
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
