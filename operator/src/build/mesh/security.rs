//! Security: one PeerAuthentication per workload (the mTLS mode; PERMISSIVE for sidecar-less
//! Jaeger), one ALLOW AuthorizationPolicy per workload listing the service-account principals
//! of its callers, and the local rate-limit EnvoyFilter on the edge workloads.
//!
//! Invariants: nothing applies to the whole namespace (every policy selects this platform's
//! workloads, so two platforms can share a namespace); a workload with no allowed caller gets an ALLOW policy with no rules (deny all),
//! never an empty principal list (which Istio would read as "anyone"); the call graph lives in
//! `callers` and nowhere else.

use std::collections::BTreeMap;

use serde_json::json;

use super::types::*;
use crate::build::component::{Component, Tier};
use crate::build::env::{AMQP_PORT, HTTP_PORT, POSTGRES_PORT, REDIS_PORT};
use crate::build::labels::{INSTANCE, PART_OF, PART_OF_VALUE, TIER};
use crate::build::object::DesiredObject;
use crate::build::validate::{
    CachePlan, DatabasePlan, EventsPlan, JaegerPlan, MeshPlan, RabbitMqPlan, ValidatedPlatform,
};
use crate::crd::MtlsMode;

/// Who may call a workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Caller {
    /// The Istio ingress gateway (only when spec.mesh.istio.ingress is set).
    Ingress,
    Service(Component),
}

/// The call graph: who calls `c`. The gateway is the single entry to the business services;
/// orders runs the checkout saga; cart reads catalog prices; web renders through the gateway;
/// only orders (publisher) and notifications (consumer) talk to RabbitMQ.
pub fn callers(c: Component) -> Vec<Caller> {
    use Component::*;
    let services = |list: &[Component]| list.iter().map(|&s| Caller::Service(s)).collect();
    match c {
        Gateway => vec![
            Caller::Ingress,
            Caller::Service(Web),
            Caller::Service(Loadgen),
        ],
        Web => vec![Caller::Ingress, Caller::Service(Loadgen)],
        Users | Orders | Notifications => services(&[Gateway]),
        Catalog => services(&[Gateway, Orders, Cart]),
        Cart | Inventory | Payments => services(&[Gateway, Orders]),
        Postgres => services(&Component::WITH_DATABASE),
        Redis => Component::SERVICES
            .iter()
            .filter(|s| s.uses_redis())
            .map(|&s| Caller::Service(s))
            .collect(),
        RabbitMq => services(&Component::ON_EVENT_BUS),
        Loadgen | Jaeger => Vec::new(),
    }
}

pub fn build(platform: &ValidatedPlatform) -> Vec<DesiredObject> {
    let Some(mesh) = &platform.mesh else {
        return Vec::new();
    };
    let o = &platform.ownership;
    let mut out = Vec::new();
    let managed_jaeger = platform
        .tracing
        .as_ref()
        .is_some_and(|t| matches!(t.jaeger, JaegerPlan::Managed { .. }));
    if managed_jaeger {
        // No sidecar enforces anything there, but if one is ever injected it must still accept
        // plain OTLP from the ingress gateway and from proxies outside the namespace.
        out.push(DesiredObject::PeerAuthentication(PeerAuthentication::new(
            SECURITY_V1,
            "PeerAuthentication",
            o.meta(o.object_name("jaeger"), "jaeger", &o.platform_version),
            PeerAuthenticationSpec {
                selector: Some(WorkloadSelector {
                    match_labels: o.selector_labels(Component::Jaeger.name()),
                }),
                mtls: PeerMtls {
                    mode: "PERMISSIVE".to_owned(),
                },
            },
        )));
    }

    let mut workloads: Vec<(Component, i32)> = platform
        .services
        .iter()
        .map(|s| (s.component, HTTP_PORT))
        .collect();
    if matches!(platform.database, DatabasePlan::Managed { .. }) {
        workloads.push((Component::Postgres, POSTGRES_PORT));
    }
    if matches!(platform.cache, CachePlan::Managed { .. }) {
        workloads.push((Component::Redis, REDIS_PORT));
    }
    if matches!(
        platform.events,
        EventsPlan::RabbitMq(RabbitMqPlan::Managed { .. })
    ) {
        workloads.push((Component::RabbitMq, AMQP_PORT));
    }
    for (c, port) in workloads {
        out.push(DesiredObject::PeerAuthentication(peer_authentication(
            platform, mesh, c,
        )));
        out.push(DesiredObject::AuthorizationPolicy(authorization_policy(
            platform, mesh, c, port,
        )));
    }
    if let Some((rps, burst)) = mesh.rate_limit {
        out.push(DesiredObject::EnvoyFilter(rate_limit(platform, rps, burst)));
    }
    out
}

fn mtls_mode(mode: MtlsMode) -> &'static str {
    match mode {
        MtlsMode::STRICT => "STRICT",
        MtlsMode::PERMISSIVE => "PERMISSIVE",
        MtlsMode::DISABLE => "DISABLE",
    }
}

/// The mTLS mode of one workload. Per workload, not for the namespace: another platform in the
/// namespace may ask for another mode, and Istio settles two selectors matching one workload
/// by age, so an instance-wide policy beside Jaeger's exception would be ambiguous.
fn peer_authentication(
    platform: &ValidatedPlatform,
    mesh: &MeshPlan,
    c: Component,
) -> PeerAuthentication {
    let o = &platform.ownership;
    PeerAuthentication::new(
        SECURITY_V1,
        "PeerAuthentication",
        o.meta(o.object_name(c.name()), c.name(), &o.platform_version),
        PeerAuthenticationSpec {
            selector: Some(WorkloadSelector {
                match_labels: o.component_labels(c.name()),
            }),
            mtls: PeerMtls {
                mode: mtls_mode(mesh.mtls).to_owned(),
            },
        },
    )
}

/// SPIFFE principal of a service account: `<trust domain>/ns/<namespace>/sa/<name>`.
fn principal(trust_domain: &str, namespace: &str, service_account: &str) -> String {
    format!("{trust_domain}/ns/{namespace}/sa/{service_account}")
}

fn authorization_policy(
    platform: &ValidatedPlatform,
    mesh: &MeshPlan,
    c: Component,
    port: i32,
) -> AuthorizationPolicy {
    let o = &platform.ownership;
    let mut principals: Vec<String> = callers(c)
        .into_iter()
        .filter_map(|caller| match caller {
            Caller::Ingress => mesh.ingress.as_ref().map(|i| {
                principal(
                    &mesh.trust_domain,
                    &i.gateway_namespace,
                    &i.gateway_service_account,
                )
            }),
            Caller::Service(s) => platform
                .runs(s)
                .then(|| principal(&mesh.trust_domain, &o.namespace, &o.object_name(s.name()))),
        })
        .collect();
    principals.sort();
    let rules = if principals.is_empty() {
        Vec::new()
    } else {
        vec![AuthorizationRule {
            from: vec![RuleFrom {
                source: Source { principals },
            }],
            to: vec![RuleTo {
                operation: Operation {
                    ports: vec![port.to_string()],
                },
            }],
        }]
    };
    AuthorizationPolicy::new(
        SECURITY_V1,
        "AuthorizationPolicy",
        o.meta(o.object_name(c.name()), c.name(), &o.platform_version),
        AuthorizationPolicySpec {
            // Both tracks: a canary pod is as protected as a stable one.
            selector: WorkloadSelector {
                match_labels: o.component_labels(c.name()),
            },
            action: "ALLOW".to_owned(),
            rules,
        },
    )
}

/// Local (per pod) token bucket on the inbound listener of the edge workloads' sidecars.
fn rate_limit(platform: &ValidatedPlatform, rps: i32, burst: i32) -> EnvoyFilter {
    let o = &platform.ownership;
    let labels = BTreeMap::from([
        (INSTANCE.to_owned(), o.instance.clone()),
        (PART_OF.to_owned(), PART_OF_VALUE.to_owned()),
        (TIER.to_owned(), Tier::Edge.as_str().to_owned()),
    ]);
    let hundred = json!({"numerator": 100, "denominator": "HUNDRED"});
    EnvoyFilter::new(
        NETWORKING_V1ALPHA3,
        "EnvoyFilter",
        o.platform_meta(o.object_name("ratelimit")),
        EnvoyFilterSpec {
            workload_selector: EnvoyWorkloadSelector { labels },
            config_patches: vec![EnvoyConfigPatch {
                apply_to: "HTTP_FILTER".to_owned(),
                match_: EnvoyPatchMatch {
                    context: "SIDECAR_INBOUND".to_owned(),
                    listener: EnvoyListenerMatch {
                        filter_chain: EnvoyFilterChainMatch {
                            filter: EnvoyFilterMatch {
                                name: "envoy.filters.network.http_connection_manager".to_owned(),
                                sub_filter: EnvoySubFilterMatch {
                                    name: "envoy.filters.http.router".to_owned(),
                                },
                            },
                        },
                    },
                },
                patch: EnvoyPatch {
                    operation: "INSERT_BEFORE".to_owned(),
                    value: json!({
                        "name": "envoy.filters.http.local_ratelimit",
                        "typed_config": {
                            "@type": "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit",
                            "stat_prefix": "http_local_rate_limiter",
                            "token_bucket": {
                                "max_tokens": burst,
                                "tokens_per_fill": rps,
                                "fill_interval": "1s",
                            },
                            "filter_enabled": {"runtime_key": "local_rate_limit_enabled", "default_value": hundred},
                            "filter_enforced": {"runtime_key": "local_rate_limit_enforced", "default_value": hundred},
                            "response_headers_to_add": [{
                                "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
                                "header": {"key": "x-local-rate-limit", "value": "true"},
                            }],
                        },
                    }),
                },
            }],
        },
    )
}
