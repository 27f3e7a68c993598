//! Every rendered Istio object against the Istio 1.30.3 CRD schemas (openAPIV3Schema of the
//! kind and version we write), plus a check for fields the schema does not know (Istio's
//! schemas do not forbid them, and the API server would prune them silently).
//!
//! The schemas are read from `../shared/schemas/istio/crds-1.30.3.yaml` relative to the
//! repository root, or from `$STOREFRONT_ISTIO_CRDS`; without them these tests skip and say so.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;
use serde_json::{Value, json};
use storefront_operator::build::secrets::CountingSecrets;
use storefront_operator::build::{DesiredObject, OwnedKind};
use storefront_operator::crd::EcommercePlatform;
use storefront_operator::render;

fn crds_path() -> PathBuf {
    std::env::var_os("STOREFRONT_ISTIO_CRDS").map_or_else(
        || {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../shared/schemas/istio/crds-1.30.3.yaml")
        },
        PathBuf::from,
    )
}

/// `(group/version, kind)` → openAPIV3Schema, or `None` (with a message) when absent.
fn istio_schemas() -> Option<BTreeMap<(String, String), Value>> {
    let path = crds_path();
    let Ok(text) = std::fs::read_to_string(&path) else {
        eprintln!(
            "SKIPPED: Istio CRD schemas not found at {}; set STOREFRONT_ISTIO_CRDS to crds-1.30.3.yaml",
            path.display()
        );
        return None;
    };
    let mut out = BTreeMap::new();
    for doc in serde_norway::Deserializer::from_str(&text) {
        let crd = Value::deserialize(doc).unwrap();
        if crd["kind"] != "CustomResourceDefinition" {
            continue;
        }
        let group = crd["spec"]["group"].as_str().unwrap().to_owned();
        let kind = crd["spec"]["names"]["kind"].as_str().unwrap().to_owned();
        for version in crd["spec"]["versions"].as_array().unwrap() {
            let v = version["name"].as_str().unwrap();
            out.insert(
                (format!("{group}/{v}"), kind.clone()),
                version["schema"]["openAPIV3Schema"].clone(),
            );
        }
    }
    Some(out)
}

/// Paths of fields not described by the schema (outside free-form objects).
fn unknown_fields(value: &Value, schema: &Value, path: &str, out: &mut Vec<String>) {
    if schema["x-kubernetes-preserve-unknown-fields"] == true {
        return;
    }
    match value {
        Value::Object(map) => {
            let props = schema["properties"].as_object();
            let additional = &schema["additionalProperties"];
            for (key, v) in map {
                let here = format!("{path}.{key}");
                match props.and_then(|p| p.get(key)) {
                    Some(s) => unknown_fields(v, s, &here, out),
                    None if additional.is_object() => unknown_fields(v, additional, &here, out),
                    None if path.is_empty()
                        && ["apiVersion", "kind", "metadata"].contains(&key.as_str()) => {}
                    None => out.push(here),
                }
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                unknown_fields(v, &schema["items"], &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

fn platform(spec: Value) -> EcommercePlatform {
    serde_json::from_value(json!({
        "apiVersion": "storefront.dev/v1alpha1",
        "kind": "EcommercePlatform",
        "metadata": {"name": "shop", "namespace": "shop"},
        "spec": spec,
    }))
    .unwrap()
}

/// Specs that together exercise every mesh object and option.
fn specs() -> Vec<EcommercePlatform> {
    let example = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../manifests/platform.yaml"),
    )
    .unwrap();
    vec![
        serde_norway::from_str(&example).unwrap(),
        platform(json!({
            "version": "0.1.0",
            "services": {
                "catalog": {"version": "0.2.0", "rollout": {"strategy": "Manual", "canaryWeight": 20}},
                "loadgen": {"enabled": true},
            },
            "mesh": {"istio": {
                "mtls": "PERMISSIVE",
                "ingress": {"hosts": ["shop.example.com", "www.example.com"], "tlsSecretName": "shop-tls"},
                "timeout": "30s",
                "faultInjection": {
                    "payments": {"delay": "2s", "delayPercent": 50.0, "abortHttpStatus": 503, "abortPercent": 10.0}
                },
            }},
            "tracing": {"jaeger": {"mode": "External", "endpoint": "http://collector.observability:4318"}},
            "events": {"bus": "RabbitMQ"},
        })),
    ]
}

fn mesh_objects() -> Vec<Value> {
    let mut out = Vec::new();
    for p in specs() {
        let objects = render::render_platform(&p, &mut CountingSecrets::default()).unwrap();
        out.extend(
            objects
                .iter()
                .filter(|o| o.kind().is_istio())
                .map(DesiredObject::to_json),
        );
    }
    // A rollout at 25%: canary subset, weighted route and the x-canary header route.
    use storefront_operator::build::traffic::{Canary, ServiceTraffic, Track, Traffic};
    let p = &specs()[0];
    let validated = storefront_operator::build::validate(
        p,
        &storefront_operator::build::ClusterInputs::offline(),
        &mut CountingSecrets::default(),
    )
    .unwrap();
    let track = |v: &str| Track {
        image: format!("ghcr.io/storefront-dev/storefront/catalog:{v}"),
        version: v.into(),
    };
    let traffic = Traffic(BTreeMap::from([(
        storefront_operator::build::Component::Catalog,
        ServiceTraffic {
            stable: Some(track("0.1.0")),
            canary: Some(Canary {
                track: track("0.2.0"),
                weight: Some(storefront_operator::crd::Percent::new(25).unwrap()),
                mirror: None,
                draining: false,
            }),
            stable_subset: true,
            stable_replicas: None,
        },
    )]));
    out.extend(
        storefront_operator::build::build_with(&validated, &traffic)
            .iter()
            .filter(|o| o.kind().is_istio())
            .map(DesiredObject::to_json),
    );
    // The mirror step of the gateway (an edge service: the ingress route too) and of the
    // catalog, each with `rollout.match` entries of every kind beside `x-canary: always`.
    let rollout = json!({
        "strategy": "Canary",
        "mirror": 20,
        "match": [
            {"headers": {"x-group": {"exact": "beta"}, "user-agent": {"regex": ".*Firefox.*"}}},
            {"headers": {"x-tenant": {"prefix": "acme-"}}},
            {"cookie": {"name": "canary", "value": "yes"}},
        ],
    });
    let p = platform(json!({
        "version": "0.1.0",
        "services": {
            "gateway": {"version": "0.2.0", "rollout": rollout},
            "catalog": {"version": "0.2.0", "rollout": rollout},
        },
        "mesh": {"istio": {"ingress": {"hosts": ["shop.example.com"]}}},
    }));
    let validated = storefront_operator::build::validate(
        &p,
        &storefront_operator::build::ClusterInputs::offline(),
        &mut CountingSecrets::default(),
    )
    .unwrap();
    let mirroring = || ServiceTraffic {
        stable: Some(track("0.1.0")),
        canary: Some(Canary {
            track: track("0.2.0"),
            weight: Some(storefront_operator::crd::Percent::ZERO),
            mirror: Some(storefront_operator::crd::Percent::new(20).unwrap()),
            draining: false,
        }),
        stable_subset: true,
        stable_replicas: None,
    };
    use storefront_operator::build::Component;
    let traffic = Traffic(BTreeMap::from([
        (Component::Gateway, mirroring()),
        (Component::Catalog, mirroring()),
    ]));
    out.extend(
        storefront_operator::build::build_with(&validated, &traffic)
            .iter()
            .filter(|o| o.kind().is_istio())
            .map(DesiredObject::to_json),
    );
    out
}

#[test]
fn every_mesh_object_is_valid_against_the_istio_crd_schema() {
    let Some(schemas) = istio_schemas() else {
        return;
    };
    let objects = mesh_objects();
    let mut kinds_seen = std::collections::BTreeSet::new();
    for object in &objects {
        let api_version = object["apiVersion"].as_str().unwrap().to_owned();
        let kind = object["kind"].as_str().unwrap().to_owned();
        let name = object["metadata"]["name"].as_str().unwrap();
        let schema = schemas
            .get(&(api_version.clone(), kind.clone()))
            .unwrap_or_else(|| panic!("no Istio schema for {api_version} {kind}"));
        let validator = jsonschema::validator_for(schema).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(object)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{kind} {name}: {errors:#?}");
        let mut unknown = Vec::new();
        unknown_fields(object, schema, "", &mut unknown);
        assert!(
            unknown.is_empty(),
            "{kind} {name}: fields the schema does not know: {unknown:?}"
        );
        kinds_seen.insert(kind);
    }
    let expected: std::collections::BTreeSet<String> = OwnedKind::ALL
        .iter()
        .filter(|k| k.is_istio())
        .map(|k| k.kind().to_owned())
        .collect();
    assert_eq!(
        kinds_seen, expected,
        "every Istio kind is rendered and checked"
    );
}

#[test]
fn the_owned_kinds_use_versions_istio_serves() {
    let Some(schemas) = istio_schemas() else {
        return;
    };
    for kind in OwnedKind::ALL.iter().filter(|k| k.is_istio()) {
        let (group, version, name, _) = kind.gvk();
        assert!(
            schemas.contains_key(&(format!("{group}/{version}"), name.to_owned())),
            "{group}/{version} {name} is not in the Istio CRDs"
        );
    }
}

#[test]
fn sidecar_less_workloads_get_no_istio_mutual() {
    for p in specs() {
        let objects = render::render_platform(&p, &mut CountingSecrets::default()).unwrap();
        // Jaeger is the workload without a sidecar.
        let jaeger_pods: Vec<_> = objects
            .iter()
            .filter_map(|o| match o {
                DesiredObject::Deployment(d) if o.name().ends_with("-jaeger") => Some(d),
                _ => None,
            })
            .collect();
        for d in &jaeger_pods {
            let annotations = d
                .spec
                .as_ref()
                .unwrap()
                .template
                .metadata
                .as_ref()
                .unwrap()
                .annotations
                .as_ref()
                .unwrap();
            assert_eq!(annotations["sidecar.istio.io/inject"], "false");
        }
        for o in objects
            .iter()
            .filter(|o| o.kind() == OwnedKind::DestinationRule)
        {
            let v = o.to_json();
            let host = v["spec"]["host"].as_str().unwrap();
            let mode = v["spec"]["trafficPolicy"]["tls"]["mode"].as_str().unwrap();
            if host.contains("-jaeger-") {
                assert_eq!(mode, "DISABLE", "{host}");
            }
        }
        let jaeger_pa = objects
            .iter()
            .find(|o| o.kind() == OwnedKind::PeerAuthentication && o.name() == "shop-jaeger");
        assert_eq!(jaeger_pa.is_some(), !jaeger_pods.is_empty());
        if let Some(pa) = jaeger_pa {
            assert_eq!(pa.to_json()["spec"]["mtls"]["mode"], "PERMISSIVE");
        }
    }
}

#[test]
fn the_check_catches_a_wrong_type_and_an_unknown_field() {
    let Some(schemas) = istio_schemas() else {
        return;
    };
    let schema = &schemas[&(
        "networking.istio.io/v1".to_owned(),
        "VirtualService".to_owned(),
    )];
    let broken = json!({
        "apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
        "metadata": {"name": "x"},
        "spec": {"hosts": ["a"], "http": [{"route": [{"destination": {"host": "a"}, "weight": "ten"}], "retrys": {}}]},
    });
    let validator = jsonschema::validator_for(schema).unwrap();
    assert!(!validator.is_valid(&broken));
    let mut unknown = Vec::new();
    unknown_fields(&broken, schema, "", &mut unknown);
    assert_eq!(unknown, [".spec.http[0].retrys"]);
}
