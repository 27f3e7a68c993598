//! What the cart asks the catalog: the current name, image and price of the products in a cart,
//! all in one batched `GET /api/products?ids=...` call.

use std::collections::HashMap;

use serde::Deserialize;
use storefront_common::ApiError;
use storefront_common::client::{ServiceClient, UpstreamError};
use storefront_common::ids::ProductId;
use storefront_common::money::Money;

use crate::quantity::MAX_LINES;

/// The catalog's view of a product, as much of it as a cart shows.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CatalogProduct {
    pub id: ProductId,
    pub name: String,
    pub image_url: Option<String>,
    pub price: Money,
}

#[derive(Deserialize)]
struct Page {
    items: Vec<CatalogProduct>,
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("the catalog cannot be reached: {0}")]
    Unavailable(#[from] UpstreamError),
    #[error("asked the catalog for {0} products at once; a cart holds at most {MAX_LINES}")]
    TooMany(usize),
}

impl From<CatalogError> for ApiError {
    fn from(err: CatalogError) -> Self {
        match err {
            CatalogError::Unavailable(cause) => {
                tracing::warn!(error = %cause, "catalog call failed");
                ApiError::new(
                    axum::http::StatusCode::SERVICE_UNAVAILABLE,
                    "catalog_unavailable",
                    "the catalog is unavailable, so products cannot be checked or priced; try again \
                     shortly (removing items and clearing the cart still work)",
                )
            }
            other => ApiError::internal(other),
        }
    }
}

#[derive(Clone)]
pub struct Catalog {
    client: ServiceClient,
}

impl Catalog {
    pub fn new(client: ServiceClient) -> Self {
        Self { client }
    }

    /// The products among `ids` that the catalog has; absent ones were deleted or never existed.
    pub async fn products(
        &self,
        ids: &[ProductId],
    ) -> Result<HashMap<ProductId, CatalogProduct>, CatalogError> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        // One page must hold every answer: the catalog serves up to 100 per page.
        if ids.len() > 100 || ids.len() > MAX_LINES as usize {
            return Err(CatalogError::TooMany(ids.len()));
        }
        let list = ids
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let page: Page = self
            .client
            .get(&format!("/api/products?pageSize=100&ids={list}"), None)
            .await?;
        Ok(page.items.into_iter().map(|p| (p.id, p)).collect())
    }
}
