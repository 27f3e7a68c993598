//! One way to start a service under test (feature `app`): a real app on a random loopback port,
//! configured the way a deployment configures it (environment variables), against the shared
//! throwaway PostgreSQL and Redis, with tokens signed by the one test secret.
//!
//! ```ignore
//! let app = TestApp::builder("payments")
//!     .postgres()
//!     .start(|env| async move { Ok(build(Config::from_source(&env)?).await?) })
//!     .await;
//! let reply = app.get("/api/payments", Some(&app.token(Role::Admin))).await;
//! assert_eq!(error_code(&reply.body), "not_found");
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used)] // a harness that cannot start fails the test

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use storefront_common::auth::{Authenticator, Role};
use storefront_common::ids::UserId;
use storefront_common::service::{BuildError, Built, spawn_local};

use crate::{shared_postgres, shared_redis};

/// The JWT secret every service under test is started with and every test token is signed with.
pub const TEST_JWT_SECRET: &str = "storefront-test-secret-0123456789abcdef";

/// How long a test token lives: longer than any test.
const TOKEN_TTL: Duration = Duration::from_secs(600);

/// The environment a service's configuration tests start from: the settings every service
/// requires, plus `pairs`.
pub fn test_env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    let mut env = HashMap::from([
        (
            "STOREFRONT_JWT_SECRET".to_string(),
            TEST_JWT_SECRET.to_string(),
        ),
        (
            "STOREFRONT_HTTP_ADDR".to_string(),
            "127.0.0.1:0".to_string(),
        ),
    ]);
    for (k, v) in pairs {
        env.insert((*k).to_string(), (*v).to_string());
    }
    env
}

/// A user (or staff member) and a token that proves it.
#[derive(Debug, Clone)]
pub struct Caller {
    pub id: UserId,
    pub token: String,
}

/// A new caller with `role`, signed with [`TEST_JWT_SECRET`].
pub fn caller(role: Role) -> Caller {
    let id = UserId::new();
    Caller {
        id,
        token: token_for(id, role),
    }
}

/// A token that says `user` has `role`.
pub fn token_for(user: UserId, role: Role) -> String {
    authenticator().issue(user, role, TOKEN_TTL).unwrap().token
}

/// A token for a new caller with `role`.
pub fn token(role: Role) -> String {
    caller(role).token
}

/// The short-lived token service `from` presents on another service's internal routes.
pub fn service_token(from: &str) -> String {
    authenticator().service_token(from).unwrap()
}

fn authenticator() -> Authenticator {
    Authenticator::new(TEST_JWT_SECRET, None)
}

/// The `error.code` of a Storefront error body, or `<no error code>`.
pub fn error_code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("<no error code>")
}

/// Polls `check` every 100 ms until it returns true or `limit` passes; returns the last answer.
pub async fn eventually<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = tokio::time::Instant::now();
    loop {
        if check().await {
            return true;
        }
        if started.elapsed() >= limit {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A response read whole: status, headers, and the body as JSON (a body that is not JSON is
/// kept as a JSON string; an empty one is `null`).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    pub async fn read(response: reqwest::Response) -> Reply {
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    /// The `error.code` of the body.
    pub fn code(&self) -> &str {
        error_code(&self.body)
    }
}

/// The status code and body of a response, as [`Reply::read`] reads them.
pub async fn status_and_body(response: reqwest::Response) -> (u16, Value) {
    let reply = Reply::read(response).await;
    (reply.status.as_u16(), reply.body)
}

/// Collects the environment of a service under test; [`TestApp::builder`] makes one.
pub struct TestAppBuilder {
    service: &'static str,
    env: HashMap<String, String>,
    fresh_database: bool,
}

impl TestAppBuilder {
    /// Sets one environment variable (last write wins).
    pub fn env(mut self, key: &str, value: impl Into<String>) -> Self {
        self.env.insert(key.to_string(), value.into());
        self
    }

    /// Sets several environment variables.
    pub fn envs(mut self, pairs: &[(&str, &str)]) -> Self {
        for (k, v) in pairs {
            self.env.insert((*k).to_string(), (*v).to_string());
        }
        self
    }

    /// A fresh database on the shared PostgreSQL, named after the service (`DATABASE_URL`).
    pub fn postgres(mut self) -> Self {
        self.fresh_database = true;
        self
    }

    /// An existing database, as a restarted process or a second replica finds it.
    pub fn database_url(self, url: &str) -> Self {
        self.env("DATABASE_URL", url)
    }

    /// A fresh database index on the shared Redis (`REDIS_URL`).
    pub fn redis(self) -> Self {
        let url = shared_redis().fresh_url();
        self.env("REDIS_URL", url)
    }

    /// An existing Redis database.
    pub fn redis_url(self, url: &str) -> Self {
        self.env("REDIS_URL", url)
    }

    /// Builds the app from the environment with `build` (the service's own `Config::from_source`
    /// and `build`, as its `main` calls them) and serves it on a random loopback port.
    pub async fn start<F, Fut>(mut self, build: F) -> TestApp
    where
        F: FnOnce(HashMap<String, String>) -> Fut,
        Fut: Future<Output = Result<Built, BuildError>>,
    {
        if self.fresh_database {
            let url = shared_postgres().create_database(self.service).await;
            self.env.insert("DATABASE_URL".to_string(), url);
        }
        let service = self.service;
        let built = build(self.env.clone())
            .await
            .unwrap_or_else(|e| panic!("{service} did not start: {e}"));
        let base = spawn_local(built.router)
            .await
            .unwrap_or_else(|e| panic!("{service}: cannot listen on a loopback port: {e}"));
        TestApp {
            service,
            base,
            http: reqwest::Client::new(),
            env: self.env,
        }
    }
}

/// A service under test, serving at `base`.
pub struct TestApp {
    pub service: &'static str,
    /// `http://127.0.0.1:<port>`
    pub base: String,
    pub http: reqwest::Client,
    /// The environment it was started with.
    pub env: HashMap<String, String>,
}

impl TestApp {
    /// Starts describing `service` (which names its database too) with the settings every
    /// service requires.
    pub fn builder(service: &'static str) -> TestAppBuilder {
        TestAppBuilder {
            service,
            env: test_env(&[]),
            fresh_database: false,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The `DATABASE_URL` it was started with.
    pub fn database_url(&self) -> &str {
        self.setting("DATABASE_URL")
    }

    /// The `REDIS_URL` it was started with.
    pub fn redis_url(&self) -> &str {
        self.setting("REDIS_URL")
    }

    fn setting(&self, key: &str) -> &str {
        self.env
            .get(key)
            .unwrap_or_else(|| panic!("{} was started without {key}", self.service))
    }

    /// A token for a new caller with `role`.
    pub fn token(&self, role: Role) -> String {
        token(role)
    }

    /// Sends a request, with a bearer token and a JSON body when given, and reads the reply.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Reply {
        let mut request = self.http.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{} {path}: {e}", self.service));
        Reply::read(response).await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.send(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Reply {
        self.send(Method::POST, path, token, Some(body)).await
    }
}
