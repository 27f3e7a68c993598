//! Starts the real inventory app on a random port against a throwaway PostgreSQL, and mints
//! tokens for each kind of caller.

#![allow(dead_code)] // each test file uses a different part of this

use std::collections::HashMap;
use std::time::Duration;

use reqwest::{Client, Response};
use serde_json::{Value, json};
use storefront_common::auth::{Authenticator, Role};
use storefront_common::ids::{ProductId, UserId};
use storefront_common::service::spawn_local;
use storefront_inventory::{Config, build};
use uuid::Uuid;

pub const SECRET: &str = "inventory-tests-secret-0123456789abcdef";

pub struct App {
    pub base: String,
    pub http: Client,
    pub database_url: String,
    pub service: String,
    pub admin: String,
    pub customer: String,
}

pub async fn start() -> App {
    start_with(&[]).await
}

pub async fn start_with(extra: &[(&str, &str)]) -> App {
    let database_url = storefront_testkit::shared_postgres()
        .create_database("inventory")
        .await;
    start_on(&database_url, extra).await
}

/// Starts an app on an existing database, as a restart or a second replica would.
pub async fn start_on(database_url: &str, extra: &[(&str, &str)]) -> App {
    let database_url = database_url.to_string();
    let mut env: HashMap<String, String> = HashMap::from([
        ("STOREFRONT_JWT_SECRET".into(), SECRET.into()),
        ("DATABASE_URL".into(), database_url.clone()),
        ("STOREFRONT_HTTP_ADDR".into(), "127.0.0.1:0".into()),
    ]);
    for (k, v) in extra {
        env.insert((*k).into(), (*v).into());
    }
    let config = Config::from_source(&env).unwrap();
    let base = spawn_local(build(config).await.unwrap().router)
        .await
        .unwrap();
    let auth = Authenticator::new(SECRET, None);
    let token = |role| {
        auth.issue(UserId::new(), role, Duration::from_secs(600))
            .unwrap()
            .token
    };
    App {
        base,
        http: Client::new(),
        database_url,
        service: auth.service_token("orders").unwrap(),
        admin: token(Role::Admin),
        customer: token(Role::Customer),
    }
}

impl App {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sets a product's stock as an admin would.
    pub async fn stock(&self, product: ProductId, available: i64) {
        let res = self
            .http
            .put(self.url(&format!("/api/inventory/{product}")))
            .bearer_auth(&self.admin)
            .json(&json!({ "available": available }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    }

    /// A new product with `available` units.
    pub async fn product(&self, available: i64) -> ProductId {
        let id = ProductId::new();
        self.stock(id, available).await;
        id
    }

    /// `(available, reserved)` of a product.
    pub async fn levels(&self, product: ProductId) -> (i64, i64) {
        let body: Value = self
            .http
            .get(self.url(&format!("/api/inventory/{product}")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        (
            body["available"].as_i64().unwrap(),
            body["reserved"].as_i64().unwrap(),
        )
    }

    pub async fn reserve(&self, id: Uuid, items: &[(ProductId, i64)]) -> Response {
        self.reserve_body(json!({
            "reservationId": id,
            "items": items
                .iter()
                .map(|(p, q)| json!({"productId": p, "quantity": q}))
                .collect::<Vec<_>>(),
        }))
        .await
    }

    pub async fn reserve_body(&self, body: Value) -> Response {
        self.http
            .post(self.url("/internal/reservations"))
            .bearer_auth(&self.service)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn act(&self, id: Uuid, action: &str) -> Response {
        self.http
            .post(self.url(&format!("/internal/reservations/{id}/{action}")))
            .bearer_auth(&self.service)
            .send()
            .await
            .unwrap()
    }
}

/// Status and JSON body of a response.
pub async fn read(res: Response) -> (u16, Value) {
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}
