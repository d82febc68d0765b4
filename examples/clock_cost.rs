//! What a clock read costs, alone and inside a loop that stands in for a
//! hit on a large cache: the figures behind "Time source" in
//! `docs/expiry.md`.
//!
//! First each time source in a loop of reads alone. Then a loop of random
//! accesses over 32 MiB, each between a locked increment and a locked
//! decrement of a shared word (a lock taken and released), run without a
//! clock read and then with one read per iteration; the difference is what
//! the read adds inside such a loop. A seqlock read of a static, in a
//! function of our own, is measured the same way for comparison. The two
//! clocks are Linux's; elsewhere both rows read `Instant`.
//!
//! ```text
//! cargo run --release --example clock_cost
//! ```

use std::hint::black_box;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Instant;

/// Reads per figure.
const READS: u64 = 20_000_000;
/// Iterations of the access loop per figure.
const ACCESSES: u64 = 20_000_000;
/// The access loop's array: 2^23 `u32`s, 32 MiB.
const SLOTS: usize = 1 << 23;

#[cfg(target_os = "linux")]
fn coarse() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::MonotonicCoarse);
    (t.tv_sec as u64) * 1_000_000_000 + t.tv_nsec as u64
}

#[cfg(target_os = "linux")]
fn precise() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    (t.tv_sec as u64) * 1_000_000_000 + t.tv_nsec as u64
}

#[cfg(not(target_os = "linux"))]
fn coarse() -> u64 {
    precise()
}

#[cfg(not(target_os = "linux"))]
fn precise() -> u64 {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// `Instant::now()` then `elapsed()`: two reads, as code that times
/// itself makes.
fn instant_pair() -> u64 {
    let start = Instant::now();
    start.elapsed().as_nanos() as u64
}

/// A sequence number and a time, as the kernel's vDSO data page keeps
/// them (`main` writes them once, so that the compiler cannot fold the
/// reads).
static SEQ: AtomicU32 = AtomicU32::new(0);
static TIME: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];

/// A seqlock read of [`TIME`], the shape of the vDSO's coarse read, kept
/// out of line as a call into the vDSO is.
#[inline(never)]
fn seqlock() -> u64 {
    loop {
        let seq = SEQ.load(Ordering::Acquire);
        let (sec, nsec) = (
            TIME[0].load(Ordering::Relaxed),
            TIME[1].load(Ordering::Relaxed),
        );
        if SEQ.load(Ordering::Acquire) == seq {
            return sec * 1_000_000_000 + nsec;
        }
    }
}

/// Nanoseconds per call of `read` in a loop of calls alone.
fn alone(read: impl Fn() -> u64) -> f64 {
    let start = Instant::now();
    let mut sum = 0u64;
    for _ in 0..READS {
        sum = sum.wrapping_add(read());
    }
    black_box(sum);
    start.elapsed().as_nanos() as f64 / READS as f64
}

/// Nanoseconds per iteration of the access loop, with `read` called once
/// in each iteration if given.
fn accesses(slots: &[AtomicU32], lock: &AtomicU32, read: Option<impl Fn() -> u64>) -> f64 {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut sum = 0u64;
    let start = Instant::now();
    for _ in 0..ACCESSES {
        // xorshift: the next slot, unknown to the prefetcher.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let now = read.as_ref().map_or(0, |read| read());
        lock.fetch_add(1, Ordering::Acquire);
        let value = slots[x as usize & (SLOTS - 1)].load(Ordering::Relaxed);
        lock.fetch_sub(1, Ordering::Release);
        sum = sum.wrapping_add(u64::from(value) ^ now);
    }
    black_box(sum);
    start.elapsed().as_nanos() as f64 / ACCESSES as f64
}

/// The median of three runs of `run`.
fn median(mut run: impl FnMut() -> f64) -> f64 {
    let mut runs = [run(), run(), run()];
    runs.sort_by(f64::total_cmp);
    runs[1]
}

/// Prints the row of one time source.
fn row(name: &str, read: impl Fn() -> u64 + Copy, slots: &[AtomicU32]) {
    let lock = AtomicU32::new(0);
    let alone = median(|| alone(read));
    let without = median(|| accesses(slots, &lock, None::<fn() -> u64>));
    let with = median(|| accesses(slots, &lock, Some(read)));
    println!(
        "| {name} | {alone:.1} | {:.1} ({without:.1} → {with:.1}) |",
        with - without
    );
}

fn main() {
    SEQ.store(black_box(2), Ordering::Release);
    TIME[0].store(black_box(1), Ordering::Relaxed);
    TIME[1].store(black_box(2), Ordering::Relaxed);
    let slots: Vec<AtomicU32> = (0..SLOTS as u32).map(AtomicU32::new).collect();
    println!("| source | ns per read, alone | ns added inside the access loop (without → with) |");
    println!("| --- | ---: | ---: |");
    row("coarse clock (`CLOCK_MONOTONIC_COARSE`)", coarse, &slots);
    row("precise clock (`CLOCK_MONOTONIC`)", precise, &slots);
    row(
        "`Instant::now()` + `elapsed()` (two reads)",
        instant_pair,
        &slots,
    );
    row("seqlock read of a static, out of line", seqlock, &slots);
}
