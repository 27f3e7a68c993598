//! Identical charges racing each other produce one payment.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

mod support;

use futures::future::join_all;
use serde_json::json;
use storefront_common::ids::OrderId;
use support::{GOOD, card, read, start, usd};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_identical_charges_make_exactly_one_payment() {
    let app = start().await;
    let order = OrderId::new();
    let request = json!({"orderId": order, "amount": usd(777), "card": card(GOOD)});
    let answers = join_all(
        (0..20).map(|_| async { read(app.pay(&app.alice, "race", request.clone()).await).await }),
    )
    .await;
    let created = answers.iter().filter(|(s, _)| *s == 201).count();
    let replayed = answers.iter().filter(|(s, _)| *s == 200).count();
    assert_eq!((created, replayed), (1, 19), "{answers:?}");
    let ids: std::collections::HashSet<_> =
        answers.iter().map(|(_, b)| b["id"].to_string()).collect();
    assert_eq!(ids.len(), 1);
    assert_eq!(app.payment_rows().await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_refunds_refund_once() {
    let app = start().await;
    let order = OrderId::new();
    app.charge("pay", order, app.alice.id, 900, card(GOOD))
        .await;
    let answers = join_all((0..10).map(|i| {
        let app = &app;
        async move { read(app.refund(order, &format!("refund-{}", i % 3)).await).await }
    }))
    .await;
    assert!(
        answers
            .iter()
            .all(|(s, b)| *s == 200 && b["status"] == "refunded"),
        "{answers:?}"
    );
    let pool = sqlx::PgPool::connect(app.database_url()).await.unwrap();
    let refunds: i64 = sqlx::query_scalar("SELECT count(*) FROM refunds")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(refunds, 1);
}
