//! The HTTP surface of inventory, as CONTRACT.md lists it. Handlers only authorise, validate
//! through [`crate::reservation`] and call [`crate::store`]; every failure is an `ApiError`.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;
use sqlx::PgPool;
use storefront_common::ApiError;
use storefront_common::auth::{AuthUser, Authenticator};
use storefront_common::extract::{Json, Path};
use storefront_common::ids::ProductId;
use uuid::Uuid;

use crate::reservation::{self, Action, ItemsError, RequestedItem};
use crate::store::{self, StoreError};

/// Highest stock level an admin may set for one product.
pub const MAX_AVAILABLE: i64 = 1_000_000;

#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub auth: Arc<Authenticator>,
    pub default_ttl: Duration,
}

impl FromRef<AppState> for Arc<Authenticator> {
    fn from_ref(state: &AppState) -> Self {
        state.auth.clone()
    }
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/inventory/{product_id}", get(get_stock).put(put_stock))
        .route("/internal/reservations", post(reserve))
        .route("/internal/reservations/{id}", get(get_reservation))
        .route("/internal/reservations/{id}/commit", post(commit))
        .route("/internal/reservations/{id}/release", post(release))
        .route("/internal/reservations/{id}/restock", post(restock))
        .with_state(state)
}

async fn get_stock(
    State(state): State<AppState>,
    Path(product): Path<ProductId>,
) -> Result<Response, ApiError> {
    let stock = store::stock(&state.pool, product)
        .await?
        .ok_or_else(|| ApiError::not_found("no stock is recorded for this product"))?;
    Ok(axum::Json(stock).into_response())
}

#[derive(Deserialize)]
struct StockInput {
    available: i64,
}

async fn put_stock(
    State(state): State<AppState>,
    user: AuthUser,
    Path(product): Path<ProductId>,
    Json(input): Json<StockInput>,
) -> Result<Response, ApiError> {
    user.require_admin()?;
    let available = i32::try_from(input.available)
        .ok()
        .filter(|a| (0..=MAX_AVAILABLE).contains(&i64::from(*a)))
        .ok_or_else(|| {
            ApiError::validation(format!(
                "available must be between 0 and {MAX_AVAILABLE}; got {}",
                input.available
            ))
        })?;
    let stock = store::set_available(&state.pool, product, available).await?;
    tracing::info!(product = %product, available, "stock set");
    Ok(axum::Json(stock).into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReserveInput {
    reservation_id: Uuid,
    items: Vec<RequestedItem>,
    ttl_seconds: Option<i64>,
}

async fn reserve(
    State(state): State<AppState>,
    user: AuthUser,
    Json(input): Json<ReserveInput>,
) -> Result<Response, ApiError> {
    user.require_service()?;
    let lines = reservation::normalise(&input.items).map_err(items_error)?;
    let ttl = reservation::hold_for(input.ttl_seconds, state.default_ttl).map_err(items_error)?;
    let (reservation, created) =
        store::reserve(&state.pool, input.reservation_id, &lines, ttl).await?;
    let status = if created {
        tracing::info!(reservation = %reservation.reservation_id, lines = lines.len(), "stock reserved");
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(reservation)).into_response())
}

async fn get_reservation(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Response, ApiError> {
    user.require_service()?;
    let reservation = store::reservation(&state.pool, id)
        .await?
        .ok_or(StoreError::NotFound)?;
    Ok(axum::Json(reservation).into_response())
}

async fn commit(
    state: State<AppState>,
    user: AuthUser,
    id: Path<Uuid>,
) -> Result<Response, ApiError> {
    act(state, user, id, Action::Commit).await
}

async fn release(
    state: State<AppState>,
    user: AuthUser,
    id: Path<Uuid>,
) -> Result<Response, ApiError> {
    act(state, user, id, Action::Release).await
}

async fn restock(
    state: State<AppState>,
    user: AuthUser,
    id: Path<Uuid>,
) -> Result<Response, ApiError> {
    act(state, user, id, Action::Restock).await
}

async fn act(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
    action: Action,
) -> Result<Response, ApiError> {
    user.require_service()?;
    let reservation = store::transition(&state.pool, id, action).await?;
    Ok(axum::Json(reservation).into_response())
}

fn items_error(err: ItemsError) -> ApiError {
    ApiError::validation(err.to_string())
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Db(e) => e.into(),
            StoreError::NotFound => ApiError::not_found("no reservation has this id"),
            StoreError::OutOfStock(short) => ApiError::conflict(
                "out_of_stock",
                "not enough stock for some items; nothing was reserved",
            )
            .with_details(json!({ "products": short })),
            StoreError::Conflict => ApiError::conflict(
                "reservation_conflict",
                "a reservation with this id already exists with other items; use a new id",
            ),
            StoreError::Transition(e) => ApiError::conflict(e.code(), e.to_string()),
            corrupt @ StoreError::Corrupt(..) => ApiError::internal(corrupt),
        }
    }
}
