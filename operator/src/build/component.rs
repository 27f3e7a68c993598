//! The components of a platform and the facts the builders need about each: its name, its
//! network tier and which stores it uses.
//!
//! Invariant: `Component::ALL` is in the stable order every builder iterates in, so rendered
//! output never depends on map or hash order.

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
    Web,
    Loadgen,
    Postgres,
    Redis,
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
    /// Reachable from edge and application on their store ports: postgres, redis.
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
    pub const ALL: [Component; 12] = [
        Self::Gateway,
        Self::Users,
        Self::Catalog,
        Self::Cart,
        Self::Inventory,
        Self::Payments,
        Self::Orders,
        Self::Web,
        Self::Loadgen,
        Self::Postgres,
        Self::Redis,
        Self::Jaeger,
    ];

    /// The Storefront services (what `spec.services` configures), in rendering order.
    pub const SERVICES: [Component; 9] = [
        Self::Gateway,
        Self::Users,
        Self::Catalog,
        Self::Cart,
        Self::Inventory,
        Self::Payments,
        Self::Orders,
        Self::Web,
        Self::Loadgen,
    ];

    /// The services that own a PostgreSQL database (named after the service).
    pub const WITH_DATABASE: [Component; 5] = [
        Self::Users,
        Self::Catalog,
        Self::Inventory,
        Self::Payments,
        Self::Orders,
    ];

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
            Self::Web => "web",
            Self::Loadgen => "loadgen",
            Self::Postgres => "postgres",
            Self::Redis => "redis",
            Self::Jaeger => "jaeger",
        }
    }

    /// The network tier the component's pods belong to.
    pub fn tier(self) -> Tier {
        match self {
            Self::Gateway | Self::Web => Tier::Edge,
            Self::Loadgen => Tier::Client,
            Self::Postgres | Self::Redis => Tier::Data,
            Self::Jaeger => Tier::Observability,
            _ => Tier::Application,
        }
    }

    /// Whether the service owns a PostgreSQL database.
    pub fn uses_database(self) -> bool {
        Self::WITH_DATABASE.contains(&self)
    }

    /// Whether the service gets `REDIS_URL`.
    pub fn uses_redis(self) -> bool {
        matches!(
            self,
            Self::Gateway
                | Self::Users
                | Self::Catalog
                | Self::Cart
                | Self::Orders
                | Self::Payments
                | Self::Inventory
        )
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
            Self::Web => "WEB_URL",
            Self::Loadgen | Self::Postgres | Self::Redis | Self::Jaeger => return None,
        })
    }
}

impl fmt::Display for Component {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
