//! The reconcile pipeline, one small step per module:
//! dereference (read) → validate (pure) → rollouts (decide) → build (pure) → apply → cleanup →
//! update status. Only dereference, apply, cleanup and update status touch the API, through
//! `ClusterApi`.
//!
//! Invariants: an invalid spec applies nothing; status is written only when it differs from the
//! stored one; only objects whose controller owner UID is this platform's are ever deleted; one
//! object the API server refuses does not stop the others.

mod apply;
mod cleanup;
mod dereference;
mod error;
mod update_status;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::runtime::controller::Action;
use tracing::warn;

pub use apply::{AppliedObjects, ApplyMemory};
pub use cleanup::is_orphan;
pub use error::ReconcileError;

use super::api::{ClusterApi, EventType, PlatformEvent};
use super::metrics::Metrics;
use super::notify;
use super::status::{self, Outcome};
use super::webhook::{HttpWebhooks, WebhookClient};
use crate::build::secrets::{self, SecretSource};
use crate::build::{self, ValidationError};
use crate::crd::{EcommercePlatform, PlatformStatus};
use crate::rollout::{MetricsSource, Prometheus, Severity};

/// How often a healthy platform is reconciled without any change (drift repair).
pub const RESYNC: Duration = Duration::from_secs(300);
/// How often an invalid spec (or a missing Istio) is re-checked: a missing Secret or CRD may
/// appear without a spec change.
pub const INVALID_RECHECK: Duration = Duration::from_secs(60);
/// How often a platform with a rollout in flight is reconciled (status writes do not trigger
/// reconciles, so the canary engine is driven by this timer and by Deployment changes).
pub const ROLLOUT_POLL: Duration = Duration::from_secs(10);
const PROMETHEUS_TIMEOUT: Duration = Duration::from_secs(5);
const BACKOFF_BASE: Duration = Duration::from_secs(5);
const BACKOFF_MAX: Duration = Duration::from_secs(300);

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
    /// Where rollout notifications and hooks are posted.
    pub webhooks: std::sync::Arc<dyn WebhookClient>,
    /// What this process applied last, so unchanged objects are not applied again.
    pub memory: ApplyMemory,
    /// The status this process last wrote, per platform (with the platform's UID). The watch
    /// cache may deliver the platform before it holds that write; the rollout engine's memory
    /// lives in status, so a pass on the stale copy could redo an analysis or undo a promotion.
    written: Mutex<BTreeMap<String, (String, PlatformStatus)>>,
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
            webhooks: std::sync::Arc::new(HttpWebhooks::default()),
            memory: ApplyMemory::default(),
            written: Mutex::new(BTreeMap::new()),
        }
    }

    /// `cached` with the status this process last wrote for it, when the cache lags behind.
    pub fn latest(&self, cached: &EcommercePlatform) -> EcommercePlatform {
        let mut platform = cached.clone();
        let uid = cached.metadata.uid.clone().unwrap_or_default();
        if let Ok(written) = self.written.lock()
            && let Some((written_uid, status)) = written.get(&key(cached))
            && *written_uid == uid
        {
            platform.status = Some(status.clone());
        }
        platform
    }

    fn remember_written(&self, platform: &EcommercePlatform, status: &PlatformStatus) {
        if let Ok(mut written) = self.written.lock() {
            let uid = platform.metadata.uid.clone().unwrap_or_default();
            written.insert(key(platform), (uid, status.clone()));
        }
    }
}

/// Reconcile one platform: run the pipeline, record metrics and the failure count.
pub async fn reconcile(
    platform: &EcommercePlatform,
    ctx: &Context,
) -> Result<Action, ReconcileError> {
    let started = Instant::now();
    let result = pipeline(platform, ctx).await;
    ctx.metrics.observe(
        started.elapsed(),
        result.as_ref().err().map(ReconcileError::metric_kind),
    );
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

async fn pipeline(cached: &EcommercePlatform, ctx: &Context) -> Result<Action, ReconcileError> {
    let namespace = cached
        .metadata
        .namespace
        .clone()
        .ok_or(ReconcileError::NoNamespace)?;
    let api = ctx.api.as_ref();

    let platform = &ctx.latest(cached);
    let found = match dereference::dereference(api, platform, &namespace).await {
        Ok(found) => found,
        Err(error) => return fail(platform, ctx, error).await,
    };
    let validated = match validate(platform, &found.inputs, ctx) {
        Ok(v) => v,
        Err(error) => {
            report_invalid(platform, ctx, &error).await?;
            return Ok(Action::requeue(INVALID_RECHECK));
        }
    };
    let now = (ctx.clock)();
    let rollouts = super::rollouts::decide(
        &found.owned,
        platform,
        &validated,
        ctx.canary_metrics.as_ref(),
        ctx.webhooks.as_ref(),
        &now,
    )
    .await;
    ctx.metrics
        .rollouts(&key(platform), &rollouts.failed, &rollouts.canary_weight);
    let objects = build::build_with(&validated, &rollouts.traffic);
    let applied = apply::apply(api, &objects, found.owned, &found.unserved, &ctx.memory).await;
    let kept = match cleanup::cleanup_orphans(api, &validated.ownership, &applied).await {
        Ok(kept) => kept,
        Err(error) => return fail(platform, ctx, error).await,
    };
    let mut statuses = rollouts.statuses;
    super::rollouts::read_back(&mut statuses, &kept, &validated);
    let workloads: Vec<_> = status::readiness(&kept)
        .into_iter()
        .filter(|w| applied.contains(w.kind, &w.name))
        .collect();
    let outcome = Outcome::Applied {
        objects: applied.len(),
        problems: &applied.problems,
    };
    update_status::update_status(platform, ctx, &outcome, &workloads, Some(statuses)).await?;
    // Only now that status records what the commands did: a failed removal (a command changed
    // meanwhile) leaves them for the next pass, which finds them handled or acts on the new one.
    if !rollouts.done_commands.is_empty()
        && let Err(error) = api
            .remove_annotations(platform, &rollouts.done_commands)
            .await
    {
        warn!(%error, "could not remove handled rollout commands");
    }
    if let Some(target) = &validated.webhook {
        notify::notify(
            api,
            ctx.webhooks.as_ref(),
            platform,
            target,
            &rollouts.events,
        )
        .await;
    }
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
    if applied.failed > 0 {
        let first = applied
            .problems
            .iter()
            .find(|p| p.reason == "ApplyFailed")
            .map(|p| p.message.clone())
            .unwrap_or_default();
        return Err(ReconcileError::Apply {
            failed: applied.failed,
            first,
        });
    }
    if rollouts.in_flight {
        return Ok(Action::requeue(ROLLOUT_POLL));
    }
    if !applied.problems.is_empty() {
        return Ok(Action::requeue(INVALID_RECHECK));
    }
    Ok(Action::requeue(RESYNC))
}

/// Step 2, validate: the checked, defaulted platform (secrets resolved from what dereference
/// read, missing ones generated).
fn validate(
    platform: &EcommercePlatform,
    inputs: &build::ClusterInputs,
    ctx: &Context,
) -> Result<build::ValidatedPlatform, ValidationError> {
    match ctx.secrets.lock() {
        Ok(mut source) => build::validate(platform, inputs, source.as_mut()),
        Err(poisoned) => build::validate(platform, inputs, poisoned.into_inner().as_mut()),
    }
}

async fn report_invalid(
    platform: &EcommercePlatform,
    ctx: &Context,
    error: &ValidationError,
) -> Result<(), ReconcileError> {
    warn!(platform = %key(platform), %error, "invalid spec; applying nothing");
    ctx.metrics.invalid_spec();
    update_status::update_status(
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
    if let Err(status_error) = update_status::update_status(
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
