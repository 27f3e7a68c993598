//! What `up` prints about a netns run, pure: the router, each component's tier, address and
//! namespace, and the flows the policy allows between tiers.

use std::fmt::Write;

use super::plan::Plan;
use super::ruleset::flows;

pub fn summary(plan: &Plan) -> String {
    let mut text = String::new();
    let _ = writeln!(
        text,
        "  isolation:    netns; router namespace {}, nftables table inet {} there",
        plan.router, plan.table
    );
    for node in &plan.nodes {
        let _ = writeln!(
            text,
            "    {:<14} {:<5} {:<12} netns {}",
            node.label(),
            node.tier.name(),
            node.address,
            node.netns
        );
    }
    let _ = writeln!(text, "    allowed: anything within one tier");
    for flow in flows(plan) {
        let ports = flow.ports_joined(",");
        let _ = writeln!(
            text,
            "    allowed: {} -> {} tcp {ports}",
            flow.from, flow.to
        );
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netns::plan::{DEFAULT_PREFIX, DEFAULT_SUBNET};

    #[test]
    fn the_summary_names_every_namespace_and_allowed_flow() {
        let text = summary(&Plan::new(DEFAULT_PREFIX, DEFAULT_SUBNET).unwrap());
        assert!(text.contains("router namespace sf-router, nftables table inet sf_policy"));
        assert!(
            text.contains("    gateway        edge  10.213.1.11  netns sf-gateway\n"),
            "{text}"
        );
        assert!(
            text.contains("    allowed: 10.213.2.0/24 -> 10.213.3.0/24 tcp 5432,6379\n"),
            "{text}"
        );
        assert_eq!(text.lines().count(), 1 + 11 + 4, "{text}");
    }
}
