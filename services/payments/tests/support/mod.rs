//! Starts the real payments app on a random port against a throwaway PostgreSQL, mints tokens
//! for each kind of caller, and builds card bodies.

#![allow(dead_code)] // each test file uses a different part of this

use std::collections::HashMap;
use std::time::Duration;

use chrono::Datelike;
use reqwest::{Client, Response};
use serde_json::{Value, json};
use storefront_common::auth::{Authenticator, Role};
use storefront_common::ids::{OrderId, UserId};
use storefront_common::service::spawn_local;
use storefront_payments::{Config, build};

pub const SECRET: &str = "payments-tests-secret-0123456789abcdef";
pub const GOOD: &str = "4242424242424242";

pub struct Caller {
    pub id: UserId,
    pub token: String,
}

pub struct App {
    pub base: String,
    pub http: Client,
    pub database_url: String,
    pub service: String,
    pub admin: Caller,
    pub alice: Caller,
    pub bob: Caller,
}

pub async fn start() -> App {
    let database_url = storefront_testkit::shared_postgres()
        .create_database("payments")
        .await;
    let env: HashMap<String, String> = HashMap::from([
        ("STOREFRONT_JWT_SECRET".into(), SECRET.into()),
        ("DATABASE_URL".into(), database_url.clone()),
        ("STOREFRONT_HTTP_ADDR".into(), "127.0.0.1:0".into()),
    ]);
    let config = Config::from_source(&env).unwrap();
    let base = spawn_local(build(config).await.unwrap().router)
        .await
        .unwrap();
    let auth = Authenticator::new(SECRET, None);
    let caller = |role| {
        let id = UserId::new();
        Caller {
            id,
            token: auth
                .issue(id, role, Duration::from_secs(600))
                .unwrap()
                .token,
        }
    };
    App {
        base,
        http: Client::new(),
        database_url,
        service: auth.service_token("orders").unwrap(),
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
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

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
        let pool = sqlx::PgPool::connect(&self.database_url).await.unwrap();
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
        let pool = sqlx::PgPool::connect(&self.database_url).await.unwrap();
        let n = sqlx::query_scalar("SELECT count(*) FROM payments")
            .fetch_one(&pool)
            .await
            .unwrap();
        pool.close().await;
        n
    }
}

/// Status and JSON body of a response.
pub async fn read(res: Response) -> (u16, Value) {
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}
