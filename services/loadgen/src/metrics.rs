//! Serve mode's Prometheus metrics: operations by kind and outcome, why the unsuccessful ones
//! were, a latency histogram per operation and the users logged in. One registry per serve (no
//! globals), so tests can run several in one process without mixing their figures.

use std::sync::atomic::AtomicI64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::mix::Operation;
use crate::stats::Outcome;

/// Upper bounds of the latency buckets, in seconds: from a cache hit to a request timeout.
const LATENCY_BUCKETS: [f64; 12] = [
    0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    operation: &'static str,
    /// `ok`, `expected` (402, 409, 429) or `error`.
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    operation: &'static str,
    outcome: &'static str,
    /// The status code, or the kind of transport failure (`connect`, `timeout`, ...).
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    operation: &'static str,
}

pub struct LoadMetrics {
    registry: Registry,
    operations: Family<OutcomeLabels, Counter>,
    unsuccessful: Family<ReasonLabels, Counter>,
    latency: Family<OperationLabels, Histogram>,
    users_ready: Gauge<i64, AtomicI64>,
}

impl Default for LoadMetrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let operations = Family::<OutcomeLabels, Counter>::default();
        let unsuccessful = Family::<ReasonLabels, Counter>::default();
        let latency = Family::<OperationLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(LATENCY_BUCKETS.iter().copied())
        });
        let users_ready = Gauge::<i64, AtomicI64>::default();
        registry.register(
            "loadgen_operations",
            "Operations performed, by operation and outcome (ok, expected, error)",
            operations.clone(),
        );
        registry.register(
            "loadgen_unsuccessful_operations",
            "Operations that were not ok, by operation, outcome and status code or transport failure",
            unsuccessful.clone(),
        );
        registry.register(
            "loadgen_operation_duration_seconds",
            "Latency of whole operations in seconds, whatever their outcome",
            latency.clone(),
        );
        registry.register(
            "loadgen_users_ready",
            "Virtual users logged in and running the mix",
            users_ready.clone(),
        );
        LoadMetrics {
            registry,
            operations,
            unsuccessful,
            latency,
            users_ready,
        }
    }
}

impl LoadMetrics {
    pub fn record(&self, op: Operation, outcome: Outcome, latency: Duration) {
        let operation = op.name();
        let (name, reason) = match outcome {
            Outcome::Ok => ("ok", None),
            Outcome::Expected(status) => ("expected", Some(status.to_string())),
            Outcome::Failed(failure) => ("error", Some(failure.to_string())),
        };
        self.operations
            .get_or_create(&OutcomeLabels {
                operation,
                outcome: name,
            })
            .inc();
        if let Some(reason) = reason {
            self.unsuccessful
                .get_or_create(&ReasonLabels {
                    operation,
                    outcome: name,
                    reason,
                })
                .inc();
        }
        self.latency
            .get_or_create(&OperationLabels { operation })
            .observe(latency.as_secs_f64());
    }

    pub fn user_ready(&self) {
        self.users_ready.inc();
    }

    pub fn user_gone(&self) {
        self.users_ready.dec();
    }

    /// The Prometheus text of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail; an encoding error would be a bug in a label type.
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::{Failure, TransportKind};

    #[test]
    fn outcomes_and_reasons_are_counted_by_operation() {
        let metrics = LoadMetrics::default();
        let ms = Duration::from_millis(30);
        metrics.record(Operation::Browse, Outcome::Ok, ms);
        metrics.record(Operation::Browse, Outcome::Ok, ms);
        metrics.record(Operation::Checkout, Outcome::Expected(409), ms);
        metrics.record(
            Operation::Checkout,
            Outcome::Failed(Failure::Transport(TransportKind::Timeout)),
            ms,
        );
        metrics.user_ready();
        let text = metrics.render();
        for line in [
            r#"loadgen_operations_total{operation="browse",outcome="ok"} 2"#,
            r#"loadgen_operations_total{operation="checkout",outcome="expected"} 1"#,
            r#"loadgen_unsuccessful_operations_total{operation="checkout",outcome="expected",reason="409"} 1"#,
            r#"loadgen_unsuccessful_operations_total{operation="checkout",outcome="error",reason="timeout"} 1"#,
            r#"loadgen_operation_duration_seconds_count{operation="browse"} 2"#,
            r#"loadgen_operation_duration_seconds_bucket{le="0.05",operation="browse"} 2"#,
            "loadgen_users_ready 1",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
    }
}
