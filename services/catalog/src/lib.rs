//! The catalog service: products in PostgreSQL, read through a Redis cache-aside that every write
//! invalidates, searched, filtered, sorted and paged for the store front; written by admins.
//! Every price is in the shop's one currency (`CATALOG_CURRENCY`).

mod cache;
mod listing;
mod product;
mod routes;
mod seed;
mod store;

use std::sync::Arc;
use std::time::Duration;

use sqlx::migrate::Migrator;
use storefront_common::auth::{Authenticator, Denylist};
use storefront_common::config::{self, CommonConfig, ConfigError, ProcessEnv, Source};
use storefront_common::db::{self, DbError, DbOptions};
use storefront_common::health::Readiness;
use storefront_common::http::Stack;
use storefront_common::metrics::HttpMetrics;
use storefront_common::money::Currency;
use storefront_common::redis_store::Redis;
use storefront_common::service::Built;

pub use cache::GENERATION_KEY;
pub use listing::ProductPage;
pub use product::Product;

static MIGRATOR: Migrator = sqlx::migrate!();

#[derive(Debug, Clone)]
pub struct Config {
    pub common: CommonConfig,
    /// `DATABASE_URL`, required.
    pub database_url: String,
    /// `REDIS_URL`, required: the cache and the token denylist.
    pub redis_url: String,
    /// `CATALOG_CACHE_TTL`, default 60s: how long a cached read may be served.
    pub cache_ttl: Duration,
    /// `CATALOG_CURRENCY`, default USD: the one currency every price must be in.
    pub currency: Currency,
    /// `STOREFRONT_SEED_DEMO`, default false: insert the demo products that are absent.
    pub seed_demo: bool,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&ProcessEnv)
    }

    pub fn from_source(src: &dyn Source) -> Result<Self, ConfigError> {
        let common = CommonConfig::from_source(src)?;
        let database_url = config::required(
            src,
            "DATABASE_URL",
            "the catalog's PostgreSQL, e.g. postgres://user:pass@host/catalog",
        )?;
        let redis_url = common.require_redis("the catalog caches reads in Redis")?;
        let cache_ttl = config::duration_or(src, "CATALOG_CACHE_TTL", Duration::from_secs(60))?;
        if cache_ttl.is_zero() {
            return Err(ConfigError::Invalid {
                name: "CATALOG_CACHE_TTL".into(),
                value: "0".into(),
                reason: "must be longer than zero".into(),
            });
        }
        let currency_text: String = config::or_default(src, "CATALOG_CURRENCY", "USD".to_string())?;
        let currency =
            Currency::try_from(currency_text.as_str()).map_err(|e| ConfigError::Invalid {
                name: "CATALOG_CURRENCY".into(),
                value: currency_text.clone(),
                reason: e.to_string(),
            })?;
        Ok(Self {
            common,
            database_url,
            redis_url,
            cache_ttl,
            currency,
            seed_demo: config::or_default(src, "STOREFRONT_SEED_DEMO", false)?,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Database(#[from] DbError),
    #[error("cannot connect to Redis at REDIS_URL ({0}); check the URL and that Redis is up")]
    Redis(#[source] redis::RedisError),
    #[error(transparent)]
    Seed(#[from] seed::SeedError),
}

/// Connects to PostgreSQL (migrating) and Redis, seeds when asked, and returns the wrapped router.
pub async fn build(config: Config) -> Result<Built, StartupError> {
    let pool =
        db::connect_and_migrate(&config.database_url, DbOptions::default(), &MIGRATOR).await?;
    let redis = Redis::connect(&config.redis_url, Duration::from_secs(30))
        .await
        .map_err(StartupError::Redis)?;
    let cache = cache::Cache::new(redis.clone(), config.cache_ttl);
    if config.seed_demo {
        let inserted = seed::demo_products(&pool, config.currency).await?;
        if inserted > 0 {
            cache.invalidate_all().await;
        }
        tracing::info!(inserted, "demo products seeded");
    }
    let auth = Arc::new(Authenticator::new(
        &config.common.jwt_secret,
        Some(Denylist::new(redis.clone())),
    ));
    let readiness = Readiness::new().postgres(pool.clone()).redis(redis);
    let state = routes::AppState {
        store: store::Store::new(pool),
        cache,
        auth,
        currency: config.currency,
    };
    let mut stack = Stack::new("catalog", &config.common, readiness);
    let lookups = state.cache.clone();
    stack.metrics = HttpMetrics::with_extra("catalog", |registry| lookups.register(registry));
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
            ("DATABASE_URL", "postgres://localhost/catalog"),
            ("REDIS_URL", "redis://localhost/0"),
        ];
        storefront_testkit::app::test_env(&[&defaults[..], pairs].concat())
    }

    #[test]
    fn defaults_are_usd_one_minute_and_no_seeding() {
        let config = Config::from_source(&env(&[])).unwrap();
        assert_eq!(config.currency, Currency::USD);
        assert_eq!(config.cache_ttl, Duration::from_secs(60));
        assert!(!config.seed_demo);
    }

    #[test]
    fn redis_is_required() {
        let mut src = env(&[]);
        src.remove("REDIS_URL");
        let err = Config::from_source(&src).unwrap_err();
        assert!(err.to_string().contains("REDIS_URL"), "{err}");
    }

    #[test]
    fn bad_currency_and_zero_ttl_are_refused() {
        let err = Config::from_source(&env(&[("CATALOG_CURRENCY", "usd")])).unwrap_err();
        assert!(err.to_string().contains("CATALOG_CURRENCY"), "{err}");
        let err = Config::from_source(&env(&[("CATALOG_CACHE_TTL", "0s")])).unwrap_err();
        assert!(err.to_string().contains("CATALOG_CACHE_TTL"), "{err}");
    }
}
