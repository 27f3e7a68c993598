//! End to end through the gateway against the local platform: every service a real process
//! (the debug binaries cargo built), real PostgreSQL and Redis, real HTTP between them.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::time::Duration;

mod support;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use storefront_local::platform::Platform;
use storefront_testkit::shop::{DECLINED_CARD, Shop, card};

async fn start(extra: &[(&str, &str)]) -> Platform {
    support::start_platform("admin@e2e.test", extra).await
}

/// A customer of the platform's gateway.
fn client(platform: &Platform) -> Shop {
    Shop::new(platform.url("gateway").unwrap().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_shops_end_to_end_through_the_gateway() {
    let mut platform = start(&[]).await;
    let shop = client(&platform);

    let token = shop.customer("alice@e2e.test").await;
    let aeropress = shop.purchase(&token, 2, "e2e-1").await.product;

    let (status, declined) = shop
        .call(
            Method::POST,
            "/api/orders",
            Some(&token),
            Some(json!({"items": [{"productId": aeropress["id"], "quantity": 1}], "payment": card(DECLINED_CARD)})),
            Some("e2e-2"),
        )
        .await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED, "{declined}");

    let (status, history) = shop
        .call(Method::GET, "/api/orders", Some(&token), None, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let statuses: Vec<&str> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses.len(), 2, "{history}");
    assert!(
        statuses.contains(&"paid") && statuses.contains(&"failed"),
        "{statuses:?}"
    );

    let (status, spec) = shop
        .call(Method::GET, "/api/openapi.json", None, None, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(spec["paths"]["/api/orders"].is_object());

    let (status, _) = shop
        .call(Method::POST, "/api/users/logout", Some(&token), None, None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = shop
        .call(Method::GET, "/api/orders", Some(&token), None, None)
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a logged-out token is refused"
    );

    let (status, _) = shop
        .call(Method::GET, "/internal/reservations/x", None, None, None)
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "internal routes are not reachable from outside"
    );

    // One request id, chosen by the caller, is on the log lines of every hop it crossed.
    let resp = shop
        .http
        .get(format!("{}/api/products?q=kettle", shop.base))
        .header("x-request-id", "e2e-trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-request-id"], "e2e-trace-me-42");
    tokio::time::sleep(Duration::from_millis(300)).await;
    for service in ["gateway", "catalog"] {
        let log = std::fs::read_to_string(platform.log_dir.join(format!("{service}.log"))).unwrap();
        let line = log
            .lines()
            .find(|l| l.contains("e2e-trace-me-42"))
            .unwrap_or_else(|| panic!("{service}.log has no line with the request id"));
        let parsed: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("{service} logs JSON lines: {e}: {line}"));
        assert!(parsed.get("timestamp").is_some(), "{line}");
    }
    platform.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_from_one_user_is_rate_limited_with_retry_after() {
    let mut platform = start(&[
        ("GATEWAY_RATE_LIMIT_USER", "5/s"),
        ("GATEWAY_RATE_LIMIT_BURST_USER", "10"),
    ])
    .await;
    let shop = client(&platform);
    let token = shop.customer("burst@e2e.test").await;
    let mut limited = None;
    for _ in 0..40 {
        let resp = shop
            .http
            .get(format!("{}/api/cart", shop.base))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        if resp.status() == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(resp);
            break;
        }
    }
    let resp = limited.expect("40 quick requests against a burst of 10 must hit the limit");
    let retry_after: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);
    let body: Value = resp.json().await.unwrap();
    assert!(body["error"]["code"].is_string(), "{body}");
    platform.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_breaker_opens_when_a_backend_stops_and_closes_when_it_returns() {
    let mut platform = start(&[
        ("GATEWAY_BREAKER_FAILURES", "3"),
        ("GATEWAY_BREAKER_OPEN", "1s"),
    ])
    .await;
    let shop = client(&platform);
    platform.stop_service("catalog").await;

    let mut codes = Vec::new();
    for i in 0..6 {
        let (status, body) = shop
            .call(
                Method::GET,
                &format!("/api/products?q=down-{i}"),
                None,
                None,
                None,
            )
            .await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        codes.push(
            body["error"]["code"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
    }
    assert_eq!(
        codes.last().map(String::as_str),
        Some("backend_unavailable"),
        "{codes:?}"
    );

    platform.restart_service("catalog").await.unwrap();
    let mut recovered = false;
    for i in 0..50 {
        let (status, _) = shop
            .call(
                Method::GET,
                &format!("/api/products?q=up-{i}"),
                None,
                None,
                None,
            )
            .await;
        if status == StatusCode::OK {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(recovered, "the breaker should close once catalog is back");
    platform.stop().await;
}
