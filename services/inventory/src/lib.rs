//! The inventory service: stock per product, and reservations that take stock for an order all
//! at once or not at all, then are committed, released (or expire) or restocked exactly once.
//! It never oversells, however many replicas and requests run at the same time.

pub mod reservation;
pub mod routes;
pub mod store;
pub mod sweeper;

use std::time::Duration;

use storefront_common::config::{self, CommonConfig, ConfigError, ProcessEnv, Source};
use storefront_common::db::{self, DbError, DbOptions};
use storefront_common::health::Readiness;
use storefront_common::http::Stack;
use storefront_common::service::Built;

#[derive(Debug, Clone)]
pub struct Config {
    pub common: CommonConfig,
    /// `DATABASE_URL`: inventory's own PostgreSQL database.
    pub database_url: String,
    /// `INVENTORY_RESERVATION_TTL`, default 15m: how long a hold lasts unless the caller says.
    pub reservation_ttl: Duration,
    /// `INVENTORY_SWEEP_INTERVAL`, default 5s: how often expired holds are released.
    pub sweep_interval: Duration,
    /// `STOREFRONT_SEED_DEMO`: stock the demo catalog at start-up.
    pub seed_demo: bool,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&ProcessEnv)
    }

    pub fn from_source(src: &dyn Source) -> Result<Self, ConfigError> {
        Ok(Self {
            common: CommonConfig::from_source(src)?,
            database_url: config::required(
                src,
                "DATABASE_URL",
                "set it to the inventory database, e.g. postgres://user:pass@host/inventory",
            )?,
            reservation_ttl: positive(
                src,
                "INVENTORY_RESERVATION_TTL",
                Duration::from_secs(15 * 60),
            )?,
            sweep_interval: positive(src, "INVENTORY_SWEEP_INTERVAL", Duration::from_secs(5))?,
            seed_demo: config::or_default(src, "STOREFRONT_SEED_DEMO", false)?,
        })
    }
}

/// A duration setting that must not be zero (a zero interval would spin, a zero hold is useless).
fn positive(src: &dyn Source, name: &str, default: Duration) -> Result<Duration, ConfigError> {
    let value = config::duration_or(src, name, default)?;
    if value.is_zero() {
        return Err(ConfigError::Invalid {
            name: name.into(),
            value: "0".into(),
            reason: "must be longer than zero".into(),
        });
    }
    Ok(value)
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Database(#[from] DbError),
    #[error("cannot reach Redis at REDIS_URL ({0}); check the URL and that the server is up")]
    Redis(#[from] redis::RedisError),
    #[error("seeding demo stock failed: {0}")]
    Seed(#[source] sqlx::Error),
}

/// Connects, migrates, seeds when asked, starts the sweeper and returns the wrapped router.
pub async fn build(config: Config) -> Result<Built, StartupError> {
    let pool = db::connect_and_migrate(
        &config.database_url,
        DbOptions::default(),
        &sqlx::migrate!(),
    )
    .await?;
    if config.seed_demo {
        let added = store::seed_demo(&pool).await.map_err(StartupError::Seed)?;
        tracing::info!(added, "demo stock seeded");
    }
    let (auth, readiness) =
        storefront_common::auth::verifier(&config.common, Readiness::new().postgres(pool.clone()))
            .await?;
    sweeper::spawn(pool.clone(), config.sweep_interval);
    let state = routes::AppState {
        pool,
        auth,
        default_ttl: config.reservation_ttl,
    };
    let stack = Stack::new("inventory", &config.common, readiness);
    Ok(Built {
        router: stack.wrap(routes::router(state)),
        addr: config.common.http_addr,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use storefront_testkit::app::test_env as env;

    #[test]
    fn defaults_are_fifteen_minute_holds_swept_every_five_seconds() {
        let config = Config::from_source(&env(&[("DATABASE_URL", "postgres://x/y")])).unwrap();
        assert_eq!(config.reservation_ttl, Duration::from_secs(900));
        assert_eq!(config.sweep_interval, Duration::from_secs(5));
        assert!(!config.seed_demo);
    }

    #[test]
    fn missing_database_url_is_named() {
        let err = Config::from_source(&env(&[])).unwrap_err();
        assert!(err.to_string().contains("DATABASE_URL"), "{err}");
    }

    #[test]
    fn zero_sweep_interval_is_refused() {
        let err = Config::from_source(&env(&[
            ("DATABASE_URL", "postgres://x/y"),
            ("INVENTORY_SWEEP_INTERVAL", "0s"),
        ]))
        .unwrap_err();
        assert!(
            err.to_string().contains("INVENTORY_SWEEP_INTERVAL"),
            "{err}"
        );
    }
}
