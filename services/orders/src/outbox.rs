//! The outbox relay: publishes order events, written in the same transaction as the status change
//! they describe, to the Redis stream `storefront:order-events`. At least once: an event is
//! marked published only after Redis accepted it, in the transaction that locked it.

use std::time::Duration;

use sqlx::PgPool;
use storefront_common::redis_store::Redis;

use crate::store;

pub const STREAM: &str = "storefront:order-events";

pub async fn run(pool: PgPool, redis: Redis, every: Duration) {
    loop {
        match relay_once(&pool, &redis).await {
            Ok(n) if n > 0 => tracing::debug!(published = n, "order events published"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "publishing order events failed; will retry"),
        }
        tokio::time::sleep(every).await;
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("redis: {0}")]
    Redis(#[from] storefront_common::redis_store::RedisError),
}

pub async fn relay_once(pool: &PgPool, redis: &Redis) -> Result<usize, RelayError> {
    let mut tx = pool.begin().await?;
    let events = store::unpublished(&mut tx, 100).await?;
    if events.is_empty() {
        return Ok(0);
    }
    let mut pipe = redis::pipe();
    for event in &events {
        pipe.cmd("XADD")
            .arg(STREAM)
            .arg("MAXLEN")
            .arg("~")
            .arg(100_000)
            .arg("*")
            .arg("type")
            .arg(&event.event_type)
            .arg("orderId")
            .arg(event.order_id.to_string())
            .arg("eventId")
            .arg(event.id)
            .arg("payload")
            .arg(event.payload.to_string())
            .ignore();
    }
    let mut conn = redis.conn();
    let _: () = pipe.query_async(&mut conn).await?;
    let ids: Vec<i64> = events.iter().map(|e| e.id).collect();
    store::mark_published(&mut tx, &ids).await?;
    tx.commit().await?;
    Ok(events.len())
}
