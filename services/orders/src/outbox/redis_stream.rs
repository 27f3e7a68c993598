//! Publishing to the Redis stream: one pipelined `XADD` per event, capped near 100 000 entries.

use storefront_common::events::EventEnvelope;
use storefront_common::redis_store::Redis;

use super::{RelayError, STREAM};

pub(super) async fn publish(redis: &Redis, events: &[EventEnvelope]) -> Result<(), RelayError> {
    let mut pipe = redis::pipe();
    for event in events {
        let cmd = pipe
            .cmd("XADD")
            .arg(STREAM)
            .arg("MAXLEN")
            .arg("~")
            .arg(100_000)
            .arg("*");
        for (name, value) in event.fields() {
            cmd.arg(name).arg(value);
        }
        cmd.ignore();
    }
    let mut conn = redis.conn();
    let _: () = pipe.query_async(&mut conn).await?;
    Ok(())
}
