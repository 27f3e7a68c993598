//! A customer of the shop, through the Istio ingress gateway: register, log in, put a product in
//! the cart and check out with the test card that succeeds.

use anyhow::{Context, ensure};
use reqwest::header::{HOST, HeaderValue};
use serde_json::{Value, json};

use crate::Cluster;

/// The card the mock payment gateway always accepts.
pub const GOOD_CARD: &str = "4242424242424242";

/// An HTTP client aimed at the shop's public API.
pub struct Customer {
    http: reqwest::Client,
    base: String,
    host: HeaderValue,
    token: Option<String>,
}

/// What a finished purchase left behind.
#[derive(Debug)]
pub struct Purchase {
    pub order: Value,
    /// The trace id the checkout request carried.
    pub trace_id: String,
}

impl Customer {
    pub fn new(cluster: &Cluster) -> anyhow::Result<Self> {
        Ok(Self {
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(30))
                .build()?,
            base: cluster.ingress_url.trim_end_matches('/').to_owned(),
            host: HeaderValue::from_str(&cluster.ingress_host)
                .context("STOREFRONT_E2E_HOST is not a valid Host header")?,
            token: None,
        })
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header(HOST, self.host.clone());
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    async fn call(
        &self,
        request: reqwest::RequestBuilder,
        what: &str,
        expected: u16,
    ) -> anyhow::Result<Value> {
        let answer = request
            .send()
            .await
            .with_context(|| format!("{what}: no answer"))?;
        let status = answer.status().as_u16();
        let body = answer.text().await.unwrap_or_default();
        ensure!(
            status == expected,
            "{what}: expected {expected}, got {status}: {body}"
        );
        Ok(serde_json::from_str(&body).unwrap_or(Value::Null))
    }

    /// Registers a fresh account and logs in.
    pub async fn sign_up(&mut self) -> anyhow::Result<()> {
        let email = format!("e2e-{}@shop.example.com", uuid::Uuid::new_v4().simple());
        let password = "correct horse battery staple";
        let body = json!({"email": email, "password": password, "name": "E2E Customer"});
        self.call(
            self.request(reqwest::Method::POST, "/api/users/register")
                .json(&body),
            "register",
            201,
        )
        .await?;
        let login = json!({"email": email, "password": password});
        let session = self
            .call(
                self.request(reqwest::Method::POST, "/api/users/login")
                    .json(&login),
                "login",
                200,
            )
            .await?;
        self.token = Some(
            session["token"]
                .as_str()
                .context("login answer has no token")?
                .to_owned(),
        );
        Ok(())
    }

    /// One product from the catalog, the cart, and a paid order; the checkout carries a sampled
    /// `traceparent` so its trace is kept whatever the sampling percentage.
    pub async fn buy_something(&self) -> anyhow::Result<Purchase> {
        let products = self
            .call(
                self.request(reqwest::Method::GET, "/api/products?pageSize=5"),
                "list products",
                200,
            )
            .await?;
        let product = products
            .pointer("/items/0/id")
            .cloned()
            .context("the catalog is empty (is demoData on?)")?;
        let line = json!({"productId": product, "quantity": 1});
        self.call(
            self.request(reqwest::Method::POST, "/api/cart/items")
                .json(&line),
            "add to cart",
            200,
        )
        .await?;
        let (traceparent, trace_id) = crate::trace::sampled_traceparent();
        let checkout = json!({"payment": {"cardNumber": GOOD_CARD, "expMonth": 12, "expYear": 2099, "cvc": "123"}});
        let order = self
            .call(
                self.request(reqwest::Method::POST, "/api/orders")
                    .header("idempotency-key", uuid::Uuid::new_v4().to_string())
                    .header("traceparent", traceparent)
                    .json(&checkout),
                "checkout",
                201,
            )
            .await?;
        ensure!(order["status"] == "paid", "the order is not paid: {order}");
        Ok(Purchase { order, trace_id })
    }

    /// Status codes of `count` catalog reads (traffic for a canary's analysis).
    pub async fn browse(&self, count: usize) -> Vec<u16> {
        let mut statuses = Vec::with_capacity(count);
        for _ in 0..count {
            let status = match self
                .request(reqwest::Method::GET, "/api/products?pageSize=3")
                .send()
                .await
            {
                Ok(answer) => answer.status().as_u16(),
                Err(_) => 0,
            };
            statuses.push(status);
        }
        statuses
    }
}
