//! The components of a platform and the facts the builders need about each: its name, its
//! network tier and which stores it uses.
//!
//! Invariant: `Component::ALL` is in the stable order every builder iterates in (the services
//! first, then the stores, then Jaeger), so rendered output never depends on map or hash order.

use std::fmt;

/// One runnable part of the platform.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Component {
    Gateway,
    Users,
    Catalog,
    Cart,
    Inventory,
    Payments,
    Orders,
    /// Consumer of the order events (Redis stream or RabbitMQ); owns the `notifications` database.
    Notifications,
    Web,
    Loadgen,
    Postgres,
    Redis,
    /// The RabbitMQ broker, when events.bus is RabbitMQ and events.rabbitmq.mode is Managed.
    RabbitMq,
    /// Jaeger v2 (tracing backend), when tracing.jaeger.mode is Managed. Runs without a sidecar.
    Jaeger,
}

/// Network tier, the unit of the NetworkPolicies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Tier {
    /// Reachable from anywhere: gateway, web.
    Edge,
    /// Reachable from edge and application: the business services.
    Application,
    /// Reachable on their store ports: postgres and redis from edge and application, rabbitmq
    /// from the event publisher and consumer only.
    Data,
    /// Talks to the edge and accepts nothing: loadgen.
    Client,
    /// Receives traces from everyone: jaeger.
    Observability,
}

impl Tier {
    /// Value of the `storefront.dev/tier` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Edge => "edge",
            Self::Application => "application",
            Self::Data => "data",
            Self::Client => "client",
            Self::Observability => "observability",
        }
    }
}

impl Component {
    /// Every component, in rendering order.
    pub const ALL: [Component; 14] = [
        Self::Gateway,
        Self::Users,
        Self::Catalog,
        Self::Cart,
        Self::Inventory,
        Self::Payments,
        Self::Orders,
        Self::Notifications,
        Self::Web,
        Self::Loadgen,
        Self::Postgres,
        Self::Redis,
        Self::RabbitMq,
        Self::Jaeger,
    ];

    /// The Storefront services (what `spec.services` configures), in rendering order.
    pub const SERVICES: [Component; 10] = [
        Self::Gateway,
        Self::Users,
        Self::Catalog,
        Self::Cart,
        Self::Inventory,
        Self::Payments,
        Self::Orders,
        Self::Notifications,
        Self::Web,
        Self::Loadgen,
    ];

    /// The services that own a PostgreSQL database (named after the service).
    pub const WITH_DATABASE: [Component; 6] = [
        Self::Users,
        Self::Catalog,
        Self::Inventory,
        Self::Payments,
        Self::Orders,
        Self::Notifications,
    ];

    /// The services on the order-events bus: orders publishes (its outbox), notifications
    /// consumes. Only they get the bus settings and may reach RabbitMQ.
    pub const ON_EVENT_BUS: [Component; 2] = [Self::Orders, Self::Notifications];

    /// Lower-case name used in object names, labels and env var values.
    pub fn name(self) -> &'static str {
        match self {
            Self::Gateway => "gateway",
            Self::Users => "users",
            Self::Catalog => "catalog",
            Self::Cart => "cart",
            Self::Inventory => "inventory",
            Self::Payments => "payments",
            Self::Orders => "orders",
            Self::Notifications => "notifications",
            Self::Web => "web",
            Self::Loadgen => "loadgen",
            Self::Postgres => "postgres",
            Self::Redis => "redis",
            Self::RabbitMq => "rabbitmq",
            Self::Jaeger => "jaeger",
        }
    }

    /// The network tier the component's pods belong to.
    pub fn tier(self) -> Tier {
        match self {
            Self::Gateway | Self::Web => Tier::Edge,
            Self::Loadgen => Tier::Client,
            Self::Postgres | Self::Redis | Self::RabbitMq => Tier::Data,
            Self::Jaeger => Tier::Observability,
            _ => Tier::Application,
        }
    }

    /// Whether the service owns a PostgreSQL database.
    pub fn uses_database(self) -> bool {
        Self::WITH_DATABASE.contains(&self)
    }

    /// Whether the service gets `REDIS_URL` (notifications checks the token denylist there
    /// whichever bus carries the events).
    pub fn uses_redis(self) -> bool {
        matches!(
            self,
            Self::Gateway
                | Self::Users
                | Self::Catalog
                | Self::Cart
                | Self::Orders
                | Self::Notifications
                | Self::Payments
                | Self::Inventory
        )
    }

    /// Whether the service publishes or consumes order events.
    pub fn on_event_bus(self) -> bool {
        Self::ON_EVENT_BUS.contains(&self)
    }

    /// Whether the component's pods run an Istio sidecar. Jaeger does not: it must receive
    /// spans from sidecars and the ingress gateway whatever the mTLS mode.
    pub fn has_sidecar(self) -> bool {
        self != Self::Jaeger
    }

    /// Whether the component is enabled when the spec says nothing about it.
    pub fn enabled_by_default(self) -> bool {
        self != Self::Loadgen
    }

    /// Name of the env var holding this service's base URL (`CATALOG_URL`), if it has one.
    pub fn url_env(self) -> Option<&'static str> {
        Some(match self {
            Self::Gateway => "GATEWAY_URL",
            Self::Users => "USERS_URL",
            Self::Catalog => "CATALOG_URL",
            Self::Cart => "CART_URL",
            Self::Inventory => "INVENTORY_URL",
            Self::Payments => "PAYMENTS_URL",
            Self::Orders => "ORDERS_URL",
            Self::Notifications => "NOTIFICATIONS_URL",
            Self::Web => "WEB_URL",
            Self::Loadgen | Self::Postgres | Self::Redis | Self::RabbitMq | Self::Jaeger => {
                return None;
            }
        })
    }
}

impl fmt::Display for Component {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_lists_the_services_in_their_order_then_the_stores_then_jaeger() {
        assert_eq!(
            Component::ALL[..Component::SERVICES.len()],
            Component::SERVICES
        );
        assert_eq!(
            Component::ALL[Component::SERVICES.len()..],
            [
                Component::Postgres,
                Component::Redis,
                Component::RabbitMq,
                Component::Jaeger
            ]
        );
        let tiers: Vec<Tier> = Component::ALL[Component::SERVICES.len()..]
            .iter()
            .map(|c| c.tier())
            .collect();
        assert_eq!(
            tiers,
            [Tier::Data, Tier::Data, Tier::Data, Tier::Observability]
        );
    }

    #[test]
    fn only_services_with_a_database_and_on_the_bus_are_listed_as_such() {
        for c in Component::WITH_DATABASE
            .into_iter()
            .chain(Component::ON_EVENT_BUS)
        {
            assert!(Component::SERVICES.contains(&c), "{c}");
            assert_eq!(c.tier(), Tier::Application, "{c}");
        }
        assert!(Component::Notifications.uses_database());
        assert!(Component::Notifications.uses_redis(), "the token denylist");
        assert_eq!(
            Component::Notifications.url_env(),
            Some("NOTIFICATIONS_URL")
        );
        assert_eq!(Component::RabbitMq.url_env(), None);
    }
}
