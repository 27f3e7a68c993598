//! The limits of a cart: 1..=99 units per line and at most 50 distinct lines. Requests are
//! checked here before anything is written; the Redis script enforces the same limits again
//! atomically, because two requests that each pass alone can together exceed them.

use storefront_common::ApiError;
use storefront_common::ids::ProductId;

pub const MAX_QUANTITY: u32 = 99;
pub const MAX_LINES: u32 = 50;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    #[error("quantity must be between 1 and {MAX_QUANTITY} (got {0})")]
    AddOutOfRange(i64),
    #[error("quantity must be between 0 and {MAX_QUANTITY}; 0 removes the line (got {0})")]
    SetOutOfRange(i64),
    #[error(
        "the cart already holds {in_cart} of this product; adding {adding} would pass the limit of {MAX_QUANTITY} per product"
    )]
    OverLineLimit {
        product: ProductId,
        in_cart: u32,
        adding: u32,
    },
    #[error(
        "the cart already has {MAX_LINES} different products; remove one before adding another"
    )]
    CartFull,
}

impl From<QuantityError> for ApiError {
    fn from(err: QuantityError) -> Self {
        let message = err.to_string();
        match err {
            QuantityError::OverLineLimit {
                product,
                in_cart,
                adding,
            } => ApiError::validation(message).with_details(serde_json::json!({
                "productId": product,
                "inCart": in_cart,
                "adding": adding,
                "max": MAX_QUANTITY,
            })),
            QuantityError::CartFull => ApiError::new(
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                "cart_full",
                message,
            )
            .with_details(serde_json::json!({ "maxLines": MAX_LINES })),
            QuantityError::AddOutOfRange(_) | QuantityError::SetOutOfRange(_) => {
                ApiError::validation(message)
            }
        }
    }
}

/// A quantity to add: 1..=99.
pub fn to_add(quantity: i64) -> Result<u32, QuantityError> {
    u32::try_from(quantity)
        .ok()
        .filter(|q| (1..=MAX_QUANTITY).contains(q))
        .ok_or(QuantityError::AddOutOfRange(quantity))
}

/// A quantity to set: 0..=99, where 0 removes the line.
pub fn to_set(quantity: i64) -> Result<u32, QuantityError> {
    u32::try_from(quantity)
        .ok()
        .filter(|q| *q <= MAX_QUANTITY)
        .ok_or(QuantityError::SetOutOfRange(quantity))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_take_one_to_ninety_nine() {
        assert_eq!(to_add(1), Ok(1));
        assert_eq!(to_add(99), Ok(99));
        for bad in [0, -1, 100, i64::MAX, i64::MIN] {
            assert_eq!(to_add(bad), Err(QuantityError::AddOutOfRange(bad)));
        }
    }

    #[test]
    fn sets_also_take_zero() {
        assert_eq!(to_set(0), Ok(0));
        assert_eq!(to_set(99), Ok(99));
        assert!(to_set(100).is_err());
        assert!(to_set(-1).is_err());
    }

    #[test]
    fn limit_errors_are_unprocessable_and_say_why() {
        let over = ApiError::from(QuantityError::OverLineLimit {
            product: ProductId::new(),
            in_cart: 95,
            adding: 10,
        });
        assert_eq!(over.status, 422);
        assert_eq!(over.details.unwrap()["inCart"], 95);
        let full = ApiError::from(QuantityError::CartFull);
        assert_eq!((full.status.as_u16(), full.code), (422, "cart_full"));
    }
}
