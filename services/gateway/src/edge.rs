//! The pipeline every routed request goes through, in this order: resolve the route (unknown and
//! `/internal` → 404), rate-limit by client IP and token subject, authenticate (protected routes
//! answer 401 here and never reach a backend), serve catalog reads from the cache, forward, and
//! cache what may be cached. The caller's identity reaches backends only as the gateway's own
//! `x-user-id`/`x-user-role` headers; the bearer token is passed on so they can verify again.

use std::net::SocketAddr;
use std::sync::{Arc, LazyLock};

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use storefront_common::ApiError;
use storefront_common::auth::{Authenticator, Role, bearer_token};

use crate::cache::ResponseCache;
use crate::forwarding::{self, Identity};
use crate::metrics::GatewayMetrics;
use crate::proxy::{Answer, Outgoing, Proxy};
use crate::ratelimit::{Decision, RateLimiter};
use crate::routing::{self, RouteError, Target};
use crate::trusted_proxies::TrustedProxies;

pub struct Edge {
    pub auth: Arc<Authenticator>,
    pub limiter: RateLimiter,
    pub cache: ResponseCache,
    pub proxy: Proxy,
    pub proxies: TrustedProxies,
    pub max_body_bytes: usize,
    pub metrics: Arc<GatewayMetrics>,
    /// The longest the revocation check may take; past it the token cannot be honoured.
    pub redis_budget: std::time::Duration,
}

const X_CACHE: &str = "x-cache";

/// The 429's body, rendered once by the shared error mapping: a flood is answered with it again
/// and again.
static RATE_LIMITED: LazyLock<Bytes> = LazyLock::new(|| {
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        "too many requests; wait for the time in Retry-After",
    )
    .body_bytes()
});

fn too_many_requests(retry_after_secs: u64) -> Response {
    storefront_common::error::rendered_response(
        StatusCode::TOO_MANY_REQUESTS,
        RATE_LIMITED.clone(),
        Some(retry_after_secs),
    )
}

pub async fn handle(State(edge): State<Arc<Edge>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let target = match routing::resolve(&parts.method, parts.uri.path()) {
        Ok(target) => target,
        Err(RouteError::NotRouted) => return ApiError::not_found("no such route").into_response(),
        Err(e @ RouteError::UnsafePath) => {
            return ApiError::bad_request("unsafe_path", e.to_string()).into_response();
        }
    };
    // Without connect info (a server not started by the shared stack) the peer is unknown and
    // all such clients share one rate-limit bucket rather than bypassing it.
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)), |c| c.0);
    let ip = edge.proxies.client(peer.ip(), &parts.headers);

    let claims = bearer_token(&parts).map(|token| edge.auth.verify(token));
    let subject = match &claims {
        Some(Ok(claims)) => Some(claims.sub),
        _ => None,
    };
    let decision = edge.limiter.check(ip, subject).await;
    let mut response = match decision {
        Some(decision) if !decision.allowed => {
            edge.metrics.rate_limited(decision.tier);
            too_many_requests(decision.retry_after_secs)
        }
        _ => admitted(&edge, target, parts, body, peer, claims).await,
    };
    if let Some(decision) = decision {
        Decision::write_headers(&decision, response.headers_mut());
    }
    response
}

async fn admitted(
    edge: &Edge,
    target: Target,
    parts: Parts,
    body: Body,
    peer: SocketAddr,
    claims: Option<Result<storefront_common::auth::Claims, ApiError>>,
) -> Response {
    let identity = identify(&edge.auth, claims, edge.redis_budget).await;
    let identity = if target.public {
        // A bad token on a public route only means the caller is treated as anonymous.
        identity.ok().flatten()
    } else {
        match identity {
            Ok(Some(identity)) => Some(identity),
            Ok(None) => {
                return ApiError::unauthorized(
                    "this route needs a bearer token: Authorization: Bearer <token>",
                )
                .into_response();
            }
            Err(e) => return e.into_response(),
        }
    };

    let cache_key = target
        .cacheable
        .then(|| ResponseCache::key(parts.uri.path(), parts.uri.query()));
    if let Some(key) = &cache_key {
        let cached = edge.cache.get(key).await;
        edge.metrics.cache_lookup(cached.is_some());
        if let Some(cached) = cached {
            let mut response = Response::new(Body::from(cached.body));
            if let Some(value) = cached.content_type {
                response.headers_mut().insert(header::CONTENT_TYPE, value);
            }
            response
                .headers_mut()
                .insert(X_CACHE, HeaderValue::from_static("HIT"));
            return response;
        }
    }

    let body = match read_body(body, edge.max_body_bytes).await {
        Ok(body) => body,
        Err(e) => return e.into_response(),
    };
    let outgoing = Outgoing {
        method: parts.method.clone(),
        path_and_query: parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path().to_string(), |p| p.as_str().to_string()),
        headers: forwarding::towards_backend(
            &parts.headers,
            peer,
            &edge.proxies,
            identity.as_ref(),
        ),
        body,
    };
    let answer = match edge.proxy.forward(&target, outgoing).await {
        Ok(answer) => answer,
        Err(e) => return ApiError::from(e).into_response(),
    };
    if let Some(key) = cache_key {
        if may_cache(&answer) {
            let content_type = answer
                .headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok());
            edge.cache.put(key, content_type, &answer.body);
        }
        let mut response = relay(answer);
        response
            .headers_mut()
            .insert(X_CACHE, HeaderValue::from_static("MISS"));
        return response;
    }
    relay(answer)
}

/// The caller behind the token: `Ok(None)` without a token, `Err` (401, or 503 when the
/// denylist cannot be read) for a token that must not be honoured.
async fn identify(
    auth: &Authenticator,
    claims: Option<Result<storefront_common::auth::Claims, ApiError>>,
    budget: std::time::Duration,
) -> Result<Option<Identity>, ApiError> {
    let claims = match claims {
        None => return Ok(None),
        Some(claims) => claims?,
    };
    // Service tokens are for calls between services inside the cluster, never from outside.
    if claims.role == Role::Service {
        return Err(ApiError::unauthorized(
            "service tokens are not accepted at the gateway",
        ));
    }
    let revoked = match auth.denylist() {
        None => false,
        Some(denylist) => tokio::time::timeout(budget, denylist.contains(&claims.jti))
            .await
            .map_err(|_| {
                tracing::warn!("the token denylist did not answer in time");
                ApiError::unavailable("cannot check the token right now; try again shortly")
            })??,
    };
    if revoked {
        return Err(ApiError::unauthorized(
            "the token was revoked by logout; log in again",
        ));
    }
    Ok(Some(Identity {
        user_id: claims.sub.to_string(),
        role: claims.role.as_str(),
    }))
}

async fn read_body(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let too_large =
            std::iter::successors(Some(&e as &(dyn std::error::Error + 'static)), |e| {
                e.source()
            })
            .any(|e| e.is::<http_body_util::LengthLimitError>());
        if too_large {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "the request body is larger than the gateway accepts",
            )
        } else {
            ApiError::bad_request("unreadable_body", "the request body could not be read")
        }
    })
}

/// A 200 that the catalog did not mark private and that sets no cookie.
fn may_cache(answer: &Answer) -> bool {
    let private = answer
        .headers
        .get_all(header::CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("no-store") || v.contains("private"));
    answer.status == StatusCode::OK && !private && !answer.headers.contains_key(header::SET_COOKIE)
}

fn relay(answer: Answer) -> Response {
    let mut response = Response::new(Body::from(answer.body));
    *response.status_mut() = answer.status;
    let headers: HeaderMap = forwarding::towards_client(&answer.headers);
    *response.headers_mut() = headers;
    response
}
