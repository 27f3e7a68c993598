//! The desired state, as pure functions: a [`ValidatedPlatform`] in, the ordered list of objects
//! the cluster should hold out. No client, no clock, no randomness (secrets are resolved by the
//! validate step through a `SecretSource`).
//!
//! Invariant: the output order is stable (kind in apply order, then name), so `render` output
//! and snapshots are byte-for-byte reproducible. The only input besides the spec is `Traffic`,
//! the canary engine's decision of where each tracked service's traffic goes.

pub mod alerts;
pub mod autoscaling;
pub mod cache;
pub mod component;
pub mod dashboards;
pub mod database;
pub mod env;
pub mod image;
pub mod labels;
pub mod mesh;
pub mod monitoring;
pub mod network_policy;
pub mod object;
pub mod pod;
pub mod rabbitmq;
pub mod replicas;
pub mod secrets;
pub mod shutdown;
pub mod tracing;
pub mod traffic;
pub mod validate;
pub mod workloads;

use std::collections::BTreeMap;

pub use component::Component;
pub use object::{DesiredObject, OwnedKind};
pub use traffic::Traffic;
pub use validate::{ClusterInputs, ValidatedPlatform, ValidationError, validate};

/// Every object of the platform with no rollout in flight, in apply order.
pub fn build(platform: &ValidatedPlatform) -> Vec<DesiredObject> {
    build_with(platform, &Traffic::default())
}

/// Every object of the platform for the given traffic split, in apply order.
pub fn build_with(platform: &ValidatedPlatform, traffic: &Traffic) -> Vec<DesiredObject> {
    let o = &platform.ownership;
    let mut objects = network_policy::build(platform);
    objects.push(DesiredObject::Secret(secrets::build(
        o,
        &platform.jwt,
        &o.platform_version,
        BTreeMap::new(),
    )));
    if let Some(admin) = &platform.admin_generated {
        objects.push(DesiredObject::Secret(secrets::build(
            o,
            admin,
            &o.platform_version,
            BTreeMap::new(),
        )));
    }
    objects.extend(database::build(platform));
    objects.extend(cache::build(platform));
    objects.extend(rabbitmq::build(platform));
    for service in &platform.services {
        objects.extend(workloads::build(platform, service, traffic));
        objects.extend(autoscaling::build(platform, service));
    }
    objects.extend(tracing::build(platform));
    objects.extend(mesh::build(platform, traffic));
    objects.extend(monitoring::build(platform));
    objects.extend(alerts::build(platform));
    objects.extend(dashboards::build(platform));
    objects.sort_by(|a, b| (a.kind(), a.name()).cmp(&(b.kind(), b.name())));
    objects
}

/// The objects as a YAML stream (`---` separated), as `storefront-operator render` prints them.
pub fn to_yaml_stream(objects: &[DesiredObject]) -> String {
    let mut out = String::new();
    for object in objects {
        out.push_str("---\n");
        out.push_str(&crate::yaml::to_document(&object.to_json()));
    }
    out
}
