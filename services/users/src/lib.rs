//! The users service: accounts with argon2id password hashes, login issuing HS256 JWTs, profile
//! read/update, logout through the shared Redis denylist, and the `customer`/`admin` roles. An
//! admin account is ensured at start-up from `STOREFRONT_ADMIN_EMAIL`/`STOREFRONT_ADMIN_PASSWORD`.

mod account;
mod password;
mod routes;
mod store;

use std::sync::Arc;
use std::time::Duration;

use storefront_common::auth::{Authenticator, Denylist};
use storefront_common::config::{self, CommonConfig, ConfigError, ProcessEnv, Source};
use storefront_common::db::{self, DbOptions};
use storefront_common::health::Readiness;
use storefront_common::http::Stack;
use storefront_common::redis_store::Redis;
use storefront_common::service::Built;

pub use account::{AccountError, NewAccount};

#[derive(Debug, Clone)]
pub struct Config {
    pub common: CommonConfig,
    pub database_url: String,
    pub redis_url: String,
    /// `USERS_TOKEN_TTL`, default 1h.
    pub token_ttl: Duration,
    pub admin: Option<(String, String)>,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&ProcessEnv)
    }

    pub fn from_source(src: &dyn Source) -> Result<Self, ConfigError> {
        let common = CommonConfig::from_source(src)?;
        let redis_url = common.require_redis("users keeps the logout denylist in Redis")?;
        let admin_email: Option<String> = config::optional(src, "STOREFRONT_ADMIN_EMAIL")?;
        let admin_password: Option<String> = config::optional(src, "STOREFRONT_ADMIN_PASSWORD")?;
        Ok(Self {
            common,
            database_url: config::required(
                src,
                "DATABASE_URL",
                "postgres://user:pass@host:5432/users",
            )?,
            redis_url,
            token_ttl: config::duration_or(src, "USERS_TOKEN_TTL", Duration::from_secs(3600))?,
            admin: admin_email.zip(admin_password),
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Db(#[from] db::DbError),
    #[error("cannot connect to Redis at REDIS_URL: {0}")]
    Redis(#[from] storefront_common::redis_store::RedisError),
    #[error(
        "the admin account from STOREFRONT_ADMIN_EMAIL/STOREFRONT_ADMIN_PASSWORD is invalid: {0}"
    )]
    Admin(#[from] AccountError),
    #[error("ensuring the admin account failed: {0}")]
    AdminStore(String),
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Clone, axum::extract::FromRef)]
pub(crate) struct AppState {
    pub pool: sqlx::PgPool,
    pub auth: Arc<Authenticator>,
    pub token_ttl: Duration,
}

pub async fn build(config: Config) -> Result<Built, StartupError> {
    let pool =
        db::connect_and_migrate(&config.database_url, DbOptions::default(), &MIGRATOR).await?;
    let redis = Redis::connect(&config.redis_url, Duration::from_secs(30)).await?;
    let auth = Arc::new(Authenticator::new(
        &config.common.jwt_secret,
        Some(Denylist::new(redis.clone())),
    ));

    if let Some((email, password)) = &config.admin {
        let account = NewAccount::validate(email, password, "Administrator")?;
        let hash = password::hash(account.password.clone())
            .await
            .map_err(|e| StartupError::AdminStore(e.message))?;
        let created = store::ensure_admin(&pool, &account, &hash)
            .await
            .map_err(|e| StartupError::AdminStore(e.to_string()))?;
        tracing::info!(email = %account.email, created, "admin account ensured");
    }

    let state = AppState {
        pool: pool.clone(),
        auth,
        token_ttl: config.token_ttl,
    };
    let readiness = Readiness::new().postgres(pool).redis(redis);
    let stack = Stack::new("users", &config.common, readiness);
    Ok(Built {
        router: stack.wrap(routes::router(state)),
        addr: config.common.http_addr,
    })
}
