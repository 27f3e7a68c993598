//! Tracing: the managed Jaeger v2 (ConfigMap, ServiceAccount, Deployment, collector and query
//! Services) and the Istio Telemetry resource that selects the mesh's tracing provider.
//!
//! Invariants: Jaeger runs without an Istio sidecar (`sidecar.istio.io/inject: "false"`) and
//! under the restricted security profile; the services' OTLP endpoint is the collector
//! Service's OTLP/HTTP port (see `validate::mesh::tracing_plan`).

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy};
use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapVolumeSource, Container, HTTPGetAction, PodSpec, PodTemplateSpec, Probe,
    Service, ServicePort, ServiceSpec, Volume,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::component::Component;
use super::labels::INSTANCE;
use super::mesh::types::{
    ProviderRef, TELEMETRY_V1, Telemetry, TelemetrySpec, TelemetryTracing, WorkloadSelector,
};
use super::object::DesiredObject;
use super::pod;
use super::validate::{JaegerPlan, TracingPlan, ValidatedPlatform};

/// Jaeger v2 image (OpenTelemetry-collector based, one binary).
pub const JAEGER_IMAGE: &str = "jaegertracing/jaeger:2.14.0";
pub const OTLP_GRPC_PORT: i32 = 4317;
pub const OTLP_HTTP_PORT: i32 = 4318;
pub const QUERY_PORT: i32 = 16686;
const HEALTH_PORT: i32 = 13133;
/// UID of the Jaeger image's user.
const JAEGER_UID: i64 = 10001;
/// Pod annotation that keeps Istio's sidecar injector away.
pub const INJECT_ANNOTATION: &str = "sidecar.istio.io/inject";

/// Name of the Service receiving OTLP (gRPC 4317, HTTP 4318).
pub fn collector_service(instance: &str) -> String {
    format!("{instance}-jaeger-collector")
}

/// Name of the Service of the Jaeger UI and query API (16686).
pub fn query_service(instance: &str) -> String {
    format!("{instance}-jaeger-query")
}

/// Every tracing object: Jaeger when Managed, and the Telemetry resource when the mesh is on.
pub fn build(platform: &ValidatedPlatform) -> Vec<DesiredObject> {
    let Some(tracing) = &platform.tracing else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let JaegerPlan::Managed { max_traces } = tracing.jaeger {
        out.extend(jaeger(platform, max_traces));
    }
    if platform.mesh.is_some() {
        out.push(DesiredObject::Telemetry(telemetry(platform, tracing)));
    }
    out
}

fn telemetry(platform: &ValidatedPlatform, tracing: &TracingPlan) -> Telemetry {
    let o = &platform.ownership;
    Telemetry::new(
        TELEMETRY_V1,
        "Telemetry",
        o.platform_meta(o.object_name("tracing")),
        TelemetrySpec {
            // This platform's proxies only: another platform in the namespace has its own.
            selector: WorkloadSelector {
                match_labels: BTreeMap::from([(INSTANCE.to_owned(), o.instance.clone())]),
            },
            tracing: vec![TelemetryTracing {
                providers: vec![ProviderRef {
                    name: tracing.mesh_provider.clone(),
                }],
                random_sampling_percentage: tracing.sampling_percentage,
            }],
        },
    )
}

/// Jaeger v2 configuration: OTLP in, in-memory storage with a trace cap, query UI, health.
fn config(max_traces: i32) -> String {
    format!(
        "service:
  extensions: [jaeger_storage, jaeger_query, healthcheckv2]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
extensions:
  healthcheckv2:
    use_v2: true
    http:
      endpoint: 0.0.0.0:{HEALTH_PORT}
  jaeger_query:
    storage:
      traces: memstore
    http:
      endpoint: 0.0.0.0:{QUERY_PORT}
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: {max_traces}
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 0.0.0.0:{OTLP_GRPC_PORT}
      http:
        endpoint: 0.0.0.0:{OTLP_HTTP_PORT}
processors:
  batch: {{}}
exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
"
    )
}

fn jaeger(platform: &ValidatedPlatform, max_traces: i32) -> Vec<DesiredObject> {
    let o = &platform.ownership;
    let c = Component::Jaeger;
    let name = c.name();
    let version = JAEGER_IMAGE.rsplit(':').next().unwrap_or_default();
    let config = config(max_traces);
    let hash = pod::config_hash([config.as_str()]);
    let config_map = ConfigMap {
        metadata: o.meta(o.object_name(name), name, version),
        data: Some(BTreeMap::from([("config.yaml".to_owned(), config)])),
        ..ConfigMap::default()
    };
    let service = |service_name: String, ports: Vec<ServicePort>| Service {
        metadata: o.meta(service_name, name, version),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".to_owned()),
            selector: Some(o.selector_labels(name)),
            ports: Some(ports),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    };
    let port = |port_name: &str, number: i32, app_protocol: &str| ServicePort {
        name: Some(port_name.to_owned()),
        port: number,
        target_port: Some(IntOrString::String(port_name.to_owned())),
        protocol: Some("TCP".to_owned()),
        app_protocol: Some(app_protocol.to_owned()),
        ..ServicePort::default()
    };
    let probe = |period: i32| Probe {
        http_get: Some(HTTPGetAction {
            path: Some("/status".to_owned()),
            port: IntOrString::String("health".to_owned()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period),
        failure_threshold: Some(3),
        timeout_seconds: Some(2),
        ..Probe::default()
    };
    let mut annotations = pod::hash_annotation(hash);
    annotations.insert(INJECT_ANNOTATION.to_owned(), "false".to_owned());
    let container = Container {
        name: name.to_owned(),
        image: Some(JAEGER_IMAGE.to_owned()),
        image_pull_policy: Some(platform.image_pull_policy.to_owned()),
        args: Some(vec!["--config=/etc/jaeger/config.yaml".to_owned()]),
        ports: Some(vec![
            pod::port("grpc-otlp", OTLP_GRPC_PORT),
            pod::port("http-otlp", OTLP_HTTP_PORT),
            pod::port("http-query", QUERY_PORT),
            pod::port("health", HEALTH_PORT),
        ]),
        liveness_probe: Some(probe(10)),
        readiness_probe: Some(probe(5)),
        resources: Some(pod::requests_and_memory_limit("100m", "256Mi", "1Gi")),
        security_context: Some(pod::container_security()),
        volume_mounts: Some(vec![
            pod::mount("config", "/etc/jaeger"),
            pod::mount("tmp", "/tmp"),
        ]),
        ..Container::default()
    };
    let deployment = Deployment {
        metadata: o.meta(o.object_name(name), name, version),
        spec: Some(DeploymentSpec {
            replicas: Some(1),
            selector: o.selector(c),
            // In-memory storage: two pods would split the traces.
            strategy: Some(DeploymentStrategy {
                type_: Some("Recreate".to_owned()),
                ..DeploymentStrategy::default()
            }),
            revision_history_limit: Some(5),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(o.pod_labels(c, version)),
                    annotations: Some(annotations),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    service_account_name: Some(o.object_name(name)),
                    automount_service_account_token: Some(false),
                    security_context: Some(pod::pod_security(JAEGER_UID)),
                    containers: vec![container],
                    volumes: Some(vec![
                        Volume {
                            name: "config".to_owned(),
                            config_map: Some(ConfigMapVolumeSource {
                                name: o.object_name(name),
                                ..ConfigMapVolumeSource::default()
                            }),
                            ..Volume::default()
                        },
                        pod::empty_dir("tmp"),
                    ]),
                    ..PodSpec::default()
                }),
            },
            ..DeploymentSpec::default()
        }),
        ..Deployment::default()
    };
    vec![
        DesiredObject::ConfigMap(config_map),
        DesiredObject::ServiceAccount(pod::service_account(o, name, version)),
        DesiredObject::Service(service(
            collector_service(&o.instance),
            vec![
                port("grpc-otlp", OTLP_GRPC_PORT, "grpc"),
                port("http-otlp", OTLP_HTTP_PORT, "http"),
            ],
        )),
        DesiredObject::Service(service(
            query_service(&o.instance),
            vec![port("http-query", QUERY_PORT, "http")],
        )),
        DesiredObject::Deployment(deployment),
    ]
}
