//! The status the operator reports on an `EcommercePlatform`.
//!
//! Written only by the controller's update-status step, through the status subresource, and only
//! when it differs from what is stored (so a steady state causes no writes).

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Observed state of the platform.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlatformStatus {
    /// The metadata.generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Pending, Progressing, Ready or Degraded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    /// Ready, Progressing and Degraded conditions (`kubectl wait --for=condition=Ready`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// Readiness of each running component (services, postgres, redis).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub components: BTreeMap<String, ComponentStatus>,
    /// Progressive rollouts in flight or last finished, by service.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub rollouts: BTreeMap<String, RolloutStatus>,
    /// Number of components ready, as "ready/total" (printer column).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_components: Option<String>,
}

/// Summary of the whole platform.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum Phase {
    /// Nothing has been applied yet.
    Pending,
    /// Objects are applied and some components are not ready yet.
    Progressing,
    /// Every component is ready.
    Ready,
    /// The spec is invalid or the last reconcile failed; see the Degraded condition.
    Degraded,
}

/// Readiness of one component.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ComponentStatus {
    /// Ready pods over desired pods, e.g. "2/2".
    pub ready: String,
    /// Version the component runs.
    pub version: String,
}

/// State of a progressive rollout (filled by the canary engine).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutStatus {
    /// Progressing, Promoted, RolledBack or Paused.
    pub phase: String,
    /// Percent of traffic on the canary, as read back from the mesh.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary_weight: Option<i32>,
    /// Current step (1-based).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<i32>,
    /// Version serving the rest of the traffic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stable: Option<String>,
    /// Version under analysis.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<String>,
    /// Why the rollout is in this phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}
