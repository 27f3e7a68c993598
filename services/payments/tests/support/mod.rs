//! The payments tests' vocabulary: the app (started by the testkit harness) with the callers
//! the tests act as, the three calls (pay, charge, refund), card bodies, and what is stored.

#![allow(dead_code, unused_imports)] // each test file uses a different part of this

use chrono::Datelike;
use reqwest::Response;
use serde_json::{Value, json};
use storefront_common::auth::Role;
use storefront_common::ids::{OrderId, UserId};
use storefront_payments::{Config, build};
use storefront_testkit::app::{Caller, TestApp, caller, service_token};

pub const GOOD: &str = "4242424242424242";

/// The payments app, and the callers the tests act as.
pub struct App {
    pub app: TestApp,
    /// The orders service's token, for the internal routes.
    pub service: String,
    pub admin: Caller,
    pub alice: Caller,
    pub bob: Caller,
}

impl std::ops::Deref for App {
    type Target = TestApp;
    fn deref(&self) -> &TestApp {
        &self.app
    }
}

pub async fn start() -> App {
    let app = TestApp::builder("payments")
        .postgres()
        .start(|env| async move { Ok(build(Config::from_source(&env)?).await?) })
        .await;
    App {
        app,
        service: service_token("orders"),
        admin: caller(Role::Admin),
        alice: caller(Role::Customer),
        bob: caller(Role::Customer),
    }
}

/// A card valid until two years from now.
pub fn card(number: &str) -> Value {
    json!({
        "cardNumber": number,
        "expMonth": 12,
        "expYear": chrono::Utc::now().year() + 2,
        "cvc": "123",
    })
}

pub fn usd(amount: i64) -> Value {
    json!({"amount": amount, "currency": "USD"})
}

impl App {
    /// `POST /api/payments` as `who` with an idempotency key.
    pub async fn pay(&self, who: &Caller, key: &str, body: Value) -> Response {
        self.http
            .post(self.url("/api/payments"))
            .bearer_auth(&who.token)
            .header("idempotency-key", key)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// `POST /internal/charges` as the orders service.
    pub async fn charge(
        &self,
        key: &str,
        order: OrderId,
        user: UserId,
        amount: i64,
        card: Value,
    ) -> Response {
        self.http
            .post(self.url("/internal/charges"))
            .bearer_auth(&self.service)
            .json(&json!({
                "orderId": order,
                "userId": user,
                "amount": usd(amount),
                "card": card,
                "idempotencyKey": key,
            }))
            .send()
            .await
            .unwrap()
    }

    pub async fn refund(&self, order: OrderId, key: &str) -> Response {
        self.http
            .post(self.url("/internal/refunds"))
            .bearer_auth(&self.service)
            .json(&json!({"orderId": order, "idempotencyKey": key}))
            .send()
            .await
            .unwrap()
    }

    /// Every stored row of every table, as text, straight from the database.
    pub async fn database_text(&self) -> String {
        let pool = sqlx::PgPool::connect(self.database_url()).await.unwrap();
        let mut text = String::new();
        for table in ["payments", "refunds"] {
            let rows: Vec<String> =
                sqlx::query_scalar(&format!("SELECT row_to_json(t)::text FROM {table} t"))
                    .fetch_all(&pool)
                    .await
                    .unwrap();
            text.push_str(&rows.join("\n"));
        }
        pool.close().await;
        text
    }

    pub async fn payment_rows(&self) -> i64 {
        let pool = sqlx::PgPool::connect(self.database_url()).await.unwrap();
        let n = sqlx::query_scalar("SELECT count(*) FROM payments")
            .fetch_one(&pool)
            .await
            .unwrap();
        pool.close().await;
        n
    }
}

pub use storefront_testkit::app::status_and_body as read;
