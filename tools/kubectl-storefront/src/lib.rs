//! `kubectl storefront`: a kubectl plugin for Storefront's rollouts. `table` renders a platform's
//! rollouts (pure); `main.rs` reads and annotates the platform through the API server.

pub mod table;
