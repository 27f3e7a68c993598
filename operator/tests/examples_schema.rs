//! Every example in `manifests/` is valid against our own CRD: the checked-in openAPIV3Schema
//! (types, enums, ranges, patterns), its CEL rules, and no field the schema does not know (the
//! API server would silently prune those, so a typo would go unnoticed).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::path::PathBuf;

use serde::Deserialize;
use serde_json::Value;
use storefront_operator::crd::EcommercePlatform;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn crd_schema() -> Value {
    let text = std::fs::read_to_string(root().join("crds/storefront.dev_ecommerceplatforms.yaml"))
        .unwrap();
    let crd: Value = serde_norway::from_str(&text).unwrap();
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone()
}

fn example_platforms() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(root().join("manifests"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for file in files
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
    {
        let text = std::fs::read_to_string(&file).unwrap();
        for doc in serde_norway::Deserializer::from_str(&text) {
            let value = Value::deserialize(doc).unwrap();
            if value["kind"] == "EcommercePlatform" {
                out.push((file.display().to_string(), value));
            }
        }
    }
    out
}

/// Paths present in `original` but absent from `known` (the typed round trip).
fn unknown_fields(original: &Value, known: &Value, path: &str, out: &mut Vec<String>) {
    match (original, known) {
        (Value::Object(o), Value::Object(k)) => {
            for (key, value) in o {
                let here = format!("{path}.{key}");
                match k.get(key) {
                    Some(kv) => unknown_fields(value, kv, &here, out),
                    None => out.push(here),
                }
            }
        }
        (Value::Array(o), Value::Array(k)) => {
            for (i, (ov, kv)) in o.iter().zip(k).enumerate() {
                unknown_fields(ov, kv, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn every_example_validates_against_the_crd_schema() {
    let validator = jsonschema::validator_for(&crd_schema()).unwrap();
    let examples = example_platforms();
    assert!(examples.len() >= 3);
    for (file, value) in examples {
        let errors: Vec<String> = validator
            .iter_errors(&value)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{file}: {errors:#?}");
    }
}

#[test]
fn every_example_passes_the_cel_rules() {
    for (file, value) in example_platforms() {
        let platform: EcommercePlatform = serde_json::from_value(value).unwrap();
        if let Err(errors) = kube::core::cel::validate_cel(&platform) {
            panic!("{file}: {errors:?}");
        }
    }
}

#[test]
fn examples_use_no_field_the_schema_does_not_know() {
    for (file, value) in example_platforms() {
        let platform: EcommercePlatform = serde_json::from_value(value.clone()).unwrap();
        let known = serde_json::to_value(&platform).unwrap();
        let mut unknown = Vec::new();
        unknown_fields(&value["spec"], &known["spec"], "spec", &mut unknown);
        assert!(unknown.is_empty(), "{file}: unknown fields {unknown:?}");
    }
}

#[test]
fn an_ingress_without_hosts_is_refused_by_the_schema() {
    let validator = jsonschema::validator_for(&crd_schema()).unwrap();
    let with_ingress = |ingress: Value| {
        serde_json::json!({
            "apiVersion": "storefront.dev/v1alpha1", "kind": "EcommercePlatform",
            "metadata": {"name": "x"},
            "spec": {"version": "0.1.0", "mesh": {"istio": {"ingress": ingress}}},
        })
    };
    for ingress in [serde_json::json!({}), serde_json::json!({"hosts": []})] {
        let errors: Vec<String> = validator
            .iter_errors(&with_ingress(ingress.clone()))
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert_eq!(errors.len(), 1, "{ingress}: {errors:?}");
        assert!(
            errors[0].contains("hosts") || errors[0].contains("/ingress/hosts"),
            "{errors:?}"
        );
    }
    let one = with_ingress(serde_json::json!({"hosts": ["shop.example.com"]}));
    assert!(validator.is_valid(&one));
}

#[test]
fn the_schema_check_catches_a_bad_example() {
    let validator = jsonschema::validator_for(&crd_schema()).unwrap();
    let bad = serde_json::json!({
        "apiVersion": "storefront.dev/v1alpha1", "kind": "EcommercePlatform",
        "metadata": {"name": "x"},
        "spec": {"version": "0.1.0", "database": {"mode": "Sometimes"}, "services": {"web": {"replicas": 1000}}},
    });
    let errors: Vec<String> = validator.iter_errors(&bad).map(|e| e.to_string()).collect();
    assert_eq!(errors.len(), 2, "{errors:?}");
}
