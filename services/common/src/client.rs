//! The one HTTP client for calls between services. Every call carries the caller's request id
//! and W3C trace context, has connect and total timeouts, and turns the other side's JSON error
//! into a typed [`UpstreamError`] the caller can match on. A base URL may list several instances
//! (`http://a:1,http://b:2`): calls then go round-robin ([`crate::balance`]), an instance whose
//! connection fails is skipped for a cool-down, and a call whose connection could not be made
//! (nothing was sent) moves on to the next instance; so does an idempotent read that lost its
//! connection. Answers, 5xx included, are never repeated here.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use opentelemetry_http::HeaderInjector;
use reqwest::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::balance::{self, Rotation};
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

/// The instances of a service plus the shared connection pool.
#[derive(Clone, Debug)]
pub struct ServiceClient {
    service: &'static str,
    /// Normalised as the URL parser prints them, so a request's URL starts with its base.
    instances: Arc<[String]>,
    rotation: Arc<Mutex<Rotation>>,
    http: reqwest::Client,
}

/// `base` as the URL parser prints it (lower-case host, no default port), without the trailing
/// slash; unparsable text is kept as it is, and fails when a request is made.
fn normalise(base: &str) -> String {
    reqwest::Url::parse(base)
        .map(|url| url.as_str().trim_end_matches('/').to_owned())
        .unwrap_or_else(|_| base.to_owned())
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
    /// `base` is one URL or several separated by commas; text that is not a list of http(s)
    /// URLs is kept whole as one base, as it always was.
    pub fn new(service: &'static str, base: impl Into<String>, http: reqwest::Client) -> Self {
        let base = base.into();
        let instances: Vec<String> = balance::parse_instances(&base)
            .unwrap_or_else(|_| vec![base.trim_end_matches('/').to_owned()])
            .into_iter()
            .map(|b| normalise(&b))
            .collect();
        let rotation = Rotation::new(instances.len(), balance::DEFAULT_COOL_DOWN);
        Self {
            service,
            instances: instances.into(),
            rotation: Arc::new(Mutex::new(rotation)),
            http,
        }
    }

    /// The first instance's base URL (the only one, unless several were listed).
    pub fn base(&self) -> &str {
        &self.instances[0]
    }

    pub fn instances(&self) -> &[String] {
        &self.instances
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
        if let Some(id) = current_request_id() {
            headers.insert(REQUEST_ID, id);
        }
        // Addressed to the first instance; [`Self::execute`] moves it to the one whose turn it is.
        let mut builder = self
            .http
            .request(method, format!("{}{}", self.base(), path))
            .headers(headers);
        if let Some(token) = token {
            builder = builder.bearer_auth(token);
        }
        builder
    }

    /// Sends a request made by [`Self::request`] to the instance whose turn it is, moving on to
    /// the next one when the connection could not be made (any method: nothing was sent) or,
    /// for GET and HEAD, was lost before an answer came. A timeout is returned as it is: the
    /// instance may still be working, and a retry would multiply the caller's wait.
    pub async fn execute(
        &self,
        builder: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, reqwest::Error> {
        let mut request = builder.build()?;
        // One instance (a Kubernetes Service address), or a URL built elsewhere: as is.
        if self.instances.len() == 1 {
            return self.http.execute(request).await;
        }
        let Some(rest) = self.rest_of(request.url()) else {
            return self.http.execute(request).await;
        };
        let idempotent = matches!(*request.method(), Method::GET | Method::HEAD);
        let mut tried = Vec::with_capacity(self.instances.len());
        loop {
            let Some(index) = self.rotation().pick(Instant::now(), &tried) else {
                // Unreachable: the loop returns before every instance has been tried.
                return self.http.execute(request).await;
            };
            tried.push(index);
            if let Ok(url) = reqwest::Url::parse(&format!("{}{rest}", self.instances[index])) {
                *request.url_mut() = url;
            }
            let spare = request.try_clone();
            match self.http.execute(request).await {
                Ok(response) => {
                    self.rotation().succeeded(index);
                    return Ok(response);
                }
                Err(error) => {
                    let nothing_sent = error.is_connect();
                    if nothing_sent || !error.is_timeout() {
                        self.rotation().failed(index, Instant::now());
                        tracing::warn!(
                            service = self.service,
                            instance = %self.instances[index],
                            error = %error,
                            "instance failed; skipping it for its cool-down"
                        );
                    }
                    let may_repeat = nothing_sent || (idempotent && !error.is_timeout());
                    match spare {
                        Some(spare) if may_repeat && tried.len() < self.instances.len() => {
                            request = spare;
                        }
                        _ => return Err(error),
                    }
                }
            }
        }
    }

    /// The part of `url` after the first instance's base, when [`Self::request`] made it.
    fn rest_of(&self, url: &reqwest::Url) -> Option<String> {
        let rest = url.as_str().strip_prefix(self.base())?;
        (rest.is_empty() || rest.starts_with(['/', '?'])).then(|| rest.to_owned())
    }

    fn rotation(&self) -> MutexGuard<'_, Rotation> {
        // Every change to the rotation is a single assignment: valid after any panic.
        self.rotation.lock().unwrap_or_else(PoisonError::into_inner)
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
        let response = self
            .execute(builder)
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

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// A loopback server answering every request with its `name`, counting the requests.
    fn instance(name: &'static str) -> (String, Arc<AtomicUsize>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let served = Arc::new(AtomicUsize::new(0));
        let count = served.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut request = [0u8; 4096];
                let _ = stream.read(&mut request);
                count.fetch_add(1, Ordering::SeqCst);
                let body = format!("\"{name}\"");
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        (url, served)
    }

    /// An address nothing listens on: connecting is refused.
    fn dead_instance() -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        url
    }

    #[tokio::test]
    async fn calls_alternate_between_the_listed_instances() {
        let (a, _) = instance("a");
        let (b, _) = instance("b");
        let client = ServiceClient::new(
            "catalog",
            format!("{a},{b}/"),
            http_client(Duration::from_secs(5)),
        );
        let mut seen = Vec::new();
        for _ in 0..4 {
            seen.push(client.get::<String>("/x", None).await.unwrap());
        }
        assert_eq!(seen, ["a", "b", "a", "b"]);
    }

    #[tokio::test]
    async fn a_refused_connection_moves_the_call_on_even_for_a_post() {
        let (live, served) = instance("live");
        let dead = dead_instance();
        let client = ServiceClient::new(
            "catalog",
            format!("{dead},{live}"),
            http_client(Duration::from_secs(5)),
        );
        let answer: String = client
            .post("/orders", None, &serde_json::json!({"n": 1}))
            .await
            .unwrap();
        assert_eq!(answer, "live");
        // The dead one is now cooling down: the next calls all go to the live one directly.
        for _ in 0..3 {
            assert_eq!(client.get::<String>("/x", None).await.unwrap(), "live");
        }
        assert_eq!(served.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn a_single_dead_instance_fails_the_call_as_unreachable() {
        let client = ServiceClient::new(
            "catalog",
            dead_instance(),
            http_client(Duration::from_secs(5)),
        );
        let err = client.get::<String>("/x", None).await.unwrap_err();
        assert!(matches!(err, UpstreamError::Unreachable { .. }), "{err}");
    }

    #[test]
    fn a_base_is_kept_as_the_url_parser_prints_it() {
        let http = reqwest::Client::new();
        let client =
            ServiceClient::new("catalog", "http://Catalog:80/,http://b:8080", http.clone());
        assert_eq!(client.instances(), ["http://catalog", "http://b:8080"]);
        assert_eq!(
            ServiceClient::new("x", "not a url", http).base(),
            "not a url"
        );
    }
}
