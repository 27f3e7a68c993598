//! What every Storefront service shares, so that each thing is done one way: typed configuration
//! from the environment, JSON logs and OpenTelemetry traces, the HTTP middleware stack, the error
//! body, JWT authentication, Prometheus metrics, health endpoints, the inter-service HTTP client,
//! and the domain value types (money, ids).

pub mod auth;
pub mod card;
pub mod client;
pub mod config;
pub mod db;
pub mod demo;
pub mod error;
pub mod extract;
pub mod health;
pub mod http;
pub mod ids;
pub mod metrics;
pub mod money;
pub mod redis_store;
pub mod service;
pub mod shutdown;
pub mod telemetry;

pub use error::{ApiError, ApiResult};
