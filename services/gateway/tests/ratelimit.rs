//! The rate limiter's tiers against a real Redis: after Redis refuses a key, the replica refuses
//! it in process without calling Redis until the refusal ends; a busy client takes its tokens
//! from Redis a lease at a time; replicas sharing one Redis never admit more together than the
//! limit (exactly, with a burst too small to lease; within one lease per replica otherwise); the
//! in-process table stays within its capacity. Each test starts its own Redis where it counts the
//! script calls Redis served.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use storefront_common::ids::UserId;
use storefront_common::redis_store::Redis;
use storefront_gateway::{Decision, Limit, RateLimiter, Tier, lease_size};
use storefront_testkit::RedisServer;

/// Long enough that a loaded test machine never makes the limiter fail open.
const BUDGET: Duration = Duration::from_secs(5);

fn limit(rate: &str, burst: u32) -> Limit {
    Limit {
        rate: rate.parse().unwrap(),
        burst,
    }
}

fn ip(n: u32) -> IpAddr {
    IpAddr::from([10, (n >> 16) as u8, (n >> 8) as u8, n as u8])
}

async fn limiter(redis: &RedisServer, per_ip: Limit, per_user: Limit) -> RateLimiter {
    let redis = Redis::connect(&redis.url(), BUDGET).await.unwrap();
    RateLimiter::new(redis, per_ip, per_user, BUDGET)
}

/// EVALSHA calls Redis has served so far (`INFO commandstats`).
async fn script_calls(redis: &RedisServer) -> u64 {
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut conn)
        .await
        .unwrap();
    info.lines()
        .find_map(|line| line.strip_prefix("cmdstat_evalsha:calls="))
        .and_then(|rest| rest.split(',').next())
        .map_or(0, |calls| calls.parse().unwrap())
}

async fn check(limiter: &RateLimiter, ip: IpAddr, user: Option<UserId>) -> Decision {
    limiter
        .check(ip, user)
        .await
        .expect("Redis answered within the budget")
}

/// The first call loads the script (EVALSHA fails, EVAL runs it); from then on every call that
/// reaches Redis is exactly one EVALSHA.
async fn load_script(limiter: &RateLimiter) {
    check(limiter, ip(0xff_ffff), None).await;
}

#[tokio::test]
async fn a_flood_from_one_ip_reaches_redis_only_until_its_first_refusal() {
    let redis = RedisServer::start().unwrap();
    let limiter = limiter(&redis, limit("1/m", 2), limit("1000/s", 1000)).await;
    load_script(&limiter).await;
    let before = script_calls(&redis).await;

    for _ in 0..2 {
        let decision = check(&limiter, ip(1), None).await;
        assert!(decision.allowed);
        assert_eq!(decision.tier, Tier::Redis);
    }
    let first = check(&limiter, ip(1), None).await;
    assert!(!first.allowed);
    assert_eq!(
        first.tier,
        Tier::Redis,
        "the first refusal comes from Redis"
    );
    assert_eq!(script_calls(&redis).await, before + 3);

    for _ in 0..200 {
        let refusal = check(&limiter, ip(1), None).await;
        assert!(!refusal.allowed);
        assert_eq!(refusal.tier, Tier::Local);
        assert_eq!((refusal.limit, refusal.remaining), (2, 0));
        assert!((1..=60).contains(&refusal.retry_after_secs), "{refusal:?}");
        assert!(refusal.retry_after_secs <= first.retry_after_secs);
        assert!(refusal.reset_secs <= first.reset_secs);
    }
    assert_eq!(
        script_calls(&redis).await,
        before + 3,
        "no refusal after the first reached Redis"
    );

    let other = check(&limiter, ip(2), None).await;
    assert!(other.allowed, "another IP has its own bucket");
    assert_eq!(script_calls(&redis).await, before + 4);
}

#[tokio::test]
async fn a_refused_user_is_refused_locally_from_any_ip_but_the_ip_alone_is_not() {
    let redis = RedisServer::start().unwrap();
    let limiter = limiter(&redis, limit("1000/s", 1000), limit("1/m", 1)).await;
    load_script(&limiter).await;
    let user = UserId::new();
    assert!(check(&limiter, ip(1), Some(user)).await.allowed);
    let refused = check(&limiter, ip(1), Some(user)).await;
    assert_eq!((refused.allowed, refused.tier), (false, Tier::Redis));
    let before = script_calls(&redis).await;

    let elsewhere = check(&limiter, ip(2), Some(user)).await;
    assert_eq!((elsewhere.allowed, elsewhere.tier), (false, Tier::Local));
    assert_eq!(elsewhere.limit, 1, "the user's limit, as Redis reports it");
    assert_eq!(script_calls(&redis).await, before);

    let anonymous = check(&limiter, ip(1), None).await;
    assert_eq!((anonymous.allowed, anonymous.tier), (true, Tier::Redis));
    assert_eq!(script_calls(&redis).await, before + 1);
}

#[tokio::test]
async fn a_refused_ip_is_admitted_again_once_its_refusal_ends() {
    let redis = RedisServer::start().unwrap();
    let limiter = limiter(&redis, limit("1/s", 1), limit("1000/s", 1000)).await;
    load_script(&limiter).await;
    assert!(check(&limiter, ip(1), None).await.allowed);
    let refused = check(&limiter, ip(1), None).await;
    assert_eq!((refused.allowed, refused.tier), (false, Tier::Redis));
    assert_eq!(refused.retry_after_secs, 1);
    let local = check(&limiter, ip(1), None).await;
    assert_eq!((local.allowed, local.tier), (false, Tier::Local));
    let before = script_calls(&redis).await;

    // Retry-After is rounded up, so by then Redis admits again; the local tier must not be
    // holding the key any longer.
    tokio::time::sleep(Duration::from_secs(refused.retry_after_secs)).await;
    let again = check(&limiter, ip(1), None).await;
    assert_eq!(
        (again.allowed, again.tier),
        (true, Tier::Redis),
        "{again:?}"
    );
    assert_eq!(script_calls(&redis).await, before + 1);
}

#[tokio::test]
async fn many_refused_ips_keep_the_local_table_within_its_capacity() {
    let redis = RedisServer::start().unwrap();
    let capacity = 64;
    let conn = Redis::connect(&redis.url(), BUDGET).await.unwrap();
    let limiter = RateLimiter::with_local_capacity(
        conn,
        limit("1/m", 1),
        limit("1000/s", 1000),
        BUDGET,
        capacity,
    );
    let ips = 500;
    for n in 0..ips {
        assert!(check(&limiter, ip(n), None).await.allowed);
        assert!(!check(&limiter, ip(n), None).await.allowed);
        assert!(limiter.local_entries() <= capacity);
    }
    assert_eq!(
        limiter.local_entries(),
        capacity,
        "the first refusals filled it"
    );

    // Those kept are refused locally; the rest still are, by Redis.
    let kept = check(&limiter, ip(0), None).await;
    assert_eq!((kept.allowed, kept.tier), (false, Tier::Local));
    let dropped = check(&limiter, ip(ips - 1), None).await;
    assert_eq!((dropped.allowed, dropped.tier), (false, Tier::Redis));
}

#[derive(Default)]
struct Tally {
    admitted: AtomicU64,
    refused_locally: AtomicU64,
    refused_by_redis: AtomicU64,
}

#[tokio::test]
async fn a_busy_client_takes_its_tokens_from_redis_a_lease_at_a_time() {
    let redis = RedisServer::start().unwrap();
    let per_ip = limit("1000/s", 2000);
    let lease = u64::from(lease_size(per_ip));
    assert_eq!(lease, 250);
    let limiter = limiter(&redis, per_ip, limit("1000/s", 1000)).await;
    load_script(&limiter).await;
    let before = script_calls(&redis).await;

    let requests = 1000;
    let mut local = 0;
    for _ in 0..requests {
        let decision = check(&limiter, ip(1), None).await;
        assert!(decision.allowed, "{decision:?}");
        local += u64::from(decision.tier == Tier::Local);
    }
    let calls = script_calls(&redis).await - before;
    assert_eq!(calls, requests / lease, "one script call per lease");
    assert_eq!(local, requests - calls);
    assert_eq!(limiter.leased_clients(), 1);

    // The other client was charged nothing by the first one's leases.
    let other = check(&limiter, ip(2), None).await;
    assert_eq!((other.allowed, other.tier), (true, Tier::Redis));
    assert_eq!(other.remaining, 2000 - 1, "its own tokens are all left");
}

#[tokio::test]
async fn a_small_burst_is_never_leased() {
    let redis = RedisServer::start().unwrap();
    let limiter = limiter(&redis, limit("1000/s", 15), limit("1000/s", 1000)).await;
    load_script(&limiter).await;
    let before = script_calls(&redis).await;
    for _ in 0..10 {
        let decision = check(&limiter, ip(1), None).await;
        assert_eq!((decision.allowed, decision.tier), (true, Tier::Redis));
    }
    assert_eq!(script_calls(&redis).await - before, 10);
    assert_eq!(limiter.leased_clients(), 0);
}

/// Sends as fast as it can from `tasks` concurrent callers until `until`.
async fn hammer(limiter: RateLimiter, tasks: usize, until: Instant) -> Arc<Tally> {
    let tally = Arc::new(Tally::default());
    let callers: Vec<_> = (0..tasks)
        .map(|_| {
            let limiter = limiter.clone();
            let tally = tally.clone();
            tokio::spawn(async move {
                while Instant::now() < until {
                    let decision = check(&limiter, ip(1), None).await;
                    let counter = match (decision.allowed, decision.tier) {
                        (true, _) => &tally.admitted,
                        (false, Tier::Local) => &tally.refused_locally,
                        (false, Tier::Redis) => &tally.refused_by_redis,
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                    // A local refusal does not wait for anything; let the other callers run.
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    for caller in callers {
        caller.await.unwrap();
    }
    tally
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_sharing_redis_never_admit_more_than_the_limit_together() {
    let redis = RedisServer::start().unwrap();
    let (rate, burst) = (10.0, 10);
    let per_ip = limit("10/s", burst);
    let a = limiter(&redis, per_ip, limit("1000/s", 1000)).await;
    let b = limiter(&redis, per_ip, limit("1000/s", 1000)).await;
    load_script(&a).await;
    load_script(&b).await;

    let started = Instant::now();
    let until = started + Duration::from_secs(2);
    let (from_a, from_b) = tokio::join!(hammer(a, 4, until), hammer(b, 4, until));
    let elapsed = started.elapsed().as_secs_f64();

    let admitted =
        from_a.admitted.load(Ordering::Relaxed) + from_b.admitted.load(Ordering::Relaxed);
    // GCRA admits the burst at once and then one per interval; every script run happened inside
    // `elapsed`. The one extra is Redis's clock granularity at the two ends, not the local tier,
    // which never admits.
    let most = f64::from(burst) + rate * elapsed + 1.0;
    assert!(
        admitted as f64 <= most,
        "{admitted} admitted in {elapsed:.2} s, at most {most:.1} allowed"
    );
    // Refusing too long (a unit mix-up, a deadline past Redis's) would starve the key.
    let least = f64::from(burst) + rate * elapsed / 2.0;
    assert!(
        admitted as f64 >= least,
        "{admitted} admitted in {elapsed:.2} s, expected at least {least:.1}"
    );
    for (name, tally) in [("a", &from_a), ("b", &from_b)] {
        assert!(
            tally.refused_locally.load(Ordering::Relaxed) > 0,
            "replica {name} refused nothing by itself"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_leasing_admit_at_most_one_lease_each_beyond_the_limit() {
    let redis = RedisServer::start().unwrap();
    let (rate, burst) = (100.0, 400);
    let per_ip = limit("100/s", burst);
    let lease = lease_size(per_ip);
    assert_eq!(lease, 50);
    let a = limiter(&redis, per_ip, limit("1000/s", 1000)).await;
    let b = limiter(&redis, per_ip, limit("1000/s", 1000)).await;
    load_script(&a).await;
    load_script(&b).await;
    let before = script_calls(&redis).await;

    let started = Instant::now();
    let until = started + Duration::from_secs(2);
    let (from_a, from_b) = tokio::join!(hammer(a, 4, until), hammer(b, 4, until));
    let elapsed = started.elapsed().as_secs_f64();

    let admitted =
        from_a.admitted.load(Ordering::Relaxed) + from_b.admitted.load(Ordering::Relaxed);
    // The documented tolerance: each replica may spend at most one lease (less the request that
    // took it) of tokens granted before the window; the one extra is Redis's clock granularity.
    let exact = f64::from(burst) + rate * elapsed;
    let most = exact + 2.0 * f64::from(lease - 1) + 1.0;
    assert!(
        admitted as f64 <= most,
        "{admitted} admitted in {elapsed:.2} s, at most {most:.1} allowed ({exact:.1} exactly)"
    );
    let least = f64::from(burst) + rate * elapsed / 2.0;
    assert!(
        admitted as f64 >= least,
        "{admitted} admitted in {elapsed:.2} s, expected at least {least:.1}"
    );
    // Leases cut Redis's share of the admissions: the burst alone went out 50 at a time.
    let calls = script_calls(&redis).await - before;
    let refused_by_redis = from_a.refused_by_redis.load(Ordering::Relaxed)
        + from_b.refused_by_redis.load(Ordering::Relaxed);
    assert!(
        calls - refused_by_redis < admitted / 2,
        "{calls} script calls ({refused_by_redis} of them refusals) for {admitted} admissions"
    );
}
