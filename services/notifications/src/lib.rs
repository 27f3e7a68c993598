//! The notifications service: consumes the order events the orders outbox publishes (Redis
//! Streams or RabbitMQ, by `STOREFRONT_EVENT_BUS`), keeps one notification per event for the
//! order's customer, and serves them (`GET /api/notifications`, `POST
//! /api/notifications/{id}/read`). Delivery is at least once; handling is idempotent by event id;
//! an event that fails `NOTIFICATIONS_MAX_ATTEMPTS` tries goes to the dead letter (see
//! [`consume`]).

pub mod consume;
pub mod email;
pub mod message;
mod routes;
pub mod store;

use std::sync::Arc;
use std::time::Duration;

use storefront_common::auth::{Authenticator, Denylist};
use storefront_common::config::{self, CommonConfig, ConfigError, ProcessEnv, Source};
use storefront_common::db::{self, DbError, DbOptions};
use storefront_common::events::EventBus;
use storefront_common::health::Readiness;
use storefront_common::http::Stack;
use storefront_common::metrics::HttpMetrics;
use storefront_common::redis_store::{Redis, RedisError};
use storefront_common::service::Built;

use crate::consume::{ConsumerMetrics, Handler};

#[derive(Debug, Clone)]
pub struct Config {
    pub common: CommonConfig,
    /// `DATABASE_URL`: notifications' own PostgreSQL database.
    pub database_url: String,
    /// `REDIS_URL`: the token denylist, and the order-events stream when the bus is Redis.
    pub redis_url: String,
    /// `STOREFRONT_EVENT_BUS`, `redis` (default) or `rabbitmq`.
    pub bus: EventBus,
    /// `RABBITMQ_URL` (`amqp://user:pass@host:5672/%2f`), required when the bus is RabbitMQ.
    pub rabbitmq_url: Option<String>,
    /// `NOTIFICATIONS_MAX_ATTEMPTS`, default 5: deliveries of one event before it is dead-lettered.
    pub max_attempts: u32,
    /// `NOTIFICATIONS_RETRY_AFTER`, default 10s: how long a failed (or orphaned) delivery waits
    /// before it is tried again (Redis Streams).
    pub retry_after: Duration,
    /// `NOTIFICATIONS_BATCH`, default 50: entries read at once (Redis) or the prefetch limit of
    /// unacknowledged deliveries (RabbitMQ).
    pub batch: u16,
    /// `NOTIFICATIONS_CONSUMER`, default `HOSTNAME` (the pod name): this replica's consumer name.
    pub consumer: String,
    /// `SMTP_URL` (`smtp://[user:pass@]host[:port]`): when set, each notification is also
    /// e-mailed to the customer ([`email`]).
    pub smtp: Option<email::SmtpUrl>,
    /// `SMTP_FROM`, default `Storefront <no-reply@storefront.local>`.
    pub smtp_from: lettre::message::Mailbox,
    /// `USERS_URL`: where the customer's address is asked for; required with `SMTP_URL`.
    pub users_url: Option<String>,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&ProcessEnv)
    }

    pub fn from_source(src: &dyn Source) -> Result<Self, ConfigError> {
        let common = CommonConfig::from_source(src)?;
        let bus: EventBus = config::or_default(src, "STOREFRONT_EVENT_BUS", EventBus::Redis)?;
        let rabbitmq_url: Option<String> = config::optional(src, "RABBITMQ_URL")?;
        if bus == EventBus::RabbitMq && rabbitmq_url.is_none() {
            return Err(ConfigError::Invalid {
                name: "RABBITMQ_URL".into(),
                value: String::new(),
                reason: "STOREFRONT_EVENT_BUS=rabbitmq needs the broker's URL, e.g. amqp://user:pass@rabbitmq:5672/%2f".into(),
            });
        }
        let max_attempts: u32 = config::or_default(src, "NOTIFICATIONS_MAX_ATTEMPTS", 5)?;
        if max_attempts == 0 {
            return Err(ConfigError::Invalid {
                name: "NOTIFICATIONS_MAX_ATTEMPTS".into(),
                value: "0".into(),
                reason: "an event needs at least one try".into(),
            });
        }
        let batch: u16 = config::or_default(src, "NOTIFICATIONS_BATCH", 50)?;
        if batch == 0 {
            return Err(ConfigError::Invalid {
                name: "NOTIFICATIONS_BATCH".into(),
                value: "0".into(),
                reason: "must be at least 1".into(),
            });
        }
        let consumer = match config::optional::<String>(src, "NOTIFICATIONS_CONSUMER")? {
            Some(name) => name,
            None => config::optional::<String>(src, "HOSTNAME")?
                .unwrap_or_else(|| "notifications".to_string()),
        };
        let smtp: Option<email::SmtpUrl> = config::optional(src, "SMTP_URL")?;
        let users_url: Option<String> = config::optional(src, "USERS_URL")?;
        if smtp.is_some() && users_url.is_none() {
            return Err(ConfigError::Invalid {
                name: "USERS_URL".into(),
                value: String::new(),
                reason: "SMTP_URL is set, and the customer's address comes from the users service, e.g. http://users:8080".into(),
            });
        }
        let smtp_from = config::or_default(
            src,
            "SMTP_FROM",
            "Storefront <no-reply@storefront.local>"
                .parse::<lettre::message::Mailbox>()
                .map_err(|e| ConfigError::Invalid {
                    name: "SMTP_FROM".into(),
                    value: String::new(),
                    reason: e.to_string(),
                })?,
        )?;
        Ok(Self {
            smtp,
            smtp_from,
            users_url,
            database_url: config::required(
                src,
                "DATABASE_URL",
                "set it to the notifications database, e.g. postgres://user:pass@host/notifications",
            )?,
            redis_url: common.require_redis(
                "notifications checks the token denylist (and reads the order-events stream) in Redis",
            )?,
            bus,
            rabbitmq_url,
            max_attempts,
            retry_after: config::duration_or(
                src,
                "NOTIFICATIONS_RETRY_AFTER",
                Duration::from_secs(10),
            )?,
            batch,
            consumer,
            common,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Database(#[from] DbError),
    #[error("cannot reach Redis at REDIS_URL ({0}); check the URL and that the server is up")]
    Redis(#[from] RedisError),
}

/// The notifications schema (public so the events bench can measure the same insert directly).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Clone, axum::extract::FromRef)]
pub struct AppState {
    pub pool: sqlx::PgPool,
    pub auth: Arc<Authenticator>,
}

/// Connects, migrates, starts the consumer and returns the wrapped router.
pub async fn build(config: Config) -> Result<Built, StartupError> {
    let pool =
        db::connect_and_migrate(&config.database_url, DbOptions::default(), &MIGRATOR).await?;
    let redis = Redis::connect(&config.redis_url, Duration::from_secs(30)).await?;
    let auth = Arc::new(Authenticator::new(
        &config.common.jwt_secret,
        Some(Denylist::new(redis.clone())),
    ));
    let metrics = ConsumerMetrics::default();
    let mailer = match (&config.smtp, &config.users_url) {
        (Some(smtp), Some(users_url)) => Some(Arc::new(email::Mailer::new(
            smtp,
            config.smtp_from.clone(),
            users_url,
            auth.clone(),
        ))),
        _ => None,
    };
    let handler = Handler {
        pool: pool.clone(),
        metrics: metrics.clone(),
        bus: config.bus.as_str(),
        mailer,
    };
    let readiness = Readiness::new().postgres(pool.clone()).redis(redis);
    match config.bus {
        EventBus::Redis => {
            // Reads block, so the consumer has a connection of its own.
            let reader = Redis::connect(&config.redis_url, Duration::from_secs(30)).await?;
            let settings = consume::redis_stream::Settings {
                consumer: config.consumer.clone(),
                max_attempts: config.max_attempts,
                retry_after: config.retry_after,
                batch: usize::from(config.batch),
                block: Duration::from_millis(500),
            };
            tokio::spawn(consume::redis_stream::run(reader, handler, settings));
        }
        EventBus::RabbitMq => {
            let settings = consume::rabbitmq::Settings {
                url: config.rabbitmq_url.clone().unwrap_or_default(),
                consumer: config.consumer.clone(),
                max_attempts: config.max_attempts,
                prefetch: config.batch,
            };
            tokio::spawn(consume::rabbitmq::run(handler, settings));
        }
    }
    let mut stack = Stack::new("notifications", &config.common, readiness);
    stack.metrics = HttpMetrics::with_extra("notifications", |registry| metrics.register(registry));
    let state = AppState { pool, auth };
    Ok(Built {
        router: stack.wrap(routes::router(state)),
        addr: config.common.http_addr,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use storefront_testkit::app::test_env;

    fn with(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let mut all = vec![
            ("DATABASE_URL", "postgres://x/n"),
            ("REDIS_URL", "redis://127.0.0.1/0"),
        ];
        all.extend_from_slice(pairs);
        Config::from_source(&test_env(&all))
    }

    #[test]
    fn defaults_are_redis_five_tries_and_a_batch_of_fifty() {
        let config = with(&[("HOSTNAME", "notifications-0")]).unwrap();
        assert_eq!(config.bus, EventBus::Redis);
        assert_eq!((config.max_attempts, config.batch), (5, 50));
        assert_eq!(config.consumer, "notifications-0");
    }

    #[test]
    fn rabbitmq_needs_its_url() {
        let err = with(&[("STOREFRONT_EVENT_BUS", "rabbitmq")]).unwrap_err();
        assert!(err.to_string().contains("RABBITMQ_URL"), "{err}");
        let ok = with(&[
            ("STOREFRONT_EVENT_BUS", "rabbitmq"),
            ("RABBITMQ_URL", "amqp://127.0.0.1:5672/%2f"),
        ]);
        assert_eq!(ok.unwrap().bus, EventBus::RabbitMq);
    }

    #[test]
    fn zero_tries_and_unknown_buses_are_refused() {
        let err = with(&[("NOTIFICATIONS_MAX_ATTEMPTS", "0")]).unwrap_err();
        assert!(
            err.to_string().contains("NOTIFICATIONS_MAX_ATTEMPTS"),
            "{err}"
        );
        let err = with(&[("STOREFRONT_EVENT_BUS", "kafka")]).unwrap_err();
        assert!(err.to_string().contains("STOREFRONT_EVENT_BUS"), "{err}");
    }
}
