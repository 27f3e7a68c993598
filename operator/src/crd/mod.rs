//! The `EcommercePlatform` custom resource (`storefront.dev/v1alpha1`): its spec, its status and
//! the CRD generated from them.
//!
//! Invariant: every field has a doc comment (it becomes the schema description that
//! `kubectl explain` shows) and a spec holding only `version` describes a complete shop.

mod duration;
mod events;
mod gateway;
mod mesh;
mod notifications;
mod observability;
mod percent;
mod service;
mod status;
mod stores;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::{CustomResource, CustomResourceExt, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use duration::{DURATION_PATTERN, Duration, DurationError};
pub use events::{EventBus, EventsSpec, RabbitMqSpec};
pub use gateway::GatewayServiceSpec;
pub use mesh::{
    FaultSpec, IngressSpec, IstioSpec, JaegerMode, JaegerSpec, MeshSpec, MtlsMode,
    OutlierDetectionSpec, RateLimitSpec, RetrySpec, TracingSpec,
};
pub use notifications::{NotificationsSpec, WebhookSpec};
pub use observability::{GrafanaSpec, ObservabilitySpec, PrometheusSpec};
pub use percent::{Percent, PercentError};
pub use service::{
    AnalysisSpec, AutoscalingSpec, CookieMatchSpec, HookType, MetricCheckSpec, RequestMatchSpec,
    RolloutHookSpec, RolloutSpec, RolloutStrategy, ServiceSpec, Services, StringMatchSpec,
};
pub use status::{
    AnalysisResult, AnalysisStatus, ComponentStatus, Phase, PlatformStatus, RolloutPhase,
    RolloutStatus,
};
pub use stores::{AdminSpec, CacheSpec, DatabaseSpec, SecretRef, StoreMode};

/// Default registry of the Storefront images.
pub const DEFAULT_REGISTRY: &str = "ghcr.io/storefront-dev/storefront";

/// Desired state of a Storefront e-commerce platform.
// The repeated `printcolumn(type_ = ...)` entries are separate columns, not duplicates.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "storefront.dev",
    version = "v1alpha1",
    kind = "EcommercePlatform",
    plural = "ecommerceplatforms",
    singular = "ecommerceplatform",
    namespaced,
    shortname = "ecp",
    shortname = "shop",
    category = "storefront",
    status = "PlatformStatus",
    derive = "PartialEq",
    doc = "A whole Storefront e-commerce platform: services, databases, cache, event bus, mesh policy and tracing.",
    printcolumn(
        name = "Phase",
        type_ = "string",
        json_path = ".status.phase",
        description = "Pending, Progressing, Ready or Degraded"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.readyComponents",
        description = "Components ready over components running"
    ),
    printcolumn(
        name = "Rollout",
        type_ = "string",
        json_path = ".status.rollout",
        description = "Rollouts in flight: service, canary weight, step"
    ),
    printcolumn(
        name = "Version",
        type_ = "string",
        json_path = ".spec.version",
        description = "Default version of every service"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct PlatformSpec {
    /// Image tag of every service unless a service sets its own version, e.g. "0.1.0".
    #[schemars(length(min = 1, max = 128))]
    pub version: String,
    /// Registry and path prefix of the service images; an image is <registry>/<service>:<version>.
    #[serde(default = "default_registry")]
    #[schemars(length(min = 1, max = 255))]
    pub registry: String,
    /// Pull policy of every container: Always, IfNotPresent (default) or Never.
    #[serde(default)]
    pub image_pull_policy: ImagePullPolicy,
    /// Per-service settings. A service absent here runs with its defaults.
    #[serde(default)]
    pub services: Services,
    /// The PostgreSQL database (one database and role per service).
    #[serde(default)]
    pub database: DatabaseSpec,
    /// The Redis cache.
    #[serde(default)]
    pub cache: CacheSpec,
    /// The order-events bus from orders to notifications: the Redis stream in the cache
    /// (default) or RabbitMQ.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<EventsSpec>,
    /// Service mesh (Istio) settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mesh: Option<MeshSpec>,
    /// Distributed tracing settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracing: Option<TracingSpec>,
    /// Gateway-only settings (the edge of the API): trusted proxies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<GatewayServiceSpec>,
    /// Observability integrations: Prometheus Operator monitors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observability: Option<ObservabilitySpec>,
    /// Where rollout notifications go besides Kubernetes Events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notifications: Option<NotificationsSpec>,
    /// The first administrator account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin: Option<AdminSpec>,
    /// Load demo products and stock into catalog and inventory at start-up. Defaults to true.
    #[serde(default = "default_true")]
    pub demo_data: bool,
}

/// When the kubelet pulls images.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum ImagePullPolicy {
    /// Pull on every pod start.
    Always,
    /// Pull only when the image is not on the node. The default.
    #[default]
    IfNotPresent,
    /// Never pull; the image must be on the node.
    Never,
}

impl ImagePullPolicy {
    /// The value Kubernetes expects in a container.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Always => "Always",
            Self::IfNotPresent => "IfNotPresent",
            Self::Never => "Never",
        }
    }
}

impl PlatformSpec {
    /// Whether the spec asks for the PodMonitor and the PrometheusRule
    /// (`observability.prometheus.monitors`).
    pub fn wants_monitors(&self) -> bool {
        self.observability
            .as_ref()
            .and_then(|o| o.prometheus.as_ref())
            .is_some_and(|p| p.monitors)
    }

    /// Whether the spec asks for the Grafana dashboards (`observability.grafana.dashboards`).
    pub fn wants_dashboards(&self) -> bool {
        self.observability
            .as_ref()
            .and_then(|o| o.grafana.as_ref())
            .is_some_and(|g| g.dashboards)
    }
}

fn default_registry() -> String {
    DEFAULT_REGISTRY.to_owned()
}

fn default_true() -> bool {
    true
}

/// The CRD as YAML, exactly as `storefront-operator crd` prints it and `crds/` holds it.
pub fn crd_yaml() -> Result<String, serde_norway::Error> {
    let crd: CustomResourceDefinition = EcommercePlatform::crd();
    serde_norway::to_string(&crd)
}
