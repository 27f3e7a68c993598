//! A canary of catalog on the local control plane, driven by the real operator and judged from a
//! scripted Prometheus (the one stand-in: Istio's Envoy cannot run here, so nothing real would
//! produce `istio_requests_total`). One test walks the whole story in order, because each part
//! starts from where the last one left the platform: promote on good figures, roll back on bad
//! ones, abort when the version is set back, resume at the same step after the operator is
//! killed mid-step, and follow the commands a person gives with `kubectl storefront rollout`
//! (the workspace's kubectl plugin, which writes the annotation: a pause that holds across an
//! operator restart, promote now, abort), which the operator removes once handled,
//! roll back on a custom metric query out of bounds, hold the last step while a
//! ConfirmPromotion hook refuses, mirror before the weighted steps with A/B match entries, and
//! go blue/green: a full-size preview, the switch, and a switch back after it; and roll back on
//! a built-in business check (catalog's cache hit ratio, canary against stable).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use storefront_cluster::LocalCluster;
use support::prometheus::{Figures, ScriptedPrometheus};
use support::{Operator, apply, cluster, get, namespace, platform_status, wait_ready};

const NS: &str = "rollout";

fn platform(prometheus: &str, catalog_version: &str) -> Value {
    json!({
        "apiVersion": "storefront.dev/v1alpha1",
        "kind": "EcommercePlatform",
        "metadata": {"name": "shop", "namespace": NS},
        "spec": {
            "version": "0.1.0",
            "services": {
                "catalog": {
                    "replicas": 2,
                    "version": catalog_version,
                    "rollout": {
                        "strategy": "Canary",
                        "steps": [20, 50],
                        "interval": "2s",
                        "progressDeadline": "5m",
                        "analysis": {
                            "minSuccessRate": 99,
                            "maxP99Latency": "500ms",
                            "minRequests": 20,
                            "prometheusUrl": prometheus,
                        },
                    },
                },
            },
            "mesh": {"istio": {"mtls": "STRICT", "ingress": {"hosts": ["shop.test"]}}},
        },
    })
}

fn rollout(c: &LocalCluster) -> Value {
    platform_status(c, NS, "shop")["rollouts"]["catalog"].clone()
}

/// Whether the stored DestinationRule has the canary subset.
fn has_subset(c: &LocalCluster) -> bool {
    let dr = get(c, NS, &["destinationrule", "shop-catalog"]).unwrap_or(Value::Null);
    dr["spec"]["subsets"]
        .as_array()
        .is_some_and(|s| s.iter().any(|s| s["name"] == "canary"))
}

/// What the mesh objects say right now: (canary weight in the stored VirtualService, whether
/// the DestinationRule has the canary subset). The two are read one after the other, so the
/// subset is read before and after the route: a subset seen on neither side of a route that
/// reaches it is one that did not exist (a subset that was both made and removed within
/// those reads, under a step of seconds, is not something a rollout does).
fn mesh(c: &LocalCluster) -> (Option<i64>, bool) {
    let before = has_subset(c);
    let vs = get(c, NS, &["virtualservice", "shop-catalog"]).unwrap_or(Value::Null);
    let canary_weight = vs["spec"]["http"].as_array().and_then(|routes| {
        let primary = routes.iter().find(|r| r["name"] == "primary")?;
        Some(
            primary["route"]
                .as_array()?
                .iter()
                .filter(|d| d["destination"]["subset"] == "canary")
                .map(|d| d["weight"].as_i64().unwrap_or(0))
                .sum(),
        )
    });
    let subset = before || has_subset(c);
    (canary_weight, subset)
}

/// Follows the rollout until `done` holds, checking at every look that no route points at a
/// subset that does not exist and that the status reports only weights the VirtualService has.
/// Returns the canary weights seen in the stored VirtualService, in order, without repeats.
fn follow(
    c: &LocalCluster,
    what: &str,
    limit: Duration,
    done: impl Fn(&Value) -> bool,
) -> Vec<i64> {
    let started = Instant::now();
    let mut weights: Vec<i64> = Vec::new();
    loop {
        let (weight, subset) = mesh(c);
        if let Some(w) = weight.filter(|w| *w > 0) {
            assert!(
                subset,
                "a route sends {w}% to the canary subset before it exists"
            );
        }
        if let Some(w) = weight
            && weights.last() != Some(&w)
        {
            weights.push(w);
        }
        let status = rollout(c);
        if done(&status) {
            eprintln!(
                "[test] {what}: after {:.1} s, weights seen {weights:?}",
                started.elapsed().as_secs_f64()
            );
            return weights;
        }
        assert!(
            started.elapsed() < limit,
            "{what}: not within {limit:?}; rollout status: {status:#}; weights seen {weights:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `kubectl storefront rollout <args>`: the plugin from this workspace, found by kubectl on
/// the PATH as a user's would be.
fn plugin(c: &LocalCluster, args: &[&str]) -> String {
    let bin = support::target_bin("kubectl-storefront");
    c.kubectl()
        .plugins(bin.parent().expect("the plugin's directory"))
        .args(["storefront", "rollout"])
        .args(args.iter().copied())
        .args(["-n", NS])
        .run()
        .unwrap_or_else(|e| panic!("{e}"))
}

/// `kubectl storefront rollout <command> catalog`, which writes the annotation
/// `rollout.storefront.dev/catalog=<command>`.
fn command(c: &LocalCluster, command: &str) {
    plugin(c, &[command, "catalog"]);
}

/// The command annotation on the platform, if any.
fn annotation(c: &LocalCluster) -> Option<String> {
    get(c, NS, &["ecp", "shop"])?["metadata"]["annotations"]["rollout.storefront.dev/catalog"]
        .as_str()
        .map(str::to_owned)
}

/// `kubectl get ecp shop`, as a person would look at it (the ROLLOUT column).
fn get_ecp(c: &LocalCluster) -> String {
    c.kubectl()
        .args(["get", "ecp", "shop", "-n", NS])
        .run()
        .unwrap_or_else(|e| panic!("{e}"))
}

fn phase(status: &Value) -> &str {
    status["phase"].as_str().unwrap_or_default()
}

fn set_version(c: &LocalCluster, version: &str) {
    support::patch_spec(
        c,
        NS,
        json!({"services": {"catalog": {"version": version}}}),
    );
}

/// The status weights, once they agree with the stored VirtualService.
fn status_matches_mesh(c: &LocalCluster) -> bool {
    let status = rollout(c);
    let (weight, _) = mesh(c);
    status["canaryWeight"].as_i64().unwrap_or(0) == weight.unwrap_or(0)
}

#[test]
fn a_canary_promotes_rolls_back_aborts_and_resumes_after_a_restart() {
    let Some(c) = cluster() else { return };
    let prometheus = ScriptedPrometheus::start(Figures::HEALTHY);
    namespace(c, NS);
    let mut operator = Operator::start(c, "rollout-1", &[]);
    apply(c, &platform(&prometheus.url, "0.1.0"));
    wait_ready(c, NS, "shop", "180s");

    // 1. Good figures: 20% → 50% → promoted.
    set_version(c, "0.2.0");
    support::eventually(
        "the canary Deployment is created",
        Duration::from_secs(60),
        || get(c, NS, &["deployment", "shop-catalog-canary"]),
        || format!("{:#}", rollout(c)),
    );
    let weights = follow(c, "promotion", Duration::from_secs(180), |s| {
        phase(s) == "Succeeded" && s["stable"] == "0.2.0"
    });
    assert!(
        weights.contains(&20) && weights.contains(&50),
        "the weights did not step through 20 and 50: {weights:?}"
    );
    assert_eq!(
        mesh(c).0,
        Some(0),
        "traffic is not all on stable after promotion"
    );
    assert!(status_matches_mesh(c));
    assert!(
        prometheus.queries() > 0,
        "the analysis never asked Prometheus"
    );

    // 2. Bad figures: rolled back, stable untouched.
    prometheus.set(Figures::FAILING);
    set_version(c, "0.3.0");
    follow(c, "rollback", Duration::from_secs(180), |s| {
        phase(s) == "RolledBack"
    });
    let status = rollout(c);
    assert_eq!(status["stable"], "0.2.0", "{status:#}");
    assert_eq!(mesh(c).0.unwrap_or(0), 0);
    let stable = get(c, NS, &["deployment", "shop-catalog"]).expect("stable Deployment");
    assert!(
        stable["spec"]["template"]["spec"]["containers"][0]["image"]
            .as_str()
            .is_some_and(|i| i.ends_with(":0.2.0")),
        "the stable Deployment no longer runs 0.2.0: {}",
        stable["spec"]["template"]["spec"]["containers"][0]["image"]
    );

    // 3. Setting the version back during a rollout aborts it.
    prometheus.set(Figures::HEALTHY);
    set_version(c, "0.4.0");
    follow(
        c,
        "the next canary takes traffic",
        Duration::from_secs(120),
        |s| phase(s) == "Progressing" && s["canaryWeight"].as_i64().unwrap_or(0) > 0,
    );
    set_version(c, "0.2.0");
    follow(c, "abort", Duration::from_secs(120), |s| {
        phase(s) == "Aborted" || (phase(s) == "Succeeded" && s["stable"] == "0.2.0")
    });
    support::eventually(
        "the aborted canary's route is gone",
        Duration::from_secs(60),
        || (mesh(c).0.unwrap_or(0) == 0).then_some(()),
        || format!("{:?}", mesh(c)),
    );
    assert_eq!(rollout(c)["stable"], "0.2.0");

    // 4. Killed mid-step, a new operator resumes at the same step.
    set_version(c, "0.5.0");
    follow(
        c,
        "step 1 of the next canary",
        Duration::from_secs(120),
        |s| phase(s) == "Progressing" && s["step"] == 1 && s["canaryWeight"] == 20,
    );
    operator.kill();
    let before = rollout(c);
    let mut operator = Operator::start(c, "rollout-2", &[]);
    // The first thing the new operator writes must not reset the rollout to its start.
    let weights = follow(
        c,
        "promotion after the restart",
        Duration::from_secs(180),
        |s| phase(s) == "Succeeded" && s["stable"] == "0.5.0",
    );
    assert_eq!(
        weights.first(),
        Some(&20),
        "the restarted operator did not resume at step 1 (20%): {weights:?}; before: {before:#}"
    );
    assert_eq!(
        before["startedAt"],
        rollout(c)["startedAt"],
        "a new rollout was started"
    );
    assert!(operator.running(), "{}", operator.log_tail());

    // 5. Paused at step 1 by annotation: nothing moves over many intervals, nor across a restart.
    set_version(c, "0.6.0");
    follow(c, "step 1 of 0.6.0", Duration::from_secs(120), |s| {
        phase(s) == "Progressing" && s["step"] == 1 && s["canaryWeight"] == 20
    });
    command(c, "pause");
    follow(c, "the pause", Duration::from_secs(30), |s| {
        s["paused"] == true
    });
    let column = get_ecp(c);
    assert!(
        column.contains("ROLLOUT") && column.contains("catalog 20% (1/2) paused"),
        "kubectl get shows no ROLLOUT column with the paused step:\n{column}"
    );
    let table = plugin(c, &["status", "catalog"]);
    assert!(
        table.contains("Progressing (paused)")
            && table.contains("1/2")
            && table.contains("steps: [20] 50")
            && table.contains("0.5.0 -> 0.6.0"),
        "kubectl storefront rollout status:\n{table}"
    );
    std::thread::sleep(Duration::from_secs(8)); // four analysis intervals
    operator.kill();
    let mut operator = Operator::start(c, "rollout-3", &[]);
    support::eventually(
        "the new operator reconciles the paused platform",
        Duration::from_secs(90),
        || {
            operator
                .log_tail()
                .contains("status unchanged")
                .then_some(())
        },
        || operator.log_tail(),
    );
    std::thread::sleep(Duration::from_secs(6));
    let held = rollout(c);
    assert_eq!(
        (
            phase(&held),
            &held["step"],
            &held["canaryWeight"],
            &held["paused"]
        ),
        ("Progressing", &json!(1), &json!(20), &json!(true)),
        "the pause did not hold: {held:#}"
    );
    assert_eq!(annotation(c).as_deref(), Some("pause"), "a pause stays");

    // 6. Promote now: the remaining step and its analysis are skipped.
    command(c, "promote");
    let weights = follow(c, "promote now", Duration::from_secs(120), |s| {
        phase(s) == "Succeeded" && s["stable"] == "0.6.0"
    });
    assert!(
        !weights.contains(&50),
        "step 2 was not skipped: {weights:?}"
    );
    assert_eq!(annotation(c), None, "the handled promote was not removed");

    // 7. Abort: back on stable at once, the version not retried.
    set_version(c, "0.7.0");
    follow(c, "0.7.0 takes traffic", Duration::from_secs(120), |s| {
        phase(s) == "Progressing" && s["canaryWeight"].as_i64().unwrap_or(0) > 0
    });
    command(c, "abort");
    follow(c, "abort by command", Duration::from_secs(120), |s| {
        phase(s) == "RolledBack" && s["canary"] == "0.7.0"
    });
    assert_eq!(rollout(c)["stable"], "0.6.0");
    assert_eq!(mesh(c).0.unwrap_or(0), 0, "traffic is not back on stable");
    assert_eq!(annotation(c), None, "the handled abort was not removed");

    // 8. A custom metric out of bounds rolls back, its query filled in for this canary.
    prometheus.set_custom("orders_checkouts_total", 0.5);
    support::patch_spec(
        c,
        NS,
        json!({"services": {"catalog": {
            "version": "0.8.0",
            "rollout": {"analysis": {"metrics": [{
                "name": "paid-ratio",
                "query": "sum(rate(orders_checkouts_total{namespace=\"{{ namespace }}\",pod=~\"{{ workload }}-.*\",outcome=\"paid\"}[{{ interval }}]))",
                "min": 0.95,
            }]}},
        }}}),
    );
    follow(
        c,
        "rollback on a custom metric",
        Duration::from_secs(120),
        |s| phase(s) == "RolledBack" && s["canary"] == "0.8.0",
    );
    let status = rollout(c);
    assert!(
        status["message"]
            .as_str()
            .is_some_and(|m| m.contains("metric paid-ratio = 0.5 below min 0.95")),
        "{status:#}"
    );
    assert_eq!(status["lastAnalysis"]["metrics"]["paid-ratio"], 0.5);
    let sent = prometheus.queries_with("orders_checkouts_total");
    assert!(
        !sent.is_empty()
            && sent.iter().all(|q| q.contains("namespace=\"rollout\"")
                && q.contains("pod=~\"shop-catalog-canary-.*\"")
                && q.contains("[2s]")),
        "the placeholders were not filled in: {sent:?}"
    );
    assert_eq!(rollout(c)["stable"], "0.6.0");

    // 9. A ConfirmPromotion hook that refuses holds the last step; once it agrees, promotion.
    prometheus.set_custom("orders_checkouts_total", 0.99);
    prometheus.set_hook_status(403);
    support::patch_spec(
        c,
        NS,
        json!({"services": {"catalog": {
            "version": "0.9.0",
            "rollout": {"webhooks": [{
                "name": "release-manager",
                "type": "ConfirmPromotion",
                "url": format!("{}/hook", prometheus.url),
            }]},
        }}}),
    );
    follow(
        c,
        "the gate holds the last step",
        Duration::from_secs(120),
        |s| {
            s["message"]
                .as_str()
                .is_some_and(|m| m.contains("waiting for ConfirmPromotion"))
        },
    );
    std::thread::sleep(Duration::from_secs(6)); // three intervals, each asking again
    let held = rollout(c);
    assert_eq!(
        (phase(&held), &held["step"], &held["canaryWeight"]),
        ("Progressing", &json!(2), &json!(50)),
        "{held:#}"
    );
    prometheus.set_hook_status(200);
    follow(
        c,
        "promotion once confirmed",
        Duration::from_secs(120),
        |s| phase(s) == "Succeeded" && s["stable"] == "0.9.0",
    );
    let calls = prometheus.hook_calls();
    assert!(
        calls.len() >= 2
            && calls.iter().all(|b| b["phase"] == "ConfirmPromotion"
                && b["service"] == "catalog"
                && b["canary"] == "0.9.0"),
        "{calls:?}"
    );

    // 10. A mirror step, then the weights, with A/B match entries on the canary route; the
    // stored VirtualService (real API server, Istio's CRD schema) keeps every field. Too
    // little traffic holds the mirror step while it is looked at.
    prometheus.set(Figures {
        requests: 5.0,
        ..Figures::HEALTHY
    });
    support::patch_spec(
        c,
        NS,
        json!({"services": {"catalog": {
            "version": "0.10.0",
            "rollout": {
                "webhooks": null,
                "mirror": 30,
                "match": [
                    {"headers": {"x-group": {"exact": "beta"}, "user-agent": {"regex": ".*Firefox.*"}}},
                    {"cookie": {"name": "canary", "value": "yes"}},
                ],
            },
        }}}),
    );
    follow(c, "the mirror step", Duration::from_secs(120), |s| {
        phase(s) == "Progressing" && s["step"] == 1 && s["mirror"] == 30
    });
    let vs = get(c, NS, &["virtualservice", "shop-catalog"]).expect("catalog VirtualService");
    let routes = vs["spec"]["http"].as_array().expect("routes");
    let primary = routes.iter().find(|r| r["name"] == "primary").unwrap();
    assert_eq!(primary["mirror"]["subset"], "canary", "{vs:#}");
    assert_eq!(primary["mirrorPercentage"]["value"], 30.0, "{vs:#}");
    assert_eq!(mesh(c).0, Some(0), "the mirror step routes nothing");
    let header = routes
        .iter()
        .find(|r| r["name"] == "canary-header")
        .unwrap();
    assert_eq!(
        header["match"],
        json!([
            {"headers": {"x-canary": {"exact": "always"}}},
            {"headers": {"user-agent": {"regex": ".*Firefox.*"}, "x-group": {"exact": "beta"}}},
            {"headers": {"cookie": {"regex": "^(.*?;\\s*)?canary=yes(;.*)?$"}}},
        ]),
        "{vs:#}"
    );
    let column = get_ecp(c);
    assert!(
        column.contains("catalog mirror 30% (1/3)"),
        "kubectl get shows no mirror step:\n{column}"
    );
    let table = plugin(c, &["status", "catalog"]);
    assert!(
        table.contains("0% (mirror 30%)") && table.contains("steps: [mirror 30%] 20 50"),
        "kubectl storefront rollout status:\n{table}"
    );
    prometheus.set(Figures::HEALTHY);
    let weights = follow(
        c,
        "promotion after the mirror step",
        Duration::from_secs(120),
        |s| phase(s) == "Succeeded" && s["stable"] == "0.10.0",
    );
    assert!(
        weights.contains(&20) && weights.contains(&50),
        "the weighted steps did not follow: {weights:?}"
    );
    let vs = get(c, NS, &["virtualservice", "shop-catalog"]).expect("catalog VirtualService");
    assert!(
        vs["spec"]["http"]
            .as_array()
            .is_some_and(|r| r.iter().all(|r| r.get("mirror").is_none())),
        "the mirror outlived its step: {vs:#}"
    );

    // 11. Blue/green: the preview at full size on its own Service, then all traffic at once
    // with the old pods kept for scaleDownDelay; promoted, then a failure after the switch
    // switches back at the first failed check.
    support::patch_spec(
        c,
        NS,
        json!({"services": {"catalog": {
            "version": "0.11.0",
            "rollout": {"strategy": "BlueGreen", "mirror": null, "scaleDownDelay": "6s"},
        }}}),
    );
    follow(c, "the preview", Duration::from_secs(120), |s| {
        phase(s) == "Progressing" && s["step"] == 1 && s["canary"] == "0.11.0"
    });
    let preview = get(c, NS, &["service", "shop-catalog-preview"]).expect("a preview Service");
    assert_eq!(
        preview["spec"]["selector"]["storefront.dev/track"], "canary",
        "{preview:#}"
    );
    let canary = get(c, NS, &["deployment", "shop-catalog-canary"]).unwrap();
    assert_eq!(
        canary["spec"]["replicas"], 2,
        "the preview is not at full size"
    );
    assert_eq!(
        mesh(c).0,
        Some(0),
        "traffic reached the preview before the switch"
    );
    let column = get_ecp(c);
    assert!(column.contains("catalog preview (1/2)"), "{column}");
    follow(c, "the switch", Duration::from_secs(120), |s| {
        s["step"] == 2 && s["canaryWeight"] == 100
    });
    let stable = get(c, NS, &["deployment", "shop-catalog"]).unwrap();
    assert_eq!(
        stable["metadata"]["labels"]["app.kubernetes.io/version"], "0.10.0",
        "the old version must keep its pods after the switch"
    );
    follow(c, "blue/green promotion", Duration::from_secs(120), |s| {
        phase(s) == "Succeeded" && s["stable"] == "0.11.0"
    });
    support::eventually(
        "the preview Service is removed with the canary",
        Duration::from_secs(30),
        || {
            get(c, NS, &["service", "shop-catalog-preview"])
                .is_none()
                .then_some(())
        },
        || format!("{:#}", rollout(c)),
    );
    support::patch_spec(
        c,
        NS,
        json!({"services": {"catalog": {"version": "0.12.0"}}}),
    );
    follow(c, "the next switch", Duration::from_secs(120), |s| {
        s["canary"] == "0.12.0" && s["step"] == 2 && s["canaryWeight"] == 100
    });
    prometheus.set(Figures::FAILING);
    let weights = follow(c, "switched back", Duration::from_secs(120), |s| {
        phase(s) == "RolledBack" && s["canary"] == "0.12.0"
    });
    let status = rollout(c);
    assert_eq!(
        (&status["stable"], &status["failedChecks"]),
        (&json!("0.11.0"), &json!(1)),
        "back at the first failed check: {status:#}"
    );
    assert_eq!(weights.last(), Some(&0), "{weights:?}");

    // 12. catalog's built-in business check: the canary's cache hit ratio collapses next to
    // the stable pods' (the same query over each track's pods; only the canary's is scripted
    // low), and the canary rolls back though every request succeeds.
    prometheus.set(Figures::HEALTHY);
    prometheus.set_custom(
        "catalog_cache_lookups_total{namespace=\"rollout\",pod=~\"shop-catalog-canary-",
        0.1,
    );
    support::patch_spec(
        c,
        NS,
        json!({"services": {"catalog": {"version": "0.13.0", "rollout": {"strategy": "Canary"}}}}),
    );
    follow(
        c,
        "rollback on a business check",
        Duration::from_secs(120),
        |s| phase(s) == "RolledBack" && s["canary"] == "0.13.0",
    );
    let status = rollout(c);
    assert!(
        status["message"]
            .as_str()
            .is_some_and(|m| m
                .contains("business check cache-hit-ratio: canary 0.1 under 0.5 of stable 200")),
        "{status:#}"
    );
    assert_eq!(
        status["lastAnalysis"]["metrics"]["cache-hit-ratio.stable"],
        200.0
    );
    let stable_queries: Vec<String> = prometheus
        .queries_with("catalog_cache_lookups_total")
        .into_iter()
        .filter(|q| q.contains("pod=~\"shop-catalog-[a-z0-9]+-[a-z0-9]+\""))
        .collect();
    assert!(
        !stable_queries.is_empty(),
        "the stable pods were never asked"
    );
    assert!(operator.running(), "{}", operator.log_tail());
}
