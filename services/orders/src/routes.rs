//! HTTP handlers of the orders service. Thin: parse, authorise, call the saga or the store.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::Deserialize;
use serde_json::json;
use storefront_common::auth::{AuthUser, Role};
use storefront_common::extract::{IdempotencyKey, Json, Path};
use storefront_common::ids::{OrderId, UserId};
use storefront_common::{ApiError, ApiResult};

use crate::checkout::{Checkout, CheckoutBody, CheckoutError};
use crate::metrics::Ending;
use crate::model::{Order, OrderStatus};
use crate::saga::CheckoutOutcome;
use crate::store::{self, Change};
use crate::{AppState, saga};

const HISTORY_LIMIT: i64 = 200;

pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/orders", post(place_order).get(my_orders))
        .route("/api/orders/{id}", get(one_order))
        .route("/api/orders/user/{user_id}", get(orders_of_user))
        .route("/api/orders/{id}/status", put(set_status))
        .route("/api/orders/{id}/cancel", post(cancel))
        .with_state(state)
}

impl From<CheckoutError> for ApiError {
    fn from(e: CheckoutError) -> Self {
        match e {
            CheckoutError::Card(_) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_card",
                e.to_string(),
            ),
            _ => ApiError::validation(e.to_string()),
        }
    }
}

fn people_only(caller: &AuthUser) -> ApiResult<()> {
    if caller.role == Role::Service {
        return Err(ApiError::forbidden(
            "orders are placed by people, not services",
        ));
    }
    Ok(())
}

async fn place_order(
    State(state): State<AppState>,
    caller: AuthUser,
    key: IdempotencyKey,
    Json(body): Json<CheckoutBody>,
) -> ApiResult<Response> {
    people_only(&caller)?;
    let checkout = Checkout::parse(key.into_string(), &body)?;
    let outcome = saga::place(&state, &caller, checkout).await;
    state.metrics.checkout(match &outcome {
        Ok(CheckoutOutcome::Paid(_)) => Ending::Paid,
        Ok(CheckoutOutcome::Failed { reason, .. }) => Ending::Failed(*reason),
        Ok(CheckoutOutcome::Replayed { .. }) => Ending::Replayed,
        Err(_) => Ending::Error,
    });
    let outcome = outcome?;
    Ok((outcome.status(), axum::Json(outcome.into_body())).into_response())
}

async fn my_orders(
    State(state): State<AppState>,
    caller: AuthUser,
) -> ApiResult<impl IntoResponse> {
    let items = store::list_for_user(&state.pool, caller.id, HISTORY_LIMIT).await?;
    Ok(axum::Json(json!({"items": items})))
}

/// Someone else's order answers 404, not 403, so order ids cannot be probed.
async fn visible_order(state: &AppState, caller: &AuthUser, id: OrderId) -> ApiResult<Order> {
    store::load(&state.pool, id)
        .await?
        .filter(|o| caller.require_owner_or_staff(o.user_id).is_ok())
        .ok_or_else(|| ApiError::not_found("no such order"))
}

async fn one_order(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<OrderId>,
) -> ApiResult<axum::Json<Order>> {
    Ok(axum::Json(visible_order(&state, &caller, id).await?))
}

async fn orders_of_user(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(user): Path<UserId>,
) -> ApiResult<impl IntoResponse> {
    caller.require_owner_or_staff(user)?;
    let items = store::list_for_user(&state.pool, user, HISTORY_LIMIT).await?;
    Ok(axum::Json(json!({"items": items})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusBody {
    status: OrderStatus,
}

async fn set_status(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<OrderId>,
    Json(body): Json<StatusBody>,
) -> ApiResult<axum::Json<Order>> {
    caller.require_admin()?;
    let order = visible_order(&state, &caller, id).await?;
    if order.status == body.status {
        return Ok(axum::Json(order));
    }
    if !order.status.admin_may_set(body.status) {
        return Err(illegal(order.status, body.status));
    }
    let change = Change {
        from: order.status,
        to: body.status,
        failure_reason: None,
        response: None,
    };
    let updated = store::change_status(&state.pool, id, change)
        .await?
        .ok_or_else(|| {
            ApiError::conflict(
                "status_changed",
                "the order changed meanwhile; reload it and try again",
            )
        })?;
    tracing::info!(order_id = %id, status = body.status.as_str(), "order status changed by admin");
    Ok(axum::Json(updated))
}

fn illegal(from: OrderStatus, to: OrderStatus) -> ApiError {
    ApiError::conflict(
        "illegal_transition",
        format!(
            "an order that is {} cannot become {}",
            from.as_str(),
            to.as_str()
        ),
    )
}

/// Refund, then restock, then mark cancelled. Each step is idempotent, so a failure part-way
/// leaves the order `paid` and a retry finishes the job without refunding or restocking twice.
async fn cancel(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<OrderId>,
) -> ApiResult<axum::Json<Order>> {
    let order = visible_order(&state, &caller, id).await?;
    if order.status == OrderStatus::Cancelled {
        return Ok(axum::Json(order));
    }
    if !order.status.cancellable() {
        return Err(illegal(order.status, OrderStatus::Cancelled));
    }
    state.backends.refund(id).await?;
    state.backends.reservation(id, "restock").await?;
    let change = Change {
        from: OrderStatus::Paid,
        to: OrderStatus::Cancelled,
        failure_reason: None,
        response: None,
    };
    let updated = match store::change_status(&state.pool, id, change).await? {
        Some(o) => o,
        None => visible_order(&state, &caller, id).await?,
    };
    tracing::info!(order_id = %id, "order cancelled: refunded and restocked");
    Ok(axum::Json(updated))
}
