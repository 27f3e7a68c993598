//! Per-service settings of the platform: replicas, image, resources, autoscaling, env, rollout.
//!
//! Every field is optional; the validate step (`build::validate`) fills the defaults documented
//! here, so the stored object stays small and `kubectl explain` shows the documented default.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ResourceRequirements;
use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Duration, Percent};

/// The services of the platform. Each one is enabled by default except `loadgen`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Services {
    /// The single public entry: routing, JWT validation, rate limits, response cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<ServiceSpec>,
    /// Accounts, login and JWT issue. Owns the `users` database.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users: Option<ServiceSpec>,
    /// Products, search and prices. Owns the `catalog` database.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog: Option<ServiceSpec>,
    /// One cart per user, kept in Redis.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cart: Option<ServiceSpec>,
    /// Stock and reservations. Owns the `inventory` database.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inventory: Option<ServiceSpec>,
    /// Mock card payments and refunds. Owns the `payments` database.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payments: Option<ServiceSpec>,
    /// Checkout saga and order history. Owns the `orders` database.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orders: Option<ServiceSpec>,
    /// One notification per order event for the order's customer (`/api/notifications`).
    /// Consumes the events orders publishes on the bus of spec.events. Owns the
    /// `notifications` database.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notifications: Option<ServiceSpec>,
    /// Server-rendered store front for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web: Option<ServiceSpec>,
    /// Load generator with a realistic user mix. Disabled unless `enabled: true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loadgen: Option<ServiceSpec>,
}

/// Settings of one service.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!(has(self.version) && has(self.image))").message("set either version or image on a service, not both"))]
#[x_kube(validation = Rule::new("!(has(self.replicas) && has(self.autoscaling))").message("set either replicas or autoscaling on a service, not both"))]
pub struct ServiceSpec {
    /// Whether the service runs. Defaults to true for every service except loadgen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Number of pods. Defaults to 1. Not allowed together with autoscaling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100))]
    pub replicas: Option<i32>,
    /// Image tag for this service, overriding spec.version. Changing it starts a rollout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub version: Option<String>,
    /// Full image reference (registry/name:tag or @digest), overriding registry and version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512))]
    pub image: Option<String>,
    /// CPU and memory requests and limits of the service container. Defaults to requests of
    /// 50m CPU / 64Mi memory and a 256Mi memory limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// Horizontal pod autoscaling on CPU. Not allowed together with replicas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscaling: Option<AutoscalingSpec>,
    /// Extra plain (non-secret) environment variables. Names owned by the operator's service
    /// contract (DATABASE_URL, REDIS_URL, STOREFRONT_*, *_URL of services, OTEL_SERVICE_NAME)
    /// are rejected.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// How a new version of the service reaches users.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<RolloutSpec>,
}

/// CPU-based horizontal pod autoscaling (autoscaling/v2).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.minReplicas) || self.minReplicas <= self.maxReplicas").message("autoscaling.minReplicas must not exceed autoscaling.maxReplicas"))]
pub struct AutoscalingSpec {
    /// Lowest number of pods. Defaults to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100))]
    pub min_replicas: Option<i32>,
    /// Highest number of pods.
    #[schemars(range(min = 1, max = 100))]
    pub max_replicas: i32,
    /// Average CPU utilisation (percent of requests) the autoscaler aims for. Defaults to 80.
    #[serde(
        default,
        rename = "targetCPUUtilizationPercentage",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(range(min = 1, max = 100))]
    pub target_cpu_utilization_percentage: Option<i32>,
}

/// How a new version is rolled out.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum RolloutStrategy {
    /// Replace pods a few at a time (Deployment RollingUpdate). The default.
    #[default]
    RollingUpdate,
    /// Stop every old pod before starting new ones.
    Recreate,
    /// Shift traffic to the new version step by step, promoting or rolling back on analysis.
    /// With Istio the steps are route weights; without it, shares of the service's pods.
    Canary,
    /// Keep a fixed share of traffic (canaryWeight) on the new version until changed by hand.
    Manual,
    /// Bring the new version up at full size beside the old, reachable only on its preview
    /// Service (`<name>-<svc>-preview`) and by `x-canary: always` / `match`; analyse it there,
    /// then switch all traffic at once (the route with Istio, the Service's selector without),
    /// keeping the old pods for scaleDownDelay so that a failed check switches back at once.
    BlueGreen,
}

/// Rollout settings of a service.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.strategy != 'Manual' || has(self.canaryWeight)").message("rollout.canaryWeight is required when rollout.strategy is Manual"))]
pub struct RolloutSpec {
    /// RollingUpdate (default), Recreate, Canary, Manual or BlueGreen.
    #[serde(default)]
    pub strategy: RolloutStrategy,
    /// Canary only: percent of traffic sent to the new version at each step, strictly
    /// increasing, each between 1 and 99. Defaults to [10, 25, 50].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 10))]
    #[x_kube(validation = Rule::new("self.all(s, s >= 1 && s <= 99)").message("rollout.steps must each be between 1 and 99 percent"))]
    #[x_kube(validation = Rule::new("self.isSorted() && self.all(s, self.exists_one(t, t == s))").message("rollout.steps must be strictly increasing, e.g. [10, 25, 50]"))]
    pub steps: Vec<Percent>,
    /// Canary only: time spent at each step before the analysis decides. Defaults to 1m.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<Duration>,
    /// Canary only: what the new version must achieve at each step to be promoted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis: Option<AnalysisSpec>,
    /// Time a rollout may make no progress before it is marked failed, 1s or more (it is also
    /// the Deployments' progressDeadlineSeconds). Defaults to 10m.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("duration(self) >= duration('1s')").message("rollout.progressDeadline must be 1s or more; a Deployment's progress deadline is whole seconds"))]
    pub progress_deadline: Option<Duration>,
    /// Manual only: percent of traffic (0-100) sent to the new version; 100 promotes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100))]
    pub canary_weight: Option<Percent>,
    /// Canary and Manual: webhooks called at points of the rollout, as Flagger's are. Each gets
    /// a POST of {"name", "namespace", "service", "phase", "canary", "stable", "metadata"}.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 10))]
    pub webhooks: Vec<RolloutHookSpec>,
    /// Canary and Manual: requests that go to the canary whatever the weights, for A/B tests
    /// and for trying the new version by hand. A request matching any entry goes there; within
    /// an entry, every condition must hold. The header `x-canary: always` is always one of
    /// them. Applies where the header arrives: at the ingress for gateway and web, and in the
    /// mesh for the services the gateway calls (it forwards request headers, cookies too).
    #[serde(default, rename = "match", skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 10))]
    pub match_: Vec<RequestMatchSpec>,
    /// Canary only: before the first weighted step, copy this percent (1-100) of the stable
    /// track's requests to the canary, whose answers are thrown away, for one analysis step
    /// (status step 1). The canary is judged on traffic no user depends on. Unset: no mirroring.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100))]
    pub mirror: Option<Percent>,
    /// BlueGreen only: how long the old version keeps its pods after the switch, while the
    /// analysis goes on; a failed check in that time switches back at once. Defaults to 30s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_down_delay: Option<Duration>,
    /// The built-in load test: while this service's canary takes traffic, the platform's
    /// loadgen (spec.services.loadgen, which must be enabled) sends `x-canary: always` with
    /// every request, so its whole load goes down the canary routes and a quiet shop's canary
    /// still has requests to judge. Defaults to false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_test: Option<bool>,
}

/// Requests a canary route matches: every condition given must hold.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.cookie) || (has(self.headers) && size(self.headers) > 0)").message("rollout.match: an entry needs a header or a cookie (an empty one would match every request)"))]
pub struct RequestMatchSpec {
    /// Request headers by name (lowercase), each compared by exactly one of exact, prefix or
    /// regex (RE2 syntax, the whole value).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(length(max = 10))]
    pub headers: BTreeMap<String, StringMatchSpec>,
    /// A cookie that must be present with exactly this value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookie: Option<CookieMatchSpec>,
}

/// How a header's value is compared: set exactly one.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("(has(self.exact) ? 1 : 0) + (has(self.prefix) ? 1 : 0) + (has(self.regex) ? 1 : 0) == 1").message("rollout.match headers: set exactly one of exact, prefix or regex"))]
pub struct StringMatchSpec {
    /// The whole value, exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub exact: Option<String>,
    /// The value starts with this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub prefix: Option<String>,
    /// RE2 regular expression that must match the whole value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub regex: Option<String>,
}

/// A cookie by name and value.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CookieMatchSpec {
    /// The cookie's name.
    #[schemars(length(min = 1, max = 256))]
    pub name: String,
    /// Its value, exactly.
    #[schemars(length(max = 1024))]
    pub value: String,
}

/// When a rollout hook is called, and what its answer does.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum HookType {
    /// Before any traffic reaches the canary (its pods ready). A non-2xx answer is a failed
    /// check: the rollout waits and retries, and rolls back at failureThreshold.
    PreRollout,
    /// At every analysis, beside the metrics (a load test, a smoke test). A non-2xx answer
    /// fails that check.
    Rollout,
    /// Once every step passed, before promotion. A non-2xx answer holds the rollout at its
    /// last step (asked again each interval) without failing a check: a gate.
    ConfirmPromotion,
    /// Once the rollout is promoted or rolled back. Its answer is logged and reported by a
    /// Warning Event; it changes nothing.
    PostRollout,
}

/// One rollout hook.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutHookSpec {
    /// Name in status, Events and logs: lowercase letters, digits and '-'.
    #[schemars(length(min = 1, max = 63))]
    pub name: String,
    /// PreRollout, Rollout, ConfirmPromotion or PostRollout.
    #[serde(rename = "type")]
    pub type_: HookType,
    /// http:// or https:// URL that receives the POST.
    #[schemars(length(min = 1, max = 2048))]
    pub url: String,
    /// How long the hook may take to answer, e.g. 30s. Defaults to 10s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// Passed to the hook as `metadata`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}

/// Thresholds a canary must meet at every step.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisSpec {
    /// Lowest share of non-5xx responses, in percent. Defaults to 99.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 100.0))]
    pub min_success_rate: Option<f64>,
    /// Highest 99th percentile latency, e.g. 500ms. Defaults to 500ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_p99_latency: Option<Duration>,
    /// Requests the canary must have served in an interval for the analysis to count; below it
    /// the step waits. Defaults to 20.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub min_requests: Option<i32>,
    /// Failed checks before the rollout rolls back. A check fails when a threshold is missed or
    /// when the canary's pods are not all ready as the analysis runs (crashing canary pods get
    /// no traffic, which would otherwise only hold the step). Counted over the whole rollout;
    /// defaults to 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100))]
    pub failure_threshold: Option<i32>,
    /// Base URL of the Prometheus that scrapes the Istio sidecars (without the mesh: the
    /// service pods' own /metrics, with the `namespace` and `pod` labels of pod discovery).
    /// Defaults to http://prometheus.istio-system:9090 (Istio's Prometheus add-on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512))]
    pub prometheus_url: Option<String>,
    /// More checks, beside success rate and latency: named PromQL queries, each with a lower
    /// and/or upper bound on its first sample. A query may name `{{ namespace }}`,
    /// `{{ service }}` (the Kubernetes Service), `{{ workload }}` (the canary Deployment),
    /// `{{ version }}` (the canary's) and `{{ interval }}` (the analysis interval as a range,
    /// e.g. 60s). A value out of bounds fails the check; an empty result holds the step.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 10))]
    pub metrics: Vec<MetricCheckSpec>,
    /// The service's built-in business checks, each a figure of its own metrics compared
    /// between the canary's pods and the stable pods: orders' paid ratio and compensations per
    /// checkout, payments' unexpected errors, catalog's cache hit ratio, the gateway's
    /// rate-limited share and breaker opens. They need a Prometheus that scrapes the service
    /// pods; without data on both tracks a check decides nothing. Defaults to true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub business_checks: Option<bool>,
}

/// One custom canary check.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetricCheckSpec {
    /// Name of the check in status and Events: lowercase letters, digits and '-'.
    #[schemars(length(min = 1, max = 63))]
    pub name: String,
    /// PromQL; its first sample is the figure. Placeholders: see `metrics`.
    #[schemars(length(min = 1, max = 4096))]
    pub query: String,
    /// Lowest value that passes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// Highest value that passes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
}
