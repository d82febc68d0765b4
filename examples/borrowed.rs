//! Borrowed-key lookups on `String` keys, all hits, three ways side by side
//! in one process, in alternating rounds:
//!
//! - `shardcache get_or_insert_with_ref(&str)`: hashes and compares the
//!   `&str`, allocates nothing;
//! - `shardcache get_or_insert_with(key.to_owned())`: what a caller without
//!   the borrowed form writes, one `String` allocation (and free) per call;
//! - `quick_cache get_or_insert_with(&str)`: quick_cache's borrowed lookup.
//!
//! Each round runs every contender on the same trace of keys (Zipf 1.0 over
//! 10,000 keys, all cached), in a rotating order; the table gives the
//! median over rounds of each one's ns per call and of its time relative to
//! `get_or_insert_with_ref`. One thread: this measures the cost of a call,
//! not contention.
//!
//! ```text
//! cargo run --release --example borrowed -- [--rounds 15] [--ops 1000000]
//! ```

#[path = "../benches/support/mod.rs"]
mod support;

use std::hint::black_box;
use std::time::Instant;

use support::zipf_trace;

const KEYS: u64 = 10_000;

fn main() {
    let mut rounds = 15;
    let mut ops = 1_000_000;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().and_then(|v| v.parse().ok());
        match (arg.as_str(), value) {
            ("--rounds", Some(v)) => rounds = v,
            ("--ops", Some(v)) => ops = v,
            _ => {
                eprintln!("usage: borrowed [--rounds N] [--ops N]");
                std::process::exit(2);
            }
        }
    }
    let names: Vec<String> = (0..KEYS).map(|i| format!("user:{i:08}:profile")).collect();
    let trace: Vec<&str> = zipf_trace(ops, KEYS, 1.0, 42)
        .into_iter()
        .map(|k| names[(k % KEYS) as usize].as_str())
        .collect();

    let ours: shardcache::Cache<String, u64> = shardcache::Cache::new(2 * KEYS);
    let theirs: quick_cache::sync::Cache<String, u64> =
        quick_cache::sync::Cache::new(2 * KEYS as usize);
    for (i, name) in names.iter().enumerate() {
        ours.insert(name.clone(), i as u64);
        theirs.insert(name.clone(), i as u64);
    }

    type Run<'a> = Box<dyn Fn(&[&str]) -> u64 + 'a>;
    let contenders: Vec<(&str, Run)> = vec![
        (
            "shardcache get_or_insert_with_ref(&str)",
            Box::new(|trace: &[&str]| {
                trace
                    .iter()
                    .map(|k| ours.get_or_insert_with_ref(*k, || unreachable!()))
                    .sum()
            }),
        ),
        (
            "shardcache get_or_insert_with(key.to_owned())",
            Box::new(|trace: &[&str]| {
                trace
                    .iter()
                    .map(|k| ours.get_or_insert_with(k.to_string(), || unreachable!()))
                    .sum()
            }),
        ),
        (
            "quick_cache get_or_insert_with(&str)",
            Box::new(|trace: &[&str]| {
                trace
                    .iter()
                    .map(|k| {
                        theirs
                            .get_or_insert_with(*k, || Err::<u64, ()>(()))
                            .unwrap()
                    })
                    .sum()
            }),
        ),
    ];

    let mut nanos: Vec<Vec<f64>> = vec![Vec::new(); contenders.len()];
    let mut ratios: Vec<Vec<f64>> = vec![Vec::new(); contenders.len()];
    let expected: u64 = contenders[0].1(&trace);
    for round in 0..rounds {
        let mut this_round = vec![0.0; contenders.len()];
        for j in 0..contenders.len() {
            let i = (round + j) % contenders.len();
            let start = Instant::now();
            let sum = black_box(contenders[i].1(black_box(&trace)));
            this_round[i] = start.elapsed().as_nanos() as f64 / ops as f64;
            assert_eq!(sum, expected, "{} returned other values", contenders[i].0);
        }
        for i in 0..contenders.len() {
            nanos[i].push(this_round[i]);
            ratios[i].push(this_round[i] / this_round[0]);
        }
    }
    println!("String keys, all hits, Zipf 1.0 over {KEYS} keys, one thread, {ops} calls x {rounds} rounds");
    println!();
    println!(
        "| call | ns per call (median) | time vs `get_or_insert_with_ref` (median of rounds) |"
    );
    println!("| --- | ---: | ---: |");
    for (i, (name, _)) in contenders.iter().enumerate() {
        println!(
            "| {name} | {:.1} | {:.2}x |",
            median(&mut nanos[i]),
            median(&mut ratios[i])
        );
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}
