//! RabbitMQ, the optional order-events broker: the managed single-node StatefulSet with its
//! headless Service, ServiceAccount and credentials Secret; nothing when External or when the
//! events go over the Redis stream (services then read RABBITMQ_URL from the referenced Secret,
//! see `env.rs`).
//!
//! Invariants: the password lives only in the Secret (the broker reads it from a secretKeyRef,
//! the services get the whole URL from one); the node name is fixed (`rabbit@localhost`), so the
//! data on the volume belongs to the same node after every reschedule; with `retainOnDelete` the
//! claim and the Secret outlive the platform, as PostgreSQL's do.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetSpec};
use k8s_openapi::api::core::v1::{Container, EnvVar, PodSpec, PodTemplateSpec, Probe};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::component::Component;
use super::database::{
    claim_retention, data_claim, exec_probe, headless_service, keep_with_volumes,
};
use super::env::{self, AMQP_PORT};
use super::object::DesiredObject;
use super::pod;
use super::secrets;
use super::validate::{EventsPlan, RabbitMqPlan, ValidatedPlatform};

/// UID of the `rabbitmq` user in the official image, which the registry's image keeps.
const RABBITMQ_UID: i64 = 999;
/// The broker's home: the Erlang cookie and the message store, on the data volume.
const DATA_DIR: &str = "/var/lib/rabbitmq";

/// Objects of the broker; none unless the bus is RabbitMQ and the broker Managed.
pub fn build(platform: &ValidatedPlatform) -> Vec<DesiredObject> {
    let EventsPlan::RabbitMq(RabbitMqPlan::Managed {
        image,
        storage,
        storage_class,
        retain_on_delete,
        secret,
    }) = &platform.events
    else {
        return Vec::new();
    };
    let o = &platform.ownership;
    let c = Component::RabbitMq;
    let version = image.version();
    let name = o.object_name(c.name());

    let derived = match (
        secret.data.get(secrets::RABBITMQ_USER_KEY),
        secret.data.get(secrets::RABBITMQ_PASSWORD_KEY),
    ) {
        // Generated values are alphanumeric, so they sit in the URL unescaped; `%2f` is the
        // default virtual host `/`.
        (Some(user), Some(password)) => BTreeMap::from([(
            secrets::RABBITMQ_URL_KEY.to_owned(),
            format!("amqp://{user}:{password}@{name}:{AMQP_PORT}/%2f"),
        )]),
        _ => BTreeMap::new(),
    };
    let mut credentials = secrets::build(o, secret, &version, derived);
    if *retain_on_delete {
        keep_with_volumes(
            &mut credentials,
            "kept with the RabbitMQ volume (events.rabbitmq.retainOnDelete); delete both by \
             hand to drop the queued events",
        );
    }

    let plain = |name: &str, value: &str| EnvVar {
        name: name.to_owned(),
        value: Some(value.to_owned()),
        ..EnvVar::default()
    };
    let container = Container {
        name: c.name().to_owned(),
        image: Some(image.to_string()),
        image_pull_policy: Some(platform.image_pull_policy.to_owned()),
        ports: Some(vec![pod::port("tcp-amqp", AMQP_PORT)]),
        env: Some(vec![
            // Created on the first start only (an empty data volume), like PostgreSQL's roles.
            env::from_secret(
                "RABBITMQ_DEFAULT_USER",
                &secret.name,
                secrets::RABBITMQ_USER_KEY,
            ),
            env::from_secret(
                "RABBITMQ_DEFAULT_PASS",
                &secret.name,
                secrets::RABBITMQ_PASSWORD_KEY,
            ),
            plain("RABBITMQ_NODENAME", "rabbit@localhost"),
            // To stdout, not /var/log/rabbitmq: the root filesystem is read-only.
            plain("RABBITMQ_LOGS", "-"),
            plain("HOME", DATA_DIR),
        ]),
        readiness_probe: Some(diagnostics_probe(
            &["rabbitmq-diagnostics", "-q", "check_port_connectivity"],
            10,
        )),
        liveness_probe: Some(diagnostics_probe(
            &["rabbitmq-diagnostics", "-q", "ping"],
            30,
        )),
        resources: Some(pod::requests_and_memory_limit("100m", "256Mi", "1Gi")),
        security_context: Some(pod::container_security()),
        volume_mounts: Some(vec![
            pod::mount("data", DATA_DIR),
            pod::mount("tmp", "/tmp"),
        ]),
        ..Container::default()
    };
    let statefulset = StatefulSet {
        metadata: o.meta(name.clone(), c.name(), &version),
        spec: Some(StatefulSetSpec {
            replicas: Some(1),
            service_name: Some(name.clone()),
            selector: o.selector(c),
            persistent_volume_claim_retention_policy: Some(claim_retention(*retain_on_delete)),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(o.pod_labels(c, &version)),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    service_account_name: Some(name),
                    automount_service_account_token: Some(false),
                    security_context: Some(pod::pod_security(RABBITMQ_UID)),
                    // The broker flushes its queues on SIGTERM; give it the time to.
                    termination_grace_period_seconds: Some(60),
                    containers: vec![container],
                    volumes: Some(vec![pod::empty_dir("tmp")]),
                    ..PodSpec::default()
                }),
            },
            volume_claim_templates: Some(vec![data_claim(o, c, storage, storage_class.as_deref())]),
            ..StatefulSetSpec::default()
        }),
        ..StatefulSet::default()
    };
    vec![
        DesiredObject::Secret(credentials),
        DesiredObject::ServiceAccount(pod::service_account(o, c.name(), &version)),
        DesiredObject::Service(headless_service(o, c, &version, "tcp-amqp", AMQP_PORT)),
        DesiredObject::StatefulSet(statefulset),
    ]
}

/// `rabbitmq-diagnostics` starts an Erlang VM for every call: seconds, not milliseconds.
fn diagnostics_probe(command: &[&str], period_seconds: i32) -> Probe {
    Probe {
        timeout_seconds: Some(15),
        ..exec_probe(command, period_seconds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::secrets::CountingSecrets;
    use crate::build::validate::{ClusterInputs, validate};
    use crate::crd::EcommercePlatform;
    use k8s_openapi::api::core::v1::Secret;

    fn platform(events: serde_json::Value) -> ValidatedPlatform {
        let platform: EcommercePlatform = serde_json::from_value(serde_json::json!({
            "apiVersion": "storefront.dev/v1alpha1",
            "kind": "EcommercePlatform",
            "metadata": {"name": "shop", "namespace": "shop"},
            "spec": {"version": "0.1.0", "events": events},
        }))
        .unwrap();
        validate(
            &platform,
            &ClusterInputs::offline(),
            &mut CountingSecrets::default(),
        )
        .unwrap()
    }

    fn managed() -> Vec<DesiredObject> {
        build(&platform(serde_json::json!({"bus": "RabbitMQ"})))
    }

    fn statefulset(objects: &[DesiredObject]) -> &StatefulSet {
        objects
            .iter()
            .find_map(|o| match o {
                DesiredObject::StatefulSet(s) => Some(s),
                _ => None,
            })
            .unwrap()
    }

    fn secret(objects: &[DesiredObject]) -> &Secret {
        objects
            .iter()
            .find_map(|o| match o {
                DesiredObject::Secret(s) => Some(s),
                _ => None,
            })
            .unwrap()
    }

    #[test]
    fn the_redis_bus_and_an_external_broker_run_nothing() {
        assert!(build(&platform(serde_json::json!({}))).is_empty());
        let external = platform(serde_json::json!({
            "bus": "RabbitMQ",
            "rabbitmq": {"mode": "External", "secretRef": {"name": "amqp"}},
        }));
        assert!(build(&external).is_empty());
    }

    #[test]
    fn a_managed_broker_is_a_statefulset_with_a_data_claim_from_the_registry_image() {
        let objects = managed();
        let kinds: Vec<_> = objects.iter().map(|o| (o.kind(), o.name())).collect();
        assert_eq!(kinds.len(), 4, "{kinds:?}");
        let s = statefulset(&objects);
        let spec = s.spec.as_ref().unwrap();
        assert_eq!(spec.service_name.as_deref(), Some("shop-rabbitmq"));
        let pod = spec.template.spec.as_ref().unwrap();
        let container = &pod.containers[0];
        assert_eq!(
            container.image.as_deref(),
            Some("ghcr.io/storefront-dev/storefront/rabbitmq:3.10-bookworm")
        );
        let claims = spec.volume_claim_templates.as_ref().unwrap();
        assert_eq!(claims[0].metadata.name.as_deref(), Some("data"));
        assert!(
            !claims[0]
                .metadata
                .labels
                .as_ref()
                .unwrap()
                .contains_key(crate::build::labels::VERSION),
            "claim templates cannot change, so they carry no version"
        );
        let retention = spec
            .persistent_volume_claim_retention_policy
            .as_ref()
            .unwrap();
        assert_eq!(retention.when_deleted.as_deref(), Some("Delete"));
        let mounts = container.volume_mounts.as_ref().unwrap();
        assert!(
            mounts
                .iter()
                .any(|m| m.name == "data" && m.mount_path == DATA_DIR)
        );
    }

    #[test]
    fn the_broker_reads_its_password_from_the_secret_and_never_in_plain_env() {
        let objects = managed();
        let container = &statefulset(&objects)
            .spec
            .as_ref()
            .unwrap()
            .template
            .spec
            .as_ref()
            .unwrap()
            .containers[0];
        let env = container.env.as_ref().unwrap();
        let pass = env
            .iter()
            .find(|e| e.name == "RABBITMQ_DEFAULT_PASS")
            .unwrap();
        assert!(pass.value.is_none());
        let key = pass
            .value_from
            .as_ref()
            .unwrap()
            .secret_key_ref
            .as_ref()
            .unwrap();
        assert_eq!(
            (key.name.as_str(), key.key.as_str()),
            ("shop-rabbitmq", "password")
        );
        assert!(
            env.iter()
                .filter_map(|e| e.value.as_deref())
                .all(|v| !v.contains("generated-")),
            "{env:?}"
        );
    }

    #[test]
    fn the_secret_holds_user_password_and_the_url_the_services_read() {
        let objects = managed();
        let data = secret(&objects).data.as_ref().unwrap();
        let text = |k: &str| String::from_utf8(data[k].0.clone()).unwrap();
        let password = text("password");
        assert_eq!(text("username"), "storefront");
        assert_eq!(
            text("url"),
            format!("amqp://storefront:{password}@shop-rabbitmq:5672/%2f")
        );
        assert!(secret(&objects).metadata.owner_references.is_some());
    }

    #[test]
    fn retain_on_delete_keeps_the_claim_and_the_secret_that_opens_it() {
        let objects = build(&platform(serde_json::json!({
            "bus": "RabbitMQ",
            "rabbitmq": {"retainOnDelete": true, "storage": "5Gi", "storageClassName": "fast"},
        })));
        let spec = statefulset(&objects).spec.as_ref().unwrap();
        assert_eq!(
            spec.persistent_volume_claim_retention_policy
                .as_ref()
                .unwrap()
                .when_deleted
                .as_deref(),
            Some("Retain")
        );
        let claim = spec.volume_claim_templates.as_ref().unwrap()[0]
            .spec
            .as_ref()
            .unwrap();
        assert_eq!(claim.storage_class_name.as_deref(), Some("fast"));
        let retained = secret(&objects);
        assert!(retained.metadata.owner_references.is_none());
        assert!(
            retained
                .metadata
                .annotations
                .as_ref()
                .unwrap()
                .contains_key(crate::build::database::RETAINED_ANNOTATION)
        );
    }
}
