//! The Grafana dashboards of `observability/dashboards/` as ConfigMaps, when
//! `spec.observability.grafana.dashboards` is true: one per dashboard, labelled
//! `grafana_dashboard: "1"`, the label Grafana's dashboard sidecar (kube-prometheus-stack's
//! `grafana.sidecar.dashboards`) watches for by default.
//!
//! Invariant: the JSON is the repository's, compiled in, so the operator writes the dashboards
//! of its own version; a dashboard change reaches clusters with the operator that knows its
//! metrics.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;

use super::object::DesiredObject;
use super::validate::ValidatedPlatform;

/// The sidecar's default label; its value is not read, only its presence.
pub const SIDECAR_LABEL: &str = "grafana_dashboard";

/// Name (object suffix and file name) and JSON of each dashboard.
pub const DASHBOARDS: [(&str, &str); 3] = [
    (
        "shop-overview",
        include_str!("../../../observability/dashboards/shop-overview.json"),
    ),
    (
        "canary",
        include_str!("../../../observability/dashboards/canary.json"),
    ),
    (
        "operator",
        include_str!("../../../observability/dashboards/operator.json"),
    ),
];

/// The dashboard ConfigMaps, when enabled.
pub fn build(platform: &ValidatedPlatform) -> Vec<DesiredObject> {
    if !platform.dashboards {
        return Vec::new();
    }
    let o = &platform.ownership;
    DASHBOARDS
        .iter()
        .map(|(name, json)| {
            let mut metadata = o.platform_meta(o.object_name(&format!("dashboard-{name}")));
            metadata
                .labels
                .get_or_insert_with(BTreeMap::new)
                .insert(SIDECAR_LABEL.to_owned(), "1".to_owned());
            DesiredObject::ConfigMap(ConfigMap {
                metadata,
                data: Some(BTreeMap::from([(
                    format!("storefront-{name}.json"),
                    (*json).to_owned(),
                )])),
                ..ConfigMap::default()
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_dashboard_is_json_with_a_title_and_panels() {
        for (name, json) in DASHBOARDS {
            let value: serde_json::Value = serde_json::from_str(json)
                .unwrap_or_else(|e| panic!("{name}.json is not JSON: {e}"));
            assert!(value["title"].is_string(), "{name}");
            assert!(
                value["panels"].as_array().is_some_and(|p| !p.is_empty()),
                "{name}"
            );
            // A ConfigMap holds at most 1 MiB.
            assert!(json.len() < 512 * 1024, "{name} is {} bytes", json.len());
        }
    }
}
