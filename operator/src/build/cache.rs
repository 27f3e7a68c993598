//! Redis: the managed StatefulSet, headless Service and ServiceAccount; nothing when External
//! (services then read REDIS_URL from the referenced Secret, see `env.rs`).
//!
//! Invariant: the cache volume is always deleted with the platform (it holds only caches, carts
//! and rate-limit counters, which the platform can lose).

use k8s_openapi::api::apps::v1::{
    StatefulSet, StatefulSetPersistentVolumeClaimRetentionPolicy, StatefulSetSpec,
};
use k8s_openapi::api::core::v1::{Container, PodSpec, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::component::Component;
use super::database::{data_claim, exec_probe, headless_service};
use super::env::REDIS_PORT;
use super::object::DesiredObject;
use super::pod;
use super::validate::{CachePlan, ValidatedPlatform};

/// UID of the `redis` user in the official alpine images.
const REDIS_UID: i64 = 999;

/// Objects of the cache; none when External.
pub fn build(platform: &ValidatedPlatform) -> Vec<DesiredObject> {
    let CachePlan::Managed { image, storage } = &platform.cache else {
        return Vec::new();
    };
    let o = &platform.ownership;
    let c = Component::Redis;
    let version = image.version();
    let container = Container {
        name: "redis".to_owned(),
        image: Some(image.to_string()),
        image_pull_policy: Some(platform.image_pull_policy.to_owned()),
        args: Some(
            ["--appendonly", "yes", "--dir", "/data", "--save", "60", "1"]
                .map(str::to_owned)
                .to_vec(),
        ),
        ports: Some(vec![pod::port("tcp-redis", REDIS_PORT)]),
        readiness_probe: Some(exec_probe(&["redis-cli", "ping"], 5)),
        liveness_probe: Some(exec_probe(&["redis-cli", "ping"], 10)),
        resources: Some(pod::requests_and_memory_limit("50m", "64Mi", "256Mi")),
        security_context: Some(pod::container_security()),
        volume_mounts: Some(vec![pod::mount("data", "/data"), pod::mount("tmp", "/tmp")]),
        ..Container::default()
    };
    let statefulset = StatefulSet {
        metadata: o.meta(o.object_name(c.name()), c.name(), &version),
        spec: Some(StatefulSetSpec {
            replicas: Some(1),
            service_name: Some(o.object_name(c.name())),
            selector: o.selector(c),
            persistent_volume_claim_retention_policy: Some(
                StatefulSetPersistentVolumeClaimRetentionPolicy {
                    when_deleted: Some("Delete".to_owned()),
                    when_scaled: Some("Delete".to_owned()),
                },
            ),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(o.pod_labels(c, &version)),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    service_account_name: Some(o.object_name(c.name())),
                    automount_service_account_token: Some(false),
                    security_context: Some(pod::pod_security(REDIS_UID)),
                    containers: vec![container],
                    volumes: Some(vec![pod::empty_dir("tmp")]),
                    ..PodSpec::default()
                }),
            },
            volume_claim_templates: Some(vec![data_claim(o, c, storage, None)]),
            ..StatefulSetSpec::default()
        }),
        ..StatefulSet::default()
    };
    vec![
        DesiredObject::ServiceAccount(pod::service_account(o, c.name(), &version)),
        DesiredObject::Service(headless_service(o, c, &version, "tcp-redis", REDIS_PORT)),
        DesiredObject::StatefulSet(statefulset),
    ]
}
