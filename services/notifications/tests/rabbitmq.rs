//! The notifications consumer on RabbitMQ against a real `rabbitmq-server` (skipped, saying so,
//! when it is not installed): one notification per event, a redelivery is a duplicate, a poison
//! message is dead-lettered after its tries while the rest flow.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

mod support;

use std::time::Duration;

use storefront_common::amqp::lapin::options::BasicPublishOptions;
use storefront_common::amqp::lapin::{BasicProperties, Channel};
use storefront_common::events::{EventEnvelope, ORDER_EVENTS_EXCHANGE};
use support::*;

async fn publish_body(channel: &Channel, routing_key: &str, body: &[u8]) {
    let confirm = channel
        .basic_publish(
            ORDER_EVENTS_EXCHANGE,
            routing_key,
            BasicPublishOptions::default(),
            body,
            BasicProperties::default().with_delivery_mode(2),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    assert!(confirm.is_ack());
}

async fn publish_event(channel: &Channel, event: &EventEnvelope) {
    publish_body(
        channel,
        &event.event_type,
        &serde_json::to_vec(event).unwrap(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_events_over_rabbitmq_make_one_notification_each_and_poison_is_dead_lettered() {
    let Some(broker) = storefront_testkit::shared_rabbitmq() else {
        return;
    };
    let url = broker.fresh_url().unwrap();
    let app = start(&[
        ("STOREFRONT_EVENT_BUS", "rabbitmq"),
        ("RABBITMQ_URL", url.as_str()),
        ("NOTIFICATIONS_MAX_ATTEMPTS", "3"),
    ])
    .await;
    let (_connection, channel) = rabbit_channel(&url).await;
    publish_body(&channel, "order.paid", b"{not json").await;
    let event = order_event("rabbit-1", "order.paid", app.alice.id);
    publish_event(&channel, &event).await;
    publish_event(&channel, &event).await;

    let list = app.wait_for(&app.alice, 1).await;
    assert_eq!(list["items"][0]["kind"], "order.paid");
    let settled = eventually(Duration::from_secs(15), || async {
        app.metric("notifications_dead_lettered_total", &[("bus", "rabbitmq")])
            .await
            == 1.0
            && app
                .metric("notifications_events_total", &[("outcome", "duplicate")])
                .await
                == 1.0
    })
    .await;
    assert!(settled, "one dead letter and one duplicate expected");
    assert_eq!(
        app.metric("notifications_events_total", &[("outcome", "failed")])
            .await,
        3.0
    );
    assert_eq!(app.rows("SELECT count(*) FROM notifications").await, 1);
}
