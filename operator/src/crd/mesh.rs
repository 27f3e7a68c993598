//! Settings of the Istio mesh and Jaeger tracing.
//!
//! The objects they describe (Gateway, VirtualService, DestinationRule, PeerAuthentication,
//! AuthorizationPolicy, EnvoyFilter, Telemetry) are built by `build/mesh`, Jaeger by
//! `build/tracing.rs`.

use std::collections::BTreeMap;

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Duration;

/// Service mesh settings.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MeshSpec {
    /// Istio integration. Absent means no mesh objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub istio: Option<IstioSpec>,
}

/// Mutual TLS mode between workloads.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[allow(clippy::upper_case_acronyms)]
pub enum MtlsMode {
    /// Only mutual TLS traffic is accepted. The default.
    #[default]
    STRICT,
    /// Both mutual TLS and plain text are accepted (migration).
    PERMISSIVE,
    /// No mutual TLS.
    DISABLE,
}

/// Istio settings of the platform.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IstioSpec {
    /// Mutual TLS between the platform's workloads: STRICT (default), PERMISSIVE or DISABLE.
    #[serde(default)]
    pub mtls: MtlsMode,
    /// The public entry through the Istio ingress gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<IngressSpec>,
    /// Ejection of failing endpoints (circuit breaking).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outlier_detection: Option<OutlierDetectionSpec>,
    /// Retries between services.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<RetrySpec>,
    /// Local rate limit at the edge workloads, gateway and web (an EnvoyFilter on their
    /// sidecars' inbound listener).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimitSpec>,
    /// Timeout of one request between services, retries included. Defaults to 15s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// Trust domain of the mesh, used in service-account principals. Defaults to cluster.local.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub trust_domain: Option<String>,
    /// Faults injected into the routes towards a service, by service name (resilience tests).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fault_injection: BTreeMap<String, FaultSpec>,
}

/// Faults Istio injects into requests towards one service.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FaultSpec {
    /// Delay added before forwarding, e.g. 2s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<Duration>,
    /// Percent of requests delayed. Defaults to 100 when delay is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 100.0))]
    pub delay_percent: Option<f64>,
    /// HTTP status returned instead of forwarding, e.g. 503.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 200, max = 599))]
    pub abort_http_status: Option<i32>,
    /// Percent of requests aborted. Defaults to 100 when abortHttpStatus is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 100.0))]
    pub abort_percent: Option<f64>,
}

/// Hosts served by the ingress gateway.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IngressSpec {
    /// Host names routed to the platform, e.g. shop.example.com; at least one (an Istio
    /// Gateway without hosts is refused). Required: a default of none would contradict it.
    #[schemars(length(min = 1, max = 16))]
    pub hosts: Vec<String>,
    /// Secret with the TLS certificate for the hosts (in the ingress gateway's namespace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_secret_name: Option<String>,
    /// Namespace of the Istio ingress gateway pods. Defaults to istio-system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway_namespace: Option<String>,
    /// Service account of the Istio ingress gateway pods (allowed to call web and gateway).
    /// Defaults to istio-ingressgateway-service-account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway_service_account: Option<String>,
}

/// Outlier detection of a DestinationRule.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OutlierDetectionSpec {
    /// Consecutive 5xx responses before an endpoint is ejected. Defaults to 5.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub consecutive5xx_errors: Option<i32>,
    /// Time between ejection sweeps. Defaults to 10s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<Duration>,
    /// Minimum ejection duration. Defaults to 30s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_ejection_time: Option<Duration>,
    /// Highest share of endpoints that may be ejected, in percent. Defaults to 50.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100))]
    pub max_ejection_percent: Option<i32>,
}

/// Retry policy of the routes between services.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RetrySpec {
    /// Number of retries. Defaults to 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 10))]
    pub attempts: Option<i32>,
    /// Timeout of each try. Defaults to 2s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_try_timeout: Option<Duration>,
}

/// Token bucket of the ingress local rate limit.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.burst) || self.burst >= self.requestsPerSecond").message("rateLimit.burst must be at least rateLimit.requestsPerSecond"))]
pub struct RateLimitSpec {
    /// Sustained requests per second.
    #[schemars(range(min = 1))]
    pub requests_per_second: i32,
    /// Bucket size. Defaults to requestsPerSecond.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub burst: Option<i32>,
}

/// Tracing settings.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TracingSpec {
    /// Jaeger as the trace backend. Absent means services export no traces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jaeger: Option<JaegerSpec>,
}

/// Who runs Jaeger.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum JaegerMode {
    /// The operator runs an all-in-one Jaeger. The default.
    #[default]
    Managed,
    /// Traces go to the OTLP endpoint given in `endpoint`.
    External,
}

/// Jaeger settings.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.mode != 'External' || has(self.endpoint)").message("tracing.jaeger.endpoint is required when tracing.jaeger.mode is External"))]
pub struct JaegerSpec {
    /// Managed (default) or External.
    #[serde(default)]
    pub mode: JaegerMode,
    /// Share of requests traced, in percent. Defaults to 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 100.0))]
    pub sampling_percentage: Option<f64>,
    /// External only: OTLP/HTTP endpoint the services export to (they send OTLP over
    /// HTTP/protobuf), e.g. http://jaeger-collector.observability:4318.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Managed only: most traces kept in memory before the oldest are dropped. Defaults to 50000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1000, max = 10000000))]
    pub max_traces: Option<i32>,
    /// Name of the tracing extension provider in the Istio mesh config (meshConfig
    /// .extensionProviders) that the Telemetry resource selects. Defaults to storefront-jaeger.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub mesh_provider: Option<String>,
}
