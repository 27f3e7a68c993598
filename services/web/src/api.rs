//! A typed client of the public API (`/api/...` behind `GATEWAY_URL`), the only data source of
//! the web front. It sends the shopper's own token, never a service token, so the gateway and the
//! services enforce exactly what they would for any other client.

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::json;
use storefront_common::client::{ServiceClient, UpstreamError};
use storefront_common::money::Money;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Product {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub category: String,
    pub price: Money,
    #[serde(default)]
    pub image_url: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductPage {
    pub items: Vec<Product>,
    pub total: u64,
    pub page: u32,
    pub page_size: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Category {
    pub name: String,
    pub count: u64,
}

/// A notification about one of the shopper's orders (`GET /api/notifications`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    pub id: String,
    pub order_id: String,
    pub title: String,
    pub body: String,
    pub read: bool,
    pub created_at: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Notifications {
    pub items: Vec<Notification>,
    pub unread: u64,
}

#[derive(Debug, Clone, Deserialize)]
struct Items<T> {
    items: Vec<T>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Stock {
    pub available: i64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CartLine {
    pub product_id: String,
    pub name: String,
    #[serde(default)]
    pub image_url: Option<String>,
    pub unit_price: Money,
    pub quantity: u32,
    pub line_total: Money,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cart {
    pub items: Vec<CartLine>,
    pub item_count: u32,
    pub total: Money,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderLine {
    pub product_id: String,
    pub name: String,
    pub unit_price: Money,
    pub quantity: u32,
    pub line_total: Money,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    pub id: String,
    pub status: String,
    pub items: Vec<OrderLine>,
    pub total: Money,
    #[serde(default)]
    pub failure_reason: Option<String>,
    pub created_at: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Login {
    pub token: String,
    pub expires_at: String,
}

/// The listing query as the catalog takes it; `None` fields are left out of the URL.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ProductQuery {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sort: Option<String>,
    pub page: u32,
    pub page_size: u32,
}

/// A card as `POST /api/orders` takes it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Card {
    pub card_number: String,
    pub exp_month: u32,
    pub exp_year: u32,
    pub cvc: String,
}

#[derive(Clone, Debug)]
pub struct Api {
    client: ServiceClient,
}

type Result<T> = std::result::Result<T, UpstreamError>;

impl Api {
    pub fn new(client: ServiceClient) -> Self {
        Self { client }
    }

    pub async fn products(&self, query: &ProductQuery) -> Result<ProductPage> {
        let req = self
            .client
            .request(Method::GET, "/api/products", None)
            .query(query);
        self.client.send(req).await
    }

    pub async fn categories(&self) -> Result<Vec<Category>> {
        let found: Items<Category> = self.client.get("/api/products/categories", None).await?;
        Ok(found.items)
    }

    pub async fn product(&self, id: &str) -> Result<Product> {
        self.client
            .get(&format!("/api/products/{}", segment(id)), None)
            .await
    }

    pub async fn stock(&self, product_id: &str) -> Result<Stock> {
        self.client
            .get(&format!("/api/inventory/{}", segment(product_id)), None)
            .await
    }

    pub async fn login(&self, email: &str, password: &str) -> Result<Login> {
        let body = json!({"email": email, "password": password});
        self.client.post("/api/users/login", None, &body).await
    }

    pub async fn register(&self, email: &str, password: &str, name: &str) -> Result<()> {
        let body = json!({"email": email, "password": password, "name": name});
        self.client
            .post::<_, serde_json::Value>("/api/users/register", None, &body)
            .await
            .map(|_| ())
    }

    pub async fn logout(&self, token: &str) -> Result<()> {
        self.client
            .post::<_, serde_json::Value>("/api/users/logout", Some(token), &json!({}))
            .await
            .map(|_| ())
    }

    pub async fn cart(&self, token: &str) -> Result<Cart> {
        self.client.get("/api/cart", Some(token)).await
    }

    pub async fn add_to_cart(&self, token: &str, product_id: &str, quantity: u32) -> Result<Cart> {
        let body = json!({"productId": product_id, "quantity": quantity});
        self.client
            .post("/api/cart/items", Some(token), &body)
            .await
    }

    pub async fn set_quantity(&self, token: &str, product_id: &str, quantity: u32) -> Result<Cart> {
        let path = format!("/api/cart/items/{}", segment(product_id));
        let req = self
            .client
            .request(Method::PUT, &path, Some(token))
            .json(&json!({"quantity": quantity}));
        self.client.send(req).await
    }

    pub async fn remove_from_cart(&self, token: &str, product_id: &str) -> Result<()> {
        let path = format!("/api/cart/items/{}", segment(product_id));
        self.client.delete(&path, Some(token)).await
    }

    /// Places an order from the cart. The key makes a repeated submit of the same form one
    /// order: the orders service answers a repeat with the first answer.
    pub async fn place_order(
        &self,
        token: &str,
        idempotency_key: &str,
        card: &Card,
    ) -> Result<Order> {
        let req = self
            .client
            .request(Method::POST, "/api/orders", Some(token))
            .header("Idempotency-Key", idempotency_key)
            .json(&json!({"payment": card}));
        self.client.send(req).await
    }

    pub async fn orders(&self, token: &str) -> Result<Vec<Order>> {
        let found: Items<Order> = self.client.get("/api/orders", Some(token)).await?;
        Ok(found.items)
    }

    pub async fn order(&self, token: &str, id: &str) -> Result<Order> {
        self.client
            .get(&format!("/api/orders/{}", segment(id)), Some(token))
            .await
    }

    pub async fn cancel_order(&self, token: &str, id: &str) -> Result<Order> {
        let path = format!("/api/orders/{}/cancel", segment(id));
        self.client.post(&path, Some(token), &json!({})).await
    }

    pub async fn notifications(&self, token: &str) -> Result<Notifications> {
        self.client.get("/api/notifications", Some(token)).await
    }

    pub async fn mark_notification_read(&self, token: &str, id: &str) -> Result<Notification> {
        let path = format!("/api/notifications/{}/read", segment(id));
        self.client.post(&path, Some(token), &json!({})).await
    }
}

/// Ids come from the shopper's URL; anything but an id's characters is dropped so a crafted id
/// cannot walk to another API path (`../users/profile`). Ids are UUIDs, which this keeps intact.
fn segment(id: &str) -> String {
    id.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_cannot_escape_their_route() {
        assert_eq!(segment("../users/profile"), "usersprofile");
        assert_eq!(
            segment("5f0a43b1-9c5e-4d3e-8c41-2a7e6b1d0c11"),
            "5f0a43b1-9c5e-4d3e-8c41-2a7e6b1d0c11"
        );
    }

    #[test]
    fn product_query_leaves_out_unset_filters() {
        let query = ProductQuery {
            q: Some("mug & cup".into()),
            page: 2,
            page_size: 12,
            ..ProductQuery::default()
        };
        let encoded = serde_urlencoded::to_string(&query).unwrap();
        assert_eq!(encoded, "q=mug+%26+cup&page=2&pageSize=12");
    }
}
