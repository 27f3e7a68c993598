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
    serde_json::from_value(json!({
        "apiVersion": "storefront.dev/v1alpha1",
        "kind": "EcommercePlatform",
        "metadata": {"name": "shop", "namespace": NS, "uid": "uid-1", "generation": 1},
        "spec": {
            "version": "1.0.0",
            "services": {"catalog": {
                "version": catalog_version,
                "rollout": {"strategy": strategy, "steps": [20, 60], "interval": "1m",
                            "analysis": {"minRequests": 10}, "canaryWeight": 0},
            }},
            "mesh": {"istio": {}},
        },
    }))
    .unwrap()
}

struct Harness {
    fake: Arc<FakeCluster>,
    ctx: Context,
    clock: Arc<AtomicI64>,
    status: Option<crate::crd::PlatformStatus>,
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
        ctx.canary_metrics = Arc::new(ScriptedMetrics::new(metrics.into_iter().map(Ok).collect()));
        Self {
            fake,
            ctx,
            clock,
            status: None,
        }
    }

    async fn pass(&mut self, version: &str) {
        self.pass_with("Canary", version).await;
    }

    async fn pass_with(&mut self, strategy: &str, version: &str) {
        let mut p = platform_with(strategy, version);
        p.status = self.status.clone();
        reconcile::reconcile(&p, &self.ctx).await.unwrap();
        self.status = self.fake.with(|s| s.status_writes.last().cloned());
        // Every Deployment the pass applied reports ready pods.
        for name in self.fake.names(OwnedKind::Deployment) {
            self.fake.set_ready(OwnedKind::Deployment, NS, &name, 1);
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
