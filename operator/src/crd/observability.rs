//! Settings of how the platform is observed from outside: which Prometheus Operator objects
//! the operator writes next to the scrape annotations every service pod carries anyway.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Observability integrations.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObservabilitySpec {
    /// Prometheus integration. The service pods carry the prometheus.io/* scrape annotations
    /// whether or not this is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus: Option<PrometheusSpec>,
    /// Grafana integration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grafana: Option<GrafanaSpec>,
}

/// Grafana dashboards for the platform.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GrafanaSpec {
    /// Write the shop overview, canary and operator dashboards as ConfigMaps labelled
    /// grafana_dashboard: "1", which the Grafana dashboard sidecar (kube-prometheus-stack's
    /// grafana.sidecar.dashboards) loads. Defaults to false.
    #[serde(default)]
    pub dashboards: bool,
}

/// Prometheus Operator objects for the platform.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PrometheusSpec {
    /// Write a PodMonitor (monitoring.coreos.com/v1) selecting the service pods on their
    /// metrics endpoint, and a PrometheusRule `<name>-alerts` with Storefront's alerting and
    /// recording rules (observability/alerts/storefront.rules.yaml of the operator's version).
    /// Needs the Prometheus Operator's CRDs; without them the platform reports
    /// PrometheusOperatorNotInstalled and applies everything else. Defaults to false.
    #[serde(default)]
    pub monitors: bool,
}
