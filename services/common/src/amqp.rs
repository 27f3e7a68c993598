//! The one AMQP connection setup (feature `amqp`): lapin driven by the tokio runtime, with the
//! connection named after the service so the broker's management view says who is who; and the
//! one declaration of the order-events topology, which the publisher (orders) and the consumer
//! (notifications) both make, so that events published before the consumer first starts are
//! queued, not dropped.

use std::time::Duration;

pub use lapin;
use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{Channel, Connection, ConnectionProperties, ExchangeKind};

use crate::events::{ORDER_EVENTS_DEAD_LETTER_EXCHANGE, ORDER_EVENTS_EXCHANGE};

/// The durable (classic) queue notifications consumes, bound to the exchange with `order.*`.
pub const ORDER_EVENTS_QUEUE: &str = "notifications.order-events";
/// Where that queue dead-letters to (through the fanout exchange
/// [`ORDER_EVENTS_DEAD_LETTER_EXCHANGE`]).
pub const ORDER_EVENTS_DEAD_LETTER_QUEUE: &str = "notifications.order-events.dead-letter";

/// Connects to `url`, retrying for up to `wait` so that a service started beside its broker
/// comes up.
pub async fn connect(service: &str, url: &str, wait: Duration) -> Result<Connection, lapin::Error> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let properties = ConnectionProperties::default()
            .with_connection_name(service.into())
            .with_executor(tokio_executor_trait::Tokio::current())
            .with_reactor(tokio_reactor_trait::Tokio::current());
        match Connection::connect(url, properties).await {
            Ok(connection) => return Ok(connection),
            Err(e) if tokio::time::Instant::now() < deadline => {
                tracing::warn!(error = %e, "rabbitmq not reachable yet; retrying");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Declares the order-events topology: the durable topic exchange, the durable queue bound with
/// `order.*` that dead-letters to a fanout exchange and its durable queue. The queue is classic,
/// not quorum: see the notifications consumer for why. Every
/// declaration is idempotent, so each side makes all of it.
pub async fn declare_order_events(channel: &Channel) -> Result<(), lapin::Error> {
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
        .queue_declare(
            ORDER_EVENTS_DEAD_LETTER_QUEUE,
            durable_queue,
            FieldTable::default(),
        )
        .await?;
    channel
        .queue_bind(
            ORDER_EVENTS_DEAD_LETTER_QUEUE,
            ORDER_EVENTS_DEAD_LETTER_EXCHANGE,
            "",
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let mut args = FieldTable::default();
    args.insert(
        ShortString::from("x-dead-letter-exchange"),
        AMQPValue::LongString(ORDER_EVENTS_DEAD_LETTER_EXCHANGE.into()),
    );
    channel
        .queue_declare(ORDER_EVENTS_QUEUE, durable_queue, args)
        .await?;
    channel
        .queue_bind(
            ORDER_EVENTS_QUEUE,
            ORDER_EVENTS_EXCHANGE,
            "order.*",
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    Ok(())
}
