//! The Prometheus Operator's PodMonitor (monitoring.coreos.com/v1) of the service pods, when
//! `spec.observability.prometheus.monitors` is true.
//!
//! Invariants: it selects the service pods of this instance only (both tracks of a canary, no
//! stores, no Jaeger), in its own namespace. Without the mesh it scrapes the `http` port at
//! `/metrics`; with the mesh the sidecar would refuse a plain-text scrape of that port under
//! STRICT mTLS, so it scrapes the Istio agent's merged endpoint, which carries the service's
//! own metrics (see `pod::scrape_annotations`) and the sidecar's. No ServiceMonitor: it would
//! scrape the same pods a second time.
//!
//! The agent's port (15020) is declared on no container, and Prometheus discovers one target
//! per declared port, so the mesh endpoint picks the sidecar's declared `http-envoy-prom` port
//! (one target per pod) and rewrites the target's port to 15020.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use serde::{Deserialize, Serialize};

use super::component::Component;
use super::object::DesiredObject;
use super::pod::METRICS_PATH;
use super::validate::ValidatedPlatform;

pub const MONITORING_V1: &str = "monitoring.coreos.com/v1";
/// The Istio agent's port serving the merged application and Envoy metrics.
pub const ISTIO_MERGED_METRICS_PORT: i32 = 15020;
pub const ISTIO_MERGED_METRICS_PATH: &str = "/stats/prometheus";
/// The port the Istio sidecar container declares (Envoy's own stats), present on every
/// injected pod.
pub const ISTIO_PROXY_PORT_NAME: &str = "http-envoy-prom";

/// A PodMonitor, holding only the fields Storefront writes.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PodMonitor {
    pub api_version: String,
    pub kind: String,
    pub metadata: ObjectMeta,
    pub spec: PodMonitorSpec,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PodMonitorSpec {
    pub selector: LabelSelector,
    pub pod_metrics_endpoints: Vec<PodMetricsEndpoint>,
}

/// Where on each selected pod Prometheus scrapes: a named container port and a path, and how
/// the target is rewritten before the scrape.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PodMetricsEndpoint {
    pub port: String,
    pub path: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub relabelings: Vec<Relabeling>,
}

/// One Prometheus relabeling step (`replace` only, the one Storefront writes).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Relabeling {
    pub action: String,
    pub source_labels: Vec<String>,
    pub regex: String,
    pub replacement: String,
    pub target_label: String,
}

/// The PodMonitor of the platform, when enabled and at least one service runs.
pub fn build(platform: &ValidatedPlatform) -> Vec<DesiredObject> {
    if !platform.monitors || platform.services.is_empty() {
        return Vec::new();
    }
    let o = &platform.ownership;
    let services: Vec<Component> = platform.services.iter().map(|s| s.component).collect();
    let endpoint = if platform.mesh.is_some() {
        PodMetricsEndpoint {
            port: ISTIO_PROXY_PORT_NAME.to_owned(),
            path: ISTIO_MERGED_METRICS_PATH.to_owned(),
            relabelings: vec![Relabeling {
                action: "replace".to_owned(),
                source_labels: vec!["__address__".to_owned()],
                // host:port, the host bracketed when IPv6: keep it, replace the port.
                regex: "(.+):[0-9]+".to_owned(),
                replacement: format!("${{1}}:{ISTIO_MERGED_METRICS_PORT}"),
                target_label: "__address__".to_owned(),
            }],
        }
    } else {
        PodMetricsEndpoint {
            port: "http".to_owned(),
            path: METRICS_PATH.to_owned(),
            relabelings: Vec::new(),
        }
    };
    vec![DesiredObject::PodMonitor(PodMonitor {
        api_version: MONITORING_V1.to_owned(),
        kind: "PodMonitor".to_owned(),
        metadata: o.platform_meta(o.object_name("services")),
        spec: PodMonitorSpec {
            selector: o.components_selector(&services),
            pod_metrics_endpoints: vec![endpoint],
        },
    })]
}
