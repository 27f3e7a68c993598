//! Orders a crash (or a lost answer) left `pending` are resolved by recovery, never stuck.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

mod support;

use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::routing::any;
use reqwest::StatusCode;
use storefront_testkit::metric_sample;
use support::*;

/// A payments endpoint that never answers: the charge request never reaches payments.
async fn black_hole() -> String {
    serve(Router::new().fallback(any(|| async {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    })))
    .await
}

/// A payments endpoint that passes the request on to the real service, which acts on it, and
/// then never answers: the charge happens but orders never learns of it.
async fn lost_answers(payments: String) -> String {
    async fn forward(State(target): State<String>, req: Request) -> () {
        let (parts, body) = req.into_parts();
        let bytes: Bytes = axum::body::to_bytes(body, 1 << 20)
            .await
            .unwrap_or_default();
        let mut out =
            reqwest::Client::new().request(parts.method, format!("{target}{}", parts.uri));
        for (name, value) in &parts.headers {
            out = out.header(name, value);
        }
        let _ = out.body(bytes).send().await;
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
    serve(Router::new().fallback(any(forward)).with_state(payments)).await
}

fn quick_recovery() -> Vec<(&'static str, String)> {
    vec![
        ("ORDERS_RECOVER_AFTER", "0s".into()),
        ("ORDERS_RECOVERY_INTERVAL", "100ms".into()),
    ]
}

#[tokio::test]
async fn an_order_stuck_before_the_charge_is_failed_and_its_stock_released_after_restart() {
    let hole = black_hole().await;
    let shop = start_with(Options {
        payments_override: Some(hole),
        extra: vec![("ORDERS_CALL_TIMEOUT", "500ms".into())],
    })
    .await;
    let (_, token) = shop.customer();
    let p = product(15);
    shop.set_stock(p, 5).await;

    let (status, body) = shop
        .checkout(&token, "stuck", Some(items(&[(p, 2)])), GOOD_CARD)
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let order_id = body["error"]["details"]["orderId"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(shop.order(&token, &order_id).await["status"], "pending");
    assert_eq!(
        shop.stock(p).await,
        (3, 2),
        "held while the outcome is unknown"
    );
    let stuck_shown = eventually(Duration::from_secs(15), || async {
        let text = shop.metrics_of(&shop.orders).await;
        metric_sample(&text, "orders_pending", &[]) == Some(1.0)
            && metric_sample(&text, "orders_pending_oldest_age_seconds", &[]) > Some(0.0)
            && metric_sample(&text, "orders_checkouts_total", &[("outcome", "error")]) == Some(1.0)
    })
    .await;
    assert!(
        stuck_shown,
        "/metrics shows the stuck order: {}",
        shop.metrics_of(&shop.orders).await
    );

    // "Restart": a fresh orders instance on the same database, payments reachable again.
    let payments = shop.payments.clone();
    let restarted = shop.start_orders(&payments, &quick_recovery()).await;
    let resolved = eventually(Duration::from_secs(15), || async {
        let (_, o) = shop
            .call(
                reqwest::Method::GET,
                format!("{restarted}/api/orders/{order_id}"),
                Some(&token),
                None,
                None,
            )
            .await;
        o["status"] == "failed"
    })
    .await;
    assert!(resolved, "recovery should fail the order");
    assert_eq!(
        shop.order(&token, &order_id).await["failureReason"],
        "abandoned"
    );
    assert_eq!(shop.stock(p).await, (5, 0));
    assert!(shop.payments_of(&order_id).await.is_empty());
    let cleared = eventually(Duration::from_secs(15), || async {
        let text = shop.metrics_of(&restarted).await;
        metric_sample(&text, "orders_pending", &[]) == Some(0.0)
            && metric_sample(&text, "orders_pending_oldest_age_seconds", &[]) == Some(0.0)
    })
    .await;
    assert!(cleared, "the pending gauge returns to 0 once recovered");
    let text = shop.metrics_of(&restarted).await;
    assert_eq!(
        metric_sample(
            &text,
            "orders_recoveries_total",
            &[("resolution", "failed")]
        ),
        Some(1.0),
        "the resolution is counted by the replica whose worker made it: {text}"
    );
    assert_eq!(
        metric_sample(&text, "orders_recoveries_total", &[("resolution", "paid")]),
        Some(0.0)
    );
}

#[tokio::test]
async fn an_order_charged_but_never_confirmed_is_completed_after_restart() {
    // First start the shop normally, then point a second orders instance at a forwarder that
    // loses answers, to fake a crash between the charge and the commit.
    let shop = start().await;
    let forwarder = lost_answers(shop.payments.clone()).await;
    let flaky_orders = shop
        .start_orders(&forwarder, &[("ORDERS_CALL_TIMEOUT", "1s".into())])
        .await;
    let (_, token) = shop.customer();
    let p = product(16);
    shop.set_stock(p, 5).await;

    let body = serde_json::json!({
        "items": items(&[(p, 1)]),
        "payment": {"cardNumber": GOOD_CARD, "expMonth": 12, "expYear": 2030, "cvc": "123"}
    });
    let (status, answer) = shop
        .call(
            reqwest::Method::POST,
            format!("{flaky_orders}/api/orders"),
            Some(&token),
            Some("lost"),
            Some(body.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{answer}");
    let order_id = answer["error"]["details"]["orderId"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        eventually(Duration::from_secs(5), || async {
            shop.payments_of(&order_id).await.len() == 1
        })
        .await,
        "the charge went through even though orders never heard back"
    );
    assert_eq!(shop.order(&token, &order_id).await["status"], "pending");

    // A retry with the same key while unresolved says so instead of charging again.
    let (status, retry) = shop
        .checkout(&token, "lost", Some(items(&[(p, 1)])), GOOD_CARD)
        .await;
    assert_eq!(
        (status, retry["error"]["code"].clone()),
        (StatusCode::CONFLICT, serde_json::json!("order_in_progress"))
    );

    let payments = shop.payments.clone();
    shop.start_orders(&payments, &quick_recovery()).await;
    assert!(
        eventually(Duration::from_secs(15), || async {
            shop.order(&token, &order_id).await["status"] == "paid"
        })
        .await,
        "recovery should complete the charged order"
    );
    assert_eq!(shop.stock(p).await, (4, 0), "stock committed, not released");
    assert_eq!(
        shop.payments_of(&order_id).await.len(),
        1,
        "never charged twice"
    );

    // Now the key replays the final answer.
    let (status, replay) = shop
        .checkout(&token, "lost", Some(items(&[(p, 1)])), GOOD_CARD)
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(replay["id"].as_str(), Some(order_id.as_str()));
}
