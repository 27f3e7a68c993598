//! The Storefront gateway, the single entry of the platform: routes `/api/<service>` to each
//! backend and everything else to the web front, never `/internal`; validates JWTs at the edge;
//! rate-limits per client IP and per user; caches catalog reads; applies CORS; and protects the
//! backends with per-route timeouts, retries of idempotent requests and a circuit breaker each.
//! It also publishes the whole public API as OpenAPI at `GET /api/openapi.json`.

mod breaker;
mod cache;
mod cors;
mod edge;
mod forwarding;
mod metrics;
mod openapi;
mod proxy;
mod ratelimit;
mod routing;
mod trusted_proxies;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::{any, get};
use storefront_common::auth::{Authenticator, Denylist};
use storefront_common::config::{self, CommonConfig, ConfigError, ProcessEnv, Source};
use storefront_common::health::Readiness;
use storefront_common::http::Stack;
use storefront_common::redis_store::{Redis, RedisError};
use storefront_common::service::Built;

pub use breaker::{Admission, Breaker, Outcome, State as BreakerState};
pub use cors::CorsOrigins;
pub use openapi::DOCUMENT as OPENAPI_DOCUMENT;
pub use proxy::{BreakerPolicy, RetryPolicy, Timeouts};
pub use ratelimit::{
    Decision, LEASE_LIFE, LOCAL_CAPACITY, Limit, MAX_LEASE, Rate, RateLimiter, Tier, lease_size,
};
pub use routing::{Backend, RouteError, Target, resolve};
pub use trusted_proxies::{Cidr, CidrError, TrustedProxies};

#[derive(Debug, Clone)]
pub struct Config {
    pub common: CommonConfig,
    /// `REDIS_URL`, required: rate limits, the response cache and the token denylist.
    pub redis_url: String,
    /// `USERS_URL`, `CATALOG_URL`, `CART_URL`, `ORDERS_URL`, `PAYMENTS_URL`, `INVENTORY_URL`,
    /// `WEB_URL`, all required: each one URL (a Kubernetes Service) or several instances
    /// separated by commas, balanced round-robin.
    pub backends: HashMap<Backend, String>,
    /// `GATEWAY_TRUSTED_PROXIES`, comma-separated CIDRs, default none: the proxies in front of
    /// the gateway whose `x-forwarded-for` names the client (right-most untrusted hop).
    pub trusted_proxies: TrustedProxies,
    /// `GATEWAY_RATE_LIMIT_IP` (default 20/s) and `GATEWAY_RATE_LIMIT_BURST_IP` (default 40).
    pub per_ip: Limit,
    /// `GATEWAY_RATE_LIMIT_USER` (default 10/s) and `GATEWAY_RATE_LIMIT_BURST_USER` (default 20).
    pub per_user: Limit,
    /// `GATEWAY_CACHE_TTL`, default 5s.
    pub cache_ttl: Duration,
    /// `GATEWAY_CORS_ORIGINS`, comma-separated or `*`; default none.
    pub cors: CorsOrigins,
    /// `GATEWAY_TIMEOUT_<BACKEND>` per backend and `GATEWAY_TIMEOUT_CHECKOUT`.
    pub timeouts: Timeouts,
    /// `GATEWAY_RETRY_ATTEMPTS` (default 3, all attempts) and `GATEWAY_RETRY_BACKOFF` (50ms).
    pub retry: RetryPolicy,
    /// `GATEWAY_BREAKER_FAILURES` (default 5) and `GATEWAY_BREAKER_OPEN` (default 10s).
    pub breaker: BreakerPolicy,
    /// `GATEWAY_MAX_RESPONSE_BYTES`, default 8 MiB: the largest backend answer relayed.
    pub max_response_bytes: usize,
    /// `GATEWAY_REDIS_TIMEOUT`, default 250ms: the longest a rate-limit, cache or denylist
    /// call may take before the gateway fails open (limits, cache) or closed (denylist).
    pub redis_timeout: Duration,
}

fn default_timeout(backend: Backend) -> Duration {
    match backend {
        Backend::Catalog | Backend::Inventory => Duration::from_secs(3),
        // Password hashing (users) and card checks (payments, orders) are slower.
        Backend::Users | Backend::Cart | Backend::Web | Backend::Notifications => {
            Duration::from_secs(5)
        }
        Backend::Orders | Backend::Payments => Duration::from_secs(10),
    }
}

fn limit(
    src: &dyn Source,
    rate: &str,
    burst: &str,
    default: (&str, u32),
) -> Result<Limit, ConfigError> {
    let default_rate: Rate =
        default
            .0
            .parse()
            .map_err(|e: ratelimit::RateError| ConfigError::Invalid {
                name: rate.into(),
                value: default.0.into(),
                reason: e.to_string(),
            })?;
    let limit = Limit {
        rate: config::or_default(src, rate, default_rate)?,
        burst: config::or_default(src, burst, default.1)?,
    };
    if limit.burst == 0 {
        return Err(ConfigError::Invalid {
            name: burst.into(),
            value: "0".into(),
            reason: "the burst must allow at least one request".into(),
        });
    }
    Ok(limit)
}

/// `GATEWAY_TRUSTED_PROXIES`. The removed `GATEWAY_TRUST_FORWARDED` believed the left-most
/// `x-forwarded-for` hop, which any client writes; a deployment that still sets it is stopped
/// with what to set instead rather than silently trusting nobody.
fn trusted_proxies(src: &dyn Source) -> Result<TrustedProxies, ConfigError> {
    if let Some(old) = src.get("GATEWAY_TRUST_FORWARDED") {
        // The old default asked for nothing; refusing it would stop a deployment that merely
        // spelled the default out.
        if matches!(
            old.to_ascii_lowercase().as_str(),
            "false" | "0" | "no" | "off"
        ) {
            tracing::warn!(
                "GATEWAY_TRUST_FORWARDED={old} is ignored: the setting was removed; \
                 GATEWAY_TRUSTED_PROXIES lists the proxies in front of the gateway"
            );
            return config::or_default(src, "GATEWAY_TRUSTED_PROXIES", TrustedProxies::none());
        }
        return Err(ConfigError::Invalid {
            name: "GATEWAY_TRUST_FORWARDED".into(),
            value: old,
            reason: "this setting was removed because any client could forge its address \
                     with it; set GATEWAY_TRUSTED_PROXIES to the CIDRs of the proxies in front \
                     of the gateway (for example the Istio ingress gateway's pod network)"
                .into(),
        });
    }
    config::or_default(src, "GATEWAY_TRUSTED_PROXIES", TrustedProxies::none())
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&ProcessEnv)
    }

    pub fn from_source(src: &dyn Source) -> Result<Self, ConfigError> {
        let common = CommonConfig::from_source(src)?;
        let redis_url =
            common.require_redis("the gateway keeps rate limits and its cache in Redis")?;
        let mut backends = HashMap::new();
        let mut per_backend = HashMap::new();
        for backend in Backend::ALL {
            // Notifications may be left out of a platform: without its URL its routes answer 503.
            let url: Option<String> = if backend == Backend::Notifications {
                config::optional(src, backend.url_variable())?
            } else {
                Some(config::required(
                    src,
                    backend.url_variable(),
                    &format!(
                        "the base URL of the {} service, e.g. http://{}:8080",
                        backend.name(),
                        backend.name()
                    ),
                )?)
            };
            if let Some(url) = url {
                backends.insert(backend, url);
            }
            let variable = format!("GATEWAY_TIMEOUT_{}", backend.name().to_ascii_uppercase());
            per_backend.insert(
                backend,
                config::duration_or(src, &variable, default_timeout(backend))?,
            );
        }
        let cors_text: Option<String> = config::optional(src, "GATEWAY_CORS_ORIGINS")?;
        let cors = CorsOrigins::parse(cors_text.as_deref()).map_err(|e| ConfigError::Invalid {
            name: "GATEWAY_CORS_ORIGINS".into(),
            value: cors_text.clone().unwrap_or_default(),
            reason: e.to_string(),
        })?;
        let cache_ttl = config::duration_or(src, "GATEWAY_CACHE_TTL", Duration::from_secs(5))?;
        if cache_ttl.is_zero() {
            return Err(ConfigError::Invalid {
                name: "GATEWAY_CACHE_TTL".into(),
                value: "0".into(),
                reason: "must be longer than zero".into(),
            });
        }
        Ok(Self {
            redis_url,
            backends,
            trusted_proxies: trusted_proxies(src)?,
            per_ip: limit(
                src,
                "GATEWAY_RATE_LIMIT_IP",
                "GATEWAY_RATE_LIMIT_BURST_IP",
                ("20/s", 40),
            )?,
            per_user: limit(
                src,
                "GATEWAY_RATE_LIMIT_USER",
                "GATEWAY_RATE_LIMIT_BURST_USER",
                ("10/s", 20),
            )?,
            cache_ttl,
            cors,
            timeouts: Timeouts {
                per_backend,
                long_running: config::duration_or(
                    src,
                    "GATEWAY_TIMEOUT_CHECKOUT",
                    Duration::from_secs(30),
                )?,
            },
            retry: RetryPolicy {
                max_attempts: config::or_default(src, "GATEWAY_RETRY_ATTEMPTS", 3)?,
                backoff: config::duration_or(
                    src,
                    "GATEWAY_RETRY_BACKOFF",
                    Duration::from_millis(50),
                )?,
            },
            breaker: BreakerPolicy {
                failures: config::or_default(src, "GATEWAY_BREAKER_FAILURES", 5)?,
                open_for: config::duration_or(
                    src,
                    "GATEWAY_BREAKER_OPEN",
                    Duration::from_secs(10),
                )?,
            },
            max_response_bytes: config::or_default(
                src,
                "GATEWAY_MAX_RESPONSE_BYTES",
                8 * 1024 * 1024,
            )?,
            redis_timeout: config::duration_or(
                src,
                "GATEWAY_REDIS_TIMEOUT",
                Duration::from_millis(250),
            )?,
            common,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot connect to Redis at REDIS_URL ({0}); check the URL and that Redis is up")]
    Redis(#[source] RedisError),
}

/// Connects to Redis and returns the wrapped router. Backends need not be up yet: each call
/// finds out, and the breakers keep a down backend from being hammered.
pub async fn build(config: Config) -> Result<Built, StartupError> {
    let redis = Redis::connect(&config.redis_url, Duration::from_secs(30))
        .await
        .map_err(StartupError::Redis)?;
    let auth = Arc::new(Authenticator::new(
        &config.common.jwt_secret,
        Some(Denylist::new(redis.clone())),
    ));
    let metrics = metrics::GatewayMetrics::new();
    let http = storefront_common::client::http_client(config.timeouts.longest());
    let proxy = proxy::Proxy::new(
        &config.backends,
        http,
        config.timeouts.clone(),
        config.retry,
        config.breaker,
        config.max_response_bytes,
        metrics.clone(),
    );
    let edge = Arc::new(edge::Edge {
        auth,
        limiter: ratelimit::RateLimiter::new(
            redis.clone(),
            config.per_ip,
            config.per_user,
            config.redis_timeout,
        ),
        cache: cache::ResponseCache::new(redis.clone(), config.cache_ttl, config.redis_timeout),
        proxy,
        proxies: config.trusted_proxies.clone(),
        max_body_bytes: config.common.max_body_bytes,
        metrics: metrics.clone(),
        redis_budget: config.redis_timeout,
    });

    let mut routes = Router::new().route("/api/openapi.json", get(openapi::serve));
    // One route per prefix, so that metrics and logs name the backend's part of the API; the
    // edge resolves the target itself from the path.
    let prefixes = Backend::ALL
        .into_iter()
        .filter_map(Backend::prefix)
        .chain(["/api", "/internal"]);
    for prefix in prefixes {
        routes = routes
            .route(prefix, any(edge::handle))
            .route(&format!("{prefix}/{{*rest}}"), any(edge::handle));
    }
    let mut routes = routes
        .route("/", any(edge::handle))
        .route("/{*rest}", any(edge::handle))
        .with_state(edge);
    if let Some(cors) = config.cors.layer() {
        routes = routes.layer(cors);
    }

    let readiness = Readiness::new().redis(redis);
    let mut stack = Stack::new("gateway", &config.common, readiness);
    // The stack's overall deadline must not cut a checkout short of its own, longer timeout.
    stack.request_timeout = stack
        .request_timeout
        .max(config.timeouts.long_running + Duration::from_secs(1));
    let router = stack
        .wrap(routes)
        .layer(axum::middleware::from_fn_with_state(
            metrics,
            metrics::append,
        ));
    Ok(Built {
        router,
        addr: config.common.http_addr,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        let mut defaults = vec![("REDIS_URL", "redis://localhost/0")];
        defaults.extend(
            Backend::ALL
                .iter()
                .map(|b| (b.url_variable(), "http://x:8080")),
        );
        storefront_testkit::app::test_env(&[&defaults[..], pairs].concat())
    }

    #[test]
    fn defaults_match_the_documented_ones() {
        let config = Config::from_source(&env(&[])).unwrap();
        assert_eq!(config.per_ip.rate, "20/s".parse().unwrap());
        assert_eq!(config.per_ip.burst, 40);
        assert_eq!(config.per_user.burst, 20);
        assert_eq!(config.cache_ttl, Duration::from_secs(5));
        assert_eq!(config.cors, CorsOrigins::None);
        assert_eq!(config.breaker.failures, 5);
        assert_eq!(config.breaker.open_for, Duration::from_secs(10));
        assert_eq!(config.timeouts.long_running, Duration::from_secs(30));
        assert!(config.trusted_proxies.is_empty());
    }

    #[test]
    fn missing_backend_url_and_bad_limits_name_the_variable() {
        let mut src = env(&[]);
        src.remove("CATALOG_URL");
        let err = Config::from_source(&src).unwrap_err();
        assert!(err.to_string().contains("CATALOG_URL"), "{err}");
        let err = Config::from_source(&env(&[("GATEWAY_RATE_LIMIT_IP", "fast")])).unwrap_err();
        assert!(err.to_string().contains("GATEWAY_RATE_LIMIT_IP"), "{err}");
        let err = Config::from_source(&env(&[("GATEWAY_RATE_LIMIT_BURST_USER", "0")])).unwrap_err();
        assert!(
            err.to_string().contains("GATEWAY_RATE_LIMIT_BURST_USER"),
            "{err}"
        );
        let err = Config::from_source(&env(&[("GATEWAY_CORS_ORIGINS", "nope")])).unwrap_err();
        assert!(err.to_string().contains("GATEWAY_CORS_ORIGINS"), "{err}");
        let err =
            Config::from_source(&env(&[("GATEWAY_TRUSTED_PROXIES", "10.0.0.1/8")])).unwrap_err();
        assert!(err.to_string().contains("host bits"), "{err}");
    }

    #[test]
    fn the_removed_trust_forwarded_setting_is_refused_with_what_to_set() {
        let spelled_out_default = env(&[("GATEWAY_TRUST_FORWARDED", "false")]);
        assert!(
            Config::from_source(&spelled_out_default)
                .unwrap()
                .trusted_proxies
                .is_empty()
        );
        let err = Config::from_source(&env(&[("GATEWAY_TRUST_FORWARDED", "true")])).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("GATEWAY_TRUST_FORWARDED"), "{text}");
        assert!(text.contains("GATEWAY_TRUSTED_PROXIES"), "{text}");
        let config =
            Config::from_source(&env(&[("GATEWAY_TRUSTED_PROXIES", "10.0.0.0/8,fd00::/8")]))
                .unwrap();
        assert!(config.trusted_proxies.trusts("10.3.2.1".parse().unwrap()));
        assert!(!config.trusted_proxies.trusts("192.0.2.1".parse().unwrap()));
    }
}
