//! Settings of the order-events bus: which transport carries the events orders publishes and
//! notifications consumes, and, for RabbitMQ, who runs the broker.
//!
//! Invariants, enforced by CEL in the CRD and again by the validate step: an External broker
//! always carries a `secretRef`; on an existing platform `rabbitmq.mode` does not change (the
//! queues and their unconsumed events do not follow to another broker) and neither does
//! `rabbitmq.storageClassName` (the volume keeps its class). The last two are transition rules,
//! so they hold for updates only.

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{SecretRef, StoreMode};

/// The transport of the order events.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum EventBus {
    /// A Redis stream in the platform's cache (spec.cache). The default.
    #[default]
    Redis,
    /// A RabbitMQ topic exchange; the broker is configured in events.rabbitmq.
    RabbitMQ,
}

/// The order-events bus between orders (publisher, through its outbox) and notifications.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventsSpec {
    /// Redis (default) or RabbitMQ.
    #[serde(default)]
    pub bus: EventBus,
    /// The RabbitMQ broker; used only when bus is RabbitMQ (Managed when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rabbitmq: Option<RabbitMqSpec>,
}

/// The RabbitMQ broker of the order events.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.mode != 'External' || has(self.secretRef)").message("events.rabbitmq.secretRef is required when events.rabbitmq.mode is External"))]
#[x_kube(validation = Rule::new("self.mode == oldSelf.mode").message("events.rabbitmq.mode cannot change on an existing platform: the queues and the events not yet consumed stay on the old broker; set it back, or drain the queues and create a new platform"))]
#[x_kube(validation = Rule::new("has(self.storageClassName) == has(oldSelf.storageClassName) && (!has(self.storageClassName) || self.storageClassName == oldSelf.storageClassName)").message("events.rabbitmq.storageClassName cannot change once the data volume exists (a StatefulSet's volume claim template is immutable); set it back, or drain the queues and create a new platform with the new class"))]
pub struct RabbitMqSpec {
    /// Managed (default): the operator runs a single-node RabbitMQ StatefulSet with a
    /// persistent volume and a generated user. External: the broker runs elsewhere.
    #[serde(default)]
    pub mode: StoreMode,
    /// External only: Secret holding the broker's AMQP URL
    /// (amqp://user:pass@host:5672/%2f) under the key `url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretRef>,
    /// Managed only: size of the data volume (durable queues and unconsumed events).
    /// Defaults to 1Gi.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<Quantity>,
    /// Managed only: StorageClass of the data volume. Defaults to the cluster's default class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class_name: Option<String>,
    /// Managed only: keep the data volume, and the `<name>-rabbitmq` Secret with the
    /// credentials that open it, when the platform is deleted (as database.retainOnDelete).
    /// Defaults to false.
    #[serde(default)]
    pub retain_on_delete: bool,
    /// Managed only: tag of the Debian-based `<registry>/rabbitmq` image. Defaults to
    /// 3.10-bookworm (Debian bookworm's RabbitMQ 3.10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub version: Option<String>,
    /// Managed only: the whole image reference instead of <registry>/rabbitmq:<version>. It
    /// must behave like the official image: RABBITMQ_DEFAULT_USER, RABBITMQ_DEFAULT_PASS,
    /// data in /var/lib/rabbitmq, rabbitmq-diagnostics, uid 999.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255))]
    pub image: Option<String>,
}
