//! Istio objects of the platform (when `spec.mesh.istio` is set): routing (Gateway,
//! VirtualServices, DestinationRules, in `routing.rs`) and security (PeerAuthentication,
//! AuthorizationPolicies, the rate-limit EnvoyFilter, in `security.rs`).
//!
//! Invariants: weights are always written explicitly and sum to 100; a route names the canary
//! subset, or the stable subset of a service that just became tracked, only when `Traffic` says
//! so (the canary engine decides when that is safe); a
//! workload without a sidecar never gets an ISTIO_MUTUAL DestinationRule.

pub mod routing;
pub mod security;
pub mod types;

use super::component::Component;
use super::object::DesiredObject;
use super::traffic::Traffic;
use super::validate::ValidatedPlatform;
use crate::crd::Percent;

/// Name of the route that carries the weighted split (read back for status).
pub const PRIMARY_ROUTE: &str = "primary";
/// Name of the route that sends testers with `x-canary: always` to the canary.
pub const CANARY_HEADER_ROUTE: &str = "canary-header";
/// Header (and value) that pins a request to the canary while one exists.
pub const CANARY_HEADER: (&str, &str) = ("x-canary", "always");

/// Every mesh object, empty when the mesh is off.
pub fn build(platform: &ValidatedPlatform, traffic: &Traffic) -> Vec<DesiredObject> {
    if platform.mesh.is_none() {
        return Vec::new();
    }
    let mut out = routing::build(platform, traffic);
    out.extend(security::build(platform));
    out
}

/// In-cluster host name of a component's Service.
pub fn host(platform: &ValidatedPlatform, service_name: &str) -> String {
    format!(
        "{service_name}.{}.svc.cluster.local",
        platform.ownership.namespace
    )
}

/// Host of a component's main Service (`<instance>-<component>`).
pub fn component_host(platform: &ValidatedPlatform, c: Component) -> String {
    host(platform, &platform.ownership.object_name(c.name()))
}

/// The split of a VirtualService's primary route between the stable and the canary track.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RouteWeights {
    pub stable: Percent,
    pub canary: Percent,
}

/// Stable and canary weights of a VirtualService's primary route: what the mesh actually does,
/// read back from a stored object. A route without a canary destination is 100 / 0; a
/// VirtualService without a primary route is `None`. This is where Istio's int32 weights
/// become a `Percent` (clamped: Istio rejects weights outside 0..=100, so clamping changes
/// nothing it would store).
pub fn read_weights(spec: &types::VirtualServiceSpec) -> Option<RouteWeights> {
    let route = spec
        .http
        .iter()
        .find(|r| r.name.as_deref() == Some(PRIMARY_ROUTE))?;
    let weight_of = |subset: &str| {
        route
            .route
            .iter()
            .filter(|d| d.destination.subset.as_deref() == Some(subset))
            .map(|d| {
                i64::from(
                    d.weight
                        .unwrap_or(if route.route.len() == 1 { 100 } else { 0 }),
                )
            })
            .sum::<i64>()
    };
    let canary = Percent::saturating_from(weight_of(super::traffic::CANARY));
    Some(RouteWeights {
        stable: canary.complement(),
        canary,
    })
}

/// Whether a VirtualService's primary route names `subset` (read back from a stored object).
pub fn routes_subset(spec: &types::VirtualServiceSpec, subset: &str) -> bool {
    spec.http
        .iter()
        .filter(|r| r.name.as_deref() == Some(PRIMARY_ROUTE))
        .flat_map(|r| &r.route)
        .any(|d| d.destination.subset.as_deref() == Some(subset))
}
