//! A canary of catalog without a mesh, on the local control plane: the real operator splits the
//! traffic by pod count (one Service over both tracks' pods, as Argo Rollouts does without a
//! traffic router) and judges the canary from its pods' own metrics, read from a scripted
//! Prometheus (the stand-in: nothing here scrapes the kwok pods). It promotes on good figures
//! and rolls back, its pods gone at once, on bad ones; then goes blue/green, the Service's
//! selector being the switch.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use storefront_cluster::LocalCluster;
use support::prometheus::{Figures, ScriptedPrometheus};
use support::{Operator, apply, cluster, get, namespace, platform_status, wait_ready};

const NS: &str = "meshless";

fn platform(prometheus: &str) -> Value {
    json!({
        "apiVersion": "storefront.dev/v1alpha1",
        "kind": "EcommercePlatform",
        "metadata": {"name": "shop", "namespace": NS},
        "spec": {
            "version": "0.1.0",
            "services": {
                "catalog": {
                    "replicas": 4,
                    "rollout": {
                        "strategy": "Canary",
                        "steps": [25, 50],
                        "interval": "2s",
                        "progressDeadline": "5m",
                        "analysis": {"minRequests": 20, "prometheusUrl": prometheus},
                    },
                },
            },
        },
    })
}

fn rollout(c: &LocalCluster) -> Value {
    platform_status(c, NS, "shop")["rollouts"]["catalog"].clone()
}

/// Pods each Deployment asks for: (stable, canary), canary `None` when it does not exist.
fn pods(c: &LocalCluster) -> (i64, Option<i64>) {
    let replicas =
        |name: &str| get(c, NS, &["deployment", name]).and_then(|d| d["spec"]["replicas"].as_i64());
    (
        replicas("shop-catalog").unwrap_or(-1),
        replicas("shop-catalog-canary"),
    )
}

/// Follows the rollout until `done`; returns the (stable, canary) pod counts seen, in order,
/// without repeats. At every look the two tracks ask for no more pods than the spec's four,
/// except while the canary's first pod starts beside them.
fn follow(c: &LocalCluster, what: &str, done: impl Fn(&Value) -> bool) -> Vec<(i64, Option<i64>)> {
    let started = Instant::now();
    let mut seen: Vec<(i64, Option<i64>)> = Vec::new();
    loop {
        let now = pods(c);
        if seen.last() != Some(&now) {
            seen.push(now);
        }
        let status = rollout(c);
        if done(&status) {
            // The status may have moved past the sample above: look once more.
            let now = pods(c);
            if seen.last() != Some(&now) {
                seen.push(now);
            }
            eprintln!(
                "[test] {what}: after {:.1} s, pods seen {seen:?}",
                started.elapsed().as_secs_f64()
            );
            return seen;
        }
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "{what}: not within 180 s; rollout status: {status:#}; pods seen {seen:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn phase(status: &Value) -> &str {
    status["phase"].as_str().unwrap_or_default()
}

#[test]
fn without_a_mesh_the_pods_split_the_traffic_and_a_bad_canary_loses_them() {
    let Some(c) = cluster() else { return };
    let prometheus = ScriptedPrometheus::start(Figures::HEALTHY);
    namespace(c, NS);
    let mut operator = Operator::start(c, "meshless", &[]);
    apply(c, &platform(&prometheus.url));
    wait_ready(c, NS, "shop", "180s");
    let service = get(c, NS, &["service", "shop-catalog"]).expect("catalog Service");
    assert!(
        service["spec"]["selector"]
            .get("storefront.dev/track")
            .is_none(),
        "the Service must select both tracks: {service:#}"
    );

    // 1. Good figures: 1 of 4 pods, then 2 of 4, then the stable pods take the version.
    support::patch_spec(
        c,
        NS,
        json!({"services": {"catalog": {"version": "0.2.0"}}}),
    );
    // The status weights are the ready pods' shares: 1 of 4 is 25 / 75.
    let seen = follow(c, "step 1", |s| {
        phase(s) == "Progressing" && s["canaryWeight"] == 25 && s["stableWeight"] == 75
    });
    assert!(seen.contains(&(3, Some(1))), "no 25% step: {seen:?}");
    let seen = follow(c, "promotion", |s| {
        phase(s) == "Succeeded" && s["stable"] == "0.2.0"
    });
    assert!(seen.contains(&(2, Some(2))), "no 50% step: {seen:?}");
    assert!(
        seen.iter()
            .all(|(stable, canary)| stable + canary.unwrap_or(0) <= 5),
        "the tracks asked for more pods than the spec: {seen:?}"
    );
    assert_eq!(
        pods(c),
        (4, None),
        "the canary Deployment outlived the promotion"
    );
    let stable = get(c, NS, &["deployment", "shop-catalog"]).unwrap();
    assert_eq!(
        stable["metadata"]["labels"]["app.kubernetes.io/version"],
        "0.2.0"
    );
    let sent = prometheus.queries_with("http_requests_total");
    assert!(
        !sent.is_empty()
            && sent.iter().all(|q| q.contains("namespace=\"meshless\"")
                && q.contains("pod=~\"shop-catalog-canary-.*\"")
                && q.contains("route!~")),
        "the analysis did not read the canary pods' own metrics: {sent:?}"
    );
    assert!(
        prometheus.queries_with("istio_").is_empty(),
        "Istio metrics asked for without the mesh"
    );
    for kind in ["virtualservices", "destinationrules"] {
        let list = get(c, NS, &[kind]).expect("list");
        assert_eq!(list["items"], json!([]), "{kind} without the mesh");
    }

    // 2. Bad figures: rolled back, the canary's pods removed before the Deployment.
    prometheus.set(Figures::FAILING);
    support::patch_spec(
        c,
        NS,
        json!({"services": {"catalog": {"version": "0.3.0"}}}),
    );
    let seen = follow(c, "rollback", |s| {
        phase(s) == "RolledBack" && s["canary"] == "0.3.0"
    });
    assert_eq!(pods(c), (4, None));
    assert!(
        seen.iter().any(|(_, canary)| *canary == Some(1)),
        "the canary never had its pod: {seen:?}"
    );
    let status = rollout(c);
    assert_eq!(status["stable"], "0.2.0");
    assert!(
        status["message"]
            .as_str()
            .is_some_and(|m| m.contains("success rate")),
        "{status:#}"
    );

    // 3. Blue/green without a mesh: the Service's selector is the switch. The preview runs
    // at full size behind its own Service while users stay on stable; then the selector
    // moves to the new pods at once, and back to the stable pods once they run the version.
    prometheus.set(Figures::HEALTHY);
    support::patch_spec(
        c,
        NS,
        json!({"services": {"catalog": {
            "version": "0.4.0",
            "rollout": {"strategy": "BlueGreen", "scaleDownDelay": "4s"},
        }}}),
    );
    let selected = || {
        get(c, NS, &["service", "shop-catalog"]).expect("catalog Service")["spec"]["selector"]
            ["storefront.dev/track"]
            .as_str()
            .map(str::to_owned)
    };
    follow(c, "the preview", |s| {
        phase(s) == "Progressing" && s["step"] == 1 && s["canary"] == "0.4.0"
    });
    assert_eq!(
        selected().as_deref(),
        Some("stable"),
        "users left the stable pods"
    );
    assert_eq!(pods(c), (4, Some(4)), "the preview is not at full size");
    let preview = get(c, NS, &["service", "shop-catalog-preview"]).expect("a preview Service");
    assert_eq!(
        preview["spec"]["selector"]["storefront.dev/track"],
        "canary"
    );
    follow(c, "the switch", |s| {
        s["step"] == 2 && s["canaryWeight"] == 100
    });
    assert_eq!(selected().as_deref(), Some("canary"));
    let stable = get(c, NS, &["deployment", "shop-catalog"]).unwrap();
    assert_eq!(
        stable["metadata"]["labels"]["app.kubernetes.io/version"], "0.2.0",
        "the old version keeps its pods after the switch"
    );
    follow(c, "blue/green promotion", |s| {
        phase(s) == "Succeeded" && s["stable"] == "0.4.0"
    });
    assert_eq!(selected().as_deref(), Some("stable"));
    support::eventually(
        "the preview Service and the canary go",
        Duration::from_secs(30),
        || {
            (get(c, NS, &["service", "shop-catalog-preview"]).is_none() && pods(c) == (4, None))
                .then_some(())
        },
        || format!("{:#}", rollout(c)),
    );
    assert!(operator.running(), "{}", operator.log_tail());
}
