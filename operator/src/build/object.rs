//! `DesiredObject`: one object the operator wants in the cluster, and `OwnedKind`: the kinds it
//! may own (what the controller watches, applies and cleans up).
//!
//! Invariant: `OwnedKind::ALL` lists every kind a builder can produce, so orphan cleanup sees
//! everything the operator ever created.

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;

/// A kind of object the operator owns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OwnedKind {
    NetworkPolicy,
    Secret,
    ConfigMap,
    ServiceAccount,
    Service,
    StatefulSet,
    Deployment,
    HorizontalPodAutoscaler,
    PodDisruptionBudget,
}

impl OwnedKind {
    /// Every owned kind, in apply order (dependencies before dependents).
    pub const ALL: [OwnedKind; 9] = [
        Self::NetworkPolicy,
        Self::Secret,
        Self::ConfigMap,
        Self::ServiceAccount,
        Self::Service,
        Self::StatefulSet,
        Self::Deployment,
        Self::HorizontalPodAutoscaler,
        Self::PodDisruptionBudget,
    ];

    /// (group, version, kind, plural) of the kind.
    pub fn gvk(self) -> (&'static str, &'static str, &'static str, &'static str) {
        match self {
            Self::NetworkPolicy => (
                "networking.k8s.io",
                "v1",
                "NetworkPolicy",
                "networkpolicies",
            ),
            Self::Secret => ("", "v1", "Secret", "secrets"),
            Self::ConfigMap => ("", "v1", "ConfigMap", "configmaps"),
            Self::ServiceAccount => ("", "v1", "ServiceAccount", "serviceaccounts"),
            Self::Service => ("", "v1", "Service", "services"),
            Self::StatefulSet => ("apps", "v1", "StatefulSet", "statefulsets"),
            Self::Deployment => ("apps", "v1", "Deployment", "deployments"),
            Self::HorizontalPodAutoscaler => (
                "autoscaling",
                "v2",
                "HorizontalPodAutoscaler",
                "horizontalpodautoscalers",
            ),
            Self::PodDisruptionBudget => (
                "policy",
                "v1",
                "PodDisruptionBudget",
                "poddisruptionbudgets",
            ),
        }
    }

    /// The Kubernetes kind name.
    pub fn kind(self) -> &'static str {
        self.gvk().2
    }
}

/// One desired object.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum DesiredObject {
    NetworkPolicy(NetworkPolicy),
    Secret(Secret),
    ConfigMap(ConfigMap),
    ServiceAccount(ServiceAccount),
    Service(Service),
    StatefulSet(StatefulSet),
    Deployment(Deployment),
    HorizontalPodAutoscaler(HorizontalPodAutoscaler),
    PodDisruptionBudget(PodDisruptionBudget),
}

impl DesiredObject {
    /// The object's kind.
    pub fn kind(&self) -> OwnedKind {
        match self {
            Self::NetworkPolicy(_) => OwnedKind::NetworkPolicy,
            Self::Secret(_) => OwnedKind::Secret,
            Self::ConfigMap(_) => OwnedKind::ConfigMap,
            Self::ServiceAccount(_) => OwnedKind::ServiceAccount,
            Self::Service(_) => OwnedKind::Service,
            Self::StatefulSet(_) => OwnedKind::StatefulSet,
            Self::Deployment(_) => OwnedKind::Deployment,
            Self::HorizontalPodAutoscaler(_) => OwnedKind::HorizontalPodAutoscaler,
            Self::PodDisruptionBudget(_) => OwnedKind::PodDisruptionBudget,
        }
    }

    /// The object's metadata.
    pub fn meta(&self) -> &ObjectMeta {
        match self {
            Self::NetworkPolicy(o) => &o.metadata,
            Self::Secret(o) => &o.metadata,
            Self::ConfigMap(o) => &o.metadata,
            Self::ServiceAccount(o) => &o.metadata,
            Self::Service(o) => &o.metadata,
            Self::StatefulSet(o) => &o.metadata,
            Self::Deployment(o) => &o.metadata,
            Self::HorizontalPodAutoscaler(o) => &o.metadata,
            Self::PodDisruptionBudget(o) => &o.metadata,
        }
    }

    /// The object's name (every built object has one).
    pub fn name(&self) -> &str {
        self.meta().name.as_deref().unwrap_or_default()
    }

    /// The object as JSON, with `apiVersion` and `kind`, ready for server-side apply.
    pub fn to_json(&self) -> serde_json::Value {
        // k8s-openapi types always serialize; a failure here would be a bug in that crate.
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}
