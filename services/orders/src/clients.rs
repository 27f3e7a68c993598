//! Typed calls to the services the saga drives: catalog (prices), cart, inventory (reserve,
//! commit, release, restock) and payments (charge, refund, look-up). Internal routes are called
//! with a short-lived service token; the cart is read with the caller's own token.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::json;
use storefront_common::ApiError;
use storefront_common::auth::Authenticator;
use storefront_common::card::ValidCard;
use storefront_common::client::{ServiceClient, UpstreamError};
use storefront_common::ids::{OrderId, ProductId, UserId};
use storefront_common::money::Money;

#[derive(Clone)]
pub struct Backends {
    pub catalog: ServiceClient,
    pub cart: ServiceClient,
    pub inventory: ServiceClient,
    pub payments: ServiceClient,
    pub auth: Arc<Authenticator>,
    pub reservation_ttl_secs: u64,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PricedProduct {
    pub id: ProductId,
    pub name: String,
    pub price: Money,
}

#[derive(Deserialize)]
struct ProductPage {
    items: Vec<PricedProduct>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CartLine {
    pub product_id: ProductId,
    pub name: String,
    pub unit_price: Money,
    pub quantity: i32,
}

#[derive(Deserialize)]
struct CartView {
    items: Vec<CartLine>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PaymentStatus {
    Succeeded,
    Declined,
    Refunded,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Payment {
    pub status: PaymentStatus,
    pub decline_code: Option<String>,
}

#[derive(Deserialize)]
struct PaymentList {
    items: Vec<Payment>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ReserveItem {
    product_id: ProductId,
    quantity: i32,
}

impl Backends {
    fn service_token(&self) -> Result<String, ApiError> {
        self.auth.service_token("orders")
    }

    /// Current prices of `ids`, in one call. Products the catalog does not know are absent.
    pub async fn prices(&self, ids: &[ProductId]) -> Result<Vec<PricedProduct>, UpstreamError> {
        let joined = ids
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let page: ProductPage = self
            .catalog
            .get(&format!("/api/products?ids={joined}&pageSize=100"), None)
            .await?;
        Ok(page.items)
    }

    pub async fn cart(&self, user_token: &str) -> Result<Vec<CartLine>, UpstreamError> {
        let view: CartView = self.cart.get("/api/cart", Some(user_token)).await?;
        Ok(view.items)
    }

    pub async fn clear_cart(&self, user: UserId) -> Result<(), ApiError> {
        let token = self.service_token()?;
        self.cart
            .delete(&format!("/internal/carts/{user}"), Some(&token))
            .await?;
        Ok(())
    }

    pub async fn reserve(
        &self,
        order: OrderId,
        items: &BTreeMap<ProductId, i32>,
    ) -> Result<(), ReserveError> {
        let token = self.service_token().map_err(ReserveError::Token)?;
        let items: Vec<ReserveItem> = items
            .iter()
            .map(|(p, q)| ReserveItem {
                product_id: *p,
                quantity: *q,
            })
            .collect();
        let body = json!({"reservationId": order, "items": items, "ttlSeconds": self.reservation_ttl_secs});
        match self
            .inventory
            .post::<_, serde_json::Value>("/internal/reservations", Some(&token), &body)
            .await
        {
            Ok(_) => Ok(()),
            Err(UpstreamError::Status {
                status,
                code,
                details,
                message,
                ..
            }) if status == reqwest::StatusCode::CONFLICT && code == "out_of_stock" => {
                Err(ReserveError::OutOfStock { message, details })
            }
            Err(e) => Err(ReserveError::Upstream(e)),
        }
    }

    /// Commit, release or restock a reservation (`action` is the route's last segment).
    pub async fn reservation(&self, order: OrderId, action: &str) -> Result<(), UpstreamError> {
        let token = self
            .service_token()
            .map_err(|e| UpstreamError::Unreachable {
                service: "inventory",
                reason: e.message,
            })?;
        self.inventory
            .post::<_, serde_json::Value>(
                &format!("/internal/reservations/{order}/{action}"),
                Some(&token),
                &json!({}),
            )
            .await
            .map(|_| ())
    }

    pub async fn charge(
        &self,
        order: OrderId,
        user: UserId,
        amount: Money,
        card: &ValidCard,
    ) -> Result<Payment, UpstreamError> {
        let token = self
            .service_token()
            .map_err(|e| UpstreamError::Unreachable {
                service: "payments",
                reason: e.message,
            })?;
        let body = json!({
            "orderId": order,
            "userId": user,
            "amount": amount,
            "card": {"cardNumber": card.number, "expMonth": card.exp_month, "expYear": card.exp_year, "cvc": card.cvc},
            "idempotencyKey": format!("charge-{order}"),
        });
        self.payments
            .post("/internal/charges", Some(&token), &body)
            .await
    }

    pub async fn refund(&self, order: OrderId) -> Result<(), UpstreamError> {
        let token = self
            .service_token()
            .map_err(|e| UpstreamError::Unreachable {
                service: "payments",
                reason: e.message,
            })?;
        let body = json!({"orderId": order, "idempotencyKey": format!("refund-{order}")});
        self.payments
            .post::<_, serde_json::Value>("/internal/refunds", Some(&token), &body)
            .await
            .map(|_| ())
    }

    pub async fn payments_of(&self, order: OrderId) -> Result<Vec<Payment>, UpstreamError> {
        let token = self
            .service_token()
            .map_err(|e| UpstreamError::Unreachable {
                service: "payments",
                reason: e.message,
            })?;
        let list: PaymentList = self
            .payments
            .get(&format!("/internal/payments?orderId={order}"), Some(&token))
            .await?;
        Ok(list.items)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReserveError {
    #[error("out of stock: {message}")]
    OutOfStock {
        message: String,
        details: Option<serde_json::Value>,
    },
    #[error(transparent)]
    Upstream(UpstreamError),
    #[error("minting a service token failed")]
    Token(ApiError),
}
