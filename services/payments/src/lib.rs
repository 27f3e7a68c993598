//! The payments service: a mock card gateway. A charge is recorded exactly once per idempotency
//! key (declines too, so a replay gives the same answer), an order is paid at most once, and a
//! refund returns the whole amount exactly once. The card number and CVC are never stored or
//! logged; only the brand and last four digits are.

pub mod card;
pub mod routes;
pub mod store;

use storefront_common::config::{self, CommonConfig, ConfigError, ProcessEnv, Source};
use storefront_common::db::{self, DbError, DbOptions};
use storefront_common::health::Readiness;
use storefront_common::http::Stack;
use storefront_common::service::Built;

#[derive(Debug, Clone)]
pub struct Config {
    pub common: CommonConfig,
    /// `DATABASE_URL`: payments' own PostgreSQL database.
    pub database_url: String,
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
                "set it to the payments database, e.g. postgres://user:pass@host/payments",
            )?,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Database(#[from] DbError),
    #[error("cannot reach Redis at REDIS_URL ({0}); check the URL and that the server is up")]
    Redis(#[from] redis::RedisError),
}

/// Connects, migrates and returns the wrapped router.
pub async fn build(config: Config) -> Result<Built, StartupError> {
    let pool = db::connect_and_migrate(
        &config.database_url,
        DbOptions::default(),
        &sqlx::migrate!(),
    )
    .await?;
    let (auth, readiness) =
        storefront_common::auth::verifier(&config.common, Readiness::new().postgres(pool.clone()))
            .await?;
    let state = routes::AppState { pool, auth };
    let stack = Stack::new("payments", &config.common, readiness);
    Ok(Built {
        router: stack.wrap(routes::router(state)),
        addr: config.common.http_addr,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn missing_database_url_is_named() {
        let err = Config::from_source(&storefront_testkit::app::test_env(&[])).unwrap_err();
        assert!(err.to_string().contains("DATABASE_URL"), "{err}");
    }
}
