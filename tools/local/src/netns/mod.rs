//! `--isolation netns`: every component in a network namespace of its own, three tier bridges
//! in a router namespace that routes between them under an nftables policy. [`plan`] and
//! [`ruleset`] are pure (names, addresses, policy text), and so is [`summary`] (what `up`
//! prints), [`conntrack`] (counting tracked connections) and [`diagram`] (the SVG picture);
//! [`topology`] runs `ip` and `nft`; [`live`] reads a running one for `net topology`;
//! [`capture`] records a tier's bridge for `net capture`;
//! [`forward`] carries the host's port to the gateway; [`reach`] places the stores and talks to
//! the components from the router namespace.

pub mod capture;
pub mod conntrack;
pub mod diagram;
pub mod forward;
pub mod live;
pub mod plan;
pub mod reach;
pub mod ruleset;
pub mod summary;
pub mod topology;

pub use plan::{DEFAULT_PREFIX, DEFAULT_SUBNET, Plan, Tier};
pub use topology::{Topology, TopologyError};
