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

use super::alerts::PrometheusRule;
use super::mesh::types::{
    AuthorizationPolicy, DestinationRule, EnvoyFilter, Gateway, PeerAuthentication, Telemetry,
    VirtualService,
};
use super::monitoring::PodMonitor;

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
    PeerAuthentication,
    AuthorizationPolicy,
    /// Before VirtualService: a subset exists before any route can name it.
    DestinationRule,
    VirtualService,
    Gateway,
    EnvoyFilter,
    Telemetry,
    PodMonitor,
    PrometheusRule,
}

/// An API that a cluster may not serve: its kinds are custom resources of another product.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OptionalApi {
    Istio,
    /// The Prometheus Operator's monitoring.coreos.com.
    PrometheusOperator,
}

impl OwnedKind {
    /// Every owned kind, in apply order (dependencies before dependents).
    pub const ALL: [OwnedKind; 18] = [
        Self::NetworkPolicy,
        Self::Secret,
        Self::ConfigMap,
        Self::ServiceAccount,
        Self::Service,
        Self::StatefulSet,
        Self::Deployment,
        Self::HorizontalPodAutoscaler,
        Self::PodDisruptionBudget,
        Self::PeerAuthentication,
        Self::AuthorizationPolicy,
        Self::DestinationRule,
        Self::VirtualService,
        Self::Gateway,
        Self::EnvoyFilter,
        Self::Telemetry,
        Self::PodMonitor,
        Self::PrometheusRule,
    ];

    /// Whether the kind is an Istio custom resource (absent on clusters without Istio).
    pub fn is_istio(self) -> bool {
        matches!(
            self,
            Self::PeerAuthentication
                | Self::AuthorizationPolicy
                | Self::DestinationRule
                | Self::VirtualService
                | Self::Gateway
                | Self::EnvoyFilter
                | Self::Telemetry
        )
    }

    /// The product whose CRD defines the kind, `None` for built-in kinds.
    pub fn optional_api(self) -> Option<OptionalApi> {
        if self.is_istio() {
            Some(OptionalApi::Istio)
        } else if matches!(self, Self::PodMonitor | Self::PrometheusRule) {
            Some(OptionalApi::PrometheusOperator)
        } else {
            None
        }
    }

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
            Self::PeerAuthentication => (
                "security.istio.io",
                "v1",
                "PeerAuthentication",
                "peerauthentications",
            ),
            Self::AuthorizationPolicy => (
                "security.istio.io",
                "v1",
                "AuthorizationPolicy",
                "authorizationpolicies",
            ),
            Self::DestinationRule => (
                "networking.istio.io",
                "v1",
                "DestinationRule",
                "destinationrules",
            ),
            Self::VirtualService => (
                "networking.istio.io",
                "v1",
                "VirtualService",
                "virtualservices",
            ),
            Self::Gateway => ("networking.istio.io", "v1", "Gateway", "gateways"),
            Self::EnvoyFilter => (
                "networking.istio.io",
                "v1alpha3",
                "EnvoyFilter",
                "envoyfilters",
            ),
            Self::Telemetry => ("telemetry.istio.io", "v1", "Telemetry", "telemetries"),
            Self::PodMonitor => ("monitoring.coreos.com", "v1", "PodMonitor", "podmonitors"),
            Self::PrometheusRule => (
                "monitoring.coreos.com",
                "v1",
                "PrometheusRule",
                "prometheusrules",
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
    PeerAuthentication(PeerAuthentication),
    AuthorizationPolicy(AuthorizationPolicy),
    DestinationRule(DestinationRule),
    VirtualService(VirtualService),
    Gateway(Gateway),
    EnvoyFilter(EnvoyFilter),
    Telemetry(Telemetry),
    PodMonitor(PodMonitor),
    PrometheusRule(PrometheusRule),
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
            Self::PeerAuthentication(_) => OwnedKind::PeerAuthentication,
            Self::AuthorizationPolicy(_) => OwnedKind::AuthorizationPolicy,
            Self::DestinationRule(_) => OwnedKind::DestinationRule,
            Self::VirtualService(_) => OwnedKind::VirtualService,
            Self::Gateway(_) => OwnedKind::Gateway,
            Self::EnvoyFilter(_) => OwnedKind::EnvoyFilter,
            Self::Telemetry(_) => OwnedKind::Telemetry,
            Self::PodMonitor(_) => OwnedKind::PodMonitor,
            Self::PrometheusRule(_) => OwnedKind::PrometheusRule,
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
            Self::PeerAuthentication(o) => &o.metadata,
            Self::AuthorizationPolicy(o) => &o.metadata,
            Self::DestinationRule(o) => &o.metadata,
            Self::VirtualService(o) => &o.metadata,
            Self::Gateway(o) => &o.metadata,
            Self::EnvoyFilter(o) => &o.metadata,
            Self::Telemetry(o) => &o.metadata,
            Self::PodMonitor(o) => &o.metadata,
            Self::PrometheusRule(o) => &o.metadata,
        }
    }

    /// The object's name (every built object has one).
    pub fn name(&self) -> &str {
        self.meta().name.as_deref().unwrap_or_default()
    }

    /// The object as JSON, with `apiVersion` and `kind`, ready for server-side apply.
    pub fn to_json(&self) -> serde_json::Value {
        // k8s-openapi types and the mesh structs always serialize (no maps with non-string keys).
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}
