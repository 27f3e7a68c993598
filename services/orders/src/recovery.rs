//! Resolves orders left `pending` by a crash or an unknown outcome. The payment record decides:
//! a successful charge means commit the stock and mark the order paid (or refund when the
//! reservation has lapsed); no successful charge means release the stock and fail the order.
//! Runs at start-up and then periodically; safe with several replicas (claims use SKIP LOCKED).

use std::time::Duration;

use axum::http::StatusCode;
use storefront_common::ids::{OrderId, UserId};

use crate::AppState;
use crate::clients::PaymentStatus;
use crate::metrics::Recovered;
use crate::model::{FailureReason, OrderStatus};
use crate::saga::{error_body, expired_after_charge, finish_failed};
use crate::store::{self, Change};

pub async fn run(state: AppState, every: Duration, older_than: Duration) {
    loop {
        match resolve_stale(&state, older_than).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(resolved = n, "recovered pending orders"),
            Err(e) => tracing::warn!(error = %e, "recovering pending orders failed; will retry"),
        }
        tokio::time::sleep(every).await;
    }
}

/// Resolves every order pending for longer than `older_than`; returns how many were resolved.
pub async fn resolve_stale(state: &AppState, older_than: Duration) -> Result<usize, sqlx::Error> {
    let claimed = store::claim_stale_pending(&state.pool, older_than.as_secs_f64(), 50).await?;
    let mut resolved = 0;
    for (id, user, from_cart) in claimed {
        match resolve_one(state, id, user, from_cart).await {
            Ok(()) => resolved += 1,
            Err(reason) => {
                tracing::warn!(order_id = %id, %reason, "pending order not resolved yet")
            }
        }
    }
    Ok(resolved)
}

async fn resolve_one(
    state: &AppState,
    id: OrderId,
    user: UserId,
    from_cart: bool,
) -> Result<(), String> {
    let payments = state
        .backends
        .payments_of(id)
        .await
        .map_err(|e| e.to_string())?;
    if payments
        .iter()
        .any(|p| p.status == PaymentStatus::Succeeded)
    {
        match state.backends.reservation(id, "commit").await {
            Ok(()) => {
                let change = Change {
                    from: OrderStatus::Pending,
                    to: OrderStatus::Paid,
                    failure_reason: None,
                    response: Some((StatusCode::CREATED.as_u16(), None)),
                };
                store::change_status(&state.pool, id, change)
                    .await
                    .map_err(|e| e.to_string())?;
                state.metrics.recovered(Recovered::Paid);
                tracing::info!(order_id = %id, "recovered order: charged, stock committed, paid");
                if from_cart && let Err(e) = state.backends.clear_cart(user).await {
                    tracing::warn!(order_id = %id, error = %e, "clearing the cart after recovery failed");
                }
                Ok(())
            }
            Err(e)
                if e.status() == Some(StatusCode::CONFLICT)
                    || e.status() == Some(StatusCode::NOT_FOUND) =>
            {
                expired_after_charge(state, id)
                    .await
                    .map(|_| state.metrics.recovered(Recovered::Refunded))
                    .map_err(|e| e.to_string())
            }
            Err(e) => Err(e.to_string()),
        }
    } else {
        match state.backends.reservation(id, "release").await {
            Ok(()) => {}
            // Never reserved, or already released by expiry: nothing to give back.
            Err(e)
                if e.status() == Some(StatusCode::NOT_FOUND)
                    || e.code() == Some("reservation_released") => {}
            Err(e) => return Err(e.to_string()),
        }
        let declined = payments
            .iter()
            .find(|p| p.status == PaymentStatus::Declined);
        let (reason, code, message) = match declined {
            Some(p) => (
                FailureReason::from_decline_code(p.decline_code.as_deref()),
                "payment_declined",
                "the card was declined; no money was taken",
            ),
            None => (
                FailureReason::Abandoned,
                "order_abandoned",
                "the order could not be completed and was abandoned; no money was taken",
            ),
        };
        let body = error_body(code, message, id, None);
        finish_failed(state, id, reason, body)
            .await
            .map_err(|e| e.to_string())?;
        state.metrics.recovered(Recovered::Failed);
        tracing::info!(order_id = %id, reason = reason.as_str(), "recovered order: failed, stock released");
        Ok(())
    }
}
