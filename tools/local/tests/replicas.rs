//! Several instances behind the gateway: three real catalog processes on one real PostgreSQL,
//! the gateway and the cart given the list of them. One instance is killed with SIGKILL while
//! requests keep coming; none of them may fail, and the two left must share what follows. Once
//! with every process on the loopback, once with each in its own network namespace (that one
//! needs root, like `netns_isolation.rs`, and skips or fails the same way without it; it also
//! draws the run with `net topology`'s code, which needs `conntrack`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use reqwest::{Method, StatusCode};
use serde_json::json;
use storefront_common::events::EventBus;
use storefront_local::netns::{Plan, TopologyError, live, reach, topology};
use storefront_local::platform::{self, Platform, Scope, StartOptions};
use storefront_local::replicas::Replicas;
use storefront_testkit::shop::Shop;
use tokio::sync::Mutex;

/// Clients would be refused with 429 long before the test has seen anything.
const NO_LIMITS: [(&str, &str); 4] = [
    ("GATEWAY_RATE_LIMIT_IP", "100000/s"),
    ("GATEWAY_RATE_LIMIT_BURST_IP", "100000"),
    ("GATEWAY_RATE_LIMIT_USER", "100000/s"),
    ("GATEWAY_RATE_LIMIT_BURST_USER", "100000"),
];

/// Requests sent at once: enough that some are in flight when the instance dies.
const SENDERS: usize = 4;

/// The catalog listings `url` has answered, from its own `/metrics` (asked from the router
/// namespace in netns mode, the one place that reaches every tier).
async fn listings_served(platform: &Platform, url: &str) -> u64 {
    let fetch = async {
        let http = reqwest::Client::new();
        http.get(format!("{url}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let text = match &platform.topology {
        Some(topology) => reach::from_router(&topology.plan.router, fetch).unwrap(),
        None => fetch.await,
    };
    text.lines()
        .filter(|l| {
            l.starts_with("http_requests_total{")
                && l.contains(r#"method="GET""#)
                && l.contains(r#"route="/api/products""#)
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// Outcomes of the requests the senders made, in the order they finished.
#[derive(Default)]
struct Record {
    failures: Vec<String>,
    answered: usize,
}

/// Sends catalog listings through the gateway until `stop`; each asks a query of its own so the
/// gateway's response cache never answers in the catalog's place.
fn send_until(
    gateway: String,
    stop: Arc<AtomicBool>,
    record: Arc<Mutex<Record>>,
    sent: Arc<AtomicUsize>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..SENDERS)
        .map(|_| {
            let (gateway, stop, record, sent) =
                (gateway.clone(), stop.clone(), record.clone(), sent.clone());
            tokio::spawn(async move {
                let http = reqwest::Client::new();
                while !stop.load(Ordering::SeqCst) {
                    let n = sent.fetch_add(1, Ordering::SeqCst);
                    let outcome = http
                        .get(format!("{gateway}/api/products?q=replica{n}"))
                        .send()
                        .await;
                    let mut record = record.lock().await;
                    match outcome {
                        Ok(r) if r.status() == StatusCode::OK => record.answered += 1,
                        Ok(r) => record.failures.push(format!("request {n}: {}", r.status())),
                        Err(e) => record.failures.push(format!("request {n}: {e}")),
                    }
                }
            })
        })
        .collect()
}

impl Record {
    fn finished(&self) -> usize {
        self.answered + self.failures.len()
    }
}

/// Waits until the senders have finished `more` further requests.
async fn answers(record: &Mutex<Record>, more: usize) {
    let target = record.lock().await.finished() + more;
    while record.lock().await.finished() < target {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_one_catalog_instance_of_three_loses_no_request() {
    let platform = support::start_replicated(
        "admin@replicas.test",
        &NO_LIMITS,
        Replicas::parse("catalog=3").unwrap(),
    )
    .await;
    kill_one_of_three(platform).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_one_catalog_instance_of_three_in_its_own_namespace_loses_no_request() {
    const NAME: &str =
        "killing_one_catalog_instance_of_three_in_its_own_namespace_loses_no_request";
    if let Err(why) = topology::preflight() {
        if matches!(why, TopologyError::NotRoot)
            && let Some(passed) = support::under_sudo(NAME)
        {
            assert!(
                passed,
                "the netns test failed under sudo (its output is above)"
            );
            return;
        }
        assert!(
            !support::netns_must_run(),
            "CI=true (or STOREFRONT_NETNS_TESTS=1) but netns mode cannot run here: {why}"
        );
        eprintln!("skipping the netns test: {why}. Set CI=true to make this a failure.");
        return;
    }
    // A prefix and subnet of its own, beside netns_isolation.rs's sft- and 10.214.
    let plan = Plan::new("srt-", [10, 216]).unwrap();
    let platform = platform::start_isolated(
        StartOptions {
            bins: support::bin_dir(),
            scope: Scope::Full {
                gateway_port: storefront_testkit::free_port(),
            },
            admin_email: "admin@replicas-netns.test".into(),
            admin_password: "admin-password".into(),
            log_dir: None,
            rust_log: "info".into(),
            extra_env: NO_LIMITS
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            bus: EventBus::Redis,
            replicas: Replicas::parse("catalog=3").unwrap(),
        },
        plan,
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n(build the binaries first: cargo build --workspace --bins)"));
    let namespaces = topology::namespaces_with("srt-");
    for extra in ["srt-catalog-2", "srt-catalog-3"] {
        assert!(namespaces.iter().any(|n| n == extra), "{namespaces:?}");
    }
    // `net topology` draws the extra instances and the live connections (every app service
    // keeps its PostgreSQL pool open across the router).
    let picture = std::env::temp_dir().join(format!("srt-topology-{}.svg", std::process::id()));
    let tracked = live::draw("srt-", [10, 216], &picture).unwrap();
    let svg = std::fs::read_to_string(&picture).unwrap();
    let _ = std::fs::remove_file(&picture);
    assert!(tracked > 0, "conntrack in srt-router tracks the pools");
    for drawn in [
        "netns srt-catalog-2",
        "netns srt-catalog-3",
        "10.216.1.0/24 → 10.216.2.0/24 tcp 8000",
        "× tcp/5432</text>",
    ] {
        assert!(svg.contains(drawn), "{drawn} is not in the picture:\n{svg}");
    }
    kill_one_of_three(platform).await;
    assert!(
        topology::namespaces_with("srt-").is_empty(),
        "the stop leaves no namespace behind"
    );
}

/// The scenario of both tests: load through the gateway, SIGKILL catalog instance 2, no failure,
/// the two left share the rest, and the cart (pricing through the same list) still works.
async fn kill_one_of_three(mut platform: Platform) {
    let catalogs: Vec<String> = platform
        .instances("catalog")
        .iter()
        .map(|s| s.url.clone())
        .collect();
    assert_eq!(catalogs.len(), 3, "{catalogs:?}");
    let gateway = platform.url("gateway").unwrap().to_string();

    let stop = Arc::new(AtomicBool::new(false));
    let record = Arc::new(Mutex::new(Record::default()));
    let senders = send_until(
        gateway.clone(),
        stop.clone(),
        record.clone(),
        Arc::new(AtomicUsize::new(0)),
    );
    answers(&record, 60).await;
    let mut before = Vec::new();
    for url in &catalogs {
        before.push(listings_served(&platform, url).await);
    }
    assert!(
        before.iter().all(|&n| n > 0),
        "every instance takes part before the kill: {before:?}"
    );

    platform.kill("catalog", 2);
    // Past the cool-down too, so the dead instance is tried again (and skipped again) meanwhile.
    let killed = std::time::Instant::now();
    answers(&record, 120).await;
    while killed.elapsed() < storefront_common::balance::DEFAULT_COOL_DOWN * 3 / 2 {
        answers(&record, 10).await;
    }
    stop.store(true, Ordering::SeqCst);
    for sender in senders {
        sender.await.unwrap();
    }

    let record = record.lock().await;
    assert!(
        record.failures.is_empty(),
        "{} of {} requests failed after one instance of three was killed: {:?}",
        record.failures.len(),
        record.failures.len() + record.answered,
        record.failures
    );
    let survivors = [&catalogs[0], &catalogs[2]];
    let mut after = Vec::new();
    for (url, was) in survivors.iter().zip([before[0], before[2]]) {
        after.push(listings_served(&platform, url).await - was);
    }
    let total: u64 = after.iter().sum();
    assert!(total >= 120, "the survivors answered the rest: {after:?}");
    assert!(
        after.iter().all(|&n| n * 4 >= total),
        "the two instances left share the load (each at least a quarter): {after:?}"
    );

    // The cart balances over the same list: pricing a cart keeps working without instance 2.
    let shop = Shop::new(gateway);
    let token = shop.customer("carla@replicas.test").await;
    let (status, page) = shop
        .call(Method::GET, "/api/products?pageSize=1", None, None, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let product = page["items"][0]["id"].clone();
    let (status, added) = shop
        .call(
            Method::POST,
            "/api/cart/items",
            Some(&token),
            Some(json!({"productId": product, "quantity": 1})),
            None,
        )
        .await;
    assert!(status.is_success(), "{status} {added}");
    for _ in 0..6 {
        let (status, cart) = shop
            .call(Method::GET, "/api/cart", Some(&token), None, None)
            .await;
        assert_eq!(status, StatusCode::OK, "{cart}");
        assert_eq!(cart["items"][0]["productId"], product, "{cart}");
    }
    platform.stop().await;
}
