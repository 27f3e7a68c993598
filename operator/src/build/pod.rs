//! Pieces every pod of the platform shares: the restricted security context, the writable
//! `/tmp`, HTTP probes, the service account and the config hash annotation.
//!
//! Invariant: every container passes the Pod Security Standard "restricted" profile.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Capabilities, ContainerPort, EmptyDirVolumeSource, HTTPGetAction, PodSecurityContext, Probe,
    ResourceRequirements, SeccompProfile, SecurityContext, ServiceAccount, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::labels::Ownership;

/// Annotation whose change rolls pods when their configuration changes.
pub const CONFIG_HASH_ANNOTATION: &str = "storefront.dev/config-hash";

/// Pod-level security: non-root with a fixed uid/gid, RuntimeDefault seccomp.
pub fn pod_security(uid: i64) -> PodSecurityContext {
    PodSecurityContext {
        run_as_non_root: Some(true),
        run_as_user: Some(uid),
        run_as_group: Some(uid),
        fs_group: Some(uid),
        seccomp_profile: Some(runtime_default()),
        ..PodSecurityContext::default()
    }
}

/// CPU and memory requests plus a memory limit (no CPU limit: throttling hurts tail latency more
/// than a noisy neighbour does).
pub fn requests_and_memory_limit(
    cpu: &str,
    memory: &str,
    memory_limit: &str,
) -> ResourceRequirements {
    ResourceRequirements {
        requests: Some(BTreeMap::from([
            ("cpu".to_owned(), Quantity(cpu.to_owned())),
            ("memory".to_owned(), Quantity(memory.to_owned())),
        ])),
        limits: Some(BTreeMap::from([(
            "memory".to_owned(),
            Quantity(memory_limit.to_owned()),
        )])),
        ..ResourceRequirements::default()
    }
}

/// Container-level security: read-only root, no privilege escalation, no capabilities.
pub fn container_security() -> SecurityContext {
    SecurityContext {
        run_as_non_root: Some(true),
        read_only_root_filesystem: Some(true),
        allow_privilege_escalation: Some(false),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".to_owned()]),
            ..Capabilities::default()
        }),
        seccomp_profile: Some(runtime_default()),
        ..SecurityContext::default()
    }
}

fn runtime_default() -> SeccompProfile {
    SeccompProfile {
        type_: "RuntimeDefault".to_owned(),
        ..SeccompProfile::default()
    }
}

/// An emptyDir volume named `name`.
pub fn empty_dir(name: &str) -> Volume {
    Volume {
        name: name.to_owned(),
        empty_dir: Some(EmptyDirVolumeSource::default()),
        ..Volume::default()
    }
}

/// A mount of volume `name` at `path`.
pub fn mount(name: &str, path: &str) -> VolumeMount {
    VolumeMount {
        name: name.to_owned(),
        mount_path: path.to_owned(),
        ..VolumeMount::default()
    }
}

/// A named container port.
pub fn port(name: &str, number: i32) -> ContainerPort {
    ContainerPort {
        name: Some(name.to_owned()),
        container_port: number,
        protocol: Some("TCP".to_owned()),
        ..ContainerPort::default()
    }
}

/// An HTTP GET probe on the named port `http`.
pub fn http_probe(path: &str, period_seconds: i32, failure_threshold: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.to_owned()),
            port: IntOrString::String("http".to_owned()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period_seconds),
        failure_threshold: Some(failure_threshold),
        timeout_seconds: Some(2),
        ..Probe::default()
    }
}

/// A ServiceAccount that mounts no API token (no workload talks to the API server).
pub fn service_account(ownership: &Ownership, component: &str, version: &str) -> ServiceAccount {
    ServiceAccount {
        metadata: ownership.meta(ownership.object_name(component), component, version),
        automount_service_account_token: Some(false),
        ..ServiceAccount::default()
    }
}

/// A stable (FNV-1a 64) hash of configuration, as 16 hex digits.
pub fn config_hash<'a>(parts: impl IntoIterator<Item = &'a str>) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in part.bytes().chain([0u8]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{hash:016x}")
}

/// Path of every service's Prometheus metrics.
pub const METRICS_PATH: &str = "/metrics";

/// The `prometheus.io/*` annotations of a pod serving `/metrics` on `port`, for annotation-based
/// scrape configs. With an Istio sidecar, its injector rewrites them to the agent's merged
/// endpoint (15020, `/stats/prometheus`) and the agent scrapes the values written here, so the
/// application's metrics survive STRICT mTLS; nothing else the operator writes uses these keys.
pub fn scrape_annotations(port: i32) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("prometheus.io/scrape".to_owned(), "true".to_owned()),
        ("prometheus.io/port".to_owned(), port.to_string()),
        ("prometheus.io/path".to_owned(), METRICS_PATH.to_owned()),
    ])
}

/// The pod annotations carrying the config hash.
pub fn hash_annotation(hash: String) -> BTreeMap<String, String> {
    BTreeMap::from([(CONFIG_HASH_ANNOTATION.to_owned(), hash)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_hash_is_stable_and_separates_parts() {
        assert_eq!(config_hash(["a", "b"]), config_hash(["a", "b"]));
        assert_ne!(config_hash(["ab", ""]), config_hash(["a", "b"]));
        assert_eq!(config_hash([""]).len(), 16);
    }
}
