//! Shared set-up for the loom models.

#![allow(dead_code)]

use std::cell::RefCell;
use std::collections::hash_map::DefaultHasher;
use std::hash::BuildHasherDefault;
use std::io::Write;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::Once;

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
    model_named(&test_name(), bound, f);
}

/// The running test's name (the harness names its thread after it).
fn test_name() -> String {
    std::thread::current()
        .name()
        .unwrap_or("unnamed model")
        .to_string()
}

/// The model this test thread is checking. loom runs a model's threads as
/// coroutines on its test's thread, so the panic hook (one for the whole
/// process, [`install_hook`]) finds here the model that panicked, though
/// the harness runs several tests at once.
struct Running {
    name: String,
    test: String,
    /// Whether an aborting failure was already recorded and replayed.
    replayed: bool,
    /// The model's last panic: its message and location.
    last_panic: Option<String>,
}

thread_local! {
    static RUNNING: RefCell<Option<Running>> = const { RefCell::new(None) };
}

/// Installs, once, the panic hook of the models: outside a model it is the
/// default hook; inside one it silences the panic but keeps it as the
/// model's last (models panic on purpose inside `catch_unwind`, and loom
/// would print each one thousands of times), and reports a failure raised
/// inside loom's scheduler at once, since a deadlock there aborts the
/// process.
fn install_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let in_model = RUNNING
                .try_with(|running| running.borrow().is_some())
                .unwrap_or(false);
            if in_model {
                model_panicked(info);
            } else {
                default(info);
            }
        }));
    });
}

/// The hook's work for a panic inside a model.
fn model_panicked(info: &std::panic::PanicHookInfo<'_>) {
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
    // loom's own failures (deadlock, too many branches, a leak) are raised
    // inside its scheduler, where some abort the process: report them now.
    let in_loom = info.location().is_some_and(|l| {
        let file = l.file().replace('\\', "/");
        file.contains("/loom-") || file.contains("/loom/src/")
    });
    let first_abort = RUNNING.with(|running| {
        let mut running = running.borrow_mut();
        let run = running.as_mut()?;
        run.last_panic = Some(text.clone());
        (in_loom && !std::mem::replace(&mut run.replayed, true))
            .then(|| (run.name.clone(), run.test.clone()))
    });
    if let Some((name, test)) = first_abort {
        report(&format!(
            "\nloom model `{name}` FAILED inside loom's scheduler: {text}\n"
        ));
        if replays() {
            replay_in_children(&name, &test);
        } else if std::env::var_os("SHARDCACHE_LOOM_CHILD").is_none() {
            report(&format!(
                "To record the failing schedule and replay it with loom's log:\n  {}\n",
                replay_help(&name)
            ));
        }
    }
}

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
/// printed, and says how to replay it by hand. A deadlock aborts the
/// process instead of unwinding (other failures raised inside loom's
/// scheduler may too): the panic hook prints the name and loom's message,
/// then runs this test twice more in child processes, to record the
/// failing schedule and to replay it with loom's log, before the process
/// aborts.
/// `SHARDCACHE_LOOM_REPLAY=0` skips the replays (the mutation check does).
pub fn model_named(name: &str, bound: usize, f: impl Fn() + Sync + Send + 'static) {
    install_hook();
    RUNNING.with(|running| {
        *running.borrow_mut() = Some(Running {
            name: name.to_string(),
            test: test_name(),
            replayed: false,
            last_panic: None,
        })
    });
    let f = std::sync::Arc::new(f);
    let g = f.clone();
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        check(bound, None, false, move || g());
    }));
    if outcome.is_err() {
        let last = RUNNING.with(|running| running.borrow_mut().as_mut()?.last_panic.take());
        report(&format!(
            "\nloom model `{name}` FAILED: {}\n",
            last.as_deref().unwrap_or("(no panic message)")
        ));
        if replays() {
            replay(name, bound, f);
        } else {
            report(&format!(
                "To record and replay the failing schedule:\n  {}\n",
                replay_help(name)
            ));
        }
    }
    RUNNING.with(|running| running.borrow_mut().take());
    if let Err(panic) = outcome {
        resume_unwind(panic);
    }
}

/// Whether a failure is recorded and replayed (not when the caller records
/// or replays it already, nor in the mutation check).
fn replays() -> bool {
    std::env::var("SHARDCACHE_LOOM_REPLAY").as_deref() != Ok("0")
        && std::env::var_os("LOOM_CHECKPOINT_FILE").is_none()
}

/// After a failure that aborts: runs `test` again in a child process that
/// records each schedule in a checkpoint file (it fails at the same
/// schedule, which the file then holds), then in one that replays it with
/// loom's log.
fn replay_in_children(name: &str, test: &str) {
    let path = checkpoint_path(name);
    let _ = std::fs::remove_file(&path);
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let run = |log: bool| {
        let mut child = std::process::Command::new(&exe);
        child
            .args([test, "--exact", "--nocapture", "--test-threads=1"])
            .env("LOOM_CHECKPOINT_FILE", &path)
            .env("SHARDCACHE_LOOM_REPLAY", "0")
            .env("SHARDCACHE_LOOM_CHILD", "1");
        if log {
            // The log goes to the child's stdout (`--nocapture`).
            child.env("LOOM_LOG", "trace").env("LOOM_LOCATION", "1");
        } else {
            child
                .env("LOOM_CHECKPOINT_INTERVAL", "1")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null());
        }
        child.status()
    };
    report(&format!(
        "Recording the failing schedule in {} (a child process) ...\n",
        path.display()
    ));
    let _ = run(false);
    match std::fs::read_to_string(&path) {
        Ok(schedule) => report(&format!("{}\n", summarize(&schedule))),
        Err(_) => return,
    }
    report(&format!(
        "Replaying it with loom's log (LOOM_LOG=trace, LOOM_LOCATION=1):\n\
         --- `{name}`: loom log of the failing schedule ---\n"
    ));
    let _ = run(true);
    report(&format!(
        "--- end of `{name}`'s log ---\nTo replay it by hand:\n  {}\n",
        replay_help(name)
    ));
}

/// loom's recorded schedule (a checkpoint file, JSON), readably: the thread
/// loom ran at each of its scheduling choices, run-length encoded, and the
/// spurious wake-ups (a timed wait's timeout) it chose. The schedule goes
/// up to loom's last choice; after it the running thread keeps running.
fn summarize(checkpoint: &str) -> String {
    const MARKERS: [&str; 3] = ["{\"Schedule\":", "{\"Spurious\":", "{\"Load\":"];
    const THREADS: &str = "\"threads\":[";
    let mut steps: Vec<String> = Vec::new();
    let mut rest = checkpoint;
    while let Some((at, marker)) = MARKERS
        .iter()
        .filter_map(|m| rest.find(m).map(|at| (at, *m)))
        .min()
    {
        rest = &rest[at + marker.len()..];
        let step = if marker == MARKERS[1] {
            if rest.starts_with("{\"spur\":true") {
                "timeout".to_string()
            } else {
                "woken".to_string()
            }
        } else if marker == MARKERS[2] {
            "atomic-load".to_string()
        } else {
            let threads = rest
                .find(THREADS)
                .map(|i| &rest[i + THREADS.len()..])
                .and_then(|t| t.find(']').map(|end| &t[..end]));
            match threads.and_then(|t| t.split(',').position(|s| s.trim() == "\"Active\"")) {
                Some(thread) => format!("t{thread}"),
                None => continue,
            }
        };
        steps.push(step);
    }
    let mut runs: Vec<(String, usize)> = Vec::new();
    for step in steps {
        match runs.last_mut() {
            Some((last, count)) if *last == step => *count += 1,
            _ => runs.push((step, 1)),
        }
    }
    let runs: Vec<String> = runs
        .into_iter()
        .map(|(step, count)| {
            if count == 1 {
                step
            } else {
                format!("{step}x{count}")
            }
        })
        .collect();
    format!(
        "loom's failing schedule (the thread run at each scheduling choice, t0 the model's own):\n  {}",
        runs.join(" ")
    )
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
        report(&format!("{}\n", summarize(&schedule)));
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
