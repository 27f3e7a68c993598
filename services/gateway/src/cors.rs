//! Cross-origin access for browser clients on other origins: only the origins listed in
//! `GATEWAY_CORS_ORIGINS` (or `*` for any), none by default. Preflights are answered here, before
//! authentication and rate limiting, as browsers send them without credentials.

use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, Method, header};
use tower_http::cors::{AllowOrigin, CorsLayer};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsOrigins {
    None,
    Any,
    List(Vec<HeaderValue>),
}

#[derive(Debug, thiserror::Error)]
#[error("{0:?} is not an origin; write origins like https://shop.example.com, comma-separated")]
pub struct OriginError(String);

impl CorsOrigins {
    pub fn parse(text: Option<&str>) -> Result<Self, OriginError> {
        let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
            return Ok(CorsOrigins::None);
        };
        if text == "*" {
            return Ok(CorsOrigins::Any);
        }
        text.split(',')
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .map(|origin| {
                let well_formed = (origin.starts_with("http://") || origin.starts_with("https://"))
                    && !origin.trim_end_matches('/').ends_with(':');
                let value = HeaderValue::from_str(origin.trim_end_matches('/'))
                    .map_err(|_| OriginError(origin.to_string()))?;
                well_formed
                    .then_some(value)
                    .ok_or_else(|| OriginError(origin.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(CorsOrigins::List)
    }

    /// The layer to apply, or `None` when cross-origin access is off.
    pub fn layer(&self) -> Option<CorsLayer> {
        let allow = match self {
            CorsOrigins::None => return None,
            CorsOrigins::Any => AllowOrigin::any(),
            CorsOrigins::List(list) => AllowOrigin::list(list.clone()),
        };
        Some(
            CorsLayer::new()
                .allow_origin(allow)
                .allow_methods([
                    Method::GET,
                    Method::HEAD,
                    Method::POST,
                    Method::PUT,
                    Method::DELETE,
                ])
                .allow_headers([
                    header::AUTHORIZATION,
                    header::CONTENT_TYPE,
                    header::ACCEPT,
                    HeaderName::from_static("idempotency-key"),
                    HeaderName::from_static("x-request-id"),
                ])
                .expose_headers([
                    HeaderName::from_static("x-request-id"),
                    HeaderName::from_static("x-cache"),
                    header::RETRY_AFTER,
                    HeaderName::from_static("ratelimit-limit"),
                    HeaderName::from_static("ratelimit-remaining"),
                    HeaderName::from_static("ratelimit-reset"),
                ])
                .max_age(Duration::from_secs(600)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_default_to_none_and_accept_star_or_a_list() {
        assert_eq!(CorsOrigins::parse(None).unwrap(), CorsOrigins::None);
        assert_eq!(CorsOrigins::parse(Some(" ")).unwrap(), CorsOrigins::None);
        assert_eq!(CorsOrigins::parse(Some("*")).unwrap(), CorsOrigins::Any);
        assert_eq!(
            CorsOrigins::parse(Some("https://a.example, http://b.example:8080/")).unwrap(),
            CorsOrigins::List(vec![
                HeaderValue::from_static("https://a.example"),
                HeaderValue::from_static("http://b.example:8080"),
            ])
        );
        assert!(CorsOrigins::parse(Some("a.example")).is_err());
        assert!(CorsOrigins::parse(None).unwrap().layer().is_none());
    }
}
