//! Prometheus metrics of the controller: reconciles by result, reconcile duration, errors by
//! kind, and per tracked service whether its rollout failed and the canary's traffic weight.
//! Served as text by `server.rs` at `/metrics`.
//!
//! Invariant: label values come from a fixed set (`ReconcileError::metric_kind`), never from
//! user input, so cardinality stays bounded.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::crd::Percent;

type Labels = Vec<(&'static str, &'static str)>;
/// `platform` (namespace/name) and `service`: bounded by the platforms this operator manages.
type RolloutLabels = Vec<(&'static str, String)>;

/// The controller's metrics; cheap to clone (shared handles).
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    reconciles: Family<Labels, Counter>,
    errors: Family<Labels, Counter>,
    duration: Histogram,
    rollout_failed: Family<RolloutLabels, Gauge>,
    canary_weight: Family<RolloutLabels, Gauge>,
    /// The services each platform last reported, so that a service no longer tracked loses
    /// its series instead of keeping its last value.
    reported: Arc<Mutex<BTreeMap<String, BTreeSet<String>>>>,
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
        let rollout_failed = Family::<RolloutLabels, Gauge>::default();
        registry.register(
            "rollout_failed",
            "1 while a service's rollout is rolling back, or rolled back with the spec still \
             naming the failed version; 0 otherwise. Per platform (namespace/name) and service",
            rollout_failed.clone(),
        );
        let canary_weight = Family::<RolloutLabels, Gauge>::default();
        registry.register(
            "rollout_canary_weight",
            "Percent of a service's traffic its VirtualService routes to the canary, as the last \
             reconcile read it (0 without a canary). Per platform (namespace/name) and service",
            canary_weight.clone(),
        );
        Self {
            registry: Arc::new(registry),
            reconciles,
            errors,
            duration,
            rollout_failed,
            canary_weight,
            reported: Arc::default(),
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

    /// Record which of `platform`'s tracked services have a failed rollout, and each one's
    /// canary weight. Services missing from `failed` (no longer tracked) lose their series. A
    /// deleted platform keeps its last figures until the operator restarts: nothing reconciles
    /// a platform that is gone.
    pub fn rollouts(
        &self,
        platform: &str,
        failed: &BTreeMap<String, bool>,
        canary_weight: &BTreeMap<String, Percent>,
    ) {
        let labels = |service: &str| {
            vec![
                ("platform", platform.to_owned()),
                ("service", service.to_owned()),
            ]
        };
        for (service, is_failed) in failed {
            self.rollout_failed
                .get_or_create(&labels(service))
                .set(i64::from(*is_failed));
            let weight = canary_weight.get(service).copied().unwrap_or(Percent::ZERO);
            self.canary_weight
                .get_or_create(&labels(service))
                .set(i64::from(weight.get()));
        }
        let Ok(mut reported) = self.reported.lock() else {
            return;
        };
        let now: BTreeSet<String> = failed.keys().cloned().collect();
        let before = reported.insert(platform.to_owned(), now.clone());
        for gone in before.unwrap_or_default().difference(&now) {
            self.rollout_failed.remove(&labels(gone));
            self.canary_weight.remove(&labels(gone));
        }
    }

    /// The metrics in Prometheus text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rollout_failed_follows_the_last_report_and_drops_untracked_services() {
        let metrics = Metrics::new();
        let report = |pairs: &[(&str, bool)]| {
            pairs
                .iter()
                .map(|(s, f)| ((*s).to_owned(), *f))
                .collect::<BTreeMap<_, _>>()
        };
        let none = BTreeMap::new();
        metrics.rollouts(
            "shop/demo",
            &report(&[("catalog", true), ("cart", false)]),
            &none,
        );
        let text = metrics.encode();
        assert!(
            text.contains(r#"storefront_rollout_failed{platform="shop/demo",service="catalog"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"storefront_rollout_failed{platform="shop/demo",service="cart"} 0"#),
            "{text}"
        );
        metrics.rollouts("shop/demo", &report(&[("catalog", false)]), &none);
        let text = metrics.encode();
        assert!(
            text.contains(r#"storefront_rollout_failed{platform="shop/demo",service="catalog"} 0"#),
            "{text}"
        );
        assert!(!text.contains(r#"service="cart""#), "{text}");
    }

    #[test]
    fn canary_weight_follows_the_last_report_and_is_zero_without_a_canary() {
        let metrics = Metrics::new();
        let tracked = [("catalog", false), ("cart", false)]
            .iter()
            .map(|(s, f)| ((*s).to_owned(), *f))
            .collect::<BTreeMap<_, _>>();
        let weights = BTreeMap::from([("catalog".to_owned(), Percent::new(20).unwrap())]);
        metrics.rollouts("shop/demo", &tracked, &weights);
        let text = metrics.encode();
        assert!(
            text.contains(
                r#"storefront_rollout_canary_weight{platform="shop/demo",service="catalog"} 20"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"storefront_rollout_canary_weight{platform="shop/demo",service="cart"} 0"#
            ),
            "{text}"
        );
        let only_catalog = BTreeMap::from([("catalog".to_owned(), false)]);
        metrics.rollouts("shop/demo", &only_catalog, &BTreeMap::new());
        let text = metrics.encode();
        assert!(
            text.contains(
                r#"storefront_rollout_canary_weight{platform="shop/demo",service="catalog"} 0"#
            ),
            "promoted or rolled back: {text}"
        );
        assert!(!text.contains(r#"service="cart""#), "{text}");
    }

    /// Every `storefront_*` series the dashboards and alert rules query, as the text of their
    /// expressions names them.
    fn operator_series_queried() -> BTreeSet<String> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../observability");
        let mut exprs = Vec::new();
        for board in ["operator.json", "canary.json", "shop-overview.json"] {
            let text = std::fs::read_to_string(root.join("dashboards").join(board)).unwrap();
            let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
            for panel in doc["panels"].as_array().unwrap() {
                for target in panel["targets"].as_array().into_iter().flatten() {
                    exprs.push(target["expr"].as_str().unwrap().to_owned());
                }
            }
        }
        let rules = std::fs::read_to_string(root.join("alerts/storefront.rules.yaml")).unwrap();
        let rules: serde_json::Value = serde_norway::from_str(&rules).unwrap();
        for group in rules["groups"].as_array().unwrap() {
            for rule in group["rules"].as_array().unwrap() {
                exprs.push(rule["expr"].as_str().unwrap().to_owned());
            }
        }
        let mut names = BTreeSet::new();
        for expr in exprs {
            let mut rest = expr.as_str();
            while let Some(at) = rest.find("storefront_") {
                let tail = &rest[at..];
                let end = tail
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(tail.len());
                names.insert(tail[..end].to_owned());
                rest = &tail[end..];
            }
        }
        names
    }

    #[test]
    fn every_operator_series_the_dashboards_and_alerts_query_is_exposed() {
        let metrics = Metrics::new();
        metrics.observe(Duration::from_millis(20), None);
        metrics.observe(Duration::from_millis(20), Some("apply"));
        let tracked = BTreeMap::from([("catalog".to_owned(), false)]);
        metrics.rollouts("shop/demo", &tracked, &BTreeMap::new());
        let text = metrics.encode();
        let exposed: BTreeSet<&str> = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split(['{', ' ']).next())
            .collect();
        let queried = operator_series_queried();
        assert!(
            queried.contains("storefront_reconcile_duration_seconds_bucket"),
            "{queried:?}"
        );
        let missing: Vec<&String> = queried
            .iter()
            .filter(|n| !exposed.contains(n.as_str()))
            .collect();
        assert!(
            missing.is_empty(),
            "queried but not exposed by the operator: {missing:?}\n{text}"
        );
    }
}
