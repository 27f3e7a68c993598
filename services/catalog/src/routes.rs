//! The HTTP surface of the catalog (see the catalog section of services/CONTRACT.md). Handlers
//! are thin: extract, check, call the store through the cache, answer. Reads are anonymous;
//! writes need an admin token, checked before the body is read so a customer gets 403 whatever
//! they send.

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::routing::get;
use axum::{Json as JsonResponse, Router};
use serde_json::{Value, json};
use storefront_common::ApiResult;
use storefront_common::auth::{AuthUser, Authenticator};
use storefront_common::error::ApiError;
use storefront_common::extract::{Json, Path, Query};
use storefront_common::ids::ProductId;
use storefront_common::money::Currency;

use crate::cache::{Cache, Entry};
use crate::listing::{ListQuery, ProductPage, RawListQuery};
use crate::product::{self, Product, ProductInput};
use crate::store::Store;

#[derive(Clone, FromRef)]
pub struct AppState {
    pub store: Store,
    pub cache: Cache,
    pub auth: Arc<Authenticator>,
    pub currency: Currency,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/products", get(list).post(create))
        .route("/api/products/categories", get(categories))
        .route(
            "/api/products/{id}",
            get(get_one).put(update).delete(remove),
        )
        .with_state(state)
}

/// An authenticated caller with the admin role; 401 without a valid token, 403 with another role.
pub struct Admin(#[allow(dead_code)] pub AuthUser);

impl<S> FromRequestParts<S> for Admin
where
    S: Send + Sync,
    Arc<Authenticator>: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let user = AuthUser::from_request_parts(parts, state).await?;
        user.require_admin()?;
        Ok(Admin(user))
    }
}

fn product_not_found(id: ProductId) -> ApiError {
    ApiError::not_found(format!("there is no product {id}"))
}

async fn list(
    State(state): State<AppState>,
    Query(raw): Query<RawListQuery>,
) -> ApiResult<JsonResponse<ProductPage>> {
    let query = ListQuery::try_from(raw)?;
    let page = state
        .cache
        .read_through(Entry::Page(&query), || state.store.list(&query))
        .await?;
    Ok(JsonResponse(page))
}

async fn categories(State(state): State<AppState>) -> ApiResult<JsonResponse<Value>> {
    let items = state
        .cache
        .read_through(Entry::Categories, || state.store.categories())
        .await?;
    Ok(JsonResponse(json!({ "items": items })))
}

async fn get_one(
    State(state): State<AppState>,
    Path(id): Path<ProductId>,
) -> ApiResult<JsonResponse<Product>> {
    state
        .cache
        .read_through(Entry::Product(id), || state.store.get(id))
        .await?
        .map(JsonResponse)
        .ok_or_else(|| product_not_found(id))
}

async fn create(
    State(state): State<AppState>,
    _admin: Admin,
    Json(input): Json<ProductInput>,
) -> ApiResult<(StatusCode, JsonResponse<Product>)> {
    let valid = product::validate(input, state.currency).map_err(|p| product::rejection(&p))?;
    let created = state.store.create(&valid).await?;
    state.cache.invalidate_all().await;
    tracing::info!(product = %created.id, "product created");
    Ok((StatusCode::CREATED, JsonResponse(created)))
}

async fn update(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<ProductId>,
    Json(input): Json<ProductInput>,
) -> ApiResult<JsonResponse<Product>> {
    let valid = product::validate(input, state.currency).map_err(|p| product::rejection(&p))?;
    let updated = state
        .store
        .update(id, &valid)
        .await?
        .ok_or_else(|| product_not_found(id))?;
    state.cache.invalidate_all().await;
    tracing::info!(product = %id, "product updated");
    Ok(JsonResponse(updated))
}

async fn remove(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<ProductId>,
) -> ApiResult<StatusCode> {
    if !state.store.delete(id).await? {
        return Err(product_not_found(id));
    }
    state.cache.invalidate_all().await;
    tracing::info!(product = %id, "product deleted");
    Ok(StatusCode::NO_CONTENT)
}
