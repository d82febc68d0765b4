//! Latency of the tier's read paths next to a plain `redis` GET: an L1 hit,
//! an L2 hit (L1 miss), and a load (L1 and L2 miss: GET, loader, SET).
//!
//! Starts its own redis-server on a free 127.0.0.1 port (it must be on the
//! PATH: `apt-get install -y redis-server`). Run with
//! `cargo bench -p shardcache-redis --bench tier`.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use shardcache_redis::TieredCache;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_server() -> (Server, String) {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server not found: install it with `apt-get install -y redis-server`");
    let server = Server(child);
    let url = format!("redis://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while redis::Client::open(url.as_str())
        .and_then(|client| client.get_connection())
        .is_err()
    {
        assert!(Instant::now() < deadline, "redis-server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    (server, url)
}

fn tier(c: &mut Criterion) {
    let (_server, url) = start_server();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let cache: TieredCache<u64, String> = runtime.block_on(async {
        let l1 = shardcache::CacheBuilder::new().capacity(100_000);
        TieredCache::builder(l1, url.as_str(), "bench:")
            .build()
            .await
            .unwrap()
    });
    let value = "x".repeat(100);
    runtime.block_on(cache.insert(1, value.clone())).unwrap();
    let mut plain = runtime.block_on(async {
        redis::Client::open(url.as_str())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    });
    let name = cache.redis_key(&1).unwrap();

    let mut group = c.benchmark_group("tier");
    group
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    group.bench_function("l1_hit", |b| {
        b.iter(|| runtime.block_on(cache.get_or_insert_async(1, async { unreachable!() })))
    });
    group.bench_function("l2_hit", |b| {
        b.iter(|| {
            cache.l1().remove(&1);
            runtime.block_on(cache.get_or_insert_async(1, async { unreachable!() }))
        })
    });
    let mut next = 1_000_000u64;
    group.bench_function("load (GET miss, loader, SET)", |b| {
        b.iter(|| {
            next += 1;
            runtime.block_on(cache.get_or_insert_async(next, async { value.clone() }))
        })
    });
    group.bench_function("plain redis GET", |b| {
        b.iter(|| {
            runtime.block_on(async {
                redis::cmd("GET")
                    .arg(&name)
                    .query_async::<Option<Vec<u8>>>(&mut plain)
                    .await
                    .unwrap()
            })
        })
    });
    group.finish();
}

criterion_group!(benches, tier);
criterion_main!(benches);
