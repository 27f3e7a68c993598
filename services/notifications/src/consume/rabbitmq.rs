//! The RabbitMQ adapter: a durable queue `notifications.order-events` bound to the topic
//! exchange with `order.*`, dead-lettering into `storefront.order-events.dead-letter` (a fanout
//! exchange with the durable queue `notifications.order-events.dead-letter`), declared by
//! [`storefront_common::amqp::declare_order_events`]. Manual acks and a prefetch limit: at most
//! `prefetch` deliveries are unacknowledged at once.
//!
//! A handled delivery is acked. A failed one is published again to the back of the queue with
//! its try count in the `x-storefront-tries` header (confirmed by the broker before the original
//! is acked, so a crash in between makes a duplicate, never a loss); the try that reaches
//! `max_attempts` is rejected without requeue, which dead-letters it. A consumer that dies leaves
//! its unacked deliveries to the broker, which delivers them again (handling is idempotent), and
//! that redelivery does not count as a try.
//!
//! Why the queue counts tries itself: it is a classic durable queue, not a quorum queue. A quorum
//! queue would count deliveries for us, but on Debian 12's RabbitMQ 3.10 a single-node quorum
//! queue found no leader again after the broker was killed (SIGKILL) and restarted, and
//! accepted no message until someone intervened, which the broker-crash test showed. A single
//! broker gains nothing from a quorum anyway.

use std::time::Duration;

use futures::StreamExt;
use storefront_common::amqp::lapin;
use storefront_common::amqp::lapin::message::Delivery;
use storefront_common::amqp::lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicPublishOptions, BasicQosOptions,
    BasicRejectOptions, ConfirmSelectOptions,
};
use storefront_common::amqp::lapin::types::{AMQPValue, FieldTable, ShortString};
use storefront_common::events::EventEnvelope;

use super::Handler;

pub use storefront_common::amqp::{
    ORDER_EVENTS_DEAD_LETTER_QUEUE as DEAD_LETTER_QUEUE, ORDER_EVENTS_QUEUE as QUEUE,
};

#[derive(Debug, Clone)]
pub struct Settings {
    pub url: String,
    pub consumer: String,
    pub max_attempts: u32,
    pub prefetch: u16,
}

/// Consumes until the runtime stops, reconnecting after a lost connection.
pub async fn run(handler: Handler, settings: Settings) {
    loop {
        if let Err(e) = consume(&handler, &settings).await {
            tracing::warn!(error = %e, "consuming order events from rabbitmq failed; reconnecting");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn consume(handler: &Handler, settings: &Settings) -> Result<(), lapin::Error> {
    let connection =
        storefront_common::amqp::connect("notifications", &settings.url, Duration::from_secs(5))
            .await?;
    let channel = connection.create_channel().await?;
    channel
        .basic_qos(settings.prefetch, BasicQosOptions::default())
        .await?;
    storefront_common::amqp::declare_order_events(&channel).await?;
    let retries = connection.create_channel().await?;
    retries
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let mut deliveries = channel
        .basic_consume(
            QUEUE,
            settings.consumer.as_str(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    tracing::info!(queue = QUEUE, "consuming order events from rabbitmq");
    while let Some(delivery) = deliveries.next().await {
        let delivery = delivery?;
        let tries = earlier_tries(&delivery) + 1;
        let event = EventEnvelope::from_json(&delivery.data);
        match handler.handle(event).await {
            Ok(_) => {
                delivery.ack(BasicAckOptions::default()).await?;
            }
            Err(_) if tries >= u64::from(settings.max_attempts) => {
                delivery
                    .reject(BasicRejectOptions { requeue: false })
                    .await?;
                handler.metrics.dead_lettered(handler.bus);
                tracing::warn!(tries, "order event moved to the dead-letter queue");
            }
            Err(_) => {
                if try_again_later(&retries, &delivery, tries).await? {
                    delivery.ack(BasicAckOptions::default()).await?;
                } else {
                    delivery
                        .nack(BasicNackOptions {
                            requeue: true,
                            ..BasicNackOptions::default()
                        })
                        .await?;
                }
            }
        }
    }
    Ok(())
}

const TRIES_HEADER: &str = "x-storefront-tries";

/// Publishes a failed delivery again to the back of the queue with `tries` recorded; true once
/// the broker confirmed it (then the original may be acked).
async fn try_again_later(
    retries: &lapin::Channel,
    delivery: &Delivery,
    tries: u64,
) -> Result<bool, lapin::Error> {
    let mut headers = delivery.properties.headers().clone().unwrap_or_default();
    headers.insert(
        ShortString::from(TRIES_HEADER),
        AMQPValue::LongLongInt(i64::try_from(tries).unwrap_or(i64::MAX)),
    );
    let properties = delivery
        .properties
        .clone()
        .with_headers(headers)
        .with_delivery_mode(2);
    let confirmation = retries
        .basic_publish(
            "",
            QUEUE,
            BasicPublishOptions {
                mandatory: true,
                ..BasicPublishOptions::default()
            },
            &delivery.data,
            properties,
        )
        .await?
        .await?;
    Ok(confirmation.is_ack() && confirmation.take_message().is_none())
}

/// How many tries of this event failed before (absent on a first delivery).
fn earlier_tries(delivery: &Delivery) -> u64 {
    let Some(headers) = delivery.properties.headers() else {
        return 0;
    };
    let Some(value) = headers.inner().get(TRIES_HEADER) else {
        return 0;
    };
    value
        .as_long_long_int()
        .map(|n| n.max(0) as u64)
        .unwrap_or(0)
}
