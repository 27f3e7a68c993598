//! The rollout state machine of one service, pure: previous status + spec + what the cluster
//! shows + the clock + (when due) an analysis result in; next status, the traffic the builders
//! must render, and an Event out.
//!
//! Invariants: a route names the stable subset only once the stable pods carry its label, and
//! no canary exists before that; a route points at the canary only after its pods were seen
//! ready at the canary version; every analysis also checks that they still are, and `failureThreshold` failed
//! checks over the rollout roll it back; routes are removed (and read back as 0) before the subset and the canary Deployment
//! go; a rolled-back version is not retried while the spec still asks for it; everything the
//! machine needs to continue after a restart is in the returned `RolloutStatus`.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

use super::analysis::Verdict;
use super::command::Command;
use crate::build::traffic::{Canary, STABLE, ServiceTraffic, TRACK_LABEL, Track};
use crate::build::validate::CanarySettings;
use crate::crd::{
    AnalysisResult, AnalysisStatus, HookType, Percent, RolloutPhase, RolloutStatus, RolloutStrategy,
};

/// A Deployment of the service as the cluster shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveTrack {
    pub version: String,
    pub image: String,
    /// Rolled out and every desired pod ready.
    pub ready: bool,
    /// Its pod template carries its track label (`storefront.dev/track`).
    pub labelled: bool,
    /// Desired pods, as the Deployment (or its HPA) has them.
    pub replicas: i32,
}

/// What the cluster shows for one service before this pass applies anything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Observed {
    pub stable: Option<LiveTrack>,
    pub canary: Option<LiveTrack>,
    /// Canary weight of the stored VirtualService's primary route (0 when there is no route to
    /// the canary or no VirtualService).
    pub canary_weight: Percent,
    /// The stored VirtualService's primary route names the subset `stable`.
    pub routes_stable_subset: bool,
}

impl LiveTrack {
    /// Whether this Deployment runs `track` (same version and image).
    pub fn runs(&self, track: &Track) -> bool {
        track.same_as(&Track {
            image: self.image.clone(),
            version: self.version.clone(),
        })
    }
}

impl Observed {
    /// Whether routes may name the subset `stable`: it was routed before (its pods kept the
    /// label), or every stable pod carries the label and is ready, or no stable pod exists yet
    /// (they will be created with the label).
    fn stable_subset_ready(&self) -> bool {
        self.routes_stable_subset
            || self
                .stable
                .as_ref()
                .is_none_or(|live| live.labelled && live.ready)
    }
}

/// Everything one step of the machine looks at.
#[derive(Clone, Debug)]
pub struct Input<'a> {
    pub strategy: RolloutStrategy,
    pub settings: &'a CanarySettings,
    /// The version (and image) the spec asks for.
    pub desired: Track,
    pub previous: Option<&'a RolloutStatus>,
    pub observed: &'a Observed,
    pub now: Timestamp,
    /// The analysis of this interval, when `analysis_due` said so and the caller ran it.
    pub analysis: Option<(Verdict, AnalysisStatus)>,
    /// What a person asked by annotation (`command.rs`), if anything.
    pub command: Option<Command>,
    /// The PreRollout hooks' answer, when `pre_rollout_due` said so and the caller ran them.
    pub pre_rollout: Option<Result<(), String>>,
    /// The ConfirmPromotion hooks' answer, when `confirm_due` said so and the caller ran them.
    pub confirm: Option<Result<(), String>>,
}

fn has_hooks(settings: &CanarySettings, type_: HookType) -> bool {
    settings.hooks.iter().any(|h| h.type_ == type_)
}

/// Whether this pass should call the PreRollout hooks: the canary's pods are ready and no route
/// reaches them yet; after a refusal, one interval later.
pub fn pre_rollout_due(input: &Input<'_>) -> bool {
    has_hooks(input.settings, HookType::PreRollout)
        && !matches!(input.command, Some(Command::Pause | Command::Abort))
        && input.observed.stable_subset_ready()
        && input.previous.is_some_and(|s| {
            let canary = canary_track(s);
            s.phase == RolloutPhase::Initializing
                && s.paused != Some(true)
                && canary.same_as(&input.desired)
                && input
                    .observed
                    .canary
                    .as_ref()
                    .is_some_and(|c| c.ready && c.runs(&canary))
                && (s.failed_checks.unwrap_or(0) == 0
                    || elapsed(s.step_started_at.as_ref(), input.now) >= input.settings.interval)
        })
}

/// Whether this pass should call the ConfirmPromotion hooks: an analysis of the last step is
/// due (they gate the promotion it may decide).
pub fn confirm_due(input: &Input<'_>) -> bool {
    has_hooks(input.settings, HookType::ConfirmPromotion)
        && analysis_due(input)
        && input.previous.is_some_and(|s| {
            usize::try_from(s.step.unwrap_or(0)).unwrap_or(0) >= input.settings.steps.count()
        })
}

/// Severity of a rollout event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Normal,
    Warning,
}

/// An Event to publish about the rollout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RolloutEvent {
    pub severity: Severity,
    pub reason: &'static str,
    pub message: String,
}

/// The machine's decision.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    /// Status of the rollout; `None` when the service never had one.
    pub status: Option<RolloutStatus>,
    pub traffic: ServiceTraffic,
    pub event: Option<RolloutEvent>,
    /// The one-shot command of the input was handled (acted on, or nothing to act on): the
    /// controller removes its annotation.
    pub command_done: bool,
}

impl Decision {
    /// Whether the rollout still needs passes (the controller requeues soon).
    pub fn in_flight(&self) -> bool {
        // A paused rollout waits for its annotation to change, which wakes the controller.
        if self.status.as_ref().is_some_and(|s| s.paused == Some(true)) {
            return false;
        }
        match self.status.as_ref().map(|s| s.phase) {
            // A Manual canary holds its weight: a spec edit (a new generation) or a change of
            // its pods wakes the controller, so nothing needs a timer.
            Some(RolloutPhase::Manual) => false,
            Some(phase) if is_active(phase) => true,
            _ => self.traffic.canary.is_some(),
        }
    }
}

fn is_active(phase: RolloutPhase) -> bool {
    matches!(
        phase,
        RolloutPhase::Initializing
            | RolloutPhase::Progressing
            | RolloutPhase::Promoting
            | RolloutPhase::Finalizing
            | RolloutPhase::RollingBack
            | RolloutPhase::Manual
    )
}

fn time(now: Timestamp) -> Time {
    Time(now)
}

fn elapsed(since: Option<&Time>, now: Timestamp) -> std::time::Duration {
    since
        .and_then(|t| now.duration_since(t.0).try_into().ok())
        .unwrap_or_default()
}

/// Whether this pass should run an analysis (Canary, Progressing, one interval after the step
/// started or after the last analysis, so each check covers its own interval; not while paused,
/// nor on the pass that resumes, promotes or aborts).
pub fn analysis_due(input: &Input<'_>) -> bool {
    stepped(input.strategy)
        && !matches!(
            input.command,
            Some(Command::Pause | Command::Promote | Command::Abort)
        )
        && input.previous.is_some_and(|s| {
            let last_check = s.last_analysis.as_ref().map(|a| &a.time);
            let since = match (s.step_started_at.as_ref(), last_check) {
                (Some(step), Some(check)) => Some(step.max(check)),
                (step, check) => step.or(check),
            };
            s.phase == RolloutPhase::Progressing
                && s.paused != Some(true)
                && canary_track(s).same_as(&input.desired)
                && elapsed(since, input.now) >= input.settings.interval
        })
}

/// Strategies that go through steps with an analysis at each: Canary, and BlueGreen (preview,
/// then switch).
fn stepped(strategy: RolloutStrategy) -> bool {
    matches!(
        strategy,
        RolloutStrategy::Canary | RolloutStrategy::BlueGreen
    )
}

/// The stable track of a status; its image, if the status lacks it, from the live Deployment.
fn stable_track(s: &RolloutStatus, observed: &Observed) -> Track {
    let version = s.stable.clone().unwrap_or_default();
    let image = s.stable_image.clone().unwrap_or_else(|| {
        observed
            .stable
            .as_ref()
            .filter(|live| live.version == version)
            .map(|live| live.image.clone())
            .unwrap_or_default()
    });
    Track { image, version }
}

fn canary_track(s: &RolloutStatus) -> Track {
    Track {
        image: s.canary_image.clone().unwrap_or_default(),
        version: s.canary.clone().unwrap_or_default(),
    }
}

fn event(severity: Severity, reason: &'static str, message: String) -> Option<RolloutEvent> {
    Some(RolloutEvent {
        severity,
        reason,
        message,
    })
}

/// The rollout has failed and nobody has acted yet: it is rolling back, or it rolled back and
/// the spec still names the version that failed (which the machine will not retry). Setting the
/// version back to stable, or to a new one, clears it. What `storefront_rollout_failed` reports.
pub fn failed(status: &RolloutStatus, desired: &Track) -> bool {
    match status.phase {
        RolloutPhase::RollingBack => true,
        RolloutPhase::RolledBack => desired.same_as(&canary_track(status)),
        _ => false,
    }
}

/// One step of the machine.
pub fn step(input: &Input<'_>) -> Decision {
    let mut decision = decide(input);
    decision.traffic.stable_subset =
        decision.traffic.canary.is_some() || input.observed.stable_subset_ready();
    decision.traffic.stable_replicas = input.observed.stable.as_ref().map(|l| l.replicas);
    if let Some(s) = decision.status.as_mut() {
        s.steps = stepped(input.strategy)
            .then(|| i32::try_from(input.settings.steps.count()).unwrap_or(i32::MAX));
        // The mirror step copies requests beside its (0%) route, while it progresses or pauses.
        let step = usize::try_from(s.step.unwrap_or(0)).unwrap_or(0);
        let mirror = (input.strategy == RolloutStrategy::Canary
            && s.phase == RolloutPhase::Progressing)
            .then(|| input.settings.steps.mirror_at(step))
            .flatten();
        let canary = decision
            .traffic
            .canary
            .as_mut()
            .filter(|c| c.weight.is_some());
        s.mirror = canary.and_then(|c| {
            c.mirror = mirror;
            mirror
        });
    }
    // A one-shot command that found no rollout before promotion to act on, and will not find
    // one on a later pass either: say so, and let the controller remove it.
    if let Some(command) = input.command.filter(|c| c.is_one_shot())
        && !decision.command_done
        && !decision
            .status
            .as_ref()
            .is_some_and(|s| before_promotion(s.phase))
    {
        decision.command_done = true;
        if command != Command::Resume && decision.event.is_none() {
            let phase = decision
                .status
                .as_ref()
                .map_or_else(|| "none".to_owned(), |s| format!("{:?}", s.phase));
            decision.event = event(
                Severity::Warning,
                "RolloutCommandIgnored",
                format!("{command} ignored: no rollout before promotion to act on (phase {phase})"),
            );
        }
    }
    decision
}

/// Phases in which commands act: the canary exists and nothing was promoted yet.
fn before_promotion(phase: RolloutPhase) -> bool {
    matches!(
        phase,
        RolloutPhase::Initializing | RolloutPhase::Progressing | RolloutPhase::Manual
    )
}

fn decide(input: &Input<'_>) -> Decision {
    let desired = &input.desired;
    let Some(prev) = input.previous.filter(|s| s.stable.is_some()) else {
        return first_sight(input);
    };
    let stable = stable_track(prev, input.observed);
    let canary = canary_track(prev);
    let mut s = prev.clone();
    let now = input.now;

    // Terminal phases: a new version starts a rollout; nothing else moves.
    if !is_active(prev.phase) {
        let retry_blocked = prev.phase == RolloutPhase::RolledBack && desired.same_as(&canary);
        if desired.same_as(&stable) || retry_blocked {
            return settled(s, stable, input.observed, event_none());
        }
        return start(input, stable, "RolloutStarted");
    }

    let spec_moved = !desired.same_as(&canary);
    if spec_moved && before_promotion(prev.phase) {
        if desired.same_as(&stable) {
            s.phase = RolloutPhase::Aborted;
            s.step_started_at = Some(time(now));
            s.message = Some(format!(
                "aborted: version set back to stable {}; removing canary {}",
                stable.version, canary.version
            ));
            let msg = s.message.clone().unwrap_or_default();
            return unroute(
                s,
                stable,
                canary,
                event(Severity::Normal, "RolloutAborted", msg),
            );
        }
        return start(input, stable, "RolloutRestarted");
    }

    // The spec (above) wins over commands; they act only before promotion.
    if !before_promotion(prev.phase) {
        return by_phase(input, prev, s, stable, canary);
    }
    let was_paused = s.paused == Some(true);
    match input.command {
        Some(Command::Abort) => {
            s.paused = None;
            let mut d = roll_back(
                s,
                stable,
                canary,
                now,
                "aborted by command; traffic is back on stable".to_owned(),
            );
            if let Some(e) = d.event.as_mut() {
                e.reason = "RolloutAbortedByCommand";
            }
            d.command_done = true;
            d
        }
        Some(Command::Promote) if prev.phase != RolloutPhase::Initializing => {
            s.paused = None;
            s.phase = RolloutPhase::Promoting;
            s.step_started_at = Some(time(now));
            s.message = Some(format!(
                "promoted by command; {} becomes stable",
                canary.version
            ));
            let msg = s.message.clone().unwrap_or_default();
            let weight = input.observed.canary_weight;
            let mut d = promoting(s, canary, input.observed, weight);
            d.event = event(Severity::Normal, "RolloutPromotedByCommand", msg);
            d.command_done = true;
            d
        }
        Some(Command::Pause) => paused(input, s, stable, canary, was_paused),
        // Anything else continues as the phase says; a paused rollout resumes (a resume
        // command, or the pause annotation gone), its step and deadlines counting from now.
        command => {
            let mut resumed = None;
            if was_paused {
                s.paused = None;
                s.step_started_at = Some(time(now));
                let msg = format!("resumed canary {}", canary.version);
                resumed = event(Severity::Normal, "RolloutResumed", msg);
            }
            let mut d = by_phase(input, prev, s, stable, canary);
            d.command_done = command == Some(Command::Resume);
            if d.event.is_none() {
                d.event = resumed;
            }
            d
        }
    }
}

/// Hold the rollout where it is: the traffic it has, no analysis, no transition.
fn paused(
    input: &Input<'_>,
    mut s: RolloutStatus,
    stable: Track,
    canary: Track,
    was_paused: bool,
) -> Decision {
    s.paused = Some(true);
    let step = s.step.unwrap_or(1).max(1);
    let step_weight = input
        .settings
        .steps
        .weight_of(usize::try_from(step).unwrap_or(1));
    let held = match s.phase {
        RolloutPhase::Progressing => Some((
            step_weight,
            format!(
                "paused at step {step} ({step_weight}% on {})",
                canary.version
            ),
        )),
        RolloutPhase::Manual => {
            let weight = input.settings.canary_weight;
            Some((weight, format!("paused at {weight}% on {}", canary.version)))
        }
        _ => None,
    };
    let message = held.as_ref().map_or_else(
        || format!("paused before canary {} takes traffic", canary.version),
        |(_, m)| m.clone(),
    );
    s.message = Some(format!("{message}; resume to continue"));
    let msg = s.message.clone().unwrap_or_default();
    let mut d = match held {
        Some((weight, _)) => routed(s, stable, canary, weight, None),
        None if input.observed.stable_subset_ready() => canary_unrouted(s, stable, canary, None),
        None => waiting_for_stable(s, stable),
    };
    if !was_paused {
        d.event = event(Severity::Normal, "RolloutPaused", msg);
    }
    d
}

/// The phase's own step, when no command decided the pass.
fn by_phase(
    input: &Input<'_>,
    prev: &RolloutStatus,
    mut s: RolloutStatus,
    stable: Track,
    canary: Track,
) -> Decision {
    let now = input.now;
    match prev.phase {
        RolloutPhase::Initializing if !input.observed.stable_subset_ready() => {
            s.message = Some(waiting_message(&canary));
            // The canary's progressDeadline starts when the canary can.
            s.step_started_at = Some(time(now));
            waiting_for_stable(s, stable)
        }
        RolloutPhase::Initializing => {
            let ready = input
                .observed
                .canary
                .as_ref()
                .is_some_and(|c| c.ready && c.runs(&canary));
            if ready && has_hooks(input.settings, HookType::PreRollout) {
                match &input.pre_rollout {
                    Some(Ok(())) => {}
                    Some(Err(reason)) => {
                        s.step_started_at = Some(time(now));
                        let (count, over) = count_failed(&mut s, input.settings);
                        if over {
                            return roll_back(
                                s,
                                stable,
                                canary,
                                now,
                                format!("PreRollout {reason} ({count})"),
                            );
                        }
                        s.message = Some(format!(
                            "no traffic to canary {} yet: PreRollout {reason} ({count}); asked again in one interval",
                            canary.version
                        ));
                        return canary_unrouted(s, stable, canary, event_none());
                    }
                    // Between two attempts: no route yet.
                    None => return canary_unrouted(s, stable, canary, event_none()),
                }
            }
            if ready {
                let (phase, weight, step) = match input.strategy {
                    RolloutStrategy::Manual => {
                        (RolloutPhase::Manual, input.settings.canary_weight, 0)
                    }
                    _ => (RolloutPhase::Progressing, input.settings.steps.first(), 1),
                };
                s.phase = phase;
                s.step = Some(step);
                s.step_started_at = Some(time(now));
                s.message = Some(match input.settings.steps.mirror_at(1) {
                    _ if input.strategy == RolloutStrategy::BlueGreen => format!(
                        "preview {} ready on its preview Service; no traffic switched yet",
                        canary.version
                    ),
                    Some(mirror) if phase == RolloutPhase::Progressing => format!(
                        "canary {} ready; {mirror}% of the stable requests mirrored to it, none routed",
                        canary.version
                    ),
                    _ => format!("canary {} ready; {weight}% of traffic", canary.version),
                });
                return routed(s, stable, canary, weight, event_none());
            }
            if elapsed(prev.step_started_at.as_ref(), now) > input.settings.progress_deadline {
                return roll_back(
                    s,
                    stable,
                    canary,
                    now,
                    "canary pods were not ready within progressDeadline".to_owned(),
                );
            }
            s.message = Some(format!("waiting for canary {} pods", canary.version));
            canary_unrouted(s, stable, canary, event_none())
        }
        RolloutPhase::Manual => {
            let weight = input.settings.canary_weight;
            if weight == Percent::HUNDRED {
                s.phase = RolloutPhase::Promoting;
                s.step_started_at = Some(time(now));
                s.message = Some(format!("canaryWeight 100: promoting {}", canary.version));
                return promoting(s, canary, input.observed, Percent::HUNDRED);
            }
            s.message = Some(format!(
                "manual: {weight}% of traffic on {}",
                canary.version
            ));
            routed(s, stable, canary, weight, event_none())
        }
        RolloutPhase::Progressing => progressing(input, s, stable, canary),
        RolloutPhase::Promoting => {
            let weight = input.observed.canary_weight;
            promoting(s, canary, input.observed, weight)
        }
        RolloutPhase::Finalizing => {
            if input.observed.canary_weight == Percent::ZERO {
                s.phase = RolloutPhase::Succeeded;
                s.stable = Some(canary.version.clone());
                s.stable_image = Some(canary.image.clone());
                s.step_started_at = Some(time(now));
                s.message = Some(format!("promoted {}", canary.version));
                let msg = format!("{} is now stable", canary.version);
                return settled(
                    s,
                    canary,
                    input.observed,
                    event(Severity::Normal, "RolloutPromoted", msg),
                );
            }
            unroute(s, canary.clone(), canary, event_none())
        }
        RolloutPhase::RollingBack => {
            if input.observed.canary_weight == Percent::ZERO {
                s.phase = RolloutPhase::RolledBack;
                return settled(s, stable, input.observed, event_none());
            }
            unroute(s, stable, canary, event_none())
        }
        // Aborted while its route was still read back: keep removing.
        RolloutPhase::Aborted | RolloutPhase::Succeeded | RolloutPhase::RolledBack => {
            settled(s, stable, input.observed, event_none())
        }
    }
}

fn event_none() -> Option<RolloutEvent> {
    None
}

fn first_sight(input: &Input<'_>) -> Decision {
    // No rollout ever: the running Deployment (if any) is the stable version.
    match &input.observed.stable {
        Some(live) if !live.runs(&input.desired) => {
            let stable = Track {
                image: live.image.clone(),
                version: live.version.clone(),
            };
            start(input, stable, "RolloutStarted")
        }
        _ => Decision {
            status: None,
            traffic: ServiceTraffic {
                stable: Some(input.desired.clone()),
                canary: None,
                stable_subset: false,
                stable_replicas: None,
            },
            event: None,
            command_done: false,
        },
    }
}

fn start(input: &Input<'_>, stable: Track, reason: &'static str) -> Decision {
    let now = time(input.now);
    let canary = input.desired.clone();
    let s = RolloutStatus {
        phase: RolloutPhase::Initializing,
        canary_weight: None,
        stable_weight: None,
        step: Some(0),
        stable: Some(stable.version.clone()),
        canary: Some(canary.version.clone()),
        canary_image: Some(canary.image.clone()),
        stable_image: Some(stable.image.clone()),
        started_at: Some(now.clone()),
        step_started_at: Some(now),
        failed_checks: None,
        last_analysis: None,
        steps: None,
        mirror: None,
        paused: None,
        message: Some(format!("starting canary {}", canary.name_next_to(&stable))),
    };
    let msg = format!(
        "canary {} against stable {}",
        canary.name_next_to(&stable),
        stable.name_next_to(&canary)
    );
    let event = event(Severity::Normal, reason, msg);
    // Canary pods would share the host with stable pods that no subset can tell apart yet.
    if !input.observed.stable_subset_ready() {
        let mut s = s;
        s.message = Some(waiting_message(&canary));
        return Decision {
            event,
            ..waiting_for_stable(s, stable)
        };
    }
    // Restarting with a newer version: no route may keep pointing at pods about to change.
    canary_unrouted(s, stable, canary, event)
}

fn waiting_message(canary: &Track) -> String {
    format!(
        "waiting for the stable pods to carry {TRACK_LABEL}={STABLE} before starting canary {}",
        canary.version
    )
}

/// No canary yet: the stable pods roll to carry their track label first.
fn waiting_for_stable(s: RolloutStatus, stable: Track) -> Decision {
    Decision {
        status: Some(s),
        traffic: ServiceTraffic {
            stable: Some(stable),
            canary: None,
            stable_subset: false,
            stable_replicas: None,
        },
        event: None,
        command_done: false,
    }
}

fn progressing(input: &Input<'_>, mut s: RolloutStatus, stable: Track, canary: Track) -> Decision {
    let settings = input.settings;
    let now = input.now;
    let step = usize::try_from(s.step.unwrap_or(1).max(1)).unwrap_or(1);
    let weight = settings.steps.weight_of(step);
    let Some((verdict, figures)) = &input.analysis else {
        return routed(s, stable, canary, weight, event_none());
    };
    let mut figures = figures.clone();
    // Pods that crash get no traffic, which would only hold the step: unready canary pods
    // fail the check whatever the metrics say.
    let verdict = match &input.observed.canary {
        Some(live) if live.ready && live.runs(&canary) => verdict.clone(),
        _ => {
            figures.result = AnalysisResult::Failed;
            Verdict::Failed(format!(
                "canary {} unavailable: its pods are not all ready",
                canary.version
            ))
        }
    };
    s.last_analysis = Some(figures);
    let blue_green = input.strategy == RolloutStrategy::BlueGreen;
    match &verdict {
        Verdict::Passed => {
            let switched_for = elapsed(s.step_started_at.as_ref(), now);
            if blue_green && settings.steps.after(step).is_none() {
                // The old pods stay for scaleDownDelay after the switch, checked all along.
                if switched_for < settings.scale_down_delay {
                    let left = settings.scale_down_delay - switched_for;
                    s.message = Some(format!(
                        "all traffic on {}; {} keeps its pods for {}s more (scaleDownDelay), switching back at a failed check",
                        canary.version,
                        stable.version,
                        left.as_secs().max(1)
                    ));
                    return routed(s, stable, canary, weight, event_none());
                }
            }
            s.step_started_at = Some(time(now));
            let Some(next) = settings.steps.after(step) else {
                if has_hooks(settings, HookType::ConfirmPromotion)
                    && !matches!(input.confirm, Some(Ok(())))
                {
                    let reason = match &input.confirm {
                        Some(Err(reason)) => reason.clone(),
                        _ => "not asked yet".to_owned(),
                    };
                    s.message = Some(format!(
                        "every step passed; waiting for ConfirmPromotion: {reason}"
                    ));
                    return routed(s, stable, canary, weight, event_none());
                }
                s.phase = RolloutPhase::Promoting;
                s.message = Some(format!(
                    "every step passed; promoting {} to stable",
                    canary.version
                ));
                return promoting(s, canary, input.observed, weight);
            };
            s.step = Some(i32::try_from(step + 1).unwrap_or(i32::MAX));
            let msg = if blue_green {
                s.message = Some(format!(
                    "preview passed; all traffic switched to {}",
                    canary.version
                ));
                format!(
                    "preview passed; all traffic switched to {}, {} kept for {}s",
                    canary.version,
                    stable.version,
                    settings.scale_down_delay.as_secs()
                )
            } else {
                s.message = Some(format!("step {} passed; {next}% of traffic", step));
                format!(
                    "step {step} passed; {next}% of traffic to canary {}",
                    canary.version
                )
            };
            routed(
                s,
                stable,
                canary,
                next,
                event(Severity::Normal, "RolloutStepPassed", msg),
            )
        }
        Verdict::Failed(reason) => {
            let (count, over) = count_failed(&mut s, settings);
            // After the switch every user is on the new version: back at the first failure.
            let switched = blue_green && settings.steps.after(step).is_none();
            if over || switched {
                return roll_back(s, stable, canary, now, format!("{reason} ({count})"));
            }
            s.message = Some(format!("holding step {step}: {reason} ({count})"));
            routed(s, stable, canary, weight, event_none())
        }
        Verdict::Held(reason) => {
            if elapsed(s.step_started_at.as_ref(), now) > settings.progress_deadline {
                return roll_back(
                    s,
                    stable,
                    canary,
                    now,
                    format!("no traffic: {reason} for longer than progressDeadline"),
                );
            }
            s.message = Some(format!("holding step {step}: {reason}"));
            routed(s, stable, canary, weight, event_none())
        }
    }
}

/// Count one more failed check: ("failed check n of failureThreshold t", whether that reaches
/// the threshold).
fn count_failed(s: &mut RolloutStatus, settings: &CanarySettings) -> (String, bool) {
    let failed = s.failed_checks.unwrap_or(0).saturating_add(1);
    s.failed_checks = Some(failed);
    let threshold = settings.failure_threshold;
    let count = format!("failed check {failed} of failureThreshold {threshold}");
    let over = u32::try_from(failed).unwrap_or(u32::MAX) >= threshold;
    (count, over)
}

fn roll_back(
    mut s: RolloutStatus,
    stable: Track,
    canary: Track,
    now: Timestamp,
    reason: String,
) -> Decision {
    s.phase = RolloutPhase::RollingBack;
    s.step_started_at = Some(time(now));
    s.message = Some(format!("rolled back {}: {reason}", canary.version));
    let msg = s.message.clone().unwrap_or_default();
    unroute(
        s,
        stable,
        canary,
        event(Severity::Warning, "RolloutFailed", msg),
    )
}

/// Stable Deployment moves to the canary's version; traffic split unchanged until it is ready.
fn promoting(
    mut s: RolloutStatus,
    canary: Track,
    observed: &Observed,
    weight: Percent,
) -> Decision {
    let stable_ready = observed
        .stable
        .as_ref()
        .is_some_and(|l| l.ready && l.runs(&canary));
    if stable_ready {
        s.phase = RolloutPhase::Finalizing;
        s.message = Some(format!(
            "stable runs {}; removing the canary route",
            canary.version
        ));
        return unroute(s, canary.clone(), canary, event_none());
    }
    routed(s, canary.clone(), canary, weight, event_none())
}

fn routed(
    s: RolloutStatus,
    stable: Track,
    canary: Track,
    weight: Percent,
    event: Option<RolloutEvent>,
) -> Decision {
    Decision {
        status: Some(s),
        traffic: ServiceTraffic {
            stable: Some(stable),
            canary: Some(Canary {
                track: canary,
                weight: Some(weight),
                mirror: None,
                draining: false,
            }),
            stable_subset: true,
            stable_replicas: None,
        },
        event,
        command_done: false,
    }
}

/// Canary Deployment and subset exist, no route names them.
fn canary_unrouted(
    s: RolloutStatus,
    stable: Track,
    canary: Track,
    event: Option<RolloutEvent>,
) -> Decision {
    Decision {
        status: Some(s),
        traffic: ServiceTraffic {
            stable: Some(stable),
            canary: Some(Canary {
                track: canary,
                weight: None,
                mirror: None,
                draining: false,
            }),
            stable_subset: true,
            stable_replicas: None,
        },
        event,
        command_done: false,
    }
}

/// The route to the canary goes first (without the mesh: its pods); subset and Deployment stay
/// until its weight reads back as 0.
fn unroute(
    s: RolloutStatus,
    stable: Track,
    canary: Track,
    event: Option<RolloutEvent>,
) -> Decision {
    let mut d = canary_unrouted(s, stable, canary, event);
    if let Some(c) = d.traffic.canary.as_mut() {
        c.draining = true;
    }
    d
}

/// No canary at all, once no route to it is read back (otherwise only the route goes).
fn settled(
    s: RolloutStatus,
    stable: Track,
    observed: &Observed,
    event: Option<RolloutEvent>,
) -> Decision {
    if observed.canary_weight != Percent::ZERO {
        let canary = canary_track(&s);
        return unroute(s, stable, canary, event);
    }
    Decision {
        status: Some(s),
        traffic: ServiceTraffic {
            stable: Some(stable),
            canary: None,
            stable_subset: false,
            stable_replicas: None,
        },
        event,
        command_done: false,
    }
}
