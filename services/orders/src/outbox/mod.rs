//! The outbox relay: publishes order events, written in the same transaction as the status change
//! they describe, to the configured bus (`STOREFRONT_EVENT_BUS`): the Redis stream
//! `storefront:order-events` ([`redis_stream`]) or a durable RabbitMQ topic exchange
//! ([`rabbitmq`], publisher confirms). At least
//! once: an event is marked published only after the bus accepted it (Redis answered, or the
//! broker confirmed), in the transaction that locked it; a failure leaves it for the next pass.

mod rabbitmq;
mod redis_stream;

pub use rabbitmq::RabbitPublisher;

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use storefront_common::events::EventEnvelope;
use storefront_common::redis_store::Redis;

use crate::store;

pub const STREAM: &str = storefront_common::events::ORDER_EVENTS_STREAM;

/// How many events one pass locks and publishes.
const BATCH: i64 = 100;

/// Where the relay publishes to.
#[derive(Clone)]
pub enum Publisher {
    RedisStream(Redis),
    RabbitMq(Arc<RabbitPublisher>),
}

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("redis: {0}")]
    Redis(#[from] storefront_common::redis_store::RedisError),
    #[error("rabbitmq: {0}")]
    Amqp(#[from] storefront_common::amqp::lapin::Error),
    #[error("rabbitmq did not confirm the batch: {0}")]
    Unconfirmed(String),
    #[error("encoding an event: {0}")]
    Encode(String),
}

impl Publisher {
    /// Returns once the bus has accepted every event, or fails.
    async fn publish(&self, events: &[EventEnvelope]) -> Result<(), RelayError> {
        match self {
            Publisher::RedisStream(redis) => redis_stream::publish(redis, events).await,
            Publisher::RabbitMq(rabbit) => rabbit.publish(events).await,
        }
    }
}

pub async fn run(pool: PgPool, publisher: Publisher, every: Duration) {
    loop {
        match relay_once(&pool, &publisher).await {
            // A full batch: more are likely waiting, so go again at once.
            Ok(n) if n as i64 >= BATCH => continue,
            Ok(n) if n > 0 => tracing::debug!(published = n, "order events published"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "publishing order events failed; will retry"),
        }
        tokio::time::sleep(every).await;
    }
}

pub async fn relay_once(pool: &PgPool, publisher: &Publisher) -> Result<usize, RelayError> {
    let mut tx = pool.begin().await?;
    let events = store::unpublished(&mut tx, BATCH).await?;
    if events.is_empty() {
        return Ok(0);
    }
    let envelopes: Vec<EventEnvelope> = events.iter().map(store::Event::envelope).collect();
    publisher.publish(&envelopes).await?;
    let ids: Vec<i64> = events.iter().map(|e| e.id).collect();
    store::mark_published(&mut tx, &ids).await?;
    tx.commit().await?;
    Ok(events.len())
}
