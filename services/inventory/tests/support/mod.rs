//! The inventory tests' vocabulary: the app (started by the testkit harness) with the tokens the
//! tests act with, stock levels, and the reservation calls.

#![allow(dead_code, unused_imports)] // each test file uses a different part of this

use reqwest::Response;
use serde_json::{Value, json};
use storefront_common::auth::Role;
use storefront_common::ids::ProductId;
use storefront_inventory::{Config, build};
use storefront_testkit::app::{TestApp, service_token, token};
use uuid::Uuid;

pub use storefront_testkit::app::status_and_body as read;

/// The inventory app, and the tokens the tests act with.
pub struct App {
    pub app: TestApp,
    /// The orders service's token, for the internal routes.
    pub service: String,
    pub admin: String,
    pub customer: String,
}

impl std::ops::Deref for App {
    type Target = TestApp;
    fn deref(&self) -> &TestApp {
        &self.app
    }
}

pub async fn start() -> App {
    start_with(&[]).await
}

pub async fn start_with(extra: &[(&str, &str)]) -> App {
    launch(TestApp::builder("inventory").postgres().envs(extra)).await
}

/// Starts an app on an existing database, as a restart or a second replica would.
pub async fn start_on(database_url: &str, extra: &[(&str, &str)]) -> App {
    launch(
        TestApp::builder("inventory")
            .database_url(database_url)
            .envs(extra),
    )
    .await
}

async fn launch(builder: storefront_testkit::app::TestAppBuilder) -> App {
    let app = builder
        .start(|env| async move { Ok(build(Config::from_source(&env)?).await?) })
        .await;
    App {
        app,
        service: service_token("orders"),
        admin: token(Role::Admin),
        customer: token(Role::Customer),
    }
}

impl App {
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
