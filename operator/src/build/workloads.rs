//! Objects of each enabled service: Deployment, Service, ServiceAccount and env ConfigMap.
//!
//! Invariants: the Deployment leaves `replicas` unset when an HPA owns the count (so the two never
//! fight over it); pods roll when the ConfigMap changes (config hash annotation). A tracked
//! service (Canary, Manual, BlueGreen) labels its pods with their track, and during a rollout
//! runs a second Deployment `<name>-canary`, sized by `replicas.rs`, whose pods the stable
//! Deployment's selector does not match (the Service selects both). Every service pod carries
//! the `prometheus.io/*` scrape annotations and stops as `shutdown.rs` describes. While a canary
//! with `rollout.loadTest` takes traffic, loadgen sends `x-canary: always` with every request.

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy};
use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapEnvSource, Container, EnvFromSource, PodSpec, PodTemplateSpec, Service,
    ServicePort, ServiceSpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::component::Component;
use super::env::{self, HTTP_PORT};
use super::labels::NAME;
use super::object::DesiredObject;
use super::pod;
use super::replicas::track_replicas;
use super::shutdown;
use super::traffic::{CANARY, STABLE, ServiceTraffic, TRACK_LABEL, Track, Traffic};
use super::validate::{ValidatedPlatform, ValidatedService};
use crate::crd::{Percent, RolloutStrategy};

/// UID the service images run as (distroless "nonroot").
const SERVICE_UID: i64 = 65532;

/// All objects of one service, except autoscaling (see `autoscaling.rs`).
pub fn build(
    platform: &ValidatedPlatform,
    service: &ValidatedService,
    traffic: &Traffic,
) -> Vec<DesiredObject> {
    let o = &platform.ownership;
    let name = service.component.name();
    let mut env = env::service_env(platform, service);
    if service.component == Component::Loadgen && load_test_running(platform, traffic) {
        env.plain
            .insert(LOADGEN_HEADER.to_owned(), LOAD_TEST_HEADER.to_owned());
    }
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
    // Without the mesh the track label is what tells the pods apart (the analysis' selector);
    // the Service selects both tracks, so their pod counts split the traffic.
    let tracked = service.is_tracked();
    let plan = traffic.of(service.component);
    let stable_track = plan.and_then(|t| t.stable.clone()).unwrap_or(Track {
        image: service.image.to_string(),
        version: service.version.clone(),
    });
    let canary_plan = plan.and_then(|t| t.canary.as_ref()).filter(|_| tracked);
    let replicas = track_replicas(
        service.scaling,
        platform.mesh.is_some(),
        plan.and_then(|t| t.stable_replicas),
        canary_plan,
        service.strategy == RolloutStrategy::BlueGreen,
    );
    let stable = Pod {
        track: tracked.then_some(STABLE),
        image: stable_track,
        replicas: replicas.stable,
    };
    let mut out = vec![
        DesiredObject::ConfigMap(config_map),
        DesiredObject::ServiceAccount(pod::service_account(o, name, &service.version)),
        DesiredObject::Service(switched_service(platform, service, plan)),
        DesiredObject::Deployment(deployment(
            platform,
            service,
            &stable,
            env.secret.clone(),
            hash.clone(),
        )),
    ];
    if let Some(canary) = canary_plan {
        if service.strategy == RolloutStrategy::BlueGreen {
            out.push(DesiredObject::Service(preview_service(platform, service)));
        }
        let pod = Pod {
            track: Some(CANARY),
            image: canary.track.clone(),
            replicas: replicas.canary,
        };
        out.push(DesiredObject::Deployment(deployment(
            platform, service, &pod, env.secret, hash,
        )));
    }
    out
}

/// What one Deployment of a service runs: its track (tracked services only), image and pods
/// (`None`: the HPA decides).
struct Pod {
    track: Option<&'static str>,
    image: Track,
    replicas: Option<i32>,
}

/// loadgen's variable for a header on every request (serve mode).
pub const LOADGEN_HEADER: &str = "LOADGEN_HEADER";
/// What the load test sends: the canary route of every service takes it.
pub const LOAD_TEST_HEADER: &str = "x-canary: always";

/// Whether a canary with `rollout.loadTest` is routed now (its load test runs).
pub fn load_test_running(platform: &ValidatedPlatform, traffic: &Traffic) -> bool {
    platform
        .services
        .iter()
        .filter(|s| s.is_tracked() && s.rollout.load_test)
        .filter_map(|s| traffic.of(s.component)?.canary.as_ref())
        .any(|c| c.weight.is_some() && !c.draining)
}

/// Name of a blue/green service's preview Service: `<name>-<svc>-preview`.
pub fn preview_name(platform: &ValidatedPlatform, service: &ValidatedService) -> String {
    let o = &platform.ownership;
    format!("{}-{PREVIEW}", o.object_name(service.component.name()))
}

/// Suffix of a blue/green preview Service.
pub const PREVIEW: &str = "preview";

/// The preview of a blue/green rollout: the new version's pods alone, for its analysis and for
/// whoever tries it before the switch.
fn preview_service(platform: &ValidatedPlatform, service: &ValidatedService) -> Service {
    let o = &platform.ownership;
    let name = service.component.name();
    let mut selector = o.component_labels(name);
    selector.insert(TRACK_LABEL.to_owned(), CANARY.to_owned());
    let mut preview = http_service(platform, service);
    preview.metadata = o.meta(preview_name(platform, service), name, &service.version);
    if let Some(spec) = preview.spec.as_mut() {
        spec.selector = Some(selector);
    }
    preview
}

/// The track a blue/green service's Service selects without the mesh, where its selector is
/// the switch: the stable pods once they all carry their label (`stable_subset`), the canary's
/// once all traffic is switched to it; `None` (both tracks, as every other service) before the
/// stable pods are labelled and with the mesh, whose routes do the switching.
pub fn switched_track(
    platform: &ValidatedPlatform,
    service: &ValidatedService,
    plan: Option<&ServiceTraffic>,
) -> Option<&'static str> {
    if platform.mesh.is_some() || service.strategy != RolloutStrategy::BlueGreen {
        return None;
    }
    let plan = plan?;
    let switched = plan
        .canary
        .as_ref()
        .is_some_and(|c| c.weight == Some(Percent::HUNDRED) && !c.draining);
    if switched {
        Some(CANARY)
    } else {
        plan.routes_stable_subset().then_some(STABLE)
    }
}

fn switched_service(
    platform: &ValidatedPlatform,
    service: &ValidatedService,
    plan: Option<&ServiceTraffic>,
) -> Service {
    let mut out = http_service(platform, service);
    if let Some(track) = switched_track(platform, service, plan)
        && let Some(selector) = out.spec.as_mut().and_then(|s| s.selector.as_mut())
    {
        selector.insert(TRACK_LABEL.to_owned(), track.to_owned());
    }
    out
}

fn http_service(platform: &ValidatedPlatform, service: &ValidatedService) -> Service {
    let o = &platform.ownership;
    let name = service.component.name();
    Service {
        metadata: o.meta(o.object_name(name), name, &service.version),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".to_owned()),
            selector: Some(o.component_labels(name)),
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
    pod: &Pod,
    secret_env: Vec<k8s_openapi::api::core::v1::EnvVar>,
    hash: String,
) -> Deployment {
    let o = &platform.ownership;
    let c = service.component;
    let name = c.name();
    let is_canary = pod.track == Some(CANARY);
    let version = &pod.image.version;
    let mut pod_labels = o.pod_labels(c, version);
    let mut meta = o.meta(o.object_name(name), name, version);
    let mut selector = o.selector(c);
    if let Some(track) = pod.track {
        pod_labels.insert(TRACK_LABEL.to_owned(), track.to_owned());
    }
    if is_canary {
        meta.name = Some(o.object_name(&format!("{name}-{CANARY}")));
        if let Some(labels) = meta.labels.as_mut() {
            labels.insert(TRACK_LABEL.to_owned(), CANARY.to_owned());
        }
        // Not `storefront`: the stable Deployment's selector, and so its HPA's CPU average and
        // its PDB, must not count canary pods.
        pod_labels.insert(NAME.to_owned(), name.to_owned());
        let mut labels = o.component_labels(name);
        labels.insert(TRACK_LABEL.to_owned(), CANARY.to_owned());
        selector.match_labels = Some(labels);
    }
    let strategy = match service.strategy {
        RolloutStrategy::Recreate => DeploymentStrategy {
            type_: Some("Recreate".to_owned()),
            ..DeploymentStrategy::default()
        },
        // Canary, Manual and BlueGreen: this is one track; the traffic split is the mesh's
        // (build/mesh) or, without it, the pods' (build/replicas.rs).
        RolloutStrategy::RollingUpdate
        | RolloutStrategy::Canary
        | RolloutStrategy::Manual
        | RolloutStrategy::BlueGreen => DeploymentStrategy {
            type_: Some("RollingUpdate".to_owned()),
            rolling_update: Some(k8s_openapi::api::apps::v1::RollingUpdateDeployment {
                max_surge: Some(IntOrString::String("25%".to_owned())),
                max_unavailable: Some(IntOrString::Int(0)),
            }),
        },
    };
    let container = Container {
        name: name.to_owned(),
        image: Some(pod.image.image.clone()),
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
        // A service listens only once its stores answer (migrations, a cold Redis): liveness
        // starts after the startup probe passes (up to 2 minutes), so a slow start is not
        // killed mid-migration. Seen on the real node, where every pod restarted once.
        startup_probe: Some(pod::http_probe("/healthz", 2, 60)),
        liveness_probe: Some(pod::http_probe("/healthz", 10, 3)),
        readiness_probe: Some(pod::http_probe("/readyz", 5, 3)),
        resources: Some(service.resources.clone()),
        security_context: Some(pod::container_security()),
        volume_mounts: Some(vec![pod::mount("tmp", "/tmp")]),
        lifecycle: Some(shutdown::lifecycle()),
        ..Container::default()
    };
    let mut annotations = pod::hash_annotation(hash);
    annotations.extend(pod::scrape_annotations(HTTP_PORT));
    if platform.mesh.is_some() {
        annotations.extend([shutdown::proxy_config()]);
    }
    Deployment {
        metadata: meta,
        spec: Some(DeploymentSpec {
            replicas: pod.replicas,
            selector,
            strategy: Some(strategy),
            progress_deadline_seconds: Some(service.progress_deadline_seconds),
            revision_history_limit: Some(5),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(pod_labels),
                    annotations: Some(annotations),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    service_account_name: Some(o.object_name(name)),
                    automount_service_account_token: Some(false),
                    security_context: Some(pod::pod_security(SERVICE_UID)),
                    containers: vec![container],
                    volumes: Some(vec![pod::empty_dir("tmp")]),
                    termination_grace_period_seconds: Some(shutdown::GRACE_PERIOD_SECONDS),
                    ..PodSpec::default()
                }),
            },
            ..DeploymentSpec::default()
        }),
        ..Deployment::default()
    }
}
