//! Step 1, dereference: everything the pass reads before deciding anything: the Secrets the spec
//! names or that were generated earlier, which optional kinds (Istio's, the Prometheus
//! Operator's) the cluster serves, and every object this platform owns now.

use std::collections::{BTreeMap, BTreeSet};

use kube::api::DynamicObject;
use tracing::{debug, warn};

use super::ReconcileError;
use crate::build::labels::owned_objects_selector;
use crate::build::object::OptionalApi;
use crate::build::secrets;
use crate::build::validate::{generated_secret_names, referenced_secrets};
use crate::build::{ClusterInputs, OwnedKind};
use crate::controller::api::ClusterApi;
use crate::crd::EcommercePlatform;

/// What the cluster holds for one platform, read at the start of a pass.
pub struct Dereferenced {
    /// Secrets for the validate step.
    pub inputs: ClusterInputs,
    /// Owned kinds the API server does not serve (Istio or the Prometheus Operator missing).
    pub unserved: BTreeSet<OwnedKind>,
    /// Every object labelled as this platform's, by kind.
    pub owned: Vec<(OwnedKind, DynamicObject)>,
}

/// Reads it all.
pub async fn dereference(
    api: &dyn ClusterApi,
    platform: &EcommercePlatform,
    namespace: &str,
) -> Result<Dereferenced, ReconcileError> {
    let name = platform.metadata.name.clone().unwrap_or_default();
    let inputs = secrets_of(api, platform, namespace).await?;
    let unserved = unserved_kinds(api, platform).await?;
    let owned = owned_objects(api, namespace, &name, &unserved).await?;
    Ok(Dereferenced {
        inputs,
        unserved,
        owned,
    })
}

async fn secrets_of(
    api: &dyn ClusterApi,
    platform: &EcommercePlatform,
    namespace: &str,
) -> Result<ClusterInputs, ReconcileError> {
    let read = |name: String| async move {
        api.get_secret(namespace, &name)
            .await
            .map_err(|source| ReconcileError::ReadSecret {
                name: name.clone(),
                source,
            })
    };
    let mut referenced = BTreeMap::new();
    for (_, name) in referenced_secrets(platform) {
        let keys = read(name.clone())
            .await?
            .map(|s| secrets::decode(&s).into_keys().collect());
        referenced.insert(name, keys);
    }
    let mut generated = BTreeMap::new();
    let instance = platform.metadata.name.clone().unwrap_or_default();
    for name in generated_secret_names(&instance) {
        if let Some(secret) = read(name.clone()).await? {
            generated.insert(name, secrets::decode(&secret));
        }
    }
    Ok(ClusterInputs {
        referenced: Some(referenced),
        generated,
    })
}

/// Whether the spec wants objects of `api` (only then is discovery asked about its kinds).
fn wants(platform: &EcommercePlatform, api: OptionalApi) -> bool {
    match api {
        OptionalApi::Istio => platform.spec.mesh.is_some(),
        OptionalApi::PrometheusOperator => platform.spec.wants_monitors(),
    }
}

/// The optional kinds the cluster does not serve; asked only for the APIs the spec wants
/// (otherwise none of their objects is desired, and cleanup treats an unserved kind as empty).
async fn unserved_kinds(
    api: &dyn ClusterApi,
    platform: &EcommercePlatform,
) -> Result<BTreeSet<OwnedKind>, ReconcileError> {
    let mut unserved = BTreeSet::new();
    let wanted = OwnedKind::ALL
        .into_iter()
        .filter(|k| k.optional_api().is_some_and(|a| wants(platform, a)));
    for kind in wanted {
        let served = api
            .serves(kind)
            .await
            .map_err(|source| ReconcileError::Discovery {
                kind: kind.kind(),
                source,
            })?;
        if !served {
            unserved.insert(kind);
        }
    }
    Ok(unserved)
}

async fn owned_objects(
    api: &dyn ClusterApi,
    namespace: &str,
    instance: &str,
    unserved: &BTreeSet<OwnedKind>,
) -> Result<Vec<(OwnedKind, DynamicObject)>, ReconcileError> {
    let selector = owned_objects_selector(instance);
    let mut owned = Vec::new();
    for kind in OwnedKind::ALL {
        if unserved.contains(&kind) {
            continue;
        }
        match api.list_owned(kind, namespace, &selector).await {
            Ok(listed) => owned.extend(listed.into_iter().map(|o| (kind, o))),
            Err(error) if error.is_forbidden() => {
                warn!(kind = kind.kind(), %error, "may not list this kind; its orphans are not cleaned up");
            }
            // Istio or the Prometheus Operator not installed: none of its objects can exist.
            Err(error) if error.is_not_found() && kind.optional_api().is_some() => {
                debug!(kind = kind.kind(), "kind not served");
            }
            Err(source) => {
                return Err(ReconcileError::List {
                    kind: kind.kind(),
                    source,
                });
            }
        }
    }
    Ok(owned)
}
