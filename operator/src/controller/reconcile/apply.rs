//! Step 4, apply: server-side apply of every desired object, in order, except
//! - objects of a kind the cluster does not serve (Istio or the Prometheus Operator missing):
//!   reported, one problem per missing product, not attempted;
//! - objects unchanged since this process last applied them: the desired object hashes the same
//!   as then, and the stored object is still at the generation (or resourceVersion) that apply
//!   returned, or still holds every field this pass would write (an HPA scaling a Deployment, or
//!   a controller writing an HPA's status, moves those markers without touching our fields).
//!   So a steady state sends no writes, and a hand edit of one of our fields is repaired. After
//!   a restart the first pass applies everything once, which also settles field ownership.
//!
//! One failing object does not stop the others; each failure is reported with the API server's
//! message. Invariant: an [`AppliedObjects`] can only be made here, so status and cleanup never
//! act on objects that were built but not applied.

use std::collections::{BTreeSet, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::Mutex;

use kube::api::DynamicObject;
use serde_json::Value;
use tracing::{debug, info, warn};

use crate::build::object::OptionalApi;
use crate::build::{DesiredObject, OwnedKind};
use crate::controller::api::{ApiError, ClusterApi};
use crate::controller::status::Problem;

/// Where a stored object stood right after this process applied it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Applied {
    hash: u64,
    marker: String,
}

type Key = (String, OwnedKind, String);

/// What this process last applied, per object (lost on restart: the first pass applies all).
#[derive(Default)]
pub struct ApplyMemory(Mutex<HashMap<Key, Applied>>);

impl ApplyMemory {
    fn get(&self, key: &Key) -> Option<Applied> {
        self.0.lock().ok()?.get(key).cloned()
    }

    fn put(&self, key: Key, applied: Applied) {
        if let Ok(mut map) = self.0.lock() {
            map.insert(key, applied);
        }
    }
}

/// What the apply step did.
#[derive(Debug)]
pub struct AppliedObjects {
    desired: BTreeSet<(OwnedKind, String)>,
    /// Objects applied, or left alone because they were unchanged.
    applied: BTreeSet<(OwnedKind, String)>,
    /// Writes actually sent.
    pub sent: usize,
    /// Objects not applied and why (for the Degraded condition).
    pub problems: Vec<Problem>,
    /// How many objects failed to apply (as opposed to skipped kinds).
    pub failed: usize,
    /// The owned objects as they stand after this step: the listed ones, replaced by what apply
    /// returned for the objects it wrote.
    pub stored: Vec<(OwnedKind, DynamicObject)>,
}

impl AppliedObjects {
    pub fn contains(&self, kind: OwnedKind, name: &str) -> bool {
        self.applied.contains(&(kind, name.to_owned()))
    }

    /// Whether the object is wanted by this pass (applied or not).
    pub fn is_desired(&self, kind: OwnedKind, name: &str) -> bool {
        self.desired.contains(&(kind, name.to_owned()))
    }

    pub fn len(&self) -> usize {
        self.applied.len()
    }

    pub fn is_empty(&self) -> bool {
        self.applied.is_empty()
    }
}

fn hash(object: &DesiredObject) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    object.to_json().to_string().hash(&mut h);
    h.finish()
}

/// The generation when the kind has one (its status changes do not move it), else the
/// resourceVersion.
fn marker(object: &DynamicObject) -> String {
    match object.metadata.generation {
        Some(g) if g > 0 => format!("g{g}"),
        _ => format!(
            "rv{}",
            object.metadata.resource_version.as_deref().unwrap_or("")
        ),
    }
}

/// Whether the API server refused a StatefulSet update for touching its immutable fields.
fn needs_recreate(kind: OwnedKind, error: &ApiError) -> bool {
    kind == OwnedKind::StatefulSet
        && error.code == Some(422)
        && error
            .message
            .contains("Forbidden: updates to statefulset spec")
}

/// The path of the first field of `desired` that `stored` does not hold with the same value
/// (the server may add fields and defaults; numbers and strings compare by their text, as
/// IntOrString values do), or `None` when it holds them all.
pub fn difference(stored: &Value, desired: &Value, path: &str) -> Option<String> {
    match (stored, desired) {
        (_, Value::Null) => None,
        (Value::Object(s), Value::Object(d)) => d.iter().find_map(|(k, v)| {
            let here = format!("{path}.{k}");
            match s.get(k) {
                Some(sv) => difference(sv, v, &here),
                None if v.is_null() => None,
                None => Some(here),
            }
        }),
        (Value::Array(s), Value::Array(d)) if s.len() == d.len() => s
            .iter()
            .zip(d)
            .enumerate()
            .find_map(|(i, (sv, dv))| difference(sv, dv, &format!("{path}[{i}]"))),
        (Value::Number(a), Value::Number(b)) if a.as_f64() == b.as_f64() => None,
        (Value::String(a), Value::Number(b)) | (Value::Number(b), Value::String(a))
            if *a == b.to_string() =>
        {
            None
        }
        (a, b) if a == b => None,
        _ => Some(path.to_owned()),
    }
}

fn named<'a>(
    owned: &'a [(OwnedKind, DynamicObject)],
    kind: OwnedKind,
    name: &str,
) -> Option<&'a DynamicObject> {
    owned
        .iter()
        .find(|(k, o)| *k == kind && o.metadata.name.as_deref() == Some(name))
        .map(|(_, o)| o)
}

/// Why `object` must be applied, or `None` when the cluster already holds what this process
/// applied last (`last`) and nobody changed our fields since.
fn reason_to_apply(
    last: Option<&Applied>,
    stored: Option<&DynamicObject>,
    object: &DesiredObject,
    desired_hash: u64,
) -> Option<&'static str> {
    let (last, stored) = match (last, stored) {
        (None, _) => return Some("not applied by this process yet"),
        (_, None) => return Some("missing"),
        (Some(last), Some(stored)) => (last, stored),
    };
    if last.hash != desired_hash {
        return Some("changed");
    }
    if marker(stored) == last.marker {
        return None;
    }
    let stored = serde_json::to_value(stored).unwrap_or_default();
    let mut desired = object.to_json();
    // Items of a LIST carry no apiVersion and kind.
    if let Some(map) = desired.as_object_mut() {
        map.remove("apiVersion");
        map.remove("kind");
    }
    difference(&stored, &desired, "").map(|field| {
        debug!(kind = object.kind().kind(), name = object.name(), %field, "a field of ours was changed in the cluster");
        "edited in the cluster"
    })
}

/// One problem per product whose kinds the cluster does not serve, naming the kinds and the
/// two ways out (install it, or stop asking for its objects).
fn missing_api_problems(missing: &[OwnedKind]) -> Vec<Problem> {
    let names = |api: OptionalApi| {
        missing
            .iter()
            .filter(|k| k.optional_api() == Some(api))
            .map(|k| k.kind())
            .collect::<Vec<_>>()
    };
    let mut out = Vec::new();
    let istio = names(OptionalApi::Istio);
    if !istio.is_empty() {
        out.push(Problem {
            reason: "IstioNotInstalled",
            message: format!(
                "Istio is not installed (or older than its v1 APIs): the cluster serves no {}, \
                 so the mesh objects were not applied and everything else was; install Istio \
                 (see istio/README.md) or remove spec.mesh",
                istio.join(", ")
            ),
        });
    }
    let prometheus = names(OptionalApi::PrometheusOperator);
    if !prometheus.is_empty() {
        out.push(Problem {
            reason: "PrometheusOperatorNotInstalled",
            message: format!(
                "the Prometheus Operator's CRDs are not installed: the cluster serves no {} \
                 (monitoring.coreos.com/v1), so those objects were not applied and everything \
                 else was; install the Prometheus Operator or set \
                 spec.observability.prometheus.monitors to false",
                prometheus.join(", ")
            ),
        });
    }
    out
}

/// Applies `objects`; see the module docs for what is skipped.
pub async fn apply(
    api: &dyn ClusterApi,
    objects: &[DesiredObject],
    owned: Vec<(OwnedKind, DynamicObject)>,
    unserved: &BTreeSet<OwnedKind>,
    memory: &ApplyMemory,
) -> AppliedObjects {
    let mut out = AppliedObjects {
        desired: objects
            .iter()
            .map(|o| (o.kind(), o.name().to_owned()))
            .collect(),
        applied: BTreeSet::new(),
        sent: 0,
        problems: Vec::new(),
        failed: 0,
        stored: owned,
    };
    let mut missing_kinds: Vec<OwnedKind> = Vec::new();
    for object in objects {
        let kind = object.kind();
        let name = object.name().to_owned();
        if unserved.contains(&kind) {
            if !missing_kinds.contains(&kind) {
                missing_kinds.push(kind);
            }
            continue;
        }
        let namespace = object.meta().namespace.clone().unwrap_or_default();
        let key = (namespace, kind, name.clone());
        let desired_hash = hash(object);
        let why = reason_to_apply(
            memory.get(&key).as_ref(),
            named(&out.stored, kind, &name),
            object,
            desired_hash,
        );
        let Some(why) = why else {
            out.applied.insert((kind, name));
            continue;
        };
        debug!(kind = kind.kind(), %name, why, "applying");
        out.sent += 1;
        let mut result = api.apply(object).await;
        if let Err(error) = &result
            && needs_recreate(kind, error)
        {
            // A StatefulSet's claim templates cannot change in place (an older operator wrote
            // the version label into them, or the storage changed): delete it leaving its pods
            // and claims, and create it again; it adopts both by name and selector.
            info!(%name, %error, "recreating the StatefulSet; its pods and volumes stay");
            result = match api.delete_orphaning(kind, &key.0, &name).await {
                Ok(()) => api.apply(object).await,
                Err(delete_error) => Err(delete_error),
            };
        }
        match result {
            Ok(stored) => {
                memory.put(
                    key,
                    Applied {
                        hash: desired_hash,
                        marker: marker(&stored),
                    },
                );
                out.stored
                    .retain(|(k, o)| !(*k == kind && o.metadata.name.as_deref() == Some(&name)));
                out.stored.push((kind, stored));
                out.applied.insert((kind, name));
            }
            Err(error) => {
                warn!(kind = kind.kind(), %name, %error, "apply failed; applying the rest");
                out.failed += 1;
                out.problems.push(Problem {
                    reason: "ApplyFailed",
                    message: format!("{} `{name}` was refused: {error}", kind.kind()),
                });
            }
        }
    }
    out.problems
        .splice(0..0, missing_api_problems(&missing_kinds));
    debug!(applied = out.applied.len(), sent = out.sent, "applied");
    out
}

#[cfg(test)]
mod tests {
    use super::difference;
    use serde_json::{Value, json};

    fn holds(stored: &Value, desired: &Value) -> bool {
        difference(stored, desired, "").is_none()
    }

    #[test]
    fn a_stored_object_with_server_additions_still_holds_what_we_apply() {
        let desired = json!({"spec": {"template": {"ports": [{"port": 8080, "name": "http"}]}}});
        let stored = json!({
            "spec": {"replicas": 2, "template": {"ports": [{"port": 8080, "name": "http", "protocol": "TCP"}]}},
            "status": {"readyReplicas": 2},
        });
        assert!(holds(&stored, &desired));
        assert!(holds(
            &json!({"targetPort": "8080"}),
            &json!({"targetPort": 8080})
        ));
    }

    #[test]
    fn a_changed_field_or_a_different_list_does_not_hold() {
        let desired = json!({"spec": {"image": "catalog:0.2.0", "args": ["a"]}});
        assert!(!holds(
            &json!({"spec": {"image": "catalog:0.1.0", "args": ["a"]}}),
            &desired
        ));
        assert!(!holds(
            &json!({"spec": {"image": "catalog:0.2.0", "args": ["a", "b"]}}),
            &desired
        ));
        assert!(!holds(&json!({"spec": {"args": ["a"]}}), &desired));
        assert_eq!(
            difference(
                &json!({"spec": {"image": "x", "args": ["b"]}}),
                &json!({"spec": {"args": ["a"]}}),
                ""
            ),
            Some(".spec.args[0]".to_owned())
        );
    }
}
