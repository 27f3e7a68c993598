//! The gateway's own metrics (cache hits and misses, breaker state per backend, requests refused
//! by the rate limiter, by the tier that refused them), appended to the shared `/metrics` answer.
//! The shared stack owns that route and its registry, so this module splices its text in before
//! the final `# EOF` line, keeping the document one valid OpenMetrics exposition.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::ratelimit::Tier;
use crate::routing::Backend;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TierLabels {
    tier: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BackendLabels {
    backend: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BreakerLabels {
    backend: &'static str,
    state: &'static str,
}

const BREAKER_STATES: [&str; 3] = ["closed", "half_open", "open"];

pub struct GatewayMetrics {
    registry: Registry,
    cache: Family<ResultLabels, Counter>,
    breaker: Family<BreakerLabels, Gauge>,
    breaker_opens: Family<BackendLabels, Counter>,
    rate_limited: Family<TierLabels, Counter>,
}

/// The metrics text is small; anything bigger than this is not ours to rewrite.
const MAX_METRICS_BYTES: usize = 4 * 1024 * 1024;

impl GatewayMetrics {
    pub fn new() -> Arc<Self> {
        let mut registry = Registry::default();
        let cache = Family::<ResultLabels, Counter>::default();
        let breaker = Family::<BreakerLabels, Gauge>::default();
        let breaker_opens = Family::<BackendLabels, Counter>::default();
        let rate_limited = Family::<TierLabels, Counter>::default();
        // Both series exist from the start, so a dashboard sees 0 rather than nothing.
        for tier in [Tier::Local, Tier::Redis] {
            let _ = rate_limited.get_or_create(&TierLabels {
                tier: tier.as_str(),
            });
        }
        registry.register(
            "gateway_cache_lookups",
            "Catalog read cache lookups, by result (hit or miss)",
            cache.clone(),
        );
        registry.register(
            "gateway_breaker_state",
            "Circuit breaker state per backend: 1 for the state it is in (closed, half_open, \
             open), 0 for the others",
            breaker.clone(),
        );
        registry.register(
            "gateway_breaker_opens",
            "Times a backend's circuit breaker opened: from closed, or again after a failed probe",
            breaker_opens.clone(),
        );
        registry.register(
            "gateway_rate_limited",
            "Requests refused with 429 by the rate limiter, by tier (local: a recent Redis denial \
             remembered in process; redis: the script)",
            rate_limited.clone(),
        );
        Arc::new(Self {
            registry,
            cache,
            breaker,
            breaker_opens,
            rate_limited,
        })
    }

    pub fn cache_lookup(&self, hit: bool) {
        let result = if hit { "hit" } else { "miss" };
        self.cache.get_or_create(&ResultLabels { result }).inc();
    }

    /// The breaker of `backend` is now in `state`; entering `open` counts as an opening.
    pub fn breaker_moved(&self, backend: Backend, state: &'static str) {
        let backend = backend.name();
        for s in BREAKER_STATES {
            self.breaker
                .get_or_create(&BreakerLabels { backend, state: s })
                .set(i64::from(s == state));
        }
        let opens = self.breaker_opens.get_or_create(&BackendLabels { backend });
        if state == "open" {
            opens.inc();
        }
    }

    pub fn rate_limited(&self, tier: Tier) {
        self.rate_limited
            .get_or_create(&TierLabels {
                tier: tier.as_str(),
            })
            .inc();
    }

    fn render(&self) -> String {
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "encoding gateway metrics failed");
        }
        out
    }
}

/// Middleware over the whole app: adds the gateway's metrics to `GET /metrics`.
pub async fn append(
    State(metrics): State<Arc<GatewayMetrics>>,
    request: Request,
    next: Next,
) -> Response {
    let is_metrics = request.uri().path() == "/metrics";
    let response = next.run(request).await;
    if !is_metrics || !response.status().is_success() {
        return response;
    }
    let (parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_METRICS_BYTES).await else {
        return Response::from_parts(parts, Body::empty());
    };
    let shared = String::from_utf8_lossy(&bytes);
    let shared = shared.trim_end().trim_end_matches("# EOF").trim_end();
    let ours = metrics.render();
    let text = format!("{shared}\n{}", ours.trim_start());
    let mut parts = parts;
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(text))
}
