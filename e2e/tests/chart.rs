//! The Helm chart and the plain install bundle agree with each other and with the operator,
//! without Helm or a cluster: the CRD bytes, the values against their schema, the RBAC rules
//! against the kinds the operator owns, and install.yaml against the chart's defaults.
//! (CI also renders the chart with `helm template` and compares; see .github/workflows/ci.yml.)

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Value, json};
use storefront_operator::build::object::OwnedKind;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

fn yaml(text: &str) -> Value {
    serde_norway::from_str(text).unwrap()
}

fn documents(text: &str) -> Vec<Value> {
    serde_norway::Deserializer::from_str(text)
        .map(|doc| Value::deserialize(doc).unwrap())
        .filter(|v| !v.is_null())
        .collect()
}

fn bundle() -> Vec<Value> {
    documents(&read("manifests/install.yaml"))
}

fn bundle_object(kind: &str, name: &str) -> Value {
    bundle()
        .into_iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("manifests/install.yaml has no {kind} {name}"))
}

fn values() -> Value {
    yaml(&read("charts/storefront-operator/values.yaml"))
}

/// The operator's rules: the platform's, plus (`optional`) Istio's and the Prometheus
/// Operator's, as the chart's defaults (`rbac.istio`, `rbac.prometheusOperator`) include them.
fn chart_rules(optional: bool) -> Vec<Value> {
    let mut rules: Vec<Value> = serde_json::from_value(yaml(&read(
        "charts/storefront-operator/files/rbac/platform-rules.yaml",
    )))
    .unwrap();
    if optional {
        for file in ["istio-rules.yaml", "monitoring-rules.yaml"] {
            let more: Vec<Value> = serde_json::from_value(yaml(&read(&format!(
                "charts/storefront-operator/files/rbac/{file}"
            ))))
            .unwrap();
            rules.extend(more);
        }
    }
    rules
}

const CRD: &str = "crds/storefront.dev_ecommerceplatforms.yaml";
const FIX_CRD: &str = "run charts/storefront-operator/sync-crds.sh";

#[test]
fn the_chart_ships_the_generated_crd_byte_for_byte() {
    assert!(
        read(CRD) == read(&format!("charts/storefront-operator/{CRD}")),
        "the chart's CRD differs from {CRD}; {FIX_CRD}"
    );
}

#[test]
fn the_install_bundle_ships_the_generated_crd_byte_for_byte() {
    let bundle = read("manifests/install.yaml");
    let marker = "# Source: storefront-operator/crds/storefront.dev_ecommerceplatforms.yaml\n";
    let start = bundle.find(marker).expect("install.yaml has no CRD marker") + marker.len();
    let end = bundle[start..]
        .find("\n---\n")
        .expect("install.yaml: no document after the CRD")
        + start
        + 1;
    assert!(
        bundle[start..end] == read(CRD),
        "the CRD in install.yaml differs from {CRD}; {FIX_CRD}"
    );
}

fn schema() -> jsonschema::Validator {
    let schema: Value =
        serde_json::from_str(&read("charts/storefront-operator/values.schema.json")).unwrap();
    jsonschema::validator_for(&schema).unwrap()
}

fn errors(values: &Value) -> Vec<String> {
    schema()
        .iter_errors(values)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

#[test]
fn the_default_values_satisfy_the_schema() {
    assert_eq!(errors(&values()), Vec::<String>::new());
}

#[test]
fn the_schema_refuses_typos_and_unsafe_settings() {
    let cases = [
        ("/replicas", json!(2)),
        ("/image/repo", json!("x")),
        ("/securityContext/allowPrivilegeEscalation", json!(true)),
        ("/podSecurityContext/runAsNonRoot", json!(false)),
        ("/replicaCount", json!(0)),
        ("/image/digest", json!("latest")),
        ("/watchNamespace", json!("Not A Namespace")),
        ("/metrics/serviceMonitor/enabeld", json!(true)),
    ];
    for (pointer, value) in cases {
        let mut values = values();
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        values.pointer_mut(parent).unwrap()[key] = value.clone();
        assert!(
            !errors(&values).is_empty(),
            "the schema accepts {pointer} = {value}"
        );
    }
}

/// (group, resource) pairs a rule list grants `verb` on.
fn granted(rules: &[Value], verb: &str) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for rule in rules {
        let verbs = rule["verbs"].as_array().unwrap();
        if !verbs.iter().any(|v| v == verb || v == "*") {
            continue;
        }
        for group in rule["apiGroups"].as_array().unwrap() {
            for resource in rule["resources"].as_array().unwrap() {
                out.insert((
                    group.as_str().unwrap().to_owned(),
                    resource.as_str().unwrap().to_owned(),
                ));
            }
        }
    }
    out
}

#[test]
fn the_rules_cover_every_kind_the_operator_owns_with_the_verbs_it_uses() {
    let rules = chart_rules(true);
    for kind in OwnedKind::ALL {
        let (group, _, _, plural) = kind.gvk();
        for verb in ["get", "list", "watch", "create", "patch", "delete"] {
            assert!(
                granted(&rules, verb).contains(&(group.to_owned(), plural.to_owned())),
                "charts/storefront-operator/files/rbac: no `{verb}` on {group}/{plural} ({kind:?})"
            );
        }
    }
    let platform = ("storefront.dev".to_owned(), "ecommerceplatforms".to_owned());
    for verb in ["get", "list", "watch"] {
        assert!(granted(&rules, verb).contains(&platform));
    }
    assert!(
        granted(&rules, "patch")
            .contains(&("storefront.dev".into(), "ecommerceplatforms/status".into()))
    );
    assert!(granted(&rules, "create").contains(&("events.k8s.io".into(), "events".into())));
}

#[test]
fn the_rules_grant_nothing_beyond_what_the_operator_uses() {
    let rules = chart_rules(true);
    let mut allowed: BTreeSet<(String, String)> = OwnedKind::ALL
        .iter()
        .map(|k| (k.gvk().0.to_owned(), k.gvk().3.to_owned()))
        .collect();
    for extra in [
        ("storefront.dev", "ecommerceplatforms"),
        ("storefront.dev", "ecommerceplatforms/status"),
        ("storefront.dev", "ecommerceplatforms/finalizers"),
        ("events.k8s.io", "events"),
    ] {
        allowed.insert((extra.0.to_owned(), extra.1.to_owned()));
    }
    for verb in [
        "get",
        "list",
        "watch",
        "create",
        "patch",
        "update",
        "delete",
        "deletecollection",
        "escalate",
        "bind",
        "impersonate",
    ] {
        for (group, resource) in granted(&rules, verb) {
            assert!(
                allowed.contains(&(group.clone(), resource.clone())),
                "`{verb}` on {group}/{resource} is not used by the operator"
            );
        }
    }
    for rule in &rules {
        for field in ["apiGroups", "resources", "verbs"] {
            assert!(
                !rule[field].as_array().unwrap().iter().any(|v| v == "*"),
                "wildcard in {rule}"
            );
        }
    }
    // The operator writes the platform itself only to remove the rollout command annotations
    // it handled (a patch); it never creates, replaces or deletes one.
    for verb in ["create", "update", "delete"] {
        assert!(
            !granted(&rules, verb)
                .contains(&("storefront.dev".into(), "ecommerceplatforms".into())),
            "`{verb}` on ecommerceplatforms"
        );
    }
    assert!(
        granted(&rules, "patch").contains(&("storefront.dev".into(), "ecommerceplatforms".into())),
        "the operator cannot remove a handled rollout command"
    );
}

#[test]
fn the_bundle_cluster_role_is_the_charts_rules() {
    let role = bundle_object("ClusterRole", "storefront-operator");
    assert_eq!(role["rules"], Value::Array(chart_rules(true)));
}

#[test]
fn the_bundle_deployment_is_the_chart_with_default_values() {
    let values = values();
    let chart = yaml(&read("charts/storefront-operator/Chart.yaml"));
    let deployment = bundle_object("Deployment", "storefront-operator");
    let pod = &deployment["spec"]["template"]["spec"];
    let container = &pod["containers"][0];

    let image = format!(
        "{}:{}",
        values["image"]["repository"].as_str().unwrap(),
        chart["appVersion"].as_str().unwrap()
    );
    assert_eq!(
        values["image"]["tag"], "",
        "install.yaml assumes the tag defaults to appVersion"
    );
    assert_eq!(container["image"], json!(image));
    assert_eq!(container["imagePullPolicy"], values["image"]["pullPolicy"]);
    assert_eq!(deployment["spec"]["replicas"], values["replicaCount"]);
    assert_eq!(pod["securityContext"], values["podSecurityContext"]);
    assert_eq!(container["securityContext"], values["securityContext"]);
    assert_eq!(container["resources"], values["resources"]);
    assert_eq!(pod["serviceAccountName"], "storefront-operator");

    let lease = &values["leaderElection"];
    assert_eq!(
        container["args"],
        json!([
            "run",
            format!("--lease-name={}", lease["leaseName"].as_str().unwrap()),
            format!("--lease-seconds={}", lease["leaseSeconds"])
        ])
    );
    let env = container["env"].as_array().unwrap();
    let var = |name: &str| {
        env.iter()
            .find(|e| e["name"] == name)
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(
        var("POD_NAMESPACE")["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.namespace"
    );
    assert_eq!(var("RUST_LOG")["value"], values["logLevel"]);
    assert_eq!(
        var("STOREFRONT_OPERATOR_LISTEN")["value"],
        json!(format!("0.0.0.0:{}", values["metrics"]["port"]))
    );
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(
        container["ports"][0]["containerPort"],
        values["metrics"]["port"]
    );

    let leader = bundle_object("Role", "storefront-operator-leader-election");
    assert_eq!(
        leader["rules"][1]["resourceNames"],
        json!([lease["leaseName"]])
    );
    let service = bundle_object("Service", "storefront-operator-metrics");
    assert_eq!(
        service["spec"]["ports"][0]["port"],
        values["metrics"]["service"]["port"]
    );
}

#[test]
fn every_bundle_object_carries_the_chart_labels_and_namespace() {
    let chart = yaml(&read("charts/storefront-operator/Chart.yaml"));
    for object in bundle() {
        let kind = object["kind"].as_str().unwrap();
        if matches!(kind, "Namespace" | "CustomResourceDefinition") {
            continue;
        }
        let labels = &object["metadata"]["labels"];
        assert_eq!(
            labels["app.kubernetes.io/version"], chart["appVersion"],
            "{kind}"
        );
        assert_eq!(
            labels["app.kubernetes.io/instance"], "storefront-operator",
            "{kind}"
        );
        if !matches!(kind, "ClusterRole" | "ClusterRoleBinding") {
            assert_eq!(
                object["metadata"]["namespace"], "storefront-system",
                "{kind}"
            );
        }
    }
}

#[test]
fn the_install_bundle_holds_no_helm_test_hook() {
    // templates/tests/ are `helm test` hooks, rendered with --skip-tests out of install.yaml.
    for object in bundle() {
        assert!(
            object["metadata"]["annotations"]["helm.sh/hook"].is_null(),
            "install.yaml holds a hook: {} {}",
            object["kind"],
            object["metadata"]["name"]
        );
    }
}
