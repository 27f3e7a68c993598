//! Settings of the Istio mesh and Jaeger tracing.
//!
//! The objects they describe (Gateway, VirtualService, DestinationRule, PeerAuthentication,
//! EnvoyFilter, Telemetry, Jaeger) are built by a later `build/mesh.rs`; today the builders only
//! read these types, which are complete and documented so the API does not change later.

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
    /// Local rate limit at the ingress (an EnvoyFilter).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimitSpec>,
}

/// Hosts served by the ingress gateway.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IngressSpec {
    /// Host names routed to the platform, e.g. shop.example.com.
    #[serde(default)]
    #[schemars(length(max = 16))]
    pub hosts: Vec<String>,
    /// Secret with the TLS certificate for the hosts (in the ingress gateway's namespace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_secret_name: Option<String>,
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
    /// External only: OTLP/gRPC endpoint, e.g. http://jaeger-collector.observability:4317.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
}
