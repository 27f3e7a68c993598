//! Order events on the wire, one shape for every bus. The orders outbox publishes them; the
//! notifications service consumes them. On Redis Streams an event is one stream entry whose
//! fields are [`EventEnvelope::fields`]; on RabbitMQ it is one persistent message whose body is
//! the envelope as JSON and whose routing key is the event type.
//!
//! Invariant: `event_id` is unique per event and stable across redeliveries, so a consumer can
//! be idempotent by it.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The Redis stream the outbox appends to.
pub const ORDER_EVENTS_STREAM: &str = "storefront:order-events";
/// Where the notifications consumer puts events it gave up on (Redis Streams).
pub const ORDER_EVENTS_DEAD_LETTER_STREAM: &str = "storefront:order-events:dead-letter";
/// The durable topic exchange the outbox publishes to (RabbitMQ); routing keys are event types.
pub const ORDER_EVENTS_EXCHANGE: &str = "storefront.order-events";
/// The exchange a consumer's queue dead-letters into (RabbitMQ).
pub const ORDER_EVENTS_DEAD_LETTER_EXCHANGE: &str = "storefront.order-events.dead-letter";

/// Which message bus carries order events: `STOREFRONT_EVENT_BUS`, `redis` (default) or
/// `rabbitmq` (then `RABBITMQ_URL` is required).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EventBus {
    #[default]
    Redis,
    RabbitMq,
}

impl EventBus {
    pub fn as_str(self) -> &'static str {
        match self {
            EventBus::Redis => "redis",
            EventBus::RabbitMq => "rabbitmq",
        }
    }
}

impl FromStr for EventBus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "redis" => Ok(EventBus::Redis),
            "rabbitmq" => Ok(EventBus::RabbitMq),
            _ => Err(format!("unknown event bus {s:?}; use redis or rabbitmq")),
        }
    }
}

impl std::fmt::Display for EventBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One order event as it travels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventEnvelope {
    pub event_id: String,
    /// `order.paid`, `order.failed`, `order.cancelled`, `order.shipped`, `order.delivered`.
    #[serde(rename = "type")]
    pub event_type: String,
    pub order_id: String,
    /// The W3C trace context of the request that caused the event, when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    /// The order as it was after the change.
    pub payload: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("the event has no `{0}` field")]
    Missing(&'static str),
    #[error("the event's payload is not JSON: {0}")]
    Payload(String),
    #[error("the event is not a JSON envelope: {0}")]
    Body(String),
}

impl EventEnvelope {
    /// The stream-entry fields (name, value) of this event.
    pub fn fields(&self) -> Vec<(&'static str, String)> {
        let mut fields = vec![
            ("type", self.event_type.clone()),
            ("orderId", self.order_id.clone()),
            ("eventId", self.event_id.clone()),
            ("payload", self.payload.to_string()),
        ];
        if let Some(tp) = &self.traceparent {
            fields.push(("traceparent", tp.clone()));
        }
        fields
    }

    /// Reads an event back from stream-entry fields (`get` looks one up by name).
    pub fn from_fields<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Result<Self, EnvelopeError> {
        let need = |name: &'static str| get(name).ok_or(EnvelopeError::Missing(name));
        let payload = serde_json::from_str(need("payload")?)
            .map_err(|e| EnvelopeError::Payload(e.to_string()))?;
        Ok(Self {
            event_id: need("eventId")?.to_string(),
            event_type: need("type")?.to_string(),
            order_id: need("orderId")?.to_string(),
            traceparent: get("traceparent").map(str::to_string),
            payload,
        })
    }

    /// Reads an event from a message body (RabbitMQ).
    pub fn from_json(body: &[u8]) -> Result<Self, EnvelopeError> {
        serde_json::from_slice(body).map_err(|e| EnvelopeError::Body(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn sample() -> EventEnvelope {
        EventEnvelope {
            event_id: "7".into(),
            event_type: "order.paid".into(),
            order_id: "o-1".into(),
            traceparent: Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into()),
            payload: serde_json::json!({"userId": "u"}),
        }
    }

    #[test]
    fn an_envelope_survives_stream_fields_and_json() {
        let event = sample();
        let fields: HashMap<&str, String> = event.fields().into_iter().collect();
        let back = EventEnvelope::from_fields(|k| fields.get(k).map(String::as_str)).unwrap();
        assert_eq!(back, event);
        let json = serde_json::to_vec(&event).unwrap();
        assert_eq!(EventEnvelope::from_json(&json).unwrap(), event);
    }

    #[test]
    fn a_missing_field_or_bad_payload_is_named() {
        let err = EventEnvelope::from_fields(|k| (k == "payload").then_some("{}")).unwrap_err();
        assert_eq!(err, EnvelopeError::Missing("eventId"));
        let err = EventEnvelope::from_fields(|_| Some("not json")).unwrap_err();
        assert!(matches!(err, EnvelopeError::Payload(_)), "{err}");
    }

    #[test]
    fn the_bus_is_parsed_case_insensitively_and_unknown_ones_are_refused() {
        assert_eq!("RabbitMQ".parse::<EventBus>(), Ok(EventBus::RabbitMq));
        assert_eq!("redis".parse::<EventBus>(), Ok(EventBus::Redis));
        assert!("kafka".parse::<EventBus>().unwrap_err().contains("kafka"));
    }
}
