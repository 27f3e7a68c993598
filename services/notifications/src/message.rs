//! What an order event means to its customer: which user gets a notification and what it says.
//! Pure. An event of a type nobody is told about is ignored; one that names no user or order is
//! malformed (retrying cannot fix it, so it ends in the dead letter).

use serde::Deserialize;
use storefront_common::events::EventEnvelope;
use storefront_common::ids::{OrderId, UserId};
use storefront_common::money::Money;

/// The order events a customer hears about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Paid,
    Failed,
    Cancelled,
    Shipped,
    Delivered,
}

impl Kind {
    pub fn from_event_type(event_type: &str) -> Option<Self> {
        Some(match event_type {
            "order.paid" => Kind::Paid,
            "order.failed" => Kind::Failed,
            "order.cancelled" => Kind::Cancelled,
            "order.shipped" => Kind::Shipped,
            "order.delivered" => Kind::Delivered,
            _ => return None,
        })
    }

    pub fn event_type(self) -> &'static str {
        match self {
            Kind::Paid => "order.paid",
            Kind::Failed => "order.failed",
            Kind::Cancelled => "order.cancelled",
            Kind::Shipped => "order.shipped",
            Kind::Delivered => "order.delivered",
        }
    }
}

/// A notification about to be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewNotification {
    pub event_id: String,
    pub user_id: UserId,
    pub order_id: OrderId,
    pub kind: Kind,
    pub title: String,
    pub body: String,
    pub traceparent: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadEvent {
    #[error("the event id is empty")]
    NoEventId,
    #[error("the order in the event's payload is unreadable: {0}")]
    Payload(String),
}

/// The part of the order payload a notification needs.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OrderPayload {
    id: OrderId,
    user_id: UserId,
    total: Money,
    failure_reason: Option<String>,
}

/// The notification `event` asks for: `Ok(None)` for an event type customers are not told about.
pub fn interpret(event: &EventEnvelope) -> Result<Option<NewNotification>, BadEvent> {
    if event.event_id.trim().is_empty() {
        return Err(BadEvent::NoEventId);
    }
    let Some(kind) = Kind::from_event_type(&event.event_type) else {
        return Ok(None);
    };
    let order: OrderPayload = serde_json::from_value(event.payload.clone())
        .map_err(|e| BadEvent::Payload(e.to_string()))?;
    let (title, body) = words(kind, &order);
    Ok(Some(NewNotification {
        event_id: event.event_id.clone(),
        user_id: order.user_id,
        order_id: order.id,
        kind,
        title: title.to_string(),
        body,
        traceparent: event.traceparent.clone(),
    }))
}

fn words(kind: Kind, order: &OrderPayload) -> (&'static str, String) {
    let short = order.id.to_string();
    let short = short.get(..8).unwrap_or(&short);
    let total = order.total;
    match kind {
        Kind::Paid => (
            "Order confirmed",
            format!("We received {total} for order {short}. We will tell you when it ships."),
        ),
        Kind::Failed => {
            let why = match order.failure_reason.as_deref() {
                Some("card_declined") => "the card was declined",
                Some("insufficient_funds") => "the card has insufficient funds",
                Some("out_of_stock") => "an item ran out of stock",
                Some("reservation_expired") => "the stock hold expired; any charge was refunded",
                _ => "it could not be completed",
            };
            ("Order not placed", format!("Order {short} failed: {why}."))
        }
        Kind::Cancelled => (
            "Order cancelled",
            format!("Order {short} was cancelled and {total} refunded."),
        ),
        Kind::Shipped => ("Order shipped", format!("Order {short} is on its way.")),
        Kind::Delivered => ("Order delivered", format!("Order {short} was delivered.")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(event_type: &str, payload: serde_json::Value) -> EventEnvelope {
        EventEnvelope {
            event_id: "42".into(),
            event_type: event_type.into(),
            order_id: "0b6f3b8e-4b8a-4c55-9d7c-2b7a1f0e9a11".into(),
            traceparent: None,
            payload,
        }
    }

    fn order(extra: serde_json::Value) -> serde_json::Value {
        let mut order = json!({
            "id": "0b6f3b8e-4b8a-4c55-9d7c-2b7a1f0e9a11",
            "userId": "6a1d1f6e-9a43-4f0e-8a59-0d5f6f1c2b33",
            "status": "paid",
            "total": {"amount": 2599, "currency": "USD"},
        });
        if let (Some(o), Some(e)) = (order.as_object_mut(), extra.as_object()) {
            o.extend(e.clone());
        }
        order
    }

    #[test]
    fn a_paid_order_tells_its_owner_the_total() {
        let n = interpret(&event("order.paid", order(json!({}))))
            .unwrap()
            .unwrap();
        assert_eq!(n.kind, Kind::Paid);
        assert_eq!(
            n.user_id.to_string(),
            "6a1d1f6e-9a43-4f0e-8a59-0d5f6f1c2b33"
        );
        assert!(
            n.body.contains("25.99 USD") && n.body.contains("0b6f3b8e"),
            "{}",
            n.body
        );
    }

    #[test]
    fn a_failed_order_says_why() {
        let n = interpret(&event(
            "order.failed",
            order(json!({"failureReason": "card_declined"})),
        ))
        .unwrap()
        .unwrap();
        assert!(n.body.contains("declined"), "{}", n.body);
    }

    #[test]
    fn every_kind_round_trips_its_event_type() {
        for kind in [
            Kind::Paid,
            Kind::Failed,
            Kind::Cancelled,
            Kind::Shipped,
            Kind::Delivered,
        ] {
            assert_eq!(Kind::from_event_type(kind.event_type()), Some(kind));
            assert!(
                interpret(&event(kind.event_type(), order(json!({}))))
                    .unwrap()
                    .is_some()
            );
        }
    }

    #[test]
    fn other_event_types_are_ignored() {
        assert_eq!(interpret(&event("order.pending", json!({}))), Ok(None));
    }

    #[test]
    fn an_event_without_a_user_or_id_is_malformed() {
        let err = interpret(&event("order.paid", json!({"id": "x"}))).unwrap_err();
        assert!(matches!(err, BadEvent::Payload(_)), "{err}");
        let mut no_id = event("order.paid", order(json!({})));
        no_id.event_id = " ".into();
        assert_eq!(interpret(&no_id), Err(BadEvent::NoEventId));
    }
}
