//! The validate step: raw `EcommercePlatform` + what the dereference step read → a checked,
//! fully defaulted [`ValidatedPlatform`].
//!
//! Invariants: builders never see an unchecked value; every default lives here; an error names
//! the field and says how to fix it. Secrets referenced by the spec are checked only when the
//! caller could read the cluster (`ClusterInputs::referenced` is `Some`), not offline.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::ResourceRequirements;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::Resource;

use super::component::Component;
use super::image::{ImageError, ImageRef, check_tag};
use super::labels::Ownership;
use super::secrets::{self, GeneratedSecret, KeyValue, SecretSource};
use crate::crd::{
    DurationError, EcommercePlatform, EventBus, Percent, PlatformSpec, RolloutStrategy, SecretRef,
    StoreMode,
};

/// Owner UID used by offline rendering, where the object was never stored.
pub const OFFLINE_UID: &str = "00000000-0000-0000-0000-000000000000";

mod business_checks;
mod canary_steps;
mod entry_names;
mod events;
mod hooks;
mod mesh;
mod metric_checks;
mod notifications;
mod proxies;
mod request_match;
mod service;
mod stores;

pub use business_checks::{BusinessCheck, NOT_TRAFFIC, Rule, business_checks, pods_of};
pub use canary_steps::{CanarySteps, CanaryStepsError};
pub use events::{DEFAULT_RABBITMQ_VERSION, EventsPlan, RABBITMQ_USER, RabbitMqPlan};
pub use hooks::{DEFAULT_HOOK_TIMEOUT, RolloutHook};
pub use mesh::{
    DEFAULT_MESH_PROVIDER, IngressPlan, JaegerPlan, MeshPlan, TracingPlan, istio_duration,
};
pub use metric_checks::{MetricCheck, QueryTemplate, QueryValues};
pub use notifications::{WEBHOOK_URL_KEY, WebhookTarget, check_url};
pub use proxies::{Cidr, CidrError};
pub use request_match::{RequestMatch, ValueMatch};
pub use service::service_spec;

/// Why a spec cannot be reconciled, phrased as what to change.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ValidationError {
    #[error("metadata.{0} is missing; the object must come from the API server or a complete file")]
    MissingMetadata(&'static str),
    #[error("spec.version: {0}")]
    Version(ImageError),
    #[error("spec.registry `{registry}`: {source}")]
    Registry {
        registry: String,
        source: ImageError,
    },
    #[error("spec.services.{service}: {source}")]
    Image {
        service: Component,
        source: ImageError,
    },
    #[error(
        "spec.services.{service}: version `{version}` is longer than 63 characters; use a shorter tag"
    )]
    VersionTooLong { service: Component, version: String },
    #[error("spec.services.{service}: set either version or image, not both")]
    VersionAndImage { service: Component },
    #[error(
        "spec.services.{service}: set either replicas or autoscaling, not both (autoscaling decides the replicas)"
    )]
    ReplicasAndAutoscaling { service: Component },
    #[error(
        "spec.services.{service}.autoscaling: minReplicas ({min}) must not exceed maxReplicas ({max})"
    )]
    Autoscaling {
        service: Component,
        min: i32,
        max: i32,
    },
    #[error("spec.services.{service}.rollout.steps {source}")]
    CanarySteps {
        service: Component,
        source: CanaryStepsError,
    },
    #[error("spec.notifications.webhook: {0}")]
    Webhook(String),
    #[error("spec.services.{service}.rollout.{message}")]
    Hook { service: Component, message: String },
    #[error("spec.services.{service}.rollout.analysis.{message}")]
    MetricCheck { service: Component, message: String },
    #[error("spec.services.{service}.rollout.{message}")]
    RequestMatch { service: Component, message: String },
    #[error("spec.services.{service}.rollout: canaryWeight is required when strategy is Manual")]
    ManualWithoutWeight { service: Component },
    #[error("{field}: {source}")]
    Duration {
        field: String,
        source: DurationError,
    },
    #[error(
        "spec.services.{service}.env.{name}: the operator sets this variable; remove it from env"
    )]
    ReservedEnv { service: Component, name: String },
    #[error(
        "spec.services.{service}.env.{name}: removed from the gateway, which refuses to start with it; \
         list the proxies in front of it in spec.gateway.trustedProxies instead"
    )]
    RemovedEnv { service: Component, name: String },
    #[error("spec.gateway.trustedProxies[{index}] `{value}`: {source}")]
    TrustedProxy {
        index: usize,
        value: String,
        source: CidrError,
    },
    #[error(
        "spec.services.{service}.env.{name}: not a valid variable name; use letters, digits and _ , not starting with a digit"
    )]
    EnvName { service: Component, name: String },
    #[error(
        "spec.{store}.secretRef is required when spec.{store}.mode is External; name a Secret holding the connection details"
    )]
    ExternalWithoutSecretRef { store: &'static str },
    #[error(
        "spec.{store}.{field} applies only to mode Managed; remove it or set spec.{store}.mode: Managed"
    )]
    ManagedOnly {
        store: &'static str,
        field: &'static str,
    },
    #[error(
        "spec.{store}.image and spec.{store}.version are both set: image is the whole reference, \
         version only the tag of the default one; keep one of them"
    )]
    ImageAndVersion { store: &'static str },
    #[error(
        "spec.{field} names Secret `{name}`, which does not exist in this namespace; create it or fix the name"
    )]
    MissingSecret { field: &'static str, name: String },
    #[error("Secret `{name}` (spec.{field}) has no key `{key}`; add it to the Secret")]
    MissingSecretKey {
        field: &'static str,
        name: String,
        key: String,
    },
    #[error("spec.tracing.jaeger.endpoint is required when spec.tracing.jaeger.mode is External")]
    TracingWithoutEndpoint,
    #[error(
        "{field}: not a Storefront service; use gateway, users, catalog, cart, inventory, payments, orders, notifications, web or loadgen"
    )]
    UnknownService { field: String },
    #[error(
        "spec.services.{service}.rollout.{field} needs Istio (set spec.mesh.istio): without the mesh a canary's traffic is its share of the pods, which no header or copy can steer"
    )]
    RoutingWithoutMesh {
        service: Component,
        field: &'static str,
    },
    #[error(
        "spec.services.loadgen drives traffic through the gateway; enable spec.services.gateway or disable loadgen"
    )]
    LoadgenWithoutGateway,
    #[error(
        "spec.services.{service}.rollout.loadTest drives the platform's loadgen down the canary routes; enable spec.services.loadgen (its steady load is about 5 operations/s)"
    )]
    LoadTestWithoutLoadgen { service: Component },
    #[error(
        "spec.mesh.istio.ingress.hosts is empty; name at least one host (e.g. shop.example.com) or remove ingress"
    )]
    IngressWithoutHosts,
    #[error(
        "{field} is {value}; a Deployment's progress deadline is whole seconds, so write 1s or more"
    )]
    DeadlineTooShort { field: String, value: String },
}

/// What the dereference step found in the cluster.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClusterInputs {
    /// Secrets named by the spec: name → keys present, `None` if the Secret does not exist.
    /// `None` for the whole map means offline: referenced Secrets cannot be checked.
    pub referenced: Option<BTreeMap<String, Option<BTreeSet<String>>>>,
    /// Data of Secrets the operator generated earlier, by name.
    pub generated: BTreeMap<String, BTreeMap<String, String>>,
}

impl ClusterInputs {
    /// No cluster: nothing generated yet, referenced Secrets assumed present.
    pub fn offline() -> Self {
        Self::default()
    }
}

/// How many pods a service runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scaling {
    Fixed(i32),
    Autoscaled { min: i32, max: i32, target_cpu: i32 },
}

/// A checked, defaulted service.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidatedService {
    pub component: Component,
    pub image: ImageRef,
    /// Version label value (image tag).
    pub version: String,
    pub scaling: Scaling,
    pub resources: ResourceRequirements,
    /// User env, checked not to collide with the operator's contract.
    pub extra_env: BTreeMap<String, String>,
    pub strategy: RolloutStrategy,
    pub progress_deadline_seconds: i32,
    /// Canary and Manual settings, defaulted.
    pub rollout: CanarySettings,
}

/// Checked, defaulted canary settings of a service from its spec's `rollout` (Canary and
/// Manual strategies; filled in for every service, used only by those two).
#[derive(Clone, Debug, PartialEq)]
pub struct CanarySettings {
    /// Canary weight of each step.
    pub steps: CanarySteps,
    pub interval: std::time::Duration,
    pub progress_deadline: std::time::Duration,
    /// Lowest success rate, percent.
    pub min_success_rate: f64,
    /// Highest p99 latency, milliseconds.
    pub max_p99_latency_ms: f64,
    pub min_requests: f64,
    /// Failed checks (threshold missed, canary unavailable) that roll the canary back.
    pub failure_threshold: u32,
    pub prometheus_url: String,
    /// `rollout.analysis.metrics`, checked.
    pub metrics: Vec<MetricCheck>,
    /// The service's built-in business checks, canary against stable (none when
    /// `analysis.businessChecks` is false).
    pub business: Vec<BusinessCheck>,
    /// `rollout.webhooks`, checked.
    pub hooks: Vec<RolloutHook>,
    /// `rollout.match`, checked: requests the canary route takes beside `x-canary: always`.
    pub matches: Vec<RequestMatch>,
    /// Manual only: fixed canary weight.
    pub canary_weight: Percent,
    /// BlueGreen only: how long the switch step keeps the old pods before promotion.
    pub scale_down_delay: std::time::Duration,
    /// `rollout.loadTest`: loadgen's load goes down the canary routes while it is routed.
    pub load_test: bool,
}

impl ValidatedService {
    /// Whether the service's traffic is split by the canary engine (Canary or Manual).
    pub fn is_tracked(&self) -> bool {
        matches!(
            self.strategy,
            RolloutStrategy::Canary | RolloutStrategy::Manual | RolloutStrategy::BlueGreen
        )
    }
}

/// Where PostgreSQL runs.
#[derive(Clone, Debug, PartialEq)]
pub enum DatabasePlan {
    Managed {
        image: ImageRef,
        storage: Quantity,
        storage_class: Option<String>,
        retain_on_delete: bool,
        secret: GeneratedSecret,
    },
    External {
        secret_name: String,
    },
}

impl DatabasePlan {
    /// Secret holding each service's `<service>-database-url`.
    pub fn secret_name(&self) -> &str {
        match self {
            Self::Managed { secret, .. } => &secret.name,
            Self::External { secret_name } => secret_name,
        }
    }
}

/// Where Redis runs.
#[derive(Clone, Debug, PartialEq)]
pub enum CachePlan {
    Managed { image: ImageRef, storage: Quantity },
    External { secret_name: String },
}

/// Everything the builders need, checked and defaulted.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidatedPlatform {
    pub ownership: Ownership,
    pub image_pull_policy: &'static str,
    pub demo_data: bool,
    /// Enabled services, in `Component::SERVICES` order.
    pub services: Vec<ValidatedService>,
    pub database: DatabasePlan,
    pub cache: CachePlan,
    /// The order-events bus of orders and notifications.
    pub events: EventsPlan,
    pub jwt: GeneratedSecret,
    /// Admin Secret name, and its data when the operator generates it.
    pub admin_secret_name: String,
    pub admin_generated: Option<GeneratedSecret>,
    pub tracing: Option<TracingPlan>,
    pub mesh: Option<MeshPlan>,
    /// The gateway's GATEWAY_TRUSTED_PROXIES (empty: unset, the peer address is the client).
    pub trusted_proxies: Vec<Cidr>,
    /// Whether the PodMonitor and the PrometheusRule of the alerts are written
    /// (spec.observability.prometheus.monitors).
    pub monitors: bool,
    /// Whether the Grafana dashboard ConfigMaps are written (spec.observability.grafana).
    pub dashboards: bool,
    /// Where rollout notifications are posted (spec.notifications.webhook).
    pub webhook: Option<WebhookTarget>,
}

impl ValidatedPlatform {
    /// Whether a service is enabled.
    pub fn runs(&self, component: Component) -> bool {
        self.services.iter().any(|s| s.component == component)
    }
}

/// Names of the Secrets the spec refers to, with the field that names them.
pub fn referenced_secrets(platform: &EcommercePlatform) -> Vec<(&'static str, String)> {
    let spec = &platform.spec;
    let mut out = Vec::new();
    if let (StoreMode::External, Some(r)) = (spec.database.mode, &spec.database.secret_ref) {
        out.push(("database.secretRef", r.name.clone()));
    }
    if let (StoreMode::External, Some(r)) = (spec.cache.mode, &spec.cache.secret_ref) {
        out.push(("cache.secretRef", r.name.clone()));
    }
    if let Some(r) = spec.admin.as_ref().and_then(|a| a.secret_ref.as_ref()) {
        out.push(("admin.secretRef", r.name.clone()));
    }
    if let Some(r) = external_rabbitmq_ref(spec) {
        out.push(("events.rabbitmq.secretRef", r.name.clone()));
    }
    if let Some(r) = spec
        .notifications
        .as_ref()
        .and_then(|n| n.webhook.as_ref())
        .and_then(|w| w.secret_ref.as_ref())
    {
        out.push(("notifications.webhook.secretRef", r.name.clone()));
    }
    out
}

/// The Secret of an External broker, when the events go over RabbitMQ.
fn external_rabbitmq_ref(spec: &PlatformSpec) -> Option<&SecretRef> {
    let events = spec.events.as_ref()?;
    let rabbitmq = events.rabbitmq.as_ref()?;
    (events.bus == EventBus::RabbitMQ && rabbitmq.mode == StoreMode::External)
        .then_some(rabbitmq.secret_ref.as_ref())
        .flatten()
}

/// Names of the Secrets the operator generates for this platform (read back to reuse them).
pub fn generated_secret_names(instance: &str) -> [String; 4] {
    [
        format!("{instance}-jwt"),
        format!("{instance}-postgres"),
        format!("{instance}-admin"),
        format!("{instance}-rabbitmq"),
    ]
}

/// The validate step.
pub fn validate(
    platform: &EcommercePlatform,
    inputs: &ClusterInputs,
    source: &mut dyn SecretSource,
) -> Result<ValidatedPlatform, ValidationError> {
    let spec = &platform.spec;
    let ownership = ownership(platform, inputs)?;
    check_tag(&spec.version).map_err(ValidationError::Version)?;
    check_referenced(platform, inputs)?;

    let services = Component::SERVICES
        .iter()
        .filter_map(|&c| {
            let service = service::service_spec(platform, c);
            let enabled = service
                .and_then(|s| s.enabled)
                .unwrap_or(c.enabled_by_default());
            enabled.then(|| service::validate_service(platform, c, service))
        })
        .collect::<Result<Vec<_>, _>>()?;

    let runs = |c: Component| services.iter().any(|s| s.component == c);
    if runs(Component::Loadgen) && !runs(Component::Gateway) {
        return Err(ValidationError::LoadgenWithoutGateway);
    }
    if !runs(Component::Loadgen)
        && let Some(s) = services
            .iter()
            .find(|s| s.is_tracked() && s.rollout.load_test)
    {
        return Err(ValidationError::LoadTestWithoutLoadgen {
            service: s.component,
        });
    }

    let [jwt_name, db_name, admin_name, rabbitmq_name] =
        generated_secret_names(&ownership.instance);
    let existing = |name: &str| inputs.generated.get(name);
    let jwt_keys = [(secrets::JWT_KEY.to_owned(), KeyValue::Random)];
    let jwt = secrets::resolve(
        jwt_name.clone(),
        "platform",
        &jwt_keys,
        existing(&jwt_name),
        source,
    );

    let database = stores::database_plan(spec, db_name.clone(), existing(&db_name), source)?;
    let cache = stores::cache_plan(spec)?;
    let events = events::events_plan(
        spec,
        rabbitmq_name.clone(),
        existing(&rabbitmq_name),
        source,
    )?;
    let (admin_secret_name, admin_generated) =
        match spec.admin.as_ref().and_then(|a| a.secret_ref.as_ref()) {
            Some(r) => (r.name.clone(), None),
            None => {
                let keys = [
                    (
                        secrets::ADMIN_EMAIL_KEY.to_owned(),
                        KeyValue::Fixed(secrets::DEFAULT_ADMIN_EMAIL),
                    ),
                    (secrets::ADMIN_PASSWORD_KEY.to_owned(), KeyValue::Random),
                ];
                let generated = secrets::resolve(
                    admin_name.clone(),
                    "users",
                    &keys,
                    existing(&admin_name),
                    source,
                );
                (admin_name, Some(generated))
            }
        };

    let webhook = notifications::webhook_target(spec)?;
    let tracing = mesh::tracing_plan(platform, &ownership.instance)?;
    let mesh = mesh::mesh_plan(platform)?;
    if mesh.is_none() {
        for s in services.iter().filter(|s| s.is_tracked()) {
            let field = if !s.rollout.matches.is_empty() {
                "match"
            } else if s.rollout.steps.mirror().is_some() && s.strategy == RolloutStrategy::Canary {
                "mirror"
            } else {
                continue;
            };
            return Err(ValidationError::RoutingWithoutMesh {
                service: s.component,
                field,
            });
        }
    }
    let behind_istio_ingress = mesh.as_ref().is_some_and(|m| m.ingress.is_some());
    let trusted_proxies = proxies::trusted_proxies(spec, behind_istio_ingress)?;
    let monitors = spec.wants_monitors();
    let dashboards = spec.wants_dashboards();

    Ok(ValidatedPlatform {
        ownership,
        image_pull_policy: spec.image_pull_policy.as_str(),
        demo_data: spec.demo_data,
        services,
        database,
        cache,
        events,
        jwt,
        admin_secret_name,
        admin_generated,
        tracing,
        mesh,
        trusted_proxies,
        monitors,
        dashboards,
        webhook,
    })
}

fn ownership(
    platform: &EcommercePlatform,
    inputs: &ClusterInputs,
) -> Result<Ownership, ValidationError> {
    let meta = platform.meta();
    let name = meta
        .name
        .clone()
        .ok_or(ValidationError::MissingMetadata("name"))?;
    let offline = inputs.referenced.is_none();
    let namespace = match (&meta.namespace, offline) {
        (Some(ns), _) => ns.clone(),
        (None, true) => "default".to_owned(),
        (None, false) => return Err(ValidationError::MissingMetadata("namespace")),
    };
    let uid = match (&meta.uid, offline) {
        (Some(uid), _) => uid.clone(),
        (None, true) => OFFLINE_UID.to_owned(),
        (None, false) => return Err(ValidationError::MissingMetadata("uid")),
    };
    Ok(Ownership {
        instance: name.clone(),
        namespace,
        owner: OwnerReference {
            api_version: EcommercePlatform::api_version(&()).into_owned(),
            kind: EcommercePlatform::kind(&()).into_owned(),
            name,
            uid,
            controller: Some(true),
            block_owner_deletion: Some(true),
        },
        platform_version: platform.spec.version.clone(),
    })
}

fn check_referenced(
    platform: &EcommercePlatform,
    inputs: &ClusterInputs,
) -> Result<(), ValidationError> {
    let Some(found) = &inputs.referenced else {
        return Ok(());
    };
    for (field, name) in referenced_secrets(platform) {
        let Some(Some(keys)) = found.get(&name) else {
            return Err(ValidationError::MissingSecret { field, name });
        };
        let required: Vec<String> = match field {
            "database.secretRef" => Component::WITH_DATABASE
                .iter()
                .filter(|&&c| service::service_enabled(platform, c))
                .map(|&c| secrets::database_url_key(c))
                .collect(),
            "cache.secretRef" => vec![secrets::CACHE_URL_KEY.to_owned()],
            "events.rabbitmq.secretRef" => vec![secrets::RABBITMQ_URL_KEY.to_owned()],
            "notifications.webhook.secretRef" => vec![WEBHOOK_URL_KEY.to_owned()],
            _ => vec![
                secrets::ADMIN_EMAIL_KEY.to_owned(),
                secrets::ADMIN_PASSWORD_KEY.to_owned(),
            ],
        };
        if let Some(key) = required.into_iter().find(|k| !keys.contains(k)) {
            return Err(ValidationError::MissingSecretKey { field, name, key });
        }
    }
    Ok(())
}
