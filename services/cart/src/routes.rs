//! The HTTP surface of the cart (see the cart section of services/CONTRACT.md). Every `/api` route
//! acts on the caller's own cart; `/internal/carts/{userId}` is for services (orders clears a
//! cart after checkout). Adding checks the product with the catalog first; removing never needs
//! the catalog, so it keeps working while the catalog is down.

use std::sync::Arc;

use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, put};
use axum::{Json as JsonResponse, Router};
use serde::{Deserialize, Serialize};
use storefront_common::ApiResult;
use storefront_common::auth::{AuthUser, Authenticator};
use storefront_common::error::ApiError;
use storefront_common::extract::{Json, Path};
use storefront_common::ids::{ProductId, UserId};
use storefront_common::money::Currency;

use crate::catalog::Catalog;
use crate::quantity;
use crate::store::CartStore;
use crate::view::{self, Cart, UnpricedCart};

#[derive(Clone, FromRef)]
pub struct AppState {
    pub carts: CartStore,
    pub catalog: Catalog,
    pub auth: Arc<Authenticator>,
    pub currency: Currency,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/cart", get(show).delete(clear))
        .route("/api/cart/items", axum::routing::post(add))
        .route("/api/cart/items/{product_id}", put(set).delete(remove))
        .route("/internal/carts/{user_id}", delete(clear_for_service))
        .with_state(state)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AddItem {
    product_id: ProductId,
    quantity: i64,
}

#[derive(Deserialize)]
struct SetQuantity {
    quantity: i64,
}

/// A priced cart, or after a removal while the catalog is down, the unpriced rest.
#[derive(Serialize)]
#[serde(untagged)]
enum CartView {
    Priced(Cart),
    Unpriced(UnpricedCart),
}

impl AppState {
    async fn priced(&self, user: UserId) -> ApiResult<Cart> {
        let lines = self.carts.lines(user).await?;
        let ids: Vec<ProductId> = lines.iter().map(|(id, _)| *id).collect();
        let products = self.catalog.products(&ids).await?;
        let priced = view::price(&lines, &products, self.currency)?;
        if !priced.gone.is_empty() {
            tracing::info!(%user, gone = ?priced.gone, "dropping products the catalog no longer has");
            if let Err(e) = self.carts.drop_products(user, &priced.gone).await {
                tracing::warn!(error = %e, "could not drop stale cart lines; they stay hidden");
            }
        }
        Ok(priced.cart)
    }

    async fn after_removal(&self, user: UserId) -> ApiResult<CartView> {
        match self.priced(user).await {
            Ok(cart) => Ok(CartView::Priced(cart)),
            Err(e) if e.code == "catalog_unavailable" => {
                let lines = self.carts.lines(user).await?;
                Ok(CartView::Unpriced(view::unpriced(&lines)))
            }
            Err(e) => Err(e),
        }
    }

    async fn require_in_catalog(&self, product: ProductId) -> ApiResult<()> {
        let found = self
            .catalog
            .products(&[product])
            .await
            .map_err(ApiError::from)?;
        if found.contains_key(&product) {
            Ok(())
        } else {
            Err(
                ApiError::not_found(format!("the catalog has no product {product}"))
                    .with_code("unknown_product"),
            )
        }
    }
}

/// The contract names this 404 `unknown_product`, not the generic `not_found`.
trait WithCode {
    fn with_code(self, code: &'static str) -> Self;
}

impl WithCode for ApiError {
    fn with_code(mut self, code: &'static str) -> Self {
        self.code = code;
        self
    }
}

async fn show(State(state): State<AppState>, user: AuthUser) -> ApiResult<JsonResponse<Cart>> {
    Ok(JsonResponse(state.priced(user.id).await?))
}

async fn add(
    State(state): State<AppState>,
    user: AuthUser,
    Json(item): Json<AddItem>,
) -> ApiResult<JsonResponse<Cart>> {
    let adding = quantity::to_add(item.quantity)?;
    state.require_in_catalog(item.product_id).await?;
    state.carts.add(user.id, item.product_id, adding).await?;
    Ok(JsonResponse(state.priced(user.id).await?))
}

async fn set(
    State(state): State<AppState>,
    user: AuthUser,
    Path(product): Path<ProductId>,
    Json(body): Json<SetQuantity>,
) -> ApiResult<JsonResponse<CartView>> {
    let quantity = quantity::to_set(body.quantity)?;
    if quantity == 0 {
        state.carts.set(user.id, product, 0).await?;
        return Ok(JsonResponse(state.after_removal(user.id).await?));
    }
    state.require_in_catalog(product).await?;
    state.carts.set(user.id, product, quantity).await?;
    Ok(JsonResponse(CartView::Priced(state.priced(user.id).await?)))
}

async fn remove(
    State(state): State<AppState>,
    user: AuthUser,
    Path(product): Path<ProductId>,
) -> ApiResult<JsonResponse<CartView>> {
    state.carts.set(user.id, product, 0).await?;
    Ok(JsonResponse(state.after_removal(user.id).await?))
}

async fn clear(State(state): State<AppState>, user: AuthUser) -> ApiResult<StatusCode> {
    state.carts.clear(user.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn clear_for_service(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(user): Path<UserId>,
) -> ApiResult<StatusCode> {
    caller.require_service()?;
    state.carts.clear(user).await?;
    Ok(StatusCode::NO_CONTENT)
}
