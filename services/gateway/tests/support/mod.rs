//! What the gateway tests share: a recording stub backend, a gateway started on a random port
//! against a fresh Redis database (through the testkit harness), and token helpers.

#![allow(dead_code, unused_imports)] // each test binary uses its own part of this module

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use storefront_common::auth::Role;
use storefront_common::ids::UserId;
use storefront_gateway::{Backend, Config, build};
use storefront_testkit::app::{TestApp, caller};

pub use storefront_testkit::app::error_code as code;

/// A request as a stub backend saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path_and_query: String,
    pub headers: HashMap<String, String>,
    pub body: String,
}

/// How a stub answers its n-th request (1-based).
pub type Behaviour = Arc<dyn Fn(u32) -> StatusCode + Send + Sync>;

#[derive(Clone)]
pub struct Stub {
    pub name: &'static str,
    pub url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

struct StubState {
    name: &'static str,
    seen: Arc<Mutex<Vec<Seen>>>,
    count: AtomicU32,
    behaviour: Behaviour,
}

async fn record(State(stub): State<Arc<StubState>>, request: Request) -> Response {
    let n = stub.count.fetch_add(1, Ordering::SeqCst) + 1;
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let headers: HashMap<String, String> = parts
        .headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let seen = Seen {
        method: parts.method.to_string(),
        path_and_query: parts
            .uri
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default(),
        headers: headers.clone(),
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    stub.seen.lock().unwrap().push(seen.clone());
    let status = (stub.behaviour)(n);
    let mut response = (
        status,
        axum::Json(json!({
            "backend": stub.name,
            "n": n,
            "method": seen.method,
            "path": seen.path_and_query,
            "headers": headers,
        })),
    )
        .into_response();
    if let Some(id) = parts.headers.get("x-request-id") {
        response.headers_mut().insert("x-request-id", id.clone());
    }
    response
}

impl Stub {
    pub async fn start(name: &'static str) -> Stub {
        Self::with(name, Arc::new(|_| StatusCode::OK)).await
    }

    pub async fn with(name: &'static str, behaviour: Behaviour) -> Stub {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let state = Arc::new(StubState {
            name,
            seen: seen.clone(),
            count: AtomicU32::new(0),
            behaviour,
        });
        let router = Router::new().fallback(record).with_state(state);
        let url = storefront_common::service::spawn_local(router)
            .await
            .unwrap();
        Stub { name, url, seen }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    pub fn calls(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

/// A URL where nothing listens: a port bound and released.
pub fn dead_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

/// A gateway under test.
pub struct Gateway {
    pub app: TestApp,
}

impl std::ops::Deref for Gateway {
    type Target = TestApp;
    fn deref(&self) -> &TestApp {
        &self.app
    }
}

/// Starts a gateway whose backends are `urls` (the rest point nowhere) with generous limits
/// unless `extra` says otherwise.
pub async fn gateway(urls: &[(Backend, &str)], extra: &[(&str, &str)]) -> Gateway {
    let mut builder = TestApp::builder("gateway").redis().envs(&[
        ("STOREFRONT_MAX_BODY_BYTES", "4096"),
        ("GATEWAY_RATE_LIMIT_IP", "1000/s"),
        ("GATEWAY_RATE_LIMIT_BURST_IP", "1000"),
        ("GATEWAY_RATE_LIMIT_USER", "1000/s"),
        ("GATEWAY_RATE_LIMIT_BURST_USER", "1000"),
        ("GATEWAY_RETRY_BACKOFF", "10ms"),
    ]);
    let nowhere = dead_url();
    for backend in Backend::ALL {
        builder = builder.env(backend.url_variable(), nowhere.as_str());
    }
    for (backend, url) in urls {
        builder = builder.env(backend.url_variable(), *url);
    }
    let app = builder
        .envs(extra)
        .start(|env| async move { Ok(build(Config::from_source(&env)?).await?) })
        .await;
    Gateway { app }
}

impl Gateway {
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let reply = self.app.send(method, path, token, body.as_ref()).await;
        (reply.status, reply.headers, reply.body)
    }

    pub async fn get(
        &self,
        path: &str,
        token: Option<&str>,
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        self.send(reqwest::Method::GET, path, token, None).await
    }

    /// The gateway's `/metrics` text.
    pub async fn metrics(&self) -> String {
        self.app
            .http
            .get(self.app.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
}

pub fn token(role: Role) -> (UserId, String) {
    let caller = caller(role);
    (caller.id, caller.token)
}
