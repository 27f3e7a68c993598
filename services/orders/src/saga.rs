//! The checkout saga: record the order `pending` → reserve stock → charge the card → commit the
//! stock and mark it `paid`; on a decline release the stock and mark it `failed`; out of stock
//! fails before any charge. The order id is also the reservation id and the charge's key, so
//! every step can be retried or resumed by recovery without doing anything twice.
//!
//! When a step's outcome is unknown (timeout, dropped connection, 5xx) after the card may have
//! been charged, the order stays `pending` and [`crate::recovery`] resolves it from the payment
//! record; before that point the order is removed and the reservation released, so a retry
//! with the same key starts afresh.
//!
//! Undoing a step is a compensation with a name: [`compensate_reservation`] gives the stock back
//! (a failure is logged with the order id; the reservation expires by itself) and
//! [`compensate_charge`] refunds (a failure leaves the order `pending` for recovery). The saga
//! returns a [`CheckoutOutcome`]; `routes` turns it into the answer.

use axum::http::StatusCode;
use serde_json::{Value, json};
use storefront_common::ApiError;
use storefront_common::auth::AuthUser;
use storefront_common::client::UpstreamError;
use storefront_common::extract::IdempotencyKey;
use storefront_common::ids::{OrderId, ProductId};
use storefront_common::money::Money;

use crate::AppState;
use crate::checkout::{Checkout, Source};
use crate::clients::{PaymentStatus, ReserveError};
use crate::metrics::Compensation;
use crate::model::{FailureReason, OrderLine, OrderStatus};
use crate::store::{self, Change, Keyed, NewOrder};

/// How a checkout ended. [`crate::routes`] answers with [`CheckoutOutcome::status`] and the
/// body; the same status is stored with the order, so a retry with the key answers alike.
/// Errors (`ApiError`) are what left no order behind, or left it `pending` for recovery.
#[derive(Debug)]
pub enum CheckoutOutcome {
    /// Charged and the stock committed: the order, `paid`.
    Paid(Value),
    /// The order is `failed` and nothing is owed (out of stock before any charge, the card
    /// declined, or the reservation lapsed and the charge was refunded): the error body.
    Failed { reason: FailureReason, body: Value },
    /// The same key and request as before: the answer stored then.
    Replayed { status: StatusCode, body: Value },
}

impl CheckoutOutcome {
    pub fn status(&self) -> StatusCode {
        match self {
            CheckoutOutcome::Paid(_) => StatusCode::CREATED,
            CheckoutOutcome::Failed { reason, .. } => failure_status(*reason),
            CheckoutOutcome::Replayed { status, .. } => *status,
        }
    }

    pub fn into_body(self) -> Value {
        match self {
            CheckoutOutcome::Paid(body)
            | CheckoutOutcome::Failed { body, .. }
            | CheckoutOutcome::Replayed { body, .. } => body,
        }
    }
}

/// The status a failed order answers with: 402 for a card that was not charged, 409 for every
/// other conflict with the shop's state.
pub(crate) fn failure_status(reason: FailureReason) -> StatusCode {
    match reason {
        FailureReason::CardDeclined | FailureReason::InsufficientFunds => {
            StatusCode::PAYMENT_REQUIRED
        }
        FailureReason::OutOfStock
        | FailureReason::ReservationExpired
        | FailureReason::Abandoned => StatusCode::CONFLICT,
    }
}

pub async fn place(
    state: &AppState,
    caller: &AuthUser,
    checkout: Checkout,
) -> Result<CheckoutOutcome, ApiError> {
    // The key is looked up only when it is in the way (the insert below finds it taken) or when
    // pricing fails: a retry of a settled order must get its stored answer even if its cart was
    // emptied by it, a product was deleted since, or the catalog is down. A first attempt, the
    // usual case, makes no look-up at all.
    let (lines, total) = match priced_order(state, caller, &checkout.source).await {
        Ok(priced) => priced,
        Err(e) => {
            return match store::find_by_key(&state.pool, caller.id, &checkout.key).await? {
                Some(existing) => replay(existing, &checkout.fingerprint),
                None => Err(e),
            };
        }
    };

    let id = OrderId::new();
    let new = NewOrder {
        id,
        user: caller.id,
        key: &checkout.key,
        request_hash: &checkout.fingerprint,
        from_cart: checkout.source == Source::Cart,
        total,
        lines: &lines,
    };
    if !store::insert_pending(&state.pool, &new).await? {
        // The key is taken: an earlier attempt, or a concurrent one that got there first.
        return match store::find_by_key(&state.pool, caller.id, &checkout.key).await? {
            Some(existing) => replay(existing, &checkout.fingerprint),
            None => Err(ApiError::conflict(
                "order_in_progress",
                "retry with the same Idempotency-Key",
            )),
        };
    }
    tracing::info!(order_id = %id, total = %total, "order pending");

    let items = lines.iter().map(|l| (l.product_id, l.quantity)).collect();
    match state.backends.reserve(id, &items).await {
        Ok(()) => {}
        Err(ReserveError::OutOfStock { message, details }) => {
            let body = error_body("out_of_stock", &message, id, details);
            return finish_failed(state, id, FailureReason::OutOfStock, body).await;
        }
        Err(e) => {
            tracing::warn!(order_id = %id, error = %e, "reserving stock failed before any charge; undoing the order");
            compensate_reservation(state, id, "reserving failed").await;
            store::delete_pending(&state.pool, id).await?;
            return Err(ApiError::unavailable(
                "inventory is unavailable; nothing was charged, try again",
            ));
        }
    }

    match state
        .backends
        .charge(id, caller.id, total, &checkout.card)
        .await
    {
        Ok(payment) if payment.status == PaymentStatus::Succeeded => {
            confirm(state, id, new.from_cart, caller).await
        }
        Ok(payment) => {
            let reason = FailureReason::from_decline_code(payment.decline_code.as_deref());
            compensate_reservation(state, id, "the card was declined").await;
            let body = error_body(
                "payment_declined",
                &format!(
                    "the card was declined ({}); no money was taken",
                    reason.as_str()
                ),
                id,
                Some(json!({"reason": reason.as_str()})),
            );
            tracing::info!(order_id = %id, reason = reason.as_str(), "order failed: card declined");
            finish_failed(state, id, reason, body).await
        }
        Err(e) if e.is_ambiguous() => Err(still_pending(id, &e)),
        Err(e) => {
            // The payments service refused the request itself (it validates more than we do).
            compensate_reservation(state, id, "payments refused the charge").await;
            store::delete_pending(&state.pool, id).await?;
            Err(refused_by_payments(e))
        }
    }
}

/// After a successful charge: commit the stock and mark the order paid; if the reservation had
/// already expired, refund and fail the order.
async fn confirm(
    state: &AppState,
    id: OrderId,
    from_cart: bool,
    caller: &AuthUser,
) -> Result<CheckoutOutcome, ApiError> {
    match state.backends.reservation(id, "commit").await {
        Ok(()) => {}
        Err(e) if e.status() == Some(StatusCode::CONFLICT) => {
            return expired_after_charge(state, id).await;
        }
        Err(e) => return Err(still_pending(id, &e)),
    }
    let change = Change {
        from: OrderStatus::Pending,
        to: OrderStatus::Paid,
        failure_reason: None,
        response: Some((StatusCode::CREATED.as_u16(), None)),
    };
    let Some(order) = store::change_status(&state.pool, id, change).await? else {
        return Err(ApiError::conflict(
            "order_in_progress",
            "this order was resolved by another worker; retry with the same Idempotency-Key",
        ));
    };
    tracing::info!(order_id = %id, "order paid");
    if from_cart && let Err(e) = state.backends.clear_cart(caller.id).await {
        tracing::warn!(order_id = %id, error = %e, "clearing the cart after payment failed");
    }
    Ok(CheckoutOutcome::Paid(
        serde_json::to_value(order).map_err(ApiError::internal)?,
    ))
}

/// Gives back a reservation the order no longer needs. A release that fails is logged and
/// left: the reservation expires by itself, so stock is never lost.
async fn compensate_reservation(state: &AppState, id: OrderId, why: &str) {
    match state.backends.reservation(id, "release").await {
        Ok(()) => state.metrics.compensated(Compensation::ReleaseStock),
        Err(e) => {
            tracing::warn!(order_id = %id, error = %e, why, "releasing the reservation failed; it will expire by itself");
        }
    }
}

/// Refunds the charge of an order that cannot be fulfilled. A refund that fails leaves the
/// order `pending`, for recovery to refund later: money is never kept for nothing.
async fn compensate_charge(state: &AppState, id: OrderId) -> Result<(), ApiError> {
    state
        .backends
        .refund(id)
        .await
        .map_err(|e| still_pending(id, &e))?;
    state.metrics.compensated(Compensation::Refund);
    Ok(())
}

/// The stock reservation lapsed before we could commit it, though the card was charged.
pub(crate) async fn expired_after_charge(
    state: &AppState,
    id: OrderId,
) -> Result<CheckoutOutcome, ApiError> {
    compensate_charge(state, id).await?;
    let body = error_body(
        "reservation_expired",
        "the stock reservation expired before payment completed; the charge was refunded",
        id,
        None,
    );
    finish_failed(state, id, FailureReason::ReservationExpired, body).await
}

/// Marks a pending order `failed` for `reason`, storing the answer a retry will get.
pub(crate) async fn finish_failed(
    state: &AppState,
    id: OrderId,
    reason: FailureReason,
    body: Value,
) -> Result<CheckoutOutcome, ApiError> {
    let change = Change {
        from: OrderStatus::Pending,
        to: OrderStatus::Failed,
        failure_reason: Some(reason.as_str()),
        response: Some((failure_status(reason).as_u16(), Some(body.clone()))),
    };
    store::change_status(&state.pool, id, change).await?;
    Ok(CheckoutOutcome::Failed { reason, body })
}

pub(crate) fn error_body(
    code: &str,
    message: &str,
    order: OrderId,
    details: Option<Value>,
) -> Value {
    let mut details = details.unwrap_or_else(|| json!({}));
    if let Some(map) = details.as_object_mut() {
        map.insert("orderId".into(), json!(order));
    }
    json!({"error": {"code": code, "message": message, "details": details}})
}

fn still_pending(id: OrderId, cause: &UpstreamError) -> ApiError {
    tracing::warn!(order_id = %id, error = %cause, "outcome unknown; leaving the order pending for recovery");
    ApiError::unavailable(
        "the order is being finalised; retry with the same Idempotency-Key to get its result",
    )
    .with_details(json!({"orderId": id}))
    .with_retry_after(5)
}

fn refused_by_payments(e: UpstreamError) -> ApiError {
    match e {
        UpstreamError::Status {
            status,
            code,
            message,
            ..
        } if status == StatusCode::UNPROCESSABLE_ENTITY && code == "invalid_card" => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_card", message)
        }
        other => ApiError::internal(other),
    }
}

/// The answer for a key seen before: the stored one, or "still working" while it is pending.
fn replay(existing: Keyed, fingerprint: &str) -> Result<CheckoutOutcome, ApiError> {
    if existing.request_hash != fingerprint {
        return Err(IdempotencyKey::reused("order"));
    }
    match existing.response {
        Some((status, body)) => Ok(CheckoutOutcome::Replayed {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
            body,
        }),
        None => Err(ApiError::conflict(
            "order_in_progress",
            "an order with this Idempotency-Key is still being processed; retry shortly",
        )
        .with_details(json!({"orderId": existing.id}))
        .with_retry_after(2)),
    }
}

/// The lines to order with their total.
async fn priced_order(
    state: &AppState,
    caller: &AuthUser,
    source: &Source,
) -> Result<(Vec<OrderLine>, Money), ApiError> {
    let lines = priced_lines(state, caller, source).await?;
    let currency = lines[0].unit_price.currency;
    let total = Money::sum(currency, lines.iter().map(|l| l.line_total))
        .map_err(|e| ApiError::validation(format!("cannot total this order: {e}")))?;
    Ok((lines, total))
}

/// The lines to order with their current names and prices: from the catalog for explicit items,
/// from the cart's view (which carries catalog prices) otherwise. Never empty, one currency.
async fn priced_lines(
    state: &AppState,
    caller: &AuthUser,
    source: &Source,
) -> Result<Vec<OrderLine>, ApiError> {
    let lines: Vec<OrderLine> = match source {
        Source::Items(items) => {
            let ids: Vec<ProductId> = items.keys().copied().collect();
            let known = state.backends.prices(&ids).await?;
            let unknown: Vec<ProductId> = ids
                .iter()
                .filter(|id| !known.iter().any(|p| p.id == **id))
                .copied()
                .collect();
            if !unknown.is_empty() {
                return Err(ApiError::validation("some products do not exist")
                    .with_details(json!({"unknownProducts": unknown})));
            }
            known
                .into_iter()
                .filter_map(|p| {
                    let quantity = *items.get(&p.id)?;
                    Some(line(p.id, p.name, p.price, quantity))
                })
                .collect::<Result<_, _>>()?
        }
        Source::Cart => {
            let cart = state.backends.cart(&caller.token).await?;
            cart.into_iter()
                .map(|l| line(l.product_id, l.name, l.unit_price, l.quantity))
                .collect::<Result<_, _>>()?
        }
    };
    if lines.is_empty() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "cart_empty",
            "the cart is empty; add products first",
        ));
    }
    let currency = lines[0].unit_price.currency;
    if lines.iter().any(|l| l.unit_price.currency != currency) {
        return Err(ApiError::validation(
            "products are priced in different currencies",
        ));
    }
    Ok(lines)
}

fn line(
    product_id: ProductId,
    name: String,
    unit_price: Money,
    quantity: i32,
) -> Result<OrderLine, ApiError> {
    let line_total = unit_price
        .checked_mul(i64::from(quantity))
        .map_err(|e| ApiError::validation(format!("line total of {product_id}: {e}")))?;
    Ok(OrderLine {
        product_id,
        name,
        unit_price,
        quantity,
        line_total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_card_that_was_not_charged_is_402_and_every_other_failure_409() {
        for (reason, status) in [
            (FailureReason::CardDeclined, 402),
            (FailureReason::InsufficientFunds, 402),
            (FailureReason::OutOfStock, 409),
            (FailureReason::ReservationExpired, 409),
            (FailureReason::Abandoned, 409),
        ] {
            let outcome = CheckoutOutcome::Failed {
                reason,
                body: json!({}),
            };
            assert_eq!(outcome.status().as_u16(), status, "{reason:?}");
        }
    }

    #[test]
    fn paid_is_201_and_a_replay_answers_what_was_stored() {
        assert_eq!(
            CheckoutOutcome::Paid(json!({})).status(),
            StatusCode::CREATED
        );
        let replay = CheckoutOutcome::Replayed {
            status: StatusCode::PAYMENT_REQUIRED,
            body: json!({"error": {"code": "payment_declined"}}),
        };
        assert_eq!(replay.status(), StatusCode::PAYMENT_REQUIRED);
        assert_eq!(replay.into_body()["error"]["code"], "payment_declined");
    }
}
