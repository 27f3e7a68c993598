//! NetworkPolicies: default deny for every pod of the platform, then allow rules per tier.
//!
//! Tiers: edge (gateway, web) ← anywhere; application ← edge and application; data (postgres,
//! redis) ← edge and application on their store ports; RabbitMQ (data tier) ← orders and
//! notifications only, on AMQP; client (loadgen) → edge only; with a PodMonitor and no mesh,
//! services ← the Prometheus Operator's Prometheus pods on http. Every pod may resolve DNS. Invariant: a connection the services need is allowed in both directions
//! (egress of the caller and ingress of the callee), because default deny covers both.

use k8s_openapi::api::networking::v1::{
    NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer,
    NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use std::collections::BTreeMap;

use super::component::{Component, Tier};
use super::env::{AMQP_PORT, HTTP_PORT, POSTGRES_PORT, REDIS_PORT};
use super::labels::Ownership;
use super::object::DesiredObject;
use super::validate::{CachePlan, DatabasePlan, EventsPlan, RabbitMqPlan, ValidatedPlatform};

use super::tracing::{OTLP_GRPC_PORT, OTLP_HTTP_PORT, QUERY_PORT};

/// istiod's xDS port, which every sidecar must reach.
const ISTIOD_XDS_PORT: i32 = 15012;
/// Sidecar ports Prometheus scrapes (merged metrics, Envoy stats).
const SIDECAR_METRICS_PORTS: [i32; 2] = [15020, 15090];
/// Labels the Prometheus Operator puts on the Prometheus pods it runs.
const PROMETHEUS_POD_LABELS: [(&str, &str); 2] = [
    ("app.kubernetes.io/name", "prometheus"),
    ("app.kubernetes.io/managed-by", "prometheus-operator"),
];

/// Every NetworkPolicy of the platform.
pub fn build(platform: &ValidatedPlatform) -> Vec<DesiredObject> {
    let o = &platform.ownership;
    let tier = |t: Tier| peer(o.tier_selector(t));
    let http = || vec![tcp(HTTP_PORT)];
    let store_ports = || vec![tcp(POSTGRES_PORT), tcp(REDIS_PORT)];

    // Stores outside the cluster have unknown addresses: allow their ports to anywhere.
    let mut external_ports = Vec::new();
    if matches!(platform.database, DatabasePlan::External { .. }) {
        external_ports.push(tcp(POSTGRES_PORT));
    }
    if matches!(platform.cache, CachePlan::External { .. }) {
        external_ports.push(tcp(REDIS_PORT));
    }
    // Services export OTLP/HTTP, sidecars OTLP/gRPC; the collector may be anywhere (External).
    if platform.tracing.is_some() {
        external_ports.push(tcp(OTLP_GRPC_PORT));
        external_ports.push(tcp(OTLP_HTTP_PORT));
    }
    let external = (!external_ports.is_empty()).then_some(NetworkPolicyEgressRule {
        ports: Some(external_ports),
        to: None,
    });

    let mut out = vec![
        policy(o, "default-deny", o.instance_selector(), None, Some(vec![])),
        policy(
            o,
            "allow-dns",
            o.instance_selector(),
            None,
            Some(vec![NetworkPolicyEgressRule {
                to: Some(vec![NetworkPolicyPeer {
                    namespace_selector: Some(LabelSelector::default()),
                    pod_selector: Some(LabelSelector {
                        match_labels: Some(BTreeMap::from([(
                            "k8s-app".to_owned(),
                            "kube-dns".to_owned(),
                        )])),
                        ..LabelSelector::default()
                    }),
                    ..NetworkPolicyPeer::default()
                }]),
                ports: Some(vec![udp(53), tcp(53)]),
            }]),
        ),
    ];

    let mut edge_egress = vec![
        egress(vec![tier(Tier::Application), tier(Tier::Edge)], http()),
        egress(vec![tier(Tier::Data)], vec![tcp(REDIS_PORT)]),
    ];
    edge_egress.extend(external.clone());
    out.push(policy(
        o,
        "edge",
        o.tier_selector(Tier::Edge),
        Some(vec![NetworkPolicyIngressRule {
            from: None,
            ports: Some(http()),
        }]),
        Some(edge_egress),
    ));

    let mut app_egress = vec![
        egress(vec![tier(Tier::Application)], http()),
        egress(vec![tier(Tier::Data)], store_ports()),
    ];
    app_egress.extend(external);
    out.push(policy(
        o,
        "application",
        o.tier_selector(Tier::Application),
        Some(vec![ingress(
            vec![tier(Tier::Edge), tier(Tier::Application)],
            http(),
        )]),
        Some(app_egress),
    ));

    out.push(policy(
        o,
        "data",
        o.tier_selector(Tier::Data),
        Some(vec![ingress(
            vec![tier(Tier::Edge), tier(Tier::Application)],
            store_ports(),
        )]),
        Some(vec![]),
    ));

    out.extend(event_bus(platform));

    if platform.runs(Component::Loadgen) {
        out.push(policy(
            o,
            "client",
            o.tier_selector(Tier::Client),
            Some(vec![]),
            Some(vec![egress(vec![tier(Tier::Edge)], http())]),
        ));
    }
    if let Some(t) = &platform.tracing
        && matches!(t.jaeger, super::validate::JaegerPlan::Managed { .. })
    {
        out.push(policy(
            o,
            "jaeger",
            o.selector(Component::Jaeger),
            Some(vec![NetworkPolicyIngressRule {
                from: None,
                ports: Some(vec![
                    tcp(OTLP_GRPC_PORT),
                    tcp(OTLP_HTTP_PORT),
                    tcp(QUERY_PORT),
                ]),
            }]),
            Some(vec![]),
        ));
    }
    if platform.monitors && platform.mesh.is_none() && !platform.services.is_empty() {
        // The PodMonitor's scrapes of the http port: the tiers above admit only the platform's
        // own pods to most services. (With the mesh, Prometheus scrapes the sidecars' port.)
        let services: Vec<Component> = platform.services.iter().map(|s| s.component).collect();
        let prometheus = NetworkPolicyPeer {
            namespace_selector: Some(LabelSelector::default()),
            pod_selector: Some(LabelSelector {
                match_labels: Some(
                    PROMETHEUS_POD_LABELS
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                        .collect(),
                ),
                ..LabelSelector::default()
            }),
            ..NetworkPolicyPeer::default()
        };
        out.push(policy(
            o,
            "metrics",
            o.components_selector(&services),
            Some(vec![ingress(vec![prometheus], http())]),
            None,
        ));
    }
    if platform.mesh.is_some() {
        // Sidecars need istiod (in another namespace) and are scraped by Prometheus.
        out.push(policy(
            o,
            "istio",
            o.instance_selector(),
            Some(vec![NetworkPolicyIngressRule {
                from: None,
                ports: Some(SIDECAR_METRICS_PORTS.iter().map(|&p| tcp(p)).collect()),
            }]),
            Some(vec![NetworkPolicyEgressRule {
                to: Some(vec![NetworkPolicyPeer {
                    namespace_selector: Some(LabelSelector::default()),
                    ..NetworkPolicyPeer::default()
                }]),
                ports: Some(vec![tcp(ISTIOD_XDS_PORT)]),
            }]),
        ));
    }
    out.into_iter().map(DesiredObject::NetworkPolicy).collect()
}

/// With the RabbitMQ bus: the publisher and the consumer reach the broker on AMQP (anywhere when
/// External, its address is unknown), and a Managed broker accepts nobody else. The data tier's
/// own policy opens only the PostgreSQL and Redis ports, so it adds nothing to the broker.
fn event_bus(platform: &ValidatedPlatform) -> Vec<NetworkPolicy> {
    let EventsPlan::RabbitMq(rabbitmq) = &platform.events else {
        return Vec::new();
    };
    let o = &platform.ownership;
    let on_bus = o.components_selector(&Component::ON_EVENT_BUS);
    let broker = match rabbitmq {
        RabbitMqPlan::Managed { .. } => Some(vec![peer(o.selector(Component::RabbitMq))]),
        RabbitMqPlan::External { .. } => None,
    };
    let mut out = vec![policy(
        o,
        "event-bus",
        on_bus.clone(),
        None,
        Some(vec![NetworkPolicyEgressRule {
            to: broker.clone(),
            ports: Some(vec![tcp(AMQP_PORT)]),
        }]),
    )];
    if broker.is_some() {
        out.push(policy(
            o,
            "rabbitmq",
            o.selector(Component::RabbitMq),
            Some(vec![ingress(vec![peer(on_bus)], vec![tcp(AMQP_PORT)])]),
            Some(vec![]),
        ));
    }
    out
}

/// A policy over `pods`; `None` leaves that direction out of policyTypes, `Some(vec![])` denies.
fn policy(
    o: &Ownership,
    suffix: &str,
    pods: LabelSelector,
    ingress: Option<Vec<NetworkPolicyIngressRule>>,
    egress: Option<Vec<NetworkPolicyEgressRule>>,
) -> NetworkPolicy {
    let mut types = Vec::new();
    if ingress.is_some() || suffix == "default-deny" {
        types.push("Ingress".to_owned());
    }
    if egress.is_some() {
        types.push("Egress".to_owned());
    }
    NetworkPolicy {
        metadata: o.platform_meta(o.object_name(suffix)),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(pods),
            policy_types: Some(types),
            ingress: ingress.filter(|rules| !rules.is_empty()),
            egress: egress.filter(|rules| !rules.is_empty()),
        }),
    }
}

fn peer(selector: LabelSelector) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        pod_selector: Some(selector),
        ..NetworkPolicyPeer::default()
    }
}

fn ingress(
    from: Vec<NetworkPolicyPeer>,
    ports: Vec<NetworkPolicyPort>,
) -> NetworkPolicyIngressRule {
    NetworkPolicyIngressRule {
        from: Some(from),
        ports: Some(ports),
    }
}

fn egress(to: Vec<NetworkPolicyPeer>, ports: Vec<NetworkPolicyPort>) -> NetworkPolicyEgressRule {
    NetworkPolicyEgressRule {
        to: Some(to),
        ports: Some(ports),
    }
}

fn tcp(port: i32) -> NetworkPolicyPort {
    NetworkPolicyPort {
        port: Some(IntOrString::Int(port)),
        protocol: Some("TCP".to_owned()),
        ..NetworkPolicyPort::default()
    }
}

fn udp(port: i32) -> NetworkPolicyPort {
    NetworkPolicyPort {
        port: Some(IntOrString::Int(port)),
        protocol: Some("UDP".to_owned()),
        ..NetworkPolicyPort::default()
    }
}
