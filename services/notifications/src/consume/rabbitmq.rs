//! The RabbitMQ adapter: a durable quorum queue `notifications.order-events` bound to the topic
//! exchange with `order.*`, dead-lettering into `storefront.order-events.dead-letter` (a fanout
//! exchange with the durable queue `notifications.order-events.dead-letter`). Manual acks and a
//! prefetch limit: at most `prefetch` deliveries are unacknowledged at once.
//!
//! A handled delivery is acked. A failed one is requeued, and the broker counts it in the
//! quorum queue's `x-delivery-count` header; the delivery that would exceed `max_attempts` is
//! rejected without requeue, which dead-letters it. A consumer that dies leaves its unacked
//! deliveries to the broker, which delivers them again (handling is idempotent).

use std::time::Duration;

use futures::StreamExt;
use storefront_common::amqp::lapin::message::Delivery;
use storefront_common::amqp::lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions, BasicRejectOptions,
    ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use storefront_common::amqp::lapin::types::{AMQPValue, FieldTable, ShortString};
use storefront_common::amqp::lapin::{self, ExchangeKind};
use storefront_common::events::{
    EventEnvelope, ORDER_EVENTS_DEAD_LETTER_EXCHANGE, ORDER_EVENTS_EXCHANGE,
};

use super::Handler;

pub const QUEUE: &str = "notifications.order-events";
pub const DEAD_LETTER_QUEUE: &str = "notifications.order-events.dead-letter";

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

/// Declares what this consumer needs; every declaration is idempotent.
pub async fn declare(channel: &lapin::Channel) -> Result<(), lapin::Error> {
    let durable_exchange = ExchangeDeclareOptions {
        durable: true,
        ..ExchangeDeclareOptions::default()
    };
    let durable_queue = QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    };
    channel
        .exchange_declare(
            ORDER_EVENTS_EXCHANGE,
            ExchangeKind::Topic,
            durable_exchange,
            FieldTable::default(),
        )
        .await?;
    channel
        .exchange_declare(
            ORDER_EVENTS_DEAD_LETTER_EXCHANGE,
            ExchangeKind::Fanout,
            durable_exchange,
            FieldTable::default(),
        )
        .await?;
    channel
        .queue_declare(DEAD_LETTER_QUEUE, durable_queue, FieldTable::default())
        .await?;
    channel
        .queue_bind(
            DEAD_LETTER_QUEUE,
            ORDER_EVENTS_DEAD_LETTER_EXCHANGE,
            "",
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let mut args = FieldTable::default();
    args.insert(
        ShortString::from("x-queue-type"),
        AMQPValue::LongString("quorum".into()),
    );
    args.insert(
        ShortString::from("x-dead-letter-exchange"),
        AMQPValue::LongString(ORDER_EVENTS_DEAD_LETTER_EXCHANGE.into()),
    );
    channel.queue_declare(QUEUE, durable_queue, args).await?;
    channel
        .queue_bind(
            QUEUE,
            ORDER_EVENTS_EXCHANGE,
            "order.*",
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    Ok(())
}

async fn consume(handler: &Handler, settings: &Settings) -> Result<(), lapin::Error> {
    let connection =
        storefront_common::amqp::connect("notifications", &settings.url, Duration::from_secs(5))
            .await?;
    let channel = connection.create_channel().await?;
    channel
        .basic_qos(settings.prefetch, BasicQosOptions::default())
        .await?;
    declare(&channel).await?;
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
        let tries = earlier_deliveries(&delivery) + 1;
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
                delivery
                    .nack(BasicNackOptions {
                        requeue: true,
                        ..BasicNackOptions::default()
                    })
                    .await?;
            }
        }
    }
    Ok(())
}

/// How often the broker delivered this message before (the quorum queue's count; absent on a
/// first delivery).
fn earlier_deliveries(delivery: &Delivery) -> u64 {
    let Some(headers) = delivery.properties.headers() else {
        return 0;
    };
    let Some(value) = headers.inner().get("x-delivery-count") else {
        return 0;
    };
    value
        .as_long_long_int()
        .map(|n| n.max(0) as u64)
        .or_else(|| value.as_long_int().map(|n| n.max(0) as u64))
        .or_else(|| value.as_long_uint().map(u64::from))
        .or_else(|| value.as_short_int().map(|n| n.max(0) as u64))
        .unwrap_or(0)
}
