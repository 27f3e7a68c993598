//! The status the operator reports on an `EcommercePlatform`.
//!
//! Written only by the controller's update-status step, through the status subresource, and only
//! when it differs from what is stored (so a steady state causes no writes).

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Percent;

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
    /// The rollouts in flight in one line, e.g. "catalog 25% (2/3)" (printer column).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<String>,
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

/// State of a rollout of one service (Canary or Manual strategy), written by the canary engine.
///
/// This is the engine's memory: everything it needs to continue after an operator restart
/// (phase, step, versions, when the step started, the failed version) lives here.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutStatus {
    /// Where the rollout is: Initializing, Progressing, Promoting, Finalizing, Succeeded,
    /// RollingBack, RolledBack, Aborted or Manual.
    pub phase: RolloutPhase,
    /// Percent of traffic on the canary, as read back from the applied VirtualService.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary_weight: Option<Percent>,
    /// Percent of traffic on the stable version, as read back from the applied VirtualService.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stable_weight: Option<Percent>,
    /// Current step (1-based; 0 while the canary pods start).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<i32>,
    /// Number of steps of the Canary strategy (the mirror step included).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<i32>,
    /// Percent of the stable track's requests copied to the canary at this step (the mirror
    /// step of `rollout.mirror`); unset when nothing is mirrored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mirror: Option<Percent>,
    /// Held by the annotation `rollout.storefront.dev/<service>: pause`: no analysis, no step,
    /// and the deadlines wait; they count again from the resume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused: Option<bool>,
    /// Version serving the rest of the traffic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stable: Option<String>,
    /// Version under analysis (after a rollback: the version that failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<String>,
    /// Image of the canary (what the stable Deployment gets on promotion).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary_image: Option<String>,
    /// Image of the stable version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stable_image: Option<String>,
    /// When this rollout started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
    /// When the current step (or phase) started; the analysis runs one interval after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_started_at: Option<Time>,
    /// Checks the canary failed in this rollout (a missed threshold or unready canary pods);
    /// the rollout rolls back at analysis.failureThreshold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_checks: Option<i32>,
    /// The last analysis and its figures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_analysis: Option<AnalysisStatus>,
    /// Why the rollout is in this phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Phase of a rollout.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum RolloutPhase {
    /// The canary Deployment and its DestinationRule subset exist; waiting for its pods to be
    /// ready. No route points at the canary yet.
    #[default]
    Initializing,
    /// Traffic is split at the current step's weight; analysis runs every interval.
    Progressing,
    /// Every step passed; the stable Deployment moves to the new version.
    Promoting,
    /// The stable Deployment runs the new version; the canary route is removed.
    Finalizing,
    /// The new version is stable; no canary remains.
    Succeeded,
    /// Analysis failed (or no traffic until the deadline); traffic is back on stable.
    RollingBack,
    /// Rolled back; the failed version is not retried until the service's version changes.
    RolledBack,
    /// The version was set back to stable during the rollout; the canary is being removed.
    Aborted,
    /// Manual strategy: the canary holds the fixed weight from the spec.
    Manual,
}

/// Figures of one analysis of the canary.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisStatus {
    /// When the analysis ran.
    pub time: Time,
    /// Passed, Failed, Held (too little traffic) or Error (metrics unavailable).
    pub result: AnalysisResult,
    /// Requests the canary served in the interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<f64>,
    /// Share of non-5xx responses of the canary, in percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_rate: Option<f64>,
    /// 99th percentile latency of the canary, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p99_latency_ms: Option<f64>,
    /// The figure of each `rollout.analysis.metrics` check, by name, and of each business
    /// check: `<name>` for the canary, `<name>.stable` for the stable pods (absent: no data).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metrics: BTreeMap<String, f64>,
}

/// Outcome of one analysis.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum AnalysisResult {
    /// Every check passed.
    #[default]
    Passed,
    /// A check failed (a threshold, or the canary unavailable); at failureThreshold failed
    /// checks the rollout rolls back.
    Failed,
    /// Fewer requests than minRequests; the step waits (until progressDeadline).
    Held,
    /// The metrics could not be read; the step waits (until progressDeadline).
    Error,
}
