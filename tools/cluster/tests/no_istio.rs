//! A platform that asks for the mesh on a cluster without Istio's CRDs: the operator says so in
//! a Degraded condition and applies everything that is not Istio.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

mod support;

use std::time::Duration;

use serde_json::json;
use storefront_cluster::ClusterOptions;
use support::{Operator, apply, cluster_with, condition, get, namespace, platform_status};

#[test]
fn without_istio_a_mesh_platform_is_degraded_and_the_rest_is_applied() {
    let Some(c) = cluster_with(ClusterOptions {
        istio_crds: false,
        ..ClusterOptions::default()
    }) else {
        return;
    };
    let _operator = Operator::start(c, "no-istio", &[]);
    let ns = namespace(c, "no-istio");
    apply(
        c,
        &json!({
            "apiVersion": "storefront.dev/v1alpha1",
            "kind": "EcommercePlatform",
            "metadata": {"name": "shop", "namespace": ns},
            "spec": {
                "version": "0.1.0",
                "mesh": {"istio": {"mtls": "STRICT", "ingress": {"hosts": ["shop.test"]}}},
            },
        }),
    );
    let message = support::eventually(
        "a Degraded condition naming Istio",
        Duration::from_secs(90),
        || {
            let status = platform_status(c, &ns, "shop");
            condition(&status, "Degraded")
                .filter(|(s, m)| s == "True" && m.contains("Istio"))
                .map(|(_, m)| m)
        },
        || format!("{:#}", platform_status(c, &ns, "shop")),
    );
    assert!(
        message.to_lowercase().contains("not installed"),
        "the message should say Istio is not installed: {message}"
    );
    for (kind, name) in [
        ("deployment", "shop-gateway"),
        ("deployment", "shop-catalog"),
        ("statefulset", "shop-postgres"),
        ("service", "shop-gateway"),
        ("networkpolicy", "shop-default-deny"),
    ] {
        assert!(
            get(c, &ns, &[kind, name]).is_some(),
            "{kind}/{name} was not applied"
        );
    }
    // The workloads still become ready; only the mesh part is missing.
    support::eventually(
        "every component ready",
        Duration::from_secs(120),
        || {
            let status = platform_status(c, &ns, "shop");
            let ready = status["readyComponents"].as_str()?.to_owned();
            let (a, b) = ready.split_once('/')?;
            (a == b && a != "0").then_some(())
        },
        || format!("{:#}", platform_status(c, &ns, "shop")),
    );
}
