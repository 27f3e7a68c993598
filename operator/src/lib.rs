//! Storefront operator: runs a whole e-commerce platform from one `EcommercePlatform` object.
//!
//! `crd` holds the API types, `build` turns a spec into the desired objects without touching a
//! cluster, `render` prints them offline, `controller` applies them and reports status, and
//! `check` is the chart's `helm test` probe.

pub mod build;
pub mod check;
pub mod controller;
pub mod crd;
pub mod render;
pub mod rollout;
pub mod yaml;
