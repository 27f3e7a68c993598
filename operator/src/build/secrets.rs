//! Secrets the operator generates (JWT signing key, database passwords, admin account, RabbitMQ
//! user) and the rule that keeps them stable.
//!
//! Invariant: a value present in the existing Secret is always reused; only missing keys are
//! generated. Generation goes through [`SecretSource`] so builds are deterministic under test.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use rand::RngExt;
use rand::distr::Alphanumeric;

use super::component::Component;
use super::labels::Ownership;

/// Key of the JWT signing key in the `<instance>-jwt` Secret.
pub const JWT_KEY: &str = "signing-key";
/// Key of the PostgreSQL superuser password in the `<instance>-postgres` Secret.
pub const POSTGRES_PASSWORD_KEY: &str = "postgres-password";
/// Keys of the admin Secret (generated or referenced).
pub const ADMIN_EMAIL_KEY: &str = "email";
pub const ADMIN_PASSWORD_KEY: &str = "password";
/// Key of the Redis URL in an external cache Secret.
pub const CACHE_URL_KEY: &str = "url";
/// Key of the AMQP URL in the `<instance>-rabbitmq` Secret and in an external broker's Secret.
pub const RABBITMQ_URL_KEY: &str = "url";
/// Keys of the generated RabbitMQ user in the `<instance>-rabbitmq` Secret.
pub const RABBITMQ_USER_KEY: &str = "username";
pub const RABBITMQ_PASSWORD_KEY: &str = "password";
/// Email of the generated admin account.
pub const DEFAULT_ADMIN_EMAIL: &str = "admin@storefront.local";

/// Where fresh secret values come from.
pub trait SecretSource {
    /// A new random value: URL-safe, so it can sit in a connection URL unescaped.
    fn fresh(&mut self) -> String;
}

/// Cryptographically random 32-character alphanumeric values from the thread RNG.
#[derive(Debug, Default)]
pub struct RandomSecrets;

impl SecretSource for RandomSecrets {
    fn fresh(&mut self) -> String {
        rand::rng()
            .sample_iter(Alphanumeric)
            .take(32)
            .map(char::from)
            .collect()
    }
}

/// Predictable values (`generated-1`, `generated-2`, …) for tests and snapshots.
#[derive(Debug, Default)]
pub struct CountingSecrets(u32);

impl SecretSource for CountingSecrets {
    fn fresh(&mut self) -> String {
        self.0 += 1;
        format!("generated-{}", self.0)
    }
}

/// A Secret the operator owns, with its resolved data.
#[derive(Clone, Debug, PartialEq)]
pub struct GeneratedSecret {
    pub name: String,
    pub component: &'static str,
    pub data: BTreeMap<String, String>,
}

/// How a missing key gets its value.
pub enum KeyValue {
    Random,
    Fixed(&'static str),
}

/// Resolve the data of a generated Secret: existing values win, missing keys are filled.
pub fn resolve(
    name: String,
    component: &'static str,
    keys: &[(String, KeyValue)],
    existing: Option<&BTreeMap<String, String>>,
    source: &mut dyn SecretSource,
) -> GeneratedSecret {
    let data = keys
        .iter()
        .map(|(key, value)| {
            let kept = existing.and_then(|data| data.get(key)).cloned();
            let value = kept.unwrap_or_else(|| match value {
                KeyValue::Random => source.fresh(),
                KeyValue::Fixed(v) => (*v).to_owned(),
            });
            (key.clone(), value)
        })
        .collect();
    GeneratedSecret {
        name,
        component,
        data,
    }
}

/// Key of a service's password in the `<instance>-postgres` Secret.
pub fn password_key(service: Component) -> String {
    format!("{service}-password")
}

/// Key of a service's `DATABASE_URL` (generated or external Secret).
pub fn database_url_key(service: Component) -> String {
    format!("{service}-database-url")
}

/// Decode the data of a Secret read from the cluster. Non-UTF-8 values are dropped, so a
/// corrupted key is regenerated rather than failing every reconcile.
pub fn decode(secret: &Secret) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (key, ByteString(bytes)) in secret.data.iter().flatten() {
        if let Ok(value) = String::from_utf8(bytes.clone()) {
            out.insert(key.clone(), value);
        }
    }
    for (key, value) in secret.string_data.iter().flatten() {
        out.insert(key.clone(), value.clone());
    }
    out
}

/// The Secret object for generated data (plus derived keys such as database URLs).
pub fn build(
    ownership: &Ownership,
    secret: &GeneratedSecret,
    version: &str,
    derived: BTreeMap<String, String>,
) -> Secret {
    let data = secret
        .data
        .iter()
        .chain(derived.iter())
        .map(|(k, v)| (k.clone(), ByteString(v.clone().into_bytes())))
        .collect();
    Secret {
        metadata: ownership.meta(secret.name.clone(), secret.component, version),
        type_: Some("Opaque".into()),
        data: Some(data),
        ..Secret::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn existing_values_are_reused_and_only_missing_keys_generated() {
        let existing = BTreeMap::from([("a".to_owned(), "kept".to_owned())]);
        let keys = [
            ("a".to_owned(), KeyValue::Random),
            ("b".to_owned(), KeyValue::Random),
            ("c".to_owned(), KeyValue::Fixed("fixed")),
        ];
        let mut source = CountingSecrets::default();
        let s = resolve("x".into(), "platform", &keys, Some(&existing), &mut source);
        assert_eq!(s.data["a"], "kept");
        assert_eq!(s.data["b"], "generated-1");
        assert_eq!(s.data["c"], "fixed");
    }

    #[test]
    fn random_values_are_long_and_url_safe() {
        let v = RandomSecrets.fresh();
        assert_eq!(v.len(), 32);
        assert!(v.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(v, RandomSecrets.fresh());
    }
}
