//! The platform under test through the Kubernetes API: read it, wait on it, change a service's
//! version, delete it, and list what it leaves behind.

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{
    ConfigMap, PersistentVolumeClaim, Secret, Service, ServiceAccount,
};
use kube::Resource;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams,
};
use kube::core::NamespaceResourceScope;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::Cluster;

const INSTANCE: &str = "app.kubernetes.io/instance";

fn platforms(cluster: &Cluster) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("storefront.dev", "v1alpha1", "EcommercePlatform");
    let resource = ApiResource::from_gvk_with_plural(&gvk, "ecommerceplatforms");
    Api::namespaced_with(cluster.client.clone(), &cluster.namespace, &resource)
}

/// The platform object as JSON, or `None` once it is gone.
pub async fn get(cluster: &Cluster) -> anyhow::Result<Option<Value>> {
    let found = platforms(cluster).get_opt(&cluster.name).await?;
    Ok(found.map(|p| serde_json::to_value(p).unwrap_or(Value::Null)))
}

/// `Ready=True` for the current generation.
pub fn is_ready(platform: &Value) -> bool {
    let generation = platform
        .pointer("/metadata/generation")
        .and_then(Value::as_i64);
    let observed = platform
        .pointer("/status/observedGeneration")
        .and_then(Value::as_i64);
    let ready = platform
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        });
    ready && generation.is_some() && generation == observed
}

/// Polls `probe` every 5 s until it returns `Some`, or fails after `timeout` naming `what` and
/// the last thing seen.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Result<T, String>>>,
{
    let start = Instant::now();
    loop {
        let last = match probe().await {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(seen)) => seen,
            Err(error) => format!("error: {error:#}"),
        };
        if start.elapsed() > timeout {
            bail!("timed out after {timeout:?} waiting for {what}; last seen: {last}");
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
}

/// Waits until the platform is Ready for its current generation.
pub async fn wait_ready(cluster: &Cluster, timeout: Duration) -> anyhow::Result<Value> {
    wait_for("the platform to be Ready", timeout, || async {
        let platform = get(cluster).await?.context("the platform does not exist")?;
        Ok(if is_ready(&platform) {
            Ok(platform)
        } else {
            Err(platform["status"].to_string())
        })
    })
    .await
}

/// Sets `spec.services.<service>.version` (a merge patch, like `kubectl edit`).
pub async fn set_service_version(
    cluster: &Cluster,
    service: &str,
    version: &str,
) -> anyhow::Result<()> {
    let patch = json!({"spec": {"services": {service: {"version": version}}}});
    platforms(cluster)
        .patch(
            &cluster.name,
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
        .with_context(|| format!("setting {service} to version {version}"))?;
    Ok(())
}

/// Deletes the platform (foreground: the API server removes dependents first).
pub async fn delete(cluster: &Cluster) -> anyhow::Result<()> {
    platforms(cluster)
        .delete(&cluster.name, &DeleteParams::foreground())
        .await
        .context("deleting the platform")?;
    Ok(())
}

async fn names_of<K>(cluster: &Cluster, kind: &str, out: &mut Vec<String>) -> anyhow::Result<()>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let list = api
        .list(&ListParams::default().labels(&format!("{INSTANCE}={}", cluster.name)))
        .await?;
    out.extend(
        list.items
            .iter()
            .filter_map(|o| o.meta().name.clone())
            .map(|name| format!("{kind}/{name}")),
    );
    Ok(())
}

/// Objects of the platform still in its namespace, as `kind/name` (PVCs excepted).
pub async fn remaining_objects(cluster: &Cluster) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    names_of::<Deployment>(cluster, "deployment", &mut out).await?;
    names_of::<StatefulSet>(cluster, "statefulset", &mut out).await?;
    names_of::<Service>(cluster, "service", &mut out).await?;
    names_of::<ServiceAccount>(cluster, "serviceaccount", &mut out).await?;
    names_of::<ConfigMap>(cluster, "configmap", &mut out).await?;
    names_of::<Secret>(cluster, "secret", &mut out).await?;
    Ok(out)
}

/// Names of every PersistentVolumeClaim in the platform's namespace.
pub async fn claims(cluster: &Cluster) -> anyhow::Result<Vec<String>> {
    let api: Api<PersistentVolumeClaim> =
        Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let list = api.list(&ListParams::default()).await?;
    Ok(list
        .items
        .into_iter()
        .filter_map(|c| c.metadata.name)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_means_ready_for_the_current_generation() {
        let ready = json!({"metadata": {"generation": 3}, "status": {"observedGeneration": 3,
            "conditions": [{"type": "Ready", "status": "True"}]}});
        assert!(is_ready(&ready));
        let stale = json!({"metadata": {"generation": 4}, "status": {"observedGeneration": 3,
            "conditions": [{"type": "Ready", "status": "True"}]}});
        assert!(!is_ready(&stale));
        let progressing = json!({"metadata": {"generation": 3}, "status": {"observedGeneration": 3,
            "conditions": [{"type": "Ready", "status": "False"}]}});
        assert!(!is_ready(&progressing));
    }
}
