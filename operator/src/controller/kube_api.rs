//! The real `ClusterApi`: server-side apply, label-selected lists, deletes, status patches and
//! Events through a `kube::Client`.
//!
//! Applies use one field manager (`storefront-operator`) with `force`, so the operator wins
//! conflicts over the fields it sets and leaves every other field alone. The reconcile pipeline
//! skips applies of objects that have not changed since its last apply, so a steady state sends
//! no writes at all (the cluster tests count them in the API server's audit log).

use async_trait::async_trait;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams,
};
use kube::runtime::events::{Event, EventType as KubeEventType, Recorder, Reporter};
use kube::{Client, Resource};
use serde_json::json;

use super::api::{ApiError, ClusterApi, EventType, PlatformEvent};
use crate::build::labels::MANAGER;
use crate::build::{DesiredObject, OwnedKind};
use crate::crd::{EcommercePlatform, PlatformStatus};

/// `ClusterApi` over a live cluster.
pub struct KubeApi {
    client: Client,
    recorder: Recorder,
}

impl KubeApi {
    /// `instance` names this operator replica in Events (its pod name).
    pub fn new(client: Client, instance: Option<String>) -> Self {
        let reporter = Reporter {
            controller: MANAGER.to_owned(),
            instance,
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
        }
    }

    fn dynamic(&self, kind: OwnedKind, namespace: &str) -> Api<DynamicObject> {
        let (group, version, kind, plural) = kind.gvk();
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let resource = ApiResource::from_gvk_with_plural(&gvk, plural);
        Api::namespaced_with(self.client.clone(), namespace, &resource)
    }
}

fn apply_params() -> PatchParams {
    PatchParams::apply(MANAGER).force()
}

#[async_trait]
impl ClusterApi for KubeApi {
    async fn get_secret(&self, namespace: &str, name: &str) -> Result<Option<Secret>, ApiError> {
        let api: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
        Ok(api.get_opt(name).await?)
    }

    async fn serves(&self, kind: OwnedKind) -> Result<bool, ApiError> {
        let (group, version, kind_name, _) = kind.gvk();
        let api_version = if group.is_empty() {
            version.to_owned()
        } else {
            format!("{group}/{version}")
        };
        let listed = if group.is_empty() {
            self.client.list_core_api_resources(version).await
        } else {
            self.client.list_api_group_resources(&api_version).await
        };
        match listed {
            Ok(list) => Ok(list.resources.iter().any(|r| r.kind == kind_name)),
            // A group that is not served answers a plain-text 404, not a Status with reason NotFound.
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(false),
            Err(error) => Err(error.into()),
        }
    }

    async fn apply(&self, object: &DesiredObject) -> Result<DynamicObject, ApiError> {
        let namespace = object.meta().namespace.as_deref().unwrap_or("default");
        Ok(self
            .dynamic(object.kind(), namespace)
            .patch(
                object.name(),
                &apply_params(),
                &Patch::Apply(object.to_json()),
            )
            .await?)
    }

    async fn list_owned(
        &self,
        kind: OwnedKind,
        namespace: &str,
        selector: &str,
    ) -> Result<Vec<DynamicObject>, ApiError> {
        let list = self
            .dynamic(kind, namespace)
            .list(&ListParams::default().labels(selector))
            .await?;
        Ok(list.items)
    }

    async fn delete(&self, kind: OwnedKind, namespace: &str, name: &str) -> Result<(), ApiError> {
        match self
            .dynamic(kind, namespace)
            .delete(name, &DeleteParams::background())
            .await
        {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(status)) if status.is_not_found() => Ok(()),
            Err(error) => Err(error.into()),
        }
    }

    async fn delete_orphaning(
        &self,
        kind: OwnedKind,
        namespace: &str,
        name: &str,
    ) -> Result<(), ApiError> {
        match self
            .dynamic(kind, namespace)
            .delete(name, &DeleteParams::orphan())
            .await
        {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
            Err(error) => Err(error.into()),
        }
    }

    async fn patch_status(
        &self,
        platform: &EcommercePlatform,
        status: &PlatformStatus,
    ) -> Result<(), ApiError> {
        let namespace = platform.metadata.namespace.as_deref().unwrap_or("default");
        let name = platform.metadata.name.as_deref().unwrap_or_default();
        let api: Api<EcommercePlatform> = Api::namespaced(self.client.clone(), namespace);
        let patch = json!({
            "apiVersion": EcommercePlatform::api_version(&()),
            "kind": EcommercePlatform::kind(&()),
            "status": status,
        });
        api.patch_status(name, &apply_params(), &Patch::Apply(patch))
            .await?;
        Ok(())
    }

    async fn remove_annotations(
        &self,
        platform: &EcommercePlatform,
        annotations: &[(String, String)],
    ) -> Result<(), ApiError> {
        let namespace = platform.metadata.namespace.as_deref().unwrap_or("default");
        let name = platform.metadata.name.as_deref().unwrap_or_default();
        let api: Api<EcommercePlatform> = Api::namespaced(self.client.clone(), namespace);
        let stored = api.get_metadata(name).await?;
        let current = stored.metadata.annotations.unwrap_or_default();
        if let Some((key, _)) = annotations
            .iter()
            .find(|(key, value)| current.get(key) != Some(value))
        {
            return Err(ApiError::status(
                409,
                format!("annotation {key} changed since it was read; keeping it"),
            ));
        }
        let removals: serde_json::Map<String, serde_json::Value> = annotations
            .iter()
            .map(|(key, _)| (key.clone(), serde_json::Value::Null))
            .collect();
        let patch = json!({
            "metadata": {
                "resourceVersion": stored.metadata.resource_version,
                "annotations": removals,
            },
        });
        api.patch(name, &PatchParams::default(), &Patch::Merge(patch))
            .await?;
        Ok(())
    }

    async fn publish_event(
        &self,
        platform: &EcommercePlatform,
        event: &PlatformEvent,
    ) -> Result<(), ApiError> {
        let event = Event {
            type_: match event.type_ {
                EventType::Normal => KubeEventType::Normal,
                EventType::Warning => KubeEventType::Warning,
            },
            reason: event.reason.clone(),
            // The Events API caps the note at 1 kB.
            note: Some(event.note.chars().take(1000).collect()),
            action: event.action.clone(),
            secondary: None,
        };
        self.recorder
            .publish(&event, &platform.object_ref(&()))
            .await?;
        Ok(())
    }
}
