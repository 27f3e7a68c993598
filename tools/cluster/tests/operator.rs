//! The real operator binary, authenticated as the chart's ServiceAccount, reconciling the example
//! platforms on the local control plane: Ready with kwok's pods, a quiet steady state measured in
//! the audit log, retained data and its passwords surviving a delete, and a disabled component
//! leaving nothing behind. One operator serves every test of this binary, each in its own
//! namespace, as one install serves many shops.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

mod support;

use std::sync::OnceLock;
use std::time::Duration;

use serde_json::{Value, json};
use storefront_cluster::LocalCluster;
use support::{
    Operator, apply, cluster, condition, get, namespace, operator_user, platform_from,
    platform_status, secret, wait_ready,
};

/// The operator every test here shares (started on first use, killed when the binary exits).
fn operator(c: &LocalCluster) {
    static OPERATOR: OnceLock<std::sync::Mutex<Operator>> = OnceLock::new();
    OPERATOR.get_or_init(|| std::sync::Mutex::new(Operator::start(c, "shared", &[])));
}

fn admin_secret(ns: &str) -> Value {
    secret(
        ns,
        "shop-admin-credentials",
        &[
            ("email", "admin@shop.test"),
            ("password", "a-long-admin-password"),
        ],
    )
}

/// Every workload's desired replicas, by component label.
fn desired_replicas(c: &LocalCluster, ns: &str) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    for kind in ["deployments", "statefulsets"] {
        let list = get(c, ns, &[kind]).unwrap_or(Value::Null);
        for item in list["items"].as_array().into_iter().flatten() {
            let component = item["metadata"]["labels"]["app.kubernetes.io/component"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let track = item["metadata"]["labels"]["storefront.dev/track"]
                .as_str()
                .unwrap_or("stable");
            if track == "canary" {
                continue;
            }
            out.push((component, item["spec"]["replicas"].as_i64().unwrap_or(1)));
        }
    }
    out
}

fn reconcile_example_to_ready(c: &LocalCluster, file: &str, ns: &str) -> Value {
    operator(c);
    namespace(c, ns);
    apply(c, &admin_secret(ns));
    apply(c, &platform_from(file, ns));
    wait_ready(c, ns, "shop", "240s");
    let status = platform_status(c, ns, "shop");
    // Every component reports the ready count kwok's pods give: all desired pods ready.
    let components = status["components"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let desired = desired_replicas(c, ns);
    assert!(!desired.is_empty());
    for (component, replicas) in &desired {
        let reported = components
            .get(component)
            .and_then(|s| s["ready"].as_str())
            .unwrap_or_else(|| panic!("status.components lacks {component}: {status:#}"));
        assert!(
            reported.ends_with(&format!("/{replicas}"))
                && reported.starts_with(&format!("{replicas}/")),
            "{component}: status says {reported}, the workload wants {replicas}"
        );
    }
    assert_eq!(
        status["readyComponents"].as_str().unwrap_or_default(),
        format!("{}/{}", components.len(), components.len())
    );
    status
}

#[test]
fn the_full_example_becomes_ready_and_then_makes_no_writes() {
    let Some(c) = cluster() else { return };
    let ns = "example-full";
    reconcile_example_to_ready(c, "platform.yaml", ns);
    // The HPA raises the gateway to its minReplicas (2) on its first sync: a real change the
    // status reports. Steady state starts once that has happened and the platform is Ready.
    support::eventually(
        "the HPA has scaled the gateway to its minimum",
        Duration::from_secs(90),
        || {
            let d = get(c, ns, &["deployment", "shop-gateway"])?;
            (d["status"]["readyReplicas"].as_i64() >= Some(2)).then_some(())
        },
        || format!("{:#}", get(c, ns, &["hpa"]).unwrap_or_default()),
    );
    wait_ready(c, ns, "shop", "60s");
    std::thread::sleep(Duration::from_secs(2));

    // Steady state: a minute of audit log, counting what the operator changes.
    let audit = c.audit();
    let mark = audit.mark();
    std::thread::sleep(Duration::from_secs(60));
    let mutations = audit.mutations_by(&operator_user(), mark);
    let in_platform: Vec<String> = mutations
        .iter()
        .filter(|r| r.object.as_ref().is_some_and(|o| o.namespace == ns))
        .map(|r| r.describe())
        .collect();
    let leases = mutations
        .iter()
        .filter(|r| r.object.as_ref().is_some_and(|o| o.resource == "leases"))
        .count();
    eprintln!(
        "[figure] steady state over 60 s: {} mutating requests by the operator in the platform's \
         namespace, {leases} Lease renewals",
        in_platform.len()
    );
    assert!(
        in_platform.is_empty(),
        "a Ready platform should cause no writes; the operator made:\n{}",
        in_platform.join("\n")
    );

    // Drift: a hand edit of a field the operator owns is put back.
    c.kubectl()
        .args([
            "set",
            "image",
            "-n",
            ns,
            "deployment/shop-users",
            "users=example/users:hacked",
        ])
        .run()
        .expect("kubectl set image");
    support::eventually(
        "the operator puts the image back",
        Duration::from_secs(60),
        || {
            let d = get(c, ns, &["deployment", "shop-users"])?;
            let image = d["spec"]["template"]["spec"]["containers"][0]["image"].as_str()?;
            (!image.contains("hacked")).then_some(())
        },
        || {
            format!(
                "{:#}",
                get(c, ns, &["deployment", "shop-users"]).unwrap_or_default()["spec"]["template"]["spec"]
                    ["containers"][0]
            )
        },
    );
}

#[test]
fn the_canary_example_becomes_ready() {
    let Some(c) = cluster() else { return };
    let status = reconcile_example_to_ready(c, "canary.yaml", "example-canary");
    assert!(status["components"]["catalog"].is_object(), "{status:#}");
}

fn minimal_platform(ns: &str, name: &str) -> Value {
    json!({
        "apiVersion": "storefront.dev/v1alpha1",
        "kind": "EcommercePlatform",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "version": "0.1.0",
            "database": {"mode": "Managed", "storage": "1Gi", "retainOnDelete": true},
        },
    })
}

fn secret_data(c: &LocalCluster, ns: &str, name: &str) -> Option<Value> {
    get(c, ns, &["secret", name]).map(|s| s["data"].clone())
}

/// PostgreSQL's claims (the retained ones), as (name, uid).
fn claims(c: &LocalCluster, ns: &str) -> Vec<(String, String)> {
    let list = get(
        c,
        ns,
        &["pvc", "-l", "app.kubernetes.io/component=postgres"],
    )
    .unwrap_or(Value::Null);
    let mut out: Vec<(String, String)> = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            (
                p["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                p["metadata"]["uid"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn a_retained_platform_keeps_its_volumes_and_passwords_and_comes_back_on_them() {
    let Some(c) = cluster() else { return };
    operator(c);
    let ns = namespace(c, "retain");
    apply(c, &minimal_platform(&ns, "shop"));
    wait_ready(c, &ns, "shop", "180s");
    let volumes = claims(c, &ns);
    assert_eq!(volumes.len(), 1, "one PostgreSQL claim: {volumes:?}");
    let passwords = secret_data(c, &ns, "shop-postgres").expect("shop-postgres Secret");

    c.kubectl()
        .args([
            "delete",
            "ecp",
            "shop",
            "-n",
            &ns,
            "--wait=true",
            "--timeout=60s",
        ])
        .run()
        .expect("delete platform");
    // The real garbage collector removes what the platform owned...
    support::eventually(
        "the garbage collector removes the workloads",
        Duration::from_secs(90),
        || {
            let left = get(c, &ns, &["deployments,statefulsets"])?;
            left["items"]
                .as_array()
                .is_some_and(|i| i.is_empty())
                .then_some(())
        },
        || {
            format!(
                "{:#}",
                get(c, &ns, &["deployments,statefulsets"]).unwrap_or_default()
            )
        },
    );
    // ...and keeps the data and the passwords that open it.
    assert_eq!(claims(c, &ns), volumes, "the retained claims changed");
    assert_eq!(
        secret_data(c, &ns, "shop-postgres").as_ref(),
        Some(&passwords),
        "the PostgreSQL passwords of the retained data were lost"
    );

    apply(c, &minimal_platform(&ns, "shop"));
    wait_ready(c, &ns, "shop", "180s");
    assert_eq!(
        claims(c, &ns),
        volumes,
        "the re-created platform took new volumes"
    );
    assert_eq!(
        secret_data(c, &ns, "shop-postgres").as_ref(),
        Some(&passwords),
        "the re-created platform generated new passwords for the old data"
    );

    // More storage changes the StatefulSet's immutable claim template: the operator recreates
    // the StatefulSet, keeping its pod and its claim.
    support::patch_spec(c, &ns, serde_json::json!({"database":{"storage":"2Gi"}}));
    support::eventually(
        "the StatefulSet carries the new claim template",
        Duration::from_secs(60),
        || {
            let sts = get(c, &ns, &["statefulset", "shop-postgres"])?;
            (sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"]
                == "2Gi")
                .then_some(())
        },
        || format!("{:#}", platform_status(c, &ns, "shop")),
    );
    wait_ready(c, &ns, "shop", "120s");
    assert_eq!(
        claims(c, &ns),
        volumes,
        "recreating the StatefulSet replaced its claim"
    );
}

#[test]
fn disabling_a_component_leaves_no_object_of_it_behind() {
    let Some(c) = cluster() else { return };
    operator(c);
    let ns = namespace(c, "disable");
    apply(c, &minimal_platform(&ns, "shop"));
    wait_ready(c, &ns, "shop", "180s");
    let of_cart = || {
        c.kubectl()
            .args([
                "get",
                "deployments,services,serviceaccounts,configmaps,secrets,horizontalpodautoscalers,\
                 poddisruptionbudgets,networkpolicies",
                "-n",
                &ns,
                "-l",
                "app.kubernetes.io/component=cart",
                "-o",
                "name",
            ])
            .quiet()
            .run()
            .unwrap_or_default()
    };
    assert!(
        !of_cart().trim().is_empty(),
        "cart has no objects to start with"
    );
    support::patch_spec(
        c,
        &ns,
        serde_json::json!({"services":{"cart":{"enabled":false}}}),
    );
    support::eventually(
        "every object of cart is deleted",
        Duration::from_secs(60),
        || of_cart().trim().is_empty().then_some(()),
        of_cart,
    );
    let status = platform_status(c, &ns, "shop");
    assert!(status["components"].get("cart").is_none(), "{status:#}");
    // The rest of the shop is still there and Ready.
    wait_ready(c, &ns, "shop", "60s");
    assert_eq!(
        condition(&status, "Degraded").map(|c| c.0).as_deref(),
        Some("False")
    );
}
