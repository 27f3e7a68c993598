//! `Traffic`: where each tracked service's traffic goes at this moment of a rollout, the one
//! input of the builders that does not come from the spec (it comes from the canary engine).
//!
//! Invariant: `Traffic::default()` (no rollout) renders exactly what the spec says: the stable
//! Deployment at the spec's version and every route 100 / 0 to it (to the subset `stable` for a
//! tracked service: offline, its pods carry the track label from their start).

use std::collections::BTreeMap;

use super::component::Component;
use crate::crd::Percent;

/// Label on the pods of a tracked service saying which track they belong to; the
/// DestinationRule subsets select on it.
pub const TRACK_LABEL: &str = "storefront.dev/track";
pub const STABLE: &str = "stable";
pub const CANARY: &str = "canary";

/// An image and the version label it carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Track {
    pub image: String,
    pub version: String,
}

impl Track {
    /// Whether both run the same thing: the same version and image. A new registry or digest
    /// under the same tag is a different track. An empty image (unknown: a status written
    /// before images were recorded) compares by version alone.
    pub fn same_as(&self, other: &Track) -> bool {
        self.version == other.version
            && (self.image == other.image || self.image.is_empty() || other.image.is_empty())
    }

    /// How messages name this track next to `other`: its version, or its image when the two
    /// share a version.
    pub fn name_next_to(&self, other: &Track) -> &str {
        if self.version == other.version && !self.image.is_empty() {
            &self.image
        } else {
            &self.version
        }
    }
}

/// The canary of one service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Canary {
    pub track: Track,
    /// Percent of traffic routed to the canary; `None` while no route may point at it (pods
    /// not ready yet, or the route is being removed before the subset).
    pub weight: Option<Percent>,
    /// Percent of the stable track's requests also copied to the canary (its answers thrown
    /// away); `None` when nothing is mirrored. Only beside a route (`weight` set).
    pub mirror: Option<Percent>,
    /// The canary is on its way out (promoted, rolled back or aborted): no route, and without
    /// the mesh, where its pods' share of the Service is its traffic, no pods.
    pub draining: bool,
}

/// Traffic of one tracked service.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceTraffic {
    /// What the stable Deployment runs; `None` means the spec's image and version.
    pub stable: Option<Track>,
    /// The canary Deployment and its subset; `None` means neither exists.
    pub canary: Option<Canary>,
    /// Routes name the subset `stable`; false routes to the host without a subset. A service
    /// just switched to Canary or Manual gets its track label only as its pods roll, and a
    /// subset without ready pods would take all of its traffic (a canary implies true).
    pub stable_subset: bool,
    /// Pods the stable Deployment runs now (its HPA's choice when autoscaled), which the canary
    /// is sized against; `None` when unknown (offline, or no Deployment yet).
    pub stable_replicas: Option<i32>,
}

impl ServiceTraffic {
    /// Whether routes to the stable track name its subset.
    pub fn routes_stable_subset(&self) -> bool {
        self.stable_subset || self.canary.is_some()
    }
}

/// Traffic of every tracked service; services absent here run as the spec says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Traffic(pub BTreeMap<Component, ServiceTraffic>);

impl Traffic {
    pub fn of(&self, component: Component) -> Option<&ServiceTraffic> {
        self.0.get(&component)
    }
}
