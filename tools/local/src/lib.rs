//! The whole Storefront platform on one machine, without Docker or Kubernetes: [`platform`]
//! starts throwaway PostgreSQL, Redis (and RabbitMQ when the order events go over it) and every
//! service as its own process (several of one service when [`replicas`] says so). [`bench`]
//! measures checkout across them and [`ceiling`] what PostgreSQL allows; [`bench_gateway`] sets the gateway beside nginx; [`bench_events`] measures
//! the notifications consumer on each bus beside its insert ceiling; [`procfs`] reads their
//! memory. The `storefront-local` binary is the command line over these; the end-to-end tests
//! use them directly.

pub mod bench;
pub mod bench_events;
pub mod bench_gateway;
pub mod callgrind;
pub mod ceiling;
pub mod netns;
pub mod open_loop;
pub mod platform;
pub mod procfs;
pub mod replicas;
