//! The rollout step of the pipeline: from what dereference read of each tracked service (its
//! Deployments and the stored VirtualService), run the analysis when due and step the machine;
//! after apply, fill the status weights from the VirtualServices that apply returned (without
//! the mesh: from the Deployments' ready pods, whose share of the Service is the split).
//!
//! Invariant: the weights in `status.rollouts` come from stored objects, never from what this
//! pass intended.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::DynamicObject;
use tracing::warn;

use super::hooks::{self, HookContext};
use super::status;
use super::webhook::WebhookClient;
use crate::build::OwnedKind;
use crate::build::mesh::{RouteWeights, read_weights, routes_subset, types::VirtualServiceSpec};
use crate::build::replicas::pod_share;
use crate::build::traffic::{CANARY, STABLE, TRACK_LABEL, Track, Traffic};
use crate::build::validate::{MetricCheck, QueryValues, ValidatedPlatform, pods_of};
use crate::build::workloads::preview_name;
use crate::crd::{
    EcommercePlatform, HookType, Percent, RolloutPhase, RolloutStatus, RolloutStrategy,
};
use crate::rollout::analysis::{
    CanaryQuery, MetricsOrigin, MetricsSource, evaluate, range, with_hooks,
};
use crate::rollout::command::{self, Given};
use crate::rollout::machine::{self, Input, LiveTrack, Observed, RolloutEvent, Severity};

/// What the rollout step decided for every tracked service in this pass, from what the cluster
/// showed: the traffic the builders render, the statuses and events to publish.
#[derive(Debug, Default)]
pub struct RolloutDecisions {
    pub traffic: Traffic,
    pub statuses: BTreeMap<String, RolloutStatus>,
    pub events: Vec<RolloutEvent>,
    /// A rollout needs further passes soon.
    pub in_flight: bool,
    /// Per tracked service: its rollout failed and the spec still names the failed version.
    pub failed: BTreeMap<String, bool>,
    /// Per tracked service: the canary's share of traffic in the VirtualService as dereference
    /// read it (what the mesh routes now; this pass's change shows on the next one).
    pub canary_weight: BTreeMap<String, Percent>,
    /// Command annotations handled in this pass, as (key, value acted on): the controller
    /// removes them once the status that records what they did is written.
    pub done_commands: Vec<(String, String)>,
}

/// The objects of `kind` among those dereference read.
fn of_kind(owned: &[(OwnedKind, DynamicObject)], kind: OwnedKind) -> Vec<DynamicObject> {
    owned
        .iter()
        .filter(|(k, _)| *k == kind)
        .map(|(_, o)| o.clone())
        .collect()
}

fn named<'a>(objects: &'a [DynamicObject], name: &str) -> Option<&'a DynamicObject> {
    objects
        .iter()
        .find(|o| o.metadata.name.as_deref() == Some(name))
}

/// A stored Deployment of `track` (stable or canary) as the machine sees it.
fn live(object: &DynamicObject, track: &str) -> Option<LiveTrack> {
    let readiness = status::readiness(&[(OwnedKind::Deployment, object.clone())]);
    let d: Deployment = object.clone().try_parse().ok()?;
    let template = d.spec.map(|s| s.template);
    let labelled = template
        .as_ref()
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.labels.as_ref())
        .and_then(|l| l.get(TRACK_LABEL))
        .is_some_and(|t| t == track);
    let image = template
        .and_then(|t| t.spec)
        .and_then(|s| s.containers.into_iter().next())
        .and_then(|c| c.image)
        .unwrap_or_default();
    let r = readiness.first()?;
    Some(LiveTrack {
        version: r.version.clone(),
        image,
        ready: r.is_ready(),
        labelled,
        replicas: r.desired,
    })
}

fn stored_spec(vss: &[DynamicObject], name: &str) -> Option<VirtualServiceSpec> {
    serde_json::from_value(named(vss, name)?.data["spec"].clone()).ok()
}

/// Weights of a stored VirtualService's primary route (`None` when there is no such
/// VirtualService or route).
pub fn stored_weights(vss: &[DynamicObject], name: &str) -> Option<RouteWeights> {
    read_weights(&stored_spec(vss, name)?)
}

/// The custom checks' queries with the values of this analysis filled in.
fn custom_queries(checks: &[MetricCheck], query: &CanaryQuery) -> Vec<(String, String)> {
    let interval = range(query.window);
    let values = QueryValues {
        namespace: &query.namespace,
        service: &query.service,
        workload: &query.workload,
        version: &query.version,
        interval: &interval,
    };
    checks
        .iter()
        .map(|c| (c.name.clone(), c.query.render(&values)))
        .collect()
}

/// Step every tracked service's rollout, from the Deployments and VirtualServices that
/// dereference read (`owned`). The only I/O is the analysis' metrics query.
pub async fn decide(
    owned: &[(OwnedKind, DynamicObject)],
    platform: &EcommercePlatform,
    validated: &ValidatedPlatform,
    metrics: &dyn MetricsSource,
    webhooks: &dyn WebhookClient,
    now: &Time,
) -> RolloutDecisions {
    let mut out = RolloutDecisions::default();
    if !validated.services.iter().any(|s| s.is_tracked()) {
        return out;
    }
    let mesh = validated.mesh.is_some();
    let o = &validated.ownership;
    let deployments = of_kind(owned, OwnedKind::Deployment);
    let vss = of_kind(owned, OwnedKind::VirtualService);
    let services = of_kind(owned, OwnedKind::Service);
    let previous = platform
        .status
        .as_ref()
        .map(|s| s.rollouts.clone())
        .unwrap_or_default();
    let mut commands = platform
        .metadata
        .annotations
        .as_ref()
        .map(command::commands)
        .unwrap_or_default();
    for service in validated.services.iter().filter(|s| s.is_tracked()) {
        let name = service.component.name();
        let given = commands.remove(name);
        let command = match &given {
            Some(Given { command: Ok(c), .. }) => Some(*c),
            Some(Given {
                command: Err(error),
                ..
            }) => {
                out.events.push(RolloutEvent {
                    severity: Severity::Warning,
                    reason: "InvalidRolloutCommand",
                    message: format!("{}: {error}", command::annotation_key(name)),
                });
                None
            }
            None => None,
        };
        let stable_name = o.object_name(name);
        let canary_name = format!("{stable_name}-{CANARY}");
        let switch = !mesh && service.strategy == RolloutStrategy::BlueGreen;
        let observed = Observed {
            stable: named(&deployments, &stable_name).and_then(|d| live(d, STABLE)),
            canary: named(&deployments, &canary_name).and_then(|d| live(d, CANARY)),
            canary_weight: weights_of(mesh, switch, &vss, &services, &deployments, &stable_name)
                .map_or(Percent::ZERO, |w| w.canary),
            routes_stable_subset: if mesh {
                stored_spec(&vss, &stable_name).is_some_and(|spec| routes_subset(&spec, STABLE))
            } else if switch {
                // The Service's selector names a track once the stable pods carry theirs.
                selected_track(&services, &stable_name).is_some()
            } else {
                // No subset to wait for: the Service selects both tracks.
                true
            },
        };
        let mut input = Input {
            strategy: service.strategy,
            settings: &service.rollout,
            desired: Track {
                image: service.image.to_string(),
                version: service.version.clone(),
            },
            previous: previous.get(name),
            observed: &observed,
            now: now.0,
            analysis: None,
            command,
            pre_rollout: None,
            confirm: None,
        };
        let prev = input.previous;
        let versions = |s: Option<&RolloutStatus>| {
            s.map(|s| {
                (
                    s.canary.clone().unwrap_or_default(),
                    s.stable.clone().unwrap_or_default(),
                )
            })
            .unwrap_or_default()
        };
        let (canary_version, stable_version) = versions(prev);
        let hook_ctx = HookContext {
            platform: &o.instance,
            namespace: &o.namespace,
            service: name,
            canary: &canary_version,
            stable: &stable_version,
        };
        let hooks_of = &service.rollout.hooks;
        if machine::pre_rollout_due(&input) {
            input.pre_rollout =
                hooks::call(webhooks, hooks_of, HookType::PreRollout, &hook_ctx).await;
        }
        if machine::confirm_due(&input) {
            input.confirm =
                hooks::call(webhooks, hooks_of, HookType::ConfirmPromotion, &hook_ctx).await;
        }
        if machine::analysis_due(&input) {
            let query = CanaryQuery {
                prometheus_url: service.rollout.prometheus_url.clone(),
                namespace: o.namespace.clone(),
                service: stable_name.clone(),
                version: service.version.clone(),
                workload: canary_name.clone(),
                window: service.rollout.interval,
                custom: Vec::new(),
                business: Vec::new(),
                origin: if mesh {
                    MetricsOrigin::Istio
                } else {
                    MetricsOrigin::Service
                },
            };
            // `{{ service }}` stays the one Service; the built-in figures of a blue/green
            // preview also count what reached it through its preview Service.
            let window = range(service.rollout.interval);
            let business = service
                .rollout
                .business
                .iter()
                .map(|check| {
                    (
                        check.name.to_owned(),
                        check.promql(&o.namespace, &pods_of(&canary_name), &window),
                        check.promql(&o.namespace, &pods_of(&stable_name), &window),
                    )
                })
                .collect();
            let query = CanaryQuery {
                custom: custom_queries(&service.rollout.metrics, &query),
                business,
                service: if service.strategy == RolloutStrategy::BlueGreen {
                    format!("{stable_name}|{}", preview_name(validated, service))
                } else {
                    query.service.clone()
                },
                ..query
            };
            let result = metrics.canary_metrics(&query).await;
            if let Err(error) = &result {
                warn!(service = name, %error, "canary analysis: metrics unavailable");
            }
            let judged = evaluate(&result, &service.rollout, now);
            let tested = hooks::call(webhooks, hooks_of, HookType::Rollout, &hook_ctx).await;
            input.analysis = Some(with_hooks(judged, tested));
        }
        let decision = machine::step(&input);
        // Promoted or rolled back in this pass: the PostRollout hooks hear of it.
        let finished = decision.status.as_ref().filter(|s| {
            matches!(s.phase, RolloutPhase::Succeeded | RolloutPhase::RolledBack)
                && prev.is_some_and(|p| p.phase != s.phase)
        });
        if let Some(done) = finished {
            let (canary_version, stable_version) = versions(Some(done));
            let ctx = HookContext {
                canary: &canary_version,
                stable: &stable_version,
                ..hook_ctx
            };
            if let Some(Err(error)) =
                hooks::call(webhooks, hooks_of, HookType::PostRollout, &ctx).await
            {
                warn!(service = name, %error, "PostRollout hook refused");
                out.events.push(RolloutEvent {
                    severity: Severity::Warning,
                    reason: "PostRolloutHookFailed",
                    message: format!("{name}: PostRollout {error}"),
                });
            }
        }
        if decision.command_done
            && let Some(given) = given
        {
            out.done_commands
                .push((command::annotation_key(name), given.value));
        }
        let current = decision.status.as_ref().or(input.previous);
        out.failed.insert(
            name.to_owned(),
            current.is_some_and(|s| machine::failed(s, &input.desired)),
        );
        out.canary_weight
            .insert(name.to_owned(), observed.canary_weight);
        out.in_flight |= decision.in_flight();
        out.traffic.0.insert(service.component, decision.traffic);
        if let Some(s) = decision.status {
            out.statuses.insert(name.to_owned(), s);
        }
        // Several services can roll out at once: each event names its service.
        out.events.extend(decision.event.map(|mut e| {
            e.message = format!("{name}: {}", e.message);
            e
        }));
    }
    // Commands for services without a Canary or Manual rollout stay, with a warning.
    for name in commands.keys() {
        out.events.push(RolloutEvent {
            severity: Severity::Warning,
            reason: "RolloutCommandIgnored",
            message: format!(
                "{}: {name} has no Canary or Manual rollout to command",
                command::annotation_key(name)
            ),
        });
    }
    out
}

/// Without the mesh, the split the Service makes: each track's share of the ready pods of the
/// stored Deployments. `None` without a stable Deployment.
fn pod_weights(deployments: &[DynamicObject], stable_name: &str) -> Option<RouteWeights> {
    let ready = |name: &str| {
        named(deployments, name).map(|d| {
            status::readiness(&[(OwnedKind::Deployment, d.clone())])
                .first()
                .map_or(0, |r| r.ready)
        })
    };
    let stable = ready(stable_name)?;
    let canary = ready(&format!("{stable_name}-{CANARY}")).unwrap_or(0);
    let share = pod_share(stable, canary);
    Some(RouteWeights {
        stable: share.complement(),
        canary: share,
    })
}

/// The track label value a stored Service selects, if its selector names one.
fn selected_track(services: &[DynamicObject], name: &str) -> Option<String> {
    named(services, name)?.data["spec"]["selector"][TRACK_LABEL]
        .as_str()
        .map(str::to_owned)
}

/// The split as stored: the VirtualService's weights with the mesh; without it, a blue/green
/// Service's selector (all on the track it names), or else the Deployments' ready pods.
fn weights_of(
    mesh: bool,
    switch: bool,
    vss: &[DynamicObject],
    services: &[DynamicObject],
    deployments: &[DynamicObject],
    name: &str,
) -> Option<RouteWeights> {
    if mesh {
        return stored_weights(vss, name);
    }
    if switch {
        let on_canary = selected_track(services, name).as_deref() == Some(CANARY);
        let canary = if on_canary {
            Percent::HUNDRED
        } else {
            Percent::ZERO
        };
        return named(services, name).map(|_| RouteWeights {
            stable: canary.complement(),
            canary,
        });
    }
    pod_weights(deployments, name)
}

/// Fill each rollout's weights as stored after apply (see `weights_of`).
pub fn read_back(
    statuses: &mut BTreeMap<String, RolloutStatus>,
    observed: &[(OwnedKind, DynamicObject)],
    validated: &ValidatedPlatform,
) {
    let mesh = validated.mesh.is_some();
    let vss = of_kind(observed, OwnedKind::VirtualService);
    let deployments = of_kind(observed, OwnedKind::Deployment);
    let services = of_kind(observed, OwnedKind::Service);
    for (service, status) in statuses.iter_mut() {
        let name = validated.ownership.object_name(service);
        let switch = !mesh
            && validated
                .services
                .iter()
                .any(|s| s.component.name() == service && s.strategy == RolloutStrategy::BlueGreen);
        let weights = weights_of(mesh, switch, &vss, &services, &deployments, &name);
        status.stable_weight = weights.map(|w| w.stable);
        status.canary_weight = weights.map(|w| w.canary);
    }
}
