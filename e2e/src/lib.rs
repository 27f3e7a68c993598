//! End-to-end tests of a Storefront platform running on a real cluster (kind in CI, see
//! `e2e/run.sh`), and the pieces they share: finding the cluster or a reason to skip, driving a
//! purchase through the ingress, reading traces from Jaeger and rollouts from the platform status.
//!
//! Every cluster test starts with [`environment::cluster_or_skip`]: without `STOREFRONT_E2E=1`,
//! `kind`/`kubectl` or a reachable API server it prints why and how to run it, and passes.

pub mod environment;
pub mod platform;
pub mod rollout;
pub mod shop;
pub mod trace;

pub use environment::{Cluster, cluster_or_skip};
