//! How many instances of each service `up --replicas catalog=3` starts, pure. Invariants: every
//! service not named runs once; only the services reached through a `<NAME>_URL` base URL may
//! run several times, because the list of their instances is how the callers find them.

use std::collections::BTreeMap;

/// The services whose callers balance across a comma-separated `<NAME>_URL`.
pub const REPLICABLE: [&str; 7] = [
    "users",
    "catalog",
    "inventory",
    "payments",
    "cart",
    "orders",
    "web",
];

/// The most instances of one service a run starts (each is a process with its own pool).
pub const MAX_INSTANCES: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplicasError {
    #[error("{0:?} is not NAME=COUNT, e.g. catalog=3")]
    Shape(String),
    #[error(
        "{0:?} cannot run several instances; these can: users, catalog, inventory, payments, cart, orders, web (the gateway is the one front door, notifications the one consumer of the order events)"
    )]
    NotReplicable(String),
    #[error("{name}={count}: the count must be between 1 and {MAX_INSTANCES}")]
    Count { name: String, count: String },
}

/// The instance count of each service named on the command line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Replicas(BTreeMap<&'static str, usize>);

impl Replicas {
    /// One instance of everything.
    pub fn none() -> Self {
        Self::default()
    }

    /// Parses `catalog=3` or `catalog=3,cart=2`; a later count of the same service wins.
    pub fn parse(text: &str) -> Result<Self, ReplicasError> {
        let mut counts = BTreeMap::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, count) = part
                .split_once('=')
                .ok_or_else(|| ReplicasError::Shape(part.to_owned()))?;
            let name = name.trim();
            let service = REPLICABLE
                .into_iter()
                .find(|s| *s == name)
                .ok_or_else(|| ReplicasError::NotReplicable(name.to_owned()))?;
            let count = count
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|c| (1..=MAX_INSTANCES).contains(c))
                .ok_or_else(|| ReplicasError::Count {
                    name: name.to_owned(),
                    count: count.trim().to_owned(),
                })?;
            counts.insert(service, count);
        }
        Ok(Self(counts))
    }

    /// How many instances of `service` to start.
    pub fn count(&self, service: &str) -> usize {
        self.0.get(service).copied().unwrap_or(1)
    }

    /// True when some service runs more than once.
    pub fn any(&self) -> bool {
        self.0.values().any(|&c| c > 1)
    }
}

impl std::str::FromStr for Replicas {
    type Err = ReplicasError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_services_get_their_count_and_the_others_one() {
        let replicas = Replicas::parse("catalog=3, cart=2").unwrap();
        assert_eq!(replicas.count("catalog"), 3);
        assert_eq!(replicas.count("cart"), 2);
        assert_eq!(replicas.count("users"), 1);
        assert!(replicas.any());
        assert!(!Replicas::parse("catalog=1").unwrap().any());
        assert!(!Replicas::none().any());
    }

    #[test]
    fn the_gateway_and_notifications_run_once() {
        for name in ["gateway", "notifications", "postgres"] {
            assert_eq!(
                Replicas::parse(&format!("{name}=2")),
                Err(ReplicasError::NotReplicable(name.into()))
            );
        }
    }

    #[test]
    fn malformed_and_out_of_range_counts_are_refused() {
        assert_eq!(
            Replicas::parse("catalog"),
            Err(ReplicasError::Shape("catalog".into()))
        );
        for count in ["0", "9", "three", ""] {
            assert!(
                matches!(
                    Replicas::parse(&format!("catalog={count}")),
                    Err(ReplicasError::Count { .. })
                ),
                "{count}"
            );
        }
    }
}
