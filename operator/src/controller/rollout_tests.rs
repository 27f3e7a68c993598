//! Canary rollouts through the whole pipeline against the in-memory cluster: the order of
//! writes (subset before route; route removed before subset; weights to stable before the
//! canary goes) and status weights read back from the stored VirtualService.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};

use super::api::EventType;
use super::fake::{FakeCluster, Write};
use super::metrics::Metrics;
use super::reconcile::{self, Context};
use crate::build::OwnedKind;
use crate::build::secrets::CountingSecrets;
use crate::crd::{EcommercePlatform, Percent, RolloutPhase, RolloutStatus};
use crate::rollout::{CanaryMetrics, ScriptedMetrics};

const NS: &str = "shop";

/// Status weights of a rollout as (stable, canary) numbers.
fn weights(r: &RolloutStatus) -> (Option<u8>, Option<u8>) {
    (
        r.stable_weight.map(Percent::get),
        r.canary_weight.map(Percent::get),
    )
}

fn platform_with(strategy: &str, catalog_version: &str) -> EcommercePlatform {
    let mut p = platform_meshless(strategy, catalog_version);
    p.spec.mesh = serde_json::from_value(json!({"istio": {}})).unwrap();
    if let Some(catalog) = p.spec.services.catalog.as_mut() {
        catalog.replicas = None;
    }
    p
}

/// catalog at 10 pods, Canary or Manual, and no mesh: traffic is split by pod count.
fn platform_meshless(strategy: &str, catalog_version: &str) -> EcommercePlatform {
    serde_json::from_value(json!({
        "apiVersion": "storefront.dev/v1alpha1",
        "kind": "EcommercePlatform",
        "metadata": {"name": "shop", "namespace": NS, "uid": "uid-1", "generation": 1},
        "spec": {
            "version": "1.0.0",
            "services": {"catalog": {
                "version": catalog_version,
                "replicas": 10,
                "rollout": {"strategy": strategy, "steps": [20, 60], "interval": "1m",
                            "analysis": {"minRequests": 10}, "canaryWeight": 0},
            }},
        },
    }))
    .unwrap()
}

struct Harness {
    fake: Arc<FakeCluster>,
    ctx: Context,
    clock: Arc<AtomicI64>,
    status: Option<crate::crd::PlatformStatus>,
    /// The platform's annotations; those the operator removes go, as on a real API server.
    annotations: std::collections::BTreeMap<String, String>,
    /// catalog's `rollout.analysis.metrics`.
    checks: Vec<crate::crd::MetricCheckSpec>,
    /// `spec.notifications.webhook`.
    webhook: Option<crate::crd::WebhookSpec>,
    /// catalog's `rollout.webhooks`.
    hooks: Vec<crate::crd::RolloutHookSpec>,
    /// `spec.mesh.istio` is set (otherwise pods split the traffic).
    mesh: bool,
    metrics: Arc<ScriptedMetrics>,
}

impl Harness {
    fn new(metrics: Vec<CanaryMetrics>) -> Self {
        let fake = Arc::new(FakeCluster::default());
        let clock = Arc::new(AtomicI64::new(1_767_225_600));
        let mut ctx = Context::new(fake.clone(), Metrics::new());
        ctx.secrets = Mutex::new(Box::new(CountingSecrets::default()));
        let c = clock.clone();
        ctx.clock =
            Arc::new(move || Time(Timestamp::from_second(c.load(Ordering::SeqCst)).unwrap()));
        let metrics = Arc::new(ScriptedMetrics::new(metrics.into_iter().map(Ok).collect()));
        ctx.canary_metrics = metrics.clone();
        Self {
            fake,
            ctx,
            clock,
            status: None,
            annotations: Default::default(),
            checks: Vec::new(),
            webhook: None,
            hooks: Vec::new(),
            mesh: true,
            metrics,
        }
    }

    async fn pass(&mut self, version: &str) {
        self.pass_with("Canary", version).await;
    }

    async fn pass_with(&mut self, strategy: &str, version: &str) {
        let mut p = if self.mesh {
            platform_with(strategy, version)
        } else {
            platform_meshless(strategy, version)
        };
        p.status = self.status.clone();
        p.metadata.annotations = Some(self.annotations.clone());
        p.spec.notifications = self
            .webhook
            .clone()
            .map(|webhook| crate::crd::NotificationsSpec {
                webhook: Some(webhook),
            });
        if let Some(analysis) = p
            .spec
            .services
            .catalog
            .as_mut()
            .and_then(|c| c.rollout.as_mut())
            .and_then(|r| r.analysis.as_mut())
        {
            analysis.metrics = self.checks.clone();
        }
        if let Some(rollout) = p
            .spec
            .services
            .catalog
            .as_mut()
            .and_then(|c| c.rollout.as_mut())
        {
            rollout.webhooks = self.hooks.clone();
        }
        reconcile::reconcile(&p, &self.ctx).await.unwrap();
        self.status = self.fake.with(|s| s.status_writes.last().cloned());
        for (key, value) in self
            .fake
            .with(|s| std::mem::take(&mut s.removed_annotations))
        {
            if self.annotations.get(&key) == Some(&value) {
                self.annotations.remove(&key);
            }
        }
        // Every Deployment the pass applied reports ready pods (all it asks for without the
        // mesh, where their counts are the split).
        for name in self.fake.names(OwnedKind::Deployment) {
            let desired = self
                .fake
                .get(OwnedKind::Deployment, NS, &name)
                .and_then(|d| d["spec"]["replicas"].as_i64())
                .unwrap_or(1);
            let ready = if self.mesh { 1 } else { desired };
            self.fake.set_ready(OwnedKind::Deployment, NS, &name, ready);
        }
    }

    fn advance(&self, secs: i64) {
        self.clock.fetch_add(secs, Ordering::SeqCst);
    }

    fn rollout(&self) -> crate::crd::RolloutStatus {
        self.status.as_ref().unwrap().rollouts["catalog"].clone()
    }

    fn log(&self) -> Vec<Write> {
        self.fake.with(|s| s.log.clone())
    }
}

fn vs_routes_canary(v: &Value) -> bool {
    v["spec"]["http"].as_array().unwrap().iter().any(|r| {
        r["route"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["destination"]["subset"] == "canary")
    })
}

fn dr_has_canary(v: &Value) -> bool {
    v["spec"]["subsets"]
        .as_array()
        .is_some_and(|s| s.iter().any(|x| x["name"] == "canary"))
}

/// Index of the first write at or after `from` matching `f`.
fn first(log: &[Write], from: usize, f: impl Fn(&Write) -> bool) -> usize {
    log.iter()
        .skip(from)
        .position(f)
        .map(|i| i + from)
        .expect("write not found")
}

fn catalog_vs(w: &Write) -> Option<&Value> {
    match w {
        Write::Apply(OwnedKind::VirtualService, n, v) if n == "shop-catalog" => Some(v),
        _ => None,
    }
}

fn catalog_dr(w: &Write) -> Option<&Value> {
    match w {
        Write::Apply(OwnedKind::DestinationRule, n, v) if n == "shop-catalog" => Some(v),
        _ => None,
    }
}

fn is_canary_delete(w: &Write) -> bool {
    matches!(w, Write::Delete(OwnedKind::Deployment, n) if n == "shop-catalog-canary")
}

fn good() -> CanaryMetrics {
    CanaryMetrics {
        requests: 500.0,
        errors: 0.0,
        p99_ms: Some(80.0),
        custom: Vec::new(),
        business: Vec::new(),
    }
}

#[tokio::test]
async fn a_canary_is_promoted_step_by_step_in_a_safe_order() {
    let mut h = Harness::new(vec![good()]);
    h.pass("1.0.0").await;
    assert!(
        h.status.as_ref().unwrap().rollouts.is_empty(),
        "first install is no rollout"
    );

    h.pass("2.0.0").await;
    assert_eq!(h.rollout().phase, RolloutPhase::Initializing);
    assert_eq!(weights(&h.rollout()), (Some(100), Some(0)));
    let canary = h
        .fake
        .get(OwnedKind::Deployment, NS, "shop-catalog-canary")
        .unwrap();
    assert_eq!(
        canary["metadata"]["labels"]["app.kubernetes.io/version"],
        "2.0.0"
    );
    let stable = h
        .fake
        .get(OwnedKind::Deployment, NS, "shop-catalog")
        .unwrap();
    assert_eq!(
        stable["metadata"]["labels"]["app.kubernetes.io/version"], "1.0.0",
        "stable untouched"
    );

    h.pass("2.0.0").await; // canary pods ready → step 1
    assert_eq!(
        (h.rollout().phase, h.rollout().step),
        (RolloutPhase::Progressing, Some(1))
    );
    assert_eq!(weights(&h.rollout()), (Some(80), Some(20)));

    h.advance(60);
    h.pass("2.0.0").await;
    assert_eq!(weights(&h.rollout()).1, Some(60));
    assert_eq!(
        h.rollout().last_analysis.as_ref().unwrap().requests,
        Some(500.0)
    );

    h.advance(60);
    h.pass("2.0.0").await; // promote: stable moves to 2.0.0
    assert_eq!(h.rollout().phase, RolloutPhase::Promoting);
    let stable = h
        .fake
        .get(OwnedKind::Deployment, NS, "shop-catalog")
        .unwrap();
    assert_eq!(
        stable["metadata"]["labels"]["app.kubernetes.io/version"],
        "2.0.0"
    );
    h.pass("2.0.0").await; // stable ready → route removed
    assert_eq!(h.rollout().phase, RolloutPhase::Finalizing);
    assert_eq!(weights(&h.rollout()).1, Some(0));
    h.pass("2.0.0").await; // subset and canary go
    assert_eq!(h.rollout().phase, RolloutPhase::Succeeded);
    assert_eq!(h.rollout().stable.as_deref(), Some("2.0.0"));
    assert!(
        h.fake
            .get(OwnedKind::Deployment, NS, "shop-catalog-canary")
            .is_none()
    );

    let log = h.log();
    let subset_added = first(&log, 0, |w| catalog_dr(w).is_some_and(dr_has_canary));
    let routed = first(&log, 0, |w| catalog_vs(w).is_some_and(vs_routes_canary));
    assert!(subset_added < routed, "subset before route");
    let unrouted = first(&log, routed, |w| {
        catalog_vs(w).is_some_and(|v| !vs_routes_canary(v))
    });
    let subset_removed = first(&log, subset_added, |w| {
        catalog_dr(w).is_some_and(|v| !dr_has_canary(v))
    });
    let deleted = first(&log, 0, is_canary_delete);
    assert!(unrouted < subset_removed, "route removed before subset");
    assert!(subset_removed < deleted, "canary Deployment goes last");
    let events = h.fake.with(|s| s.events.clone());
    assert!(events.iter().any(|e| e.reason == "RolloutPromoted"));
}

#[tokio::test]
async fn a_failing_canary_is_rolled_back_with_a_warning() {
    let bad = CanaryMetrics {
        requests: 200.0,
        errors: 20.0,
        p99_ms: Some(80.0),
        custom: Vec::new(),
        business: Vec::new(),
    };
    let mut h = Harness::new(vec![bad]);
    h.pass("1.0.0").await;
    h.pass("2.0.0").await;
    h.pass("2.0.0").await;
    assert_eq!(weights(&h.rollout()).1, Some(20));
    h.advance(60);
    h.pass("2.0.0").await;
    assert_eq!(
        (h.rollout().phase, h.rollout().failed_checks),
        (RolloutPhase::Progressing, Some(1)),
        "first failed check of failureThreshold 2"
    );
    h.advance(60);
    h.pass("2.0.0").await;
    let r = h.rollout();
    assert_eq!(r.phase, RolloutPhase::RollingBack);
    assert_eq!(weights(&r), (Some(100), Some(0)));
    assert!(
        r.message.as_ref().unwrap().contains("success rate 90%"),
        "{:?}",
        r.message
    );
    assert!(
        h.fake
            .get(OwnedKind::Deployment, NS, "shop-catalog-canary")
            .is_some(),
        "canary kept until weights read back"
    );
    h.pass("2.0.0").await;
    assert_eq!(h.rollout().phase, RolloutPhase::RolledBack);
    let stable = h
        .fake
        .get(OwnedKind::Deployment, NS, "shop-catalog")
        .unwrap();
    assert_eq!(
        stable["metadata"]["labels"]["app.kubernetes.io/version"],
        "1.0.0"
    );

    let log = h.log();
    let routed = first(&log, 0, |w| catalog_vs(w).is_some_and(vs_routes_canary));
    let to_stable = first(&log, routed, |w| {
        catalog_vs(w).is_some_and(|v| !vs_routes_canary(v))
    });
    let deleted = first(&log, 0, is_canary_delete);
    assert!(
        to_stable < deleted,
        "weights to stable before the canary goes"
    );
    let events = h.fake.with(|s| s.events.clone());
    let warning = events.iter().find(|e| e.reason == "RolloutFailed").unwrap();
    assert_eq!(warning.type_, EventType::Warning);
    assert!(warning.note.contains("success rate"));

    h.advance(3600);
    h.pass("2.0.0").await;
    assert_eq!(h.rollout().phase, RolloutPhase::RolledBack, "not retried");
    assert!(
        h.fake
            .get(OwnedKind::Deployment, NS, "shop-catalog-canary")
            .is_none()
    );
}

#[tokio::test]
async fn status_weights_come_from_the_stored_virtual_service() {
    let mut h = Harness::new(vec![good()]);
    h.pass("1.0.0").await;
    h.pass("2.0.0").await;
    // Something between us and etcd changes the weights (a mutating webhook, say).
    h.fake.with(|s| {
        s.mutate_on_apply = Some(|v: &mut Value| {
            if v["kind"] == "VirtualService" && v["metadata"]["name"] == "shop-catalog" {
                for r in v["spec"]["http"].as_array_mut().unwrap() {
                    if r["name"] == "primary" && r["route"].as_array().unwrap().len() == 2 {
                        r["route"][0]["weight"] = json!(95);
                        r["route"][1]["weight"] = json!(5);
                    }
                }
            }
        });
    });
    h.pass("2.0.0").await;
    assert_eq!(
        weights(&h.rollout()),
        (Some(95), Some(5)),
        "intended 80/20, stored 95/5"
    );
}

fn catalog_primary_subsets(h: &Harness) -> Vec<Value> {
    let vs = h
        .fake
        .get(OwnedKind::VirtualService, NS, "shop-catalog")
        .unwrap();
    vs["spec"]["http"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["name"] == "primary")
        .flat_map(|r| r["route"].as_array().unwrap().clone())
        .map(|d| d["destination"]["subset"].clone())
        .collect()
}

#[tokio::test]
async fn switching_a_running_service_to_canary_keeps_its_traffic_until_its_pods_are_labelled() {
    for strategy in ["Canary", "Manual"] {
        let mut h = Harness::new(vec![good()]);
        h.pass_with("RollingUpdate", "1.0.0").await;
        assert_eq!(catalog_primary_subsets(&h), [Value::Null]);

        // The same pass that adds the track label to the pod template must not route to a
        // subset that no running pod carries yet.
        h.pass_with(strategy, "1.0.0").await;
        let stable = h
            .fake
            .get(OwnedKind::Deployment, NS, "shop-catalog")
            .unwrap();
        assert_eq!(
            stable["spec"]["template"]["metadata"]["labels"]["storefront.dev/track"],
            "stable"
        );
        assert_eq!(
            catalog_primary_subsets(&h),
            [Value::Null],
            "{strategy}: route to the host while the pods roll"
        );

        // The harness reports the rolled pods ready after the pass.
        h.pass_with(strategy, "1.0.0").await;
        assert_eq!(catalog_primary_subsets(&h), [json!("stable")], "{strategy}");
    }
}

/// Events published so far, as (reason, note).
fn events(h: &Harness) -> Vec<(String, String)> {
    h.fake.with(|s| {
        s.events
            .iter()
            .map(|e| (e.reason.clone(), e.note.clone()))
            .collect()
    })
}

#[tokio::test]
async fn an_annotation_pauses_then_promotes_and_the_operator_removes_only_what_it_handled() {
    let mut h = Harness::new(vec![good()]);
    h.pass("1.0.0").await;
    h.pass("2.0.0").await;
    h.pass("2.0.0").await; // canary ready: step 1 of 2, 20%
    let key = "rollout.storefront.dev/catalog".to_owned();
    h.annotations.insert(key.clone(), "pause".into());
    h.advance(600);
    h.pass("2.0.0").await;
    let rollout = h.rollout();
    assert_eq!((rollout.paused, rollout.step), (Some(true), Some(1)));
    assert_eq!(weights(&rollout), (Some(80), Some(20)));
    assert_eq!(
        h.status.as_ref().unwrap().rollout.as_deref(),
        Some("catalog 20% (1/2) paused"),
        "the ROLLOUT printer column"
    );
    assert_eq!(
        h.annotations.get(&key).map(String::as_str),
        Some("pause"),
        "a pause stays"
    );
    assert!(
        events(&h)
            .iter()
            .any(|(r, n)| r == "RolloutPaused" && n.starts_with("catalog: paused at step 1")),
        "{:?}",
        events(&h)
    );

    h.annotations.insert(key.clone(), "promote".into());
    h.pass("2.0.0").await;
    assert_eq!(h.rollout().phase, RolloutPhase::Promoting);
    assert!(h.annotations.is_empty(), "the handled promote is removed");
    let stable = h
        .fake
        .get(OwnedKind::Deployment, NS, "shop-catalog")
        .unwrap();
    assert_eq!(
        stable["metadata"]["labels"]["app.kubernetes.io/version"], "2.0.0",
        "the stable Deployment moves to the canary's version"
    );
    h.pass("2.0.0").await;
    h.pass("2.0.0").await;
    assert_eq!(h.rollout().phase, RolloutPhase::Succeeded);
    assert_eq!(
        h.status.as_ref().unwrap().rollout,
        None,
        "nothing in flight"
    );
}

#[tokio::test]
async fn a_command_the_operator_cannot_follow_is_reported_and_kept() {
    let mut h = Harness::new(vec![good()]);
    h.pass("1.0.0").await;
    h.pass("2.0.0").await;
    h.annotations
        .insert("rollout.storefront.dev/catalog".into(), "stop".into());
    h.annotations
        .insert("rollout.storefront.dev/orders".into(), "abort".into());
    h.pass("2.0.0").await;
    let seen = events(&h);
    assert!(
        seen.iter().any(|(r, n)| r == "InvalidRolloutCommand"
            && n.contains("rollout.storefront.dev/catalog")
            && n.contains("\"stop\"")),
        "{seen:?}"
    );
    assert!(
        seen.iter().any(|(r, n)| r == "RolloutCommandIgnored"
            && n.contains("orders has no Canary or Manual rollout")),
        "{seen:?}"
    );
    assert_eq!(
        h.annotations.len(),
        2,
        "nothing a person wrote is removed unread"
    );
    assert_eq!(
        h.rollout().phase,
        RolloutPhase::Progressing,
        "the rollout goes on"
    );
}

#[tokio::test]
async fn a_custom_metric_is_queried_with_its_placeholders_filled_and_rolls_back_out_of_bounds() {
    let scripted = Arc::new(ScriptedMetrics::new(vec![Ok(CanaryMetrics {
        custom: vec![("paid-ratio".into(), Some(0.5))],
        business: Vec::new(),
        ..good()
    })]));
    let mut h = Harness::new(Vec::new());
    h.ctx.canary_metrics = scripted.clone();
    h.checks = vec![crate::crd::MetricCheckSpec {
        name: "paid-ratio".into(),
        query: "sum(rate(orders_checkouts_total{namespace=\"{{ namespace }}\",pod=~\"{{ workload }}-.*\",outcome=\"paid\"}[{{ interval }}]))".into(),
        min: Some(0.95),
        max: None,
    }];
    h.pass("1.0.0").await;
    h.pass("2.0.0").await;
    h.pass("2.0.0").await;
    h.advance(60);
    h.pass("2.0.0").await;
    let query = scripted.queries.lock().unwrap()[0].clone();
    assert_eq!(
        query.custom,
        vec![(
            "paid-ratio".to_owned(),
            "sum(rate(orders_checkouts_total{namespace=\"shop\",pod=~\"shop-catalog-canary-.*\",outcome=\"paid\"}[60s]))".to_owned()
        )]
    );
    let analysis = h.rollout().last_analysis.unwrap();
    assert_eq!(analysis.metrics.get("paid-ratio"), Some(&0.5));
    assert_eq!(h.rollout().failed_checks, Some(1));
    h.advance(60);
    h.pass("2.0.0").await;
    let r = h.rollout();
    assert_eq!(r.phase, RolloutPhase::RollingBack);
    assert!(
        r.message
            .as_ref()
            .unwrap()
            .contains("metric paid-ratio = 0.5 below min 0.95"),
        "{:?}",
        r.message
    );
}

#[tokio::test]
async fn an_unknown_placeholder_is_an_invalid_spec_that_applies_nothing() {
    let mut h = Harness::new(vec![good()]);
    h.checks = vec![crate::crd::MetricCheckSpec {
        name: "paid-ratio".into(),
        query: "up{pod=\"{{ pod }}\"}".into(),
        min: Some(1.0),
        max: None,
    }];
    h.pass("1.0.0").await;
    assert!(
        h.fake.names(OwnedKind::Deployment).is_empty(),
        "nothing applied"
    );
    let status = h.status.clone().unwrap();
    let degraded = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Degraded")
        .unwrap();
    assert!(
        degraded.message.contains(
            "spec.services.catalog.rollout.analysis.metrics[0] (paid-ratio): unknown placeholder `{{ pod }}`"
        ),
        "{}",
        degraded.message
    );
}

/// A real HTTP receiver on a random loopback port: records each JSON body, answers `status`.
async fn receiver(status: u16) -> (String, Arc<Mutex<Vec<Value>>>) {
    use axum::http::StatusCode;
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let seen = bodies.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
            let seen = seen.clone();
            async move {
                seen.lock().unwrap().push(body);
                StatusCode::from_u16(status).unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, bodies)
}

fn reasons(bodies: &Mutex<Vec<Value>>) -> Vec<String> {
    bodies
        .lock()
        .unwrap()
        .iter()
        .map(|b| b["reason"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn each_rollout_transition_is_posted_to_the_webhook_as_slack_text() {
    let (url, bodies) = receiver(200).await;
    let mut h = Harness::new(vec![good()]);
    h.webhook = Some(crate::crd::WebhookSpec {
        url: Some(url),
        secret_ref: None,
    });
    h.pass("1.0.0").await;
    for _ in 0..2 {
        h.pass("2.0.0").await;
    }
    for _ in 0..2 {
        h.advance(60);
        h.pass("2.0.0").await;
    }
    h.pass("2.0.0").await;
    h.pass("2.0.0").await;
    assert_eq!(h.rollout().phase, RolloutPhase::Succeeded);
    assert_eq!(
        reasons(&bodies),
        ["RolloutStarted", "RolloutStepPassed", "RolloutPromoted"]
    );
    let first = bodies.lock().unwrap()[0].clone();
    assert_eq!(
        first["text"],
        "[shop/shop] RolloutStarted: catalog: canary 2.0.0 against stable 1.0.0"
    );
}

#[tokio::test]
async fn a_webhook_in_a_secret_is_read_when_sending_and_a_failing_one_fails_nothing() {
    let (url, bodies) = receiver(500).await;
    let mut h = Harness::new(vec![good()]);
    h.fake.insert(
        OwnedKind::Secret,
        NS,
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "hook", "namespace": NS},
               "data": {"url": base64(&url)}}),
    );
    h.webhook = Some(crate::crd::WebhookSpec {
        url: None,
        secret_ref: Some(crate::crd::SecretRef {
            name: "hook".into(),
        }),
    });
    h.pass("1.0.0").await;
    h.pass("2.0.0").await; // the receiver answers 500: logged, the pass goes on
    assert_eq!(reasons(&bodies), ["RolloutStarted"]);
    assert_eq!(h.rollout().phase, RolloutPhase::Initializing);
}

/// `text` as a Secret's data value (base64), the way k8s-openapi writes it.
fn base64(text: &str) -> Value {
    serde_json::to_value(k8s_openapi::ByteString(text.as_bytes().to_vec())).unwrap()
}

fn hook_spec(name: &str, type_: crate::crd::HookType, url: &str) -> crate::crd::RolloutHookSpec {
    crate::crd::RolloutHookSpec {
        name: name.into(),
        type_,
        url: url.into(),
        timeout: None,
        metadata: [("suite".to_owned(), "checkout".to_owned())].into(),
    }
}

#[tokio::test]
async fn hooks_are_called_over_http_before_the_first_route_before_promotion_and_after_it() {
    use crate::crd::HookType;
    let (url, bodies) = receiver(200).await;
    let mut h = Harness::new(vec![good()]);
    h.hooks = vec![
        hook_spec("warm-up", HookType::PreRollout, &url),
        hook_spec("release-manager", HookType::ConfirmPromotion, &url),
        hook_spec("announce", HookType::PostRollout, &url),
    ];
    h.pass("1.0.0").await;
    h.pass("2.0.0").await;
    assert!(
        bodies.lock().unwrap().is_empty(),
        "no hook before the canary's pods are ready"
    );
    h.pass("2.0.0").await; // PreRollout answered 200: the first route
    assert_eq!(weights(&h.rollout()).1, Some(20));
    for _ in 0..2 {
        h.advance(60);
        h.pass("2.0.0").await;
    }
    assert_eq!(h.rollout().phase, RolloutPhase::Promoting);
    h.pass("2.0.0").await;
    h.pass("2.0.0").await;
    assert_eq!(h.rollout().phase, RolloutPhase::Succeeded);
    let seen = bodies.lock().unwrap().clone();
    let phases: Vec<&str> = seen.iter().map(|b| b["phase"].as_str().unwrap()).collect();
    assert_eq!(phases, ["PreRollout", "ConfirmPromotion", "PostRollout"]);
    assert_eq!(
        seen[0],
        json!({"name": "shop", "namespace": NS, "service": "catalog", "phase": "PreRollout",
               "canary": "2.0.0", "stable": "1.0.0", "metadata": {"suite": "checkout"}})
    );
    assert_eq!(
        (&seen[2]["canary"], &seen[2]["stable"]),
        (&json!("2.0.0"), &json!("2.0.0")),
        "PostRollout hears the promoted state"
    );
}

#[tokio::test]
async fn a_rollout_hook_that_refuses_fails_the_checks_and_rolls_back() {
    let (url, bodies) = receiver(503).await;
    let mut h = Harness::new(vec![good()]);
    h.hooks = vec![hook_spec("load-test", crate::crd::HookType::Rollout, &url)];
    h.pass("1.0.0").await;
    h.pass("2.0.0").await;
    h.pass("2.0.0").await;
    for _ in 0..2 {
        h.advance(60);
        h.pass("2.0.0").await;
    }
    let r = h.rollout();
    assert_eq!(r.phase, RolloutPhase::RollingBack);
    assert!(
        r.message
            .as_ref()
            .unwrap()
            .contains("Rollout hook load-test answered HTTP 503"),
        "{:?}",
        r.message
    );
    assert_eq!(bodies.lock().unwrap().len(), 2, "one call per analysis");
}

/// (stable, canary) pods the stored Deployments ask for; canary `None` when it does not exist.
fn pods(h: &Harness) -> (i64, Option<i64>) {
    let replicas = |name: &str| {
        h.fake
            .get(OwnedKind::Deployment, NS, name)
            .map(|d| d["spec"]["replicas"].as_i64().unwrap())
    };
    (
        replicas("shop-catalog").unwrap(),
        replicas("shop-catalog-canary"),
    )
}

#[tokio::test]
async fn without_the_mesh_the_pods_split_the_traffic_and_their_own_metrics_judge_the_canary() {
    let mut h = Harness::new(vec![good()]);
    h.mesh = false;
    h.pass("1.0.0").await;
    h.pass("2.0.0").await;
    assert_eq!(h.rollout().phase, RolloutPhase::Initializing);
    assert_eq!(pods(&h), (10, Some(1)), "one canary pod to become ready on");
    for kind in [OwnedKind::VirtualService, OwnedKind::DestinationRule] {
        assert!(
            h.fake.names(kind).is_empty(),
            "no mesh objects without the mesh"
        );
    }
    h.pass("2.0.0").await; // the canary pod is ready → step 1, 20% of 10 pods
    assert_eq!(h.rollout().phase, RolloutPhase::Progressing);
    assert_eq!(pods(&h), (8, Some(2)));
    h.pass("2.0.0").await;
    assert_eq!(
        weights(&h.rollout()),
        (Some(80), Some(20)),
        "the weights are the ready pods' shares"
    );
    h.advance(60);
    h.pass("2.0.0").await;
    assert_eq!(h.rollout().step, Some(2));
    assert_eq!(pods(&h), (4, Some(6)));
    let queries = h.metrics.queries.lock().unwrap().clone();
    assert_eq!(
        queries[0].origin,
        crate::rollout::analysis::MetricsOrigin::Service,
        "no Istio metrics without the mesh"
    );
    // catalog's business check, each track's pods on their own.
    let [(name, canary, stable)] = &queries[0].business[..] else {
        panic!("one business check for catalog: {:?}", queries[0].business);
    };
    assert_eq!(name, "cache-hit-ratio");
    assert!(
        canary.contains("pod=~\"shop-catalog-canary-[a-z0-9]+-[a-z0-9]+\"")
            && stable.contains("pod=~\"shop-catalog-[a-z0-9]+-[a-z0-9]+\"")
            && canary.contains("[60s]"),
        "{canary}\n{stable}"
    );
    h.advance(60);
    h.pass("2.0.0").await; // every step passed → the stable pods take 2.0.0
    assert_eq!(h.rollout().phase, RolloutPhase::Promoting);
    h.pass("2.0.0").await; // stable ready at 2.0.0 → the canary drains
    assert_eq!(h.rollout().phase, RolloutPhase::Finalizing);
    assert_eq!(
        pods(&h),
        (10, Some(0)),
        "the stable pods take all the traffic back"
    );
    h.pass("2.0.0").await;
    h.pass("2.0.0").await;
    assert_eq!(h.rollout().phase, RolloutPhase::Succeeded);
    assert_eq!(pods(&h), (10, None), "the canary Deployment is gone");
    let stable = h
        .fake
        .get(OwnedKind::Deployment, NS, "shop-catalog")
        .unwrap();
    assert_eq!(
        stable["metadata"]["labels"]["app.kubernetes.io/version"],
        "2.0.0"
    );
}

#[tokio::test]
async fn without_the_mesh_a_failing_canary_loses_its_pods_at_once() {
    let bad = CanaryMetrics {
        errors: 250.0,
        ..good()
    };
    let mut h = Harness::new(vec![bad]);
    h.mesh = false;
    h.pass("1.0.0").await;
    h.pass("2.0.0").await;
    h.pass("2.0.0").await;
    assert_eq!(pods(&h), (8, Some(2)));
    for _ in 0..2 {
        h.advance(60);
        h.pass("2.0.0").await;
    }
    assert_eq!(h.rollout().phase, RolloutPhase::RollingBack);
    assert_eq!(
        pods(&h),
        (10, Some(0)),
        "no pod of the failed version serves"
    );
    h.pass("2.0.0").await;
    assert_eq!(h.rollout().phase, RolloutPhase::RolledBack);
    assert_eq!(pods(&h), (10, None));
}

/// The `storefront.dev/track` a stored Service selects.
fn selected(h: &Harness) -> Option<String> {
    h.fake
        .get(OwnedKind::Service, NS, "shop-catalog")
        .and_then(|s| {
            s["spec"]["selector"]["storefront.dev/track"]
                .as_str()
                .map(str::to_owned)
        })
}

#[tokio::test]
async fn without_the_mesh_blue_green_switches_the_service_s_selector_and_back() {
    let mut h = Harness::new(vec![good()]);
    h.mesh = false;
    h.pass_with("BlueGreen", "1.0.0").await;
    h.pass_with("BlueGreen", "1.0.0").await; // stable pods labelled and ready
    assert_eq!(selected(&h).as_deref(), Some("stable"));
    h.pass_with("BlueGreen", "2.0.0").await;
    assert_eq!(pods(&h), (10, Some(10)), "the preview at full size");
    assert!(
        h.fake
            .get(OwnedKind::Service, NS, "shop-catalog-preview")
            .is_some(),
        "a preview Service"
    );
    h.pass_with("BlueGreen", "2.0.0").await; // ready → the preview step
    assert_eq!(
        (h.rollout().phase, h.rollout().step),
        (RolloutPhase::Progressing, Some(1))
    );
    assert_eq!(
        selected(&h).as_deref(),
        Some("stable"),
        "users stay on stable"
    );
    assert_eq!(weights(&h.rollout()), (Some(100), Some(0)));
    h.advance(60);
    h.pass_with("BlueGreen", "2.0.0").await; // preview passed → switch
    assert_eq!(selected(&h).as_deref(), Some("canary"));
    assert_eq!(
        weights(&h.rollout()),
        (Some(0), Some(100)),
        "read back from the selector"
    );
    assert_eq!(pods(&h), (10, Some(10)), "the old pods stay");
    h.advance(60);
    h.pass_with("BlueGreen", "2.0.0").await; // scaleDownDelay (30s) over → promoting
    assert_eq!(h.rollout().phase, RolloutPhase::Promoting);
    h.pass_with("BlueGreen", "2.0.0").await; // stable at 2.0.0 → the switch back
    assert_eq!(h.rollout().phase, RolloutPhase::Finalizing);
    assert_eq!(selected(&h).as_deref(), Some("stable"));
    h.pass_with("BlueGreen", "2.0.0").await;
    assert_eq!(h.rollout().phase, RolloutPhase::Succeeded);
    assert_eq!(pods(&h), (10, None));
    assert!(
        h.fake
            .get(OwnedKind::Service, NS, "shop-catalog-preview")
            .is_none()
    );
}
