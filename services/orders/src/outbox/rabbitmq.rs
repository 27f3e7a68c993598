//! Publishing to RabbitMQ: persistent, mandatory messages to the durable topic exchange
//! `storefront.order-events`, routing key the event type, on a channel in confirm mode. The
//! channel declares the whole topology first (the consumer's queue included), so events published
//! before notifications ever started are queued. A batch counts as published only when the broker
//! has confirmed (acked) every message in it and returned none as unroutable; a nack, a return, a
//! lost connection or a missing confirm fails the batch, and the channel is opened again on the
//! next pass.

use std::time::Duration;

use storefront_common::amqp::lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use storefront_common::amqp::lapin::types::{AMQPValue, FieldTable, ShortString};
use storefront_common::amqp::lapin::{BasicProperties, Channel, Connection};
use storefront_common::events::{EventEnvelope, ORDER_EVENTS_EXCHANGE};
use tokio::sync::Mutex;

use super::RelayError;

/// How long a batch waits for its confirms before it is given up (and retried).
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(10);

pub struct RabbitPublisher {
    url: String,
    open: Mutex<Option<(Connection, Channel)>>,
}

impl RabbitPublisher {
    pub fn new(url: &str) -> Self {
        Self {
            url: url.to_string(),
            open: Mutex::new(None),
        }
    }

    async fn channel(&self) -> Result<Channel, RelayError> {
        let mut open = self.open.lock().await;
        if let Some((connection, channel)) = open.as_ref()
            && connection.status().connected()
            && channel.status().connected()
        {
            return Ok(channel.clone());
        }
        let connection =
            storefront_common::amqp::connect("orders", &self.url, Duration::ZERO).await?;
        let channel = connection.create_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        storefront_common::amqp::declare_order_events(&channel).await?;
        *open = Some((connection, channel.clone()));
        Ok(channel)
    }

    async fn forget(&self) {
        *self.open.lock().await = None;
    }

    pub(super) async fn publish(&self, events: &[EventEnvelope]) -> Result<(), RelayError> {
        let result = self.publish_confirmed(events).await;
        if result.is_err() {
            self.forget().await;
        }
        result
    }

    async fn publish_confirmed(&self, events: &[EventEnvelope]) -> Result<(), RelayError> {
        let channel = self.channel().await?;
        let mut confirms = Vec::with_capacity(events.len());
        for event in events {
            let body = serde_json::to_vec(event).map_err(|e| RelayError::Encode(e.to_string()))?;
            let mut headers = FieldTable::default();
            if let Some(tp) = &event.traceparent {
                headers.insert(
                    ShortString::from("traceparent"),
                    AMQPValue::LongString(tp.as_str().into()),
                );
            }
            let properties = BasicProperties::default()
                .with_delivery_mode(2)
                .with_content_type("application/json".into())
                .with_message_id(event.event_id.as_str().into())
                .with_headers(headers);
            let confirm = channel
                .basic_publish(
                    ORDER_EVENTS_EXCHANGE,
                    event.event_type.as_str(),
                    BasicPublishOptions {
                        mandatory: true,
                        ..BasicPublishOptions::default()
                    },
                    &body,
                    properties,
                )
                .await?;
            confirms.push(confirm);
        }
        for confirm in confirms {
            let confirmation = tokio::time::timeout(CONFIRM_TIMEOUT, confirm)
                .await
                .map_err(|_| RelayError::Unconfirmed("no confirm in time".into()))??;
            if confirmation.is_nack() {
                return Err(RelayError::Unconfirmed(
                    "the broker refused a message".into(),
                ));
            }
            if let Some(returned) = confirmation.take_message() {
                return Err(RelayError::Unconfirmed(format!(
                    "no queue is bound for {} (the broker returned it: {})",
                    returned.routing_key, returned.reply_text
                )));
            }
        }
        Ok(())
    }
}
