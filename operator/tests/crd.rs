//! The checked-in CRD matches the code, and its CEL rules say what they promise.

use kube::core::cel::validate_cel;
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
