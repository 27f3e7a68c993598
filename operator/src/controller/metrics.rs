//! Prometheus metrics of the controller: reconciles by result, reconcile duration, errors by
//! kind. Served as text by `server.rs` at `/metrics`.
//!
//! Invariant: label values come from a fixed set (`ReconcileError::metric_kind`), never from
//! user input, so cardinality stays bounded.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

type Labels = Vec<(&'static str, &'static str)>;

/// The controller's metrics; cheap to clone (shared handles).
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    reconciles: Family<Labels, Counter>,
    errors: Family<Labels, Counter>,
    duration: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("storefront");
        let reconciles = Family::<Labels, Counter>::default();
        let errors = Family::<Labels, Counter>::default();
        let duration = Histogram::new(exponential_buckets(0.005, 2.0, 12));
        registry.register(
            "reconciles",
            "Reconciles of EcommercePlatform objects, by result",
            reconciles.clone(),
        );
        registry.register(
            "reconcile_errors",
            "Failed reconciles, by kind of error",
            errors.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Time spent in one reconcile",
            duration.clone(),
        );
        Self {
            registry: Arc::new(registry),
            reconciles,
            errors,
            duration,
        }
    }

    /// Record one reconcile; `error` is the kind of error it ended with, if any.
    pub fn observe(&self, elapsed: Duration, error: Option<&'static str>) {
        self.duration.observe(elapsed.as_secs_f64());
        let result = if error.is_some() { "error" } else { "ok" };
        self.reconciles
            .get_or_create(&vec![("result", result)])
            .inc();
        if let Some(error) = error {
            self.errors.get_or_create(&vec![("kind", error)]).inc();
        }
    }

    /// Record a spec that failed validation (not retried with backoff, but worth alerting on).
    pub fn invalid_spec(&self) {
        self.errors
            .get_or_create(&vec![("kind", "invalid_spec")])
            .inc();
    }

    /// Record an object the watch could not decode.
    pub fn undecodable(&self) {
        self.errors
            .get_or_create(&vec![("kind", "undecodable")])
            .inc();
    }

    /// The metrics in Prometheus text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}
