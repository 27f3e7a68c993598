//! Validation and defaults of one service: image, scaling, env, rollout.
//!
//! Invariant: a `ValidatedService` has a checked image, a label-safe version, a scaling mode that
//! cannot conflict with an HPA, and no env var that collides with the operator's contract.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ResourceRequirements;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::business_checks::business_checks;
use super::hooks::rollout_hooks;
use super::metric_checks::metric_checks;
use super::request_match::request_matches;
use super::{CanarySettings, CanarySteps, Scaling, ValidatedService, ValidationError};
use crate::build::component::Component;
use crate::build::image::{ImageError, ImageRef};
use crate::crd::{Duration, EcommercePlatform, Percent, RolloutSpec, RolloutStrategy, ServiceSpec};

/// Failed checks before a rollback, as Flagger's `threshold` and Argo Rollouts' `failureLimit`.
const DEFAULT_FAILURE_THRESHOLD: u32 = 2;
const MAX_LABEL_VALUE: usize = 63;

pub fn service_spec(platform: &EcommercePlatform, c: Component) -> Option<&ServiceSpec> {
    let s = &platform.spec.services;
    match c {
        Component::Gateway => s.gateway.as_ref(),
        Component::Users => s.users.as_ref(),
        Component::Catalog => s.catalog.as_ref(),
        Component::Cart => s.cart.as_ref(),
        Component::Inventory => s.inventory.as_ref(),
        Component::Payments => s.payments.as_ref(),
        Component::Orders => s.orders.as_ref(),
        Component::Notifications => s.notifications.as_ref(),
        Component::Web => s.web.as_ref(),
        Component::Loadgen => s.loadgen.as_ref(),
        Component::Postgres | Component::Redis | Component::RabbitMq | Component::Jaeger => None,
    }
}

pub(super) fn service_enabled(platform: &EcommercePlatform, c: Component) -> bool {
    service_spec(platform, c)
        .and_then(|s| s.enabled)
        .unwrap_or(c.enabled_by_default())
}

pub(super) fn validate_service(
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
        if crate::build::env::is_removed(name) {
            return Err(ValidationError::RemovedEnv {
                service,
                name: name.clone(),
            });
        }
        if crate::build::env::is_reserved(name) {
            return Err(ValidationError::ReservedEnv {
                service,
                name: name.clone(),
            });
        }
    }

    let default_rollout = RolloutSpec::default();
    let rollout = spec.rollout.as_ref().unwrap_or(&default_rollout);
    let settings = check_rollout(service, rollout)?;
    let deadline_field = format!("spec.services.{service}.rollout.progressDeadline");
    let deadline = duration(rollout.progress_deadline.as_ref(), "10m", &deadline_field)?;
    if deadline < std::time::Duration::from_secs(1) {
        return Err(ValidationError::DeadlineTooShort {
            field: deadline_field,
            value: rollout
                .progress_deadline
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
        });
    }

    Ok(ValidatedService {
        component,
        image,
        version,
        scaling,
        resources: spec.resources.clone().unwrap_or_else(default_resources),
        extra_env: spec.env.clone(),
        strategy: rollout.strategy,
        progress_deadline_seconds: i32::try_from(deadline.as_secs()).unwrap_or(i32::MAX),
        rollout: CanarySettings {
            progress_deadline: deadline,
            ..settings
        },
    })
}

/// Default Prometheus: Istio's Prometheus add-on.
pub const DEFAULT_PROMETHEUS_URL: &str = "http://prometheus.istio-system:9090";

fn check_rollout(
    service: Component,
    rollout: &RolloutSpec,
) -> Result<CanarySettings, ValidationError> {
    let steps = if rollout.strategy == RolloutStrategy::BlueGreen {
        CanarySteps::blue_green()
    } else if rollout.steps.is_empty() {
        CanarySteps::default()
    } else {
        CanarySteps::new(rollout.steps.clone())
            .map_err(|source| ValidationError::CanarySteps { service, source })?
    }
    .with_mirror(rollout.mirror);
    if rollout.strategy == RolloutStrategy::Manual && rollout.canary_weight.is_none() {
        return Err(ValidationError::ManualWithoutWeight { service });
    }
    let prefix = format!("spec.services.{service}.rollout");
    let interval = duration(
        rollout.interval.as_ref(),
        "1m",
        &format!("{prefix}.interval"),
    )?;
    let analysis = rollout.analysis.as_ref();
    let p99 = duration(
        analysis.and_then(|a| a.max_p99_latency.as_ref()),
        "500ms",
        &format!("{prefix}.analysis.maxP99Latency"),
    )?;
    let scale_down_delay = duration(
        rollout.scale_down_delay.as_ref(),
        "30s",
        &format!("{prefix}.scaleDownDelay"),
    )?;
    let metrics = metric_checks(analysis.map_or(&[][..], |a| &a.metrics[..]))
        .map_err(|message| ValidationError::MetricCheck { service, message })?;
    let hooks = rollout_hooks(&rollout.webhooks)
        .map_err(|message| ValidationError::Hook { service, message })?;
    let matches = request_matches(&rollout.match_)
        .map_err(|message| ValidationError::RequestMatch { service, message })?;
    let business = if analysis.and_then(|a| a.business_checks) == Some(false) {
        Vec::new()
    } else {
        business_checks(service)
    };
    Ok(CanarySettings {
        metrics,
        business,
        hooks,
        matches,
        steps,
        interval,
        progress_deadline: std::time::Duration::from_secs(600),
        min_success_rate: analysis.and_then(|a| a.min_success_rate).unwrap_or(99.0),
        #[allow(clippy::cast_precision_loss)]
        max_p99_latency_ms: p99.as_millis() as f64,
        min_requests: f64::from(analysis.and_then(|a| a.min_requests).unwrap_or(20)),
        failure_threshold: analysis
            .and_then(|a| a.failure_threshold)
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(DEFAULT_FAILURE_THRESHOLD)
            .max(1),
        prometheus_url: analysis
            .and_then(|a| a.prometheus_url.clone())
            .unwrap_or_else(|| DEFAULT_PROMETHEUS_URL.to_owned()),
        canary_weight: rollout.canary_weight.unwrap_or(Percent::ZERO),
        scale_down_delay,
        load_test: rollout.load_test == Some(true),
    })
}

pub(super) fn duration(
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
