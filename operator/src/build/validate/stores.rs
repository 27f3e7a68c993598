//! Plans of the data stores: where PostgreSQL and Redis run, and with which credentials.
//!
//! Invariants: External mode always names a Secret and carries no Managed-only setting; Managed
//! PostgreSQL always has a password for the superuser and for every database-owning service.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::{CachePlan, DatabasePlan, ValidationError};
use crate::build::component::Component;
use crate::build::image::ImageRef;
use crate::build::secrets::{self, KeyValue, SecretSource};
use crate::crd::{PlatformSpec, StoreMode};

const DEFAULT_POSTGRES_VERSION: &str = "17-alpine";
const DEFAULT_REDIS_VERSION: &str = "7.4-alpine";

/// Where PostgreSQL runs; Managed reuses the passwords in `existing` (the current Secret).
pub(super) fn database_plan(
    spec: &PlatformSpec,
    db_name: String,
    existing: Option<&BTreeMap<String, String>>,
    source: &mut dyn SecretSource,
) -> Result<DatabasePlan, ValidationError> {
    let plan = match spec.database.mode {
        StoreMode::Managed => {
            let image = store_image(
                "database",
                "postgres",
                spec.database.image.as_deref(),
                spec.database.version.as_deref(),
                DEFAULT_POSTGRES_VERSION,
            )?;
            let image = ImageRef::parse(&image).map_err(|source| ValidationError::Image {
                service: Component::Postgres,
                source,
            })?;
            let mut keys = vec![(secrets::POSTGRES_PASSWORD_KEY.to_owned(), KeyValue::Random)];
            keys.extend(
                Component::WITH_DATABASE
                    .iter()
                    .map(|&c| (secrets::password_key(c), KeyValue::Random)),
            );
            DatabasePlan::Managed {
                image,
                storage: spec
                    .database
                    .storage
                    .clone()
                    .unwrap_or_else(|| Quantity("1Gi".into())),
                storage_class: spec.database.storage_class_name.clone(),
                retain_on_delete: spec.database.retain_on_delete,
                secret: secrets::resolve(db_name.clone(), "postgres", &keys, existing, source),
            }
        }
        StoreMode::External => {
            let store = "database";
            if spec.database.storage.is_some() {
                return Err(ValidationError::ManagedOnly {
                    store,
                    field: "storage",
                });
            }
            if spec.database.storage_class_name.is_some() {
                return Err(ValidationError::ManagedOnly {
                    store,
                    field: "storageClassName",
                });
            }
            if spec.database.version.is_some() {
                return Err(ValidationError::ManagedOnly {
                    store,
                    field: "version",
                });
            }
            if spec.database.image.is_some() {
                return Err(ValidationError::ManagedOnly {
                    store,
                    field: "image",
                });
            }
            let secret_ref = spec
                .database
                .secret_ref
                .as_ref()
                .ok_or(ValidationError::ExternalWithoutSecretRef { store })?;
            DatabasePlan::External {
                secret_name: secret_ref.name.clone(),
            }
        }
    };
    Ok(plan)
}

/// The image of a managed store: `image` as given, else `<repository>:<version or default>`.
/// Both at once is refused, since one would silently lose.
fn store_image(
    store: &'static str,
    repository: &str,
    image: Option<&str>,
    version: Option<&str>,
    default_version: &str,
) -> Result<String, ValidationError> {
    match (image, version) {
        (Some(_), Some(_)) => Err(ValidationError::ImageAndVersion { store }),
        (Some(image), None) => Ok(image.to_owned()),
        (None, version) => Ok(format!(
            "{repository}:{}",
            version.unwrap_or(default_version)
        )),
    }
}

/// Where Redis runs.
pub(super) fn cache_plan(spec: &PlatformSpec) -> Result<CachePlan, ValidationError> {
    let plan = match spec.cache.mode {
        StoreMode::Managed => {
            let image = store_image(
                "cache",
                "redis",
                spec.cache.image.as_deref(),
                spec.cache.version.as_deref(),
                DEFAULT_REDIS_VERSION,
            )?;
            CachePlan::Managed {
                image: ImageRef::parse(&image).map_err(|source| ValidationError::Image {
                    service: Component::Redis,
                    source,
                })?,
                storage: spec
                    .cache
                    .storage
                    .clone()
                    .unwrap_or_else(|| Quantity("256Mi".into())),
            }
        }
        StoreMode::External => {
            let store = "cache";
            if spec.cache.storage.is_some() {
                return Err(ValidationError::ManagedOnly {
                    store,
                    field: "storage",
                });
            }
            if spec.cache.version.is_some() {
                return Err(ValidationError::ManagedOnly {
                    store,
                    field: "version",
                });
            }
            if spec.cache.image.is_some() {
                return Err(ValidationError::ManagedOnly {
                    store,
                    field: "image",
                });
            }
            let secret_ref = spec
                .cache
                .secret_ref
                .as_ref()
                .ok_or(ValidationError::ExternalWithoutSecretRef { store })?;
            CachePlan::External {
                secret_name: secret_ref.name.clone(),
            }
        }
    };
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_image_is_the_given_reference_or_the_default_repository_with_the_tag() {
        let image =
            |image, version| store_image("database", "postgres", image, version, "17-alpine");
        assert_eq!(image(None, None).unwrap(), "postgres:17-alpine");
        assert_eq!(image(None, Some("16")).unwrap(), "postgres:16");
        assert_eq!(
            image(Some("ghcr.io/acme/postgres:15-bookworm"), None).unwrap(),
            "ghcr.io/acme/postgres:15-bookworm"
        );
        let both = image(Some("ghcr.io/acme/postgres:15"), Some("16")).unwrap_err();
        assert!(
            both.to_string()
                .contains("spec.database.image and spec.database.version"),
            "{both}"
        );
    }
}
