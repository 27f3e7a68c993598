//! The reconcile pipeline: dereference → validate → build → apply → clean up orphans → update
//! status. Only dereference, apply, cleanup and status touch the API, through `ClusterApi`.
//!
//! Invariants: an invalid spec applies nothing; status is written only when it differs from the
//! stored one; only objects whose controller owner UID is this platform's are ever deleted;
//! `AppliedObjects` can only come from a finished apply step, so cleanup and status never act
//! on objects that were built but not applied.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::DynamicObject;
use kube::runtime::controller::Action;
use tracing::{debug, info, warn};

use super::api::{ApiError, ClusterApi, EventType, PlatformEvent};
use super::metrics::Metrics;
use super::status::{self, Outcome};
use crate::build::labels::Ownership;
use crate::build::secrets::{self, SecretSource};
use crate::build::validate::{generated_secret_names, referenced_secrets};
use crate::build::{self, ClusterInputs, DesiredObject, OwnedKind, ValidationError};
use crate::crd::{EcommercePlatform, Phase, RolloutStatus};
use crate::rollout::{MetricsSource, Prometheus, Severity};

/// How often a healthy platform is reconciled without any change (drift repair).
pub const RESYNC: Duration = Duration::from_secs(300);
/// How often an invalid spec is re-checked (a missing Secret may appear without a spec change).
pub const INVALID_RECHECK: Duration = Duration::from_secs(60);
/// How often a platform with a rollout in flight is reconciled (status writes do not trigger
/// reconciles, so the canary engine is driven by this timer and by Deployment changes).
pub const ROLLOUT_POLL: Duration = Duration::from_secs(10);
const PROMETHEUS_TIMEOUT: Duration = Duration::from_secs(5);
const BACKOFF_BASE: Duration = Duration::from_secs(5);
const BACKOFF_MAX: Duration = Duration::from_secs(300);

/// Why a reconcile failed; each variant is retried with backoff.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("platform has no namespace; EcommercePlatform is namespaced")]
    NoNamespace,
    #[error("reading Secret `{name}`: {source}")]
    ReadSecret { name: String, source: ApiError },
    #[error("applying {kind} `{name}`: {source}")]
    Apply {
        kind: &'static str,
        name: String,
        source: ApiError,
    },
    #[error("listing {kind} objects for orphan cleanup: {source}")]
    List {
        kind: &'static str,
        source: ApiError,
    },
    #[error("deleting orphaned {kind} `{name}`: {source}")]
    Delete {
        kind: &'static str,
        name: String,
        source: ApiError,
    },
    #[error("writing status: {0}")]
    Status(ApiError),
}

impl ReconcileError {
    /// Label of the `storefront_reconcile_errors_total` metric.
    pub fn metric_kind(&self) -> &'static str {
        match self {
            Self::NoNamespace => "no_namespace",
            Self::ReadSecret { .. } => "read_secret",
            Self::Apply { .. } => "apply",
            Self::List { .. } => "list",
            Self::Delete { .. } => "delete",
            Self::Status(_) => "status",
        }
    }
}

/// What the reconciler needs besides the platform.
pub struct Context {
    pub api: std::sync::Arc<dyn ClusterApi>,
    pub metrics: Metrics,
    /// Source of fresh secret values (random in production).
    pub secrets: Mutex<Box<dyn SecretSource + Send>>,
    /// Consecutive failures per platform (`namespace/name`), for backoff.
    failures: Mutex<BTreeMap<String, u32>>,
    /// Current time (a fixed or stepped clock in tests).
    pub clock: std::sync::Arc<dyn Fn() -> Time + Send + Sync>,
    /// Where the canary analysis reads Istio's metrics.
    pub canary_metrics: std::sync::Arc<dyn MetricsSource>,
}

impl Context {
    pub fn new(api: std::sync::Arc<dyn ClusterApi>, metrics: Metrics) -> Self {
        Self {
            api,
            metrics,
            secrets: Mutex::new(Box::new(secrets::RandomSecrets)),
            failures: Mutex::new(BTreeMap::new()),
            clock: std::sync::Arc::new(|| Time(k8s_openapi::jiff::Timestamp::now())),
            canary_metrics: std::sync::Arc::new(Prometheus::new(PROMETHEUS_TIMEOUT)),
        }
    }
}

/// The objects applied in this pass. Only [`apply`] constructs it.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct AppliedObjects(BTreeSet<(OwnedKind, String)>);

impl AppliedObjects {
    pub fn contains(&self, kind: OwnedKind, name: &str) -> bool {
        self.0.contains(&(kind, name.to_owned()))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Reconcile one platform: run the pipeline, record metrics and the failure count.
pub async fn reconcile(
    platform: &EcommercePlatform,
    ctx: &Context,
) -> Result<Action, ReconcileError> {
    let started = Instant::now();
    let result = pipeline(platform, ctx).await;
    ctx.metrics
        .observe(started.elapsed(), result.as_ref().err());
    if result.is_ok()
        && let Ok(mut failures) = ctx.failures.lock()
    {
        failures.remove(&key(platform));
    }
    result
}

/// Requeue after an error, waiting longer after each consecutive failure (5s doubling, ≤ 5m).
pub fn error_policy(platform: &EcommercePlatform, error: &ReconcileError, ctx: &Context) -> Action {
    let failures = ctx.failures.lock().map_or(1, |mut map| {
        let n = map.entry(key(platform)).or_insert(0);
        *n = n.saturating_add(1);
        *n
    });
    let delay = backoff(failures);
    warn!(platform = %key(platform), %error, ?delay, "reconcile failed");
    Action::requeue(delay)
}

/// Delay before retry number `failures` (1-based).
pub fn backoff(failures: u32) -> Duration {
    let exp = failures.saturating_sub(1).min(16);
    BACKOFF_BASE.saturating_mul(1 << exp).min(BACKOFF_MAX)
}

fn key(platform: &EcommercePlatform) -> String {
    format!(
        "{}/{}",
        platform.metadata.namespace.as_deref().unwrap_or_default(),
        platform.metadata.name.as_deref().unwrap_or_default()
    )
}

async fn pipeline(platform: &EcommercePlatform, ctx: &Context) -> Result<Action, ReconcileError> {
    let namespace = platform
        .metadata
        .namespace
        .clone()
        .ok_or(ReconcileError::NoNamespace)?;
    let api = ctx.api.as_ref();

    let inputs = match dereference(api, platform, &namespace).await {
        Ok(inputs) => inputs,
        Err(error) => return fail(platform, ctx, error).await,
    };
    let validated = {
        let validated = match ctx.secrets.lock() {
            Ok(mut source) => build::validate(platform, &inputs, source.as_mut()),
            Err(poisoned) => build::validate(platform, &inputs, poisoned.into_inner().as_mut()),
        };
        match validated {
            Ok(v) => v,
            Err(error) => {
                report_invalid(platform, ctx, &error).await?;
                return Ok(Action::requeue(INVALID_RECHECK));
            }
        }
    };
    let now = (ctx.clock)();
    let rollouts =
        match super::rollouts::plan(api, platform, &validated, ctx.canary_metrics.as_ref(), &now)
            .await
        {
            Ok(plan) => plan,
            Err(source) => {
                let error = ReconcileError::List {
                    kind: "Deployment/VirtualService",
                    source,
                };
                return fail(platform, ctx, error).await;
            }
        };
    let objects = build::build_with(&validated, &rollouts.traffic);
    let applied = match apply(api, &objects).await {
        Ok(applied) => applied,
        Err(error) => return fail(platform, ctx, error).await,
    };
    let observed = match cleanup_orphans(api, &validated.ownership, &applied).await {
        Ok(observed) => observed,
        Err(error) => return fail(platform, ctx, error).await,
    };
    let mut statuses = rollouts.statuses;
    super::rollouts::read_back(&mut statuses, &observed, &validated.ownership);
    let workloads = status::readiness(&observed);
    update_status(
        platform,
        ctx,
        &Outcome::Applied(&applied),
        &workloads,
        Some(statuses),
    )
    .await?;
    for e in rollouts.events {
        let type_ = match e.severity {
            Severity::Normal => EventType::Normal,
            Severity::Warning => EventType::Warning,
        };
        let event = PlatformEvent {
            type_,
            reason: e.reason.to_owned(),
            note: e.message,
            action: "Rollout".to_owned(),
        };
        if let Err(error) = ctx.api.publish_event(platform, &event).await {
            warn!(%error, reason = %event.reason, "could not publish event");
        }
    }
    if rollouts.in_flight {
        return Ok(Action::requeue(ROLLOUT_POLL));
    }
    Ok(Action::requeue(RESYNC))
}

/// Step 1: read the Secrets the spec names and the ones generated earlier.
pub async fn dereference(
    api: &dyn ClusterApi,
    platform: &EcommercePlatform,
    namespace: &str,
) -> Result<ClusterInputs, ReconcileError> {
    let read = |name: String| async move {
        api.get_secret(namespace, &name)
            .await
            .map_err(|source| ReconcileError::ReadSecret {
                name: name.clone(),
                source,
            })
    };
    let mut referenced = BTreeMap::new();
    for (_, name) in referenced_secrets(platform) {
        let keys = read(name.clone())
            .await?
            .map(|s| secrets::decode(&s).into_keys().collect());
        referenced.insert(name, keys);
    }
    let mut generated = BTreeMap::new();
    let instance = platform.metadata.name.clone().unwrap_or_default();
    for name in generated_secret_names(&instance) {
        if let Some(secret) = read(name.clone()).await? {
            generated.insert(name, secrets::decode(&secret));
        }
    }
    Ok(ClusterInputs {
        referenced: Some(referenced),
        generated,
    })
}

/// Step 4: server-side apply every object, in order.
pub async fn apply(
    api: &dyn ClusterApi,
    objects: &[DesiredObject],
) -> Result<AppliedObjects, ReconcileError> {
    let mut applied = BTreeSet::new();
    for object in objects {
        api.apply(object)
            .await
            .map_err(|source| ReconcileError::Apply {
                kind: object.kind().kind(),
                name: object.name().to_owned(),
                source,
            })?;
        applied.insert((object.kind(), object.name().to_owned()));
    }
    debug!(count = applied.len(), "applied");
    Ok(AppliedObjects(applied))
}

/// Step 5: delete what this platform owns but did not apply in this pass. Returns every owned
/// object still present, for the status step.
pub async fn cleanup_orphans(
    api: &dyn ClusterApi,
    ownership: &Ownership,
    applied: &AppliedObjects,
) -> Result<Vec<(OwnedKind, DynamicObject)>, ReconcileError> {
    let selector = ownership.owned_objects_selector();
    let mut kept = Vec::new();
    for kind in OwnedKind::ALL {
        let listed = match api.list_owned(kind, &ownership.namespace, &selector).await {
            Ok(listed) => listed,
            Err(error) if error.is_forbidden() => {
                warn!(kind = kind.kind(), %error, "may not list this kind; skipping its orphan cleanup");
                continue;
            }
            // Istio not installed: none of its objects can exist, so none can be orphaned.
            Err(error) if error.is_not_found() && kind.is_istio() => {
                debug!(
                    kind = kind.kind(),
                    "kind not served; skipping its orphan cleanup"
                );
                continue;
            }
            Err(source) => {
                return Err(ReconcileError::List {
                    kind: kind.kind(),
                    source,
                });
            }
        };
        for object in listed {
            let name = object.metadata.name.clone().unwrap_or_default();
            if is_orphan(kind, &object, &ownership.owner.uid, applied) {
                info!(kind = kind.kind(), %name, "deleting orphan");
                match api.delete(kind, &ownership.namespace, &name).await {
                    Ok(()) => {}
                    Err(error) if error.is_not_found() => {}
                    Err(source) => {
                        return Err(ReconcileError::Delete {
                            kind: kind.kind(),
                            name,
                            source,
                        });
                    }
                }
            } else {
                kept.push((kind, object));
            }
        }
    }
    Ok(kept)
}

/// Whether a listed object is this platform's and was not applied in this pass.
pub fn is_orphan(
    kind: OwnedKind,
    object: &DynamicObject,
    owner_uid: &str,
    applied: &AppliedObjects,
) -> bool {
    let owned_by_us = object
        .metadata
        .owner_references
        .iter()
        .flatten()
        .any(|r| r.uid == owner_uid && r.controller == Some(true));
    let name = object.metadata.name.as_deref().unwrap_or_default();
    owned_by_us && !applied.contains(kind, name)
}

/// Step 6: write status if it changed, and announce phase transitions as Events.
async fn update_status(
    platform: &EcommercePlatform,
    ctx: &Context,
    outcome: &Outcome<'_>,
    workloads: &[status::WorkloadReadiness],
    rollouts: Option<BTreeMap<String, RolloutStatus>>,
) -> Result<(), ReconcileError> {
    let current = platform.status.as_ref();
    let now = (ctx.clock)();
    let mut desired = status::desired_status(
        current,
        platform.metadata.generation,
        outcome,
        workloads,
        &now,
    );
    if let Some(rollouts) = rollouts {
        desired.rollouts = rollouts;
    }
    if current == Some(&desired) {
        debug!(platform = %key(platform), "status unchanged; not writing");
        return Ok(());
    }
    ctx.api
        .patch_status(platform, &desired)
        .await
        .map_err(ReconcileError::Status)?;
    let old_phase = current.and_then(|s| s.phase);
    let old_degraded_message = current.and_then(|s| {
        s.conditions
            .iter()
            .find(|c| c.type_ == status::DEGRADED && c.status == "True")
            .map(|c| c.message.clone())
    });
    let event = match (&desired.phase, outcome) {
        (_, Outcome::Invalid(m)) if old_degraded_message.as_ref() != Some(m) => {
            Some(event(EventType::Warning, "InvalidSpec", m.clone()))
        }
        (_, Outcome::Failed(m)) if old_degraded_message.as_ref() != Some(m) => {
            Some(event(EventType::Warning, "ReconcileFailed", m.clone()))
        }
        (Some(Phase::Ready), Outcome::Applied(_)) if old_phase != Some(Phase::Ready) => {
            Some(event(
                EventType::Normal,
                "Ready",
                "every component is ready".into(),
            ))
        }
        (Some(Phase::Progressing), Outcome::Applied(a))
            if old_phase != Some(Phase::Progressing) =>
        {
            Some(event(
                EventType::Normal,
                "Applied",
                format!("applied {} objects; waiting for components", a.len()),
            ))
        }
        _ => None,
    };
    if let Some(event) = event {
        // An event that cannot be published must not fail the reconcile.
        if let Err(error) = ctx.api.publish_event(platform, &event).await {
            warn!(%error, reason = %event.reason, "could not publish event");
        }
    }
    Ok(())
}

fn event(type_: EventType, reason: &str, note: String) -> PlatformEvent {
    PlatformEvent {
        type_,
        reason: reason.to_owned(),
        note,
        action: "Reconcile".to_owned(),
    }
}

async fn report_invalid(
    platform: &EcommercePlatform,
    ctx: &Context,
    error: &ValidationError,
) -> Result<(), ReconcileError> {
    warn!(platform = %key(platform), %error, "invalid spec; applying nothing");
    ctx.metrics.invalid_spec();
    update_status(
        platform,
        ctx,
        &Outcome::Invalid(error.to_string()),
        &[],
        None,
    )
    .await
}

/// Record a failure in status (best effort) and return it for the error policy.
async fn fail(
    platform: &EcommercePlatform,
    ctx: &Context,
    error: ReconcileError,
) -> Result<Action, ReconcileError> {
    if let Err(status_error) = update_status(
        platform,
        ctx,
        &Outcome::Failed(error.to_string()),
        &[],
        None,
    )
    .await
    {
        warn!(%status_error, "could not record the failure in status");
    }
    Err(error)
}
