//! The one HTTP client for calls between services. Every call carries the caller's request id
//! and W3C trace context, has connect and total timeouts, and turns the other side's JSON error
//! into a typed [`UpstreamError`] the caller can match on.

use std::time::Duration;

use axum::http::StatusCode;
use opentelemetry_http::HeaderInjector;
use reqwest::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::error::ApiError;
use crate::http::{REQUEST_ID, current_request_id};

#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("{service} is unreachable: {reason}")]
    Unreachable {
        service: &'static str,
        reason: String,
    },
    #[error("{service} answered {status} {code}: {message}")]
    Status {
        service: &'static str,
        status: StatusCode,
        code: String,
        message: String,
        details: Option<Value>,
    },
    #[error("{service} answered with a body we cannot read: {reason}")]
    Decode {
        service: &'static str,
        reason: String,
    },
}

impl UpstreamError {
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            UpstreamError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    pub fn code(&self) -> Option<&str> {
        match self {
            UpstreamError::Status { code, .. } => Some(code),
            _ => None,
        }
    }

    /// True when the other side may or may not have acted (timeout, dropped connection, 5xx):
    /// the caller cannot know the outcome and must find out later.
    pub fn is_ambiguous(&self) -> bool {
        match self {
            UpstreamError::Unreachable { .. } | UpstreamError::Decode { .. } => true,
            UpstreamError::Status { status, .. } => status.is_server_error(),
        }
    }
}

impl From<UpstreamError> for ApiError {
    fn from(err: UpstreamError) -> Self {
        match &err {
            UpstreamError::Status { status, .. } if status.is_client_error() => {
                ApiError::internal(&err)
            }
            _ => {
                tracing::warn!(error = %err, "upstream call failed");
                ApiError::unavailable(format!("a dependency is unavailable: {err}"))
            }
        }
    }
}

/// A base URL plus the shared connection pool.
#[derive(Clone, Debug)]
pub struct ServiceClient {
    service: &'static str,
    base: String,
    http: reqwest::Client,
}

/// Builds the shared pool; call once per process and clone. Redirects are never followed: a
/// service-to-service answer is passed on as it is (the gateway relays a page's 303 and its
/// Set-Cookie to the browser; following it would swallow both).
pub fn http_client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(2))
        .timeout(timeout)
        .pool_idle_timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(64)
        .build()
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, "falling back to a default HTTP client");
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_default()
        })
}

impl ServiceClient {
    pub fn new(service: &'static str, base: impl Into<String>, http: reqwest::Client) -> Self {
        Self {
            service,
            base: base.into().trim_end_matches('/').to_string(),
            http,
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// A request with tracing and request-id headers, authorised with `token` when given.
    pub fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let mut headers = reqwest::header::HeaderMap::new();
        let context = tracing::Span::current().context();
        opentelemetry::global::get_text_map_propagator(|p| {
            p.inject_context(&context, &mut HeaderInjector(&mut headers));
        });
        if let Some(id) = current_request_id()
            && let Ok(value) = reqwest::header::HeaderValue::from_str(&id)
        {
            headers.insert(REQUEST_ID, value);
        }
        let mut builder = self
            .http
            .request(method, format!("{}{}", self.base, path))
            .headers(headers);
        if let Some(token) = token {
            builder = builder.bearer_auth(token);
        }
        builder
    }

    pub async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        token: Option<&str>,
    ) -> Result<T, UpstreamError> {
        self.send(self.request(Method::GET, path, token)).await
    }

    pub async fn post<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        path: &str,
        token: Option<&str>,
        body: &B,
    ) -> Result<T, UpstreamError> {
        self.send(self.request(Method::POST, path, token).json(body))
            .await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> Result<(), UpstreamError> {
        self.send::<Value>(self.request(Method::DELETE, path, token))
            .await
            .map(|_| ())
    }

    /// Sends and decodes a 2xx JSON body (an empty body decodes as `null`).
    pub async fn send<T: DeserializeOwned>(
        &self,
        builder: reqwest::RequestBuilder,
    ) -> Result<T, UpstreamError> {
        let service = self.service;
        let response = builder
            .send()
            .await
            .map_err(|e| UpstreamError::Unreachable {
                service,
                reason: e.to_string(),
            })?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| UpstreamError::Unreachable {
                service,
                reason: e.to_string(),
            })?;
        if status.is_success() {
            let body: &[u8] = if bytes.is_empty() { b"null" } else { &bytes };
            return serde_json::from_slice(body).map_err(|e| UpstreamError::Decode {
                service,
                reason: e.to_string(),
            });
        }
        let parsed: Option<Value> = serde_json::from_slice(&bytes).ok();
        let error = parsed.as_ref().and_then(|v| v.get("error"));
        let text = |field: &str| {
            error
                .and_then(|e| e.get(field))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        Err(UpstreamError::Status {
            service,
            status: StatusCode::from_u16(status.as_u16()).unwrap_or(StatusCode::BAD_GATEWAY),
            code: text("code"),
            message: text("message"),
            details: error.and_then(|e| e.get("details")).cloned(),
        })
    }
}
