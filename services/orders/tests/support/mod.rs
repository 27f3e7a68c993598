//! A whole shop behind real HTTP for the saga tests: catalog, cart, inventory, payments and
//! orders, each built by its own crate and served on a random port, against one throwaway
//! PostgreSQL (a database each) and Redis. Tokens are minted directly; the users service is not
//! needed here.

#![allow(dead_code, unused_imports)] // each test file uses a different part of this

pub use storefront_testkit::app::eventually;

use std::collections::HashMap;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use storefront_common::auth::Role;
use storefront_common::demo::{DemoProduct, PRODUCTS};
use storefront_common::ids::UserId;
use storefront_testkit::app::{Reply, TestApp, caller, service_token, token, token_for};
use storefront_testkit::{shared_postgres, shared_redis};

pub const GOOD_CARD: &str = "4242424242424242";
pub const DECLINED_CARD: &str = "4000000000000002";

pub struct Shop {
    pub http: reqwest::Client,
    pub orders: String,
    pub cart: String,
    pub inventory: String,
    pub payments: String,
    pub catalog: String,
    pub redis_url: String,
    pub orders_db: String,
    pub payments_db: String,
    pub inventory_db: String,
    pub admin: String,
}

#[derive(Default)]
pub struct Options {
    /// Where orders sends charges; `None` is the real payments service.
    pub payments_override: Option<String>,
    pub extra: Vec<(&'static str, String)>,
}

pub async fn start() -> Shop {
    start_with(Options::default()).await
}

/// Starts service crate `$krate` as its `main` would, from the environment `$builder` collects.
macro_rules! start {
    ($krate:ident, $builder:expr) => {
        $builder
            .start(
                |env| async move { Ok($krate::build($krate::Config::from_source(&env)?).await?) },
            )
            .await
    };
}

pub async fn start_with(options: Options) -> Shop {
    let redis_url = shared_redis().fresh_url();
    let with_stores = |name| TestApp::builder(name).postgres().redis_url(&redis_url);
    let seeded = |name| with_stores(name).env("STOREFRONT_SEED_DEMO", "true");
    let catalog = start!(storefront_catalog, seeded("catalog"));
    let inventory = start!(storefront_inventory, seeded("inventory"));
    let payments = start!(storefront_payments, with_stores("payments"));
    let cart = start!(
        storefront_cart,
        TestApp::builder("cart")
            .redis_url(&redis_url)
            .env("CATALOG_URL", catalog.base.as_str())
    );
    let payments_for_orders = options
        .payments_override
        .clone()
        .unwrap_or_else(|| payments.base.clone());
    let mut shop = Shop {
        http: reqwest::Client::new(),
        orders: String::new(),
        cart: cart.base,
        inventory: inventory.base.clone(),
        payments: payments.base.clone(),
        catalog: catalog.base,
        redis_url: redis_url.clone(),
        orders_db: shared_postgres().create_database("orders").await,
        payments_db: payments.database_url().to_string(),
        inventory_db: inventory.database_url().to_string(),
        admin: token(Role::Admin),
    };
    shop.orders = shop
        .start_orders(&payments_for_orders, &options.extra)
        .await;
    shop
}

/// Serves a stand-in router (a failing payments service, say) on a random port.
pub async fn serve(router: axum::Router) -> String {
    storefront_common::service::spawn_local(router)
        .await
        .unwrap()
}

impl Shop {
    /// Starts (another) orders instance on the same database.
    pub async fn start_orders(&self, payments: &str, extra: &[(&'static str, String)]) -> String {
        let mut builder = TestApp::builder("orders")
            .database_url(&self.orders_db)
            .redis_url(&self.redis_url)
            .envs(&[
                ("CATALOG_URL", &self.catalog),
                ("CART_URL", &self.cart),
                ("INVENTORY_URL", &self.inventory),
                ("PAYMENTS_URL", payments),
                ("ORDERS_OUTBOX_INTERVAL", "50ms"),
            ]);
        for (k, v) in extra {
            builder = builder.env(k, v.as_str());
        }
        start!(storefront_orders, builder).base
    }

    /// The `/metrics` text of the service at `base`.
    pub async fn metrics_of(&self, base: &str) -> String {
        self.http
            .get(format!("{base}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub fn token_for(&self, user: UserId, role: Role) -> String {
        token_for(user, role)
    }

    pub fn customer(&self) -> (UserId, String) {
        let customer = caller(Role::Customer);
        (customer.id, customer.token)
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        url: String,
        token: Option<&str>,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, url);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let reply = Reply::read(req.send().await.unwrap()).await;
        (reply.status, reply.body)
    }

    /// A request to the orders service without an idempotency key.
    pub async fn orders_call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let url = format!("{}{path}", self.orders);
        self.call(method, url, token, None, body).await
    }

    pub async fn checkout(
        &self,
        token: &str,
        key: &str,
        items: Option<Value>,
        card: &str,
    ) -> (StatusCode, Value) {
        let mut body =
            json!({"payment": {"cardNumber": card, "expMonth": 12, "expYear": 2030, "cvc": "123"}});
        if let Some(items) = items {
            body["items"] = items;
        }
        self.call(
            reqwest::Method::POST,
            format!("{}/api/orders", self.orders),
            Some(token),
            Some(key),
            Some(body),
        )
        .await
    }

    pub async fn set_stock(&self, product: &DemoProduct, available: i64) {
        let (status, body) = self
            .call(
                reqwest::Method::PUT,
                format!("{}/api/inventory/{}", self.inventory, product.id()),
                Some(&self.admin),
                None,
                Some(json!({"available": available})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    /// `(available, reserved)` of a product.
    pub async fn stock(&self, product: &DemoProduct) -> (i64, i64) {
        let (status, body) = self
            .call(
                reqwest::Method::GET,
                format!("{}/api/inventory/{}", self.inventory, product.id()),
                None,
                None,
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        (
            body["available"].as_i64().unwrap(),
            body["reserved"].as_i64().unwrap(),
        )
    }

    pub async fn order(&self, token: &str, id: &str) -> Value {
        let (status, body) = self
            .call(
                reqwest::Method::GET,
                format!("{}/api/orders/{id}", self.orders),
                Some(token),
                None,
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    pub async fn payments_of(&self, order: &str) -> Vec<Value> {
        let token = service_token("test");
        let (status, body) = self
            .call(
                reqwest::Method::GET,
                format!("{}/internal/payments?orderId={order}", self.payments),
                Some(&token),
                None,
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["items"].as_array().cloned().unwrap_or_default()
    }

    /// How many orders and how many payments are stored.
    pub async fn orders_and_payments(&self) -> (i64, i64) {
        (
            self.count(&self.orders_db, "SELECT count(*) FROM orders")
                .await,
            self.count(&self.payments_db, "SELECT count(*) FROM payments")
                .await,
        )
    }

    pub async fn count(&self, database_url: &str, sql: &str) -> i64 {
        let pool = sqlx::PgPool::connect(database_url).await.unwrap();
        let n: i64 = sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap();
        pool.close().await;
        n
    }
}

pub fn product(i: usize) -> &'static DemoProduct {
    &PRODUCTS[i]
}

pub fn items(list: &[(&DemoProduct, i64)]) -> Value {
    Value::Array(
        list.iter()
            .map(|(p, q)| json!({"productId": p.id(), "quantity": q}))
            .collect(),
    )
}
