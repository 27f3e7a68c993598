//! Step 5, clean up: delete what this platform owns (controller owner reference with its UID)
//! but no longer wants. Objects of other owners, and retained ones without an owner reference,
//! are never touched; an object that is wanted but failed to apply is not an orphan.

use kube::api::DynamicObject;
use tracing::info;

use super::ReconcileError;
use super::apply::AppliedObjects;
use crate::build::OwnedKind;
use crate::build::labels::Ownership;
use crate::controller::api::ClusterApi;

/// Deletes the orphans among `applied.stored`; returns the objects still present.
pub async fn cleanup_orphans(
    api: &dyn ClusterApi,
    ownership: &Ownership,
    applied: &AppliedObjects,
) -> Result<Vec<(OwnedKind, DynamicObject)>, ReconcileError> {
    let mut kept = Vec::new();
    for (kind, object) in &applied.stored {
        let name = object.metadata.name.clone().unwrap_or_default();
        if !is_orphan(*kind, object, &ownership.owner.uid, applied) {
            kept.push((*kind, object.clone()));
            continue;
        }
        info!(kind = kind.kind(), %name, "deleting orphan");
        match api.delete(*kind, &ownership.namespace, &name).await {
            Ok(()) => {}
            Err(error) if error.is_not_found() => {}
            Err(source) => {
                return Err(ReconcileError::Delete {
                    kind: kind.kind(),
                    name,
                    source,
                });
            }
        }
    }
    Ok(kept)
}

/// Whether a listed object is this platform's and not wanted by this pass.
pub fn is_orphan(
    kind: OwnedKind,
    object: &DynamicObject,
    owner_uid: &str,
    applied: &AppliedObjects,
) -> bool {
    let owned_by_us = object
        .metadata
        .owner_references
        .iter()
        .flatten()
        .any(|r| r.uid == owner_uid && r.controller == Some(true));
    let name = object.metadata.name.as_deref().unwrap_or_default();
    owned_by_us && !applied.is_desired(kind, name)
}
