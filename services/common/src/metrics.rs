//! Prometheus metrics of the HTTP server: request count by method, route and status, and a
//! latency histogram by method and route. Each app owns its registry (no globals), so several
//! services can run in one test process without mixing their figures.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Labels of the request counter. Method and route are `'static` ([`method_label`],
/// [`route_label`]) so that counting a request allocates nothing.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: &'static str,
    pub route: &'static str,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LatencyLabels {
    pub method: &'static str,
    pub route: &'static str,
}

pub struct HttpMetrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<LatencyLabels, Histogram>,
}

const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

impl HttpMetrics {
    pub fn new(service: &str) -> Arc<Self> {
        Self::with_extra(service, |_| {})
    }

    /// Like [`HttpMetrics::new`], and `extra` registers the service's own metrics beside the
    /// HTTP ones (they share the `service` label and the `/metrics` route).
    pub fn with_extra(service: &str, extra: impl FnOnce(&mut Registry)) -> Arc<Self> {
        let mut registry = Registry::with_labels(
            [(
                std::borrow::Cow::Borrowed("service"),
                std::borrow::Cow::Owned(service.to_string()),
            )]
            .into_iter(),
        );
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<LatencyLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(LATENCY_BUCKETS.iter().copied())
        });
        registry.register(
            "http_requests",
            "HTTP requests served, by method, route and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency in seconds, by method and route",
            latency.clone(),
        );
        extra(&mut registry);
        Arc::new(Self {
            registry,
            requests,
            latency,
        })
    }

    pub fn observe(&self, method: &'static str, route: &'static str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                method,
                route,
                status,
            })
            .inc();
        self.latency
            .get_or_create(&LatencyLabels { method, route })
            .observe(seconds);
    }

    /// The Prometheus text of every metric in this registry.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "encoding metrics failed");
        }
        out
    }
}

/// A request's method as a label: the standard ones as sent, anything else `other`, so a client
/// inventing methods cannot create series without bound.
pub fn method_label(method: &http::Method) -> &'static str {
    match *method {
        http::Method::GET => "GET",
        http::Method::HEAD => "HEAD",
        http::Method::POST => "POST",
        http::Method::PUT => "PUT",
        http::Method::PATCH => "PATCH",
        http::Method::DELETE => "DELETE",
        http::Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Route templates seen so far, each kept once for the life of the process.
static ROUTES: std::sync::RwLock<BTreeSet<&'static str>> = std::sync::RwLock::new(BTreeSet::new());

/// A matched route template (`/api/products/{id}`) as a `'static` label. Templates come from the
/// app's own router, never from the request, so the set is as small as the app's routes and
/// keeping each one for good costs a few bytes once.
pub fn route_label(route: &str) -> &'static str {
    if let Ok(known) = ROUTES.read()
        && let Some(known) = known.get(route)
    {
        return known;
    }
    let mut routes = ROUTES
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(known) = routes.get(route) {
        return known;
    }
    let kept: &'static str = Box::leak(route.to_string().into_boxed_str());
    routes.insert(kept);
    kept
}

pub async fn metrics_handler(State(metrics): State<Arc<HttpMetrics>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        metrics.render(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_up_methods_share_one_label() {
        let method = |m: &str| http::Method::from_bytes(m.as_bytes()).unwrap();
        assert_eq!(method_label(&method("GET")), "GET");
        assert_eq!(method_label(&method("BREW")), "other");
        assert_eq!(method_label(&method("X-EVERY-TIME-NEW")), "other");
    }

    #[test]
    fn a_route_label_is_kept_once_and_handed_out_again() {
        let first = route_label(&String::from("/api/things/{id}"));
        let again = route_label(&String::from("/api/things/{id}"));
        assert_eq!(first, "/api/things/{id}");
        assert!(std::ptr::eq(first, again), "the same kept text");
    }
}
