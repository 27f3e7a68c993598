//! The rules of a reservation, without I/O: which requested items are acceptable (merged per
//! product, sorted by product id so every transaction locks stock rows in the same order), how
//! long a hold lasts, and which status transitions are legal. A reservation moves
//! `held → committed → restocked` or `held → released`; nothing else.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use storefront_common::ids::ProductId;

/// Most units of one product a single reservation may hold.
pub const MAX_QUANTITY: i64 = 1000;
/// Most lines one reservation request may carry.
pub const MAX_ITEMS: usize = 100;
/// Longest hold a caller may ask for, in seconds.
pub const MAX_TTL_SECS: i64 = 3600;

/// One line as the caller sent it; the quantity is wide so that out-of-range values are a
/// validation error with a clear message rather than a parse error.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestedItem {
    pub product_id: ProductId,
    pub quantity: i64,
}

/// A checked line: one per product, quantity within limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Line {
    pub product_id: ProductId,
    pub quantity: i32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ItemsError {
    #[error("send between 1 and {MAX_ITEMS} items; got {0}")]
    ItemCount(usize),
    #[error(
        "quantity of product {product_id} must be between 1 and {MAX_QUANTITY}; got {quantity}"
    )]
    Quantity {
        product_id: ProductId,
        quantity: i64,
    },
    #[error("ttlSeconds must be between 1 and {MAX_TTL_SECS}; got {0}")]
    Ttl(i64),
}

/// Checks the requested items and merges repeats of a product. The result is sorted by product
/// id: the fixed order in which stock rows are locked, so concurrent reservations cannot
/// deadlock.
pub fn normalise(items: &[RequestedItem]) -> Result<Vec<Line>, ItemsError> {
    if items.is_empty() || items.len() > MAX_ITEMS {
        return Err(ItemsError::ItemCount(items.len()));
    }
    let mut merged: BTreeMap<ProductId, i64> = BTreeMap::new();
    for item in items {
        if !(1..=MAX_QUANTITY).contains(&item.quantity) {
            return Err(ItemsError::Quantity {
                product_id: item.product_id,
                quantity: item.quantity,
            });
        }
        *merged.entry(item.product_id).or_default() += item.quantity;
    }
    merged
        .into_iter()
        .map(|(product_id, quantity)| match i32::try_from(quantity) {
            Ok(q) if i64::from(q) <= MAX_QUANTITY => Ok(Line {
                product_id,
                quantity: q,
            }),
            _ => Err(ItemsError::Quantity {
                product_id,
                quantity,
            }),
        })
        .collect()
}

/// How long the hold lasts: the caller's `ttlSeconds` when given, else the configured default.
pub fn hold_for(requested_secs: Option<i64>, default: Duration) -> Result<Duration, ItemsError> {
    match requested_secs {
        None => Ok(default),
        Some(secs) if (1..=MAX_TTL_SECS).contains(&secs) => Ok(Duration::from_secs(secs as u64)),
        Some(secs) => Err(ItemsError::Ttl(secs)),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Held,
    Committed,
    Released,
    Restocked,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Held => "held",
            Status::Committed => "committed",
            Status::Released => "released",
            Status::Restocked => "restocked",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "held" => Some(Status::Held),
            "committed" => Some(Status::Committed),
            "released" => Some(Status::Released),
            "restocked" => Some(Status::Restocked),
            _ => None,
        }
    }
}

/// What a caller asks to do with a reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The order is paid: the held units leave the shelf for good.
    Commit,
    /// The order failed or the hold expired: the held units go back on the shelf.
    Release,
    /// A committed order was cancelled: its units go back on the shelf.
    Restock,
}

impl Action {
    /// The status this action leads to.
    pub fn target(self) -> Status {
        match self {
            Action::Commit => Status::Committed,
            Action::Release => Status::Released,
            Action::Restock => Status::Restocked,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("the reservation was released (cancelled or expired); reserve the items again")]
    Released,
    #[error("the reservation was committed; restock it instead of releasing it")]
    Committed,
    #[error("the reservation was restocked; its units are already back on the shelf")]
    Restocked,
    #[error("the reservation is still held; commit it first, or release it")]
    NotCommitted,
}

impl TransitionError {
    /// The stable error code of the contract.
    pub fn code(self) -> &'static str {
        match self {
            TransitionError::Released => "reservation_released",
            TransitionError::Committed => "reservation_committed",
            TransitionError::Restocked => "reservation_restocked",
            TransitionError::NotCommitted => "reservation_not_committed",
        }
    }
}

/// Decides what `action` does to a reservation in `current`: `Ok(true)` moves it to
/// `action.target()`, `Ok(false)` means it is already there (an idempotent repeat), and an
/// error is an illegal transition.
pub fn plan(current: Status, action: Action) -> Result<bool, TransitionError> {
    use Status::*;
    match (action, current) {
        (_, s) if s == action.target() => Ok(false),
        (Action::Commit, Held) | (Action::Release, Held) | (Action::Restock, Committed) => Ok(true),
        (_, Released) => Err(TransitionError::Released),
        (_, Restocked) => Err(TransitionError::Restocked),
        (Action::Release, Committed) => Err(TransitionError::Committed),
        (Action::Restock, Held) => Err(TransitionError::NotCommitted),
        // Commit of a committed reservation is the idempotent arm above.
        (Action::Commit, Committed) => Ok(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn pid(n: u128) -> ProductId {
        ProductId(Uuid::from_u128(n))
    }

    fn item(n: u128, quantity: i64) -> RequestedItem {
        RequestedItem {
            product_id: pid(n),
            quantity,
        }
    }

    #[test]
    fn repeated_products_are_merged_and_lines_sorted_by_id() {
        let lines = normalise(&[item(3, 1), item(1, 2), item(3, 4)]).unwrap();
        assert_eq!(
            lines,
            vec![
                Line {
                    product_id: pid(1),
                    quantity: 2
                },
                Line {
                    product_id: pid(3),
                    quantity: 5
                },
            ]
        );
    }

    #[test]
    fn quantities_outside_one_to_a_thousand_are_refused() {
        for q in [0, -1, 1001, i64::MAX] {
            assert!(
                matches!(normalise(&[item(1, q)]), Err(ItemsError::Quantity { .. })),
                "{q}"
            );
        }
        assert!(normalise(&[item(1, 1000)]).is_ok());
    }

    #[test]
    fn merged_quantity_is_held_to_the_same_limit() {
        assert!(matches!(
            normalise(&[item(1, 600), item(1, 600)]),
            Err(ItemsError::Quantity { quantity: 1200, .. })
        ));
    }

    #[test]
    fn item_count_must_be_one_to_a_hundred() {
        assert_eq!(normalise(&[]), Err(ItemsError::ItemCount(0)));
        let many: Vec<_> = (0..101).map(|n| item(n, 1)).collect();
        assert_eq!(normalise(&many), Err(ItemsError::ItemCount(101)));
        assert!(normalise(&many[..100]).is_ok());
    }

    #[test]
    fn ttl_defaults_and_is_bounded() {
        let default = Duration::from_secs(900);
        assert_eq!(hold_for(None, default), Ok(default));
        assert_eq!(hold_for(Some(1), default), Ok(Duration::from_secs(1)));
        assert_eq!(hold_for(Some(0), default), Err(ItemsError::Ttl(0)));
        assert_eq!(hold_for(Some(3601), default), Err(ItemsError::Ttl(3601)));
    }

    #[test]
    fn legal_transitions_move_and_repeats_stay() {
        assert_eq!(plan(Status::Held, Action::Commit), Ok(true));
        assert_eq!(plan(Status::Held, Action::Release), Ok(true));
        assert_eq!(plan(Status::Committed, Action::Restock), Ok(true));
        assert_eq!(plan(Status::Committed, Action::Commit), Ok(false));
        assert_eq!(plan(Status::Released, Action::Release), Ok(false));
        assert_eq!(plan(Status::Restocked, Action::Restock), Ok(false));
    }

    #[test]
    fn illegal_transitions_name_the_current_state() {
        assert_eq!(
            plan(Status::Released, Action::Commit),
            Err(TransitionError::Released)
        );
        assert_eq!(
            plan(Status::Committed, Action::Release),
            Err(TransitionError::Committed)
        );
        assert_eq!(
            plan(Status::Held, Action::Restock),
            Err(TransitionError::NotCommitted)
        );
        assert_eq!(
            plan(Status::Released, Action::Restock),
            Err(TransitionError::Released)
        );
        assert_eq!(
            plan(Status::Restocked, Action::Commit),
            Err(TransitionError::Restocked)
        );
        assert_eq!(
            plan(Status::Restocked, Action::Release),
            Err(TransitionError::Restocked)
        );
    }

    #[test]
    fn status_round_trips_through_its_text() {
        for s in [
            Status::Held,
            Status::Committed,
            Status::Released,
            Status::Restocked,
        ] {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
        assert_eq!(Status::parse("nope"), None);
    }
}
