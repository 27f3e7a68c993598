//! The address plan of netns mode, pure: which namespace each component gets, its tier, its
//! address and the names of its links. Every name starts with the plan's prefix (so a later run
//! can find and remove leftovers by name) and every link name fits Linux's 15 characters. A
//! component with several instances gets a namespace per instance on its tier's bridge; the
//! extra ones are numbered after every single component, so no address depends on the count.

use std::net::Ipv4Addr;

/// The default prefix of every namespace, link and nftables table a run creates.
pub const DEFAULT_PREFIX: &str = "sf-";

/// The default `/16` the three tier subnets are cut from (`<a>.<b>.1.0/24` edge, `.2` app, `.3`
/// data): 10.213/16 is clear of Docker's 172.17/16, libvirt's 192.168.122/24 and the common
/// cloud VPC blocks (10.0/16); `--subnet` picks another one when it collides.
pub const DEFAULT_SUBNET: [u8; 2] = [10, 213];

/// Linux's limit on an interface name (IFNAMSIZ less the terminating NUL).
const IFNAME_MAX: usize = 15;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlanError {
    #[error(
        "the prefix {prefix:?} makes the link name {name:?} longer than 15 characters; use a prefix of at most 4 characters"
    )]
    NameTooLong { prefix: String, name: String },
    #[error(
        "the prefix {0:?} must be lower-case letters, digits and '-' (it names namespaces and links)"
    )]
    BadPrefix(String),
    #[error("{0:?} is not a /16 such as 10.213 (two numbers, each 0-255)")]
    BadSubnet(String),
    #[error("{0:?} is not a component of the shop")]
    UnknownComponent(String),
    #[error("{component}: at most {max} instances fit the tier's addresses and link names")]
    TooManyInstances { component: String, max: usize },
    #[error("{0:?} is not a tier; use edge, app or data")]
    UnknownTier(String),
}

/// The most instances of one component: a one-digit suffix on its link name.
pub const MAX_INSTANCES: usize = 9;

/// The three tiers of the policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Tier {
    /// What the outside reaches: gateway, web.
    Edge,
    /// The commerce services.
    App,
    /// PostgreSQL and Redis.
    Data,
}

impl Tier {
    pub const ALL: [Tier; 3] = [Tier::Edge, Tier::App, Tier::Data];

    pub fn name(self) -> &'static str {
        match self {
            Tier::Edge => "edge",
            Tier::App => "app",
            Tier::Data => "data",
        }
    }

    /// The tier called `name` (`edge`, `app` or `data`).
    pub fn parse(name: &str) -> Result<Self, PlanError> {
        Self::ALL
            .into_iter()
            .find(|t| t.name() == name)
            .ok_or_else(|| PlanError::UnknownTier(name.to_owned()))
    }

    fn octet(self) -> u8 {
        match self {
            Tier::Edge => 1,
            Tier::App => 2,
            Tier::Data => 3,
        }
    }
}

/// A component of the shop, in start order, with its tier and the short code in its link name.
pub const COMPONENTS: [(&str, Tier, &str); 11] = [
    ("postgres", Tier::Data, "pg"),
    ("redis", Tier::Data, "rds"),
    ("users", Tier::App, "usr"),
    ("catalog", Tier::App, "cat"),
    ("inventory", Tier::App, "inv"),
    ("payments", Tier::App, "pay"),
    ("cart", Tier::App, "crt"),
    ("orders", Tier::App, "ord"),
    ("notifications", Tier::App, "ntf"),
    ("web", Tier::Edge, "web"),
    ("gateway", Tier::Edge, "gw"),
];

/// The port every HTTP service listens on inside its own namespace.
pub const SERVICE_PORT: u16 = 8000;
pub const POSTGRES_PORT: u16 = 5432;
pub const REDIS_PORT: u16 = 6379;

/// One tier's bridge (in the router namespace) and subnet; the router holds `.1`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bridge {
    pub tier: Tier,
    pub name: String,
    pub subnet: Ipv4Addr,
    pub router: Ipv4Addr,
}

/// One component's namespace, its address, and its veth pair: `eth0` inside, `peer` on the
/// tier's bridge in the router namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    pub component: &'static str,
    /// Which instance of the component, from 1.
    pub instance: usize,
    pub tier: Tier,
    pub netns: String,
    pub address: Ipv4Addr,
    pub peer: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub prefix: String,
    pub subnet: [u8; 2],
    /// The namespace holding the bridges, routing between tiers and enforcing the policy.
    pub router: String,
    pub bridges: Vec<Bridge>,
    pub nodes: Vec<Node>,
    /// The nftables table (family `inet`) in the router namespace.
    pub table: String,
}

/// Parses `10.213` (a `/16`) for `--subnet`.
pub fn parse_subnet(text: &str) -> Result<[u8; 2], PlanError> {
    let bad = || PlanError::BadSubnet(text.to_owned());
    let mut parts = text.split('.').map(|p| p.parse::<u8>().map_err(|_| bad()));
    match (parts.next(), parts.next(), parts.next()) {
        (Some(a), Some(b), None) => Ok([a?, b?]),
        _ => Err(bad()),
    }
}

impl Node {
    /// `catalog`, or `catalog-2` for a second instance.
    pub fn label(&self) -> String {
        if self.instance == 1 {
            self.component.to_owned()
        } else {
            format!("{}-{}", self.component, self.instance)
        }
    }
}

impl Plan {
    pub fn new(prefix: &str, subnet: [u8; 2]) -> Result<Self, PlanError> {
        if prefix.is_empty()
            || !prefix
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(PlanError::BadPrefix(prefix.to_owned()));
        }
        let [a, b] = subnet;
        let bridges = Tier::ALL
            .iter()
            .map(|&tier| Bridge {
                tier,
                name: format!("{prefix}br-{}", tier.name()),
                subnet: Ipv4Addr::new(a, b, tier.octet(), 0),
                router: Ipv4Addr::new(a, b, tier.octet(), 1),
            })
            .collect::<Vec<_>>();
        let mut next_host = [10u8; 3];
        let nodes = COMPONENTS
            .iter()
            .map(|&(component, tier, code)| {
                let host = &mut next_host[usize::from(tier.octet() - 1)];
                let address = Ipv4Addr::new(a, b, tier.octet(), *host);
                *host += 1;
                Node {
                    component,
                    instance: 1,
                    tier,
                    netns: format!("{prefix}{component}"),
                    address,
                    peer: format!("{prefix}{code}"),
                }
            })
            .collect::<Vec<_>>();
        let plan = Self {
            prefix: prefix.to_owned(),
            subnet,
            router: format!("{prefix}router"),
            table: format!("{}policy", prefix.replace('-', "_")),
            bridges,
            nodes,
        };
        plan.check_names()?;
        Ok(plan)
    }

    fn check_names(&self) -> Result<(), PlanError> {
        let longest = self
            .bridges
            .iter()
            .map(|b| &b.name)
            .chain(self.nodes.iter().map(|n| &n.peer))
            .max_by_key(|n| n.len());
        match longest.filter(|n| n.len() > IFNAME_MAX) {
            Some(name) => Err(PlanError::NameTooLong {
                prefix: self.prefix.clone(),
                name: name.clone(),
            }),
            None => Ok(()),
        }
    }

    /// The plan with `count` instances of `component` in all: instance `n` (from 2) gets the
    /// namespace `<prefix><component>-<n>`, the link `<prefix><code><n>` and the next free
    /// address of the tier.
    pub fn with_instances(mut self, component: &str, count: usize) -> Result<Self, PlanError> {
        let &(component, tier, code) = COMPONENTS
            .iter()
            .find(|(c, _, _)| *c == component)
            .ok_or_else(|| PlanError::UnknownComponent(component.to_owned()))?;
        if count > MAX_INSTANCES {
            return Err(PlanError::TooManyInstances {
                component: component.to_owned(),
                max: MAX_INSTANCES,
            });
        }
        self.nodes
            .retain(|n| n.component != component || n.instance == 1);
        for instance in 2..=count {
            let last = self
                .nodes
                .iter()
                .filter(|n| n.tier == tier)
                .map(|n| n.address.octets()[3])
                .max()
                .unwrap_or(9);
            let [a, b] = self.subnet;
            self.nodes.push(Node {
                component,
                instance,
                tier,
                netns: format!("{}{component}-{instance}", self.prefix),
                address: Ipv4Addr::new(a, b, tier.octet(), last + 1),
                peer: format!("{}{code}{instance}", self.prefix),
            });
        }
        self.check_names()?;
        Ok(self)
    }

    /// The first (or only) instance of `component`.
    pub fn node(&self, component: &str) -> Option<&Node> {
        self.instance(component, 1)
    }

    /// Instance `instance` (from 1) of `component`.
    pub fn instance(&self, component: &str, instance: usize) -> Option<&Node> {
        self.nodes
            .iter()
            .find(|n| n.component == component && n.instance == instance)
    }

    pub fn bridge(&self, tier: Tier) -> Option<&Bridge> {
        self.bridges.iter().find(|b| b.tier == tier)
    }

    /// Every namespace this plan creates, the router last (deleting it takes the bridges).
    pub fn namespaces(&self) -> Vec<&str> {
        self.nodes
            .iter()
            .map(|n| n.netns.as_str())
            .chain([self.router.as_str()])
            .collect()
    }

    /// Whether `name` (a namespace or link) is one this prefix could have created.
    pub fn owns(&self, name: &str) -> bool {
        name.starts_with(&self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Plan {
        Plan::new(DEFAULT_PREFIX, DEFAULT_SUBNET).unwrap()
    }

    #[test]
    fn a_tier_is_named_by_its_name_and_nothing_else() {
        for tier in Tier::ALL {
            assert_eq!(Tier::parse(tier.name()), Ok(tier));
        }
        assert_eq!(
            Tier::parse("frontend"),
            Err(PlanError::UnknownTier("frontend".into()))
        );
        assert!(Tier::parse("App").is_err());
    }

    #[test]
    fn each_tier_has_its_own_subnet_with_the_router_on_dot_one() {
        let plan = plan();
        let subnets: Vec<String> = plan
            .bridges
            .iter()
            .map(|b| format!("{} {}/24 via {}", b.name, b.subnet, b.router))
            .collect();
        assert_eq!(
            subnets,
            [
                "sf-br-edge 10.213.1.0/24 via 10.213.1.1",
                "sf-br-app 10.213.2.0/24 via 10.213.2.1",
                "sf-br-data 10.213.3.0/24 via 10.213.3.1",
            ]
        );
    }

    #[test]
    fn components_sit_in_their_tier_with_distinct_addresses() {
        let plan = plan();
        assert_eq!(
            plan.node("postgres").unwrap().address.to_string(),
            "10.213.3.10"
        );
        assert_eq!(
            plan.node("redis").unwrap().address.to_string(),
            "10.213.3.11"
        );
        assert_eq!(
            plan.node("users").unwrap().address.to_string(),
            "10.213.2.10"
        );
        assert_eq!(
            plan.node("gateway").unwrap().address.to_string(),
            "10.213.1.11"
        );
        assert_eq!(plan.node("gateway").unwrap().tier, Tier::Edge);
        let mut addresses: Vec<_> = plan.nodes.iter().map(|n| n.address).collect();
        addresses.sort();
        addresses.dedup();
        assert_eq!(addresses.len(), plan.nodes.len());
        for node in &plan.nodes {
            let bridge = plan.bridge(node.tier).unwrap();
            assert_eq!(node.address.octets()[..3], bridge.subnet.octets()[..3]);
        }
    }

    #[test]
    fn every_name_carries_the_prefix_and_fits_in_an_interface_name() {
        let plan = Plan::new("sft-", [10, 214]).unwrap();
        assert_eq!(plan.router, "sft-router");
        assert_eq!(plan.table, "sft_policy");
        assert_eq!(
            plan.node("notifications").unwrap().netns,
            "sft-notifications"
        );
        for netns in plan.namespaces() {
            assert!(plan.owns(netns), "{netns}");
        }
        for link in plan
            .bridges
            .iter()
            .map(|b| b.name.as_str())
            .chain(plan.nodes.iter().map(|n| n.peer.as_str()))
        {
            assert!(plan.owns(link), "{link}");
            assert!(link.len() <= IFNAME_MAX, "{link}");
        }
        assert_eq!(plan.namespaces().last(), Some(&"sft-router"));
    }

    #[test]
    fn a_long_or_odd_prefix_is_refused_with_what_to_do() {
        let err = Plan::new("storefront-", DEFAULT_SUBNET).unwrap_err();
        assert!(matches!(err, PlanError::NameTooLong { .. }), "{err}");
        assert!(err.to_string().contains("at most 4 characters"));
        assert_eq!(
            Plan::new("SF ", DEFAULT_SUBNET).unwrap_err(),
            PlanError::BadPrefix("SF ".into())
        );
    }

    #[test]
    fn extra_instances_get_namespaces_links_and_addresses_of_their_own_after_the_rest() {
        let plan = Plan::new("sft-", [10, 214])
            .unwrap()
            .with_instances("catalog", 3)
            .unwrap();
        let second = plan.instance("catalog", 2).unwrap();
        let third = plan.instance("catalog", 3).unwrap();
        assert_eq!(
            (second.netns.as_str(), second.peer.as_str(), second.label()),
            ("sft-catalog-2", "sft-cat2", "catalog-2".to_owned())
        );
        assert_eq!(third.tier, Tier::App);
        // After the app tier's seven single components (10.214.2.10 to .16).
        assert_eq!(second.address.to_string(), "10.214.2.17");
        assert_eq!(third.address.to_string(), "10.214.2.18");
        assert_eq!(
            plan.node("catalog").unwrap().address.to_string(),
            "10.214.2.11"
        );
        assert_eq!(
            plan.node("gateway"),
            Plan::new("sft-", [10, 214]).unwrap().node("gateway")
        );
        assert_eq!(plan.namespaces().last(), Some(&"sft-router"));
        assert!(plan.instance("catalog", 4).is_none());
        assert_eq!(
            plan.clone()
                .with_instances("catalog", 1)
                .unwrap()
                .nodes
                .len(),
            11
        );
        assert_eq!(
            plan.with_instances("catalog", 10).unwrap_err(),
            PlanError::TooManyInstances {
                component: "catalog".into(),
                max: MAX_INSTANCES
            }
        );
    }

    #[test]
    fn the_subnet_flag_takes_two_octets() {
        assert_eq!(parse_subnet("10.213"), Ok([10, 213]));
        assert!(parse_subnet("10.213.0").is_err());
        assert!(parse_subnet("10.300").is_err());
        assert!(parse_subnet("ten").is_err());
    }
}
