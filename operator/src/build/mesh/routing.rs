//! Routing: the ingress Gateway and VirtualService, and per service a VirtualService (explicit
//! weights, retries, timeout, optional faults, the canary match route: `x-canary: always` and
//! `rollout.match`, an optional mirror to the canary) and a DestinationRule (mTLS origination,
//! connection pool, outlier detection, track subsets).
//!
//! Invariant: the route builders share `destinations` and `mirror`, so the ingress path and the
//! in-mesh path of an edge service always split and copy traffic the same way.

use std::collections::BTreeMap;

use super::types::*;
use super::{CANARY_HEADER, CANARY_HEADER_ROUTE, PRIMARY_ROUTE, component_host, host};
use crate::build::component::Component;
use crate::build::env::HTTP_PORT;
use crate::build::object::DesiredObject;
use crate::build::tracing::{collector_service, query_service};
use crate::build::traffic::{CANARY, STABLE, TRACK_LABEL, Traffic};
use crate::build::validate::{
    CachePlan, DatabasePlan, EventsPlan, JaegerPlan, MeshPlan, RabbitMqPlan, RequestMatch,
    ValidatedPlatform, ValidatedService, ValueMatch,
};
use crate::crd::{MtlsMode, Percent};

/// Retry only what cannot have reached the application: checkout and payments are not
/// idempotent without a key, so an application 5xx is never replayed by the mesh.
const RETRY_ON: &str = "connect-failure,refused-stream,reset-before-request";

pub fn build(platform: &ValidatedPlatform, traffic: &Traffic) -> Vec<DesiredObject> {
    let Some(mesh) = &platform.mesh else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Some(ingress) = &mesh.ingress {
        out.extend(ingress_objects(platform, mesh, traffic, ingress));
    }
    for service in &platform.services {
        if service.component == Component::Loadgen {
            continue; // accepts no traffic
        }
        out.push(DesiredObject::VirtualService(virtual_service(
            platform, mesh, traffic, service,
        )));
        out.push(DesiredObject::DestinationRule(destination_rule(
            platform, mesh, traffic, service,
        )));
    }
    out.extend(store_rules(platform, mesh));
    out
}

fn ingress_objects(
    platform: &ValidatedPlatform,
    mesh: &MeshPlan,
    traffic: &Traffic,
    ingress: &crate::build::validate::IngressPlan,
) -> Vec<DesiredObject> {
    let o = &platform.ownership;
    let name = o.object_name("ingress");
    let http_server = |tls: Option<ServerTls>| Server {
        port: ServerPort {
            number: 80,
            name: "http".to_owned(),
            protocol: "HTTP".to_owned(),
        },
        hosts: ingress.hosts.clone(),
        tls,
    };
    let servers = match &ingress.tls_secret_name {
        None => vec![http_server(None)],
        Some(secret) => vec![
            http_server(Some(ServerTls {
                https_redirect: Some(true),
                ..ServerTls::default()
            })),
            Server {
                port: ServerPort {
                    number: 443,
                    name: "https".to_owned(),
                    protocol: "HTTPS".to_owned(),
                },
                hosts: ingress.hosts.clone(),
                tls: Some(ServerTls {
                    mode: Some("SIMPLE".to_owned()),
                    credential_name: Some(secret.clone()),
                    ..ServerTls::default()
                }),
            },
        ],
    };
    let gateway = Gateway::new(
        NETWORKING_V1,
        "Gateway",
        o.platform_meta(name.clone()),
        GatewaySpec {
            selector: BTreeMap::from([("istio".to_owned(), "ingressgateway".to_owned())]),
            servers,
        },
    );
    let mut http = Vec::new();
    let edge = [(Component::Gateway, Some("/api/")), (Component::Web, None)];
    for (c, _) in edge {
        if let Some(service) = platform.services.iter().find(|s| s.component == c)
            && let Some(mut route) = header_route(platform, mesh, traffic, service)
        {
            route.name = Some(format!("{}-{CANARY_HEADER_ROUTE}", c.name()));
            if c == Component::Gateway {
                // Each entry of the list is an alternative: every one keeps to /api/.
                for m in &mut route.matches {
                    m.uri = Some(prefix("/api/"));
                }
            }
            http.push(route);
        }
    }
    for (c, path) in edge {
        if let Some(service) = platform.services.iter().find(|s| s.component == c) {
            let mut route = route(mesh, destinations(platform, traffic, service), c);
            route.name = Some(c.name().to_owned());
            (route.mirror, route.mirror_percentage) = mirror(platform, traffic, service);
            route.matches = path
                .map(|p| {
                    vec![HttpMatch {
                        uri: Some(prefix(p)),
                        ..HttpMatch::default()
                    }]
                })
                .unwrap_or_default();
            http.push(route);
        }
    }
    let vs = VirtualService::new(
        NETWORKING_V1,
        "VirtualService",
        o.platform_meta(name.clone()),
        VirtualServiceSpec {
            hosts: ingress.hosts.clone(),
            gateways: vec![name],
            http,
        },
    );
    vec![
        DesiredObject::Gateway(gateway),
        DesiredObject::VirtualService(vs),
    ]
}

fn prefix(p: &str) -> StringMatch {
    StringMatch {
        prefix: Some(p.to_owned()),
        ..StringMatch::default()
    }
}

/// Weighted destinations of a service: subset `stable` (and `canary` when routed) for tracked
/// services once their stable pods carry the track label, the plain host otherwise. Weights are
/// explicit and sum to 100.
fn destinations(
    platform: &ValidatedPlatform,
    traffic: &Traffic,
    service: &ValidatedService,
) -> Vec<RouteDestination> {
    let host = component_host(platform, service.component);
    let dest = |subset: Option<&str>, weight: Percent| {
        RouteDestination::weighted(
            Destination {
                host: host.clone(),
                subset: subset.map(str::to_owned),
                port: Some(PortSelector {
                    number: HTTP_PORT as u32,
                }),
            },
            weight,
        )
    };
    let all = Percent::HUNDRED;
    if !service.is_tracked() {
        return vec![dest(None, all)];
    }
    let plan = traffic.of(service.component);
    let canary_weight = plan.and_then(|t| t.canary.as_ref()).and_then(|c| c.weight);
    match canary_weight {
        Some(w) => vec![dest(Some(STABLE), w.complement()), dest(Some(CANARY), w)],
        None if plan.is_none_or(|t| t.routes_stable_subset()) => vec![dest(Some(STABLE), all)],
        None => vec![dest(None, all)],
    }
}

/// The copy of requests to the canary at the mirror step: its subset, and the share.
fn mirror(
    platform: &ValidatedPlatform,
    traffic: &Traffic,
    service: &ValidatedService,
) -> (Option<Destination>, Option<Percentage>) {
    let Some(share) = traffic
        .of(service.component)
        .and_then(|t| t.canary.as_ref())
        .filter(|c| c.weight.is_some())
        .and_then(|c| c.mirror)
    else {
        return (None, None);
    };
    let destination = Destination {
        host: component_host(platform, service.component),
        subset: Some(CANARY.to_owned()),
        port: Some(PortSelector {
            number: HTTP_PORT as u32,
        }),
    };
    let percentage = Percentage {
        value: f64::from(share.get()),
    };
    (Some(destination), Some(percentage))
}

/// Istio's form of one checked `rollout.match` entry.
fn http_match(m: &RequestMatch) -> HttpMatch {
    let headers = m
        .headers
        .iter()
        .map(|(name, value)| {
            let string_match = match value {
                ValueMatch::Exact(v) => StringMatch {
                    exact: Some(v.clone()),
                    ..StringMatch::default()
                },
                ValueMatch::Prefix(v) => StringMatch {
                    prefix: Some(v.clone()),
                    ..StringMatch::default()
                },
                ValueMatch::Regex(v) => StringMatch {
                    regex: Some(v.clone()),
                    ..StringMatch::default()
                },
            };
            (name.clone(), string_match)
        })
        .collect();
    HttpMatch {
        headers,
        ..HttpMatch::default()
    }
}

/// The canary's match route (`x-canary: always`, then each `rollout.match` entry), present only
/// while a route may point at the canary.
fn header_route(
    platform: &ValidatedPlatform,
    mesh: &MeshPlan,
    traffic: &Traffic,
    service: &ValidatedService,
) -> Option<HttpRoute> {
    traffic.of(service.component)?.canary.as_ref()?.weight?;
    let mut r = route(
        mesh,
        vec![RouteDestination::weighted(
            Destination {
                host: component_host(platform, service.component),
                subset: Some(CANARY.to_owned()),
                port: Some(PortSelector {
                    number: HTTP_PORT as u32,
                }),
            },
            Percent::HUNDRED,
        )],
        service.component,
    );
    r.name = Some(CANARY_HEADER_ROUTE.to_owned());
    r.matches = vec![HttpMatch {
        headers: BTreeMap::from([(
            CANARY_HEADER.0.to_owned(),
            StringMatch {
                exact: Some(CANARY_HEADER.1.to_owned()),
                ..StringMatch::default()
            },
        )]),
        ..HttpMatch::default()
    }];
    r.matches
        .extend(service.rollout.matches.iter().map(http_match));
    Some(r)
}

fn route(mesh: &MeshPlan, route: Vec<RouteDestination>, c: Component) -> HttpRoute {
    let fault = mesh.faults.get(&c).map(|f| HttpFault {
        delay: f.delay.as_ref().map(|d| FaultDelay {
            fixed_delay: d
                .to_std()
                .map_or_else(|_| d.0.clone(), crate::build::validate::istio_duration),
            percentage: Percentage {
                value: f.delay_percent.unwrap_or(100.0),
            },
        }),
        abort: f.abort_http_status.map(|status| FaultAbort {
            http_status: status,
            percentage: Percentage {
                value: f.abort_percent.unwrap_or(100.0),
            },
        }),
    });
    HttpRoute {
        name: None,
        matches: Vec::new(),
        route,
        timeout: Some(mesh.timeout.clone()),
        retries: Some(HttpRetry {
            attempts: mesh.retry_attempts,
            per_try_timeout: mesh.per_try_timeout.clone(),
            retry_on: RETRY_ON.to_owned(),
        }),
        fault,
        mirror: None,
        mirror_percentage: None,
    }
}

fn virtual_service(
    platform: &ValidatedPlatform,
    mesh: &MeshPlan,
    traffic: &Traffic,
    service: &ValidatedService,
) -> VirtualService {
    let o = &platform.ownership;
    let c = service.component;
    let mut http: Vec<HttpRoute> = header_route(platform, mesh, traffic, service)
        .into_iter()
        .collect();
    let mut primary = route(mesh, destinations(platform, traffic, service), c);
    primary.name = Some(PRIMARY_ROUTE.to_owned());
    (primary.mirror, primary.mirror_percentage) = mirror(platform, traffic, service);
    http.push(primary);
    VirtualService::new(
        NETWORKING_V1,
        "VirtualService",
        o.meta(o.object_name(c.name()), c.name(), &service.version),
        VirtualServiceSpec {
            hosts: vec![component_host(platform, c)],
            gateways: Vec::new(),
            http,
        },
    )
}

fn tls_mode(mesh: &MeshPlan, has_sidecar: bool) -> ClientTls {
    let mode = if has_sidecar && mesh.mtls != MtlsMode::DISABLE {
        "ISTIO_MUTUAL"
    } else {
        "DISABLE"
    };
    ClientTls {
        mode: mode.to_owned(),
    }
}

fn tcp_pool() -> TcpPool {
    TcpPool {
        max_connections: 100,
        connect_timeout: "2s".to_owned(),
    }
}

fn destination_rule(
    platform: &ValidatedPlatform,
    mesh: &MeshPlan,
    traffic: &Traffic,
    service: &ValidatedService,
) -> DestinationRule {
    let o = &platform.ownership;
    let c = service.component;
    let subset = |name: &str| Subset {
        name: name.to_owned(),
        labels: BTreeMap::from([(TRACK_LABEL.to_owned(), name.to_owned())]),
    };
    let mut subsets = Vec::new();
    if service.is_tracked() {
        subsets.push(subset(STABLE));
        if traffic.of(c).is_some_and(|t| t.canary.is_some()) {
            subsets.push(subset(CANARY));
        }
    }
    DestinationRule::new(
        NETWORKING_V1,
        "DestinationRule",
        o.meta(o.object_name(c.name()), c.name(), &service.version),
        DestinationRuleSpec {
            host: component_host(platform, c),
            traffic_policy: Some(TrafficPolicy {
                tls: Some(tls_mode(mesh, c.has_sidecar())),
                connection_pool: Some(ConnectionPool {
                    tcp: tcp_pool(),
                    http: Some(HttpPool {
                        http1_max_pending_requests: 100,
                        http2_max_requests: 1000,
                        max_retries: 3,
                    }),
                }),
                outlier_detection: Some(OutlierDetection {
                    consecutive_5xx_errors: mesh.consecutive_5xx_errors,
                    interval: mesh.outlier_interval.clone(),
                    base_ejection_time: mesh.base_ejection_time.clone(),
                    max_ejection_percent: mesh.max_ejection_percent,
                }),
            }),
            subsets,
        },
    )
}

/// DestinationRules of the stores (sidecar, mTLS, TCP pool) and of Jaeger (no sidecar: plain).
fn store_rules(platform: &ValidatedPlatform, mesh: &MeshPlan) -> Vec<DesiredObject> {
    let o = &platform.ownership;
    let mut targets: Vec<(Component, String)> = Vec::new();
    if matches!(platform.database, DatabasePlan::Managed { .. }) {
        targets.push((Component::Postgres, o.object_name("postgres")));
    }
    if matches!(platform.cache, CachePlan::Managed { .. }) {
        targets.push((Component::Redis, o.object_name("redis")));
    }
    if matches!(
        platform.events,
        EventsPlan::RabbitMq(RabbitMqPlan::Managed { .. })
    ) {
        targets.push((Component::RabbitMq, o.object_name("rabbitmq")));
    }
    if platform
        .tracing
        .as_ref()
        .is_some_and(|t| matches!(t.jaeger, JaegerPlan::Managed { .. }))
    {
        targets.push((Component::Jaeger, collector_service(&o.instance)));
        targets.push((Component::Jaeger, query_service(&o.instance)));
    }
    targets
        .into_iter()
        .map(|(c, service)| {
            DesiredObject::DestinationRule(DestinationRule::new(
                NETWORKING_V1,
                "DestinationRule",
                o.meta(service.clone(), c.name(), &o.platform_version),
                DestinationRuleSpec {
                    host: host(platform, &service),
                    traffic_policy: Some(TrafficPolicy {
                        tls: Some(tls_mode(mesh, c.has_sidecar())),
                        connection_pool: Some(ConnectionPool {
                            tcp: tcp_pool(),
                            http: None,
                        }),
                        outlier_detection: None,
                    }),
                    subsets: Vec::new(),
                },
            ))
        })
        .collect()
}
