//! The checked-in CRD matches the code, and its CEL rules say what they promise.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use kube::core::cel::{validate_cel, validate_cel_update};
use storefront_operator::crd::{EcommercePlatform, crd_yaml};

const CRD_FILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../crds/storefront.dev_ecommerceplatforms.yaml"
);

#[test]
fn checked_in_crd_matches_the_code() {
    let generated = crd_yaml().unwrap();
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(CRD_FILE, &generated).unwrap();
    }
    let on_disk = std::fs::read_to_string(CRD_FILE).unwrap_or_default();
    assert!(
        on_disk == generated,
        "crds/storefront.dev_ecommerceplatforms.yaml is stale; regenerate it with \
         `cargo run -p storefront-operator -- crd > crds/storefront.dev_ecommerceplatforms.yaml` \
         (or UPDATE_SNAPSHOTS=1 cargo test -p storefront-operator --test crd)"
    );
}

fn platform(spec: serde_json::Value) -> EcommercePlatform {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "storefront.dev/v1alpha1",
        "kind": "EcommercePlatform",
        "metadata": {"name": "shop", "namespace": "shop"},
        "spec": spec,
    }))
    .unwrap()
}

fn cel_errors(spec: serde_json::Value) -> String {
    match validate_cel(&platform(spec)) {
        Ok(()) => String::new(),
        Err(errors) => format!("{errors:?}"),
    }
}

#[test]
fn a_spec_with_only_a_version_passes_every_rule() {
    assert_eq!(cel_errors(serde_json::json!({"version": "0.1.0"})), "");
}

#[test]
fn external_database_without_secret_ref_is_rejected() {
    let errors =
        cel_errors(serde_json::json!({"version": "0.1.0", "database": {"mode": "External"}}));
    assert!(
        errors.contains("database.secretRef is required"),
        "{errors}"
    );
}

#[test]
fn canary_steps_must_be_strictly_increasing_and_within_1_to_99() {
    let spec = |steps: serde_json::Value| serde_json::json!({"version": "0.1.0", "services": {"catalog": {"rollout": {"strategy": "Canary", "steps": steps}}}});
    assert_eq!(cel_errors(spec(serde_json::json!([10, 25, 50]))), "");
    assert!(cel_errors(spec(serde_json::json!([10, 10, 50]))).contains("strictly increasing"));
    assert!(cel_errors(spec(serde_json::json!([50, 25]))).contains("strictly increasing"));
    assert!(cel_errors(spec(serde_json::json!([0, 25]))).contains("between 1 and 99"));
    assert!(cel_errors(spec(serde_json::json!([25, 100]))).contains("between 1 and 99"));
}

fn cel_update_errors(old: serde_json::Value, new: serde_json::Value) -> String {
    match validate_cel_update(&platform(new), &platform(old)) {
        Ok(()) => String::new(),
        Err(errors) => format!("{errors:?}"),
    }
}

#[test]
fn the_database_storage_class_cannot_change_in_place() {
    let spec = |db: serde_json::Value| serde_json::json!({"version": "0.1.0", "database": db});
    let fast = spec(serde_json::json!({"storageClassName": "fast"}));
    let errors = cel_update_errors(
        fast.clone(),
        spec(serde_json::json!({"storageClassName": "slow"})),
    );
    assert!(
        errors.contains("storageClassName cannot change"),
        "{errors}"
    );
    let errors = cel_update_errors(spec(serde_json::json!({})), fast.clone());
    assert!(
        errors.contains("storageClassName cannot change"),
        "set later: {errors}"
    );
    assert_eq!(
        cel_update_errors(
            fast.clone(),
            spec(serde_json::json!({"storageClassName": "fast", "storage": "5Gi"}))
        ),
        ""
    );
    // A new platform may name any class.
    assert_eq!(cel_errors(fast), "");
}

#[test]
fn store_modes_cannot_switch_on_an_existing_platform() {
    let external = serde_json::json!({"mode": "External", "secretRef": {"name": "db"}});
    let errors = cel_update_errors(
        serde_json::json!({"version": "0.1.0"}),
        serde_json::json!({"version": "0.1.0", "database": external, "cache": external}),
    );
    assert!(errors.contains("database.mode cannot change"), "{errors}");
    assert!(errors.contains("cache.mode cannot change"), "{errors}");
    assert_eq!(
        cel_update_errors(
            serde_json::json!({"version": "0.1.0"}),
            serde_json::json!({"version": "0.2.0", "database": {"storage": "2Gi"}}),
        ),
        ""
    );
}

#[test]
fn a_progress_deadline_under_a_second_is_rejected() {
    let spec = |deadline: &str| serde_json::json!({"version": "0.1.0", "services": {"cart": {"rollout": {"progressDeadline": deadline}}}});
    for short in ["500ms", "0s", "999ms"] {
        assert!(
            cel_errors(spec(short)).contains("progressDeadline must be 1s or more"),
            "{short}"
        );
    }
    for fine in ["1000ms", "1s", "10m"] {
        assert_eq!(cel_errors(spec(fine)), "", "{fine}");
    }
}

#[test]
fn min_replicas_above_max_replicas_is_rejected() {
    let errors = cel_errors(
        serde_json::json!({"version": "0.1.0", "services": {"gateway": {"autoscaling": {"minReplicas": 5, "maxReplicas": 2}}}}),
    );
    assert!(errors.contains("minReplicas must not exceed"), "{errors}");
}

#[test]
fn replicas_and_autoscaling_together_are_rejected() {
    let errors = cel_errors(
        serde_json::json!({"version": "0.1.0", "services": {"gateway": {"replicas": 2, "autoscaling": {"maxReplicas": 4}}}}),
    );
    assert!(
        errors.contains("either replicas or autoscaling"),
        "{errors}"
    );
}

#[test]
fn manual_rollout_needs_a_canary_weight() {
    let errors = cel_errors(
        serde_json::json!({"version": "0.1.0", "services": {"web": {"rollout": {"strategy": "Manual"}}}}),
    );
    assert!(errors.contains("canaryWeight is required"), "{errors}");
}

fn undocumented(schema: &serde_json::Value, path: &str, out: &mut Vec<String>) {
    if let Some(props) = schema.get("properties").and_then(|p| p.as_object()) {
        for (name, prop) in props {
            let here = format!("{path}.{name}");
            if prop.get("description").is_none()
                && !["apiVersion", "kind", "metadata"].contains(&name.as_str())
            {
                out.push(here.clone());
            }
            undocumented(prop, &here, out);
        }
    }
    for key in ["items", "additionalProperties"] {
        if let Some(inner) = schema.get(key).filter(|v| v.is_object()) {
            undocumented(inner, &format!("{path}[]"), out);
        }
    }
}

#[test]
fn every_field_has_a_description_for_kubectl_explain() {
    let crd = serde_json::to_value(<EcommercePlatform as kube::CustomResourceExt>::crd()).unwrap();
    let schema = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
    let mut missing = Vec::new();
    undocumented(schema, "", &mut missing);
    assert!(
        missing.is_empty(),
        "fields without a description: {missing:#?}"
    );
}

#[test]
fn an_external_broker_without_secret_ref_is_rejected() {
    let events = |rabbitmq: serde_json::Value| serde_json::json!({"version": "0.1.0", "events": {"bus": "RabbitMQ", "rabbitmq": rabbitmq}});
    let errors = cel_errors(events(serde_json::json!({"mode": "External"})));
    assert!(
        errors.contains("events.rabbitmq.secretRef is required"),
        "{errors}"
    );
    let named = events(serde_json::json!({"mode": "External", "secretRef": {"name": "amqp"}}));
    assert_eq!(cel_errors(named), "");
    assert_eq!(
        cel_errors(serde_json::json!({"version": "0.1.0", "events": {"bus": "RabbitMQ"}})),
        ""
    );
}

#[test]
fn the_broker_mode_and_storage_class_cannot_change_in_place() {
    let events = |rabbitmq: serde_json::Value| serde_json::json!({"version": "0.1.0", "events": {"bus": "RabbitMQ", "rabbitmq": rabbitmq}});
    let managed = events(serde_json::json!({"mode": "Managed", "storageClassName": "fast"}));
    let external = events(serde_json::json!({"mode": "External", "secretRef": {"name": "amqp"}}));
    let errors = cel_update_errors(managed.clone(), external);
    assert!(
        errors.contains("events.rabbitmq.mode cannot change"),
        "{errors}"
    );
    let slow = events(serde_json::json!({"mode": "Managed", "storageClassName": "slow"}));
    let errors = cel_update_errors(managed.clone(), slow);
    assert!(
        errors.contains("events.rabbitmq.storageClassName cannot change"),
        "{errors}"
    );
    assert_eq!(cel_update_errors(managed.clone(), managed), "");
}
