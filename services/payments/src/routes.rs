//! The HTTP surface of payments, as CONTRACT.md lists it. Handlers authorise, check the amount
//! and the card, ask the gateway ([`crate::card`]) and record through [`crate::store`]. Keys sent
//! by customers and keys sent by services live in separate namespaces, so neither can replay or
//! block the other's charges.

use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;
use sqlx::PgPool;
use storefront_common::ApiError;
use storefront_common::auth::{AuthUser, Authenticator, Role};
use storefront_common::extract::{IdempotencyKey, Json, Path, Query};
use storefront_common::ids::{OrderId, UserId};
use storefront_common::money::Money;

use crate::card::{self, CardInput};
use crate::store::{self, Charged, NewCharge, StoreError};

/// Largest single charge, in minor units (one million dollars).
pub const MAX_AMOUNT: i64 = 100_000_000;

#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub auth: Arc<Authenticator>,
}

impl FromRef<AppState> for Arc<Authenticator> {
    fn from_ref(state: &AppState) -> Self {
        state.auth.clone()
    }
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/payments", post(charge_as_customer))
        .route("/api/payments/{order_id}", get(payments_of_order))
        .route("/internal/charges", post(charge_for_service))
        .route("/internal/refunds", post(refund))
        .route("/internal/payments", get(payments_for_service))
        .with_state(state)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CustomerCharge {
    order_id: OrderId,
    amount: Money,
    card: CardInput,
}

async fn charge_as_customer(
    State(state): State<AppState>,
    user: AuthUser,
    key: IdempotencyKey,
    Json(input): Json<CustomerCharge>,
) -> Result<Response, ApiError> {
    if user.role == Role::Service {
        return Err(ApiError::forbidden(
            "services charge through /internal/charges",
        ));
    }
    let scoped = format!("user:{}:{key}", user.id);
    charge(
        &state,
        &scoped,
        input.order_id,
        user.id,
        input.amount,
        &input.card,
    )
    .await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ServiceCharge {
    order_id: OrderId,
    user_id: UserId,
    amount: Money,
    card: CardInput,
    idempotency_key: String,
}

async fn charge_for_service(
    State(state): State<AppState>,
    caller: AuthUser,
    Json(input): Json<ServiceCharge>,
) -> Result<Response, ApiError> {
    caller.require_service()?;
    let key = IdempotencyKey::parse(&input.idempotency_key)?;
    let scoped = format!("service:{key}");
    charge(
        &state,
        &scoped,
        input.order_id,
        input.user_id,
        input.amount,
        &input.card,
    )
    .await
}

async fn charge(
    state: &AppState,
    key: &str,
    order_id: OrderId,
    user_id: UserId,
    amount: Money,
    card: &CardInput,
) -> Result<Response, ApiError> {
    if !(1..=MAX_AMOUNT).contains(&amount.amount) {
        return Err(ApiError::validation(format!(
            "amount.amount must be between 1 and {MAX_AMOUNT} minor units; got {}",
            amount.amount
        )));
    }
    let valid = card.validate().map_err(|e| card::invalid(&e))?;
    let decline = card::decide(&valid);
    let last4 = valid.last4();
    let charged = store::charge(
        &state.pool,
        &NewCharge {
            idempotency_key: key,
            order_id,
            user_id,
            amount,
            decline,
            card_brand: valid.brand(),
            card_last4: &last4,
        },
    )
    .await?;
    Ok(match charged {
        Charged::Created(payment) => {
            tracing::info!(
                payment = %payment.id,
                order = %order_id,
                status = payment.status.as_str(),
                card_last4 = %payment.card_last4,
                "charge recorded"
            );
            (StatusCode::CREATED, axum::Json(payment)).into_response()
        }
        Charged::Replayed(payment) => (StatusCode::OK, axum::Json(payment)).into_response(),
    })
}

/// The caller's payments for an order. Another customer's payments are invisible, so asking for
/// them is a 404 exactly like asking for an order with none: existence does not leak.
async fn payments_of_order(
    State(state): State<AppState>,
    user: AuthUser,
    Path(order): Path<OrderId>,
) -> Result<Response, ApiError> {
    let all = store::by_order(&state.pool, order).await?;
    let visible: Vec<_> = if matches!(user.role, Role::Admin | Role::Service) {
        all
    } else {
        all.into_iter().filter(|p| p.user_id == user.id).collect()
    };
    if visible.is_empty() {
        return Err(ApiError::not_found("no payments for this order"));
    }
    Ok(axum::Json(json!({ "items": visible })).into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OrderQuery {
    order_id: OrderId,
}

async fn payments_for_service(
    State(state): State<AppState>,
    caller: AuthUser,
    Query(query): Query<OrderQuery>,
) -> Result<Response, ApiError> {
    caller.require_service()?;
    let items = store::by_order(&state.pool, query.order_id).await?;
    Ok(axum::Json(json!({ "items": items })).into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RefundInput {
    order_id: OrderId,
    idempotency_key: String,
}

async fn refund(
    State(state): State<AppState>,
    caller: AuthUser,
    Json(input): Json<RefundInput>,
) -> Result<Response, ApiError> {
    caller.require_service()?;
    let key = IdempotencyKey::parse(&input.idempotency_key)?;
    let payment = store::refund(&state.pool, input.order_id, key.as_str()).await?;
    Ok(axum::Json(payment).into_response())
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Db(e) => e.into(),
            StoreError::KeyReused => IdempotencyKey::reused("request"),
            StoreError::AlreadyPaid => ApiError::conflict(
                "order_already_paid",
                "this order already has a successful payment; refund it before charging again",
            ),
            StoreError::NoPayment => ApiError::new(
                StatusCode::NOT_FOUND,
                "no_payment",
                "this order has no successful payment to refund",
            ),
            corrupt @ StoreError::Corrupt(..) => ApiError::internal(corrupt),
        }
    }
}
