//! A whole shop behind real HTTP for the saga tests: catalog, cart, inventory, payments and
//! orders, each built by its own crate and served on a random port, against one throwaway
//! PostgreSQL (a database each) and Redis. Tokens are minted directly; the users service is not
//! needed here.

#![allow(dead_code)]

use std::collections::HashMap;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use storefront_common::auth::{Authenticator, Role};
use storefront_common::demo::{DemoProduct, PRODUCTS};
use storefront_common::ids::UserId;
use storefront_common::service::spawn_local;
use storefront_testkit::{shared_postgres, shared_redis};

pub const SECRET: &str = "saga-test-secret-saga-test-secret!!";
pub const GOOD_CARD: &str = "4242424242424242";
pub const DECLINED_CARD: &str = "4000000000000002";

pub struct Shop {
    pub http: reqwest::Client,
    pub auth: Authenticator,
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

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub async fn start() -> Shop {
    start_with(Options::default()).await
}

pub async fn start_with(options: Options) -> Shop {
    let pg = shared_postgres();
    let redis_url = shared_redis().fresh_url();
    let (catalog_db, inventory_db, payments_db, orders_db) = (
        pg.create_database("catalog").await,
        pg.create_database("inventory").await,
        pg.create_database("payments").await,
        pg.create_database("orders").await,
    );
    let common = [
        ("STOREFRONT_JWT_SECRET", SECRET),
        ("REDIS_URL", redis_url.as_str()),
    ];

    let mut e = env(&common);
    e.extend(env(&[
        ("DATABASE_URL", &catalog_db),
        ("STOREFRONT_SEED_DEMO", "true"),
    ]));
    let catalog = serve(
        storefront_catalog::build(storefront_catalog::Config::from_source(&e).unwrap())
            .await
            .unwrap()
            .router,
    )
    .await;

    let mut e = env(&common);
    e.extend(env(&[
        ("DATABASE_URL", &inventory_db),
        ("STOREFRONT_SEED_DEMO", "true"),
    ]));
    let inventory = serve(
        storefront_inventory::build(storefront_inventory::Config::from_source(&e).unwrap())
            .await
            .unwrap()
            .router,
    )
    .await;

    let mut e = env(&common);
    e.extend(env(&[("DATABASE_URL", &payments_db)]));
    let payments = serve(
        storefront_payments::build(storefront_payments::Config::from_source(&e).unwrap())
            .await
            .unwrap()
            .router,
    )
    .await;

    let mut e = env(&common);
    e.extend(env(&[("CATALOG_URL", &catalog)]));
    let cart = serve(
        storefront_cart::build(storefront_cart::Config::from_source(&e).unwrap())
            .await
            .unwrap()
            .router,
    )
    .await;

    let payments_for_orders = options
        .payments_override
        .clone()
        .unwrap_or_else(|| payments.clone());
    let mut shop = Shop {
        http: reqwest::Client::new(),
        auth: Authenticator::new(SECRET, None),
        orders: String::new(),
        cart,
        inventory,
        payments,
        catalog,
        redis_url,
        orders_db,
        payments_db,
        inventory_db,
        admin: String::new(),
    };
    shop.admin = shop.token_for(UserId::new(), Role::Admin);
    shop.orders = shop
        .start_orders(&payments_for_orders, &options.extra)
        .await;
    shop
}

pub async fn serve(router: axum::Router) -> String {
    spawn_local(router).await.unwrap()
}

impl Shop {
    /// Starts (another) orders instance on the same database.
    pub async fn start_orders(&self, payments: &str, extra: &[(&'static str, String)]) -> String {
        let mut e = env(&[
            ("STOREFRONT_JWT_SECRET", SECRET),
            ("REDIS_URL", &self.redis_url),
            ("DATABASE_URL", &self.orders_db),
            ("CATALOG_URL", &self.catalog),
            ("CART_URL", &self.cart),
            ("INVENTORY_URL", &self.inventory),
            ("PAYMENTS_URL", payments),
            ("ORDERS_OUTBOX_INTERVAL", "50ms"),
        ]);
        for (k, v) in extra {
            e.insert(k.to_string(), v.clone());
        }
        let config = storefront_orders::Config::from_source(&e).unwrap();
        serve(storefront_orders::build(config).await.unwrap().router).await
    }

    pub fn token_for(&self, user: UserId, role: Role) -> String {
        self.auth
            .issue(user, role, Duration::from_secs(3600))
            .unwrap()
            .token
    }

    pub fn customer(&self) -> (UserId, String) {
        let id = UserId::new();
        (id, self.token_for(id, Role::Customer))
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
        let resp = req.send().await.unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
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
        let token = self.auth.service_token("test").unwrap();
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

/// Polls `check` until it returns true or `limit` passes.
pub async fn eventually<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = tokio::time::Instant::now();
    while started.elapsed() < limit {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}
