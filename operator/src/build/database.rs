//! PostgreSQL: the managed StatefulSet with its init script, headless Service, ServiceAccount
//! and credentials Secret; nothing but the credentials wiring when the database is External.
//!
//! Invariants: one database and one role per service (named after it); passwords live only in
//! the Secret and reach the init script as env vars; with `retainOnDelete` the volume claim
//! outlives the platform (StatefulSet PVC retention `whenDeleted: Retain`).

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{
    StatefulSet, StatefulSetPersistentVolumeClaimRetentionPolicy, StatefulSetSpec,
};
use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapVolumeSource, Container, EnvVar, ExecAction, PersistentVolumeClaim,
    PersistentVolumeClaimSpec, PodSpec, PodTemplateSpec, Probe, Secret, Service, ServicePort,
    ServiceSpec, Volume, VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::component::Component;
use super::env::{self, POSTGRES_PORT};
use super::labels::Ownership;
use super::object::DesiredObject;
use super::pod;
use super::secrets;
use super::validate::{DatabasePlan, ValidatedPlatform};

/// UID of the `postgres` user in the official alpine images.
const POSTGRES_UID: i64 = 70;
const INIT_SCRIPT: &str = "10-storefront-databases.sh";
/// Marks the credentials Secret that outlives the platform with its data.
pub const RETAINED_ANNOTATION: &str = "storefront.dev/retained";

/// Objects of the database; none but the Secret wiring when External.
pub fn build(platform: &ValidatedPlatform) -> Vec<DesiredObject> {
    let DatabasePlan::Managed {
        image,
        storage,
        storage_class,
        retain_on_delete,
        secret,
    } = &platform.database
    else {
        return Vec::new();
    };
    let o = &platform.ownership;
    let version = image.version();
    let name = o.object_name("postgres");
    let host = name.clone();
    let derived: BTreeMap<String, String> = Component::WITH_DATABASE
        .iter()
        .filter_map(|&c| {
            let password = secret.data.get(&secrets::password_key(c))?;
            let url = format!("postgres://{c}:{password}@{host}:{POSTGRES_PORT}/{c}");
            Some((secrets::database_url_key(c), url))
        })
        .collect();
    let init = ConfigMap {
        metadata: o.meta(o.object_name("postgres-init"), "postgres", &version),
        data: Some(BTreeMap::from([(INIT_SCRIPT.to_owned(), init_script())])),
        ..ConfigMap::default()
    };
    let statefulset = statefulset(
        o,
        &image.to_string(),
        &version,
        &secret.name,
        platform.image_pull_policy,
        storage,
        storage_class.as_deref(),
        *retain_on_delete,
    );
    let mut credentials = secrets::build(o, secret, &version, derived);
    if *retain_on_delete {
        keep_with_volumes(
            &mut credentials,
            "kept with the PostgreSQL volumes (database.retainOnDelete); delete both by hand \
             to drop the data",
        );
    }
    vec![
        DesiredObject::Secret(credentials),
        DesiredObject::ConfigMap(init),
        DesiredObject::ServiceAccount(pod::service_account(o, "postgres", &version)),
        DesiredObject::Service(headless_service(
            o,
            Component::Postgres,
            &version,
            "tcp-postgres",
            POSTGRES_PORT,
        )),
        DesiredObject::StatefulSet(statefulset),
    ]
}

/// Retained data keeps the credentials that open it: with no owner reference, garbage
/// collection leaves the Secret beside the volumes, and a re-created platform reuses it.
pub fn keep_with_volumes(credentials: &mut Secret, note: &str) {
    credentials.metadata.owner_references = None;
    credentials.metadata.annotations = Some(BTreeMap::from([(
        RETAINED_ANNOTATION.to_owned(),
        note.to_owned(),
    )]));
}

/// The claim retention of a store's StatefulSet: the volumes outlive the platform only when
/// asked to (`retainOnDelete`); scaling down never drops them.
pub fn claim_retention(retain_on_delete: bool) -> StatefulSetPersistentVolumeClaimRetentionPolicy {
    let when_deleted = if retain_on_delete { "Retain" } else { "Delete" };
    StatefulSetPersistentVolumeClaimRetentionPolicy {
        when_deleted: Some(when_deleted.to_owned()),
        when_scaled: Some("Retain".to_owned()),
    }
}

/// A headless Service (the StatefulSet's governing service) with one named TCP port.
pub fn headless_service(
    o: &Ownership,
    component: Component,
    version: &str,
    port_name: &str,
    port: i32,
) -> Service {
    let name = component.name();
    Service {
        metadata: o.meta(o.object_name(name), name, version),
        spec: Some(ServiceSpec {
            cluster_ip: Some("None".to_owned()),
            selector: Some(o.selector_labels(name)),
            ports: Some(vec![ServicePort {
                name: Some(port_name.to_owned()),
                port,
                target_port: Some(IntOrString::String(port_name.to_owned())),
                protocol: Some("TCP".to_owned()),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

/// A volume claim template named `data`. The API server refuses any change to a StatefulSet's
/// claim templates, so they carry no label that changes (no version); storageClassName cannot
/// change (CEL rule in the CRD), and a new size reaches the claims by resizing them.
pub fn data_claim(
    o: &Ownership,
    component: Component,
    storage: &Quantity,
    storage_class: Option<&str>,
) -> PersistentVolumeClaim {
    PersistentVolumeClaim {
        metadata: ObjectMeta {
            name: Some("data".to_owned()),
            labels: Some(o.fixed_labels(component.name())),
            ..ObjectMeta::default()
        },
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteOnce".to_owned()]),
            storage_class_name: storage_class.map(str::to_owned),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([("storage".to_owned(), storage.clone())])),
                ..VolumeResourceRequirements::default()
            }),
            ..PersistentVolumeClaimSpec::default()
        }),
        ..PersistentVolumeClaim::default()
    }
}

/// An exec probe.
pub fn exec_probe(command: &[&str], period_seconds: i32) -> Probe {
    Probe {
        exec: Some(ExecAction {
            command: Some(command.iter().map(|s| (*s).to_owned()).collect()),
        }),
        period_seconds: Some(period_seconds),
        timeout_seconds: Some(5),
        failure_threshold: Some(6),
        ..Probe::default()
    }
}

#[allow(clippy::too_many_arguments)]
fn statefulset(
    o: &Ownership,
    image: &str,
    version: &str,
    secret_name: &str,
    pull_policy: &str,
    storage: &Quantity,
    storage_class: Option<&str>,
    retain_on_delete: bool,
) -> StatefulSet {
    let c = Component::Postgres;
    let mut env_vars = vec![
        EnvVar {
            name: "POSTGRES_USER".to_owned(),
            value: Some("postgres".to_owned()),
            ..EnvVar::default()
        },
        env::from_secret(
            "POSTGRES_PASSWORD",
            secret_name,
            secrets::POSTGRES_PASSWORD_KEY,
        ),
        EnvVar {
            name: "PGDATA".to_owned(),
            value: Some("/var/lib/postgresql/data/pgdata".to_owned()),
            ..EnvVar::default()
        },
    ];
    env_vars.extend(
        Component::WITH_DATABASE
            .iter()
            .map(|&s| env::from_secret(&password_env(s), secret_name, &secrets::password_key(s))),
    );
    let container = Container {
        name: "postgres".to_owned(),
        image: Some(image.to_owned()),
        image_pull_policy: Some(pull_policy.to_owned()),
        ports: Some(vec![pod::port("tcp-postgres", POSTGRES_PORT)]),
        env: Some(env_vars),
        readiness_probe: Some(exec_probe(&["pg_isready", "-U", "postgres"], 5)),
        liveness_probe: Some(exec_probe(&["pg_isready", "-U", "postgres"], 10)),
        resources: Some(pod::requests_and_memory_limit("100m", "256Mi", "1Gi")),
        security_context: Some(pod::container_security()),
        volume_mounts: Some(vec![
            pod::mount("data", "/var/lib/postgresql/data"),
            pod::mount("init", "/docker-entrypoint-initdb.d"),
            pod::mount("run", "/var/run/postgresql"),
            pod::mount("tmp", "/tmp"),
        ]),
        ..Container::default()
    };
    StatefulSet {
        metadata: o.meta(o.object_name(c.name()), c.name(), version),
        spec: Some(StatefulSetSpec {
            replicas: Some(1),
            service_name: Some(o.object_name(c.name())),
            selector: o.selector(c),
            persistent_volume_claim_retention_policy: Some(claim_retention(retain_on_delete)),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(o.pod_labels(c, version)),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    service_account_name: Some(o.object_name(c.name())),
                    automount_service_account_token: Some(false),
                    security_context: Some(pod::pod_security(POSTGRES_UID)),
                    containers: vec![container],
                    volumes: Some(vec![
                        Volume {
                            name: "init".to_owned(),
                            config_map: Some(ConfigMapVolumeSource {
                                name: o.object_name("postgres-init"),
                                default_mode: Some(0o555),
                                ..ConfigMapVolumeSource::default()
                            }),
                            ..Volume::default()
                        },
                        pod::empty_dir("run"),
                        pod::empty_dir("tmp"),
                    ]),
                    ..PodSpec::default()
                }),
            },
            volume_claim_templates: Some(vec![data_claim(o, c, storage, storage_class)]),
            ..StatefulSetSpec::default()
        }),
        ..StatefulSet::default()
    }
}

fn password_env(service: Component) -> String {
    format!("{}_DB_PASSWORD", service.name().to_ascii_uppercase())
}

/// The first-start script: one role and one database per service. Passwords come from env
/// (alphanumeric, so safe inside single quotes).
fn init_script() -> String {
    let mut script = String::from(
        "#!/bin/sh\n# Generated by storefront-operator: one role and database per service.\nset -eu\n\
         create() {\n  psql -v ON_ERROR_STOP=1 --username \"$POSTGRES_USER\" --dbname postgres <<SQL\n\
         CREATE ROLE $1 LOGIN PASSWORD '$2';\nCREATE DATABASE $1 OWNER $1;\nSQL\n}\n",
    );
    for c in Component::WITH_DATABASE {
        script.push_str(&format!("create {c} \"${}\"\n", password_env(c)));
    }
    script
}
