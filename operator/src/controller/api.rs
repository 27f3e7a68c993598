//! `ClusterApi`: the only door from the reconcile pipeline to Kubernetes.
//!
//! The real implementation (`kube_api.rs`) wraps a `kube::Client`; the unit tests use an
//! in-memory fake (`fake.rs`), and `tools/cluster/tests` run the real one against a real API
//! server. Keeping the door this small keeps both honest about the same calls.

use async_trait::async_trait;
use k8s_openapi::api::core::v1::Secret;
use kube::api::DynamicObject;

use crate::build::{DesiredObject, OwnedKind};
use crate::crd::{EcommercePlatform, PlatformStatus};

/// A failed API call, with the HTTP status when the server answered.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("{message}")]
pub struct ApiError {
    /// HTTP status code (403, 404, 409, 500, …), `None` for transport errors.
    pub code: Option<u16>,
    pub message: String,
}

impl ApiError {
    /// An error the server answered with `code`.
    pub fn status(code: u16, message: impl Into<String>) -> Self {
        Self {
            code: Some(code),
            message: message.into(),
        }
    }

    /// Whether the server refused for lack of permission.
    pub fn is_forbidden(&self) -> bool {
        self.code == Some(403)
    }

    /// Whether the object does not exist.
    pub fn is_not_found(&self) -> bool {
        self.code == Some(404)
    }
}

impl From<kube::Error> for ApiError {
    fn from(error: kube::Error) -> Self {
        let code = match &error {
            kube::Error::Api(status) => Some(status.code),
            _ => None,
        };
        Self {
            code,
            message: error.to_string(),
        }
    }
}

/// Severity of an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    Normal,
    Warning,
}

/// A Kubernetes Event about a platform.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlatformEvent {
    pub type_: EventType,
    /// PascalCase reason (`Ready`, `InvalidSpec`, `ApplyFailed`).
    pub reason: String,
    /// What happened, for people.
    pub note: String,
    /// What the operator was doing (`Reconcile`).
    pub action: String,
}

/// The Kubernetes calls the reconcile pipeline makes.
#[async_trait]
pub trait ClusterApi: Send + Sync {
    /// A Secret, or `None` when it does not exist.
    async fn get_secret(&self, namespace: &str, name: &str) -> Result<Option<Secret>, ApiError>;

    /// Whether the API server serves `kind` (discovery); false when its CRD is not installed.
    async fn serves(&self, kind: OwnedKind) -> Result<bool, ApiError>;

    /// Server-side apply of one object with the operator's field manager (forced); returns the
    /// object as stored after the apply.
    async fn apply(&self, object: &DesiredObject) -> Result<DynamicObject, ApiError>;

    /// Objects of `kind` in `namespace` matching a label selector.
    async fn list_owned(
        &self,
        kind: OwnedKind,
        namespace: &str,
        selector: &str,
    ) -> Result<Vec<DynamicObject>, ApiError>;

    /// Delete one object (a missing object is not an error).
    async fn delete(&self, kind: OwnedKind, namespace: &str, name: &str) -> Result<(), ApiError>;

    /// Delete one object but leave what it owns (a StatefulSet's pods and claims), so it can be
    /// created again with immutable fields changed.
    async fn delete_orphaning(
        &self,
        kind: OwnedKind,
        namespace: &str,
        name: &str,
    ) -> Result<(), ApiError>;

    /// Replace the platform's status through the status subresource.
    async fn patch_status(
        &self,
        platform: &EcommercePlatform,
        status: &PlatformStatus,
    ) -> Result<(), ApiError>;

    /// Remove annotations from the platform, each given as (key, value), only while every one
    /// still has that value: read, then a merge patch conditional on the resourceVersion read,
    /// so a command a person wrote meanwhile is never lost. A changed value answers 409.
    async fn remove_annotations(
        &self,
        platform: &EcommercePlatform,
        annotations: &[(String, String)],
    ) -> Result<(), ApiError>;

    /// Publish an Event about the platform.
    async fn publish_event(
        &self,
        platform: &EcommercePlatform,
        event: &PlatformEvent,
    ) -> Result<(), ApiError>;
}
