//! Settings of the data stores: PostgreSQL (one database per service) and Redis.
//!
//! Invariants, enforced by CEL in the CRD: `External` mode always carries a `secretRef` (checked
//! again by the validate step); on an existing platform neither store changes `mode` and the
//! database keeps its `storageClassName`, because the operator cannot move data between them
//! (transition rules, so they hold for updates only).

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Who runs a data store.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum StoreMode {
    /// The operator runs it as a StatefulSet with a persistent volume. The default.
    #[default]
    Managed,
    /// It runs elsewhere; connection details come from the Secret in secretRef.
    External,
}

/// A reference to a Secret in the platform's namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct SecretRef {
    /// Name of the Secret.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// The PostgreSQL database of the platform.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.mode != 'External' || has(self.secretRef)").message("database.secretRef is required when database.mode is External"))]
#[x_kube(validation = Rule::new("self.mode == oldSelf.mode").message("database.mode cannot change on an existing platform: the operator does not move data between a Managed and an External database; set it back, or migrate the data yourself and create a new platform"))]
#[x_kube(validation = Rule::new("has(self.storageClassName) == has(oldSelf.storageClassName) && (!has(self.storageClassName) || self.storageClassName == oldSelf.storageClassName)").message("database.storageClassName cannot change once the data volume exists (a StatefulSet's volume claim template is immutable); set it back, or back up the data and create a new platform with the new class"))]
pub struct DatabaseSpec {
    /// Managed (default) or External.
    #[serde(default)]
    pub mode: StoreMode,
    /// Managed only: size of the data volume. Defaults to 1Gi.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<Quantity>,
    /// Managed only: StorageClass of the data volume. Defaults to the cluster's default class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class_name: Option<String>,
    /// Managed only: keep the data volume, and the `<name>-postgres` Secret with the passwords
    /// that open it, when the platform is deleted; a platform created again with the same name
    /// runs on both. Delete the PVCs and that Secret by hand to drop the data. Defaults to false.
    #[serde(default)]
    pub retain_on_delete: bool,
    /// External only: Secret holding one connection URL per service under the keys
    /// `users-database-url`, `catalog-database-url`, `inventory-database-url`,
    /// `payments-database-url` and `orders-database-url` (postgres://user:pass@host:5432/db).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretRef>,
    /// Managed only: PostgreSQL image tag. Defaults to 17-alpine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub version: Option<String>,
    /// Managed only: the whole image reference instead of postgres:<version> (a mirror, or an
    /// image built locally). It must behave like the official image: POSTGRES_USER,
    /// POSTGRES_PASSWORD, PGDATA, /docker-entrypoint-initdb.d, pg_isready, uid 70.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255))]
    pub image: Option<String>,
}

/// The Redis cache of the platform (token denylist, rate limits, carts, response cache).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.mode != 'External' || has(self.secretRef)").message("cache.secretRef is required when cache.mode is External"))]
#[x_kube(validation = Rule::new("self.mode == oldSelf.mode").message("cache.mode cannot change on an existing platform: carts, the token denylist and rate-limit counters would not follow to the other Redis; set it back, or create a new platform"))]
pub struct CacheSpec {
    /// Managed (default) or External.
    #[serde(default)]
    pub mode: StoreMode,
    /// External only: Secret holding the Redis URL (redis://host:6379) under the key `url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretRef>,
    /// Managed only: size of the data volume. Defaults to 256Mi.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<Quantity>,
    /// Managed only: Redis image tag. Defaults to 7.4-alpine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub version: Option<String>,
    /// Managed only: the whole image reference instead of redis:<version> (a mirror, or an
    /// image built locally). It must take redis-server's arguments and have redis-cli.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255))]
    pub image: Option<String>,
}

/// The first administrator account, created by the users service at start-up.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdminSpec {
    /// Secret with the keys `email` and `password`. When absent the operator generates one
    /// named `<platform>-admin` (email admin@storefront.local, random password).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretRef>,
}
