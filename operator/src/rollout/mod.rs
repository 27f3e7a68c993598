//! The canary engine: a pure state machine (`machine.rs`) driven by the clock, what the cluster
//! shows and the canary analysis (`analysis.rs`, metrics behind `MetricsSource`).
//!
//! State that must survive operator restarts lives in the platform's status
//! (`status.rollouts.<service>`); nothing is kept in memory between passes.

pub mod analysis;
pub mod machine;
#[cfg(test)]
mod tests;

pub use analysis::{
    CanaryMetrics, CanaryQuery, MetricsError, MetricsSource, Prometheus, ScriptedMetrics, Verdict,
};
pub use machine::{Decision, Input, LiveTrack, Observed, RolloutEvent, Severity};
