//! Shared set-up for the loom models.

#![allow(dead_code)]

use std::collections::hash_map::DefaultHasher;
use std::hash::BuildHasherDefault;
use std::io::Write;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::Mutex;

use shardcache::Cache;

/// A fixed hasher, so every run of a model hashes alike.
pub type Fixed = BuildHasherDefault<DefaultHasher>;

/// A one-shard cache of `capacity` with the fixed hasher.
pub fn cache(capacity: u64) -> Cache<u64, u64, Fixed> {
    Cache::builder()
        .capacity(capacity)
        .shards(1)
        .hasher(Fixed::default())
        .build()
}

/// `cache`, with a weigher: a value `v` weighs `v % 3 + 1` (5 weighs 3,
/// 100 weighs 2).
pub fn weighted_cache(capacity: u64) -> Cache<u64, u64, Fixed> {
    Cache::builder()
        .capacity(capacity)
        .shards(1)
        .hasher(Fixed::default())
        .weigher(|_key: &u64, value: &u64| value % 3 + 1)
        .build()
}

/// Runs the model of the calling test (named after it) with a bound on
/// preemptions; see [`model_named`].
pub fn model(bound: usize, f: impl Fn() + Sync + Send + 'static) {
    let name = std::thread::current()
        .name()
        .unwrap_or("unnamed model")
        .to_string();
    model_named(&name, bound, f);
}

/// The last panic of the model being checked: its message and location.
static LAST_PANIC: Mutex<Option<String>> = Mutex::new(None);

/// Writes to the real stderr, past the test harness's capture: a model
/// that deadlocks aborts the process, and captured output dies with it.
fn report(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(text.as_bytes());
    let _ = err.flush();
}

/// Runs a model, as `loom::model` does, with a bound on preemptions
/// (LOOM_MAX_PREEMPTIONS overrides it; every other `LOOM_*` variable works
/// as loom documents, LOOM_LOG included).
///
/// Panic messages are silenced (models panic on purpose inside
/// `catch_unwind`, and loom would print each one thousands of times), but
/// the last one is kept. If the model fails, the helper prints, past the
/// test harness's capture, the model's `name`, the panic and loom's failing
/// schedule: it runs the model again recording each schedule in a
/// checkpoint file (so the file ends holding the failing one), then replays
/// that schedule alone with loom's log (`LOOM_LOG=trace`, `LOOM_LOCATION`)
/// printed, and says how to replay it by hand. A deadlock (or any other
/// failure raised inside loom's scheduler) aborts the process instead of
/// unwinding, so there is no second run: the panic hook prints the name and
/// loom's message, and how to record and replay the schedule.
/// `SHARDCACHE_LOOM_REPLAY=0` skips the replay (the mutation check does).
pub fn model_named(name: &str, bound: usize, f: impl Fn() + Sync + Send + 'static) {
    let hook_name = name.to_string();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(non-string panic payload)".to_string());
        let location = info
            .location()
            .map_or_else(String::new, |l| format!(" at {}:{}", l.file(), l.line()));
        let text = format!("{message}{location}");
        // loom's own failures (deadlock, too many branches, a leak) are
        // raised inside its scheduler, where they abort: report them now.
        let in_loom = info.location().is_some_and(|l| {
            let file = l.file().replace('\\', "/");
            file.contains("/loom-") || file.contains("/loom/src/")
        });
        if in_loom {
            report(&format!(
                "\nloom model `{hook_name}` FAILED inside loom (the process may abort): {text}\n\
                 To record the failing schedule and replay it with loom's log:\n  {}\n",
                replay_help(&hook_name)
            ));
        }
        if let Ok(mut last) = LAST_PANIC.lock() {
            *last = Some(text);
        }
    }));
    let f = std::sync::Arc::new(f);
    let g = f.clone();
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        check(bound, None, false, move || g());
    }));
    if let Err(panic) = outcome {
        let last = LAST_PANIC.lock().ok().and_then(|mut l| l.take());
        report(&format!(
            "\nloom model `{name}` FAILED: {}\n",
            last.as_deref().unwrap_or("(no panic message)")
        ));
        if std::env::var("SHARDCACHE_LOOM_REPLAY").as_deref() != Ok("0")
            && std::env::var_os("LOOM_CHECKPOINT_FILE").is_none()
        {
            replay(name, bound, f);
        } else {
            report(&format!(
                "To record and replay the failing schedule:\n  {}\n",
                replay_help(name)
            ));
        }
        let _ = std::panic::take_hook();
        resume_unwind(panic);
    }
    let _ = std::panic::take_hook();
}

/// One loom run of `f`: the LOOM_* environment as `loom::model` reads it,
/// the model's preemption bound unless LOOM_MAX_PREEMPTIONS is set, and, for
/// a replay, a checkpoint file (written every iteration, or read) and
/// loom's log.
fn check(
    bound: usize,
    checkpoint: Option<&PathBuf>,
    logged: bool,
    f: impl Fn() + Sync + Send + 'static,
) {
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = if logged {
        tracing_subscriber::EnvFilter::new("trace")
    } else {
        tracing_subscriber::EnvFilter::from_env("LOOM_LOG")
    };
    let builder = tracing_subscriber::fmt::Subscriber::builder()
        .with_env_filter(filter)
        .with_ansi(false)
        .without_time();
    // A replay's log goes to the real stderr, past the harness's capture.
    let _log = if logged {
        builder.with_writer(std::io::stderr).finish().set_default()
    } else {
        builder.with_test_writer().finish().set_default()
    };
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(bound);
    }
    // Sequenced models spin (`yield_now`) until another thread has
    // registered; each spin is a branch, so allow longer paths than loom's
    // default 1,000.
    builder.max_branches = builder.max_branches.max(20_000);
    if let Some(path) = checkpoint {
        builder.checkpoint_file = Some(path.clone());
        builder.checkpoint_interval = 1;
    }
    if logged {
        builder.log = true;
        builder.location = true;
    }
    builder.check(f);
}

/// The checkpoint file of a failing model's schedule.
fn checkpoint_path(name: &str) -> PathBuf {
    let dir = option_env!("CARGO_TARGET_TMPDIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let file: String = name
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { '_' })
        .collect();
    dir.join(format!("loom-{file}.json"))
}

fn replay_help(name: &str) -> String {
    let file = checkpoint_path(name);
    let test = name.split(" (").next().unwrap_or(name);
    format!(
        "LOOM_CHECKPOINT_FILE={f} LOOM_CHECKPOINT_INTERVAL=1 <the loom test command> {test} -- --exact\n  \
         then: LOOM_CHECKPOINT_FILE={f} LOOM_LOG=trace LOOM_LOCATION=1 <the same command>\n  \
         (the loom test command: RUSTFLAGS=\"--cfg shardcache_loom\" cargo test --profile loom --test <its file's loom_* target>; see docs/testing.md)",
        f = file.display()
    )
}

/// Finds the failing schedule again, recording each one in a checkpoint
/// file, then replays it with loom's log printed.
fn replay(name: &str, bound: usize, f: std::sync::Arc<impl Fn() + Sync + Send + 'static>) {
    let path = checkpoint_path(name);
    let _ = std::fs::remove_file(&path);
    report(&format!(
        "Recording the failing schedule in {} ...\n",
        path.display()
    ));
    let g = f.clone();
    let recorded = catch_unwind(AssertUnwindSafe(|| {
        check(bound, Some(&path), false, move || g());
    }));
    if recorded.is_ok() {
        report("The second run passed: the model is not deterministic.\n");
        return;
    }
    if let Ok(schedule) = std::fs::read_to_string(&path) {
        report(&format!(
            "loom's failing schedule (its checkpoint):\n{schedule}\n"
        ));
    }
    report(&format!(
        "Replaying it with loom's log (LOOM_LOG=trace, LOOM_LOCATION=1):\n\
         --- `{name}`: loom log of the failing schedule ---\n"
    ));
    // The replay starts with the failing schedule, and fails again there.
    let _ = catch_unwind(AssertUnwindSafe(|| {
        check(bound, Some(&path), true, move || f());
    }));
    report(&format!(
        "--- end of `{name}`'s log ---\nTo replay it by hand:\n  {}\n",
        replay_help(name)
    ));
}

/// A one-shot signal between model threads. (loom's `Notify` may wake
/// spuriously, so it cannot sequence a model on its own.)
#[derive(Default)]
pub struct Signal(loom::sync::atomic::AtomicBool);

impl Signal {
    pub fn set(&self) {
        self.0.store(true, loom::sync::atomic::Ordering::SeqCst);
    }

    pub fn wait(&self) {
        while !self.0.load(loom::sync::atomic::Ordering::SeqCst) {
            loom::thread::yield_now();
        }
    }
}
