//! What `storefront-local net topology` reads from the running system, the thin I/O beside the
//! pure [`super::diagram`]: which namespaces of the prefix exist (so extra instances are drawn
//! too) and the router namespace's connection tracking. Invariant: it only reads; nothing of the
//! run is changed.

use std::path::Path;

use super::conntrack::{self, Counts};
use super::plan::{COMPONENTS, Plan, PlanError};
use super::ruleset::flows;
use super::topology::{self, TopologyError, find_tool, ip};

#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error(
        "no netns run with the prefix {0:?} is running (no {0}router namespace); start one with `storefront-local up --isolation netns`, or pass its --netns-prefix"
    )]
    NotRunning(String),
    #[error(
        "the run with the prefix {prefix:?} does not use the subnet {subnet}; pass the --subnet it was started with"
    )]
    OtherSubnet { prefix: String, subnet: String },
    #[error("{0}")]
    Plan(#[from] PlanError),
    #[error("{0}")]
    Topology(#[from] TopologyError),
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

/// The plan of the run with `prefix`, with as many instances of each component as it has
/// namespaces (`<prefix>catalog`, `<prefix>catalog-2`, ...).
pub fn running_plan(prefix: &str, subnet: [u8; 2]) -> Result<Plan, LiveError> {
    let mut plan = Plan::new(prefix, subnet)?;
    let namespaces = topology::namespaces_with(prefix);
    if !namespaces.contains(&plan.router) {
        return Err(LiveError::NotRunning(prefix.to_owned()));
    }
    let router_addresses = ip(&["-n", &plan.router, "-4", "-o", "addr", "show"])?;
    let on_router = plan
        .bridges
        .iter()
        .all(|b| router_addresses.contains(&format!("{}/24", b.router)));
    if !on_router {
        return Err(LiveError::OtherSubnet {
            prefix: prefix.to_owned(),
            subnet: format!("{}.{}", subnet[0], subnet[1]),
        });
    }
    for (component, _, _) in COMPONENTS {
        let base = format!("{prefix}{component}-");
        let count = namespaces
            .iter()
            .filter_map(|n| n.strip_prefix(&base)?.parse::<usize>().ok())
            .max()
            .unwrap_or(1);
        plan = plan.with_instances(component, count)?;
    }
    Ok(plan)
}

/// The connections tracked in the router namespace now (what crosses between tiers).
pub fn connections(plan: &Plan) -> Result<Counts, LiveError> {
    let tool = find_tool("conntrack", "conntrack")?;
    let text = ip(&["netns", "exec", &plan.router, &tool, "-L"])?;
    Ok(conntrack::count(&text))
}

/// Draws the run with `prefix` into `out`; returns how many connections the router tracks.
pub fn draw(prefix: &str, subnet: [u8; 2], out: &Path) -> Result<usize, LiveError> {
    let plan = running_plan(prefix, subnet)?;
    let counts = connections(&plan)?;
    let svg = super::diagram::render(&plan, &flows(&plan), &counts);
    std::fs::write(out, svg).map_err(|source| LiveError::Write {
        path: out.display().to_string(),
        source,
    })?;
    Ok(counts.values().sum())
}
