//! The API surface on a real API server: the CRD and its docs, every CEL rule, every example
//! platform, every rendered object (Istio kinds included) accepted by server-side dry run, and
//! the chart and the install bundle installing with the same RBAC.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

mod support;

use serde_json::{Value, json};
use support::{cluster, documents, install_chart, manifest_documents, repo};

fn crd_path() -> String {
    repo()
        .join("crds/storefront.dev_ecommerceplatforms.yaml")
        .display()
        .to_string()
}

fn install_crd(c: &storefront_cluster::LocalCluster) {
    c.kubectl()
        .args(["apply", "--server-side", "-f", &crd_path()])
        .run()
        .expect("the CRD from crds/ is accepted");
    support::wait_crd_established(c);
    // A fresh discovery, as a user's kubectl does after a "resource not found".
    c.kubectl()
        .args(["api-resources", "--api-group=storefront.dev"])
        .quiet()
        .run()
        .expect("api-resources");
}

#[test]
fn crd_is_accepted_and_kubectl_explain_shows_its_field_docs() {
    let Some(c) = cluster() else { return };
    install_crd(c);
    // The API server publishes a new CRD's OpenAPI a moment after it is Established.
    let explain = support::eventually(
        "kubectl explain finds the CRD",
        std::time::Duration::from_secs(60),
        || {
            c.kubectl()
                .args(["explain", "ecommerceplatform.spec.database"])
                .quiet()
                .run()
                .ok()
        },
        || "kubectl explain ecommerceplatform.spec.database keeps failing".to_owned(),
    );
    assert!(explain.contains("EcommercePlatform"), "{explain}");
    for field in ["mode", "storage", "retainOnDelete", "secretRef"] {
        assert!(explain.contains(field), "explain lacks {field}:\n{explain}");
    }
    // Field docs come from the Rust doc comments: a description, not just a type.
    let storage = c
        .kubectl()
        .args(["explain", "ecommerceplatform.spec.database.retainOnDelete"])
        .run()
        .expect("kubectl explain");
    assert!(
        storage.contains("DESCRIPTION:") && storage.lines().count() > 4,
        "{storage}"
    );
    // Short names and printer columns are served.
    let resources = c
        .kubectl()
        .args(["api-resources", "--api-group=storefront.dev", "-o", "wide"])
        .run()
        .expect("api-resources");
    assert!(
        resources.contains("ecp") && resources.contains("shop"),
        "{resources}"
    );
}

#[test]
fn every_example_platform_is_accepted() {
    let Some(c) = cluster() else { return };
    install_crd(c);
    let dir = repo().join("manifests");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("manifests/") {
        let path = entry.expect("entry").path();
        let file = path
            .file_name()
            .and_then(|f| f.to_str())
            .unwrap_or_default();
        if !file.ends_with(".yaml") || file == "install.yaml" {
            continue;
        }
        for doc in manifest_documents(file) {
            if doc["kind"] != "EcommercePlatform" {
                continue;
            }
            c.kubectl()
                .args(["apply", "--dry-run=server", "-n", "default", "-f", "-"])
                .stdin(&with_namespace(doc, "default").to_string())
                .run()
                .unwrap_or_else(|e| panic!("manifests/{file} refused: {e}"));
            checked += 1;
        }
    }
    assert!(checked >= 4, "only {checked} example platforms found");
}

fn with_namespace(mut doc: Value, namespace: &str) -> Value {
    doc["metadata"]["namespace"] = json!(namespace);
    doc
}

/// Transition rules: the platform is created with the first spec, then changed to the second.
fn cel_transition_cases() -> Vec<(&'static str, Value, Value)> {
    let external = |key: &str| json!({key: {"mode": "External", "secretRef": {"name": "conn"}}});
    vec![
        (
            "cache.mode cannot change on an existing platform",
            json!({"cache": {"mode": "Managed"}}),
            external("cache"),
        ),
        (
            "database.mode cannot change on an existing platform",
            json!({"database": {"mode": "Managed"}}),
            external("database"),
        ),
        (
            "database.storageClassName cannot change once the data volume exists",
            json!({"database": {"storageClassName": "fast"}}),
            json!({"database": {"storageClassName": "slow"}}),
        ),
        (
            "events.rabbitmq.mode cannot change on an existing platform",
            json!({"events": {"bus": "RabbitMQ", "rabbitmq": {"mode": "Managed"}}}),
            json!({"events": {"bus": "RabbitMQ", "rabbitmq": {"mode": "External", "secretRef": {"name": "amqp"}}}}),
        ),
        (
            "events.rabbitmq.storageClassName cannot change once the data volume exists",
            json!({"events": {"bus": "RabbitMQ", "rabbitmq": {"storageClassName": "fast"}}}),
            json!({"events": {"bus": "RabbitMQ", "rabbitmq": {"storageClassName": "slow"}}}),
        ),
    ]
}

/// A spec (over a minimal valid platform) that breaks the rule with each message.
fn cel_cases() -> Vec<(&'static str, Value)> {
    vec![
        (
            "rollout.progressDeadline must be 1s or more",
            json!({"services": {"catalog": {"rollout": {"strategy": "Canary", "steps": [10], "progressDeadline": "500ms"}}}}),
        ),
        (
            "cache.secretRef is required when cache.mode is External",
            json!({"cache": {"mode": "External"}}),
        ),
        (
            "database.secretRef is required when database.mode is External",
            json!({"database": {"mode": "External"}}),
        ),
        (
            "events.rabbitmq.secretRef is required when events.rabbitmq.mode is External",
            json!({"events": {"bus": "RabbitMQ", "rabbitmq": {"mode": "External"}}}),
        ),
        (
            "tracing.jaeger.endpoint is required when tracing.jaeger.mode is External",
            json!({"tracing": {"jaeger": {"mode": "External"}}}),
        ),
        (
            "rateLimit.burst must be at least rateLimit.requestsPerSecond",
            json!({"mesh": {"istio": {"rateLimit": {"requestsPerSecond": 100, "burst": 10}}}}),
        ),
        (
            "autoscaling.minReplicas must not exceed autoscaling.maxReplicas",
            json!({"services": {"gateway": {"autoscaling": {"minReplicas": 5, "maxReplicas": 2}}}}),
        ),
        (
            "rollout.steps must each be between 1 and 99 percent",
            json!({"services": {"catalog": {"rollout": {"strategy": "Canary", "steps": [0, 50]}}}}),
        ),
        (
            "rollout.steps must be strictly increasing, e.g. [10, 25, 50]",
            json!({"services": {"catalog": {"rollout": {"strategy": "Canary", "steps": [50, 25]}}}}),
        ),
        (
            "rollout.match: an entry needs a header or a cookie",
            json!({"services": {"catalog": {"rollout": {"strategy": "Canary", "match": [{}]}}}}),
        ),
        (
            "rollout.match headers: set exactly one of exact, prefix or regex",
            json!({"services": {"catalog": {"rollout": {"strategy": "Canary", "match": [
                {"headers": {"x-group": {"exact": "beta", "prefix": "b"}}}
            ]}}}}),
        ),
        (
            "rollout.canaryWeight is required when rollout.strategy is Manual",
            json!({"services": {"web": {"rollout": {"strategy": "Manual"}}}}),
        ),
        (
            "set either version or image on a service, not both",
            json!({"services": {"catalog": {"version": "0.2.0", "image": "example/catalog:1"}}}),
        ),
        (
            "set either replicas or autoscaling on a service, not both",
            json!({"services": {"cart": {"replicas": 2, "autoscaling": {"maxReplicas": 4}}}}),
        ),
    ]
}

/// Every distinct CEL message in the CRD.
fn crd_messages() -> std::collections::BTreeSet<String> {
    let mut messages = std::collections::BTreeSet::new();
    fn walk(v: &Value, out: &mut std::collections::BTreeSet<String>) {
        match v {
            Value::Object(map) => {
                if let Some(Value::Array(rules)) = map.get("x-kubernetes-validations") {
                    for r in rules {
                        if let Some(m) = r["message"].as_str() {
                            out.insert(m.to_owned());
                        }
                    }
                }
                map.values().for_each(|v| walk(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let text = std::fs::read_to_string(crd_path()).expect("CRD file");
    for doc in documents(&text) {
        walk(&doc, &mut messages);
    }
    messages
}

#[test]
fn each_cel_rule_refuses_a_spec_that_breaks_it_with_its_message() {
    let Some(c) = cluster() else { return };
    install_crd(c);
    let cases = cel_cases();
    let transitions = cel_transition_cases();
    let covered: Vec<&str> = cases
        .iter()
        .map(|(m, _)| *m)
        .chain(transitions.iter().map(|(m, _, _)| *m))
        .collect();
    let missing: Vec<_> = crd_messages()
        .into_iter()
        .filter(|m| !covered.iter().any(|c| m.starts_with(c)))
        .collect();
    assert!(
        missing.is_empty(),
        "CEL rules without a case here: {missing:?}"
    );
    for (message, spec) in cases {
        let mut platform = json!({
            "apiVersion": "storefront.dev/v1alpha1",
            "kind": "EcommercePlatform",
            "metadata": {"name": "cel", "namespace": "default"},
            "spec": {"version": "0.1.0"},
        });
        merge(&mut platform["spec"], &spec);
        let refused = c
            .kubectl()
            .args(["apply", "--dry-run=server", "-f", "-"])
            .stdin(&platform.to_string())
            .quiet()
            .run()
            .expect_err(&format!("accepted a spec breaking `{message}`: {spec}"));
        assert!(
            refused.stderr().contains(message),
            "refused `{spec}` for another reason than `{message}`:\n{}",
            refused.stderr()
        );
    }
    for (i, (message, before, after)) in transitions.into_iter().enumerate() {
        let object = |spec: &Value| {
            let mut platform = json!({
                "apiVersion": "storefront.dev/v1alpha1",
                "kind": "EcommercePlatform",
                "metadata": {"name": format!("cel-transition-{i}"), "namespace": "default"},
                "spec": {"version": "0.1.0"},
            });
            merge(&mut platform["spec"], spec);
            platform.to_string()
        };
        c.kubectl()
            .args(["apply", "-f", "-"])
            .stdin(&object(&before))
            .quiet()
            .run()
            .unwrap_or_else(|e| panic!("the first spec of `{message}` was refused: {e}"));
        let refused = c
            .kubectl()
            .args(["apply", "--dry-run=server", "-f", "-"])
            .stdin(&object(&after))
            .quiet()
            .run()
            .expect_err(&format!("accepted a change breaking `{message}`: {after}"));
        assert!(
            refused.stderr().contains(message),
            "refused `{after}` for another reason than `{message}`:\n{}",
            refused.stderr()
        );
    }
}

fn merge(into: &mut Value, from: &Value) {
    match (into, from) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (slot, v) => *slot = v.clone(),
    }
}

#[test]
fn every_rendered_object_of_every_example_is_accepted_by_server_side_dry_run() {
    let Some(c) = cluster() else { return };
    install_crd(c);
    let operator = support::target_bin("storefront-operator");
    for file in [
        "minimal.yaml",
        "platform.yaml",
        "canary.yaml",
        "external-db.yaml",
    ] {
        let out = std::process::Command::new(&operator)
            .args(["render", "--file"])
            .arg(repo().join("manifests").join(file))
            .output()
            .expect("render");
        assert!(
            out.status.success(),
            "render {file}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let rendered = String::from_utf8_lossy(&out.stdout).into_owned();
        let objects = documents(&rendered);
        let kinds: std::collections::BTreeSet<String> = objects
            .iter()
            .map(|o| o["kind"].as_str().unwrap_or_default().to_owned())
            .collect();
        // The namespace of the examples must exist for a namespaced dry run.
        let namespace = objects
            .iter()
            .find_map(|o| o["metadata"]["namespace"].as_str())
            .unwrap_or("shop")
            .to_owned();
        let _ = c
            .kubectl()
            .args(["create", "namespace", &namespace])
            .quiet()
            .run();
        c.kubectl()
            .args([
                "apply",
                "--server-side",
                "--dry-run=server",
                "--field-manager=storefront-operator",
                "-f",
                "-",
            ])
            .stdin(&rendered)
            .run()
            .unwrap_or_else(|e| panic!("objects rendered from manifests/{file} refused: {e}"));
        eprintln!(
            "[test] {file}: {} objects accepted ({})",
            objects.len(),
            kinds.into_iter().collect::<Vec<_>>().join(", ")
        );
    }
}

fn rules_of(c: &storefront_cluster::LocalCluster, kind: &str, name: &str) -> Value {
    let out = c
        .kubectl()
        .args(["get", kind, name, "-o", "json"])
        .run()
        .unwrap_or_else(|e| panic!("{e}"));
    let v: Value = serde_json::from_str(&out).expect("json");
    v["rules"].clone()
}

#[test]
fn helm_lint_template_and_install_work_and_the_bundle_gives_the_same_rbac() {
    let Some(c) = cluster() else { return };
    let chart = repo().join("charts/storefront-operator");
    let chart = chart.display().to_string();
    let lint = support::helm(c, &["lint", "--strict", &chart]).unwrap_or_else(|e| panic!("{e}"));
    assert!(lint.contains("0 chart(s) failed"), "{lint}");
    let template = support::helm(
        c,
        &[
            "template",
            "storefront-operator",
            &chart,
            "--kube-version",
            "1.35.4",
        ],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(template.contains("kind: Deployment"), "{template}");
    install_chart(c);

    // The bundle goes into its own namespace: rename it and its cluster-scoped RBAC objects so
    // both installs stand side by side.
    let bundle = std::fs::read_to_string(repo().join("manifests/install.yaml")).expect("bundle");
    let mut docs = documents(&bundle);
    for d in &mut docs {
        let kind = d["kind"].as_str().unwrap_or_default().to_owned();
        match kind.as_str() {
            "Namespace" => d["metadata"]["name"] = json!("storefront-bundle"),
            "CustomResourceDefinition" => {}
            "ClusterRole" | "ClusterRoleBinding" => {
                d["metadata"]["name"] = json!("storefront-operator-bundle");
            }
            _ => d["metadata"]["namespace"] = json!("storefront-bundle"),
        }
        if kind == "ClusterRoleBinding" {
            d["roleRef"]["name"] = json!("storefront-operator-bundle");
        }
        if let Some(subjects) = d.get_mut("subjects").and_then(Value::as_array_mut) {
            for s in subjects {
                s["namespace"] = json!("storefront-bundle");
            }
        }
    }
    let stream: String = docs
        .iter()
        .map(|d| format!("---\n{d}\n"))
        .collect::<String>();
    c.kubectl()
        .args(["apply", "--server-side", "--force-conflicts", "-f", "-"])
        .stdin(&stream)
        .run()
        .unwrap_or_else(|e| panic!("manifests/install.yaml refused: {e}"));
    assert_eq!(
        rules_of(c, "clusterrole", "storefront-operator"),
        rules_of(c, "clusterrole", "storefront-operator-bundle"),
        "the chart and manifests/install.yaml grant different rules"
    );
    let role = |ns: &str| {
        let out = c
            .kubectl()
            .args(["get", "role", "-n", ns, "-o", "json"])
            .run()
            .expect("roles");
        let v: Value = serde_json::from_str(&out).expect("json");
        v["items"]
            .as_array()
            .map(|items| items.iter().map(|i| i["rules"].clone()).collect::<Vec<_>>())
            .unwrap_or_default()
    };
    assert_eq!(
        role(support::OPERATOR_NAMESPACE),
        role("storefront-bundle"),
        "the leader-election Roles differ"
    );
}
