//! The orders service: checkout as a saga across inventory and payments (see [`saga`]),
//! idempotent by `Idempotency-Key`, order history, admin status changes, cancellation with refund
//! and restock, order events through a transactional outbox ([`outbox`]), and recovery of
//! orders a crash left pending ([`recovery`]).

mod checkout;
mod clients;
pub mod metrics;
pub mod model;
pub mod outbox;
pub mod recovery;
mod routes;
mod saga;
mod store;

use std::sync::Arc;
use std::time::Duration;

use storefront_common::auth::{Authenticator, Denylist};
use storefront_common::client::{ServiceClient, http_client};
use storefront_common::config::{self, CommonConfig, ConfigError, ProcessEnv, Source};
use storefront_common::db::{self, DbOptions};
use storefront_common::events::EventBus;
use storefront_common::health::Readiness;
use storefront_common::http::Stack;
use storefront_common::metrics::HttpMetrics;
use storefront_common::redis_store::{Redis, RedisError};
use storefront_common::service::Built;

use crate::clients::Backends;

#[derive(Debug, Clone)]
pub struct Config {
    pub common: CommonConfig,
    pub database_url: String,
    pub redis_url: String,
    /// `CATALOG_URL`, and the other service URLs below: one URL, or several instances separated
    /// by commas (balanced round-robin by the shared client).
    pub catalog_url: String,
    pub cart_url: String,
    pub inventory_url: String,
    pub payments_url: String,
    /// `ORDERS_CALL_TIMEOUT`, default 5s: the limit of one call to another service.
    pub call_timeout: Duration,
    /// `ORDERS_RESERVATION_TTL`, default 15m.
    pub reservation_ttl: Duration,
    /// `ORDERS_RECOVER_AFTER`, default 60s: a pending order this old is resolved by recovery.
    pub recover_after: Duration,
    /// `ORDERS_RECOVERY_INTERVAL`, default 10s.
    pub recovery_interval: Duration,
    /// `ORDERS_OUTBOX_INTERVAL`, default 500ms.
    pub outbox_interval: Duration,
    /// `ORDERS_DB_POOL`, default 20.
    pub db_pool: u32,
    /// `STOREFRONT_EVENT_BUS`, `redis` (default) or `rabbitmq`: where the outbox publishes.
    pub bus: EventBus,
    /// `RABBITMQ_URL`, required when the bus is RabbitMQ.
    pub rabbitmq_url: Option<String>,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&ProcessEnv)
    }

    pub fn from_source(src: &dyn Source) -> Result<Self, ConfigError> {
        let common = CommonConfig::from_source(src)?;
        let url = |name: &str, example: &str| config::required::<String>(src, name, example);
        let config = Self {
            database_url: url("DATABASE_URL", "postgres://user:pass@host:5432/orders")?,
            redis_url: common.require_redis(
                "orders keeps the token denylist and the order-events stream in Redis",
            )?,
            catalog_url: url("CATALOG_URL", "http://catalog:8080")?,
            cart_url: url("CART_URL", "http://cart:8080")?,
            inventory_url: url("INVENTORY_URL", "http://inventory:8080")?,
            payments_url: url("PAYMENTS_URL", "http://payments:8080")?,
            call_timeout: config::duration_or(src, "ORDERS_CALL_TIMEOUT", Duration::from_secs(5))?,
            reservation_ttl: config::duration_or(
                src,
                "ORDERS_RESERVATION_TTL",
                Duration::from_secs(900),
            )?,
            recover_after: config::duration_or(
                src,
                "ORDERS_RECOVER_AFTER",
                Duration::from_secs(60),
            )?,
            recovery_interval: config::duration_or(
                src,
                "ORDERS_RECOVERY_INTERVAL",
                Duration::from_secs(10),
            )?,
            outbox_interval: config::duration_or(
                src,
                "ORDERS_OUTBOX_INTERVAL",
                Duration::from_millis(500),
            )?,
            db_pool: config::or_default(src, "ORDERS_DB_POOL", 20)?,
            bus: config::or_default(src, "STOREFRONT_EVENT_BUS", EventBus::Redis)?,
            rabbitmq_url: config::optional(src, "RABBITMQ_URL")?,
            common,
        };
        if config.bus == EventBus::RabbitMq && config.rabbitmq_url.is_none() {
            return Err(ConfigError::Invalid {
                name: "RABBITMQ_URL".into(),
                value: String::new(),
                reason: "STOREFRONT_EVENT_BUS=rabbitmq needs the broker's URL, e.g. amqp://user:pass@rabbitmq:5672/%2f".into(),
            });
        }
        if config.reservation_ttl <= config.recover_after {
            return Err(ConfigError::Invalid {
                name: "ORDERS_RESERVATION_TTL".into(),
                value: format!("{:?}", config.reservation_ttl),
                reason: "must be longer than ORDERS_RECOVER_AFTER, or recovery would find charged orders whose stock already lapsed".into(),
            });
        }
        Ok(config)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Db(#[from] db::DbError),
    #[error("cannot connect to Redis at REDIS_URL: {0}")]
    Redis(#[from] RedisError),
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Clone, axum::extract::FromRef)]
pub struct AppState {
    pub pool: sqlx::PgPool,
    pub auth: Arc<Authenticator>,
    pub(crate) backends: Backends,
    pub(crate) metrics: Arc<metrics::OrderMetrics>,
}

pub async fn build(config: Config) -> Result<Built, StartupError> {
    let options = DbOptions {
        max_connections: config.db_pool,
        ..DbOptions::default()
    };
    let pool = db::connect_and_migrate(&config.database_url, options, &MIGRATOR).await?;
    let redis = Redis::connect(&config.redis_url, Duration::from_secs(30)).await?;
    let auth = Arc::new(Authenticator::new(
        &config.common.jwt_secret,
        Some(Denylist::new(redis.clone())),
    ));
    let http = http_client(config.call_timeout);
    let backends = Backends {
        catalog: ServiceClient::new("catalog", &config.catalog_url, http.clone()),
        cart: ServiceClient::new("cart", &config.cart_url, http.clone()),
        inventory: ServiceClient::new("inventory", &config.inventory_url, http.clone()),
        payments: ServiceClient::new("payments", &config.payments_url, http),
        auth: auth.clone(),
        reservation_ttl_secs: config.reservation_ttl.as_secs(),
    };
    let metrics = metrics::OrderMetrics::new();
    let state = AppState {
        pool: pool.clone(),
        auth,
        backends,
        metrics: metrics.clone(),
    };
    tokio::spawn(metrics::watch(
        pool.clone(),
        metrics.clone(),
        Duration::from_secs(5),
    ));
    tokio::spawn(recovery::run(
        state.clone(),
        config.recovery_interval,
        config.recover_after,
    ));
    tokio::spawn(outbox::run(
        pool.clone(),
        match (&config.bus, &config.rabbitmq_url) {
            (EventBus::RabbitMq, Some(url)) => {
                outbox::Publisher::RabbitMq(Arc::new(outbox::RabbitPublisher::new(url)))
            }
            _ => outbox::Publisher::RedisStream(redis.clone()),
        },
        config.outbox_interval,
    ));

    let readiness = Readiness::new().postgres(pool).redis(redis);
    let mut stack = Stack::new("orders", &config.common, readiness);
    stack.metrics = HttpMetrics::with_extra("orders", |registry| metrics.register(registry));
    Ok(Built {
        router: stack.wrap(routes::router(state)),
        addr: config.common.http_addr,
    })
}
