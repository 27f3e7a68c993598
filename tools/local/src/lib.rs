//! The whole Storefront platform on one machine, without Docker or Kubernetes: [`platform`]
//! starts throwaway PostgreSQL and Redis and every service as its own process; [`bench`]
//! measures checkout across them, and [`ceiling`] what PostgreSQL allows; [`bench_gateway`] sets the gateway beside nginx; [`procfs`] reads their memory. The `storefront-local` binary
//! is the command line over these; the end-to-end tests use them directly.

pub mod bench;
pub mod bench_gateway;
pub mod ceiling;
pub mod platform;
pub mod procfs;
