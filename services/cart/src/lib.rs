//! The cart service: one cart per user in Redis (productId → quantity, 30 days after the last
//! write), at most 99 units per line and 50 lines, priced on every view with current catalog
//! prices fetched in one batched call. It holds no prices of its own, so a price change in the
//! catalog shows in the cart at once.

mod catalog;
mod quantity;
mod routes;
mod store;
mod view;

use std::sync::Arc;
use std::time::Duration;

use storefront_common::auth::{Authenticator, Denylist};
use storefront_common::client::{ServiceClient, http_client};
use storefront_common::config::{self, CommonConfig, ConfigError, ProcessEnv, Source};
use storefront_common::health::Readiness;
use storefront_common::http::Stack;
use storefront_common::money::Currency;
use storefront_common::redis_store::Redis;
use storefront_common::service::Built;

pub use quantity::{MAX_LINES, MAX_QUANTITY};
pub use store::cart_key;

const THIRTY_DAYS: Duration = Duration::from_secs(30 * 24 * 3600);

#[derive(Debug, Clone)]
pub struct Config {
    pub common: CommonConfig,
    /// `REDIS_URL`, required: where the carts live.
    pub redis_url: String,
    /// `CATALOG_URL`, required: base URL of the catalog service, or of its instances separated
    /// by commas (balanced round-robin by the shared client).
    pub catalog_url: String,
    /// `CART_CATALOG_TIMEOUT`, default 2s: how long to wait for the catalog before answering 503.
    pub catalog_timeout: Duration,
    /// `CART_CURRENCY`, default USD: the shop's currency, which an empty cart totals in.
    pub currency: Currency,
    /// `CART_TTL`, default 720h (30 days): a cart expires this long after its last change.
    pub cart_ttl: Duration,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&ProcessEnv)
    }

    pub fn from_source(src: &dyn Source) -> Result<Self, ConfigError> {
        let common = CommonConfig::from_source(src)?;
        let redis_url = common.require_redis("carts are stored in Redis")?;
        let catalog_url = config::required(
            src,
            "CATALOG_URL",
            "the catalog service's base URL, e.g. http://catalog:8080",
        )?;
        let currency_text: String = config::or_default(src, "CART_CURRENCY", "USD".to_string())?;
        let currency =
            Currency::try_from(currency_text.as_str()).map_err(|e| ConfigError::Invalid {
                name: "CART_CURRENCY".into(),
                value: currency_text.clone(),
                reason: e.to_string(),
            })?;
        let cart_ttl = config::duration_or(src, "CART_TTL", THIRTY_DAYS)?;
        if cart_ttl.is_zero() {
            return Err(ConfigError::Invalid {
                name: "CART_TTL".into(),
                value: "0".into(),
                reason: "must be longer than zero".into(),
            });
        }
        Ok(Self {
            common,
            redis_url,
            catalog_url,
            catalog_timeout: config::duration_or(
                src,
                "CART_CATALOG_TIMEOUT",
                Duration::from_secs(2),
            )?,
            currency,
            cart_ttl,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot connect to Redis at REDIS_URL ({0}); check the URL and that Redis is up")]
    Redis(#[source] redis::RedisError),
}

/// Connects to Redis and returns the wrapped router. The catalog is not needed to start: while
/// it is down, views and adds answer 503 and removals still work.
pub async fn build(config: Config) -> Result<Built, StartupError> {
    let redis = Redis::connect(&config.redis_url, Duration::from_secs(30))
        .await
        .map_err(StartupError::Redis)?;
    let auth = Arc::new(Authenticator::new(
        &config.common.jwt_secret,
        Some(Denylist::new(redis.clone())),
    ));
    let catalog = catalog::Catalog::new(ServiceClient::new(
        "catalog",
        config.catalog_url.clone(),
        http_client(config.catalog_timeout),
    ));
    let state = routes::AppState {
        carts: store::CartStore::new(redis.clone(), config.cart_ttl),
        catalog,
        auth,
        currency: config.currency,
    };
    let stack = Stack::new("cart", &config.common, Readiness::new().redis(redis));
    Ok(Built {
        router: stack.wrap(routes::router(state)),
        addr: config.common.http_addr,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        let defaults = [
            ("REDIS_URL", "redis://localhost/0"),
            ("CATALOG_URL", "http://catalog:8080"),
        ];
        storefront_testkit::app::test_env(&[&defaults[..], pairs].concat())
    }

    #[test]
    fn defaults_are_thirty_days_usd_and_two_second_catalog_calls() {
        let config = Config::from_source(&env(&[])).unwrap();
        assert_eq!(config.cart_ttl, THIRTY_DAYS);
        assert_eq!(config.currency, Currency::USD);
        assert_eq!(config.catalog_timeout, Duration::from_secs(2));
    }

    #[test]
    fn catalog_url_and_redis_are_required() {
        for missing in ["CATALOG_URL", "REDIS_URL"] {
            let mut src = env(&[]);
            src.remove(missing);
            let err = Config::from_source(&src).unwrap_err();
            assert!(err.to_string().contains(missing), "{err}");
        }
    }
}
