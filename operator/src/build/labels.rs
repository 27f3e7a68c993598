//! Labels, names and the owner reference every built object carries.
//!
//! Invariants: every object has the six `app.kubernetes.io/*` labels; selectors use only the
//! labels that never change for a component (not `version`), because selectors are immutable;
//! a stable Deployment's selector never matches its canary's pods.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    LabelSelector, LabelSelectorRequirement, ObjectMeta, OwnerReference,
};

use super::component::{Component, Tier};

pub const NAME: &str = "app.kubernetes.io/name";
pub const INSTANCE: &str = "app.kubernetes.io/instance";
pub const COMPONENT: &str = "app.kubernetes.io/component";
pub const PART_OF: &str = "app.kubernetes.io/part-of";
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
pub const VERSION: &str = "app.kubernetes.io/version";
pub const TIER: &str = "storefront.dev/tier";
/// Per-workload names on pods, for Istio's telemetry and Kiali: `app.kubernetes.io/name` is
/// `storefront` on every stable pod and cannot change (it is in immutable Deployment selectors).
pub const APP: &str = "app";
pub const APP_VERSION: &str = "version";
pub const CANONICAL_NAME: &str = "service.istio.io/canonical-name";

/// Value of `app.kubernetes.io/managed-by` and the server-side apply field manager.
pub const MANAGER: &str = "storefront-operator";
/// Value of `app.kubernetes.io/part-of` and `app.kubernetes.io/name`.
pub const PART_OF_VALUE: &str = "storefront";
/// Component label of objects that belong to the platform as a whole (policies, JWT key).
pub const PLATFORM_COMPONENT: &str = "platform";

/// Who an object belongs to: the platform instance, its namespace and its owner reference.
#[derive(Clone, Debug, PartialEq)]
pub struct Ownership {
    pub instance: String,
    pub namespace: String,
    pub owner: OwnerReference,
    /// Version label of platform-wide objects (spec.version).
    pub platform_version: String,
}

impl Ownership {
    /// `<instance>-<suffix>`, the name of every object of the platform.
    pub fn object_name(&self, suffix: &str) -> String {
        format!("{}-{suffix}", self.instance)
    }

    /// Metadata of an object of `component` at `version`, with labels and owner reference.
    pub fn meta(&self, name: String, component: &str, version: &str) -> ObjectMeta {
        ObjectMeta {
            name: Some(name),
            namespace: Some(self.namespace.clone()),
            labels: Some(self.labels(component, version)),
            owner_references: Some(vec![self.owner.clone()]),
            ..ObjectMeta::default()
        }
    }

    /// Metadata of a platform-wide object (component `platform`).
    pub fn platform_meta(&self, name: String) -> ObjectMeta {
        self.meta(name, PLATFORM_COMPONENT, &self.platform_version)
    }

    /// The full label set of an object.
    pub fn labels(&self, component: &str, version: &str) -> BTreeMap<String, String> {
        let mut labels = self.fixed_labels(component);
        labels.insert(VERSION.into(), version.into());
        labels
    }

    /// Every label except the version: what never changes for a component, for the parts of
    /// objects the API server will not let change (StatefulSet volume claim templates).
    pub fn fixed_labels(&self, component: &str) -> BTreeMap<String, String> {
        let mut labels = self.selector_labels(component);
        labels.insert(PART_OF.into(), PART_OF_VALUE.into());
        labels.insert(MANAGED_BY.into(), MANAGER.into());
        labels
    }

    /// Labels of a component's pods: the full set, the network tier, and the workload's own
    /// name and version under the labels Istio and Kiali read before `app.kubernetes.io/name`
    /// (`app`, `version`, `service.istio.io/canonical-name`), so each shows as itself.
    pub fn pod_labels(&self, component: Component, version: &str) -> BTreeMap<String, String> {
        let mut labels = self.labels(component.name(), version);
        labels.insert(TIER.into(), component.tier().as_str().into());
        labels.insert(APP.into(), component.name().into());
        labels.insert(APP_VERSION.into(), version.into());
        labels.insert(CANONICAL_NAME.into(), component.name().into());
        labels
    }

    /// The stable labels that select a component's pods.
    pub fn selector_labels(&self, component: &str) -> BTreeMap<String, String> {
        BTreeMap::from([
            (NAME.to_owned(), PART_OF_VALUE.to_owned()),
            (INSTANCE.to_owned(), self.instance.clone()),
            (COMPONENT.to_owned(), component.to_owned()),
        ])
    }

    /// The labels every pod of a component carries on either track: what its Service and its
    /// AuthorizationPolicy select. Canary pods lack `app.kubernetes.io/name: storefront`, so
    /// the stable Deployment's selector (which its HPA and PDB use) does not match them.
    pub fn component_labels(&self, component: &str) -> BTreeMap<String, String> {
        BTreeMap::from([
            (INSTANCE.to_owned(), self.instance.clone()),
            (COMPONENT.to_owned(), component.to_owned()),
        ])
    }

    /// A selector for a component's pods.
    pub fn selector(&self, component: Component) -> LabelSelector {
        LabelSelector {
            match_labels: Some(self.selector_labels(component.name())),
            ..LabelSelector::default()
        }
    }

    /// A selector for the pods of several components (either track: no `name` label).
    pub fn components_selector(&self, components: &[Component]) -> LabelSelector {
        LabelSelector {
            match_labels: Some(BTreeMap::from([
                (INSTANCE.to_owned(), self.instance.clone()),
                (PART_OF.to_owned(), PART_OF_VALUE.to_owned()),
            ])),
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: COMPONENT.to_owned(),
                operator: "In".to_owned(),
                values: Some(components.iter().map(|c| c.name().to_owned()).collect()),
            }]),
        }
    }

    /// A selector for every pod of the platform in one tier.
    pub fn tier_selector(&self, tier: Tier) -> LabelSelector {
        LabelSelector {
            match_labels: Some(BTreeMap::from([
                (INSTANCE.to_owned(), self.instance.clone()),
                (PART_OF.to_owned(), PART_OF_VALUE.to_owned()),
                (TIER.to_owned(), tier.as_str().to_owned()),
            ])),
            ..LabelSelector::default()
        }
    }

    /// A selector for every pod of the platform.
    pub fn instance_selector(&self) -> LabelSelector {
        LabelSelector {
            match_labels: Some(BTreeMap::from([
                (INSTANCE.to_owned(), self.instance.clone()),
                (PART_OF.to_owned(), PART_OF_VALUE.to_owned()),
            ])),
            ..LabelSelector::default()
        }
    }

    /// Label selector string that finds every object this operator made for this instance.
    pub fn owned_objects_selector(&self) -> String {
        owned_objects_selector(&self.instance)
    }
}

/// The label selector of every object platform `instance` owns.
pub fn owned_objects_selector(instance: &str) -> String {
    format!("{INSTANCE}={instance},{MANAGED_BY}={MANAGER}")
}
