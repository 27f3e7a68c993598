//! Step 6, update status: compute the status from the outcome and the applied workloads, write it
//! only when it differs from the stored one, and announce phase transitions as Events.

use std::collections::BTreeMap;

use tracing::{debug, warn};

use super::{Context, ReconcileError, key};
use crate::controller::api::{EventType, PlatformEvent};
use crate::controller::status::{self, Outcome, WorkloadReadiness};
use crate::crd::{EcommercePlatform, Phase, RolloutStatus};
use crate::rollout::summary::summary;

/// Writes the status if it changed (`rollouts`: the rollout step's statuses, when it ran).
pub async fn update_status(
    platform: &EcommercePlatform,
    ctx: &Context,
    outcome: &Outcome<'_>,
    workloads: &[WorkloadReadiness],
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
    desired.rollout = summary(&desired.rollouts);
    if current == Some(&desired) {
        debug!(platform = %key(platform), "status unchanged; not writing");
        return Ok(());
    }
    ctx.api
        .patch_status(platform, &desired)
        .await
        .map_err(ReconcileError::Status)?;
    ctx.remember_written(platform, &desired);
    let old_phase = current.and_then(|s| s.phase);
    let old_degraded_message = current.and_then(|s| {
        s.conditions
            .iter()
            .find(|c| c.type_ == status::DEGRADED && c.status == "True")
            .map(|c| c.message.clone())
    });
    let new_degraded_message = desired
        .conditions
        .iter()
        .find(|c| c.type_ == status::DEGRADED && c.status == "True")
        .map(|c| (c.reason.clone(), c.message.clone()));
    let event = match (&desired.phase, outcome) {
        (_, Outcome::Invalid(m)) if old_degraded_message.as_ref() != Some(m) => {
            Some(event(EventType::Warning, "InvalidSpec", m.clone()))
        }
        (_, Outcome::Failed(m)) if old_degraded_message.as_ref() != Some(m) => {
            Some(event(EventType::Warning, "ReconcileFailed", m.clone()))
        }
        (Some(Phase::Degraded), Outcome::Applied { .. }) => new_degraded_message
            .filter(|(_, m)| old_degraded_message.as_ref() != Some(m))
            .map(|(reason, m)| event(EventType::Warning, &reason, m)),
        (Some(Phase::Ready), Outcome::Applied { .. }) if old_phase != Some(Phase::Ready) => {
            Some(event(
                EventType::Normal,
                "Ready",
                "every component is ready".into(),
            ))
        }
        (Some(Phase::Progressing), Outcome::Applied { objects, .. })
            if old_phase != Some(Phase::Progressing) =>
        {
            Some(event(
                EventType::Normal,
                "Applied",
                format!("applied {objects} objects; waiting for components"),
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

pub fn event(type_: EventType, reason: &str, note: String) -> PlatformEvent {
    PlatformEvent {
        type_,
        reason: reason.to_owned(),
        note,
        action: "Reconcile".to_owned(),
    }
}
