//! Why a reconcile failed. Every variant is retried with backoff; its message names the object
//! and carries the API server's own words.

use super::super::api::ApiError;

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("platform has no namespace; EcommercePlatform is namespaced")]
    NoNamespace,
    #[error("reading Secret `{name}`: {source}")]
    ReadSecret { name: String, source: ApiError },
    #[error("asking the API server which kinds it serves ({kind}): {source}")]
    Discovery {
        kind: &'static str,
        source: ApiError,
    },
    #[error("listing {kind} objects: {source}")]
    List {
        kind: &'static str,
        source: ApiError,
    },
    #[error("{failed} object(s) could not be applied; the first: {first}")]
    Apply { failed: usize, first: String },
    #[error("deleting orphaned {kind} `{name}`: {source}")]
    Delete {
        kind: &'static str,
        name: String,
        source: ApiError,
    },
    #[error("writing status: {0}")]
    Status(ApiError),
}

impl ReconcileError {
    /// Label of the `storefront_reconcile_errors_total` metric.
    pub fn metric_kind(&self) -> &'static str {
        match self {
            Self::NoNamespace => "no_namespace",
            Self::ReadSecret { .. } => "read_secret",
            Self::Discovery { .. } => "discovery",
            Self::List { .. } => "list",
            Self::Apply { .. } => "apply",
            Self::Delete { .. } => "delete",
            Self::Status(_) => "status",
        }
    }
}
