//! The web store front: server-rendered pages for people (browse, search, product, cart,
//! checkout, login, order history). It owns no data: every page is built from the public API
//! behind `GATEWAY_URL`, called with the shopper's own JWT, which lives only in an HttpOnly
//! cookie. The whole purchase flow works without JavaScript.

pub mod api;
pub mod assets;
pub mod format;
pub mod pages;
pub mod session;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use storefront_common::client::{ServiceClient, http_client};
use storefront_common::config::{self, CommonConfig, ConfigError, ProcessEnv, Source};
use storefront_common::health::Readiness;
use storefront_common::http::Stack;
use storefront_common::service::Built;

use crate::api::Api;
use crate::pages::AppState;
use crate::session::CookiePolicy;

#[derive(Debug, Clone)]
pub struct Config {
    pub common: CommonConfig,
    /// `GATEWAY_URL`: the public API's base; pages call `<GATEWAY_URL>/api/...`.
    pub gateway_url: String,
    /// `WEB_SECURE_COOKIES`, default false: mark the session cookie `Secure` (set it behind
    /// HTTPS; browsers drop `Secure` cookies on plain HTTP).
    pub secure_cookies: bool,
    /// `WEB_SHOP_NAME`, default "Storefront".
    pub shop_name: String,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&ProcessEnv)
    }

    pub fn from_source(src: &dyn Source) -> Result<Self, ConfigError> {
        let common = CommonConfig::from_source(src)?;
        let gateway_url: String = config::required(
            src,
            "GATEWAY_URL",
            "the base URL of the public API, such as http://gateway:8080",
        )?;
        if !(gateway_url.starts_with("http://") || gateway_url.starts_with("https://")) {
            return Err(ConfigError::Invalid {
                name: "GATEWAY_URL".into(),
                value: gateway_url,
                reason: "must start with http:// or https://".into(),
            });
        }
        Ok(Self {
            common,
            gateway_url,
            secure_cookies: config::or_default(src, "WEB_SECURE_COOKIES", false)?,
            shop_name: config::or_default(src, "WEB_SHOP_NAME", "Storefront".to_string())?,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("GATEWAY_URL {0:?} is not a usable URL: {1}")]
    GatewayUrl(String, String),
}

pub async fn build(config: Config) -> Result<Built, StartupError> {
    reqwest::Url::parse(&config.gateway_url)
        .map_err(|e| StartupError::GatewayUrl(config.gateway_url.clone(), e.to_string()))?;
    // A second less than the page's own deadline, so a slow API yields our friendly 503 page
    // rather than the stack's bare timeout answer.
    let api_timeout = config
        .common
        .request_timeout
        .saturating_sub(Duration::from_secs(1))
        .max(Duration::from_secs(1));
    let client = ServiceClient::new("gateway", &config.gateway_url, http_client(api_timeout));
    let state = AppState {
        api: Api::new(client),
        cookies: CookiePolicy {
            secure: config.secure_cookies,
        },
        shop_name: Arc::from(config.shop_name.as_str()),
    };
    // The web front keeps no connections of its own; it is ready when it runs. Whether the API
    // answers shows on each page (the 503 page), not as an unready pod taken out of service.
    let stack = Stack::new("web", &config.common, Readiness::new());
    Ok(Built {
        router: stack.wrap(router(state)),
        addr: config.common.http_addr,
    })
}

fn router(state: AppState) -> Router {
    use pages::{account, cart, catalog, checkout, notifications, orders};
    Router::new()
        .route("/", get(catalog::home))
        .route("/products/{id}", get(catalog::product))
        .route("/cart", get(cart::view))
        .route("/cart/items", post(cart::add))
        .route("/cart/items/{id}", post(cart::update))
        .route("/cart/items/{id}/remove", post(cart::remove))
        .route("/checkout", get(checkout::form).post(checkout::place))
        .route("/login", get(account::login_form).post(account::login))
        .route(
            "/register",
            get(account::register_form).post(account::register),
        )
        .route("/logout", post(account::logout))
        .route("/account", get(notifications::account))
        .route(
            "/account/notifications/{id}/read",
            post(notifications::mark_read),
        )
        .route("/orders", get(orders::list))
        .route("/orders/{id}", get(orders::detail))
        .route("/orders/{id}/cancel", post(orders::cancel))
        .merge(assets::router())
        // A catch-all route rather than a fallback: the shared stack installs its own JSON
        // fallback, and people should get the HTML 404 page.
        .route("/{*path}", get(pages::not_found))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            pages::error_pages,
        ))
        .layer(axum::middleware::from_fn(pages::security_headers))
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use storefront_testkit::app::test_env as env;

    #[test]
    fn gateway_url_is_required_and_named() {
        let err = Config::from_source(&env(&[])).unwrap_err();
        assert!(err.to_string().contains("GATEWAY_URL"), "{err}");
    }

    #[test]
    fn gateway_url_must_be_http() {
        let err = Config::from_source(&env(&[("GATEWAY_URL", "gateway:8080")])).unwrap_err();
        assert!(err.to_string().contains("http://"), "{err}");
    }

    #[test]
    fn defaults_are_a_plain_cookie_and_the_storefront_name() {
        let config = Config::from_source(&env(&[("GATEWAY_URL", "http://gw")])).unwrap();
        assert!(!config.secure_cookies);
        assert_eq!(config.shop_name, "Storefront");
        let secure = Config::from_source(&env(&[
            ("GATEWAY_URL", "https://gw"),
            ("WEB_SECURE_COOKIES", "true"),
            ("WEB_SHOP_NAME", "Corner Shop"),
        ]))
        .unwrap();
        assert!(secure.secure_cookies);
        assert_eq!(secure.shop_name, "Corner Shop");
    }
}
