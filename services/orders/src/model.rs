//! Orders as clients see them, their statuses, and which status changes are allowed. Pure.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use storefront_common::ids::{OrderId, ProductId, UserId};
use storefront_common::money::Money;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrderStatus {
    Pending,
    Paid,
    Failed,
    Shipped,
    Delivered,
    Cancelled,
}

impl OrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Pending => "pending",
            OrderStatus::Paid => "paid",
            OrderStatus::Failed => "failed",
            OrderStatus::Shipped => "shipped",
            OrderStatus::Delivered => "delivered",
            OrderStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => OrderStatus::Pending,
            "paid" => OrderStatus::Paid,
            "failed" => OrderStatus::Failed,
            "shipped" => OrderStatus::Shipped,
            "delivered" => OrderStatus::Delivered,
            "cancelled" => OrderStatus::Cancelled,
            _ => return None,
        })
    }

    /// Status changes an admin may make by hand. Everything else is the saga's business:
    /// pending → paid/failed happens only at checkout, paid → cancelled only through cancel
    /// (which refunds and restocks first).
    pub fn admin_may_set(self, to: OrderStatus) -> bool {
        matches!(
            (self, to),
            (OrderStatus::Paid, OrderStatus::Shipped)
                | (OrderStatus::Shipped, OrderStatus::Delivered)
        )
    }

    pub fn cancellable(self) -> bool {
        self == OrderStatus::Paid
    }
}

/// Why an order failed, as stored and shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureReason {
    OutOfStock,
    CardDeclined,
    InsufficientFunds,
    ReservationExpired,
    Abandoned,
}

impl FailureReason {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureReason::OutOfStock => "out_of_stock",
            FailureReason::CardDeclined => "card_declined",
            FailureReason::InsufficientFunds => "insufficient_funds",
            FailureReason::ReservationExpired => "reservation_expired",
            FailureReason::Abandoned => "abandoned",
        }
    }

    pub fn from_decline_code(code: Option<&str>) -> Self {
        match code {
            Some("insufficient_funds") => FailureReason::InsufficientFunds,
            _ => FailureReason::CardDeclined,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct OrderLine {
    pub product_id: ProductId,
    pub name: String,
    pub unit_price: Money,
    pub quantity: i32,
    pub line_total: Money,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    pub id: OrderId,
    pub user_id: UserId,
    pub status: OrderStatus,
    pub items: Vec<OrderLine>,
    pub total: Money,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_moves_orders_forward_only_through_fulfilment() {
        use OrderStatus::*;
        assert!(Paid.admin_may_set(Shipped));
        assert!(Shipped.admin_may_set(Delivered));
        for (from, to) in [
            (Pending, Paid),
            (Failed, Paid),
            (Delivered, Shipped),
            (Paid, Delivered),
            (Paid, Cancelled),
            (Shipped, Paid),
        ] {
            assert!(!from.admin_may_set(to), "{from:?} -> {to:?}");
        }
    }

    #[test]
    fn only_paid_orders_can_be_cancelled() {
        use OrderStatus::*;
        assert!(Paid.cancellable());
        for s in [Pending, Failed, Shipped, Delivered, Cancelled] {
            assert!(!s.cancellable(), "{s:?}");
        }
    }

    #[test]
    fn status_names_round_trip() {
        use OrderStatus::*;
        for s in [Pending, Paid, Failed, Shipped, Delivered, Cancelled] {
            assert_eq!(OrderStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(OrderStatus::parse("lost"), None);
    }
}
