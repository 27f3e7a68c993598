//! Rendered output of representative specs, pinned by golden files in `tests/snapshots/`
//! (review their diffs like code; regenerate with `UPDATE_SNAPSHOTS=1 cargo test -p
//! storefront-operator --test render`), plus invariants every rendered object must hold.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::{Value, json};
use storefront_operator::build::secrets::CountingSecrets;
use storefront_operator::build::{self, ClusterInputs, DesiredObject, OwnedKind, ValidationError};
use storefront_operator::crd::{EcommercePlatform, Percent};
use storefront_operator::render;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn snapshot(name: &str, actual: &str) {
    let path = root().join("tests/snapshots").join(format!("{name}.yaml"));
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    if expected != actual {
        let line = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| expected.lines().count().min(actual.lines().count()));
        panic!(
            "snapshot {} differs from the rendered output at line {}:\n  expected: {:?}\n  actual:   {:?}\n\
             If the change is intended, run `UPDATE_SNAPSHOTS=1 cargo test -p storefront-operator --test render` \
             and review the diff.",
            path.display(),
            line + 1,
            expected.lines().nth(line),
            actual.lines().nth(line),
        );
    }
}

fn platform(spec: Value) -> EcommercePlatform {
    serde_json::from_value(json!({
        "apiVersion": "storefront.dev/v1alpha1",
        "kind": "EcommercePlatform",
        "metadata": {"name": "shop", "namespace": "shop", "uid": "0b7c2a4e-1111-4222-8333-944445555666"},
        "spec": spec,
    }))
    .unwrap()
}

fn render(p: &EcommercePlatform) -> Vec<DesiredObject> {
    render::render_platform(p, &mut CountingSecrets::default()).unwrap()
}

fn render_file(file: &str) -> String {
    let yaml = std::fs::read_to_string(root().join("../manifests").join(file)).unwrap();
    render::render_yaml(&yaml, &mut CountingSecrets::default())
        .unwrap()
        .yaml
}

fn example_files() -> Vec<PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(root().join("../manifests"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

#[test]
fn minimal_platform_snapshot() {
    snapshot("minimal", &render_file("minimal.yaml"));
}

#[test]
fn full_platform_snapshot() {
    snapshot("platform", &render_file("platform.yaml"));
}

#[test]
fn external_database_snapshot() {
    snapshot("external-db", &render_file("external-db.yaml"));
}

#[test]
fn rabbitmq_events_snapshot() {
    snapshot("rabbitmq", &render_file("rabbitmq.yaml"));
}

#[test]
fn disabled_components_snapshot() {
    let p = platform(json!({
        "version": "1.0.0",
        "services": {
            "web": {"enabled": false},
            "cart": {"enabled": false},
            "payments": {"enabled": false},
            "catalog": {"replicas": 3, "image": "registry.example.com/catalog@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},
        },
        "demoData": false,
        "database": {"storage": "10Gi", "storageClassName": "fast"},
    }));
    let objects = render(&p);
    snapshot("disabled-components", &build::to_yaml_stream(&objects));
    let names: Vec<_> = objects
        .iter()
        .filter(|o| matches!(o, DesiredObject::Deployment(_)))
        .map(DesiredObject::name)
        .collect();
    assert_eq!(
        names,
        [
            "shop-catalog",
            "shop-gateway",
            "shop-inventory",
            "shop-notifications",
            "shop-orders",
            "shop-users"
        ]
    );
}

#[test]
fn every_example_parses_and_renders() {
    let files = example_files();
    assert!(files.len() >= 3, "{files:?}");
    for file in files {
        let yaml = std::fs::read_to_string(&file).unwrap();
        let platforms = render::parse_platforms(&yaml).unwrap();
        if platforms.platforms.is_empty() {
            continue;
        }
        let out = render::render_yaml(&yaml, &mut CountingSecrets::default())
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert!(out.yaml.contains("kind: Deployment"), "{}", file.display());
        assert_eq!(out.unknown_fields, [], "{}", file.display());
    }
}

const TYPO: &str = "\
apiVersion: storefront.dev/v1alpha1
kind: EcommercePlatform
metadata: { name: shop, namespace: shop }
spec:
  version: \"0.1.0\"
  services:
    catalog:
      autoscaling: { maxReplicas: 4, targetCPUUtilization: 50 }
      env: { FEATURE_X: \"on\" }
  mesh:
    istio: { mtlsMode: STRICT, ingress: { hosts: [shop.example.com], tls: {} } }
";

#[test]
fn render_reports_each_unknown_field_by_its_path() {
    let out = render::render_yaml(TYPO, &mut CountingSecrets::default()).unwrap();
    let paths: Vec<&str> = out.unknown_fields.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "spec.mesh.istio.ingress.tls",
            "spec.mesh.istio.mtlsMode",
            "spec.services.catalog.autoscaling.targetCPUUtilization",
        ],
        "env keys are data, not fields"
    );
    assert_eq!(
        out.unknown_fields[2].to_string(),
        "unknown field \"spec.services.catalog.autoscaling.targetCPUUtilization\" (document 0)"
    );
}

#[test]
fn the_render_command_warns_on_stderr_and_strict_makes_it_fail() {
    let dir = std::env::temp_dir().join(format!("render-strict-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("typo.yaml");
    std::fs::write(&file, TYPO).unwrap();
    let run = |strict: bool| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_storefront-operator"));
        command.arg("render").arg("--file").arg(&file);
        if strict {
            command.arg("--strict");
        }
        command.output().unwrap()
    };
    let lenient = run(false);
    let stderr = String::from_utf8_lossy(&lenient.stderr);
    assert!(lenient.status.success(), "{stderr}");
    assert!(
        stderr.contains(
            "Warning: unknown field \"spec.services.catalog.autoscaling.targetCPUUtilization\""
        ),
        "{stderr}"
    );
    assert!(String::from_utf8_lossy(&lenient.stdout).contains("kind: Deployment"));
    let strict = run(true);
    let stderr = String::from_utf8_lossy(&strict.stderr);
    std::fs::remove_dir_all(&dir).ok();
    assert!(!strict.status.success(), "{stderr}");
    assert!(stderr.contains("3 unknown field(s)"), "{stderr}");
    assert!(strict.stdout.is_empty(), "nothing rendered under --strict");
}

#[test]
fn rendering_is_deterministic() {
    assert_eq!(render_file("platform.yaml"), render_file("platform.yaml"));
}

#[test]
fn every_object_is_labelled_and_owned_by_the_platform() {
    for p in [
        platform(json!({"version": "0.1.0"})),
        platform(
            json!({"version": "0.1.0", "services": {"loadgen": {"enabled": true}, "gateway": {"autoscaling": {"maxReplicas": 3}}}}),
        ),
    ] {
        for object in render(&p) {
            let meta = object.meta();
            let labels = meta.labels.clone().unwrap();
            for key in [
                "name",
                "instance",
                "component",
                "part-of",
                "managed-by",
                "version",
            ] {
                assert!(
                    labels.contains_key(&format!("app.kubernetes.io/{key}")),
                    "{} {} lacks app.kubernetes.io/{key}",
                    object.kind().kind(),
                    object.name()
                );
            }
            assert_eq!(labels["app.kubernetes.io/part-of"], "storefront");
            assert_eq!(
                labels["app.kubernetes.io/managed-by"],
                "storefront-operator"
            );
            let owners = meta.owner_references.clone().unwrap();
            assert_eq!(owners.len(), 1);
            assert_eq!(owners[0].uid, "0b7c2a4e-1111-4222-8333-944445555666");
            assert_eq!(owners[0].controller, Some(true));
        }
    }
}

#[test]
fn every_container_runs_restricted_with_a_writable_tmp() {
    let objects = render(&platform(json!({
        "version": "0.1.0",
        "services": {"loadgen": {"enabled": true}},
        "events": {"bus": "RabbitMQ"},
    })));
    let mut pods = 0;
    for object in &objects {
        let template = match object {
            DesiredObject::Deployment(d) => d.spec.as_ref().unwrap().template.clone(),
            DesiredObject::StatefulSet(s) => s.spec.as_ref().unwrap().template.clone(),
            _ => continue,
        };
        pods += 1;
        let spec = template.spec.unwrap();
        let pod = spec.security_context.unwrap();
        assert_eq!(pod.run_as_non_root, Some(true));
        assert_eq!(pod.seccomp_profile.unwrap().type_, "RuntimeDefault");
        assert_eq!(spec.automount_service_account_token, Some(false));
        for c in spec.containers {
            let sc = c.security_context.unwrap();
            assert_eq!(sc.read_only_root_filesystem, Some(true), "{}", c.name);
            assert_eq!(sc.allow_privilege_escalation, Some(false));
            assert_eq!(sc.capabilities.unwrap().drop.unwrap(), ["ALL"]);
            assert!(
                c.volume_mounts
                    .unwrap()
                    .iter()
                    .any(|m| m.mount_path == "/tmp")
            );
        }
    }
    assert_eq!(pods, 13, "ten services, postgres, redis, rabbitmq");
}

#[test]
fn every_pod_is_named_for_its_workload_while_selectors_stay_as_they_were() {
    let objects = render(&platform(json!({
        "version": "0.1.0",
        "services": {"loadgen": {"enabled": true}},
        "events": {"bus": "RabbitMQ"},
        "tracing": {"jaeger": {"mode": "Managed"}},
    })));
    let mut pods = 0;
    for object in &objects {
        let (template, selector) = match object {
            DesiredObject::Deployment(d) => {
                let spec = d.spec.clone().unwrap();
                (spec.template, spec.selector)
            }
            DesiredObject::StatefulSet(s) => {
                let spec = s.spec.clone().unwrap();
                (spec.template, spec.selector)
            }
            _ => continue,
        };
        pods += 1;
        let labels = template.metadata.unwrap().labels.unwrap();
        let component = &labels["app.kubernetes.io/component"];
        assert_eq!(&labels["app"], component, "{}", object.name());
        assert_eq!(&labels["service.istio.io/canonical-name"], component);
        assert_eq!(labels["version"], labels["app.kubernetes.io/version"]);
        // Deployment and StatefulSet selectors are immutable: exactly what they always were.
        assert_eq!(
            selector.match_labels.unwrap(),
            BTreeMap::from([
                ("app.kubernetes.io/component".to_owned(), component.clone()),
                ("app.kubernetes.io/instance".to_owned(), "shop".to_owned()),
                ("app.kubernetes.io/name".to_owned(), "storefront".to_owned()),
            ]),
            "{}",
            object.name()
        );
    }
    assert_eq!(pods, 14, "ten services, postgres, redis, rabbitmq, jaeger");
}

#[test]
fn service_deployments_probe_healthz_and_readyz_on_the_named_http_port() {
    for object in render(&platform(json!({"version": "0.1.0"}))) {
        let DesiredObject::Deployment(d) = object else {
            continue;
        };
        let c = &d.spec.unwrap().template.spec.unwrap().containers[0];
        assert_eq!(c.ports.as_ref().unwrap()[0].name.as_deref(), Some("http"));
        assert_eq!(c.ports.as_ref().unwrap()[0].container_port, 8080);
        let live = c
            .liveness_probe
            .as_ref()
            .unwrap()
            .http_get
            .as_ref()
            .unwrap();
        let ready = c
            .readiness_probe
            .as_ref()
            .unwrap()
            .http_get
            .as_ref()
            .unwrap();
        assert_eq!(live.path.as_deref(), Some("/healthz"));
        assert_eq!(ready.path.as_deref(), Some("/readyz"));
    }
}

fn config_map(objects: &[DesiredObject], name: &str) -> BTreeMap<String, String> {
    objects
        .iter()
        .find_map(|o| match o {
            DesiredObject::ConfigMap(c) if o.name() == name => c.data.clone(),
            _ => None,
        })
        .unwrap()
}

fn secret_env(objects: &[DesiredObject], deployment: &str) -> BTreeMap<String, (String, String)> {
    objects
        .iter()
        .find_map(|o| match o {
            DesiredObject::Deployment(d) if o.name() == deployment => Some(d.clone()),
            _ => None,
        })
        .unwrap()
        .spec
        .unwrap()
        .template
        .spec
        .unwrap()
        .containers[0]
        .env
        .clone()
        .unwrap()
        .into_iter()
        .map(|e| {
            let r = e.value_from.unwrap().secret_key_ref.unwrap();
            (e.name, (r.name, r.key))
        })
        .collect()
}

#[test]
fn services_get_the_environment_contract() {
    let objects = render(&platform(json!({"version": "0.1.0"})));
    let users = config_map(&objects, "shop-users");
    assert_eq!(users["STOREFRONT_HTTP_ADDR"], "0.0.0.0:8080");
    assert_eq!(users["OTEL_SERVICE_NAME"], "users");
    assert_eq!(users["RUST_LOG"], "info");
    assert_eq!(users["REDIS_URL"], "redis://shop-redis:6379");
    assert_eq!(users["CATALOG_URL"], "http://shop-catalog:8080");
    assert_eq!(users["GATEWAY_URL"], "http://shop-gateway:8080");
    assert!(!users.contains_key("STOREFRONT_SEED_DEMO"));
    let env = secret_env(&objects, "shop-users");
    assert_eq!(
        env["STOREFRONT_JWT_SECRET"],
        ("shop-jwt".into(), "signing-key".into())
    );
    assert_eq!(
        env["DATABASE_URL"],
        ("shop-postgres".into(), "users-database-url".into())
    );
    assert_eq!(
        env["STOREFRONT_ADMIN_EMAIL"],
        ("shop-admin".into(), "email".into())
    );
    assert_eq!(
        env["STOREFRONT_ADMIN_PASSWORD"],
        ("shop-admin".into(), "password".into())
    );

    assert_eq!(
        config_map(&objects, "shop-catalog")["STOREFRONT_SEED_DEMO"],
        "true"
    );
    assert_eq!(
        config_map(&objects, "shop-inventory")["STOREFRONT_SEED_DEMO"],
        "true"
    );
    let cart = secret_env(&objects, "shop-cart");
    assert!(
        !cart.contains_key("DATABASE_URL"),
        "cart keeps its data in Redis only"
    );
    assert!(!config_map(&objects, "shop-web").contains_key("REDIS_URL"));
}

fn deployment(objects: &[DesiredObject], name: &str) -> k8s_openapi::api::apps::v1::Deployment {
    objects
        .iter()
        .find_map(|o| match o {
            DesiredObject::Deployment(d) if o.name() == name => Some(d.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no Deployment {name}"))
}

#[test]
fn loadgen_serves_a_steady_load_against_the_gateway_behind_its_probes() {
    let objects = render(&platform(
        json!({"version": "0.1.0", "services": {"loadgen": {"enabled": true}}}),
    ));
    let env = config_map(&objects, "shop-loadgen");
    assert_eq!(env["LOADGEN_MODE"], "serve");
    assert_eq!(env["LOADGEN_URL"], "http://shop-gateway:8080");
    assert_eq!(env["STOREFRONT_HTTP_ADDR"], "0.0.0.0:8080");
    assert_eq!(
        (env["LOADGEN_USERS"].as_str(), env["LOADGEN_THINK"].as_str()),
        ("5", "1s")
    );
    let d = deployment(&objects, "shop-loadgen");
    let c = &d.spec.unwrap().template.spec.unwrap().containers[0];
    let probe = |p: &Option<k8s_openapi::api::core::v1::Probe>| {
        let get = p.as_ref().unwrap().http_get.clone().unwrap();
        (get.path.unwrap(), get.port)
    };
    let http = k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String("http".into());
    assert_eq!(
        probe(&c.liveness_probe),
        ("/healthz".to_owned(), http.clone())
    );
    assert_eq!(probe(&c.readiness_probe), ("/readyz".to_owned(), http));
    assert_eq!(c.ports.as_ref().unwrap()[0].container_port, 8080);

    // The load is the user's to size; the target and the mode are the operator's.
    let sized = render(&platform(
        json!({"version": "0.1.0", "services": {"loadgen": {"enabled": true, "env": {"LOADGEN_USERS": "20"}}}}),
    ));
    assert_eq!(config_map(&sized, "shop-loadgen")["LOADGEN_USERS"], "20");
    let message = invalid(
        json!({"version": "0.1.0", "services": {"loadgen": {"enabled": true, "env": {"LOADGEN_URL": "http://x"}}}}),
    )
    .to_string();
    assert!(
        message.contains("the operator sets this variable"),
        "{message}"
    );
    let message = invalid(
        json!({"version": "0.1.0", "services": {"loadgen": {"enabled": true}, "gateway": {"enabled": false}}}),
    )
    .to_string();
    assert!(
        message.contains("enable spec.services.gateway"),
        "{message}"
    );
}

#[test]
fn each_database_service_gets_its_own_database_url() {
    let objects = render(&platform(json!({"version": "0.1.0"})));
    let DesiredObject::Secret(secret) = objects
        .iter()
        .find(|o| o.name() == "shop-postgres")
        .unwrap()
    else {
        panic!("shop-postgres is not a Secret")
    };
    let data = secret.data.clone().unwrap();
    for service in [
        "users",
        "catalog",
        "inventory",
        "payments",
        "orders",
        "notifications",
    ] {
        let url = String::from_utf8(data[&format!("{service}-database-url")].0.clone()).unwrap();
        let password = String::from_utf8(data[&format!("{service}-password")].0.clone()).unwrap();
        assert_eq!(
            url,
            format!("postgres://{service}:{password}@shop-postgres:5432/{service}")
        );
    }
}

fn claim_templates(objects: &[DesiredObject]) -> Vec<(String, Value)> {
    objects
        .iter()
        .filter_map(|o| match o {
            DesiredObject::StatefulSet(s) => Some((
                o.name().to_owned(),
                serde_json::to_value(&s.spec.as_ref()?.volume_claim_templates).unwrap(),
            )),
            _ => None,
        })
        .collect()
}

#[test]
fn volume_claim_templates_do_not_change_with_the_version() {
    let old = render(&platform(json!({"version": "0.1.0"})));
    let new = render(&platform(json!({
        "version": "0.2.0",
        "database": {"version": "17.6-alpine"},
        "cache": {"version": "7.4.5-alpine"},
    })));
    let templates = claim_templates(&old);
    assert_eq!(templates.len(), 2, "postgres and redis");
    assert_eq!(templates, claim_templates(&new));
    for (name, template) in &templates {
        let labels = &template[0]["metadata"]["labels"];
        assert!(
            labels.get("app.kubernetes.io/version").is_none(),
            "{name}: {labels}"
        );
        assert_eq!(labels["app.kubernetes.io/instance"], "shop", "{name}");
    }
}

#[test]
fn existing_generated_secret_data_is_reused_verbatim() {
    let p = platform(json!({"version": "0.1.0"}));
    let kept = BTreeMap::from([("signing-key".to_owned(), "the-old-key".to_owned())]);
    let db = BTreeMap::from([
        ("postgres-password".to_owned(), "old-root".to_owned()),
        ("users-password".to_owned(), "old-users".to_owned()),
    ]);
    let inputs = ClusterInputs {
        referenced: Some(BTreeMap::new()),
        generated: BTreeMap::from([
            ("shop-jwt".to_owned(), kept),
            ("shop-postgres".to_owned(), db),
        ]),
    };
    let validated = build::validate(&p, &inputs, &mut CountingSecrets::default()).unwrap();
    assert_eq!(validated.jwt.data["signing-key"], "the-old-key");
    let objects = build::build(&validated);
    let DesiredObject::Secret(secret) = objects
        .iter()
        .find(|o| o.name() == "shop-postgres")
        .unwrap()
    else {
        panic!()
    };
    let data = secret.data.clone().unwrap();
    assert_eq!(data["postgres-password"].0, b"old-root");
    assert_eq!(data["users-password"].0, b"old-users");
    assert!(
        String::from_utf8(data["users-database-url"].0.clone())
            .unwrap()
            .contains(":old-users@")
    );
    // Keys that were missing are filled, the rest untouched.
    assert!(
        String::from_utf8(data["orders-password"].0.clone())
            .unwrap()
            .starts_with("generated-")
    );
}

#[test]
fn retained_database_keeps_its_volume_and_redis_does_not() {
    let objects = render(&platform(
        json!({"version": "0.1.0", "database": {"retainOnDelete": true}}),
    ));
    let policy = |name: &str| {
        objects
            .iter()
            .find_map(|o| match o {
                DesiredObject::StatefulSet(s) if o.name() == name => s.spec.clone(),
                _ => None,
            })
            .unwrap()
            .persistent_volume_claim_retention_policy
            .unwrap()
            .when_deleted
            .unwrap()
    };
    assert_eq!(policy("shop-postgres"), "Retain");
    assert_eq!(policy("shop-redis"), "Delete");
}

#[test]
fn retained_data_keeps_its_passwords_out_of_garbage_collection() {
    let owners = |spec: Value| {
        render(&platform(spec))
            .into_iter()
            .find(|o| o.name() == "shop-postgres" && o.kind().kind() == "Secret")
            .unwrap()
            .meta()
            .owner_references
            .clone()
    };
    assert_eq!(
        owners(json!({"version": "0.1.0", "database": {"retainOnDelete": true}})),
        None,
        "an owned Secret is deleted with the platform while its volumes stay"
    );
    assert_eq!(
        owners(json!({"version": "0.1.0", "database": {"retainOnDelete": false}})).map(|o| o.len()),
        Some(1)
    );
}

#[test]
fn autoscaled_service_has_hpa_and_pdb_and_no_fixed_replicas() {
    let objects = render(&platform(
        json!({"version": "0.1.0", "services": {"gateway": {"autoscaling": {"minReplicas": 2, "maxReplicas": 5}}}}),
    ));
    let kinds: Vec<_> = objects
        .iter()
        .filter(|o| o.name() == "shop-gateway")
        .map(|o| o.kind().kind())
        .collect();
    assert!(
        kinds.contains(&"HorizontalPodAutoscaler") && kinds.contains(&"PodDisruptionBudget"),
        "{kinds:?}"
    );
    let DesiredObject::Deployment(d) = objects
        .iter()
        .find(|o| o.name() == "shop-gateway" && o.kind().kind() == "Deployment")
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(
        d.spec.as_ref().unwrap().replicas,
        None,
        "the HPA owns the replica count"
    );
    // A single-replica service gets no PDB (it would block node drains).
    assert!(
        !objects
            .iter()
            .any(|o| o.name() == "shop-web" && o.kind().kind() == "PodDisruptionBudget")
    );
}

fn invalid(spec: Value) -> ValidationError {
    build::validate(
        &platform(spec),
        &ClusterInputs::offline(),
        &mut CountingSecrets::default(),
    )
    .unwrap_err()
}

#[test]
fn validation_errors_say_what_to_fix() {
    let cases = [
        (
            json!({"version": "0.1.0", "services": {"catalog": {"image": "ghcr.io/Acme/catalog:1"}}}),
            "spec.services.catalog: image repository",
        ),
        (json!({"version": "bad tag!"}), "spec.version"),
        (
            json!({"version": "0.1.0", "database": {"mode": "External"}}),
            "spec.database.secretRef is required",
        ),
        (
            json!({"version": "0.1.0", "database": {"mode": "External", "secretRef": {"name": "x"}, "storage": "1Gi"}}),
            "spec.database.storage applies only to mode Managed",
        ),
        (
            json!({"version": "0.1.0", "services": {"users": {"env": {"DATABASE_URL": "x"}}}}),
            "spec.services.users.env.DATABASE_URL: the operator sets this variable",
        ),
        (
            json!({"version": "0.1.0", "services": {"users": {"env": {"1BAD": "x"}}}}),
            "not a valid variable name",
        ),
        (
            json!({"version": "0.1.0", "services": {"cart": {"replicas": 2, "autoscaling": {"maxReplicas": 3}}}}),
            "either replicas or autoscaling",
        ),
        (
            json!({"version": "0.1.0", "services": {"cart": {"rollout": {"strategy": "Canary", "steps": [50, 20]}}}}),
            "strictly increasing",
        ),
        (
            json!({"version": "0.1.0", "services": {"cart": {"rollout": {"interval": "1d"}}}}),
            "spec.services.cart.rollout.interval",
        ),
        (
            json!({"version": "0.1.0", "tracing": {"jaeger": {"mode": "External"}}}),
            "spec.tracing.jaeger.endpoint is required",
        ),
        (
            json!({"version": "0.1.0", "mesh": {"istio": {"ingress": {"hosts": []}}}}),
            "spec.mesh.istio.ingress.hosts is empty",
        ),
        (
            json!({"version": "0.1.0", "services": {"cart": {"rollout": {"progressDeadline": "500ms"}}}}),
            "spec.services.cart.rollout.progressDeadline is 500ms",
        ),
    ];
    for (spec, expected) in cases {
        let message = invalid(spec.clone()).to_string();
        assert!(
            message.contains(expected),
            "{spec}: got `{message}`, wanted `{expected}`"
        );
    }
}

#[test]
fn a_referenced_secret_must_exist_and_hold_its_keys() {
    let p = platform(
        json!({"version": "0.1.0", "cache": {"mode": "External", "secretRef": {"name": "redis-conn"}}}),
    );
    let mut inputs = ClusterInputs {
        referenced: Some(BTreeMap::from([("redis-conn".to_owned(), None)])),
        ..ClusterInputs::default()
    };
    let error = build::validate(&p, &inputs, &mut CountingSecrets::default()).unwrap_err();
    assert!(error.to_string().contains("does not exist"), "{error}");
    inputs.referenced = Some(BTreeMap::from([(
        "redis-conn".to_owned(),
        Some(["host".to_owned()].into()),
    )]));
    let error = build::validate(&p, &inputs, &mut CountingSecrets::default()).unwrap_err();
    assert!(error.to_string().contains("has no key `url`"), "{error}");
}

/// The catalog VirtualService and DestinationRule at each phase of a canary rollout.
fn canary_phase_stream() -> String {
    use storefront_operator::build::Component;
    use storefront_operator::build::traffic::{Canary, ServiceTraffic, Track, Traffic};
    let p = platform(json!({
        "version": "1.0.0",
        "services": {"catalog": {"version": "2.0.0", "rollout": {"strategy": "Canary"}}},
        "mesh": {"istio": {"ingress": {"hosts": ["shop.example.com"]}}},
    }));
    let validated = build::validate(
        &p,
        &ClusterInputs::offline(),
        &mut CountingSecrets::default(),
    )
    .unwrap();
    let track = |v: &str| Track {
        image: format!("ghcr.io/storefront-dev/storefront/catalog:{v}"),
        version: v.into(),
    };
    let phases = [
        (
            "just switched to Canary: stable pods not labelled yet, route to the host",
            false,
            None,
        ),
        ("idle", true, None),
        ("initializing: subset, no route", true, Some(None)),
        ("progressing at 25%", true, Some(Some(25))),
        (
            "finalizing / rolling back: route removed, subset kept",
            true,
            Some(None),
        ),
    ];
    let mut out = String::new();
    for (phase, stable_subset, canary) in phases {
        let traffic = Traffic(BTreeMap::from([(
            Component::Catalog,
            ServiceTraffic {
                stable: Some(track("1.0.0")),
                canary: canary.map(|weight: Option<u8>| Canary {
                    track: track("2.0.0"),
                    weight: weight.map(percent),
                    mirror: None,
                    draining: false,
                }),
                stable_subset,
                stable_replicas: None,
            },
        )]));
        out.push_str(&format!("# phase: {phase}\n"));
        let objects: Vec<_> = build::build_with(&validated, &traffic)
            .into_iter()
            .filter(|o| {
                matches!(
                    o.kind(),
                    OwnedKind::VirtualService | OwnedKind::DestinationRule
                ) && o.name() == "shop-catalog"
                    || o.name() == "shop-catalog-canary"
            })
            .collect();
        out.push_str(&build::to_yaml_stream(&objects));
    }
    out
}

fn percent(value: u8) -> Percent {
    Percent::new(value).unwrap()
}

fn rollout_objects(spec: Value, weight: Option<u8>, stable_now: Option<i32>) -> Vec<DesiredObject> {
    use storefront_operator::build::Component;
    use storefront_operator::build::traffic::{Canary, ServiceTraffic, Track, Traffic};
    let validated = build::validate(
        &platform(spec),
        &ClusterInputs::offline(),
        &mut CountingSecrets::default(),
    )
    .unwrap();
    let track = |v: &str| Track {
        image: format!("ghcr.io/storefront-dev/storefront/catalog:{v}"),
        version: v.into(),
    };
    let traffic = Traffic(BTreeMap::from([(
        Component::Catalog,
        ServiceTraffic {
            stable: Some(track("1.0.0")),
            canary: Some(Canary {
                track: track("2.0.0"),
                weight: weight.map(percent),
                mirror: None,
                draining: false,
            }),
            stable_subset: true,
            stable_replicas: stable_now,
        },
    )]));
    build::build_with(&validated, &traffic)
}

fn virtual_service(objects: &[DesiredObject], name: &str) -> Value {
    objects
        .iter()
        .find(|o| o.kind() == OwnedKind::VirtualService && o.name() == name)
        .map(DesiredObject::to_json)
        .unwrap_or_else(|| panic!("no VirtualService {name}"))["spec"]
        .clone()
}

/// The gateway's (edge, so the ingress too) and the catalog's routes for a canary with
/// `rollout.match`, at the mirror step and at a weighted step.
fn matched_rollout(weight: u8, mirror: Option<u8>) -> Vec<DesiredObject> {
    use storefront_operator::build::Component;
    use storefront_operator::build::traffic::{Canary, ServiceTraffic, Track, Traffic};
    let rollout = json!({
        "strategy": "Canary",
        "mirror": 30,
        "match": [
            {"headers": {"x-group": {"exact": "beta"}, "user-agent": {"regex": ".*Firefox.*"}}},
            {"cookie": {"name": "canary", "value": "yes"}},
        ],
    });
    let p = platform(json!({
        "version": "1.0.0",
        "services": {
            "gateway": {"version": "2.0.0", "rollout": rollout},
            "catalog": {"version": "2.0.0", "rollout": rollout},
        },
        "mesh": {"istio": {"ingress": {"hosts": ["shop.example.com"]}}},
    }));
    let validated = build::validate(
        &p,
        &ClusterInputs::offline(),
        &mut CountingSecrets::default(),
    )
    .unwrap();
    let track = |v: &str| Track {
        image: format!("ghcr.io/storefront-dev/storefront/x:{v}"),
        version: v.into(),
    };
    let service = || ServiceTraffic {
        stable: Some(track("1.0.0")),
        canary: Some(Canary {
            track: track("2.0.0"),
            weight: Some(percent(weight)),
            mirror: mirror.map(percent),
            draining: false,
        }),
        stable_subset: true,
        stable_replicas: None,
    };
    let traffic = Traffic(BTreeMap::from([
        (Component::Gateway, service()),
        (Component::Catalog, service()),
    ]));
    build::build_with(&validated, &traffic)
}

#[test]
fn match_entries_join_the_canary_route_beside_x_canary_on_every_path() {
    let objects = matched_rollout(10, None);
    let expected = json!([
        {"headers": {"x-canary": {"exact": "always"}}},
        {"headers": {"user-agent": {"regex": ".*Firefox.*"}, "x-group": {"exact": "beta"}}},
        {"headers": {"cookie": {"regex": "^(.*?;\\s*)?canary=yes(;.*)?$"}}},
    ]);
    let catalog = virtual_service(&objects, "shop-catalog");
    assert_eq!(catalog["http"][0]["name"], "canary-header");
    assert_eq!(catalog["http"][0]["match"], expected);
    assert_eq!(
        catalog["http"][0]["route"][0]["destination"]["subset"],
        "canary"
    );
    // The ingress: every alternative of the gateway's match route keeps to /api/.
    let ingress = virtual_service(&objects, "shop-ingress");
    let gateway_route = &ingress["http"][0];
    assert_eq!(gateway_route["name"], "gateway-canary-header");
    let matches = gateway_route["match"].as_array().unwrap();
    assert_eq!(matches.len(), 3);
    for m in matches {
        assert_eq!(m["uri"], json!({"prefix": "/api/"}), "{m}");
    }
    assert_eq!(matches[2]["headers"], expected[2]["headers"]);
    // No mirror at a weighted step.
    assert!(catalog["http"][1].get("mirror").is_none(), "{catalog}");
}

#[test]
fn the_mirror_step_routes_nothing_to_the_canary_and_copies_its_share_there() {
    let objects = matched_rollout(0, Some(30));
    let catalog = virtual_service(&objects, "shop-catalog");
    let primary = &catalog["http"][1];
    assert_eq!(primary["name"], "primary");
    assert_eq!(
        primary["route"],
        json!([
            {"destination": {"host": "shop-catalog.shop.svc.cluster.local", "subset": "stable", "port": {"number": 8080}}, "weight": 100},
            {"destination": {"host": "shop-catalog.shop.svc.cluster.local", "subset": "canary", "port": {"number": 8080}}, "weight": 0},
        ])
    );
    assert_eq!(
        primary["mirror"],
        json!({"host": "shop-catalog.shop.svc.cluster.local", "subset": "canary", "port": {"number": 8080}})
    );
    assert_eq!(primary["mirrorPercentage"], json!({"value": 30.0}));
    // The ingress copies the gateway's requests the same way; the match route is not mirrored.
    let ingress = virtual_service(&objects, "shop-ingress");
    let gateway = ingress["http"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "gateway")
        .unwrap();
    assert_eq!(gateway["mirror"]["subset"], "canary");
    assert_eq!(gateway["mirrorPercentage"], json!({"value": 30.0}));
    assert!(ingress["http"][0].get("mirror").is_none());
}

#[test]
fn a_blue_green_preview_runs_at_full_size_behind_its_own_service_with_nothing_routed() {
    use storefront_operator::build::Component;
    use storefront_operator::build::traffic::{Canary, ServiceTraffic, Track, Traffic};
    let p = platform(json!({
        "version": "1.0.0",
        "services": {"catalog": {"version": "2.0.0", "replicas": 3,
                                 "rollout": {"strategy": "BlueGreen", "scaleDownDelay": "1m"}}},
        "mesh": {"istio": {}},
    }));
    let validated = build::validate(
        &p,
        &ClusterInputs::offline(),
        &mut CountingSecrets::default(),
    )
    .unwrap();
    let track = |v: &str| Track {
        image: format!("ghcr.io/storefront-dev/storefront/catalog:{v}"),
        version: v.into(),
    };
    let at = |weight: Option<u8>| {
        let traffic = Traffic(BTreeMap::from([(
            Component::Catalog,
            ServiceTraffic {
                stable: Some(track("1.0.0")),
                canary: Some(Canary {
                    track: track("2.0.0"),
                    weight: weight.map(percent),
                    mirror: None,
                    draining: false,
                }),
                stable_subset: true,
                stable_replicas: None,
            },
        )]));
        build::build_with(&validated, &traffic)
    };
    let preview = at(Some(0));
    let service = preview
        .iter()
        .find(|o| o.kind() == OwnedKind::Service && o.name() == "shop-catalog-preview")
        .map(DesiredObject::to_json)
        .expect("a preview Service");
    assert_eq!(
        service["spec"]["selector"]["storefront.dev/track"],
        "canary"
    );
    assert_eq!(
        deployment(&preview, "shop-catalog-canary")
            .spec
            .unwrap()
            .replicas,
        Some(3),
        "the preview runs as many pods as stable from its start"
    );
    assert_eq!(
        deployment(&preview, "shop-catalog").spec.unwrap().replicas,
        Some(3)
    );
    let primary = &virtual_service(&preview, "shop-catalog")["http"][1];
    assert_eq!(
        primary["route"][1]["weight"], 0,
        "nothing routed to the preview"
    );
    let switched = at(Some(100));
    let primary = &virtual_service(&switched, "shop-catalog")["http"][1];
    assert_eq!(
        (
            &primary["route"][0]["weight"],
            &primary["route"][1]["weight"]
        ),
        (&json!(0), &json!(100)),
        "all at once"
    );
    assert_eq!(
        deployment(&switched, "shop-catalog").spec.unwrap().replicas,
        Some(3),
        "old pods kept"
    );
    // No canary, no preview Service.
    let idle = build::build_with(&validated, &Traffic::default());
    assert!(!idle.iter().any(|o| o.name() == "shop-catalog-preview"));
}

#[test]
fn the_load_test_sends_loadgen_down_the_canary_routes_while_the_canary_is_routed() {
    use storefront_operator::build::Component;
    use storefront_operator::build::traffic::{Canary, ServiceTraffic, Track, Traffic};
    let p = platform(json!({
        "version": "1.0.0",
        "services": {
            "catalog": {"version": "2.0.0", "rollout": {"strategy": "Canary", "loadTest": true}},
            "loadgen": {"enabled": true},
        },
        "mesh": {"istio": {}},
    }));
    let validated = build::validate(
        &p,
        &ClusterInputs::offline(),
        &mut CountingSecrets::default(),
    )
    .unwrap();
    let header_at = |weight: Option<u8>, draining: bool| {
        let traffic = Traffic(BTreeMap::from([(
            Component::Catalog,
            ServiceTraffic {
                stable: Some(Track {
                    image: "ghcr.io/storefront-dev/storefront/catalog:1.0.0".into(),
                    version: "1.0.0".into(),
                }),
                canary: Some(Canary {
                    track: Track {
                        image: "ghcr.io/storefront-dev/storefront/catalog:2.0.0".into(),
                        version: "2.0.0".into(),
                    },
                    weight: weight.map(percent),
                    mirror: None,
                    draining,
                }),
                stable_subset: true,
                stable_replicas: None,
            },
        )]));
        config_map(&build::build_with(&validated, &traffic), "shop-loadgen")
            .get("LOADGEN_HEADER")
            .cloned()
    };
    assert_eq!(
        header_at(Some(10), false).as_deref(),
        Some("x-canary: always")
    );
    assert_eq!(header_at(None, false), None, "no route to the canary yet");
    assert_eq!(header_at(None, true), None, "the canary is on its way out");
    assert_eq!(
        config_map(
            &build::build_with(&validated, &Traffic::default()),
            "shop-loadgen"
        )
        .get("LOADGEN_HEADER"),
        None,
        "no rollout, no load test"
    );
    let without = platform(json!({
        "version": "1.0.0",
        "services": {"catalog": {"rollout": {"strategy": "Canary", "loadTest": true}}},
        "mesh": {"istio": {}},
    }));
    let error = build::validate(
        &without,
        &ClusterInputs::offline(),
        &mut CountingSecrets::default(),
    )
    .unwrap_err();
    assert!(
        error.to_string().contains("enable spec.services.loadgen"),
        "{error}"
    );
}

#[test]
fn routing_fields_without_the_mesh_are_refused_with_the_field_named() {
    for (rollout, field) in [
        (json!({"strategy": "Canary", "mirror": 20}), "mirror"),
        (
            json!({"strategy": "Canary", "match": [{"headers": {"x-a": {"exact": "1"}}}]}),
            "match",
        ),
    ] {
        let p = platform(json!({
            "version": "1.0.0",
            "services": {"catalog": {"rollout": rollout}},
        }));
        let error = build::validate(
            &p,
            &ClusterInputs::offline(),
            &mut CountingSecrets::default(),
        )
        .unwrap_err();
        assert!(
            error.to_string().starts_with(&format!(
                "spec.services.catalog.rollout.{field} needs Istio"
            )),
            "{error}"
        );
    }
    // A canary without the mesh is fine (its pods split the traffic), and so is blue/green
    // (its Service's selector is the switch).
    for strategy in ["Canary", "BlueGreen"] {
        let p = platform(json!({
            "version": "1.0.0",
            "services": {"catalog": {"replicas": 4, "rollout": {"strategy": strategy}}},
        }));
        build::validate(
            &p,
            &ClusterInputs::offline(),
            &mut CountingSecrets::default(),
        )
        .unwrap();
    }
}

#[test]
fn without_the_mesh_a_blue_green_service_s_selector_is_the_switch() {
    use storefront_operator::build::Component;
    use storefront_operator::build::traffic::{Canary, ServiceTraffic, Track, Traffic};
    let p = platform(json!({
        "version": "1.0.0",
        "services": {"catalog": {"version": "2.0.0", "replicas": 2,
                                 "rollout": {"strategy": "BlueGreen"}}},
    }));
    let validated = build::validate(
        &p,
        &ClusterInputs::offline(),
        &mut CountingSecrets::default(),
    )
    .unwrap();
    let track = |v: &str| Track {
        image: format!("ghcr.io/storefront-dev/storefront/catalog:{v}"),
        version: v.into(),
    };
    let selected = |canary: Option<(Option<u8>, bool)>, stable_subset: bool| {
        let traffic = Traffic(BTreeMap::from([(
            Component::Catalog,
            ServiceTraffic {
                stable: Some(track("1.0.0")),
                canary: canary.map(|(weight, draining)| Canary {
                    track: track("2.0.0"),
                    weight: weight.map(percent),
                    mirror: None,
                    draining,
                }),
                stable_subset,
                stable_replicas: None,
            },
        )]));
        let objects = build::build_with(&validated, &traffic);
        let service = objects
            .iter()
            .find(|o| o.kind() == OwnedKind::Service && o.name() == "shop-catalog")
            .map(DesiredObject::to_json)
            .unwrap();
        service["spec"]["selector"]["storefront.dev/track"]
            .as_str()
            .map(str::to_owned)
    };
    assert_eq!(
        selected(None, false),
        None,
        "stable pods not labelled yet: both tracks"
    );
    assert_eq!(selected(None, true).as_deref(), Some("stable"));
    assert_eq!(
        selected(Some((None, false)), true).as_deref(),
        Some("stable"),
        "starting"
    );
    assert_eq!(
        selected(Some((Some(0), false)), true).as_deref(),
        Some("stable"),
        "preview"
    );
    assert_eq!(
        selected(Some((Some(100), false)), true).as_deref(),
        Some("canary"),
        "switched"
    );
    assert_eq!(
        selected(Some((None, true)), true).as_deref(),
        Some("stable"),
        "switched back"
    );
}

#[test]
fn bad_match_entries_are_refused_with_the_field_named() {
    let p = platform(json!({
        "version": "1.0.0",
        "services": {"catalog": {"rollout": {"strategy": "Canary", "match": [{"headers": {}}]}}},
        "mesh": {"istio": {}},
    }));
    let error = build::validate(
        &p,
        &ClusterInputs::offline(),
        &mut CountingSecrets::default(),
    )
    .unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("spec.services.catalog.rollout.match[0]: an entry needs a header"),
        "{error}"
    );
}

fn canary_spec(scaling: Value) -> Value {
    let mut catalog = json!({"version": "2.0.0", "rollout": {"strategy": "Canary"}});
    catalog
        .as_object_mut()
        .unwrap()
        .extend(scaling.as_object().unwrap().clone());
    json!({"version": "1.0.0", "services": {"catalog": catalog}, "mesh": {"istio": {}}})
}

#[test]
fn the_canary_runs_its_weight_s_share_of_the_stable_pods() {
    let replicas = |scaling: Value, weight: Option<u8>, stable_now: Option<i32>| {
        let objects = rollout_objects(canary_spec(scaling), weight, stable_now);
        deployment(&objects, "shop-catalog-canary")
            .spec
            .unwrap()
            .replicas
    };
    let fixed = || json!({"replicas": 4});
    assert_eq!(replicas(fixed(), None, None), Some(1), "unrouted: one pod");
    assert_eq!(replicas(fixed(), Some(10), None), Some(1), "at least one");
    assert_eq!(replicas(fixed(), Some(50), None), Some(2));
    assert_eq!(replicas(fixed(), Some(60), None), Some(3), "rounded up");
    let hpa = || json!({"autoscaling": {"minReplicas": 2, "maxReplicas": 10}});
    assert_eq!(
        replicas(hpa(), Some(50), Some(6)),
        Some(3),
        "as many as the HPA runs now"
    );
    assert_eq!(
        replicas(hpa(), Some(50), None),
        Some(1),
        "minReplicas when unknown"
    );
}

fn selects(selector: &Option<BTreeMap<String, String>>, labels: &BTreeMap<String, String>) -> bool {
    selector
        .as_ref()
        .unwrap()
        .iter()
        .all(|(k, v)| labels.get(k) == Some(v))
}

#[test]
fn the_stable_selector_hpa_and_pdb_leave_canary_pods_out_and_the_service_keeps_both() {
    let objects = rollout_objects(
        canary_spec(json!({"autoscaling": {"minReplicas": 2, "maxReplicas": 10}})),
        Some(25),
        Some(4),
    );
    let pod_labels = |name: &str| {
        deployment(&objects, name)
            .spec
            .unwrap()
            .template
            .metadata
            .unwrap()
            .labels
            .unwrap()
    };
    let (stable, canary) = (
        pod_labels("shop-catalog"),
        pod_labels("shop-catalog-canary"),
    );
    // The HPA scales through the Deployment's scale subresource, whose selector is the
    // Deployment's: that selector decides which pods its CPU average covers.
    let stable_selector = deployment(&objects, "shop-catalog")
        .spec
        .unwrap()
        .selector
        .match_labels;
    assert!(selects(&stable_selector, &stable));
    assert!(!selects(&stable_selector, &canary), "{canary:?}");
    let canary_selector = deployment(&objects, "shop-catalog-canary")
        .spec
        .unwrap()
        .selector
        .match_labels;
    assert!(selects(&canary_selector, &canary) && !selects(&canary_selector, &stable));
    let hpa = objects.iter().find_map(|o| match o {
        DesiredObject::HorizontalPodAutoscaler(h) if o.name() == "shop-catalog" => Some(h.clone()),
        _ => None,
    });
    assert_eq!(
        hpa.unwrap().spec.unwrap().scale_target_ref.name,
        "shop-catalog"
    );
    for object in &objects {
        match object {
            DesiredObject::PodDisruptionBudget(p) if object.name() == "shop-catalog" => {
                let selector = p.spec.clone().unwrap().selector.unwrap().match_labels;
                assert!(selects(&selector, &stable) && !selects(&selector, &canary));
            }
            DesiredObject::Service(s) if object.name() == "shop-catalog" => {
                let selector = s.spec.clone().unwrap().selector;
                assert!(
                    selects(&selector, &stable) && selects(&selector, &canary),
                    "both tracks serve"
                );
            }
            DesiredObject::AuthorizationPolicy(a) if object.name() == "shop-catalog" => {
                let selector = Some(a.spec.selector.match_labels.clone());
                assert!(
                    selects(&selector, &stable) && selects(&selector, &canary),
                    "both tracks protected"
                );
            }
            _ => {}
        }
    }
}

#[test]
fn two_platforms_in_one_namespace_write_no_namespace_wide_mesh_policy() {
    let spec = json!({
        "version": "0.1.0",
        "mesh": {"istio": {"mtls": "STRICT"}},
        "tracing": {"jaeger": {"mode": "Managed"}},
    });
    let mut outlet = platform(spec.clone());
    outlet.metadata.name = Some("outlet".into());
    let (shop, outlet) = (render(&platform(spec)), render(&outlet));
    let pods = |objects: &[DesiredObject]| -> Vec<BTreeMap<String, String>> {
        objects
            .iter()
            .filter_map(|o| match o {
                DesiredObject::Deployment(d) => {
                    d.spec.as_ref()?.template.metadata.as_ref()?.labels.clone()
                }
                DesiredObject::StatefulSet(s) => {
                    s.spec.as_ref()?.template.metadata.as_ref()?.labels.clone()
                }
                _ => None,
            })
            .collect()
    };
    for (instance, objects, others) in [("shop", &shop, &outlet), ("outlet", &outlet, &shop)] {
        let mut policies = 0;
        for object in objects.iter() {
            if !matches!(object.kind().kind(), "PeerAuthentication" | "Telemetry") {
                continue;
            }
            policies += 1;
            let json = object.to_json();
            let selector: Option<BTreeMap<String, String>> =
                serde_json::from_value(json["spec"]["selector"]["matchLabels"].clone()).ok();
            assert_eq!(
                selector
                    .as_ref()
                    .and_then(|s| s.get("app.kubernetes.io/instance"))
                    .map(String::as_str),
                Some(instance),
                "{} {} must select its platform's workloads: {json}",
                object.kind().kind(),
                object.name()
            );
            for pod in pods(others) {
                assert!(
                    !selects(&selector, &pod),
                    "{} reaches {pod:?}",
                    object.name()
                );
            }
            assert!(object.name().starts_with(&format!("{instance}-")));
        }
        assert!(
            policies > 2,
            "{instance}: PeerAuthentications and the Telemetry"
        );
    }
}

#[test]
fn canary_phases_snapshot() {
    snapshot("canary-phases", &canary_phase_stream());
}

fn network_policy(
    objects: &[DesiredObject],
    name: &str,
) -> k8s_openapi::api::networking::v1::NetworkPolicySpec {
    objects
        .iter()
        .find_map(|o| match o {
            DesiredObject::NetworkPolicy(n) if o.name() == name => n.spec.clone(),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no NetworkPolicy {name}"))
}

fn rabbitmq_platform(rabbitmq: Value) -> Vec<DesiredObject> {
    render(&platform(
        json!({"version": "0.1.0", "events": {"bus": "RabbitMQ", "rabbitmq": rabbitmq}}),
    ))
}

#[test]
fn notifications_runs_like_every_service_and_the_gateway_routes_to_it() {
    let objects = render(&platform(json!({"version": "0.1.0"})));
    for kind in ["Deployment", "Service", "ServiceAccount", "ConfigMap"] {
        assert!(
            objects
                .iter()
                .any(|o| o.kind().kind() == kind && o.name() == "shop-notifications"),
            "no {kind} shop-notifications"
        );
    }
    assert_eq!(
        config_map(&objects, "shop-gateway")["NOTIFICATIONS_URL"],
        "http://shop-notifications:8080"
    );
    let plain = config_map(&objects, "shop-notifications");
    assert_eq!(plain["REDIS_URL"], "redis://shop-redis:6379");
    assert_eq!(plain["OTEL_SERVICE_NAME"], "notifications");
    assert!(
        !plain.contains_key("STOREFRONT_EVENT_BUS"),
        "the Redis stream is the services' default: nothing is set for it"
    );
    let env = secret_env(&objects, "shop-notifications");
    assert_eq!(
        env["DATABASE_URL"],
        ("shop-postgres".into(), "notifications-database-url".into())
    );
    assert!(!env.contains_key("RABBITMQ_URL"));
    let DesiredObject::Deployment(d) = objects
        .iter()
        .find(|o| o.kind().kind() == "Deployment" && o.name() == "shop-notifications")
        .unwrap()
    else {
        unreachable!()
    };
    let labels = d.spec.as_ref().unwrap().template.metadata.as_ref().unwrap();
    assert_eq!(
        labels.labels.as_ref().unwrap()["storefront.dev/tier"],
        "application"
    );

    let without = render(&platform(
        json!({"version": "0.1.0", "services": {"notifications": {"enabled": false}}}),
    ));
    assert!(!without.iter().any(|o| o.name() == "shop-notifications"));
    assert!(!config_map(&without, "shop-gateway").contains_key("NOTIFICATIONS_URL"));
}

#[test]
fn with_rabbitmq_only_orders_and_notifications_get_the_bus_and_its_url_from_the_secret() {
    let objects = rabbitmq_platform(json!({}));
    for service in ["shop-orders", "shop-notifications"] {
        assert_eq!(
            config_map(&objects, service)["STOREFRONT_EVENT_BUS"],
            "rabbitmq"
        );
        assert_eq!(
            secret_env(&objects, service)["RABBITMQ_URL"],
            ("shop-rabbitmq".into(), "url".into())
        );
        assert!(!config_map(&objects, service).contains_key("RABBITMQ_URL"));
    }
    for service in ["shop-gateway", "shop-users", "shop-cart", "shop-payments"] {
        assert!(!config_map(&objects, service).contains_key("STOREFRONT_EVENT_BUS"));
        assert!(!secret_env(&objects, service).contains_key("RABBITMQ_URL"));
    }
    let names: Vec<_> = objects
        .iter()
        .filter(|o| o.name() == "shop-rabbitmq")
        .map(|o| o.kind().kind())
        .collect();
    assert_eq!(
        names,
        [
            "NetworkPolicy",
            "Secret",
            "ServiceAccount",
            "Service",
            "StatefulSet"
        ]
    );
}

#[test]
fn a_managed_broker_accepts_only_orders_and_notifications_on_amqp() {
    let objects = rabbitmq_platform(json!({}));
    let broker = network_policy(&objects, "shop-rabbitmq");
    assert_eq!(
        broker
            .pod_selector
            .as_ref()
            .unwrap()
            .match_labels
            .as_ref()
            .unwrap()["app.kubernetes.io/component"],
        "rabbitmq"
    );
    let ingress = broker.ingress.unwrap();
    assert_eq!(ingress.len(), 1);
    let from = ingress[0].from.as_ref().unwrap();
    let callers = from[0]
        .pod_selector
        .as_ref()
        .unwrap()
        .match_expressions
        .as_ref()
        .unwrap();
    assert_eq!(callers[0].key, "app.kubernetes.io/component");
    assert_eq!(
        callers[0].values.as_deref(),
        Some(&["orders".to_owned(), "notifications".to_owned()][..])
    );
    let ports = ingress[0].ports.as_ref().unwrap();
    assert_eq!(ports.len(), 1);
    assert_eq!(
        ports[0].port,
        Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(5672))
    );
    assert_eq!(broker.policy_types.unwrap(), ["Ingress", "Egress"]);
    assert!(broker.egress.is_none(), "the broker calls nobody");

    // The publisher and consumer may leave for the broker; nobody else gains an AMQP rule.
    let egress = network_policy(&objects, "shop-event-bus");
    assert_eq!(egress.policy_types.unwrap(), ["Egress"]);
    let rule = &egress.egress.unwrap()[0];
    assert_eq!(
        rule.to.as_ref().unwrap()[0]
            .pod_selector
            .as_ref()
            .unwrap()
            .match_labels
            .as_ref()
            .unwrap()["app.kubernetes.io/component"],
        "rabbitmq"
    );
    // The data tier's own policy still opens only the PostgreSQL and Redis ports.
    let data = network_policy(&objects, "shop-data");
    let data_ports = data.ingress.unwrap()[0].ports.clone().unwrap();
    assert!(
        data_ports.iter().all(|p| p.port
            != Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(5672)))
    );
    // Without the RabbitMQ bus, none of this exists.
    let redis = render(&platform(json!({"version": "0.1.0"})));
    assert!(
        !redis
            .iter()
            .any(|o| o.name() == "shop-rabbitmq" || o.name() == "shop-event-bus")
    );
}

#[test]
fn an_external_broker_is_read_from_its_secret_and_reached_anywhere_on_amqp() {
    let objects =
        rabbitmq_platform(json!({"mode": "External", "secretRef": {"name": "shop-amqp"}}));
    assert!(!objects.iter().any(|o| o.name() == "shop-rabbitmq"));
    assert_eq!(
        secret_env(&objects, "shop-orders")["RABBITMQ_URL"],
        ("shop-amqp".into(), "url".into())
    );
    let egress = network_policy(&objects, "shop-event-bus");
    let rule = &egress.egress.unwrap()[0];
    assert!(rule.to.is_none(), "an external broker's address is unknown");

    let p = platform(json!({
        "version": "0.1.0",
        "events": {"bus": "RabbitMQ", "rabbitmq": {"mode": "External", "secretRef": {"name": "shop-amqp"}}},
    }));
    let inputs = ClusterInputs {
        referenced: Some(BTreeMap::from([("shop-amqp".to_owned(), None)])),
        ..ClusterInputs::default()
    };
    let error = build::validate(&p, &inputs, &mut CountingSecrets::default()).unwrap_err();
    assert_eq!(
        error.to_string(),
        "spec.events.rabbitmq.secretRef names Secret `shop-amqp`, which does not exist in this \
         namespace; create it or fix the name"
    );
}

#[test]
fn a_managed_broker_with_the_mesh_gets_mtls_and_only_its_two_callers() {
    let objects = render(&platform(json!({
        "version": "0.1.0",
        "events": {"bus": "RabbitMQ"},
        "mesh": {"istio": {"mtls": "STRICT"}},
    })));
    let policy = objects
        .iter()
        .find(|o| o.kind().kind() == "AuthorizationPolicy" && o.name() == "shop-rabbitmq")
        .unwrap()
        .to_json();
    let rule = &policy["spec"]["rules"][0];
    assert_eq!(
        rule["from"][0]["source"]["principals"],
        json!([
            "cluster.local/ns/shop/sa/shop-notifications",
            "cluster.local/ns/shop/sa/shop-orders"
        ])
    );
    assert_eq!(rule["to"][0]["operation"]["ports"], json!(["5672"]));
    for kind in ["DestinationRule", "PeerAuthentication"] {
        assert!(
            objects
                .iter()
                .any(|o| o.kind().kind() == kind && o.name() == "shop-rabbitmq"),
            "no {kind} shop-rabbitmq"
        );
    }
    let notifications = objects
        .iter()
        .find(|o| o.kind().kind() == "AuthorizationPolicy" && o.name() == "shop-notifications")
        .unwrap()
        .to_json();
    assert_eq!(
        notifications["spec"]["rules"][0]["from"][0]["source"]["principals"],
        json!(["cluster.local/ns/shop/sa/shop-gateway"])
    );
}
