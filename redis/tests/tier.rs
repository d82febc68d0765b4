//! Two instances on one real redis-server: sharing through L2, coherence
//! through client tracking, single-flight, corrupt bytes, configuration.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{eventually, load_into_both, plain_get, shared, tier, tier_with_ttl, within};
use shardcache_redis::{Codec, Postcard, TieredCache};

const PROPAGATION: Duration = Duration::from_millis(100);
const CALL: Duration = Duration::from_secs(5);

fn key(name: &str) -> String {
    name.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_loaded_by_one_instance_is_an_l2_hit_for_the_other() {
    let url = shared().url();
    let a = tier(&url, "t-share:").await;
    let b = tier(&url, "t-share:").await;
    let value = within(
        CALL,
        "A's load",
        a.get_or_insert_async(key("k"), async { "v".to_string() }),
    )
    .await;
    assert_eq!(value, "v");
    assert_eq!(a.stats().loads, 1);
    // An invalidation (of A's write) arriving during B's load would keep
    // B's copy out of its L1; let it arrive first.
    assert!(eventually(Duration::from_secs(1), || b.stats().invalidations >= 1).await);

    let b_loads = AtomicUsize::new(0);
    let value = within(
        CALL,
        "B's read",
        b.get_or_insert_async(key("k"), async {
            b_loads.fetch_add(1, Ordering::SeqCst);
            "from B's loader".to_string()
        }),
    )
    .await;
    assert_eq!(value, "v");
    assert_eq!(b_loads.load(Ordering::SeqCst), 0, "B's loader must not run");
    let stats = b.stats();
    assert_eq!((stats.l2_hits, stats.loads), (1, 0));
    // Now in B's L1.
    assert_eq!(
        b.l1().peek(&key("k")),
        Some("v".to_string()),
        "{:?}",
        b.stats()
    );
    let again = b
        .get_or_insert_async(key("k"), async { unreachable!() })
        .await;
    assert_eq!(again, "v");
    assert_eq!(b.stats().l1_hits, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insert_and_remove_by_one_instance_reach_the_others_l1() {
    let url = shared().url();
    let a = tier(&url, "t-write:").await;
    let b = tier(&url, "t-write:").await;
    load_into_both(&a, &b, "k", "v1").await;

    within(CALL, "insert", a.insert(key("k"), "v2".to_string()))
        .await
        .expect("insert reaches Redis");
    assert!(
        eventually(PROPAGATION, || !b.l1().contains_key(&key("k"))).await,
        "A's insert did not reach B's L1 within {PROPAGATION:?}"
    );
    // NOLOOP: A's own write does not evict its own fresh entry.
    tokio::time::sleep(Duration::from_millis(30)).await;
    assert_eq!(a.l1().peek(&key("k")), Some("v2".to_string()));
    let value = b
        .get_or_insert_async(key("k"), async { unreachable!() })
        .await;
    assert_eq!(value, "v2", "B reads A's write from L2");

    within(CALL, "remove", a.remove(&key("k")))
        .await
        .expect("remove reaches Redis");
    assert!(!a.l1().contains_key(&key("k")));
    assert!(
        eventually(PROPAGATION, || !b.l1().contains_key(&key("k"))).await,
        "A's remove did not reach B's L1 within {PROPAGATION:?}"
    );
    assert_eq!(plain_get(shared(), &a.redis_key(&key("k")).unwrap()), None);
    let value = b
        .get_or_insert_async(key("k"), async { "v3".to_string() })
        .await;
    assert_eq!(value, "v3", "after the remove B loads afresh");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_clients_set_and_del_reach_both_l1s() {
    let server = shared();
    let url = server.url();
    let a = tier(&url, "t-plain:").await;
    let b = tier(&url, "t-plain:").await;
    load_into_both(&a, &b, "k", "v1").await;
    let name = a.redis_key(&key("k")).unwrap();
    let mut plain = server.plain().unwrap();

    let bytes = Postcard.encode("from redis-cli").unwrap();
    redis::cmd("SET")
        .arg(&name)
        .arg(bytes)
        .query::<()>(&mut plain)
        .unwrap();
    let gone = eventually(PROPAGATION, || {
        !a.l1().contains_key(&key("k")) && !b.l1().contains_key(&key("k"))
    })
    .await;
    assert!(
        gone,
        "a plain SET did not reach both L1s within {PROPAGATION:?}"
    );
    for tier in [&a, &b] {
        let value = tier
            .get_or_insert_async(key("k"), async { unreachable!() })
            .await;
        assert_eq!(value, "from redis-cli");
    }

    redis::cmd("DEL")
        .arg(&name)
        .query::<()>(&mut plain)
        .unwrap();
    let gone = eventually(PROPAGATION, || {
        !a.l1().contains_key(&key("k")) && !b.l1().contains_key(&key("k"))
    })
    .await;
    assert!(
        gone,
        "a plain DEL did not reach both L1s within {PROPAGATION:?}"
    );
    assert!(a.stats().invalidations >= 2 && b.stats().invalidations >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_in_redis_reaches_both_l1s() {
    let url = shared().url();
    let ttl = Duration::from_millis(400);
    let a = tier_with_ttl(&url, "t-ttl:", ttl).await;
    let b = tier_with_ttl(&url, "t-ttl:", ttl).await;
    let written = Instant::now();
    load_into_both(&a, &b, "k", "v").await;
    assert_eq!(b.stats().l2_hits, 1);
    // Still there shortly before the TTL runs out...
    tokio::time::sleep_until((written + ttl / 2).into()).await;
    assert!(a.l1().contains_key(&key("k")) && b.l1().contains_key(&key("k")));
    // ...and gone from both within 100 ms of it.
    tokio::time::sleep_until((written + ttl).into()).await;
    let gone = eventually(PROPAGATION, || {
        !a.l1().contains_key(&key("k")) && !b.l1().contains_key(&key("k"))
    })
    .await;
    assert!(
        gone,
        "the expiry did not reach both L1s within {PROPAGATION:?} of the TTL"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_herd_on_two_instances_loads_a_cold_key_at_most_twice() {
    let url = shared().url();
    let a = tier(&url, "t-herd:").await;
    let b = tier(&url, "t-herd:").await;
    let loads = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for tier in [&a, &b] {
        for _ in 0..100 {
            let tier: TieredCache<String, String> = tier.clone();
            let loads = Arc::clone(&loads);
            tasks.push(tokio::spawn(async move {
                tier.get_or_insert_async(key("cold"), async move {
                    loads.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    "hot".to_string()
                })
                .await
            }));
        }
    }
    for task in tasks {
        let value = within(CALL, "a herd member", task).await.unwrap();
        assert_eq!(value, "hot");
    }
    let loads = loads.load(Ordering::SeqCst);
    assert!((1..=2).contains(&loads), "the loader ran {loads} times");
    assert_eq!(a.stats().loads + b.stats().loads, loads as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_bytes_in_redis_are_a_counted_miss_and_get_overwritten() {
    let server = shared();
    let a = tier(&server.url(), "t-corrupt:").await;
    let name = a.redis_key(&key("k")).unwrap();
    let mut plain = server.plain().unwrap();
    // A string's length prefix that never ends: no valid postcard String.
    redis::cmd("SET")
        .arg(&name)
        .arg(vec![0xffu8; 12])
        .query::<()>(&mut plain)
        .unwrap();

    let value = within(
        CALL,
        "the read",
        a.get_or_insert_async(key("k"), async { "good".to_string() }),
    )
    .await;
    assert_eq!(value, "good");
    let stats = a.stats();
    assert_eq!((stats.decode_errors, stats.loads, stats.l2_hits), (1, 1, 0));
    let stored = plain_get(server, &name).expect("the loaded value was written back");
    assert_eq!(Postcard.decode::<String>(&stored).unwrap(), "good");
    // The overwrite has the tier's TTL.
    let ttl: i64 = redis::cmd("PTTL").arg(&name).query(&mut plain).unwrap();
    assert!(ttl > 0, "PTTL {ttl}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalidation_during_a_load_keeps_the_old_value_out_of_l1() {
    let server = shared();
    let a = tier(&server.url(), "t-race:").await;
    let name = a.redis_key(&key("k")).unwrap();
    let mut plain = server.plain().unwrap();
    // The loader runs (L2 miss); while it runs another client changes the
    // key, so the loaded value is already stale.
    let value = a
        .get_or_insert_async(key("k"), async {
            redis::cmd("SET")
                .arg(&name)
                .arg(Postcard.encode("newer").unwrap())
                .query::<()>(&mut plain)
                .unwrap();
            // Let the invalidation arrive before the load ends.
            tokio::time::sleep(Duration::from_millis(50)).await;
            "stale".to_string()
        })
        .await;
    assert_eq!(value, "stale", "the caller gets its loaded value");
    assert!(
        !a.l1().contains_key(&key("k")),
        "an invalidation during the load must keep its value out of L1"
    );
}

#[tokio::test]
async fn invalid_configuration_names_the_field() {
    let l1 = || shardcache::CacheBuilder::<String, String>::new().capacity(10);
    let url = "redis://127.0.0.1:1";
    let error = TieredCache::builder(l1(), url, "")
        .build()
        .await
        .unwrap_err();
    assert_eq!(error.field(), "namespace");
    let error = TieredCache::builder(l1(), "nope://x", "ns:")
        .build()
        .await
        .unwrap_err();
    assert_eq!(error.field(), "redis_url");
    let error = TieredCache::builder(l1(), url, "ns:")
        .ttl(Duration::ZERO)
        .build()
        .await
        .unwrap_err();
    assert_eq!(error.field(), "ttl");
    assert!(error.to_string().contains("`ttl`"), "{error}");
    let error = TieredCache::builder(l1(), url, "ns:")
        .redis_timeout(Duration::ZERO)
        .build()
        .await
        .unwrap_err();
    assert_eq!(error.field(), "redis_timeout");
    let error = TieredCache::builder(l1(), url, "ns:")
        .backoff(Duration::ZERO)
        .build()
        .await
        .unwrap_err();
    assert_eq!(error.field(), "backoff");
    let error = TieredCache::builder(l1().shards(0), url, "ns:")
        .build()
        .await
        .unwrap_err();
    assert_eq!(error.field(), "l1");
}
