//! What every Storefront service shares, so that each thing is done one way: typed configuration
//! from the environment, JSON logs and OpenTelemetry traces, the HTTP middleware stack, the error
//! body, Prometheus metrics, health endpoints, the inter-service HTTP client (balanced over a
//! service's instances), the domain value types (money, ids, cards), and the order-event
//! envelope every bus carries.
//!
//! What needs a data store or a token sits behind a feature: `postgres` (`db`), `redis`
//! (`redis_store`) and `auth` (JWT, with its Redis denylist). A crate without them, such as the
//! web front or the load generator, compiles none of sqlx, redis or jsonwebtoken.

#[cfg(feature = "amqp")]
pub mod amqp;
#[cfg(feature = "auth")]
pub mod auth;
pub mod balance;
pub mod card;
pub mod cli;
pub mod client;
pub mod config;
#[cfg(feature = "postgres")]
pub mod db;
pub mod demo;
pub mod error;
pub mod events;
pub mod extract;
pub mod health;
pub mod http;
pub mod ids;
pub mod metrics;
pub mod money;
#[cfg(feature = "redis")]
pub mod redis_store;
pub mod service;
pub mod shutdown;
pub mod telemetry;

pub use error::{ApiError, ApiResult};
