//! Redis killed and restarted under two instances: reads keep working from
//! L1 and the loader within the timeout, writes report the failure, L1 is
//! cleared on reconnect, then caching through L2 and invalidation resume.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{eventually, load_into_both, tier, within, Server};
use shardcache_redis::{Codec, Postcard, TierError};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_degrades_to_l1_then_clears_it_and_resumes() {
    let server = Server::start();
    let port = server.port;
    let url = server.url();
    let a = tier(&url, "t-restart:").await;
    let b = tier(&url, "t-restart:").await;
    load_into_both(&a, &b, "warm", "w").await;

    server.kill();
    // A read during the outage: an L1 hit at once...
    let started = Instant::now();
    let warm = within(
        Duration::from_secs(1),
        "an L1 hit with Redis down",
        a.get_or_insert_async("warm".to_string(), async { unreachable!() }),
    )
    .await;
    assert_eq!(warm, "w");
    // ...and a cold key from the loader, bounded by the 200 ms timeout.
    let cold = within(
        Duration::from_secs(1),
        "a load with Redis down",
        a.get_or_insert_async("cold".to_string(), async { "loaded".to_string() }),
    )
    .await;
    assert_eq!(cold, "loaded");
    assert!(
        started.elapsed() < Duration::from_millis(800),
        "{:?}",
        started.elapsed()
    );
    assert!(
        eventually(Duration::from_secs(2), || !a.is_connected()
            && !b.is_connected())
        .await,
        "the loss was not noticed"
    );

    // Many reads while down: served, without an error storm.
    let errors_before = a.stats().l2_errors;
    let loads = AtomicUsize::new(0);
    let burst = Instant::now();
    for i in 0..500 {
        let value = a
            .get_or_insert_async(format!("down-{i}"), async {
                loads.fetch_add(1, Ordering::SeqCst);
                "x".to_string()
            })
            .await;
        assert_eq!(value, "x");
    }
    assert!(
        burst.elapsed() < Duration::from_secs(2),
        "{:?}",
        burst.elapsed()
    );
    assert_eq!(loads.load(Ordering::SeqCst), 500);
    let stats = a.stats();
    assert!(
        stats.l2_errors - errors_before <= 5,
        "backoff should skip Redis, not retry it per call: {stats:?}"
    );
    assert!(stats.l2_skipped >= 500, "{stats:?}");

    // An explicit write while down: L1 written, the caller told.
    let error = a
        .insert("during".to_string(), "d".to_string())
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            TierError::Unavailable | TierError::Redis(_) | TierError::Timeout
        ),
        "{error}"
    );
    assert_eq!(a.l1().peek("during"), Some("d".to_string()));

    // Back on the same port: both reconnect and clear their L1.
    let server = Server::start_on(port);
    let reconnected = eventually(Duration::from_secs(3), || {
        a.stats().reconnects >= 1 && b.stats().reconnects >= 1
    })
    .await;
    assert!(reconnected, "A {:?}, B {:?}", a.stats(), b.stats());
    assert!(a.is_connected() && b.is_connected());
    for tier in [&a, &b] {
        assert!(
            !tier.l1().contains_key("warm"),
            "L1 not cleared on reconnect"
        );
        assert!(tier.stats().l1_clears >= 1);
    }
    assert!(!a.l1().contains_key("during"));
    assert!(a.stats().disconnects >= 1 && b.stats().disconnects >= 1);

    // Caching through L2 resumes...
    load_into_both(&a, &b, "after", "fresh").await;
    // ...and so does invalidation.
    let mut plain = server.plain().unwrap();
    redis::cmd("SET")
        .arg(a.redis_key(&"after".to_string()).unwrap())
        .arg(Postcard.encode("changed").unwrap())
        .query::<()>(&mut plain)
        .unwrap();
    let gone = eventually(Duration::from_millis(100), || {
        !a.l1().contains_key("after") && !b.l1().contains_key("after")
    })
    .await;
    assert!(gone, "invalidation did not resume after the restart");
    let value = b
        .get_or_insert_async("after".to_string(), async { unreachable!() })
        .await;
    assert_eq!(value, "changed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tier_built_while_redis_is_down_serves_l1_and_connects_later() {
    // A free port with nothing listening yet.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("redis://127.0.0.1:{port}");
    let a = within(Duration::from_secs(1), "build", tier(&url, "t-late:")).await;
    assert!(!a.is_connected());
    let value = within(
        Duration::from_secs(1),
        "a load with no Redis",
        a.get_or_insert_async("k".to_string(), async { "v".to_string() }),
    )
    .await;
    assert_eq!(value, "v");
    assert_eq!(a.l1().peek("k"), Some("v".to_string()));
    assert_eq!(
        a.remove(&"k".to_string()).await,
        Err(TierError::Unavailable)
    );
    assert!(!a.l1().contains_key("k"));

    let _server = Server::start_on(port);
    assert!(
        eventually(Duration::from_secs(3), || a.is_connected()).await,
        "{:?}",
        a.stats()
    );
    a.insert("k".to_string(), "v2".to_string())
        .await
        .expect("the write reaches Redis once connected");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_redis_costs_at_most_the_timeout() {
    let server = Server::start();
    let a = tier(&server.url(), "t-hung:").await;
    a.get_or_insert_async("warm".to_string(), async { "w".to_string() })
        .await;
    server.signal("STOP");
    let started = Instant::now();
    let value = within(
        Duration::from_secs(2),
        "a load with Redis hung",
        a.get_or_insert_async("cold".to_string(), async { "loaded".to_string() }),
    )
    .await;
    let took = started.elapsed();
    // L1 hits do not touch Redis at all.
    let warm = within(
        Duration::from_millis(50),
        "an L1 hit with Redis hung",
        a.get_or_insert_async("warm".to_string(), async { unreachable!() }),
    )
    .await;
    server.signal("CONT");
    assert_eq!(warm, "w");
    assert_eq!(value, "loaded");
    // The GET times out (200 ms); then the L2 write is skipped (backing off).
    assert!(took < Duration::from_millis(600), "took {took:?}");
    assert!(a.stats().l2_errors >= 1, "{:?}", a.stats());
}
