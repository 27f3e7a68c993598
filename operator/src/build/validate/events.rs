//! Plan of the order-events bus: Redis (the cache's stream) or RabbitMQ, and for RabbitMQ where
//! the broker runs and with which credentials.
//!
//! Invariants: an External broker always names a Secret and carries no Managed-only setting; a
//! Managed broker always has a user and a password, reused from its Secret once generated.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::ValidationError;
use crate::build::component::Component;
use crate::build::image::{ImageError, ImageRef};
use crate::build::secrets::{self, GeneratedSecret, KeyValue, SecretSource};
use crate::crd::{EventBus, PlatformSpec, RabbitMqSpec, StoreMode};

/// Tag of the default `<registry>/rabbitmq` image: Debian bookworm's RabbitMQ, as the
/// registry's PostgreSQL and Redis images are Debian's.
pub const DEFAULT_RABBITMQ_VERSION: &str = "3.10-bookworm";
/// The user the operator creates on a Managed broker.
pub const RABBITMQ_USER: &str = "storefront";

/// Which transport carries the order events.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum EventsPlan {
    /// The Redis stream in the cache; the services' default, so nothing is set for it.
    #[default]
    Redis,
    RabbitMq(RabbitMqPlan),
}

/// Where RabbitMQ runs.
#[derive(Clone, Debug, PartialEq)]
pub enum RabbitMqPlan {
    Managed {
        image: ImageRef,
        storage: Quantity,
        storage_class: Option<String>,
        retain_on_delete: bool,
        secret: GeneratedSecret,
    },
    External {
        secret_name: String,
    },
}

impl RabbitMqPlan {
    /// Secret holding the broker's AMQP URL under `url`.
    pub fn secret_name(&self) -> &str {
        match self {
            Self::Managed { secret, .. } => &secret.name,
            Self::External { secret_name } => secret_name,
        }
    }
}

/// The bus of `spec.events`; a Managed broker reuses the credentials in `existing`.
pub(super) fn events_plan(
    spec: &PlatformSpec,
    secret_name: String,
    existing: Option<&BTreeMap<String, String>>,
    source: &mut dyn SecretSource,
) -> Result<EventsPlan, ValidationError> {
    let Some(events) = &spec.events else {
        return Ok(EventsPlan::Redis);
    };
    if events.bus == EventBus::Redis {
        // events.rabbitmq is kept but unused, so switching back needs no other edit.
        return Ok(EventsPlan::Redis);
    }
    let default = RabbitMqSpec::default();
    let rabbitmq = events.rabbitmq.as_ref().unwrap_or(&default);
    let plan = match rabbitmq.mode {
        StoreMode::Managed => RabbitMqPlan::Managed {
            image: image(spec, rabbitmq)?,
            storage: rabbitmq
                .storage
                .clone()
                .unwrap_or_else(|| Quantity("1Gi".into())),
            storage_class: rabbitmq.storage_class_name.clone(),
            retain_on_delete: rabbitmq.retain_on_delete,
            secret: secrets::resolve(
                secret_name,
                "rabbitmq",
                &[
                    (
                        secrets::RABBITMQ_USER_KEY.to_owned(),
                        KeyValue::Fixed(RABBITMQ_USER),
                    ),
                    (secrets::RABBITMQ_PASSWORD_KEY.to_owned(), KeyValue::Random),
                ],
                existing,
                source,
            ),
        },
        StoreMode::External => {
            let store = "events.rabbitmq";
            let managed_only = [
                ("storage", rabbitmq.storage.is_some()),
                ("storageClassName", rabbitmq.storage_class_name.is_some()),
                ("retainOnDelete", rabbitmq.retain_on_delete),
                ("version", rabbitmq.version.is_some()),
                ("image", rabbitmq.image.is_some()),
            ];
            if let Some((field, _)) = managed_only.into_iter().find(|(_, set)| *set) {
                return Err(ValidationError::ManagedOnly { store, field });
            }
            let secret_ref = rabbitmq
                .secret_ref
                .as_ref()
                .ok_or(ValidationError::ExternalWithoutSecretRef { store })?;
            RabbitMqPlan::External {
                secret_name: secret_ref.name.clone(),
            }
        }
    };
    Ok(EventsPlan::RabbitMq(plan))
}

/// `image` as given, else `<registry>/rabbitmq:<version or default>`.
fn image(spec: &PlatformSpec, rabbitmq: &RabbitMqSpec) -> Result<ImageRef, ValidationError> {
    let image_err = |source| ValidationError::Image {
        service: Component::RabbitMq,
        source,
    };
    match (&rabbitmq.image, &rabbitmq.version) {
        (Some(_), Some(_)) => Err(ValidationError::ImageAndVersion {
            store: "events.rabbitmq",
        }),
        (Some(image), None) => ImageRef::parse(image).map_err(image_err),
        (None, version) => ImageRef::from_parts(
            &spec.registry,
            Component::RabbitMq.name(),
            version.as_deref().unwrap_or(DEFAULT_RABBITMQ_VERSION),
        )
        .map_err(|source| match source {
            ImageError::Repository(_) | ImageError::Malformed(_) => ValidationError::Registry {
                registry: spec.registry.clone(),
                source,
            },
            other => image_err(other),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::secrets::CountingSecrets;
    use crate::crd::{EventsSpec, SecretRef};

    fn spec(events: Option<EventsSpec>) -> PlatformSpec {
        let mut spec: PlatformSpec =
            serde_json::from_value(serde_json::json!({"version": "0.1.0"})).unwrap();
        spec.events = events;
        spec
    }

    fn rabbitmq(rabbitmq: RabbitMqSpec) -> Option<EventsSpec> {
        Some(EventsSpec {
            bus: EventBus::RabbitMQ,
            rabbitmq: Some(rabbitmq),
        })
    }

    fn plan(spec: &PlatformSpec) -> Result<EventsPlan, ValidationError> {
        events_plan(
            spec,
            "shop-rabbitmq".into(),
            None,
            &mut CountingSecrets::default(),
        )
    }

    #[test]
    fn no_events_section_is_the_redis_stream() {
        assert_eq!(plan(&spec(None)).unwrap(), EventsPlan::Redis);
    }

    #[test]
    fn bus_redis_ignores_the_rabbitmq_settings_it_keeps() {
        let events = Some(EventsSpec {
            bus: EventBus::Redis,
            rabbitmq: Some(RabbitMqSpec {
                mode: StoreMode::External,
                ..RabbitMqSpec::default()
            }),
        });
        assert_eq!(plan(&spec(events)).unwrap(), EventsPlan::Redis);
    }

    #[test]
    fn managed_rabbitmq_defaults_to_the_registry_image_and_a_generated_password() {
        let events = Some(EventsSpec {
            bus: EventBus::RabbitMQ,
            rabbitmq: None,
        });
        let EventsPlan::RabbitMq(RabbitMqPlan::Managed {
            image,
            storage,
            secret,
            retain_on_delete,
            ..
        }) = plan(&spec(events)).unwrap()
        else {
            panic!("expected a managed broker");
        };
        assert_eq!(
            image.to_string(),
            "ghcr.io/storefront-dev/storefront/rabbitmq:3.10-bookworm"
        );
        assert_eq!(storage, Quantity("1Gi".into()));
        assert!(!retain_on_delete);
        assert_eq!(secret.name, "shop-rabbitmq");
        assert_eq!(secret.data[secrets::RABBITMQ_USER_KEY], RABBITMQ_USER);
        assert_eq!(secret.data[secrets::RABBITMQ_PASSWORD_KEY], "generated-1");
    }

    #[test]
    fn managed_rabbitmq_keeps_the_password_it_generated_before() {
        let existing =
            BTreeMap::from([(secrets::RABBITMQ_PASSWORD_KEY.to_owned(), "kept".to_owned())]);
        let spec = spec(rabbitmq(RabbitMqSpec::default()));
        let mut source = CountingSecrets::default();
        let Ok(EventsPlan::RabbitMq(RabbitMqPlan::Managed { secret, .. })) =
            events_plan(&spec, "shop-rabbitmq".into(), Some(&existing), &mut source)
        else {
            panic!("expected a managed broker");
        };
        assert_eq!(secret.data[secrets::RABBITMQ_PASSWORD_KEY], "kept");
        assert_eq!(source.fresh(), "generated-1", "nothing was generated");
    }

    #[test]
    fn managed_rabbitmq_takes_a_whole_image_or_a_tag_but_not_both() {
        let tagged = spec(rabbitmq(RabbitMqSpec {
            version: Some("4.1-trixie".into()),
            ..RabbitMqSpec::default()
        }));
        let Ok(EventsPlan::RabbitMq(RabbitMqPlan::Managed { image, .. })) = plan(&tagged) else {
            panic!("expected a managed broker");
        };
        assert_eq!(image.version(), "4.1-trixie");
        let whole = spec(rabbitmq(RabbitMqSpec {
            image: Some("docker.io/library/rabbitmq:4.1".into()),
            ..RabbitMqSpec::default()
        }));
        let Ok(EventsPlan::RabbitMq(RabbitMqPlan::Managed { image, .. })) = plan(&whole) else {
            panic!("expected a managed broker");
        };
        assert_eq!(image.to_string(), "docker.io/library/rabbitmq:4.1");
        let both = spec(rabbitmq(RabbitMqSpec {
            image: Some("rabbitmq:4.1".into()),
            version: Some("4.1".into()),
            ..RabbitMqSpec::default()
        }));
        let err = plan(&both).unwrap_err().to_string();
        assert!(
            err.contains("spec.events.rabbitmq.image and spec.events.rabbitmq.version"),
            "{err}"
        );
    }

    #[test]
    fn external_rabbitmq_needs_a_secret_ref_and_no_managed_setting() {
        let missing = spec(rabbitmq(RabbitMqSpec {
            mode: StoreMode::External,
            ..RabbitMqSpec::default()
        }));
        assert_eq!(
            plan(&missing).unwrap_err().to_string(),
            "spec.events.rabbitmq.secretRef is required when spec.events.rabbitmq.mode is \
             External; name a Secret holding the connection details"
        );
        let with_storage = spec(rabbitmq(RabbitMqSpec {
            mode: StoreMode::External,
            secret_ref: Some(SecretRef {
                name: "amqp".into(),
            }),
            storage: Some(Quantity("2Gi".into())),
            ..RabbitMqSpec::default()
        }));
        assert_eq!(
            plan(&with_storage).unwrap_err(),
            ValidationError::ManagedOnly {
                store: "events.rabbitmq",
                field: "storage"
            }
        );
        let external = spec(rabbitmq(RabbitMqSpec {
            mode: StoreMode::External,
            secret_ref: Some(SecretRef {
                name: "amqp".into(),
            }),
            ..RabbitMqSpec::default()
        }));
        assert_eq!(
            plan(&external).unwrap(),
            EventsPlan::RabbitMq(RabbitMqPlan::External {
                secret_name: "amqp".into()
            })
        );
    }
}
