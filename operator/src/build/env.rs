//! The environment contract between the operator and the services.
//!
//! Invariants: the names here are the ones the services read (see the brief); plain values go to
//! the service's ConfigMap, anything secret is a `secretKeyRef` and never appears in a ConfigMap.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{EnvVar, EnvVarSource, SecretKeySelector};

use super::component::Component;
use super::secrets;
use super::shutdown;
use super::validate::{CachePlan, EventsPlan, ValidatedPlatform, ValidatedService};

pub const HTTP_PORT: i32 = 8080;
pub const POSTGRES_PORT: i32 = 5432;
pub const REDIS_PORT: i32 = 6379;
pub const AMQP_PORT: i32 = 5672;

/// Variables the operator owns; a user may not set them in `spec.services.*.env`.
const RESERVED: [&str; 19] = [
    "STOREFRONT_HTTP_ADDR",
    "STOREFRONT_JWT_SECRET",
    "STOREFRONT_ADMIN_EMAIL",
    "STOREFRONT_ADMIN_PASSWORD",
    "STOREFRONT_SEED_DEMO",
    "OTEL_SERVICE_NAME",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
    "DATABASE_URL",
    "REDIS_URL",
    "STOREFRONT_EVENT_BUS",
    "RABBITMQ_URL",
    "GATEWAY_URL",
    "LOADGEN_MODE",
    "LOADGEN_URL",
    "SHUTDOWN_DELAY_SECONDS",
    "SHUTDOWN_DRAIN_SECONDS",
    "GATEWAY_TRUSTED_PROXIES",
];

/// Variables the services no longer read and refuse at start-up; refused in the spec too, with
/// what replaces them.
const REMOVED: [&str; 1] = ["GATEWAY_TRUST_FORWARDED"];

/// Loadgen's steady load unless `spec.services.loadgen.env` says otherwise: about five
/// operations per second, enough for a canary analysis without loading a laptop cluster.
const LOADGEN_DEFAULTS: [(&str, &str); 2] = [("LOADGEN_USERS", "5"), ("LOADGEN_THINK", "1s")];

/// Whether `name` belongs to the operator's contract.
pub fn is_reserved(name: &str) -> bool {
    RESERVED.contains(&name)
        || Component::SERVICES
            .iter()
            .any(|c| c.url_env() == Some(name))
}

/// Whether `name` was removed from the services (see [`REMOVED`]).
pub fn is_removed(name: &str) -> bool {
    REMOVED.contains(&name)
}

/// The environment of one service container.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServiceEnv {
    /// Non-secret values, published in the service's ConfigMap.
    pub plain: BTreeMap<String, String>,
    /// Values read from Secrets.
    pub secret: Vec<EnvVar>,
}

/// In-cluster base URL of a service.
pub fn service_url(platform: &ValidatedPlatform, component: Component) -> String {
    format!(
        "http://{}:{HTTP_PORT}",
        platform.ownership.object_name(component.name())
    )
}

/// The environment of `service`.
pub fn service_env(platform: &ValidatedPlatform, service: &ValidatedService) -> ServiceEnv {
    let c = service.component;
    let mut plain = BTreeMap::from([
        (
            "STOREFRONT_HTTP_ADDR".to_owned(),
            format!("0.0.0.0:{HTTP_PORT}"),
        ),
        ("OTEL_SERVICE_NAME".to_owned(), c.name().to_owned()),
        ("RUST_LOG".to_owned(), "info".to_owned()),
    ]);
    plain.extend(shutdown::env().map(|(k, v)| (k.to_owned(), v)));
    for other in &platform.services {
        if let Some(var) = other.component.url_env() {
            plain.insert(var.to_owned(), service_url(platform, other.component));
        }
    }
    if c == Component::Loadgen {
        // Serve mode: a long-running load with health endpoints, against the public entry.
        plain.insert("LOADGEN_MODE".to_owned(), "serve".to_owned());
        plain.insert(
            "LOADGEN_URL".to_owned(),
            service_url(platform, Component::Gateway),
        );
        for (name, value) in LOADGEN_DEFAULTS {
            plain.insert(name.to_owned(), value.to_owned());
        }
    }
    if c == Component::Gateway && !platform.trusted_proxies.is_empty() {
        let list: Vec<String> = platform
            .trusted_proxies
            .iter()
            .map(ToString::to_string)
            .collect();
        plain.insert("GATEWAY_TRUSTED_PROXIES".to_owned(), list.join(","));
    }
    if platform.demo_data && matches!(c, Component::Catalog | Component::Inventory) {
        plain.insert("STOREFRONT_SEED_DEMO".to_owned(), "true".to_owned());
    }
    if let Some(tracing) = &platform.tracing {
        if let Some(endpoint) = &tracing.endpoint {
            plain.insert("OTEL_EXPORTER_OTLP_ENDPOINT".to_owned(), endpoint.clone());
        }
        plain.insert(
            "OTEL_TRACES_SAMPLER".to_owned(),
            "parentbased_traceidratio".to_owned(),
        );
        plain.insert(
            "OTEL_TRACES_SAMPLER_ARG".to_owned(),
            format!("{}", tracing.sampling_ratio),
        );
    }

    let mut secret = vec![from_secret(
        "STOREFRONT_JWT_SECRET",
        &platform.jwt.name,
        secrets::JWT_KEY,
    )];
    if c.uses_database() {
        secret.push(from_secret(
            "DATABASE_URL",
            platform.database.secret_name(),
            &secrets::database_url_key(c),
        ));
    }
    if c.uses_redis() {
        match &platform.cache {
            CachePlan::Managed { .. } => {
                plain.insert(
                    "REDIS_URL".to_owned(),
                    format!(
                        "redis://{}:{REDIS_PORT}",
                        platform.ownership.object_name("redis")
                    ),
                );
            }
            CachePlan::External { secret_name } => {
                secret.push(from_secret(
                    "REDIS_URL",
                    secret_name,
                    secrets::CACHE_URL_KEY,
                ));
            }
        }
    }
    if c.on_event_bus()
        && let EventsPlan::RabbitMq(rabbitmq) = &platform.events
    {
        // The Redis stream is the services' default bus, so only RabbitMQ is spelled out.
        plain.insert("STOREFRONT_EVENT_BUS".to_owned(), "rabbitmq".to_owned());
        secret.push(from_secret(
            "RABBITMQ_URL",
            rabbitmq.secret_name(),
            secrets::RABBITMQ_URL_KEY,
        ));
    }
    if c == Component::Users {
        secret.push(from_secret(
            "STOREFRONT_ADMIN_EMAIL",
            &platform.admin_secret_name,
            secrets::ADMIN_EMAIL_KEY,
        ));
        secret.push(from_secret(
            "STOREFRONT_ADMIN_PASSWORD",
            &platform.admin_secret_name,
            secrets::ADMIN_PASSWORD_KEY,
        ));
    }
    plain.extend(service.extra_env.clone());
    ServiceEnv { plain, secret }
}

/// An env var read from a Secret key.
pub fn from_secret(name: &str, secret: &str, key: &str) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: secret.to_owned(),
                key: key.to_owned(),
                optional: Some(false),
            }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    }
}
