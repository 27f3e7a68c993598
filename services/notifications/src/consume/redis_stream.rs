//! The Redis Streams adapter: one consumer group (`notifications`) on `storefront:order-events`,
//! read from the stream's start so events published before the service existed are seen too.
//!
//! A pass first looks at deliveries left unacknowledged for `retry_after` (a failed try, or a
//! consumer that died mid-batch): those delivered `max_attempts` times go to the dead-letter
//! stream, the rest are claimed and tried again. Then it reads new entries. The delivery count
//! Redis keeps per pending entry is the try count, so it survives restarts.

use std::collections::HashMap;
use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::streams::{StreamClaimReply, StreamId, StreamPendingCountReply, StreamReadReply};
use storefront_common::events::{
    EventEnvelope, ORDER_EVENTS_DEAD_LETTER_STREAM, ORDER_EVENTS_STREAM,
};
use storefront_common::redis_store::{Redis, RedisError};

use super::Handler;

pub const GROUP: &str = "notifications";

#[derive(Debug, Clone)]
pub struct Settings {
    /// This consumer's name in the group; stable per replica, so a restart finds its own work.
    pub consumer: String,
    pub max_attempts: u32,
    /// How long a delivery stays unacknowledged before it is tried again.
    pub retry_after: Duration,
    pub batch: usize,
    /// How long one read waits for new entries.
    pub block: Duration,
}

/// Consumes until the runtime stops. `redis` should be a connection of its own: reads block.
pub async fn run(redis: Redis, handler: Handler, settings: Settings) {
    let mut conn = redis.conn();
    let mut group_ready = false;
    loop {
        if !group_ready {
            match ensure_group(&mut conn).await {
                Ok(()) => group_ready = true,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot create the consumer group; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            }
        }
        if let Err(e) = pass(&mut conn, &handler, &settings).await {
            // NOGROUP: the stream was deleted under us; create the group again.
            group_ready = e.code() != Some("NOGROUP");
            tracing::warn!(error = %e, "consuming order events failed; retrying");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

async fn ensure_group(conn: &mut ConnectionManager) -> Result<(), RedisError> {
    let created: Result<(), RedisError> = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(ORDER_EVENTS_STREAM)
        .arg(GROUP)
        .arg("0")
        .arg("MKSTREAM")
        .query_async(conn)
        .await;
    match created {
        Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
        other => other,
    }
}

/// One pass: retries and dead letters, then new entries. Returns how many entries it handled.
pub async fn pass(
    conn: &mut ConnectionManager,
    handler: &Handler,
    settings: &Settings,
) -> Result<usize, RedisError> {
    let mut handled = retry_stale(conn, handler, settings).await?;
    let reply: StreamReadReply = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg(GROUP)
        .arg(&settings.consumer)
        .arg("COUNT")
        .arg(settings.batch)
        .arg("BLOCK")
        .arg(settings.block.as_millis() as u64)
        .arg("STREAMS")
        .arg(ORDER_EVENTS_STREAM)
        .arg(">")
        .query_async(conn)
        .await?;
    let entries: Vec<StreamId> = reply.keys.into_iter().flat_map(|k| k.ids).collect();
    handled += handle_all(conn, handler, entries).await?;
    Ok(handled)
}

async fn retry_stale(
    conn: &mut ConnectionManager,
    handler: &Handler,
    settings: &Settings,
) -> Result<usize, RedisError> {
    let idle_ms = settings.retry_after.as_millis() as u64;
    let pending: StreamPendingCountReply = redis::cmd("XPENDING")
        .arg(ORDER_EVENTS_STREAM)
        .arg(GROUP)
        .arg("IDLE")
        .arg(idle_ms)
        .arg("-")
        .arg("+")
        .arg(settings.batch)
        .query_async(conn)
        .await?;
    if pending.ids.is_empty() {
        return Ok(0);
    }
    let (spent, again): (Vec<_>, Vec<_>) = pending
        .ids
        .into_iter()
        .partition(|p| p.times_delivered >= settings.max_attempts as usize);
    let spent_tries: HashMap<String, usize> = spent
        .iter()
        .map(|p| (p.id.clone(), p.times_delivered))
        .collect();
    for entry in claim(conn, settings, idle_ms, spent.iter().map(|p| &p.id)).await? {
        dead_letter(conn, handler, &entry, spent_tries.get(&entry.id).copied()).await?;
    }
    let claimed = claim(conn, settings, idle_ms, again.iter().map(|p| &p.id)).await?;
    handle_all(conn, handler, claimed).await
}

/// Claims `ids` for this consumer if still idle for `idle_ms` (another replica may have taken
/// them first; those are skipped). Claiming counts as a delivery.
async fn claim<'a>(
    conn: &mut ConnectionManager,
    settings: &Settings,
    idle_ms: u64,
    ids: impl Iterator<Item = &'a String>,
) -> Result<Vec<StreamId>, RedisError> {
    let ids: Vec<&String> = ids.collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let reply: StreamClaimReply = redis::cmd("XCLAIM")
        .arg(ORDER_EVENTS_STREAM)
        .arg(GROUP)
        .arg(&settings.consumer)
        .arg(idle_ms)
        .arg(&ids)
        .query_async(conn)
        .await?;
    Ok(reply.ids)
}

async fn dead_letter(
    conn: &mut ConnectionManager,
    handler: &Handler,
    entry: &StreamId,
    tries: Option<usize>,
) -> Result<(), RedisError> {
    let mut add = redis::cmd("XADD");
    add.arg(ORDER_EVENTS_DEAD_LETTER_STREAM).arg("*");
    for (name, value) in text_fields(entry) {
        add.arg(name).arg(value);
    }
    add.arg("originalId")
        .arg(&entry.id)
        .arg("tries")
        .arg(tries.unwrap_or_default());
    let mut pipe = redis::pipe();
    pipe.atomic()
        .add_command(add)
        .ignore()
        .cmd("XACK")
        .arg(ORDER_EVENTS_STREAM)
        .arg(GROUP)
        .arg(&entry.id)
        .ignore();
    let _: () = pipe.query_async(conn).await?;
    handler.metrics.dead_lettered(handler.bus);
    tracing::warn!(entry = %entry.id, tries, "order event moved to the dead-letter stream");
    Ok(())
}

fn text_fields(entry: &StreamId) -> HashMap<String, String> {
    entry
        .map
        .keys()
        .filter_map(|k| entry.get::<String>(k).map(|v| (k.clone(), v)))
        .collect()
}

/// Handles entries in order and acknowledges the ones handled; failed ones stay pending.
async fn handle_all(
    conn: &mut ConnectionManager,
    handler: &Handler,
    entries: Vec<StreamId>,
) -> Result<usize, RedisError> {
    let mut done = Vec::new();
    for entry in &entries {
        let fields = text_fields(entry);
        let event = EventEnvelope::from_fields(|k| fields.get(k).map(String::as_str));
        if handler.handle(event).await.is_ok() {
            done.push(entry.id.clone());
        }
    }
    if !done.is_empty() {
        let _: () = redis::cmd("XACK")
            .arg(ORDER_EVENTS_STREAM)
            .arg(GROUP)
            .arg(&done)
            .query_async(conn)
            .await?;
    }
    Ok(entries.len())
}
