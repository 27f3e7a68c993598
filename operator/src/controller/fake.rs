//! In-memory `ClusterApi` for tests: a map of objects plus a log of every write, with switches
//! to inject API failures. It behaves like an API server where it matters to the pipeline:
//! apply keeps the stored status, an apply that changes nothing is a no-op, a spec change bumps
//! `generation`, every write gets a new `resourceVersion`, lists filter by label selector,
//! deletes of missing objects answer 404, and uninstalled kinds answer 404.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use async_trait::async_trait;
use k8s_openapi::api::core::v1::Secret;
use kube::api::DynamicObject;
use serde_json::{Value, json};

use super::api::{ApiError, ClusterApi, PlatformEvent};
use crate::build::{DesiredObject, OwnedKind};
use crate::crd::{EcommercePlatform, PlatformStatus};

type Key = (OwnedKind, String, String);

/// Everything the fake saw and holds.
#[derive(Default)]
pub struct FakeState {
    pub objects: BTreeMap<Key, Value>,
    pub applies: Vec<(OwnedKind, String)>,
    pub deletes: Vec<(OwnedKind, String)>,
    pub status_writes: Vec<PlatformStatus>,
    /// Every apply and delete in order, with the applied object.
    pub log: Vec<Write>,
    pub events: Vec<PlatformEvent>,
    /// Answer every apply of this kind with this error.
    pub fail_apply: Option<(OwnedKind, ApiError)>,
    /// Changes every applied object before storing it (a mutating webhook, in effect).
    pub mutate_on_apply: Option<fn(&mut Value)>,
    /// Answer lists of these kinds with 403.
    pub forbidden_lists: BTreeSet<OwnedKind>,
    /// Kinds the "API server" does not serve (their CRDs are not installed): discovery says
    /// so, lists and applies answer 404.
    pub unserved: BTreeSet<OwnedKind>,
    /// The last resourceVersion handed out.
    pub resource_version: u64,
    /// Refuse changes to a stored StatefulSet's volumeClaimTemplates with a 422, as the API
    /// server does.
    pub immutable_claim_templates: bool,
    /// Annotations removed from the platform, as (key, value).
    pub removed_annotations: Vec<(String, String)>,
    /// Objects deleted with their dependents orphaned.
    pub orphaning_deletes: Vec<(OwnedKind, String)>,
}

/// One write the fake received.
#[derive(Clone, Debug)]
pub enum Write {
    Apply(OwnedKind, String, Value),
    Delete(OwnedKind, String),
}

#[derive(Default)]
pub struct FakeCluster {
    pub state: Mutex<FakeState>,
}

impl FakeCluster {
    pub fn with<R>(&self, f: impl FnOnce(&mut FakeState) -> R) -> R {
        f(&mut self.state.lock().unwrap())
    }

    /// Store an object as if someone else created it.
    pub fn insert(&self, kind: OwnedKind, namespace: &str, object: Value) {
        let name = object["metadata"]["name"].as_str().unwrap().to_owned();
        self.with(|s| s.objects.insert((kind, namespace.to_owned(), name), object));
    }

    /// Make a workload report `ready` ready pods out of its desired replicas, fully rolled out.
    pub fn set_ready(&self, kind: OwnedKind, namespace: &str, name: &str, ready: i64) {
        self.with(|s| {
            let object = s
                .objects
                .get_mut(&(kind, namespace.to_owned(), name.to_owned()))
                .unwrap();
            let desired = object["spec"]["replicas"].as_i64().unwrap_or(1);
            let generation = object["metadata"]["generation"].as_i64().unwrap_or(1);
            object["status"] = json!({
                "observedGeneration": generation,
                "replicas": desired,
                "readyReplicas": ready,
                "updatedReplicas": desired,
            });
        });
    }

    /// Names of stored objects of a kind.
    pub fn names(&self, kind: OwnedKind) -> Vec<String> {
        self.with(|s| {
            s.objects
                .keys()
                .filter(|(k, _, _)| *k == kind)
                .map(|(_, _, n)| n.clone())
                .collect()
        })
    }

    pub fn get(&self, kind: OwnedKind, namespace: &str, name: &str) -> Option<Value> {
        self.with(|s| {
            s.objects
                .get(&(kind, namespace.to_owned(), name.to_owned()))
                .cloned()
        })
    }
}

fn matches_selector(object: &Value, selector: &str) -> bool {
    selector.split(',').filter(|s| !s.is_empty()).all(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        object["metadata"]["labels"][k].as_str() == Some(v)
    })
}

#[async_trait]
impl ClusterApi for FakeCluster {
    async fn get_secret(&self, namespace: &str, name: &str) -> Result<Option<Secret>, ApiError> {
        Ok(self
            .get(OwnedKind::Secret, namespace, name)
            .map(|v| serde_json::from_value(v).unwrap()))
    }

    async fn serves(&self, kind: OwnedKind) -> Result<bool, ApiError> {
        Ok(self.with(|s| !s.unserved.contains(&kind)))
    }

    async fn apply(&self, object: &DesiredObject) -> Result<DynamicObject, ApiError> {
        self.with(|s| {
            if s.unserved.contains(&object.kind()) {
                return Err(ApiError::status(
                    404,
                    "the server could not find the requested resource",
                ));
            }
            if let Some((kind, error)) = &s.fail_apply
                && *kind == object.kind()
            {
                return Err(error.clone());
            }
            let namespace = object.meta().namespace.clone().unwrap_or_default();
            let key = (object.kind(), namespace, object.name().to_owned());
            let mut value = object.to_json();
            if let Some(mutate) = s.mutate_on_apply {
                mutate(&mut value);
            }
            s.log.push(Write::Apply(
                object.kind(),
                object.name().to_owned(),
                value.clone(),
            ));
            s.applies.push((object.kind(), object.name().to_owned()));
            let old = s.objects.get(&key).cloned();
            if s.immutable_claim_templates
                && object.kind() == OwnedKind::StatefulSet
                && let Some(old) = &old
                && old["spec"]["volumeClaimTemplates"] != value["spec"]["volumeClaimTemplates"]
            {
                return Err(ApiError::status(
                    422,
                    format!(
                        "StatefulSet.apps \"{}\" is invalid: spec: Forbidden: updates to statefulset \
                         spec for fields other than 'replicas', 'ordinals', 'template', \
                         'updateStrategy', 'revisionHistoryLimit', \
                         'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
                        object.name()
                    ),
                ));
            }
            let without_server_fields = |v: &Value| {
                let mut v = v.clone();
                if let Some(meta) = v["metadata"].as_object_mut() {
                    meta.remove("generation");
                    meta.remove("resourceVersion");
                }
                if let Some(map) = v.as_object_mut() {
                    map.remove("status");
                }
                v
            };
            let stored = match old {
                // Nothing changes: the server answers with the stored object, no new version.
                Some(old) if without_server_fields(&old) == value => old,
                old => {
                    let generation = old
                        .as_ref()
                        .map_or(0, |o| o["metadata"]["generation"].as_i64().unwrap_or(0));
                    let spec_changed = old
                        .as_ref()
                        .is_none_or(|o| o.get("spec") != value.get("spec"));
                    s.resource_version += 1;
                    value["metadata"]["generation"] = json!(if spec_changed {
                        generation + 1
                    } else {
                        generation.max(1)
                    });
                    value["metadata"]["resourceVersion"] = json!(s.resource_version.to_string());
                    if let Some(status) = old.as_ref().and_then(|o| o.get("status")) {
                        value["status"] = status.clone();
                    }
                    s.objects.insert(key, value.clone());
                    value
                }
            };
            Ok(serde_json::from_value(stored).unwrap())
        })
    }

    async fn list_owned(
        &self,
        kind: OwnedKind,
        namespace: &str,
        selector: &str,
    ) -> Result<Vec<DynamicObject>, ApiError> {
        self.with(|s| {
            if s.forbidden_lists.contains(&kind) {
                return Err(ApiError::status(403, "forbidden"));
            }
            if s.unserved.contains(&kind) {
                return Err(ApiError::status(
                    404,
                    "the server could not find the requested resource",
                ));
            }
            Ok(s.objects
                .iter()
                .filter(|((k, ns, _), v)| {
                    *k == kind && ns == namespace && matches_selector(v, selector)
                })
                .map(|(_, v)| serde_json::from_value(v.clone()).unwrap())
                .collect())
        })
    }

    async fn delete(&self, kind: OwnedKind, namespace: &str, name: &str) -> Result<(), ApiError> {
        self.with(|s| {
            s.deletes.push((kind, name.to_owned()));
            s.log.push(Write::Delete(kind, name.to_owned()));
            match s
                .objects
                .remove(&(kind, namespace.to_owned(), name.to_owned()))
            {
                Some(_) => Ok(()),
                None => Err(ApiError::status(404, "not found")),
            }
        })
    }

    async fn delete_orphaning(
        &self,
        kind: OwnedKind,
        namespace: &str,
        name: &str,
    ) -> Result<(), ApiError> {
        self.with(|s| {
            s.orphaning_deletes.push((kind, name.to_owned()));
            s.log.push(Write::Delete(kind, name.to_owned()));
            s.objects
                .remove(&(kind, namespace.to_owned(), name.to_owned()));
            Ok(())
        })
    }

    async fn patch_status(
        &self,
        _platform: &EcommercePlatform,
        status: &PlatformStatus,
    ) -> Result<(), ApiError> {
        self.with(|s| s.status_writes.push(status.clone()));
        Ok(())
    }

    async fn remove_annotations(
        &self,
        _platform: &EcommercePlatform,
        annotations: &[(String, String)],
    ) -> Result<(), ApiError> {
        self.with(|s| s.removed_annotations.extend_from_slice(annotations));
        Ok(())
    }

    async fn publish_event(
        &self,
        _platform: &EcommercePlatform,
        event: &PlatformEvent,
    ) -> Result<(), ApiError> {
        self.with(|s| s.events.push(event.clone()));
        Ok(())
    }
}
