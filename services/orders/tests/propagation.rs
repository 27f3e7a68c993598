//! Calls the saga makes carry the caller's request id and trace context.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

mod support;

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Request, State};
use axum::routing::any;
use reqwest::StatusCode;
use support::*;

type Seen = Arc<Mutex<Vec<(String, Option<String>, Option<String>)>>>;

/// Stands in front of the real payments service, recording what headers each call carried.
async fn recording_proxy(target: String, seen: Seen) -> String {
    async fn forward(
        State((target, seen)): State<(String, Seen)>,
        req: Request,
    ) -> axum::response::Response {
        let (parts, body) = req.into_parts();
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(String::from)
        };
        seen.lock().unwrap().push((
            parts.uri.path().to_string(),
            header("x-request-id"),
            header("traceparent"),
        ));
        let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
        let mut out =
            reqwest::Client::new().request(parts.method, format!("{target}{}", parts.uri));
        for (name, value) in &parts.headers {
            out = out.header(name, value);
        }
        let resp = out.body(bytes).send().await.unwrap();
        let status = resp.status();
        let body = resp.bytes().await.unwrap();
        axum::response::Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(axum::body::Body::from(body))
            .unwrap()
    }
    serve(
        Router::new()
            .fallback(any(forward))
            .with_state((target, seen)),
    )
    .await
}

#[tokio::test]
async fn the_charge_call_carries_the_request_id_and_the_callers_trace() {
    // What `service::run` does in the binary: the W3C propagator and the OpenTelemetry layer.
    let _telemetry = storefront_common::telemetry::init("orders-test").unwrap();
    let shop = start().await;
    let seen: Seen = Arc::default();
    let proxy = recording_proxy(shop.payments.clone(), seen.clone()).await;
    let orders = shop.start_orders(&proxy, &[]).await;
    let (_, token) = shop.customer();
    let p = product(18);
    shop.set_stock(p, 5).await;

    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let body = serde_json::json!({
        "items": items(&[(p, 1)]),
        "payment": {"cardNumber": GOOD_CARD, "expMonth": 12, "expYear": 2030, "cvc": "123"}
    });
    let resp = shop
        .http
        .post(format!("{orders}/api/orders"))
        .bearer_auth(&token)
        .header("Idempotency-Key", "traced")
        .header("x-request-id", "req-abc-123")
        .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert_eq!(resp.headers()["x-request-id"], "req-abc-123");
    let order: serde_json::Value = resp.json().await.unwrap();

    let recorded = seen.lock().unwrap().clone();
    let (path, request_id, traceparent) = recorded
        .iter()
        .find(|(path, ..)| path == "/internal/charges")
        .expect("a charge call")
        .clone();
    assert_eq!(path, "/internal/charges");
    assert_eq!(request_id.as_deref(), Some("req-abc-123"));
    let traceparent = traceparent.expect("traceparent on the outgoing call");
    assert!(
        traceparent.starts_with(&format!("00-{trace_id}-")),
        "same trace, new parent span: {traceparent}"
    );
    assert!(
        !traceparent.contains("00f067aa0ba902b7"),
        "the parent is orders' own span: {traceparent}"
    );

    // The order.paid event carries the same trace to whoever consumes it.
    let carried: Option<String> = {
        let pool = sqlx::PgPool::connect(&shop.orders_db).await.unwrap();
        let carried = sqlx::query_scalar(
            "SELECT traceparent FROM order_events WHERE order_id = $1::uuid AND event_type = 'order.paid'",
        )
        .bind(order["id"].as_str().unwrap())
        .fetch_one(&pool)
        .await
        .unwrap();
        pool.close().await;
        carried
    };
    let carried = carried.expect("the outbox row keeps the traceparent");
    assert!(
        carried.starts_with(&format!("00-{trace_id}-")),
        "the event continues the checkout's trace: {carried}"
    );

    // Without a caller's trace a new one starts; not recorded (nothing exports it in this test),
    // but its context still travels so the next hop joins the same trace.
    let resp = shop
        .http
        .post(format!("{orders}/api/orders"))
        .bearer_auth(&token)
        .header("Idempotency-Key", "untraced")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let recorded = seen.lock().unwrap().clone();
    let charges: Vec<_> = recorded
        .iter()
        .filter(|(path, ..)| path == "/internal/charges")
        .collect();
    assert_eq!(charges.len(), 2);
    let fresh = charges[1]
        .2
        .clone()
        .expect("traceparent even for a trace started here");
    assert!(
        fresh.starts_with("00-") && !fresh.contains(trace_id),
        "{fresh}"
    );
}
