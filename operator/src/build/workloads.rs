//! Objects of each enabled service: Deployment, Service, ServiceAccount and env ConfigMap.
//!
//! Invariants: the Deployment leaves `replicas` unset when an HPA owns the count (so the two never
//! fight over it); pods roll when the ConfigMap changes (config hash annotation).

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy};
use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapEnvSource, Container, EnvFromSource, PodSpec, PodTemplateSpec, Service,
    ServicePort, ServiceSpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::env::{self, HTTP_PORT};
use super::object::DesiredObject;
use super::pod;
use super::validate::{Scaling, ValidatedPlatform, ValidatedService};
use crate::crd::RolloutStrategy;

/// UID the service images run as (distroless "nonroot").
const SERVICE_UID: i64 = 65532;

/// All objects of one service, except autoscaling (see `autoscaling.rs`).
pub fn build(platform: &ValidatedPlatform, service: &ValidatedService) -> Vec<DesiredObject> {
    let o = &platform.ownership;
    let name = service.component.name();
    let env = env::service_env(platform, service);
    let config_map = ConfigMap {
        metadata: o.meta(o.object_name(name), name, &service.version),
        data: Some(env.plain.clone()),
        ..ConfigMap::default()
    };
    let hash = pod::config_hash(
        env.plain
            .iter()
            .flat_map(|(k, v)| [k.as_str(), v.as_str()])
            .chain([platform.jwt.name.as_str()]),
    );
    vec![
        DesiredObject::ConfigMap(config_map),
        DesiredObject::ServiceAccount(pod::service_account(o, name, &service.version)),
        DesiredObject::Service(http_service(platform, service)),
        DesiredObject::Deployment(deployment(platform, service, env.secret, hash)),
    ]
}

fn http_service(platform: &ValidatedPlatform, service: &ValidatedService) -> Service {
    let o = &platform.ownership;
    let name = service.component.name();
    Service {
        metadata: o.meta(o.object_name(name), name, &service.version),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".to_owned()),
            selector: Some(o.selector_labels(name)),
            ports: Some(vec![ServicePort {
                name: Some("http".to_owned()),
                port: HTTP_PORT,
                target_port: Some(IntOrString::String("http".to_owned())),
                protocol: Some("TCP".to_owned()),
                app_protocol: Some("http".to_owned()),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

fn deployment(
    platform: &ValidatedPlatform,
    service: &ValidatedService,
    secret_env: Vec<k8s_openapi::api::core::v1::EnvVar>,
    hash: String,
) -> Deployment {
    let o = &platform.ownership;
    let c = service.component;
    let name = c.name();
    let replicas = match service.scaling {
        Scaling::Fixed(n) => Some(n),
        Scaling::Autoscaled { .. } => None,
    };
    let strategy = match service.strategy {
        RolloutStrategy::Recreate => DeploymentStrategy {
            type_: Some("Recreate".to_owned()),
            ..DeploymentStrategy::default()
        },
        // Canary and Manual run the stable track as a plain Deployment; the canary track and
        // traffic split come with build/mesh.rs.
        RolloutStrategy::RollingUpdate | RolloutStrategy::Canary | RolloutStrategy::Manual => {
            DeploymentStrategy {
                type_: Some("RollingUpdate".to_owned()),
                rolling_update: Some(k8s_openapi::api::apps::v1::RollingUpdateDeployment {
                    max_surge: Some(IntOrString::String("25%".to_owned())),
                    max_unavailable: Some(IntOrString::Int(0)),
                }),
            }
        }
    };
    let container = Container {
        name: name.to_owned(),
        image: Some(service.image.to_string()),
        image_pull_policy: Some(platform.image_pull_policy.to_owned()),
        ports: Some(vec![pod::port("http", HTTP_PORT)]),
        env_from: Some(vec![EnvFromSource {
            config_map_ref: Some(ConfigMapEnvSource {
                name: o.object_name(name),
                optional: Some(false),
            }),
            ..EnvFromSource::default()
        }]),
        env: Some(secret_env),
        liveness_probe: Some(pod::http_probe("/healthz", 10, 3)),
        readiness_probe: Some(pod::http_probe("/readyz", 5, 3)),
        resources: Some(service.resources.clone()),
        security_context: Some(pod::container_security()),
        volume_mounts: Some(vec![pod::mount("tmp", "/tmp")]),
        ..Container::default()
    };
    Deployment {
        metadata: o.meta(o.object_name(name), name, &service.version),
        spec: Some(DeploymentSpec {
            replicas,
            selector: o.selector(c),
            strategy: Some(strategy),
            progress_deadline_seconds: Some(service.progress_deadline_seconds),
            revision_history_limit: Some(5),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(o.pod_labels(c, &service.version)),
                    annotations: Some(pod::hash_annotation(hash)),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    service_account_name: Some(o.object_name(name)),
                    automount_service_account_token: Some(false),
                    security_context: Some(pod::pod_security(SERVICE_UID)),
                    containers: vec![container],
                    volumes: Some(vec![pod::empty_dir("tmp")]),
                    termination_grace_period_seconds: Some(30),
                    ..PodSpec::default()
                }),
            },
            ..DeploymentSpec::default()
        }),
        ..Deployment::default()
    }
}
