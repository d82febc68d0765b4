//! Two tiered-cache instances in one process sharing a local Redis, and an
//! invalidation made with a plain Redis client.
//!
//! ```sh
//! redis-server --save '' --appendonly no &     # or any Redis 6+
//! cargo run -p shardcache-redis --example tiered [redis://127.0.0.1:6379]
//! ```
//!
//! The URL comes from the first argument, else `REDIS_URL`, else
//! `redis://127.0.0.1:6379`.

use std::time::Duration;

use shardcache_redis::{Codec, Postcard, TieredCache};

async fn instance(url: &str) -> TieredCache<String, String> {
    let l1 = shardcache::CacheBuilder::new().capacity(1000);
    TieredCache::builder(l1, url, "example:users:")
        .ttl(Duration::from_secs(60))
        .redis_timeout(Duration::from_millis(200))
        .build()
        .await
        .expect("valid configuration")
}

fn report(name: &str, cache: &TieredCache<String, String>) {
    let s = cache.stats();
    println!(
        "  {name}: l1 hits {}, l2 hits {}, l2 misses {}, loads {}, invalidations {}, l2 errors {}",
        s.l1_hits, s.l2_hits, s.l2_misses, s.loads, s.invalidations, s.l2_errors
    );
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("REDIS_URL").ok())
        .unwrap_or_else(|| "redis://127.0.0.1:6379".to_string());
    println!("Redis at {url}");
    let a = instance(&url).await;
    let b = instance(&url).await;
    if !a.is_connected() {
        eprintln!(
            "cannot reach Redis at {url}; start one with `redis-server --save '' --appendonly no`"
        );
        std::process::exit(1);
    }
    let user = "ada".to_string();
    // Start clean, in case an earlier run left the key.
    a.remove(&user).await?;
    tokio::time::sleep(Duration::from_millis(50)).await;

    let name = a
        .get_or_insert_async(user.clone(), async { "Ada Lovelace".to_string() })
        .await;
    println!("A loaded {user:?} -> {name:?} (L1 miss, L2 miss, loader)");
    tokio::time::sleep(Duration::from_millis(50)).await;
    let name = b
        .get_or_insert_async(user.clone(), async { unreachable!("in Redis already") })
        .await;
    println!("B read {user:?} -> {name:?} (L1 miss, L2 hit)");
    let _ = a
        .get_or_insert_async(user.clone(), async { unreachable!() })
        .await;
    let _ = b
        .get_or_insert_async(user.clone(), async { unreachable!() })
        .await;
    println!("both read it again from L1:");
    report("A", &a);
    report("B", &b);

    // Another program changes the key with a plain client.
    let mut plain = redis::Client::open(url.as_str())?
        .get_multiplexed_async_connection()
        .await?;
    redis::cmd("SET")
        .arg(a.redis_key(&user)?)
        .arg(Postcard.encode("Augusta Ada King")?)
        .query_async::<()>(&mut plain)
        .await?;
    println!("a plain client SET the key in Redis");
    tokio::time::sleep(Duration::from_millis(50)).await;
    println!(
        "  in A's L1: {}, in B's L1: {}",
        a.l1().contains_key(&user),
        b.l1().contains_key(&user)
    );
    let name = b
        .get_or_insert_async(user.clone(), async { unreachable!() })
        .await;
    println!("B reads {user:?} -> {name:?} (from L2)");
    report("A", &a);
    report("B", &b);
    a.remove(&user).await?;
    Ok(())
}
