//! What the operator renders so the platform can be operated: scrape annotations, the
//! PodMonitor and the PrometheusRule of the alerts, the shutdown contract (env, preStop, grace period) and the gateway's trusted
//! proxies, each checked on the rendered objects.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::PodSpec;
use serde_json::{Value, json};
use storefront_operator::build::secrets::CountingSecrets;
use storefront_operator::build::{self, ClusterInputs, Component, DesiredObject};
use storefront_operator::crd::EcommercePlatform;
use storefront_operator::render;

fn platform(spec: Value) -> EcommercePlatform {
    serde_json::from_value(json!({
        "apiVersion": "storefront.dev/v1alpha1",
        "kind": "EcommercePlatform",
        "metadata": {"name": "shop", "namespace": "shop", "uid": "0b7c2a4e-1111-4222-8333-944445555666"},
        "spec": spec,
    }))
    .unwrap()
}

fn render(spec: Value) -> Vec<DesiredObject> {
    render::render_platform(&platform(spec), &mut CountingSecrets::default()).unwrap()
}

fn deployments(objects: &[DesiredObject]) -> Vec<&Deployment> {
    objects
        .iter()
        .filter_map(|o| match o {
            DesiredObject::Deployment(d) => Some(d),
            _ => None,
        })
        .collect()
}

fn service_deployments(objects: &[DesiredObject]) -> Vec<&Deployment> {
    let services: Vec<String> = Component::SERVICES
        .iter()
        .map(|c| format!("shop-{}", c.name()))
        .collect();
    deployments(objects)
        .into_iter()
        .filter(|d| services.contains(d.metadata.name.as_ref().unwrap()))
        .collect()
}

fn pod(d: &Deployment) -> &PodSpec {
    d.spec.as_ref().unwrap().template.spec.as_ref().unwrap()
}

fn pod_annotations(d: &Deployment) -> BTreeMap<String, String> {
    let template = &d.spec.as_ref().unwrap().template;
    template
        .metadata
        .as_ref()
        .unwrap()
        .annotations
        .clone()
        .unwrap_or_default()
}

fn config_map(objects: &[DesiredObject], name: &str) -> BTreeMap<String, String> {
    objects
        .iter()
        .find_map(|o| match o {
            DesiredObject::ConfigMap(c) if o.name() == name => c.data.clone(),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no ConfigMap {name}"))
}

fn pod_monitors(objects: &[DesiredObject]) -> Vec<Value> {
    objects
        .iter()
        .filter(|o| matches!(o, DesiredObject::PodMonitor(_)))
        .map(DesiredObject::to_json)
        .collect()
}

fn prometheus_rules(objects: &[DesiredObject]) -> Vec<Value> {
    objects
        .iter()
        .filter(|o| matches!(o, DesiredObject::PrometheusRule(_)))
        .map(DesiredObject::to_json)
        .collect()
}

/// A Prometheus Operator object of the platform: its kind and name, in the platform's
/// namespace, owned by the platform.
fn assert_monitoring_object(object: &Value, kind: &str, name: &str) {
    assert_eq!(object["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(object["kind"], kind);
    assert_eq!(object["metadata"]["name"], name);
    assert_eq!(object["metadata"]["namespace"], "shop");
    assert_eq!(
        object["metadata"]["ownerReferences"][0]["uid"],
        "0b7c2a4e-1111-4222-8333-944445555666"
    );
}

const ALL_SERVICES: &str = r#"{"loadgen": {"enabled": true}}"#;

fn all_services(mut spec: Value) -> Value {
    spec["services"] = serde_json::from_str(ALL_SERVICES).unwrap();
    spec
}

#[test]
fn every_service_pod_is_annotated_for_scraping_on_its_http_port() {
    let objects = render(all_services(json!({"version": "0.1.0"})));
    let services = service_deployments(&objects);
    assert_eq!(services.len(), Component::SERVICES.len());
    for d in services {
        let name = d.metadata.name.as_deref().unwrap();
        let container = &pod(d).containers[0];
        let http = container
            .ports
            .iter()
            .flatten()
            .find(|p| p.name.as_deref() == Some("http"))
            .unwrap_or_else(|| panic!("{name}: no http port"));
        let annotations = pod_annotations(d);
        assert_eq!(annotations["prometheus.io/scrape"], "true", "{name}");
        assert_eq!(
            annotations["prometheus.io/port"],
            http.container_port.to_string(),
            "{name}"
        );
        assert_eq!(annotations["prometheus.io/path"], "/metrics", "{name}");
        assert!(
            annotations.contains_key("storefront.dev/config-hash"),
            "{name}: the config hash stays"
        );
    }
}

#[test]
fn canary_pods_are_annotated_for_scraping_too() {
    let p = platform(json!({
        "version": "0.2.0",
        "mesh": {"istio": {}},
        "services": {"catalog": {"rollout": {"strategy": "Canary"}}},
    }));
    let validated = build::validate(
        &p,
        &ClusterInputs::offline(),
        &mut CountingSecrets::default(),
    )
    .unwrap();
    let mut traffic = build::Traffic::default();
    traffic.0.insert(
        Component::Catalog,
        build::traffic::ServiceTraffic {
            stable: Some(build::traffic::Track {
                image: "ghcr.io/storefront-dev/storefront/catalog:0.1.0".into(),
                version: "0.1.0".into(),
            }),
            canary: Some(build::traffic::Canary {
                track: build::traffic::Track {
                    image: "ghcr.io/storefront-dev/storefront/catalog:0.2.0".into(),
                    version: "0.2.0".into(),
                },
                weight: None,
                mirror: None,
                draining: false,
            }),
            stable_subset: true,
            stable_replicas: None,
        },
    );
    let objects = build::build_with(&validated, &traffic);
    let canary = deployments(&objects)
        .into_iter()
        .find(|d| d.metadata.name.as_deref() == Some("shop-catalog-canary"))
        .expect("a canary Deployment");
    assert_eq!(pod_annotations(canary)["prometheus.io/port"], "8080");
}

#[test]
fn no_pod_monitor_unless_asked_for() {
    assert!(pod_monitors(&render(json!({"version": "0.1.0"}))).is_empty());
    let off = json!({"version": "0.1.0", "observability": {"prometheus": {"monitors": false}}});
    assert!(pod_monitors(&render(off)).is_empty());
    let no_field = json!({"version": "0.1.0", "observability": {"prometheus": {}}});
    assert!(pod_monitors(&render(no_field)).is_empty());
}

#[test]
fn the_pod_monitor_selects_the_service_pods_on_their_metrics_port() {
    let spec = json!({"version": "0.1.0", "observability": {"prometheus": {"monitors": true}}});
    let monitors = pod_monitors(&render(spec));
    assert_eq!(monitors.len(), 1);
    let m = &monitors[0];
    assert_monitoring_object(m, "PodMonitor", "shop-services");
    assert_eq!(
        m["spec"]["podMetricsEndpoints"],
        json!([{"port": "http", "path": "/metrics"}])
    );
    let selector = &m["spec"]["selector"];
    assert_eq!(
        selector["matchLabels"]["app.kubernetes.io/instance"],
        "shop"
    );
    let components = &selector["matchExpressions"][0];
    assert_eq!(components["key"], "app.kubernetes.io/component");
    assert_eq!(components["operator"], "In");
    let selected: Vec<&str> = components["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(selected.contains(&"gateway") && selected.contains(&"web"));
    assert!(
        !selected.contains(&"postgres") && !selected.contains(&"redis"),
        "stores serve no /metrics: {selected:?}"
    );
    assert!(!selected.contains(&"loadgen"), "loadgen is off by default");
}

#[test]
fn no_prometheus_rule_unless_asked_for() {
    assert!(prometheus_rules(&render(json!({"version": "0.1.0"}))).is_empty());
    let off = json!({"version": "0.1.0", "observability": {"prometheus": {"monitors": false}}});
    assert!(prometheus_rules(&render(off)).is_empty());
}

#[test]
fn the_prometheus_rule_holds_the_groups_of_the_repositorys_rule_file() {
    let spec = json!({"version": "0.1.0", "observability": {"prometheus": {"monitors": true}}});
    let rules = prometheus_rules(&render(spec));
    assert_eq!(rules.len(), 1);
    let r = &rules[0];
    assert_monitoring_object(r, "PrometheusRule", "shop-alerts");
    let file: Value = serde_norway::from_str(include_str!(
        "../../observability/alerts/storefront.rules.yaml"
    ))
    .unwrap();
    assert_eq!(r["spec"]["groups"], file["groups"]);
    assert_eq!(
        r["spec"].as_object().unwrap().len(),
        1,
        "nothing but the groups"
    );
}

fn network_policy(objects: &[DesiredObject], name: &str) -> Option<Value> {
    objects
        .iter()
        .find(|o| matches!(o, DesiredObject::NetworkPolicy(_)) && o.name() == name)
        .map(DesiredObject::to_json)
}

#[test]
fn without_the_mesh_the_pod_monitors_prometheus_may_reach_the_http_port() {
    let spec = json!({"version": "0.1.0", "observability": {"prometheus": {"monitors": true}}});
    let policy = network_policy(&render(spec), "shop-metrics").expect("a metrics policy");
    let rule = &policy["spec"]["ingress"][0];
    assert_eq!(rule["ports"], json!([{"port": 8080, "protocol": "TCP"}]));
    assert_eq!(
        rule["from"][0]["podSelector"]["matchLabels"],
        json!({"app.kubernetes.io/name": "prometheus", "app.kubernetes.io/managed-by": "prometheus-operator"})
    );
    assert_eq!(rule["from"][0]["namespaceSelector"], json!({}));
    assert_eq!(policy["spec"]["policyTypes"], json!(["Ingress"]));
    assert!(network_policy(&render(json!({"version": "0.1.0"})), "shop-metrics").is_none());
    let mesh = json!({
        "version": "0.1.0",
        "mesh": {"istio": {}},
        "observability": {"prometheus": {"monitors": true}},
    });
    assert!(
        network_policy(&render(mesh), "shop-metrics").is_none(),
        "with the mesh the sidecar's metrics port is open already"
    );
}

#[test]
fn with_the_mesh_the_pod_monitor_scrapes_the_istio_agents_merged_metrics() {
    let spec = json!({
        "version": "0.1.0",
        "mesh": {"istio": {"mtls": "STRICT"}},
        "observability": {"prometheus": {"monitors": true}},
    });
    let monitors = pod_monitors(&render(spec));
    let endpoint = &monitors[0]["spec"]["podMetricsEndpoints"][0];
    assert_eq!(
        endpoint["port"], "http-envoy-prom",
        "one target per pod, the sidecar's"
    );
    assert_eq!(endpoint["path"], "/stats/prometheus");
    let rewrite = &endpoint["relabelings"][0];
    assert_eq!(rewrite["targetLabel"], "__address__");
    assert_eq!(rewrite["sourceLabels"], json!(["__address__"]));
    // Prometheus regexes are anchored; both address forms keep their host.
    let regex = rewrite["regex"].as_str().unwrap();
    let replacement = rewrite["replacement"].as_str().unwrap();
    for (address, expected) in [
        ("10.244.1.7:15090", "10.244.1.7:15020"),
        ("[fd00::7]:15090", "[fd00::7]:15020"),
    ] {
        assert_eq!(rewritten(regex, replacement, address), expected);
    }
}

/// `replacement` applied to `address` as Prometheus does for `(.+):[0-9]+` (greedy host).
fn rewritten(regex: &str, replacement: &str, address: &str) -> String {
    assert_eq!(regex, "(.+):[0-9]+", "this helper knows one regex");
    let (host, port) = address.rsplit_once(':').unwrap();
    assert!(port.chars().all(|c| c.is_ascii_digit()));
    replacement.replace("${1}", host)
}

#[test]
fn service_containers_drain_within_a_grace_period_computed_from_the_phases() {
    use storefront_operator::build::shutdown;
    let objects = render(all_services(json!({"version": "0.1.0"})));
    for d in service_deployments(&objects) {
        let name = d.metadata.name.as_deref().unwrap();
        let pod = pod(d);
        assert_eq!(
            pod.termination_grace_period_seconds,
            Some(shutdown::GRACE_PERIOD_SECONDS),
            "{name}"
        );
        let sleep = pod.containers[0]
            .lifecycle
            .as_ref()
            .and_then(|l| l.pre_stop.as_ref())
            .and_then(|h| h.sleep.as_ref())
            .unwrap_or_else(|| panic!("{name}: no preStop sleep"));
        assert_eq!(sleep.seconds, 5, "{name}");
        assert!(
            pod.containers[0]
                .lifecycle
                .as_ref()
                .and_then(|l| l.pre_stop.as_ref())
                .is_some_and(|h| h.exec.is_none()),
            "{name}: the images have no shell or sleep binary"
        );
        let env = config_map(&objects, name);
        assert_eq!(env["SHUTDOWN_DELAY_SECONDS"], "0", "{name}");
        assert_eq!(env["SHUTDOWN_DRAIN_SECONDS"], "35", "{name}");
        let delay: i64 = env["SHUTDOWN_DELAY_SECONDS"].parse().unwrap();
        let drain: i64 = env["SHUTDOWN_DRAIN_SECONDS"].parse().unwrap();
        assert!(
            sleep.seconds + delay + drain < pod.termination_grace_period_seconds.unwrap(),
            "{name}: the kubelet would kill a drain still within its bound"
        );
    }
    assert_eq!(shutdown::GRACE_PERIOD_SECONDS, 45);
}

#[test]
fn the_shutdown_variables_are_the_operators() {
    for name in ["SHUTDOWN_DELAY_SECONDS", "SHUTDOWN_DRAIN_SECONDS"] {
        let spec = json!({"version": "0.1.0", "services": {"cart": {"env": {name: "60"}}}});
        let error = build::validate(
            &platform(spec),
            &ClusterInputs::offline(),
            &mut CountingSecrets::default(),
        )
        .unwrap_err();
        assert!(
            error
                .to_string()
                .contains("the operator sets this variable"),
            "{error}"
        );
    }
}

fn gateway_env(spec: Value) -> BTreeMap<String, String> {
    config_map(&render(spec), "shop-gateway")
}

#[test]
fn without_istio_ingress_or_the_field_the_gateway_trusts_no_proxy() {
    assert!(!gateway_env(json!({"version": "0.1.0"})).contains_key("GATEWAY_TRUSTED_PROXIES"));
    let mesh_without_ingress = json!({"version": "0.1.0", "mesh": {"istio": {}}});
    assert!(!gateway_env(mesh_without_ingress).contains_key("GATEWAY_TRUSTED_PROXIES"));
    let empty = json!({"version": "0.1.0", "gateway": {"trustedProxies": []}});
    assert!(!gateway_env(empty).contains_key("GATEWAY_TRUSTED_PROXIES"));
}

#[test]
fn the_listed_proxies_reach_the_gateway_only() {
    let objects = render(json!({
        "version": "0.1.0",
        "gateway": {"trustedProxies": ["10.244.0.0/16", "fd00:10:244::/56"]},
    }));
    assert_eq!(
        config_map(&objects, "shop-gateway")["GATEWAY_TRUSTED_PROXIES"],
        "10.244.0.0/16,fd00:10:244::/56"
    );
    assert!(!config_map(&objects, "shop-web").contains_key("GATEWAY_TRUSTED_PROXIES"));
}

#[test]
fn behind_the_istio_ingress_the_gateway_trusts_its_sidecar_and_the_pod_network() {
    let ingress = json!({"istio": {"ingress": {"hosts": ["shop.example.com"]}}});
    let sidecar_only = gateway_env(json!({"version": "0.1.0", "mesh": ingress}));
    assert_eq!(
        sidecar_only["GATEWAY_TRUSTED_PROXIES"],
        "127.0.0.6/32,::6/128"
    );
    let with_pods = gateway_env(json!({
        "version": "0.1.0",
        "mesh": ingress,
        "gateway": {"trustedProxies": ["10.244.0.0/16"]},
    }));
    assert_eq!(
        with_pods["GATEWAY_TRUSTED_PROXIES"],
        "127.0.0.6/32,::6/128,10.244.0.0/16"
    );
}

#[test]
fn an_invalid_trusted_proxy_is_a_validation_error_naming_the_entry() {
    let cases = [
        (
            "10.244.0.0",
            "spec.gateway.trustedProxies[0] `10.244.0.0`: has no /prefix",
        ),
        (
            "10.244.1.0/16",
            "has host bits set; the network is 10.244.0.0/16",
        ),
        ("10.0.0.0/40", "prefix `40` is not a number from 0 to 32"),
        ("pods/16", "`pods` is not an IPv4 or IPv6 address"),
    ];
    for (value, expected) in cases {
        let spec = json!({"version": "0.1.0", "gateway": {"trustedProxies": [value]}});
        let error = build::validate(
            &platform(spec),
            &ClusterInputs::offline(),
            &mut CountingSecrets::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains(expected), "{value}: {error}");
    }
}

#[test]
fn the_removed_trust_forwarded_switch_is_refused_with_its_replacement() {
    let spec = json!({
        "version": "0.1.0",
        "services": {"gateway": {"env": {"GATEWAY_TRUST_FORWARDED": "true"}}},
    });
    let error = build::validate(
        &platform(spec),
        &ClusterInputs::offline(),
        &mut CountingSecrets::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(error.contains("spec.gateway.trustedProxies"), "{error}");
}

fn dashboard_maps(objects: &[DesiredObject]) -> Vec<Value> {
    objects
        .iter()
        .filter(|o| matches!(o, DesiredObject::ConfigMap(_)) && o.name().contains("-dashboard-"))
        .map(DesiredObject::to_json)
        .collect()
}

#[test]
fn no_dashboards_unless_asked_for() {
    assert!(dashboard_maps(&render(json!({"version": "0.1.0"}))).is_empty());
    let off = json!({"version": "0.1.0", "observability": {"grafana": {"dashboards": false}}});
    assert!(dashboard_maps(&render(off)).is_empty());
}

#[test]
fn the_dashboards_are_config_maps_the_grafana_sidecar_loads() {
    let spec = json!({"version": "0.1.0", "observability": {"grafana": {"dashboards": true}}});
    let maps = dashboard_maps(&render(spec));
    let names: Vec<&str> = maps
        .iter()
        .map(|m| m["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "shop-dashboard-canary",
            "shop-dashboard-operator",
            "shop-dashboard-shop-overview"
        ]
    );
    for map in &maps {
        assert_eq!(map["metadata"]["labels"]["grafana_dashboard"], "1", "{map}");
        assert_eq!(map["metadata"]["namespace"], "shop");
        assert_eq!(
            map["metadata"]["ownerReferences"][0]["kind"],
            "EcommercePlatform"
        );
        let data = map["data"].as_object().unwrap();
        assert_eq!(data.len(), 1, "{map}");
        let (key, json) = data.iter().next().unwrap();
        assert!(
            key.starts_with("storefront-") && key.ends_with(".json"),
            "{key}"
        );
        let dashboard: Value = serde_json::from_str(json.as_str().unwrap()).unwrap();
        assert!(
            dashboard["panels"]
                .as_array()
                .is_some_and(|p| !p.is_empty())
        );
    }
}

#[test]
fn with_the_mesh_the_sidecar_outlives_the_drain() {
    let meshed = render(json!({"version": "0.1.0", "mesh": {"istio": {"mtls": "STRICT"}}}));
    let plain = render(json!({"version": "0.1.0"}));
    let deployments = service_deployments(&meshed);
    assert!(!deployments.is_empty());
    for d in deployments {
        let drain = pod_annotations(d)["proxy.istio.io/config"].clone();
        assert_eq!(
            drain, "terminationDrainDuration: 40s",
            "{:?}",
            d.metadata.name
        );
        let grace = pod(d).termination_grace_period_seconds.unwrap();
        assert!(40 < grace, "Envoy must not outlive the pod's grace period");
    }
    for d in service_deployments(&plain) {
        assert!(!pod_annotations(d).contains_key("proxy.istio.io/config"));
    }
}
