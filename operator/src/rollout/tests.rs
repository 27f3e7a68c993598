//! Every transition of the rollout machine, driven by hand: clock, observations, analysis.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

use super::analysis::{CanaryMetrics, Verdict, evaluate};
use super::command::Command;
use super::machine::{
    Decision, Input, LiveTrack, Observed, Severity, analysis_due, confirm_due, failed,
    pre_rollout_due, step,
};
use crate::build::traffic::Track;
use crate::build::validate::{
    CanarySettings, CanarySteps, DEFAULT_HOOK_TIMEOUT, MetricCheck, QueryTemplate, RolloutHook,
};
use crate::crd::{
    AnalysisResult, AnalysisStatus, HookType, Percent, RolloutPhase, RolloutStatus, RolloutStrategy,
};

fn percent(value: u8) -> Percent {
    Percent::new(value).unwrap()
}

fn settings() -> CanarySettings {
    CanarySettings {
        steps: CanarySteps::new(vec![percent(10), percent(25), percent(50)]).unwrap(),
        interval: Duration::from_secs(60),
        progress_deadline: Duration::from_secs(600),
        min_success_rate: 99.0,
        max_p99_latency_ms: 500.0,
        min_requests: 20.0,
        failure_threshold: 2,
        prometheus_url: "http://prom:9090".into(),
        metrics: Vec::new(),
        business: Vec::new(),
        hooks: Vec::new(),
        matches: Vec::new(),
        canary_weight: percent(20),
        scale_down_delay: Duration::from_secs(30),
        load_test: false,
    }
}

fn track(v: &str) -> Track {
    Track {
        image: format!("reg/catalog:{v}"),
        version: v.into(),
    }
}

fn live(v: &str, ready: bool) -> LiveTrack {
    live_of(&track(v), ready)
}

fn live_of(t: &Track, ready: bool) -> LiveTrack {
    LiveTrack {
        version: t.version.clone(),
        image: t.image.clone(),
        ready,
        labelled: true,
        replicas: 1,
    }
}

fn at(secs: i64) -> Timestamp {
    Timestamp::from_second(1_767_225_600 + secs).unwrap()
}

/// A scripted world: the machine's status plus what the cluster shows.
struct World {
    strategy: RolloutStrategy,
    settings: CanarySettings,
    desired: Track,
    status: Option<RolloutStatus>,
    observed: Observed,
    now: i64,
    command: Option<Command>,
    /// What the PreRollout and ConfirmPromotion hooks answer when they are due.
    pre_rollout: Option<Result<(), String>>,
    confirm: Option<Result<(), String>>,
}

impl World {
    fn new(strategy: RolloutStrategy) -> Self {
        Self {
            strategy,
            settings: settings(),
            desired: track("1.0"),
            status: None,
            observed: Observed {
                stable: Some(live("1.0", true)),
                canary: None,
                canary_weight: Percent::ZERO,
                routes_stable_subset: false,
            },
            now: 0,
            command: None,
            pre_rollout: None,
            confirm: None,
        }
    }

    /// One pass; `metrics` answers the analysis if one is due. The cluster then "applies" the
    /// decision: canary Deployment present (not ready), weight read back.
    fn pass(&mut self, metrics: Option<CanaryMetrics>) -> Decision {
        let mut input = Input {
            strategy: self.strategy,
            settings: &self.settings,
            desired: self.desired.clone(),
            previous: self.status.as_ref(),
            observed: &self.observed,
            now: at(self.now),
            analysis: None,
            command: self.command,
            pre_rollout: None,
            confirm: None,
        };
        if pre_rollout_due(&input) {
            input.pre_rollout = Some(
                self.pre_rollout
                    .clone()
                    .expect("PreRollout is due; script it"),
            );
        }
        if confirm_due(&input) {
            input.confirm = Some(
                self.confirm
                    .clone()
                    .expect("ConfirmPromotion is due; script it"),
            );
        }
        if analysis_due(&input) {
            let m = metrics.expect("an analysis is due; script its metrics");
            input.analysis = Some(evaluate(&Ok(m), &self.settings, &Time(at(self.now))));
        }
        let d = step(&input);
        self.status = d.status.clone();
        self.observed.canary_weight = d
            .traffic
            .canary
            .as_ref()
            .and_then(|c| c.weight)
            .unwrap_or(Percent::ZERO);
        match &d.traffic.canary {
            Some(c) => {
                let ready = self
                    .observed
                    .canary
                    .as_ref()
                    .is_some_and(|l| l.ready && l.runs(&c.track));
                self.observed.canary = Some(live_of(&c.track, ready));
            }
            None => self.observed.canary = None,
        }
        if let Some(s) = &d.traffic.stable {
            // A new version, or the track label added to the template, rolls the pods.
            let ready = self
                .observed
                .stable
                .as_ref()
                .is_some_and(|l| l.runs(s) && l.ready && l.labelled);
            self.observed.stable = Some(live_of(s, ready));
        }
        self.observed.routes_stable_subset = d.traffic.routes_stable_subset();
        d
    }

    /// The service ran untracked (RollingUpdate): its pods have no track label.
    fn untracked(mut self) -> Self {
        if let Some(s) = self.observed.stable.as_mut() {
            s.labelled = false;
        }
        self
    }

    fn canary_pods_ready(&mut self) {
        if let Some(c) = self.observed.canary.as_mut() {
            c.ready = true;
        }
    }

    fn stable_pods_ready(&mut self) {
        if let Some(s) = self.observed.stable.as_mut() {
            s.ready = true;
        }
    }

    fn phase(&self) -> RolloutPhase {
        self.status.as_ref().unwrap().phase
    }

    fn weight(d: &Decision) -> Option<u8> {
        d.traffic
            .canary
            .as_ref()
            .and_then(|c| c.weight)
            .map(Percent::get)
    }
}

fn good() -> Option<CanaryMetrics> {
    Some(CanaryMetrics {
        requests: 600.0,
        errors: 1.0,
        p99_ms: Some(120.0),
        custom: Vec::new(),
        business: Vec::new(),
    })
}

/// Start 1.0 → 2.0 and reach step 1 (10%).
fn started(strategy: RolloutStrategy) -> World {
    let mut w = World::new(strategy);
    let d = w.pass(None);
    assert!(
        d.status.is_none() && d.traffic.canary.is_none(),
        "no rollout at first install"
    );
    w.desired = track("2.0");
    let d = w.pass(None);
    assert_eq!(w.phase(), RolloutPhase::Initializing);
    assert_eq!(d.event.as_ref().unwrap().reason, "RolloutStarted");
    assert_eq!(
        World::weight(&d),
        None,
        "no route before canary pods are ready"
    );
    assert!(
        d.traffic.canary.is_some(),
        "canary Deployment and subset exist"
    );
    w.now += 5;
    let d = w.pass(None);
    assert_eq!(World::weight(&d), None, "still not ready");
    w.canary_pods_ready();
    let d = w.pass(None);
    if strategy == RolloutStrategy::Canary {
        assert_eq!(
            (w.phase(), World::weight(&d)),
            (RolloutPhase::Progressing, Some(10))
        );
    }
    w
}

#[test]
fn promotes_through_every_step() {
    let mut w = started(RolloutStrategy::Canary);
    w.now += 30;
    let d = w.pass(None);
    assert_eq!(
        World::weight(&d),
        Some(10),
        "no analysis before the interval"
    );
    for expected in [25, 50] {
        w.now += 60;
        let d = w.pass(good());
        assert_eq!(World::weight(&d), Some(expected));
        assert_eq!(d.event.unwrap().reason, "RolloutStepPassed");
    }
    w.now += 60;
    let d = w.pass(good());
    assert_eq!(w.phase(), RolloutPhase::Promoting);
    assert_eq!(
        d.traffic.stable.as_ref().unwrap().version,
        "2.0",
        "stable Deployment moves"
    );
    assert_eq!(World::weight(&d), Some(50), "split kept while stable rolls");
    assert_eq!(
        d.traffic.stable_replicas,
        Some(1),
        "the canary is sized against it"
    );
    let d = w.pass(None);
    assert_eq!(w.phase(), RolloutPhase::Promoting, "waits for stable pods");
    assert_eq!(World::weight(&d), Some(50));
    w.stable_pods_ready();
    let d = w.pass(None);
    assert_eq!(w.phase(), RolloutPhase::Finalizing);
    assert!(
        d.traffic.canary.is_some(),
        "subset kept while the route goes"
    );
    assert_eq!(World::weight(&d), None, "route removed first");
    let d = w.pass(None);
    assert_eq!(w.phase(), RolloutPhase::Succeeded);
    assert!(
        d.traffic.canary.is_none(),
        "subset and canary removed after the route"
    );
    assert_eq!(d.event.unwrap().reason, "RolloutPromoted");
    let s = w.status.clone().unwrap();
    assert_eq!(
        (s.stable.as_deref(), s.stable_image.as_deref()),
        (Some("2.0"), Some("reg/catalog:2.0"))
    );
    let d = w.pass(None);
    assert!(
        d.traffic.canary.is_none() && d.event.is_none(),
        "steady after success"
    );
}

fn fails_with(metrics: CanaryMetrics, check: &str) {
    let mut w = started(RolloutStrategy::Canary);
    w.now += 60;
    let d = w.pass(Some(metrics.clone()));
    assert_eq!(
        (w.phase(), World::weight(&d)),
        (RolloutPhase::Progressing, Some(10)),
        "one failed check of two holds the step"
    );
    let s = w.status.clone().unwrap();
    assert_eq!(s.failed_checks, Some(1));
    assert!(s.message.unwrap().contains(check));
    w.now += 30;
    w.pass(None);
    assert_eq!(
        w.phase(),
        RolloutPhase::Progressing,
        "next check one interval later"
    );
    w.now += 30;
    let d = w.pass(Some(metrics));
    assert_eq!(w.phase(), RolloutPhase::RollingBack);
    assert_eq!(World::weight(&d), None, "weights to stable first");
    assert!(
        d.traffic.canary.is_some(),
        "canary still there until the weight reads back 0"
    );
    assert_eq!(d.traffic.stable.as_ref().unwrap().version, "1.0");
    let event = d.event.unwrap();
    assert_eq!(event.severity, Severity::Warning);
    assert!(event.message.contains(check), "{}", event.message);
    assert!(
        event
            .message
            .contains("failed check 2 of failureThreshold 2"),
        "{}",
        event.message
    );
    let s = w.status.clone().unwrap();
    assert!(s.message.unwrap().contains(check));
    assert!(s.last_analysis.is_some());
    let d = w.pass(None);
    assert_eq!(w.phase(), RolloutPhase::RolledBack);
    assert!(
        d.traffic.canary.is_none(),
        "canary scaled away after the route"
    );
}

#[test]
fn rolls_back_on_success_rate() {
    fails_with(
        CanaryMetrics {
            requests: 100.0,
            errors: 5.0,
            p99_ms: Some(100.0),
            custom: Vec::new(),
            business: Vec::new(),
        },
        "success rate 95%",
    );
}

#[test]
fn rolls_back_on_latency() {
    fails_with(
        CanaryMetrics {
            requests: 100.0,
            errors: 0.0,
            p99_ms: Some(900.0),
            custom: Vec::new(),
            business: Vec::new(),
        },
        "p99 latency 900ms",
    );
}

#[test]
fn holds_without_traffic_then_rolls_back_at_the_deadline() {
    let mut w = started(RolloutStrategy::Canary);
    let quiet = || {
        Some(CanaryMetrics {
            requests: 3.0,
            errors: 0.0,
            p99_ms: None,
            custom: Vec::new(),
            business: Vec::new(),
        })
    };
    for _ in 0..9 {
        w.now += 60;
        let d = w.pass(quiet());
        assert_eq!(
            (w.phase(), World::weight(&d)),
            (RolloutPhase::Progressing, Some(10)),
            "held"
        );
    }
    assert!(
        w.status
            .as_ref()
            .unwrap()
            .message
            .as_ref()
            .unwrap()
            .contains("fewer than minRequests")
    );
    w.now += 120;
    let d = w.pass(quiet());
    assert_eq!(w.phase(), RolloutPhase::RollingBack);
    assert!(d.event.unwrap().message.contains("no traffic"));
}

#[test]
fn crashing_canary_pods_fail_the_checks_and_roll_back_long_before_the_deadline() {
    let mut w = started(RolloutStrategy::Canary);
    // Step 1 runs; then the canary pods crash: no traffic reaches them, the metrics look quiet.
    w.observed.canary.as_mut().unwrap().ready = false;
    let quiet = || {
        Some(CanaryMetrics {
            requests: 0.0,
            errors: 0.0,
            p99_ms: None,
            custom: Vec::new(),
            business: Vec::new(),
        })
    };
    w.now += 60;
    let d = w.pass(quiet());
    assert_eq!(
        (w.phase(), World::weight(&d)),
        (RolloutPhase::Progressing, Some(10))
    );
    let s = w.status.clone().unwrap();
    assert_eq!(s.failed_checks, Some(1));
    assert_eq!(
        s.last_analysis.unwrap().result,
        crate::crd::AnalysisResult::Failed,
        "not Held"
    );
    assert!(s.message.unwrap().contains("unavailable"));
    w.now += 60;
    let d = w.pass(quiet());
    assert_eq!(w.phase(), RolloutPhase::RollingBack);
    assert_eq!(World::weight(&d), None, "traffic back on stable");
    let event = d.event.unwrap();
    assert!(
        event.message.contains("canary 2.0 unavailable"),
        "{}",
        event.message
    );
    assert!(w.now < 600, "well before progressDeadline");
}

#[test]
fn failed_checks_count_over_the_whole_rollout() {
    let mut w = started(RolloutStrategy::Canary);
    let bad = || {
        Some(CanaryMetrics {
            requests: 100.0,
            errors: 10.0,
            p99_ms: None,
            custom: Vec::new(),
            business: Vec::new(),
        })
    };
    w.now += 60;
    w.pass(bad());
    w.now += 60;
    let d = w.pass(good());
    assert_eq!(World::weight(&d), Some(25), "a passing check moves on");
    assert_eq!(w.status.as_ref().unwrap().failed_checks, Some(1));
    w.now += 60;
    w.pass(bad());
    assert_eq!(
        w.phase(),
        RolloutPhase::RollingBack,
        "second failure of the rollout"
    );
    w.pass(None);
    w.desired = track("3.0");
    w.pass(None);
    assert_eq!(
        w.status.as_ref().unwrap().failed_checks,
        None,
        "a new rollout starts from zero"
    );
}

#[test]
fn a_service_switched_to_canary_routes_to_the_host_until_its_pods_carry_the_track_label() {
    let mut w = World::new(RolloutStrategy::Canary).untracked();
    let d = w.pass(None);
    assert!(d.status.is_none(), "same version: no rollout");
    assert!(
        !d.traffic.stable_subset,
        "the subset has no pod yet; the host has them all"
    );
    let d = w.pass(None);
    assert!(!d.traffic.stable_subset, "pods still rolling to the label");
    w.stable_pods_ready();
    let d = w.pass(None);
    assert!(
        d.traffic.stable_subset,
        "every stable pod is labelled and ready"
    );
    // Once routed, a stable pod restarting does not move the route back.
    w.observed.stable.as_mut().unwrap().ready = false;
    assert!(w.pass(None).traffic.stable_subset);
}

#[test]
fn a_switch_to_canary_with_a_new_version_labels_the_stable_pods_before_the_canary_starts() {
    let mut w = World::new(RolloutStrategy::Canary).untracked();
    w.desired = track("2.0");
    let d = w.pass(None);
    assert_eq!(w.phase(), RolloutPhase::Initializing);
    assert_eq!(d.event.as_ref().unwrap().reason, "RolloutStarted");
    assert!(
        d.traffic.canary.is_none(),
        "no canary pods on the shared host yet"
    );
    assert!(!d.traffic.stable_subset);
    assert_eq!(d.traffic.stable.as_ref().unwrap().version, "1.0");
    assert!(
        w.status
            .as_ref()
            .unwrap()
            .message
            .as_ref()
            .unwrap()
            .contains("storefront.dev/track=stable")
    );
    w.now += 700;
    let d = w.pass(None);
    assert_eq!(
        w.phase(),
        RolloutPhase::Initializing,
        "waiting is no failed rollout"
    );
    assert!(d.traffic.canary.is_none());
    w.stable_pods_ready();
    let d = w.pass(None);
    assert!(d.traffic.canary.is_some() && d.traffic.stable_subset);
    assert_eq!(World::weight(&d), None, "canary pods not ready yet");
    w.canary_pods_ready();
    let d = w.pass(None);
    assert_eq!(World::weight(&d), Some(10));
}

/// From Progressing at step 1: every check passes, the stable pods roll, the canary goes.
fn promote(w: &mut World) {
    for _ in 0..w.settings.steps.count() {
        w.now += 60;
        w.pass(good());
    }
    assert_eq!(w.phase(), RolloutPhase::Promoting);
    w.stable_pods_ready();
    w.pass(None);
    w.pass(None);
    assert_eq!(w.phase(), RolloutPhase::Succeeded);
}

#[test]
fn a_new_image_under_the_same_version_goes_through_a_canary() {
    let mut w = World::new(RolloutStrategy::Canary);
    w.pass(None);
    // A new spec.registry: same tag, another image.
    let mirrored = Track {
        image: "mirror.example/catalog:1.0".into(),
        version: "1.0".into(),
    };
    w.desired = mirrored.clone();
    let d = w.pass(None);
    assert_eq!(
        w.phase(),
        RolloutPhase::Initializing,
        "a changed image is a new rollout"
    );
    assert_eq!(d.traffic.stable.as_ref().unwrap().image, "reg/catalog:1.0");
    assert_eq!(d.traffic.canary.as_ref().unwrap().track, mirrored);
    let event = d.event.unwrap();
    assert!(
        event
            .message
            .contains("canary mirror.example/catalog:1.0 against stable reg/catalog:1.0"),
        "{}",
        event.message
    );
    w.canary_pods_ready();
    w.pass(None);
    assert_eq!(w.phase(), RolloutPhase::Progressing);
    for _ in 0..w.settings.steps.count() {
        w.now += 60;
        w.pass(good());
    }
    assert_eq!(w.phase(), RolloutPhase::Promoting);
    let d = w.pass(None);
    assert_eq!(
        w.phase(),
        RolloutPhase::Promoting,
        "the stable pods still run the old image under the same version"
    );
    assert_eq!(d.traffic.stable.unwrap(), mirrored);
    w.stable_pods_ready();
    w.pass(None);
    w.pass(None);
    let s = w.status.clone().unwrap();
    assert_eq!(s.phase, RolloutPhase::Succeeded);
    assert_eq!(
        s.stable_image.as_deref(),
        Some("mirror.example/catalog:1.0")
    );
}

#[test]
fn after_a_rollout_a_new_digest_of_the_stable_version_is_not_ignored() {
    let mut w = started(RolloutStrategy::Canary);
    promote(&mut w);
    let pinned = Track {
        image: "reg/catalog:2.0@sha256:5f2d0a3b5b1e5b5c2e6a1d0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b".into(),
        version: "2.0".into(),
    };
    w.desired = pinned.clone();
    let d = w.pass(None);
    assert_eq!(w.phase(), RolloutPhase::Initializing);
    assert_eq!(d.traffic.canary.unwrap().track, pinned);
    assert_eq!(d.traffic.stable.unwrap().image, "reg/catalog:2.0");
}

#[test]
fn setting_the_version_back_aborts() {
    let mut w = started(RolloutStrategy::Canary);
    w.desired = track("1.0");
    let d = w.pass(None);
    assert_eq!(w.phase(), RolloutPhase::Aborted);
    assert_eq!(World::weight(&d), None);
    assert!(d.traffic.canary.is_some(), "route goes before the subset");
    let d = w.pass(None);
    assert!(d.traffic.canary.is_none());
    assert_eq!(w.phase(), RolloutPhase::Aborted);
}

#[test]
fn a_new_version_during_a_rollout_restarts_from_step_zero() {
    let mut w = started(RolloutStrategy::Canary);
    w.now += 60;
    w.pass(good());
    w.desired = track("3.0");
    let d = w.pass(None);
    let s = w.status.clone().unwrap();
    assert_eq!(
        (s.phase, s.step, s.canary.as_deref(), s.stable.as_deref()),
        (
            RolloutPhase::Initializing,
            Some(0),
            Some("3.0"),
            Some("1.0")
        )
    );
    assert_eq!(
        World::weight(&d),
        None,
        "no route to pods about to change version"
    );
    assert_eq!(d.event.unwrap().reason, "RolloutRestarted");
    let d = w.pass(None);
    assert_eq!(World::weight(&d), None, "3.0 pods not ready yet");
    w.canary_pods_ready();
    let d = w.pass(None);
    assert_eq!(World::weight(&d), Some(10));
}

#[test]
fn manual_holds_the_fixed_weight_and_promotes_at_100() {
    let mut w = started(RolloutStrategy::Manual);
    assert_eq!(w.phase(), RolloutPhase::Manual);
    w.now += 3600;
    let d = w.pass(None);
    assert_eq!(World::weight(&d), Some(20), "no analysis, no steps");
    assert!(
        !d.in_flight(),
        "a held Manual weight needs no polling: a spec edit or a pod change wakes the controller"
    );
    w.settings.canary_weight = percent(35);
    assert_eq!(World::weight(&w.pass(None)), Some(35));
    w.settings.canary_weight = Percent::HUNDRED;
    w.pass(None);
    assert_eq!(w.phase(), RolloutPhase::Promoting);
}

#[test]
fn a_failed_version_is_not_retried_until_the_spec_changes() {
    let mut w = started(RolloutStrategy::Canary);
    w.settings.failure_threshold = 1;
    w.now += 60;
    w.pass(Some(CanaryMetrics {
        requests: 100.0,
        errors: 50.0,
        p99_ms: None,
        custom: Vec::new(),
        business: Vec::new(),
    }));
    assert_eq!(w.phase(), RolloutPhase::RollingBack, "failureThreshold 1");
    assert!(failed(w.status.as_ref().unwrap(), &w.desired));
    w.pass(None);
    assert_eq!(w.phase(), RolloutPhase::RolledBack);
    assert!(
        failed(w.status.as_ref().unwrap(), &w.desired),
        "still failed while the spec names the failed version"
    );
    assert!(
        !failed(w.status.as_ref().unwrap(), &track("1.0")),
        "set back to stable: resolved"
    );
    for _ in 0..3 {
        w.now += 600;
        let d = w.pass(None);
        assert_eq!(w.phase(), RolloutPhase::RolledBack);
        assert!(d.traffic.canary.is_none() && d.event.is_none());
        assert_eq!(d.traffic.stable.as_ref().unwrap().version, "1.0");
    }
    w.desired = track("2.1");
    w.pass(None);
    assert_eq!(w.phase(), RolloutPhase::Initializing);
    assert_eq!(w.status.as_ref().unwrap().canary.as_deref(), Some("2.1"));
    assert!(!failed(w.status.as_ref().unwrap(), &w.desired));
}

#[test]
fn canary_pods_never_ready_roll_back_at_the_deadline() {
    let mut w = World::new(RolloutStrategy::Canary);
    w.pass(None);
    w.desired = track("2.0");
    w.pass(None);
    w.now += 601;
    let d = w.pass(None);
    assert_eq!(w.phase(), RolloutPhase::RollingBack);
    assert!(d.event.unwrap().message.contains("not ready"));
}

#[test]
fn a_running_older_deployment_without_status_starts_a_rollout() {
    let mut w = World::new(RolloutStrategy::Canary);
    w.desired = track("2.0");
    let d = w.pass(None);
    assert_eq!(w.phase(), RolloutPhase::Initializing);
    assert_eq!(
        d.traffic.stable.unwrap().version,
        "1.0",
        "stable keeps running the live version"
    );
}

// Commands given by annotation (`command.rs`).

fn reason(d: &Decision) -> Option<&'static str> {
    d.event.as_ref().map(|e| e.reason)
}

#[test]
fn a_pause_holds_the_step_with_no_analysis_and_no_deadline_until_resumed() {
    let mut w = started(RolloutStrategy::Canary);
    w.command = Some(Command::Pause);
    // Far past the interval and progressDeadline: a due analysis would panic in `pass`.
    w.now += 3600;
    let d = w.pass(None);
    assert_eq!(reason(&d), Some("RolloutPaused"));
    assert_eq!(
        (w.phase(), World::weight(&d)),
        (RolloutPhase::Progressing, Some(10))
    );
    let s = w.status.clone().unwrap();
    assert_eq!(s.paused, Some(true));
    assert!(s.message.unwrap().contains("paused at step 1 (10% on 2.0)"));
    assert!(!d.command_done, "a pause stays until it is changed");
    assert!(!d.in_flight(), "a paused rollout needs no polling");
    w.now += 3600;
    let d = w.pass(None);
    assert_eq!(
        (reason(&d), World::weight(&d)),
        (None, Some(10)),
        "announced once"
    );

    w.command = Some(Command::Resume);
    let d = w.pass(None);
    assert_eq!(reason(&d), Some("RolloutResumed"));
    assert!(d.command_done, "the controller removes the resume");
    let s = w.status.clone().unwrap();
    assert_eq!(s.paused, None);
    assert_eq!(
        s.step_started_at,
        Some(Time(at(w.now))),
        "the step counts from the resume"
    );
    w.command = None;
    w.now += 30;
    let d = w.pass(None); // no analysis: half an interval since the resume
    assert_eq!(World::weight(&d), Some(10));
    w.now += 30;
    let d = w.pass(good());
    assert_eq!(
        World::weight(&d),
        Some(25),
        "the next check passes the step"
    );
}

#[test]
fn removing_the_pause_annotation_resumes_too() {
    let mut w = started(RolloutStrategy::Canary);
    w.command = Some(Command::Pause);
    w.pass(None);
    w.command = None;
    w.now += 600;
    let d = w.pass(None);
    assert_eq!(reason(&d), Some("RolloutResumed"));
    assert!(!d.command_done, "nothing to remove");
    assert_eq!(w.status.clone().unwrap().paused, None);
}

#[test]
fn a_pause_holds_a_canary_before_it_takes_traffic() {
    let mut w = World::new(RolloutStrategy::Canary);
    w.pass(None);
    w.desired = track("2.0");
    w.command = Some(Command::Pause);
    let d = w.pass(None);
    assert_eq!(
        reason(&d),
        Some("RolloutStarted"),
        "a spec change still starts"
    );
    w.canary_pods_ready();
    let d = w.pass(None);
    assert_eq!(reason(&d), Some("RolloutPaused"));
    assert_eq!(w.phase(), RolloutPhase::Initializing);
    assert!(d.traffic.canary.is_some() && World::weight(&d).is_none());
    w.command = None;
    w.pass(None);
    let d = w.pass(None);
    assert_eq!(
        (w.phase(), World::weight(&d)),
        (RolloutPhase::Progressing, Some(10))
    );
}

#[test]
fn promote_skips_the_remaining_steps_and_analysis() {
    let mut w = started(RolloutStrategy::Canary);
    w.command = Some(Command::Promote);
    w.now += 60; // an analysis would be due; the command skips it
    let d = w.pass(None);
    assert_eq!(reason(&d), Some("RolloutPromotedByCommand"));
    assert!(d.command_done);
    assert_eq!(w.phase(), RolloutPhase::Promoting);
    assert_eq!(d.traffic.stable.as_ref().unwrap().version, "2.0");
    assert_eq!(
        World::weight(&d),
        Some(10),
        "the split holds while stable rolls"
    );
    w.command = None;
    w.stable_pods_ready();
    w.pass(None);
    let d = w.pass(None);
    assert_eq!(w.phase(), RolloutPhase::Succeeded);
    assert!(d.traffic.canary.is_none());
}

#[test]
fn promote_while_the_canary_pods_start_waits_for_them() {
    let mut w = World::new(RolloutStrategy::Canary);
    w.pass(None);
    w.desired = track("2.0");
    w.pass(None);
    w.command = Some(Command::Promote);
    let d = w.pass(None);
    assert_eq!(
        (w.phase(), d.command_done),
        (RolloutPhase::Initializing, false)
    );
    w.canary_pods_ready();
    let d = w.pass(None);
    assert_eq!(
        (w.phase(), d.command_done),
        (RolloutPhase::Progressing, false)
    );
    let d = w.pass(None);
    assert_eq!((w.phase(), d.command_done), (RolloutPhase::Promoting, true));
}

#[test]
fn abort_rolls_back_at_once_and_the_version_is_not_retried() {
    let mut w = started(RolloutStrategy::Canary);
    w.command = Some(Command::Abort);
    let d = w.pass(None);
    let event = d.event.clone().unwrap();
    assert_eq!(
        (event.reason, event.severity),
        ("RolloutAbortedByCommand", Severity::Warning)
    );
    assert!(d.command_done);
    assert_eq!(
        (w.phase(), World::weight(&d)),
        (RolloutPhase::RollingBack, None)
    );
    assert_eq!(d.traffic.stable.as_ref().unwrap().version, "1.0");
    w.command = None;
    w.pass(None);
    let d = w.pass(None);
    assert_eq!(w.phase(), RolloutPhase::RolledBack);
    assert!(d.traffic.canary.is_none());
    assert!(
        failed(w.status.as_ref().unwrap(), &w.desired),
        "reported until the spec moves"
    );
}

#[test]
fn a_manual_canary_can_be_paused_promoted_or_aborted() {
    let mut w = started(RolloutStrategy::Manual);
    w.command = Some(Command::Pause);
    w.settings.canary_weight = Percent::HUNDRED;
    let d = w.pass(None);
    assert_eq!(
        (w.phase(), World::weight(&d)),
        (RolloutPhase::Manual, Some(100)),
        "paused: canaryWeight 100 does not promote"
    );
    w.settings.canary_weight = percent(20);
    w.command = Some(Command::Promote);
    let d = w.pass(None);
    assert_eq!((w.phase(), d.command_done), (RolloutPhase::Promoting, true));
}

#[test]
fn a_command_with_nothing_to_act_on_is_reported_and_removed() {
    let mut w = World::new(RolloutStrategy::Canary);
    w.command = Some(Command::Promote);
    let d = w.pass(None);
    assert!(d.command_done);
    let event = d.event.unwrap();
    assert_eq!(
        (event.reason, event.severity),
        ("RolloutCommandIgnored", Severity::Warning)
    );
    w.command = Some(Command::Resume);
    let d = w.pass(None);
    assert!(
        d.command_done && d.event.is_none(),
        "nothing paused: a quiet no-op"
    );
    w.command = Some(Command::Pause);
    let d = w.pass(None);
    assert!(
        !d.command_done && d.event.is_none(),
        "a pause waits for the next rollout"
    );
}

#[test]
fn the_spec_wins_over_commands() {
    let mut w = started(RolloutStrategy::Canary);
    w.command = Some(Command::Pause);
    w.pass(None);
    w.desired = track("1.0");
    w.pass(None);
    assert_eq!(
        w.phase(),
        RolloutPhase::Aborted,
        "version set back aborts a paused rollout"
    );
    let mut w = started(RolloutStrategy::Canary);
    w.command = Some(Command::Promote);
    w.desired = track("3.0");
    let d = w.pass(None);
    assert_eq!(reason(&d), Some("RolloutRestarted"));
    assert!(!d.command_done, "the promote waits for the new canary");
}

#[test]
fn a_canary_status_counts_its_steps() {
    let w = started(RolloutStrategy::Canary);
    assert_eq!(w.status.unwrap().steps, Some(3));
    let w = started(RolloutStrategy::Manual);
    assert_eq!(w.status.unwrap().steps, None);
}

// Custom checks (`rollout.analysis.metrics`).

fn with_checks() -> CanarySettings {
    let check = |name: &str, min, max| MetricCheck {
        name: name.into(),
        query: QueryTemplate::parse("x").unwrap(),
        min,
        max,
    };
    CanarySettings {
        metrics: vec![
            check("paid-ratio", Some(0.95), None),
            check("compensations", None, Some(1.0)),
        ],
        ..settings()
    }
}

fn figures(paid: Option<f64>, compensations: Option<f64>) -> CanaryMetrics {
    CanaryMetrics {
        custom: vec![
            ("paid-ratio".into(), paid),
            ("compensations".into(), compensations),
        ],
        ..good().unwrap()
    }
}

fn judged(m: CanaryMetrics) -> (Verdict, AnalysisStatus) {
    evaluate(&Ok(m), &with_checks(), &Time(at(0)))
}

#[test]
fn custom_checks_pass_within_bounds_and_report_their_figures() {
    let (verdict, status) = judged(figures(Some(0.987_654), Some(0.0)));
    assert_eq!(verdict, Verdict::Passed);
    assert_eq!(status.result, AnalysisResult::Passed);
    assert_eq!(
        status.metrics.into_iter().collect::<Vec<_>>(),
        vec![("compensations".into(), 0.0), ("paid-ratio".into(), 0.9877)]
    );
}

#[test]
fn a_custom_check_out_of_bounds_fails_the_analysis() {
    let (verdict, status) = judged(figures(Some(0.5), Some(0.0)));
    assert_eq!(
        verdict,
        Verdict::Failed("metric paid-ratio = 0.5 below min 0.95".into())
    );
    assert_eq!(status.result, AnalysisResult::Failed);
    let (verdict, _) = judged(figures(Some(0.99), Some(3.0)));
    assert_eq!(
        verdict,
        Verdict::Failed("metric compensations = 3 above max 1".into())
    );
}

#[test]
fn a_custom_query_without_data_holds_unless_another_check_fails() {
    let (verdict, status) = judged(figures(None, Some(0.0)));
    assert_eq!(
        verdict,
        Verdict::Held("metric paid-ratio: the query returned no data".into())
    );
    assert_eq!(status.result, AnalysisResult::Held);
    assert!(!status.metrics.contains_key("paid-ratio"));
    let (verdict, _) = judged(figures(None, Some(5.0)));
    assert!(matches!(verdict, Verdict::Failed(m) if m.contains("compensations")));
}

#[test]
fn the_built_in_checks_come_first() {
    let mut m = figures(Some(0.5), Some(0.0));
    m.errors = 60.0;
    let (verdict, _) = judged(m);
    assert!(matches!(verdict, Verdict::Failed(m) if m.contains("success rate")));
    let mut m = figures(Some(0.5), Some(0.0));
    m.requests = 5.0;
    let (verdict, _) = judged(m);
    assert!(matches!(verdict, Verdict::Held(m) if m.contains("minRequests")));
}

// Hooks (`rollout.webhooks`): when they are due and what their answers do.

fn hook(type_: HookType) -> RolloutHook {
    RolloutHook {
        name: "gate".into(),
        type_,
        url: "http://t".into(),
        timeout: DEFAULT_HOOK_TIMEOUT,
        metadata: Default::default(),
    }
}

/// 1.0 → 2.0 with `hooks`, up to the canary's pods ready (no route yet).
fn canary_ready_with(hooks: Vec<RolloutHook>) -> World {
    let mut w = World::new(RolloutStrategy::Canary);
    w.settings.hooks = hooks;
    w.pass(None);
    w.desired = track("2.0");
    w.pass(None);
    w.canary_pods_ready();
    w
}

#[test]
fn a_pre_rollout_refusal_keeps_traffic_off_the_canary_and_is_asked_again_an_interval_later() {
    let mut w = canary_ready_with(vec![hook(HookType::PreRollout)]);
    w.pre_rollout = Some(Err("hook gate answered HTTP 503: not yet".into()));
    let d = w.pass(None);
    assert_eq!(
        (w.phase(), World::weight(&d)),
        (RolloutPhase::Initializing, None)
    );
    let s = w.status.clone().unwrap();
    assert_eq!(s.failed_checks, Some(1));
    assert!(
        s.message
            .unwrap()
            .contains("PreRollout hook gate answered HTTP 503")
    );
    w.pre_rollout = None; // not due again before one interval: `pass` would panic
    w.now += 30;
    let d = w.pass(None);
    assert_eq!(
        World::weight(&d),
        None,
        "still no route between two attempts"
    );
    w.now += 30;
    w.pre_rollout = Some(Ok(()));
    let d = w.pass(None);
    assert_eq!(
        (w.phase(), World::weight(&d)),
        (RolloutPhase::Progressing, Some(10))
    );
}

#[test]
fn pre_rollout_refusals_up_to_the_threshold_roll_back() {
    let mut w = canary_ready_with(vec![hook(HookType::PreRollout)]);
    w.pre_rollout = Some(Err("hook gate answered HTTP 500: down".into()));
    w.pass(None);
    w.now += 60;
    let d = w.pass(None);
    assert_eq!(w.phase(), RolloutPhase::RollingBack);
    assert!(d.event.unwrap().message.contains("PreRollout hook gate"));
}

#[test]
fn confirm_promotion_gates_the_promotion_without_failing_a_check() {
    let mut w = canary_ready_with(vec![hook(HookType::ConfirmPromotion)]);
    w.pass(None);
    for _ in 0..2 {
        w.now += 60;
        w.pass(good()); // steps 1 and 2: no confirmation asked
    }
    w.confirm = Some(Err(
        "hook gate answered HTTP 403: waiting for the release manager".into(),
    ));
    w.now += 60;
    let d = w.pass(good());
    assert_eq!(
        (w.phase(), World::weight(&d)),
        (RolloutPhase::Progressing, Some(50))
    );
    let s = w.status.clone().unwrap();
    assert_eq!(s.failed_checks, None, "a gate, not a failure");
    assert!(s.message.unwrap().contains("waiting for ConfirmPromotion"));
    w.now += 60;
    w.confirm = Some(Ok(()));
    w.pass(good());
    assert_eq!(w.phase(), RolloutPhase::Promoting);
}

#[test]
fn a_rollout_hook_refusal_fails_the_check_whatever_the_metrics_say() {
    use super::analysis::with_hooks;
    let judged = evaluate(&Ok(good().unwrap()), &settings(), &Time(at(0)));
    let (verdict, status) = with_hooks(
        judged.clone(),
        Some(Err("hook load answered HTTP 500: x".into())),
    );
    assert_eq!(
        verdict,
        Verdict::Failed("Rollout hook load answered HTTP 500: x".into())
    );
    assert_eq!(status.result, AnalysisResult::Failed);
    assert_eq!(with_hooks(judged.clone(), Some(Ok(()))), judged);
    assert_eq!(with_hooks(judged.clone(), None), judged);
}

// Mirroring (`rollout.mirror`).

fn mirrored_world() -> World {
    let mut w = World::new(RolloutStrategy::Canary);
    w.settings.steps = CanarySteps::new(vec![percent(20), percent(50)])
        .unwrap()
        .with_mirror(Some(percent(40)));
    w.pass(None);
    w.desired = track("2.0");
    w.pass(None);
    w.canary_pods_ready();
    w
}

fn mirror_of(d: &Decision) -> Option<u8> {
    d.traffic
        .canary
        .as_ref()
        .and_then(|c| c.mirror)
        .map(Percent::get)
}

#[test]
fn the_mirror_step_copies_requests_at_0_percent_then_the_weighted_steps_follow() {
    let mut w = mirrored_world();
    let d = w.pass(None);
    let s = w.status.clone().unwrap();
    assert_eq!(
        (s.phase, s.step, s.steps),
        (RolloutPhase::Progressing, Some(1), Some(3)),
        "the mirror step is step 1 of 3"
    );
    assert_eq!((World::weight(&d), mirror_of(&d)), (Some(0), Some(40)));
    assert_eq!(s.mirror.map(Percent::get), Some(40), "status shows it");
    assert!(
        s.message
            .unwrap()
            .contains("40% of the stable requests mirrored"),
        "{:?}",
        w.status
    );
    // Between analyses the copy goes on.
    w.now += 30;
    let d = w.pass(None);
    assert_eq!((World::weight(&d), mirror_of(&d)), (Some(0), Some(40)));
    // The mirror step passes on the canary's own (mirrored) requests; then 20%, no copy.
    w.now += 30;
    let d = w.pass(good());
    let s = w.status.clone().unwrap();
    assert_eq!(
        (s.step, World::weight(&d), mirror_of(&d)),
        (Some(2), Some(20), None)
    );
    assert_eq!(s.mirror, None);
    assert_eq!(d.event.unwrap().reason, "RolloutStepPassed");
    w.now += 60;
    let d = w.pass(good());
    assert_eq!(
        (w.status.clone().unwrap().step, World::weight(&d)),
        (Some(3), Some(50))
    );
    w.now += 60;
    w.pass(good());
    assert_eq!(w.phase(), RolloutPhase::Promoting);
}

#[test]
fn a_canary_failing_while_mirrored_rolls_back_and_the_copy_stops_with_its_route() {
    let mut w = mirrored_world();
    w.settings.failure_threshold = 1;
    w.pass(None);
    w.now += 60;
    let d = w.pass(Some(CanaryMetrics {
        requests: 600.0,
        errors: 50.0,
        p99_ms: Some(120.0),
        custom: Vec::new(),
        business: Vec::new(),
    }));
    assert_eq!(w.phase(), RolloutPhase::RollingBack);
    assert_eq!((World::weight(&d), mirror_of(&d)), (None, None));
    assert_eq!(w.status.clone().unwrap().mirror, None);
}

#[test]
fn a_pause_at_the_mirror_step_keeps_copying_and_holds_the_step() {
    let mut w = mirrored_world();
    w.pass(None);
    w.command = Some(Command::Pause);
    w.now += 120;
    let d = w.pass(None);
    let s = w.status.clone().unwrap();
    assert_eq!((s.paused, s.step), (Some(true), Some(1)));
    assert_eq!((World::weight(&d), mirror_of(&d)), (Some(0), Some(40)));
}

// Blue/green (`strategy: BlueGreen`).

fn blue_green_world() -> World {
    let mut w = World::new(RolloutStrategy::BlueGreen);
    w.settings.steps = CanarySteps::blue_green();
    w.settings.scale_down_delay = Duration::from_secs(150);
    w.pass(None);
    w.desired = track("2.0");
    w.pass(None);
    w.canary_pods_ready();
    let d = w.pass(None);
    let s = w.status.clone().unwrap();
    assert_eq!(
        (s.phase, s.step, s.steps, World::weight(&d)),
        (RolloutPhase::Progressing, Some(1), Some(2), Some(0)),
        "the preview: step 1 of 2, nothing routed"
    );
    assert!(s.message.unwrap().contains("preview 2.0 ready"));
    w
}

#[test]
fn blue_green_previews_then_switches_everything_and_keeps_the_old_pods_for_the_delay() {
    let mut w = blue_green_world();
    w.now += 60;
    let d = w.pass(good());
    assert_eq!(
        (w.status.clone().unwrap().step, World::weight(&d)),
        (Some(2), Some(100)),
        "all traffic at once"
    );
    assert_eq!(d.event.unwrap().reason, "RolloutStepPassed");
    assert_eq!(
        d.traffic.stable.as_ref().map(|t| t.version.as_str()),
        Some("1.0"),
        "the old version keeps running"
    );
    for left in [90, 30] {
        w.now += 60;
        let d = w.pass(good());
        assert_eq!(
            (w.phase(), World::weight(&d)),
            (RolloutPhase::Progressing, Some(100))
        );
        let message = w.status.clone().unwrap().message.unwrap();
        assert!(message.contains(&format!("{left}s more")), "{message}");
    }
    w.now += 60;
    w.pass(good());
    assert_eq!(w.phase(), RolloutPhase::Promoting, "scaleDownDelay over");
}

#[test]
fn blue_green_switches_back_at_the_first_failed_check_after_the_switch() {
    let mut w = blue_green_world();
    w.now += 60;
    w.pass(good());
    w.now += 60;
    let d = w.pass(Some(CanaryMetrics {
        requests: 600.0,
        errors: 60.0,
        p99_ms: Some(120.0),
        custom: Vec::new(),
        business: Vec::new(),
    }));
    assert_eq!(
        w.phase(),
        RolloutPhase::RollingBack,
        "failureThreshold 2, yet at once"
    );
    assert_eq!(
        World::weight(&d),
        None,
        "the route goes back to the old pods"
    );
    assert_eq!(
        d.traffic.stable.as_ref().map(|t| t.version.as_str()),
        Some("1.0")
    );
}

#[test]
fn a_failed_blue_green_preview_counts_toward_the_threshold_like_a_canary_step() {
    let mut w = blue_green_world();
    let bad = || {
        Some(CanaryMetrics {
            requests: 600.0,
            errors: 60.0,
            p99_ms: Some(120.0),
            custom: Vec::new(),
            business: Vec::new(),
        })
    };
    w.now += 60;
    w.pass(bad());
    assert_eq!(
        (w.phase(), w.status.clone().unwrap().step),
        (RolloutPhase::Progressing, Some(1)),
        "one failed check holds the preview"
    );
    w.now += 60;
    w.pass(bad());
    assert_eq!(w.phase(), RolloutPhase::RollingBack);
}

// Business checks, canary against stable.

#[test]
fn a_business_figure_worse_than_the_stable_pods_fails_the_analysis_and_both_are_reported() {
    use crate::build::Component;
    use crate::build::validate::business_checks;
    let settings = CanarySettings {
        business: business_checks(Component::Orders),
        ..settings()
    };
    let with = |paid: (Option<f64>, Option<f64>)| CanaryMetrics {
        business: vec![
            ("paid-ratio".into(), paid.0, paid.1),
            ("compensation-ratio".into(), Some(0.01), Some(0.01)),
        ],
        ..good().unwrap()
    };
    let (verdict, status) = evaluate(&Ok(with((Some(0.7), Some(0.98)))), &settings, &Time(at(0)));
    assert_eq!(
        verdict,
        Verdict::Failed(
            "business check paid-ratio: canary 0.7 below stable 0.98 by more than 0.05".into()
        )
    );
    assert_eq!(status.result, AnalysisResult::Failed);
    assert_eq!(status.metrics["paid-ratio"], 0.7);
    assert_eq!(status.metrics["paid-ratio.stable"], 0.98);
    assert_eq!(status.metrics["compensation-ratio.stable"], 0.01);
    let (verdict, _) = evaluate(&Ok(with((Some(0.96), Some(0.98)))), &settings, &Time(at(0)));
    assert_eq!(verdict, Verdict::Passed, "within the tolerance");
    for quiet in [(None, Some(0.98)), (Some(0.1), None), (None, None)] {
        let (verdict, status) = evaluate(&Ok(with(quiet)), &settings, &Time(at(0)));
        assert_eq!(
            verdict,
            Verdict::Passed,
            "no figure on a track decides nothing: {quiet:?}"
        );
        assert_eq!(status.metrics.contains_key("paid-ratio"), quiet.0.is_some());
    }
}
