//! Holds expire: the sweeper gives their units back, and a late commit is refused.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

mod support;

use std::time::Duration;

use serde_json::json;
use support::{read, start_with};
use uuid::Uuid;

#[tokio::test]
async fn the_sweeper_releases_expired_holds_and_their_stock() {
    let app = start_with(&[("INVENTORY_SWEEP_INTERVAL", "100ms")]).await;
    let product = app.product(5).await;
    let short = Uuid::new_v4();
    let long = Uuid::new_v4();
    let res = app
        .reserve_body(json!({
            "reservationId": short,
            "items": [{"productId": product, "quantity": 2}],
            "ttlSeconds": 1,
        }))
        .await;
    assert_eq!(res.status(), 201);
    assert_eq!(app.reserve(long, &[(product, 1)]).await.status(), 201);
    assert_eq!(app.levels(product).await, (2, 3));

    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while app.levels(product).await != (4, 1) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "expired hold was not released: {:?}",
            app.levels(product).await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let res = app
        .http
        .get(app.url(&format!("/internal/reservations/{short}")))
        .bearer_auth(&app.service)
        .send()
        .await
        .unwrap();
    assert_eq!(read(res).await.1["status"], "released");

    let (status, body) = read(app.act(short, "commit").await).await;
    assert_eq!(status, 409);
    assert_eq!(body["error"]["code"], "reservation_released");
    let (status, body) = read(app.act(long, "commit").await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(app.levels(product).await, (4, 0));
}

#[tokio::test]
async fn a_commit_after_expiry_is_refused_even_before_the_sweeper_runs() {
    let app = start_with(&[("INVENTORY_SWEEP_INTERVAL", "1h")]).await;
    let product = app.product(5).await;
    let id = Uuid::new_v4();
    let res = app
        .reserve_body(json!({
            "reservationId": id,
            "items": [{"productId": product, "quantity": 2}],
            "ttlSeconds": 1,
        }))
        .await;
    assert_eq!(res.status(), 201);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        app.levels(product).await,
        (3, 2),
        "the sweeper must not have run"
    );

    let (status, body) = read(app.act(id, "commit").await).await;
    assert_eq!(status, 409);
    assert_eq!(body["error"]["code"], "reservation_released");
    assert_eq!(app.levels(product).await, (5, 0));
}
