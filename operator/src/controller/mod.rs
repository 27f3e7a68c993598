//! The controller: watches `EcommercePlatform` objects and the kinds they own, runs the
//! reconcile pipeline (`reconcile/`, one module per step) and reports status (`status.rs`).
//!
//! Kubernetes access goes through the small `ClusterApi` trait (`api.rs`). The real
//! implementation wraps `kube::Client` (`kube_api.rs`); the tests use an in-memory fake
//! (`fake.rs`) rather than a mocked HTTP client, because the pipeline's contract is the sequence
//! of applies, deletes, status writes and events, not HTTP requests.

pub mod api;
#[cfg(test)]
mod fake;
pub mod hooks;
pub mod kube_api;
pub mod leader;
pub mod metrics;
pub mod notify;
pub mod reconcile;
#[cfg(test)]
mod rollout_tests;
pub mod rollouts;
pub mod run;
pub mod server;
pub mod status;
#[cfg(test)]
mod tests;
pub mod webhook;

pub use api::{ApiError, ClusterApi, EventType, PlatformEvent};
pub use metrics::Metrics;
pub use reconcile::{Context, ReconcileError, error_policy, reconcile};
