//! A customer of a running shop, through its public API (feature `shop`): what the end-to-end
//! tests do wherever the shop runs (plain processes, Docker Compose, the real-node cluster),
//! written once. It signs up, logs in, buys the AeroPress from the demo catalog, and reads its
//! orders back; every step asserts the status the contract promises.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a harness whose step fails fails the test

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Every test customer's password.
pub const PASSWORD: &str = "a-good-password";
/// A card the mock gateway approves, and one it declines.
pub const GOOD_CARD: &str = "4242424242424242";
pub const DECLINED_CARD: &str = "4000000000000002";

/// A card body for `number`, valid for years.
pub fn card(number: &str) -> Value {
    json!({"cardNumber": number, "expMonth": 12, "expYear": 2040, "cvc": "123"})
}

/// The public API of one shop (its gateway).
pub struct Shop {
    pub base: String,
    pub http: reqwest::Client,
}

/// What [`Shop::purchase`] bought.
pub struct Purchase {
    /// The product as the catalog listed it.
    pub product: Value,
    /// The order as checkout answered it (`paid`).
    pub order: Value,
}

impl Shop {
    /// `base` is the gateway's `http://host:port`; each request may take 30 s.
    pub fn new(base: impl Into<String>) -> Self {
        Self {
            base: base.into(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
        }
    }

    /// One request, with a bearer token, a JSON body and an Idempotency-Key when given; the
    /// body is `null` when it is not JSON.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        key: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Registers `email` (201) and logs in; returns the token.
    pub async fn customer(&self, email: &str) -> String {
        let (status, body) = self
            .call(
                Method::POST,
                "/api/users/register",
                None,
                Some(json!({"email": email, "password": PASSWORD, "name": "Test Customer"})),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "register {email}: {body}");
        self.login(email).await
    }

    /// Logs in (200); returns the token.
    pub async fn login(&self, email: &str) -> String {
        let (status, body) = self
            .call(
                Method::POST,
                "/api/users/login",
                None,
                Some(json!({"email": email, "password": PASSWORD})),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "login {email}: {body}");
        body["token"].as_str().unwrap().to_owned()
    }

    /// Finds the AeroPress by searching "coffee", puts `quantity` in the cart (the cart's total
    /// is price × quantity), and pays for the cart with a good card under `key` (201, `paid`).
    pub async fn purchase(&self, token: &str, quantity: i64, key: &str) -> Purchase {
        let (status, found) = self
            .call(Method::GET, "/api/products?q=coffee", None, None, None)
            .await;
        assert_eq!(status, StatusCode::OK, "{found}");
        let product = found["items"][0].clone();
        assert!(
            product["name"]
                .as_str()
                .unwrap_or_default()
                .contains("AeroPress"),
            "{found}"
        );
        let (status, body) = self
            .call(
                Method::POST,
                "/api/cart/items",
                Some(token),
                Some(json!({"productId": product["id"], "quantity": quantity})),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (status, cart) = self
            .call(Method::GET, "/api/cart", Some(token), None, None)
            .await;
        assert_eq!(status, StatusCode::OK, "{cart}");
        assert_eq!(
            cart["total"]["amount"],
            product["price"]["amount"].as_i64().unwrap() * quantity,
            "{cart}"
        );
        let (status, order) = self
            .call(
                Method::POST,
                "/api/orders",
                Some(token),
                Some(json!({"payment": card(GOOD_CARD)})),
                Some(key),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{order}");
        assert_eq!(order["status"], "paid", "{order}");
        Purchase { product, order }
    }

    /// The ids of the caller's orders, newest first (200).
    pub async fn order_ids(&self, token: &str) -> Vec<String> {
        let (status, history) = self
            .call(Method::GET, "/api/orders", Some(token), None, None)
            .await;
        assert_eq!(status, StatusCode::OK, "{history}");
        history["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["id"].as_str().unwrap().to_owned())
            .collect()
    }

    /// The caller's notifications (200): `{"items": [...], "unread": n}`.
    pub async fn notifications(&self, token: &str) -> Value {
        let (status, list) = self
            .call(Method::GET, "/api/notifications", Some(token), None, None)
            .await;
        assert_eq!(status, StatusCode::OK, "{list}");
        list
    }

    /// Polls the caller's notifications until `done` holds of them, for at most `limit`.
    pub async fn wait_for_notifications(
        &self,
        token: &str,
        limit: Duration,
        done: impl Fn(&[Value]) -> bool,
    ) -> Value {
        let started = std::time::Instant::now();
        loop {
            let list = self.notifications(token).await;
            if done(list["items"].as_array().map_or(&[], Vec::as_slice)) {
                return list;
            }
            assert!(
                started.elapsed() < limit,
                "waited {limit:?} for the notifications: {list}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
