//! The validate step: raw `EcommercePlatform` + what the dereference step read → a checked,
//! fully defaulted [`ValidatedPlatform`].
//!
//! Invariants: builders never see an unchecked value; every default lives here; an error names
//! the field and says how to fix it. Secrets referenced by the spec are checked only when the
//! caller could read the cluster (`ClusterInputs::Known`), not in offline rendering.

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
    Duration, DurationError, EcommercePlatform, RolloutSpec, RolloutStrategy, ServiceSpec,
    StoreMode,
};

/// Owner UID used by offline rendering, where the object was never stored.
pub const OFFLINE_UID: &str = "00000000-0000-0000-0000-000000000000";
const DEFAULT_POSTGRES_VERSION: &str = "17-alpine";
const DEFAULT_REDIS_VERSION: &str = "7.4-alpine";
const DEFAULT_CANARY_STEPS: [i32; 3] = [10, 25, 50];
const MAX_LABEL_VALUE: usize = 63;

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
    #[error(
        "spec.services.{service}.rollout.steps {steps:?}: steps must be strictly increasing and each between 1 and 99"
    )]
    CanarySteps { service: Component, steps: Vec<i32> },
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

/// Trace export settings for the services.
#[derive(Clone, Debug, PartialEq)]
pub struct TracingPlan {
    /// OTLP endpoint, when known (External mode).
    pub endpoint: Option<String>,
    /// Sampling ratio in 0..=1.
    pub sampling_ratio: f64,
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
    pub jwt: GeneratedSecret,
    /// Admin Secret name, and its data when the operator generates it.
    pub admin_secret_name: String,
    pub admin_generated: Option<GeneratedSecret>,
    pub tracing: Option<TracingPlan>,
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
    out
}

/// Names of the Secrets the operator generates for this platform (read back to reuse them).
pub fn generated_secret_names(instance: &str) -> [String; 3] {
    [
        format!("{instance}-jwt"),
        format!("{instance}-postgres"),
        format!("{instance}-admin"),
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
            let service = service_spec(platform, c);
            let enabled = service
                .and_then(|s| s.enabled)
                .unwrap_or(c.enabled_by_default());
            enabled.then(|| validate_service(platform, c, service))
        })
        .collect::<Result<Vec<_>, _>>()?;

    let [jwt_name, db_name, admin_name] = generated_secret_names(&ownership.instance);
    let existing = |name: &str| inputs.generated.get(name);
    let jwt_keys = [(secrets::JWT_KEY.to_owned(), KeyValue::Random)];
    let jwt = secrets::resolve(
        jwt_name.clone(),
        "platform",
        &jwt_keys,
        existing(&jwt_name),
        source,
    );

    let database = match spec.database.mode {
        StoreMode::Managed => {
            let version = spec
                .database
                .version
                .as_deref()
                .unwrap_or(DEFAULT_POSTGRES_VERSION);
            let image = ImageRef::parse(&format!("postgres:{version}")).map_err(|source| {
                ValidationError::Image {
                    service: Component::Postgres,
                    source,
                }
            })?;
            let mut keys = vec![(secrets::POSTGRES_PASSWORD_KEY.to_owned(), KeyValue::Random)];
            keys.extend(
                Component::WITH_DATABASE
                    .iter()
                    .map(|&c| (secrets::password_key(c), KeyValue::Random)),
            );
            DatabasePlan::Managed {
                image,
                storage: spec
                    .database
                    .storage
                    .clone()
                    .unwrap_or_else(|| Quantity("1Gi".into())),
                storage_class: spec.database.storage_class_name.clone(),
                retain_on_delete: spec.database.retain_on_delete,
                secret: secrets::resolve(
                    db_name.clone(),
                    "postgres",
                    &keys,
                    existing(&db_name),
                    source,
                ),
            }
        }
        StoreMode::External => {
            let store = "database";
            if spec.database.storage.is_some() {
                return Err(ValidationError::ManagedOnly {
                    store,
                    field: "storage",
                });
            }
            if spec.database.storage_class_name.is_some() {
                return Err(ValidationError::ManagedOnly {
                    store,
                    field: "storageClassName",
                });
            }
            if spec.database.version.is_some() {
                return Err(ValidationError::ManagedOnly {
                    store,
                    field: "version",
                });
            }
            let secret_ref = spec
                .database
                .secret_ref
                .as_ref()
                .ok_or(ValidationError::ExternalWithoutSecretRef { store })?;
            DatabasePlan::External {
                secret_name: secret_ref.name.clone(),
            }
        }
    };

    let cache = match spec.cache.mode {
        StoreMode::Managed => {
            let version = spec
                .cache
                .version
                .as_deref()
                .unwrap_or(DEFAULT_REDIS_VERSION);
            CachePlan::Managed {
                image: ImageRef::parse(&format!("redis:{version}")).map_err(|source| {
                    ValidationError::Image {
                        service: Component::Redis,
                        source,
                    }
                })?,
                storage: spec
                    .cache
                    .storage
                    .clone()
                    .unwrap_or_else(|| Quantity("256Mi".into())),
            }
        }
        StoreMode::External => {
            let store = "cache";
            if spec.cache.storage.is_some() {
                return Err(ValidationError::ManagedOnly {
                    store,
                    field: "storage",
                });
            }
            if spec.cache.version.is_some() {
                return Err(ValidationError::ManagedOnly {
                    store,
                    field: "version",
                });
            }
            let secret_ref = spec
                .cache
                .secret_ref
                .as_ref()
                .ok_or(ValidationError::ExternalWithoutSecretRef { store })?;
            CachePlan::External {
                secret_name: secret_ref.name.clone(),
            }
        }
    };

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

    let tracing = match spec.tracing.as_ref().and_then(|t| t.jaeger.as_ref()) {
        None => None,
        Some(jaeger) => {
            if jaeger.mode == crate::crd::JaegerMode::External && jaeger.endpoint.is_none() {
                return Err(ValidationError::TracingWithoutEndpoint);
            }
            Some(TracingPlan {
                endpoint: jaeger.endpoint.clone(),
                sampling_ratio: jaeger.sampling_percentage.unwrap_or(10.0).clamp(0.0, 100.0)
                    / 100.0,
            })
        }
    };
    check_mesh_durations(platform)?;

    Ok(ValidatedPlatform {
        ownership,
        image_pull_policy: spec.image_pull_policy.as_str(),
        demo_data: spec.demo_data,
        services,
        database,
        cache,
        jwt,
        admin_secret_name,
        admin_generated,
        tracing,
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
                .filter(|&&c| service_enabled(platform, c))
                .map(|&c| secrets::database_url_key(c))
                .collect(),
            "cache.secretRef" => vec![secrets::CACHE_URL_KEY.to_owned()],
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

fn service_spec(platform: &EcommercePlatform, c: Component) -> Option<&ServiceSpec> {
    let s = &platform.spec.services;
    match c {
        Component::Gateway => s.gateway.as_ref(),
        Component::Users => s.users.as_ref(),
        Component::Catalog => s.catalog.as_ref(),
        Component::Cart => s.cart.as_ref(),
        Component::Inventory => s.inventory.as_ref(),
        Component::Payments => s.payments.as_ref(),
        Component::Orders => s.orders.as_ref(),
        Component::Web => s.web.as_ref(),
        Component::Loadgen => s.loadgen.as_ref(),
        Component::Postgres | Component::Redis => None,
    }
}

fn service_enabled(platform: &EcommercePlatform, c: Component) -> bool {
    service_spec(platform, c)
        .and_then(|s| s.enabled)
        .unwrap_or(c.enabled_by_default())
}

fn validate_service(
    platform: &EcommercePlatform,
    component: Component,
    spec: Option<&ServiceSpec>,
) -> Result<ValidatedService, ValidationError> {
    let default = ServiceSpec::default();
    let spec = spec.unwrap_or(&default);
    let service = component;
    let image_err = |source| ValidationError::Image { service, source };
    let image = match (&spec.image, &spec.version) {
        (Some(_), Some(_)) => return Err(ValidationError::VersionAndImage { service }),
        (Some(image), None) => ImageRef::parse(image).map_err(image_err)?,
        (None, version) => {
            let tag = version.as_deref().unwrap_or(&platform.spec.version);
            ImageRef::from_parts(&platform.spec.registry, component.name(), tag).map_err(
                |source| match source {
                    ImageError::Repository(_) | ImageError::Malformed(_) => {
                        ValidationError::Registry {
                            registry: platform.spec.registry.clone(),
                            source,
                        }
                    }
                    other => image_err(other),
                },
            )?
        }
    };
    let version = image.version();
    if version.len() > MAX_LABEL_VALUE {
        return Err(ValidationError::VersionTooLong { service, version });
    }

    let scaling = match (&spec.autoscaling, spec.replicas) {
        (Some(_), Some(_)) => return Err(ValidationError::ReplicasAndAutoscaling { service }),
        (Some(a), None) => {
            let min = a.min_replicas.unwrap_or(1);
            if min > a.max_replicas {
                return Err(ValidationError::Autoscaling {
                    service,
                    min,
                    max: a.max_replicas,
                });
            }
            Scaling::Autoscaled {
                min,
                max: a.max_replicas,
                target_cpu: a.target_cpu_utilization_percentage.unwrap_or(80),
            }
        }
        (None, replicas) => Scaling::Fixed(replicas.unwrap_or(1)),
    };

    for name in spec.env.keys() {
        if !env_name_ok(name) {
            return Err(ValidationError::EnvName {
                service,
                name: name.clone(),
            });
        }
        if super::env::is_reserved(name) {
            return Err(ValidationError::ReservedEnv {
                service,
                name: name.clone(),
            });
        }
    }

    let default_rollout = RolloutSpec::default();
    let rollout = spec.rollout.as_ref().unwrap_or(&default_rollout);
    check_rollout(service, rollout)?;
    let deadline = duration(
        rollout.progress_deadline.as_ref(),
        "10m",
        &format!("spec.services.{service}.rollout.progressDeadline"),
    )?;

    Ok(ValidatedService {
        component,
        image,
        version,
        scaling,
        resources: spec.resources.clone().unwrap_or_else(default_resources),
        extra_env: spec.env.clone(),
        strategy: rollout.strategy,
        progress_deadline_seconds: i32::try_from(deadline.as_secs()).unwrap_or(i32::MAX),
    })
}

fn check_rollout(service: Component, rollout: &RolloutSpec) -> Result<(), ValidationError> {
    let steps = if rollout.steps.is_empty() {
        DEFAULT_CANARY_STEPS.to_vec()
    } else {
        rollout.steps.clone()
    };
    let in_range = steps.iter().all(|s| (1..=99).contains(s));
    let increasing = steps.windows(2).all(|w| w[0] < w[1]);
    if !in_range || !increasing {
        return Err(ValidationError::CanarySteps { service, steps });
    }
    if rollout.strategy == RolloutStrategy::Manual && rollout.canary_weight.is_none() {
        return Err(ValidationError::ManualWithoutWeight { service });
    }
    let prefix = format!("spec.services.{service}.rollout");
    duration(
        rollout.interval.as_ref(),
        "1m",
        &format!("{prefix}.interval"),
    )?;
    if let Some(a) = &rollout.analysis {
        duration(
            a.max_p99_latency.as_ref(),
            "500ms",
            &format!("{prefix}.analysis.maxP99Latency"),
        )?;
    }
    Ok(())
}

fn check_mesh_durations(platform: &EcommercePlatform) -> Result<(), ValidationError> {
    let Some(istio) = platform.spec.mesh.as_ref().and_then(|m| m.istio.as_ref()) else {
        return Ok(());
    };
    let base = "spec.mesh.istio";
    if let Some(o) = &istio.outlier_detection {
        duration(
            o.interval.as_ref(),
            "10s",
            &format!("{base}.outlierDetection.interval"),
        )?;
        duration(
            o.base_ejection_time.as_ref(),
            "30s",
            &format!("{base}.outlierDetection.baseEjectionTime"),
        )?;
    }
    if let Some(r) = &istio.retries {
        duration(
            r.per_try_timeout.as_ref(),
            "2s",
            &format!("{base}.retries.perTryTimeout"),
        )?;
    }
    Ok(())
}

fn duration(
    value: Option<&Duration>,
    default: &'static str,
    field: &str,
) -> Result<std::time::Duration, ValidationError> {
    value
        .cloned()
        .unwrap_or_else(|| Duration::from_static(default))
        .to_std()
        .map_err(|source| ValidationError::Duration {
            field: field.to_owned(),
            source,
        })
}

fn env_name_ok(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn default_resources() -> ResourceRequirements {
    ResourceRequirements {
        requests: Some(BTreeMap::from([
            ("cpu".to_owned(), Quantity("50m".into())),
            ("memory".to_owned(), Quantity("64Mi".into())),
        ])),
        limits: Some(BTreeMap::from([(
            "memory".to_owned(),
            Quantity("256Mi".into()),
        )])),
        ..ResourceRequirements::default()
    }
}
