//! The nftables policy of netns mode as text for `nft -f -`, pure. It is loaded in the router
//! namespace only, where it filters what is routed between tiers: default drop, then exactly the
//! flows the architecture needs. Traffic within one tier stays on its bridge; it is allowed
//! explicitly because with `br_netfilter` loaded (Docker loads it) bridged packets pass this
//! forward hook too.

use std::fmt::Write;

use super::plan::{POSTGRES_PORT, Plan, REDIS_PORT, SERVICE_PORT, Tier};

/// One flow the policy lets through, for the ruleset and for the documentation of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flow {
    pub from: String,
    pub to: String,
    pub ports: Vec<u16>,
    pub why: &'static str,
}

impl Flow {
    /// The ports, joined by `separator`.
    pub fn ports_joined(&self, separator: &str) -> String {
        self.ports
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(separator)
    }
}

fn subnet(plan: &Plan, tier: Tier) -> String {
    plan.bridge(tier)
        .map(|b| format!("{}/24", b.subnet))
        .unwrap_or_default()
}

fn address(plan: &Plan, component: &str) -> String {
    plan.node(component)
        .map(|n| n.address.to_string())
        .unwrap_or_default()
}

/// The allowed flows between tiers, in rule order.
pub fn flows(plan: &Plan) -> Vec<Flow> {
    vec![
        Flow {
            from: subnet(plan, Tier::Edge),
            to: subnet(plan, Tier::App),
            ports: vec![SERVICE_PORT],
            why: "edge -> app: the gateway (and web) call the commerce services",
        },
        Flow {
            from: subnet(plan, Tier::App),
            to: subnet(plan, Tier::Data),
            ports: vec![POSTGRES_PORT, REDIS_PORT],
            why: "app -> data: the services' databases and Redis",
        },
        Flow {
            from: address(plan, "gateway"),
            to: address(plan, "redis"),
            ports: vec![REDIS_PORT],
            why: "the gateway's own Redis keys (rate limits, response cache, token denylist); \
                  the only edge -> data flow, never to PostgreSQL",
        },
    ]
}

/// The whole ruleset: it first deletes the table (so loading it twice is the same as once),
/// then defines it.
pub fn ruleset(plan: &Plan) -> String {
    let table = &plan.table;
    let mut text = String::new();
    // `add` then `delete` is nftables' idiom for "delete if it exists".
    let _ = writeln!(text, "add table inet {table}");
    let _ = writeln!(text, "delete table inet {table}");
    let _ = writeln!(text, "table inet {table} {{");
    let _ = writeln!(text, "  chain forward {{");
    let _ = writeln!(
        text,
        "    type filter hook forward priority filter; policy drop;"
    );
    let _ = writeln!(text, "    ct state established,related accept");
    let _ = writeln!(text, "    ct state invalid drop");
    for bridge in &plan.bridges {
        let _ = writeln!(
            text,
            "    ip saddr {0}/24 ip daddr {0}/24 accept",
            bridge.subnet
        );
    }
    for flow in flows(plan) {
        let ports = flow.ports_joined(", ");
        let _ = writeln!(
            text,
            "    ip saddr {} ip daddr {} tcp dport {{ {ports} }} accept",
            flow.from, flow.to
        );
    }
    // A refused connection fails at once with a reset instead of hanging until its timeout.
    let _ = writeln!(text, "    meta l4proto tcp counter reject with tcp reset");
    let _ = writeln!(text, "    counter");
    let _ = writeln!(text, "  }}");
    let _ = writeln!(text, "}}");
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netns::plan::{DEFAULT_PREFIX, DEFAULT_SUBNET};

    fn plan() -> Plan {
        Plan::new(DEFAULT_PREFIX, DEFAULT_SUBNET).unwrap()
    }

    #[test]
    fn the_policy_drops_by_default_and_allows_only_the_tier_flows() {
        assert_eq!(
            ruleset(&plan()),
            "add table inet sf_policy
delete table inet sf_policy
table inet sf_policy {
  chain forward {
    type filter hook forward priority filter; policy drop;
    ct state established,related accept
    ct state invalid drop
    ip saddr 10.213.1.0/24 ip daddr 10.213.1.0/24 accept
    ip saddr 10.213.2.0/24 ip daddr 10.213.2.0/24 accept
    ip saddr 10.213.3.0/24 ip daddr 10.213.3.0/24 accept
    ip saddr 10.213.1.0/24 ip daddr 10.213.2.0/24 tcp dport { 8000 } accept
    ip saddr 10.213.2.0/24 ip daddr 10.213.3.0/24 tcp dport { 5432, 6379 } accept
    ip saddr 10.213.1.11 ip daddr 10.213.3.11 tcp dport { 6379 } accept
    meta l4proto tcp counter reject with tcp reset
    counter
  }
}
"
        );
    }

    #[test]
    fn nothing_from_the_edge_reaches_postgres() {
        let plan = plan();
        let postgres = plan.node("postgres").unwrap().address.to_string();
        let data = subnet(&plan, Tier::Data);
        for flow in flows(&plan) {
            let from_edge = flow.from.starts_with("10.213.1.");
            if from_edge {
                assert_ne!(flow.to, postgres, "{flow:?}");
                assert_ne!(flow.to, data, "{flow:?}");
                assert!(!flow.ports.contains(&POSTGRES_PORT), "{flow:?}");
            }
        }
    }

    #[test]
    fn the_ruleset_follows_the_plan_subnet_and_table() {
        let plan = Plan::new("sft-", [10, 99]).unwrap();
        let text = ruleset(&plan);
        assert!(text.starts_with("add table inet sft_policy\n"), "{text}");
        assert!(
            text.contains("ip saddr 10.99.2.0/24 ip daddr 10.99.3.0/24"),
            "{text}"
        );
        assert!(!text.contains("10.213."), "{text}");
    }
}
