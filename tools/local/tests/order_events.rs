//! The order-event flow on the local platform, every service a real process, on each bus: a
//! checkout through the gateway makes exactly one notification for its customer, visible through
//! the API and on the account page. The RabbitMQ run needs `rabbitmq-server` and is skipped,
//! saying so, without it. With `SMTP_URL` pointed at a loopback SMTP sink, the paid order is also
//! e-mailed to the customer's address, once.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::time::Duration;

mod support;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use storefront_local::platform::Platform;
use storefront_testkit::shop::{DECLINED_CARD, GOOD_CARD, Shop, card};

struct Shopper {
    shop: Shop,
    token: String,
}

impl Shopper {
    async fn register(platform: &Platform, email: &str) -> Self {
        let shop = Shop::new(platform.url("gateway").unwrap().to_string());
        let token = shop.customer(email).await;
        Self { shop, token }
    }

    async fn checkout(&self, key: &str, card_number: &str) -> (StatusCode, Value) {
        let (status, products) = self
            .shop
            .call(Method::GET, "/api/products?pageSize=1", None, None, None)
            .await;
        assert_eq!(status, StatusCode::OK, "{products}");
        let product = products["items"][0]["id"].clone();
        let order = json!({
            "items": [{"productId": product, "quantity": 1}],
            "payment": card(card_number),
        });
        self.shop
            .call(
                Method::POST,
                "/api/orders",
                Some(&self.token),
                Some(order),
                Some(key),
            )
            .await
    }

    async fn notifications(&self) -> Value {
        self.shop.notifications(&self.token).await
    }

    async fn wait_for_notifications(&self, n: usize) -> Value {
        self.shop
            .wait_for_notifications(&self.token, Duration::from_secs(20), |items| {
                items.len() >= n
            })
            .await
    }
}

/// Checkout, a replay of it and a declined one: one notification per order, none per replay.
pub async fn one_notification_per_order(platform: &Platform) {
    let shopper = Shopper::register(platform, "events@e2e.test").await;
    let (status, paid) = shopper.checkout("events-1", GOOD_CARD).await;
    assert_eq!(status, StatusCode::CREATED, "{paid}");
    let (status, replay) = shopper.checkout("events-1", GOOD_CARD).await;
    assert_eq!(status, StatusCode::CREATED, "{replay}");
    let (status, declined) = shopper.checkout("events-2", DECLINED_CARD).await;
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
        .shop
        .http
        .get(format!("{}/account", shopper.shop.base))
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkout_makes_exactly_one_notification_on_rabbitmq() {
    let mut platform = match support::try_start_platform(
        storefront_common::events::EventBus::RabbitMq,
        "admin@events-rabbit.test",
        &[],
    )
    .await
    {
        Ok(platform) => platform,
        Err(storefront_local::platform::PlatformError::Store(
            storefront_testkit::StartError::Missing(e),
        )) => {
            eprintln!("skipping the RabbitMQ order-event flow: {e}");
            return;
        }
        Err(e) => panic!("{e}"),
    };
    assert!(platform.rabbitmq.is_some());
    one_notification_per_order(&platform).await;
    platform.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paid_order_is_emailed_once_and_a_refused_address_is_not_retried() {
    let sink = storefront_testkit::SmtpSink::start().unwrap();
    let smtp_url = sink.url();
    let mut platform = support::start_platform("admin@mail.test", &[("SMTP_URL", &smtp_url)]).await;

    let shopper = Shopper::register(&platform, "mail@e2e.test").await;
    let (status, paid) = shopper.checkout("mail-1", GOOD_CARD).await;
    assert_eq!(status, StatusCode::CREATED, "{paid}");
    let (status, _) = shopper.checkout("mail-1", GOOD_CARD).await;
    assert_eq!(status, StatusCode::CREATED);
    shopper.wait_for_notifications(1).await;
    let mails = wait_for_mails(&sink, 1).await;
    // Time for a second e-mail to show up, if there were going to be one.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mails_now = sink.mails();
    assert_eq!(mails_now.len(), 1, "{mails_now:?}");
    let mail = &mails[0];
    assert_eq!(mail.to, vec!["mail@e2e.test".to_string()]);
    assert_eq!(mail.from, "no-reply@storefront.local");
    assert!(
        mail.data.contains("Subject: Order confirmed"),
        "{}",
        mail.data
    );
    let short = &paid["id"].as_str().unwrap()[..8];
    assert!(mail.data.contains(short), "{}", mail.data);

    // A mailbox the server refuses for good: the notification is kept, the refusal counted,
    // and nothing is sent again.
    let refused = Shopper::register(&platform, "reject-me@e2e.test").await;
    let (status, _) = refused.checkout("mail-2", GOOD_CARD).await;
    assert_eq!(status, StatusCode::CREATED);
    refused.wait_for_notifications(1).await;
    let metrics_url = format!("{}/metrics", platform.url("notifications").unwrap());
    let mut counted = false;
    for _ in 0..100 {
        let text = reqwest::get(&metrics_url)
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if emails(&text, "refused") == Some(1.0) {
            assert_eq!(emails(&text, "sent"), Some(1.0), "{text}");
            counted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(counted, "the refused e-mail should be counted once");
    assert_eq!(sink.mails().len(), 1);
    platform.stop().await;
}

async fn wait_for_mails(
    sink: &storefront_testkit::SmtpSink,
    n: usize,
) -> Vec<storefront_testkit::Mail> {
    for _ in 0..200 {
        let mails = sink.mails();
        if mails.len() >= n {
            return mails;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("expected {n} e-mails, the sink has {:?}", sink.mails());
}

/// `notifications_emails_total` for one outcome in a `/metrics` text.
fn emails(text: &str, outcome: &str) -> Option<f64> {
    storefront_testkit::metric_sample(text, "notifications_emails_total", &[("outcome", outcome)])
}
