//! Two caches measured side by side in one process, in alternation: the
//! ratio of their throughputs on the same trace windows, round by round.
//!
//! On a shared, noisy machine a criterion cell can move by 2× between two
//! processes running the same code on the same trace (page placement,
//! neighbours). Both caches here live in one process and take turns on each
//! window, so whatever disturbs one round disturbs both; the figure is the
//! median of the per-round ratios. It answers "how fast is B relative to A", not
//! "how fast is A"; the workloads and the caches are those of
//! `benches/contention.rs`. Both caches are alive at once, so the working
//! set is the sum of theirs: on the all-hits workload (2^20 entries each)
//! that changes the regime measured, see `docs/benchmarks.md`. Two
//! identical caches measure alike only if neither is favoured by order:
//! the two take strict turns (a cache measured right after its own pass
//! ran up to 10% faster), and the rounds are spread over four fresh pairs
//! of caches, built in alternating order (one instance of a cache can run
//! up to 10% faster than the next, by where its memory lands). A bias of a
//! few percent for B remains at one thread, so run a comparison both ways
//! and take the geometric mean, as `docs/benchmarks.md` does.
//!
//! ```text
//! cargo run --release --example ab -- [--a shardcache] [--b shardcache-tinylfu]
//!     [--workload read-through|all-hits|write-heavy] [--zipf 1.0]
//!     [--threads 1,2,8] [--rounds 20]
//! ```
//!
//! Cache names: shardcache, shardcache-tinylfu, shardcache-ttl,
//! shardcache-ttl-due (all hits only), quick_cache, moka, moka-ttl,
//! lru-1mutex, lru-16mutex.

#[path = "../benches/support/mod.rs"]
mod support;

use support::{
    batch, get_op, make, read_through_op, scramble, write_heavy_op, zipf_trace, BenchCache,
};

const KEYS: u64 = 1 << 20;
const OPS: usize = 1 << 19;
const USAGE: &str =
    "usage: ab [--a NAME] [--b NAME] [--workload read-through|all-hits|write-heavy] \
                     [--zipf S] [--threads 1,2,8] [--rounds N]";

#[derive(Clone, Copy, PartialEq)]
enum Workload {
    ReadThrough,
    AllHits,
    WriteHeavy,
}

struct Args {
    a: String,
    b: String,
    workload: Workload,
    zipf: f64,
    threads: Vec<usize>,
    rounds: usize,
}

fn parse_args() -> Args {
    let mut args = Args {
        a: "shardcache".into(),
        b: "shardcache-tinylfu".into(),
        workload: Workload::ReadThrough,
        zipf: 1.0,
        threads: vec![1, 2, 8],
        rounds: 20,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .unwrap_or_else(|| panic!("{flag} needs a value\n{USAGE}"))
        };
        match flag.as_str() {
            "--a" => args.a = value(),
            "--b" => args.b = value(),
            "--workload" => {
                args.workload = match value().as_str() {
                    "read-through" => Workload::ReadThrough,
                    "all-hits" => Workload::AllHits,
                    "write-heavy" => Workload::WriteHeavy,
                    other => panic!("unknown workload {other}\n{USAGE}"),
                }
            }
            "--zipf" => args.zipf = value().parse().expect("--zipf takes a number"),
            "--threads" => {
                args.threads = value()
                    .split(',')
                    .map(|t| t.parse().expect("--threads takes numbers: 1,2,8"))
                    .collect()
            }
            "--rounds" => args.rounds = value().parse().expect("--rounds takes a number"),
            _ => panic!("unknown flag {flag}\n{USAGE}"),
        }
    }
    assert!(args.rounds > 0, "--rounds must be at least 1");
    assert!(
        args.threads.iter().all(|&t| t > 0),
        "--threads must be at least 1"
    );
    args
}

impl Workload {
    /// The bench's operation for this workload.
    fn op(self) -> fn(&dyn BenchCache, u64, usize) {
        match self {
            Workload::ReadThrough => read_through_op,
            Workload::AllHits => get_op,
            Workload::WriteHeavy => write_heavy_op,
        }
    }
}

/// Runs `window` split over `threads` and returns millions of operations
/// per second.
fn mops(
    pool: &rayon::ThreadPool,
    threads: usize,
    cache: &dyn BenchCache,
    window: &[u64],
    workload: Workload,
) -> f64 {
    let ops = window.len() / threads * threads;
    let elapsed = batch(pool, threads, cache, window, workload.op());
    ops as f64 / elapsed.as_secs_f64() / 1e6
}

/// Fresh pairs of caches per thread count (see the module docs).
const PAIRS: usize = 4;

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let args = parse_args();
    let capacity = if args.workload == Workload::AllHits {
        1 << 21
    } else {
        1 << 17
    };
    eprintln!(
        "generating the trace (Zipf {} over 2^20 keys)...",
        args.zipf
    );
    let trace = zipf_trace(OPS * 16, KEYS, args.zipf, 42);
    let windows: Vec<&[u64]> = trace.chunks_exact(OPS).collect();
    println!(
        "| threads | {a} Mops/s | {b} Mops/s | {b} ÷ {a}, median of {r} rounds | min–max |",
        a = args.a,
        b = args.b,
        r = args.rounds
    );
    println!("| ---: | ---: | ---: | ---: | ---: |");
    for &threads in &args.threads {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("a rayon pool");
        let (mut speed_a, mut speed_b, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        let build = |name: &str| {
            let cache = make(name, capacity);
            if args.workload == Workload::AllHits {
                for rank in 0..KEYS {
                    cache.insert(scramble(rank));
                }
            } else {
                // Warm up to the steady state, as the bench does.
                for window in &windows[..4] {
                    batch(&pool, threads, cache.as_ref(), window, read_through_op);
                }
            }
            cache.filled();
            cache
        };
        // Where a cache's memory lands (page placement, cache-set
        // conflicts) moves its throughput by up to 10% from one instance
        // to the next, and the one built second of a pair ran about 5%
        // faster. So the rounds are spread over fresh pairs, built in
        // alternating order.
        for pair in 0..PAIRS {
            let caches = if pair % 2 == 0 {
                let a = build(&args.a);
                [a, build(&args.b)]
            } else {
                let b = build(&args.b);
                [build(&args.a), b]
            };
            // A cache measured right after its own pass finds its hot set
            // still in the CPU's caches, and ran up to 10% faster. So the two
            // take strict turns, each pass right after the other cache's,
            // starting after an unmeasured pass of B.
            mops(
                &pool,
                threads,
                caches[1].as_ref(),
                windows[4],
                args.workload,
            );
            let rounds = (args.rounds * (pair + 1)).div_ceil(PAIRS) - speed_a.len();
            for _ in 0..rounds {
                let window = windows[4 + speed_a.len() % (windows.len() - 4)];
                let a = mops(&pool, threads, caches[0].as_ref(), window, args.workload);
                let b = mops(&pool, threads, caches[1].as_ref(), window, args.workload);
                speed_a.push(a);
                speed_b.push(b);
                ratios.push(b / a);
            }
        }
        let (low, high) = ratios
            .iter()
            .fold((f64::MAX, f64::MIN), |(l, h), &r| (l.min(r), h.max(r)));
        println!(
            "| {threads} | {:.2} | {:.2} | {:.2}× | {low:.2}–{high:.2} |",
            median(&mut speed_a),
            median(&mut speed_b),
            median(&mut ratios)
        );
    }
}
