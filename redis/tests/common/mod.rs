//! A real `redis-server` for the tests, started on a free port of
//! 127.0.0.1, and helpers to wait with a deadline.
#![allow(dead_code)]

use std::future::Future;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use shardcache_redis::TieredCache;

/// One `redis-server` process. It runs under a small shell that kills it
/// when its stdin closes, so it dies with the test binary even when
/// statics are not dropped.
pub struct Server {
    pub port: u16,
    pid: u32,
    shell: Child,
    stdin: Option<ChildStdin>,
}

fn require_redis_server() {
    let found = Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|status| status.success())
        .unwrap_or(false);
    assert!(
        found,
        "these tests need a real `redis-server` (7.x) on the PATH; install it with \
         `apt-get install -y redis-server` (Debian/Ubuntu)"
    );
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().unwrap().port()
}

impl Server {
    /// A server on a free port.
    pub fn start() -> Server {
        Server::start_on(free_port())
    }

    /// A server on `port` (to restart one where it was).
    pub fn start_on(port: u16) -> Server {
        require_redis_server();
        // --hz 100: active expiry runs every 10 ms, so an expired key is
        // deleted (and its invalidation sent) promptly.
        let script = format!(
            "redis-server --port {port} --bind 127.0.0.1 --save '' --appendonly no \
             --hz 100 --loglevel warning >/dev/null 2>&1 & p=$!; echo $p; read _; kill -9 $p; wait $p"
        );
        let mut shell = Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn sh");
        let mut line = String::new();
        BufReader::new(shell.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("read the server's pid");
        let pid = line.trim().parse().expect("the server's pid");
        let stdin = shell.stdin.take();
        let server = Server {
            port,
            pid,
            shell,
            stdin,
        };
        server.wait_ready();
        server
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(mut con) = self.plain() {
                if redis::cmd("PING").query::<String>(&mut con).is_ok() {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not start on port {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// A plain (RESP2, untracked) client, as another program would use.
    pub fn plain(&self) -> redis::RedisResult<redis::Connection> {
        redis::Client::open(self.url())?.get_connection_with_timeout(Duration::from_secs(2))
    }

    /// Sends `signal` (`STOP`, `CONT`) to the server: a stopped server
    /// accepts connections but answers nothing, as a hung one would.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([format!("-{signal}"), self.pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Kills the server at once (SIGKILL), as a crash would.
    pub fn kill(mut self) {
        let _ = Command::new("kill")
            .args(["-9", &self.pid.to_string()])
            .status();
        self.stdin.take();
        let _ = self.shell.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stdin.take();
        let _ = self.shell.wait();
    }
}

/// The test binary's shared server, started on first use.
pub fn shared() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(Server::start)
}

/// A tier with test settings: a short timeout, backoff and health check.
pub async fn tier(url: &str, namespace: &str) -> TieredCache<String, String> {
    tier_with_ttl(url, namespace, Duration::from_secs(60)).await
}

pub async fn tier_with_ttl(
    url: &str,
    namespace: &str,
    ttl: Duration,
) -> TieredCache<String, String> {
    let l1 = shardcache::CacheBuilder::new().capacity(1000);
    TieredCache::builder(l1, url, namespace)
        .ttl(ttl)
        .redis_timeout(Duration::from_millis(200))
        .backoff(Duration::from_millis(100))
        .health_check(Duration::from_millis(100))
        .build()
        .await
        .expect("valid test configuration")
}

/// Polls `condition` every 2 ms until it holds or `timeout` passes;
/// returns whether it held.
pub async fn eventually(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Runs `future` with a deadline, failing the test if it is passed.
pub async fn within<T>(timeout: Duration, what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(timeout, future)
        .await
        .unwrap_or_else(|_| panic!("{what} took more than {timeout:?}"))
}

/// `GET name` with a plain client.
pub fn plain_get(server: &Server, name: &[u8]) -> Option<Vec<u8>> {
    let mut con = server.plain().expect("plain client");
    redis::cmd("GET").arg(name).query(&mut con).expect("GET")
}

/// A loads `key` (its loader gives `value`, written to L2), then B reads it
/// from L2, once B has received the invalidation of A's write: an
/// invalidation that arrives while B loads would (rightly) keep B's copy
/// out of its L1. Both L1s then hold the key.
pub async fn load_into_both(
    a: &TieredCache<String, String>,
    b: &TieredCache<String, String>,
    key: &str,
    value: &str,
) {
    let seen = b.stats().invalidations;
    let loaded = within(
        Duration::from_secs(5),
        "A's load",
        a.get_or_insert_async(key.to_string(), async { value.to_string() }),
    )
    .await;
    assert_eq!(loaded, value);
    assert!(
        eventually(Duration::from_secs(1), || b.stats().invalidations > seen).await,
        "B never heard of A's write"
    );
    let read = within(
        Duration::from_secs(5),
        "B's read",
        b.get_or_insert_async(key.to_string(), async { panic!("B's loader must not run") }),
    )
    .await;
    assert_eq!(read, value);
    assert!(a.l1().contains_key(key) && b.l1().contains_key(key));
}
