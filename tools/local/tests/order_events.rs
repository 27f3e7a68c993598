//! The order-event flow on the local platform, every service a real process: a checkout through
//! the gateway makes exactly one notification for its customer, visible through the API.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::time::Duration;

mod support;

use reqwest::StatusCode;
use serde_json::{Value, json};
use storefront_local::platform::Platform;

struct Shopper {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Shopper {
    async fn register(platform: &Platform, email: &str) -> Self {
        let http = reqwest::Client::new();
        let base = platform.url("gateway").unwrap().to_string();
        let account = json!({"email": email, "password": "a-good-password", "name": "Events"});
        let resp = http
            .post(format!("{base}/api/users/register"))
            .json(&account)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::CREATED);
        let login: Value = http
            .post(format!("{base}/api/users/login"))
            .json(&json!({"email": email, "password": "a-good-password"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = login["token"].as_str().unwrap().to_string();
        Self { http, base, token }
    }

    async fn checkout(&self, key: &str, card: &str) -> (StatusCode, Value) {
        let products: Value = self
            .http
            .get(format!("{}/api/products?pageSize=1", self.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let product = products["items"][0]["id"].clone();
        let resp = self
            .http
            .post(format!("{}/api/orders", self.base))
            .bearer_auth(&self.token)
            .header("Idempotency-Key", key)
            .json(&json!({
                "items": [{"productId": product, "quantity": 1}],
                "payment": {"cardNumber": card, "expMonth": 12, "expYear": 2030, "cvc": "123"},
            }))
            .send()
            .await
            .unwrap();
        (resp.status(), resp.json().await.unwrap())
    }

    async fn notifications(&self) -> Value {
        let resp = self
            .http
            .get(format!("{}/api/notifications", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        resp.json().await.unwrap()
    }

    async fn wait_for_notifications(&self, n: usize) -> Value {
        let started = tokio::time::Instant::now();
        loop {
            let list = self.notifications().await;
            if list["items"].as_array().unwrap().len() >= n {
                return list;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "waited for {n} notifications: {list}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Checkout, a replay of it and a declined one: one notification per order, none per replay.
pub async fn one_notification_per_order(platform: &Platform) {
    let shopper = Shopper::register(platform, "events@e2e.test").await;
    let (status, paid) = shopper.checkout("events-1", "4242424242424242").await;
    assert_eq!(status, StatusCode::CREATED, "{paid}");
    let (status, replay) = shopper.checkout("events-1", "4242424242424242").await;
    assert_eq!(status, StatusCode::CREATED, "{replay}");
    let (status, declined) = shopper.checkout("events-2", "4000000000000002").await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED, "{declined}");

    shopper.wait_for_notifications(2).await;
    // Time for a duplicate to show up, if there were going to be one.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let list = shopper.notifications().await;
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{list}");
    let paid_notes: Vec<_> = items.iter().filter(|n| n["kind"] == "order.paid").collect();
    assert_eq!(paid_notes.len(), 1, "{list}");
    assert_eq!(paid_notes[0]["orderId"], paid["id"]);
    assert!(items.iter().any(|n| n["kind"] == "order.failed"), "{list}");
    assert_eq!(list["unread"], 2);

    // The store front shows them: a badge in the header and the list on the account page.
    let account = shopper
        .http
        .get(format!("{}/account", shopper.base))
        .header("cookie", format!("sf_session={}", shopper.token))
        .send()
        .await
        .unwrap();
    assert_eq!(account.status(), StatusCode::OK);
    let html = account.text().await.unwrap();
    assert!(html.contains(r#"id="notification-count""#), "{html}");
    assert!(
        html.contains("Order confirmed") && html.contains("Order not placed"),
        "{html}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkout_makes_exactly_one_notification_on_redis_streams() {
    let mut platform = support::start_platform("admin@events.test", &[]).await;
    one_notification_per_order(&platform).await;
    platform.stop().await;
}
