//! The one configuration loader: typed values read from environment variables, with errors that
//! name the variable and say what is expected. Each service builds its own `Config` struct from
//! these functions plus [`CommonConfig`], the part every service has.

use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {name} is required: {hint}")]
    Missing { name: String, hint: String },
    #[error("environment variable {name}={value:?} is invalid: {reason}")]
    Invalid {
        name: String,
        value: String,
        reason: String,
    },
}

/// Where values come from; the process environment in production, a map in tests.
pub trait Source {
    fn get(&self, name: &str) -> Option<String>;
}

pub struct ProcessEnv;

impl Source for ProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }
}

impl Source for std::collections::HashMap<String, String> {
    fn get(&self, name: &str) -> Option<String> {
        std::collections::HashMap::get(self, name)
            .cloned()
            .filter(|v| !v.is_empty())
    }
}

pub fn required<T: FromStr>(src: &dyn Source, name: &str, hint: &str) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    let value = src.get(name).ok_or_else(|| ConfigError::Missing {
        name: name.into(),
        hint: hint.into(),
    })?;
    parse(name, value)
}

pub fn optional<T: FromStr>(src: &dyn Source, name: &str) -> Result<Option<T>, ConfigError>
where
    T::Err: std::fmt::Display,
{
    src.get(name).map(|v| parse(name, v)).transpose()
}

pub fn or_default<T: FromStr>(src: &dyn Source, name: &str, default: T) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    Ok(optional(src, name)?.unwrap_or(default))
}

/// A duration written as `250ms`, `30s`, `5m` or `1h`.
pub fn duration_or(
    src: &dyn Source,
    name: &str,
    default: Duration,
) -> Result<Duration, ConfigError> {
    match src.get(name) {
        None => Ok(default),
        Some(v) => parse_duration(&v).ok_or_else(|| ConfigError::Invalid {
            name: name.into(),
            value: v,
            reason: "expected a duration such as 250ms, 30s, 5m or 1h".into(),
        }),
    }
}

pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (digits, unit) = s.split_at(split);
    let n: u64 = digits.parse().ok()?;
    match unit {
        "ms" => Some(Duration::from_millis(n)),
        "s" => Some(Duration::from_secs(n)),
        "m" => Some(Duration::from_secs(n.checked_mul(60)?)),
        "h" => Some(Duration::from_secs(n.checked_mul(3600)?)),
        _ => None,
    }
}

fn parse<T: FromStr>(name: &str, value: String) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    value.parse::<T>().map_err(|e| ConfigError::Invalid {
        name: name.into(),
        reason: e.to_string(),
        value,
    })
}

/// The settings every service has.
#[derive(Clone)]
pub struct CommonConfig {
    /// `STOREFRONT_HTTP_ADDR`, default `0.0.0.0:8080`.
    pub http_addr: SocketAddr,
    /// `STOREFRONT_JWT_SECRET`: the HS256 key shared by users (which signs) and every verifier.
    pub jwt_secret: String,
    /// `REDIS_URL`: where the token denylist lives; optional for services with no Redis data.
    pub redis_url: Option<String>,
    /// `STOREFRONT_MAX_BODY_BYTES`, default 64 KiB.
    pub max_body_bytes: usize,
    /// `STOREFRONT_REQUEST_TIMEOUT`, default 10s: a handler running longer answers 503.
    pub request_timeout: Duration,
}

impl std::fmt::Debug for CommonConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommonConfig")
            .field("http_addr", &self.http_addr)
            .field("jwt_secret", &"<redacted>")
            .field("redis_url", &self.redis_url)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("request_timeout", &self.request_timeout)
            .finish()
    }
}

pub const MIN_JWT_SECRET_BYTES: usize = 32;

impl CommonConfig {
    /// `REDIS_URL` for a service that cannot run without Redis; `why` says what it keeps there.
    pub fn require_redis(&self, why: &str) -> Result<String, ConfigError> {
        self.redis_url.clone().ok_or_else(|| ConfigError::Missing {
            name: "REDIS_URL".into(),
            hint: format!("{why}, e.g. redis://redis:6379/0"),
        })
    }

    pub fn from_source(src: &dyn Source) -> Result<Self, ConfigError> {
        let jwt_secret: String = required(
            src,
            "STOREFRONT_JWT_SECRET",
            "set it to the same random string (32 bytes or more) for every service",
        )?;
        if jwt_secret.len() < MIN_JWT_SECRET_BYTES {
            return Err(ConfigError::Invalid {
                name: "STOREFRONT_JWT_SECRET".into(),
                value: "<redacted>".into(),
                reason: format!("must be at least {MIN_JWT_SECRET_BYTES} bytes long"),
            });
        }
        Ok(Self {
            http_addr: or_default(src, "STOREFRONT_HTTP_ADDR", ([0, 0, 0, 0], 8080).into())?,
            jwt_secret,
            redis_url: optional(src, "REDIS_URL")?,
            max_body_bytes: or_default(src, "STOREFRONT_MAX_BODY_BYTES", 64 * 1024)?,
            request_timeout: duration_or(
                src,
                "STOREFRONT_REQUEST_TIMEOUT",
                Duration::from_secs(10),
            )?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn missing_secret_names_the_variable() {
        let err = CommonConfig::from_source(&env(&[])).unwrap_err();
        assert!(err.to_string().contains("STOREFRONT_JWT_SECRET"), "{err}");
    }

    #[test]
    fn short_secret_is_refused() {
        let err =
            CommonConfig::from_source(&env(&[("STOREFRONT_JWT_SECRET", "short")])).unwrap_err();
        assert!(err.to_string().contains("at least 32"), "{err}");
    }

    #[test]
    fn bad_address_says_which_variable_and_value() {
        let err = CommonConfig::from_source(&env(&[
            ("STOREFRONT_JWT_SECRET", &"x".repeat(32)),
            ("STOREFRONT_HTTP_ADDR", "nope"),
        ]))
        .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("STOREFRONT_HTTP_ADDR") && text.contains("nope"),
            "{text}"
        );
    }

    #[test]
    fn a_service_that_needs_redis_says_so_by_name() {
        let common =
            CommonConfig::from_source(&env(&[("STOREFRONT_JWT_SECRET", &"x".repeat(32))])).unwrap();
        let err = common
            .require_redis("carts live there")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("REDIS_URL") && err.contains("carts live there"),
            "{err}"
        );
        let with = CommonConfig::from_source(&env(&[
            ("STOREFRONT_JWT_SECRET", &"x".repeat(32)),
            ("REDIS_URL", "redis://r:6379/0"),
        ]))
        .unwrap();
        assert_eq!(with.require_redis("x").unwrap(), "redis://r:6379/0");
    }

    #[test]
    fn durations_take_units() {
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("5m"), Some(Duration::from_secs(300)));
        assert_eq!(parse_duration("5"), None);
        assert_eq!(parse_duration("s"), None);
    }
}
