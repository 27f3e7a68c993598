//! The HTTP stack every service runs behind: request ids (accepted or created, echoed back, on
//! every log line of the request), a server span whose parent comes from the caller's
//! `traceparent`, metrics, a body-size limit, a per-request timeout answering 503, panics turned
//! into JSON 500s, JSON 404/405 fallbacks, and the `/healthz`, `/readyz`, `/metrics` routes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use opentelemetry_http::HeaderExtractor;
use tokio::net::TcpListener;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::error::{self, ApiError};
use crate::health::{self, Readiness};
use crate::metrics::{self, HttpMetrics};

pub const REQUEST_ID: &str = "x-request-id";

tokio::task_local! {
    /// The id of the request being handled, read by the outgoing client to pass it on.
    pub static CURRENT_REQUEST_ID: HeaderValue;
}

/// The current request's id as the header value it travels in (a cheap clone), if inside one.
pub fn current_request_id() -> Option<HeaderValue> {
    CURRENT_REQUEST_ID.try_with(Clone::clone).ok()
}

/// Settings of the stack, from [`crate::config::CommonConfig`] plus the service's name.
#[derive(Clone)]
pub struct Stack {
    pub service: &'static str,
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
    pub readiness: Readiness,
    pub metrics: Arc<HttpMetrics>,
}

struct Observe {
    metrics: Arc<HttpMetrics>,
    timeout: Duration,
    service: &'static str,
}

impl Stack {
    pub fn new(
        service: &'static str,
        common: &crate::config::CommonConfig,
        readiness: Readiness,
    ) -> Self {
        Self {
            service,
            max_body_bytes: common.max_body_bytes,
            request_timeout: common.request_timeout,
            readiness,
            metrics: HttpMetrics::new(service),
        }
    }

    /// Wraps the service's own routes with the shared middleware and operational routes.
    pub fn wrap(self, routes: Router) -> Router {
        let observe = Arc::new(Observe {
            metrics: self.metrics.clone(),
            timeout: self.request_timeout,
            service: self.service,
        });
        let ops = Router::new()
            .route("/healthz", get(health::healthz).with_state(self.service))
            .route("/readyz", get(health::readyz).with_state(self.readiness))
            .route(
                "/metrics",
                get(metrics::metrics_handler).with_state(self.metrics),
            );
        routes
            .merge(ops)
            .fallback(error::not_found_fallback)
            .method_not_allowed_fallback(error::method_not_allowed_fallback)
            .layer(DefaultBodyLimit::max(self.max_body_bytes))
            .layer(middleware::from_fn_with_state(observe, observe_request))
            .layer(tower_http::catch_panic::CatchPanicLayer::custom(
                panic_response,
            ))
    }
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    ApiError::internal("handler panicked").into_response()
}

fn valid_request_id(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty() && bytes.len() <= 128 && bytes.iter().all(|b| b.is_ascii_graphic())
}

/// A fresh request id: a random UUID, formatted on the stack.
fn new_request_id() -> HeaderValue {
    let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
    let id = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut text);
    HeaderValue::from_str(id).unwrap_or_else(|_| HeaderValue::from_static("unknown"))
}

async fn observe_request(
    State(observe): State<Arc<Observe>>,
    mut req: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let request_id = req
        .headers()
        .get(REQUEST_ID)
        .filter(|v| valid_request_id(v))
        .cloned()
        .unwrap_or_else(new_request_id);
    req.headers_mut().insert(REQUEST_ID, request_id.clone());
    let method = metrics::method_label(req.method());
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| metrics::route_label(p.as_str()));

    // With the level filtered out (RUST_LOG=warn, say) the span is disabled: no parent to find,
    // no ids to record, nothing to format.
    let span = tracing::info_span!(
        "request",
        otel.name = %format!("{method} {route}"),
        otel.kind = "server",
        service = observe.service,
        request_id = %request_id.to_str().unwrap_or_default(),
        method = %method,
        route = %route,
        status = tracing::field::Empty,
        trace_id = tracing::field::Empty,
        span_id = tracing::field::Empty,
    );
    if !span.is_disabled() {
        let parent = opentelemetry::global::get_text_map_propagator(|p| {
            p.extract(&HeaderExtractor(req.headers()))
        });
        let _ = span.set_parent(parent);
        // On every log line of the request, beside the request id, so a log leads to its trace.
        if let Some((trace_id, span_id)) = crate::telemetry::ids_of(&span) {
            span.record("trace_id", trace_id);
            span.record("span_id", span_id);
        }
    }

    let timeout = observe.timeout;
    let handled = CURRENT_REQUEST_ID.scope(request_id.clone(), async move {
        match tokio::time::timeout(timeout, next.run(req)).await {
            Ok(response) => response,
            Err(_) => {
                tracing::warn!(timeout_ms = timeout.as_millis() as u64, "request timed out");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "timeout",
                    "the request took too long; try again",
                )
                .into_response()
            }
        }
    });
    let mut response = if span.is_disabled() {
        handled.await
    } else {
        handled.instrument(span.clone()).await
    };

    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    observe
        .metrics
        .observe(method, route, status, elapsed.as_secs_f64());
    if !span.is_disabled() {
        span.record("status", status);
        if route != "/healthz" && route != "/readyz" && route != "/metrics" {
            span.in_scope(|| {
                tracing::info!(
                    status,
                    latency_ms = elapsed.as_secs_f64() * 1e3,
                    "request completed"
                );
            });
        }
    }
    response.headers_mut().insert(REQUEST_ID, request_id);
    response
}

/// Serves on `listener` until `shutdown` resolves, then finishes requests in flight.
pub async fn serve_listener(
    router: Router,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    tracing::info!(addr = %listener.local_addr()?, "listening");
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caller_s_request_id_is_kept_only_when_short_and_printable() {
        let id = |s: &str| HeaderValue::from_str(s).unwrap();
        assert!(valid_request_id(&id("abc-123")));
        assert!(valid_request_id(&id(&"x".repeat(128))));
        assert!(!valid_request_id(&id("")));
        assert!(!valid_request_id(&id(&"x".repeat(129))));
        assert!(!valid_request_id(&id("has space")));
        assert!(!valid_request_id(
            &HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap()
        ));
    }

    #[test]
    fn a_fresh_request_id_is_a_new_random_uuid_each_time() {
        let first = new_request_id();
        let parsed = uuid::Uuid::parse_str(first.to_str().unwrap()).unwrap();
        assert_eq!(parsed.get_version_num(), 4);
        assert!(valid_request_id(&first));
        assert_ne!(first, new_request_id());
    }
}
