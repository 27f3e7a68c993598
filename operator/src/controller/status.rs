//! Status, as a pure function of the reconcile outcome and the owned workloads' status.
//!
//! Invariants: a condition keeps its `lastTransitionTime` while its status does not change, so a
//! steady state computes a status equal to the stored one (and the controller writes nothing);
//! the caller passes only the workloads this pass applied (see `reconcile::AppliedObjects`).

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::api::DynamicObject;

use crate::build::OwnedKind;
use crate::build::labels::{COMPONENT, VERSION};
use crate::build::traffic::{CANARY, TRACK_LABEL};
use crate::crd::{ComponentStatus, Phase, PlatformStatus};

pub const READY: &str = "Ready";
pub const PROGRESSING: &str = "Progressing";
pub const DEGRADED: &str = "Degraded";

/// Something this pass could not apply, for the Degraded condition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// PascalCase condition reason (`IstioNotInstalled`, `ApplyFailed`).
    pub reason: &'static str,
    /// What failed and what to do, for people.
    pub message: String,
}

/// How the pipeline ended.
#[derive(Debug)]
pub enum Outcome<'a> {
    /// The objects were applied (`problems` lists those that were not); readiness comes from
    /// the observed workloads.
    Applied {
        objects: usize,
        problems: &'a [Problem],
    },
    /// The spec is invalid; nothing was applied.
    Invalid(String),
    /// An API call failed mid-way.
    Failed(String),
}

/// Readiness of one workload (Deployment or StatefulSet).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkloadReadiness {
    pub kind: OwnedKind,
    pub name: String,
    pub component: String,
    pub version: String,
    pub ready: i32,
    pub desired: i32,
    /// The workload controller has seen the latest spec and every pod runs it.
    pub rolled_out: bool,
    /// A canary Deployment (reported under `rollouts`, not `components`).
    pub canary: bool,
}

impl WorkloadReadiness {
    pub fn is_ready(&self) -> bool {
        self.rolled_out && self.ready >= self.desired
    }
}

/// Readiness of the Deployments and StatefulSets among `objects` (other kinds are ignored,
/// and an object that does not decode counts as not ready).
pub fn readiness(objects: &[(OwnedKind, DynamicObject)]) -> Vec<WorkloadReadiness> {
    let mut out = Vec::new();
    for (kind, object) in objects {
        let labels = object.metadata.labels.clone().unwrap_or_default();
        let name = object.metadata.name.clone().unwrap_or_default();
        let generation = object.metadata.generation.unwrap_or(0);
        let (desired, ready, updated, observed) = match kind {
            OwnedKind::Deployment => {
                let Ok(d) = object.clone().try_parse::<Deployment>() else {
                    continue;
                };
                let desired = d.spec.and_then(|s| s.replicas).unwrap_or(1);
                let st = d.status.unwrap_or_default();
                (
                    desired,
                    st.ready_replicas.unwrap_or(0),
                    st.updated_replicas.unwrap_or(0),
                    st.observed_generation.unwrap_or(0),
                )
            }
            OwnedKind::StatefulSet => {
                let Ok(s) = object.clone().try_parse::<StatefulSet>() else {
                    continue;
                };
                let desired = s.spec.and_then(|s| s.replicas).unwrap_or(1);
                let st = s.status.unwrap_or_default();
                (
                    desired,
                    st.ready_replicas.unwrap_or(0),
                    st.updated_replicas.unwrap_or(0),
                    st.observed_generation.unwrap_or(0),
                )
            }
            _ => continue,
        };
        out.push(WorkloadReadiness {
            kind: *kind,
            name,
            component: labels.get(COMPONENT).cloned().unwrap_or_default(),
            version: labels.get(VERSION).cloned().unwrap_or_default(),
            ready,
            desired,
            rolled_out: observed >= generation && updated >= desired,
            canary: labels.get(TRACK_LABEL).is_some_and(|t| t == CANARY),
        });
    }
    out
}

/// The status the platform should have.
pub fn desired_status(
    current: Option<&PlatformStatus>,
    generation: Option<i64>,
    outcome: &Outcome<'_>,
    workloads: &[WorkloadReadiness],
    now: &Time,
) -> PlatformStatus {
    let previous = current.cloned().unwrap_or_default();
    let mut components = BTreeMap::new();
    let (mut ready_count, mut total) = (0, 0);
    for w in workloads {
        if w.canary {
            continue;
        }
        total += 1;
        if w.is_ready() {
            ready_count += 1;
        }
        components.insert(
            w.component.clone(),
            ComponentStatus {
                ready: format!("{}/{}", w.ready, w.desired),
                version: w.version.clone(),
            },
        );
    }
    let all_ready = ready_count == total;
    let (phase, ready, progressing, degraded) = match outcome {
        Outcome::Invalid(message) => (
            Phase::Degraded,
            cond(READY, false, "InvalidSpec", message),
            cond(
                PROGRESSING,
                false,
                "InvalidSpec",
                "nothing is applied until the spec is fixed",
            ),
            cond(DEGRADED, true, "InvalidSpec", message),
        ),
        Outcome::Failed(message) => (
            Phase::Degraded,
            cond(READY, all_ready && total > 0, "ReconcileFailed", message),
            cond(
                PROGRESSING,
                false,
                "ReconcileFailed",
                "retrying with backoff",
            ),
            cond(DEGRADED, true, "ReconcileFailed", message),
        ),
        Outcome::Applied { problems, .. } if !problems.is_empty() => {
            let message = problems
                .iter()
                .map(|p| p.message.as_str())
                .collect::<Vec<_>>()
                .join("; ");
            let reason = problems[0].reason;
            (
                Phase::Degraded,
                cond(
                    READY,
                    all_ready && total > 0,
                    if all_ready {
                        "AllComponentsReady"
                    } else {
                        reason
                    },
                    &format!("{ready_count} of {total} components ready"),
                ),
                cond(PROGRESSING, !all_ready, reason, &message),
                cond(DEGRADED, true, reason, &message),
            )
        }
        Outcome::Applied { .. } if total == 0 => (
            Phase::Pending,
            cond(READY, false, "NoComponents", "no component is enabled"),
            cond(
                PROGRESSING,
                false,
                "NoComponents",
                "no component is enabled",
            ),
            cond(DEGRADED, false, "Reconciled", "all objects applied"),
        ),
        Outcome::Applied { .. } if all_ready => (
            Phase::Ready,
            cond(
                READY,
                true,
                "AllComponentsReady",
                &format!("{total} components ready"),
            ),
            cond(
                PROGRESSING,
                false,
                "AllComponentsReady",
                "nothing in progress",
            ),
            cond(DEGRADED, false, "Reconciled", "all objects applied"),
        ),
        Outcome::Applied { .. } => {
            let waiting: Vec<&str> = workloads
                .iter()
                .filter(|w| !w.is_ready())
                .map(|w| w.component.as_str())
                .collect();
            let message = format!("waiting for {}", waiting.join(", "));
            (
                Phase::Progressing,
                cond(READY, false, "ComponentsNotReady", &message),
                cond(PROGRESSING, true, "ComponentsNotReady", &message),
                cond(DEGRADED, false, "Reconciled", "all objects applied"),
            )
        }
    };
    let conditions = [ready, progressing, degraded]
        .into_iter()
        .map(|c| stamp(c, &previous.conditions, generation, now))
        .collect();
    // On failure the components last seen stay in status rather than vanish.
    let (components, ready_components) = match outcome {
        Outcome::Applied { .. } => (components, Some(format!("{ready_count}/{total}"))),
        _ => (
            previous.components.clone(),
            previous.ready_components.clone(),
        ),
    };
    PlatformStatus {
        observed_generation: generation,
        phase: Some(phase),
        conditions,
        components,
        rollout: previous.rollout,
        rollouts: previous.rollouts,
        ready_components,
    }
}

fn cond(type_: &str, status: bool, reason: &str, message: &str) -> Condition {
    Condition {
        type_: type_.to_owned(),
        status: if status { "True" } else { "False" }.to_owned(),
        reason: reason.to_owned(),
        message: message.to_owned(),
        last_transition_time: Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH),
        observed_generation: None,
    }
}

/// Set generation and transition time, keeping the old time if the status did not change.
fn stamp(
    mut c: Condition,
    previous: &[Condition],
    generation: Option<i64>,
    now: &Time,
) -> Condition {
    c.observed_generation = generation;
    c.last_transition_time = previous
        .iter()
        .find(|p| p.type_ == c.type_ && p.status == c.status)
        .map_or_else(|| now.clone(), |p| p.last_transition_time.clone());
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(
        generation: i64,
        observed: i64,
        replicas: i32,
        ready: i32,
    ) -> (OwnedKind, DynamicObject) {
        let object = serde_json::from_value(json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "shop-catalog", "generation": generation, "labels": {
                "app.kubernetes.io/component": "catalog", "app.kubernetes.io/version": "0.2.0"}},
            "spec": {"replicas": replicas, "selector": {}, "template": {}},
            "status": {"observedGeneration": observed, "readyReplicas": ready, "updatedReplicas": replicas},
        }))
        .unwrap();
        (OwnedKind::Deployment, object)
    }

    fn time(s: &str) -> Time {
        Time(s.parse().unwrap())
    }

    #[test]
    fn a_workload_whose_new_spec_is_not_yet_observed_is_not_ready() {
        let w = readiness(&[deployment(3, 2, 2, 2)]);
        assert_eq!(w[0].ready, 2);
        assert!(
            !w[0].is_ready(),
            "old pods being ready says nothing about the new spec"
        );
        assert!(readiness(&[deployment(3, 3, 2, 2)])[0].is_ready());
        assert_eq!(w[0].version, "0.2.0");
    }

    #[test]
    fn a_problem_makes_the_platform_degraded_and_names_it_while_components_stay_ready() {
        let problems = [Problem {
            reason: "IstioNotInstalled",
            message: "Istio is not installed".into(),
        }];
        let ready = readiness(&[deployment(1, 1, 2, 2)]);
        let status = desired_status(
            None,
            Some(1),
            &Outcome::Applied {
                objects: 10,
                problems: &problems,
            },
            &ready,
            &time("2026-01-01T00:00:00Z"),
        );
        assert_eq!(status.phase, Some(Phase::Degraded));
        let get = |t: &str| status.conditions.iter().find(|c| c.type_ == t).unwrap();
        assert_eq!(get(DEGRADED).status, "True");
        assert_eq!(get(DEGRADED).reason, "IstioNotInstalled");
        assert_eq!(get(DEGRADED).message, "Istio is not installed");
        assert_eq!(
            get(READY).status,
            "True",
            "the components themselves are ready"
        );
        assert_eq!(status.ready_components.as_deref(), Some("1/1"));
    }

    #[test]
    fn conditions_keep_their_transition_time_while_their_status_holds() {
        let outcome = Outcome::Invalid("fix it".into());
        let first = desired_status(None, Some(1), &outcome, &[], &time("2026-01-01T00:00:00Z"));
        let again = desired_status(
            Some(&first),
            Some(1),
            &outcome,
            &[],
            &time("2026-01-01T00:05:00Z"),
        );
        assert_eq!(first, again, "nothing changed, so nothing to write");

        let fixed = desired_status(
            Some(&first),
            Some(2),
            &Outcome::Applied {
                objects: 0,
                problems: &[],
            },
            &[],
            &time("2026-01-01T00:10:00Z"),
        );
        let degraded = fixed
            .conditions
            .iter()
            .find(|c| c.type_ == DEGRADED)
            .unwrap();
        assert_eq!(degraded.status, "False");
        assert_eq!(degraded.last_transition_time, time("2026-01-01T00:10:00Z"));
        assert_eq!(degraded.observed_generation, Some(2));
    }

    #[test]
    fn a_failure_keeps_the_last_known_components() {
        let mut previous = PlatformStatus::default();
        previous.components.insert(
            "web".into(),
            ComponentStatus {
                ready: "1/1".into(),
                version: "1".into(),
            },
        );
        let failed = desired_status(
            Some(&previous),
            Some(1),
            &Outcome::Failed("boom".into()),
            &[],
            &time("2026-01-01T00:00:00Z"),
        );
        assert_eq!(failed.phase, Some(Phase::Degraded));
        assert_eq!(failed.components, previous.components);
    }
}
