//! The order events over a managed RabbitMQ (`spec.events.bus: RabbitMQ`), reconciled by the
//! real operator binary on the local control plane: the broker's StatefulSet, claim, Secret,
//! Service and NetworkPolicies as the API server stores them, orders and notifications wired to
//! it by secretKeyRef, the generated credentials unchanged by another pass and by a restarted
//! operator, and the retained claim and Secret outliving the platform.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use storefront_cluster::LocalCluster;
use support::{Operator, apply, cluster, get, namespace, patch_spec, platform_status, wait_ready};

fn rabbitmq_platform(ns: &str) -> Value {
    json!({
        "apiVersion": "storefront.dev/v1alpha1",
        "kind": "EcommercePlatform",
        "metadata": {"name": "shop", "namespace": ns},
        "spec": {
            "version": "0.1.0",
            "events": {"bus": "RabbitMQ", "rabbitmq": {"mode": "Managed", "storage": "2Gi", "retainOnDelete": true}},
        },
    })
}

fn secret_data(c: &LocalCluster, ns: &str, name: &str) -> Option<Value> {
    get(c, ns, &["secret", name]).map(|s| s["data"].clone())
}

/// One key of a Secret, decoded by kubectl (`base64decode` in a Go template).
fn decoded(c: &LocalCluster, ns: &str, secret: &str, key: &str) -> String {
    c.kubectl()
        .args(["get", "secret", secret, "-n", ns, "-o"])
        .arg(format!(
            "go-template={{{{index .data \"{key}\" | base64decode}}}}"
        ))
        .quiet()
        .run()
        .unwrap_or_else(|e| panic!("{secret}.{key}: {e}"))
}

/// The broker's claims, as (name, uid).
fn broker_claims(c: &LocalCluster, ns: &str) -> Vec<(String, String)> {
    let list = get(
        c,
        ns,
        &["pvc", "-l", "app.kubernetes.io/component=rabbitmq"],
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

/// The container env of a Deployment by name: (plain value, secretKeyRef name/key).
fn env_of(deployment: &Value, name: &str) -> Option<Value> {
    deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == name)
        .cloned()
}

fn check_the_broker_and_its_wiring(c: &LocalCluster, ns: &str) {
    let sts = get(c, ns, &["statefulset", "shop-rabbitmq"]).expect("StatefulSet shop-rabbitmq");
    let spec = &sts["spec"];
    assert_eq!(spec["serviceName"], "shop-rabbitmq");
    assert_eq!(
        spec["template"]["spec"]["containers"][0]["image"],
        "ghcr.io/storefront-dev/storefront/rabbitmq:3.10-bookworm"
    );
    assert_eq!(
        spec["persistentVolumeClaimRetentionPolicy"]["whenDeleted"],
        "Retain"
    );
    let claim = &spec["volumeClaimTemplates"][0];
    assert_eq!(claim["metadata"]["name"], "data");
    assert_eq!(claim["spec"]["resources"]["requests"]["storage"], "2Gi");
    assert!(
        claim["metadata"]["labels"]
            .get("app.kubernetes.io/version")
            .is_none(),
        "a claim template carries no version: {claim:#}"
    );
    // The real StatefulSet controller made the claim from the template.
    assert_eq!(
        broker_claims(c, ns)
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>(),
        ["data-shop-rabbitmq-0"]
    );

    let svc = get(c, ns, &["service", "shop-rabbitmq"]).expect("Service shop-rabbitmq");
    assert_eq!(svc["spec"]["clusterIP"], "None");
    assert_eq!(svc["spec"]["ports"][0]["port"], 5672);

    assert!(
        secret_data(c, ns, "shop-rabbitmq").is_some(),
        "Secret shop-rabbitmq"
    );
    let password = decoded(c, ns, "shop-rabbitmq", "password");
    assert_eq!(password.len(), 32, "a generated password");
    assert_eq!(
        decoded(c, ns, "shop-rabbitmq", "url"),
        format!("amqp://storefront:{password}@shop-rabbitmq:5672/%2f")
    );

    let policy = get(c, ns, &["networkpolicy", "shop-rabbitmq"]).expect("NetworkPolicy");
    let ingress = &policy["spec"]["ingress"];
    assert_eq!(ingress.as_array().map(Vec::len), Some(1), "{policy:#}");
    assert_eq!(
        ingress[0]["ports"],
        json!([{"port": 5672, "protocol": "TCP"}])
    );
    assert_eq!(
        ingress[0]["from"][0]["podSelector"]["matchExpressions"][0]["values"],
        json!(["orders", "notifications"])
    );
    assert!(get(c, ns, &["networkpolicy", "shop-event-bus"]).is_some());

    for service in ["orders", "notifications"] {
        let name = format!("shop-{service}");
        let config = get(c, ns, &["configmap", &name]).expect("ConfigMap");
        assert_eq!(config["data"]["STOREFRONT_EVENT_BUS"], "rabbitmq", "{name}");
        assert!(config["data"].get("RABBITMQ_URL").is_none(), "{name}");
        let deployment = get(c, ns, &["deployment", &name]).expect("Deployment");
        let url = env_of(&deployment, "RABBITMQ_URL").unwrap_or_else(|| panic!("{name}"));
        assert!(url.get("value").is_none(), "{name}: the URL in plain env");
        assert_eq!(
            url["valueFrom"]["secretKeyRef"],
            json!({"name": "shop-rabbitmq", "key": "url", "optional": false}),
            "{name}"
        );
    }
    let gateway = get(c, ns, &["configmap", "shop-gateway"]).expect("ConfigMap");
    assert_eq!(
        gateway["data"]["NOTIFICATIONS_URL"],
        "http://shop-notifications:8080"
    );
    assert!(gateway["data"].get("STOREFRONT_EVENT_BUS").is_none());
}

#[test]
fn a_managed_broker_is_built_wired_and_keeps_its_credentials_through_restarts_and_deletes() {
    let Some(c) = cluster() else { return };
    let mut operator = Operator::start(c, "events", &[]);
    let ns = namespace(c, "events");
    apply(c, &rabbitmq_platform(&ns));
    wait_ready(c, &ns, "shop", "240s");
    let status = platform_status(c, &ns, "shop");
    assert_eq!(
        status["components"]["rabbitmq"]["ready"], "1/1",
        "{status:#}"
    );
    assert_eq!(status["components"]["notifications"]["ready"], "1/1");
    check_the_broker_and_its_wiring(c, &ns);
    let credentials = secret_data(c, &ns, "shop-rabbitmq").unwrap();
    let claims = broker_claims(c, &ns);

    // Another pass (a spec change) and a new operator process both read the Secret back.
    patch_spec(
        c,
        &ns,
        json!({"services": {"notifications": {"replicas": 2}}}),
    );
    support::eventually(
        "notifications runs two pods",
        Duration::from_secs(90),
        || {
            let d = get(c, &ns, &["deployment", "shop-notifications"])?;
            (d["status"]["readyReplicas"].as_i64() == Some(2)).then_some(())
        },
        || format!("{:#}", platform_status(c, &ns, "shop")),
    );
    operator.terminate();
    let operator = Operator::start(c, "events-restarted", &[]);
    patch_spec(
        c,
        &ns,
        json!({"services": {"notifications": {"replicas": 1}}}),
    );
    support::eventually(
        "the restarted operator reconciles",
        Duration::from_secs(90),
        || {
            let d = get(c, &ns, &["deployment", "shop-notifications"])?;
            (d["spec"]["replicas"].as_i64() == Some(1)).then_some(())
        },
        || operator.log_tail(),
    );
    wait_ready(c, &ns, "shop", "120s");
    assert_eq!(
        secret_data(c, &ns, "shop-rabbitmq").as_ref(),
        Some(&credentials),
        "the broker's credentials changed"
    );
    check_the_broker_and_its_wiring(c, &ns);

    // retainOnDelete: the claim and the Secret that opens it outlive the platform...
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
    support::eventually(
        "the garbage collector removes the broker's StatefulSet",
        Duration::from_secs(90),
        || {
            get(c, &ns, &["statefulset", "shop-rabbitmq"])
                .is_none()
                .then_some(())
        },
        || format!("{:#}", get(c, &ns, &["statefulsets"]).unwrap_or_default()),
    );
    assert_eq!(broker_claims(c, &ns), claims, "the retained claim changed");
    assert_eq!(
        secret_data(c, &ns, "shop-rabbitmq").as_ref(),
        Some(&credentials)
    );
    // ...and a platform created again runs on both.
    apply(c, &rabbitmq_platform(&ns));
    wait_ready(c, &ns, "shop", "180s");
    assert_eq!(broker_claims(c, &ns), claims);
    assert_eq!(
        secret_data(c, &ns, "shop-rabbitmq").as_ref(),
        Some(&credentials),
        "the re-created platform generated new credentials for the old queues"
    );
}
