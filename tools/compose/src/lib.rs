//! The shop in Docker Compose, driven from Rust: [`engine`] finds or starts the Docker engine
//! and the Compose v2 binary through the repository's scripts, [`stack`] runs one project of
//! `compose.yaml`, and [`bench`] measures the loadgen mix against plain processes, network namespaces and Compose.
//! The `storefront-compose` binary is the benchmark's command line; `tests/compose_stack.rs`
//! is the stack's end-to-end test.

pub mod bench;
pub mod engine;
pub mod stack;
