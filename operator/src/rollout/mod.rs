//! The canary engine: a pure state machine (`machine.rs`) driven by the clock, what the cluster
//! shows and the canary analysis (`analysis.rs`, metrics behind `MetricsSource`).
//!
//! State that must survive operator restarts lives in the platform's status
//! (`status.rollouts.<service>`); nothing is kept in memory between passes.
//!
//! Where a canary's weight (a `Percent`, `crd/percent.rs`) is
//! - **checked**: `build/validate/service.rs` turns `rollout.steps` and `rollout.canaryWeight`
//!   into `CanarySettings` (`build/validate/mod.rs`) holding `CanarySteps`
//!   (`build/validate/canary_steps.rs`);
//! - **decided**: only here, in `machine.rs`, from those settings, the status and the weight read
//!   back; the decision is a `Canary { weight }` in `Traffic` (`build/traffic.rs`), gathered for
//!   every service by `controller/rollouts.rs` (`decide`, into `RolloutDecisions`);
//! - **built**: `build/mesh/routing.rs` writes the VirtualService split (the `Percent` becomes
//!   Istio's int32 in `RouteDestination::weighted`, `build/mesh/types.rs`), and
//!   `build/replicas.rs` (`track_replicas`) sizes the canary Deployment to it (without the
//!   mesh, both Deployments: their pod counts are the split);
//! - **read back**: `build/mesh/mod.rs` (`read_weights`) reads a stored VirtualService's split;
//!   `controller/rollouts.rs` (`stored_weights`) feeds it to the machine as
//!   `Observed::canary_weight` and, after apply, into `status.rollouts.<service>`
//!   (`canaryWeight`, `stableWeight`, `crd/status.rs`); without the mesh, the canary's share of
//!   the ready pods (`build/replicas.rs`, `pod_share`). The status shows what the traffic does,
//!   never what was intended.

pub mod analysis;
pub mod command;
pub mod machine;
pub mod summary;
#[cfg(test)]
mod tests;

pub use analysis::{
    CanaryMetrics, CanaryQuery, MetricsError, MetricsSource, Prometheus, ScriptedMetrics, Verdict,
};
pub use command::{COMMAND_PREFIX, Command};
pub use machine::{Decision, Input, LiveTrack, Observed, RolloutEvent, Severity};
