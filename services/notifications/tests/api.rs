//! The notifications service end to end on Redis Streams: order events in, one notification per
//! event out, the customer's list and marking read, and poison events dead-lettered.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

mod support;

use std::time::Duration;

use serde_json::json;
use storefront_common::events::ORDER_EVENTS_DEAD_LETTER_STREAM;
use support::*;

#[tokio::test]
async fn a_paid_order_becomes_one_notification_for_its_customer_only() {
    let app = start(&[]).await;
    app.publish(&[order_event("1", "order.paid", app.alice.id)])
        .await;
    let list = app.wait_for(&app.alice, 1).await;
    let n = &list["items"][0];
    assert_eq!(n["kind"], "order.paid");
    assert_eq!(n["title"], "Order confirmed");
    assert!(n["body"].as_str().unwrap().contains("19.99 USD"), "{n}");
    assert_eq!(n["read"], false);
    assert_eq!(list["unread"], 1);
    assert_eq!(app.list(&app.bob).await["items"], json!([]));
}

#[tokio::test]
async fn every_customer_facing_order_event_is_told_newest_first_and_others_are_ignored() {
    let app = start(&[]).await;
    let kinds = [
        "order.paid",
        "order.shipped",
        "order.delivered",
        "order.cancelled",
        "order.failed",
    ];
    let mut events: Vec<_> = kinds
        .iter()
        .enumerate()
        .map(|(i, kind)| order_event(&format!("e{i}"), kind, app.alice.id))
        .collect();
    events.push(order_event("e-pending", "order.pending", app.alice.id));
    for event in &events {
        // One at a time, so their creation times are in order.
        app.publish(std::slice::from_ref(event)).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let list = app.wait_for(&app.alice, 5).await;
    let seen: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["kind"].as_str().unwrap())
        .collect();
    let mut newest_first = kinds.to_vec();
    newest_first.reverse();
    assert_eq!(seen, newest_first);
    assert!(
        eventually(Duration::from_secs(5), || async {
            app.metric("notifications_events_total", &[("outcome", "ignored")])
                .await
                == 1.0
        })
        .await
    );
    assert_eq!(
        app.list(&app.alice).await["items"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
}

#[tokio::test]
async fn a_redelivered_event_makes_no_second_notification() {
    let app = start(&[]).await;
    let event = order_event("same-id", "order.paid", app.alice.id);
    app.publish(&[event.clone(), event.clone()]).await;
    app.wait_for(&app.alice, 1).await;
    let duplicate_seen = eventually(Duration::from_secs(5), || async {
        app.metric("notifications_events_total", &[("outcome", "duplicate")])
            .await
            == 1.0
    })
    .await;
    assert!(duplicate_seen, "the second delivery should be a duplicate");
    assert_eq!(app.rows("SELECT count(*) FROM notifications").await, 1);
}

#[tokio::test]
async fn marking_read_is_idempotent_and_only_for_the_owner() {
    let app = start(&[]).await;
    app.publish(&[order_event("r1", "order.paid", app.alice.id)])
        .await;
    let list = app.wait_for(&app.alice, 1).await;
    let id = list["items"][0]["id"].as_str().unwrap().to_string();
    let path = format!("/api/notifications/{id}/read");

    let bobs = app.post(&path, Some(&app.bob.token), &json!({})).await;
    assert_eq!((bobs.status.as_u16(), bobs.code()), (404, "not_found"));

    let first = app.post(&path, Some(&app.alice.token), &json!({})).await;
    assert_eq!(first.status, 200, "{:?}", first.body);
    assert_eq!(first.body["read"], true);
    let again = app.post(&path, Some(&app.alice.token), &json!({})).await;
    assert_eq!(again.body["readAt"], first.body["readAt"]);
    assert_eq!(app.list(&app.alice).await["unread"], 0);
}

#[tokio::test]
async fn bad_requests_get_json_errors() {
    let app = start(&[]).await;
    let bad_id = app
        .post(
            "/api/notifications/not-a-uuid/read",
            Some(&app.alice.token),
            &json!({}),
        )
        .await;
    assert_eq!(bad_id.status, 400, "{:?}", bad_id.body);
    assert_ne!(bad_id.code(), "<no error code>");
    let anonymous = app.get("/api/notifications", None).await;
    assert_eq!(anonymous.status, 401);
    let service = app
        .get("/api/notifications", Some(&service_token("orders")))
        .await;
    assert_eq!(service.status, 403);
    let wrong_method = app
        .send(
            reqwest::Method::DELETE,
            "/api/notifications",
            Some(&app.alice.token),
            None,
        )
        .await;
    assert_eq!(wrong_method.status, 405);
}

#[tokio::test]
async fn a_poison_event_is_dead_lettered_after_its_tries_and_does_not_stall_the_rest() {
    let app = start(&[("NOTIFICATIONS_MAX_ATTEMPTS", "3")]).await;
    publish_fields(
        app.redis_url(),
        &[vec![
            ("type", "order.paid".to_string()),
            ("eventId", "poison".to_string()),
            ("orderId", "x".to_string()),
            ("payload", "{not json".to_string()),
        ]],
    )
    .await;
    app.publish(&[order_event("after-poison", "order.paid", app.alice.id)])
        .await;
    app.wait_for(&app.alice, 1).await;

    let dead = eventually(Duration::from_secs(10), || async {
        app.metric("notifications_dead_lettered_total", &[("bus", "redis")])
            .await
            == 1.0
    })
    .await;
    assert!(dead, "the poison event should be dead-lettered once");
    assert_eq!(
        app.metric("notifications_events_total", &[("outcome", "failed")])
            .await,
        3.0,
        "three tries, no more"
    );
    let mut conn = redis(app.redis_url()).await;
    let entries: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
        .arg(ORDER_EVENTS_DEAD_LETTER_STREAM)
        .arg("-")
        .arg("+")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(entries.len(), 1);
    let fields: std::collections::HashMap<_, _> = entries[0].1.iter().cloned().collect();
    assert_eq!(fields["eventId"], "poison");
    assert_eq!(fields["tries"], "3");
    let pending: (i64, redis::Value, redis::Value, redis::Value) = redis::cmd("XPENDING")
        .arg(storefront_common::events::ORDER_EVENTS_STREAM)
        .arg("notifications")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(pending.0, 0, "nothing is left pending");
    assert_eq!(app.rows("SELECT count(*) FROM notifications").await, 1);
}

#[tokio::test]
async fn an_event_the_database_refuses_is_dead_lettered_not_retried_forever() {
    let app = start(&[("NOTIFICATIONS_MAX_ATTEMPTS", "2")]).await;
    // PostgreSQL refuses a NUL byte in text (SQLSTATE 22021): no wait makes that insert work.
    app.publish(&[order_event("nul\u{0}id", "order.paid", app.alice.id)])
        .await;
    app.publish(&[order_event("after-nul", "order.paid", app.alice.id)])
        .await;
    app.wait_for(&app.alice, 1).await;
    let dead = eventually(Duration::from_secs(10), || async {
        app.metric("notifications_dead_lettered_total", &[("bus", "redis")])
            .await
            == 1.0
    })
    .await;
    assert!(dead, "the refused event should be dead-lettered once");
    assert_eq!(
        app.metric("notifications_events_total", &[("outcome", "failed")])
            .await,
        2.0
    );
    assert_eq!(app.rows("SELECT count(*) FROM notifications").await, 1);
}
