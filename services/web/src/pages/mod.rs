//! The pages. Handlers are thin: read the form or query, call [`crate::api::Api`], fill a typed
//! template. Failures become a [`PageError`], which the `error_pages` layer turns into a whole
//! HTML page (404, 503, ...) so a shopper never sees a blank or JSON error.

pub mod account;
pub mod cart;
pub mod catalog;
pub mod checkout;
pub mod notifications;
pub mod orders;

use std::sync::Arc;

use askama::Template;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::http::header::SET_COOKIE;
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use storefront_common::client::UpstreamError;

use crate::api::Api;
use crate::session::{CookiePolicy, Session, login_redirect};

/// What every handler reads.
#[derive(Clone)]
pub struct AppState {
    pub api: Api,
    pub cookies: CookiePolicy,
    pub shop_name: Arc<str>,
}

/// What the header and footer of every page show.
#[derive(Debug, Clone)]
pub struct Layout {
    pub shop_name: String,
    pub title: String,
    pub logged_in: bool,
    /// Items in the cart; `None` when logged out or the cart could not be read (the header
    /// then shows the link without a count rather than failing the whole page).
    pub cart_count: Option<u32>,
    /// Unread notifications, shown as a badge on the account link; `None` when there are none
    /// or they could not be read (a platform without notifications still renders every page).
    pub unread: Option<u64>,
    /// The search box keeps what was searched.
    pub q: String,
}

impl Layout {
    /// A layout without calling the API, for error pages and forms that need no cart count.
    pub fn plain(state: &AppState, session: &Session, title: impl Into<String>) -> Self {
        Self {
            shop_name: state.shop_name.to_string(),
            title: title.into(),
            logged_in: session.token.is_some(),
            cart_count: None,
            unread: None,
            q: String::new(),
        }
    }

    /// A layout with the cart count and unread notifications of a logged-in shopper, read at
    /// once. A refused token shows the shopper as logged out; any other failure only hides the
    /// count or the badge.
    pub async fn load(state: &AppState, session: &Session, title: impl Into<String>) -> Self {
        let mut layout = Self::plain(state, session, title);
        if let Some(token) = &session.token {
            let (cart, notifications) =
                tokio::join!(state.api.cart(token), state.api.notifications(token));
            match cart {
                Ok(cart) => layout.cart_count = Some(cart.item_count),
                Err(e) if e.status() == Some(StatusCode::UNAUTHORIZED) => layout.logged_in = false,
                Err(e) => tracing::warn!(error = %e, "cart count unavailable for the header"),
            }
            match notifications {
                Ok(n) => layout.unread = (n.unread > 0).then_some(n.unread),
                Err(e) => tracing::debug!(error = %e, "notifications unavailable for the header"),
            }
        }
        layout
    }

    pub fn with_query(mut self, q: &str) -> Self {
        self.q = q.to_string();
        self
    }
}

/// Renders a template as an HTML page with `status`.
pub fn render(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => PageError::Template(e.to_string()).into_response(),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error("no such page")]
    NotFound,
    #[error("the shopper's session was refused; they must log in again")]
    SessionExpired,
    #[error("the shop's API is unavailable: {0}")]
    Unavailable(UpstreamError),
    #[error("the shop's API is rate limiting this shopper: {0}")]
    Busy(UpstreamError),
    #[error("the shop's API answered what this page did not expect: {0}")]
    Unexpected(UpstreamError),
    #[error("a page template failed to render: {0}")]
    Template(String),
}

impl From<UpstreamError> for PageError {
    fn from(err: UpstreamError) -> Self {
        match err.status() {
            Some(StatusCode::NOT_FOUND) => PageError::NotFound,
            Some(StatusCode::UNAUTHORIZED) => PageError::SessionExpired,
            Some(StatusCode::TOO_MANY_REQUESTS) => PageError::Busy(err),
            Some(s) if s.is_client_error() => PageError::Unexpected(err),
            _ => PageError::Unavailable(err),
        }
    }
}

/// The kind of failure, left on the response for the `error_pages` layer to render.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    NotFound,
    SessionExpired,
    Unavailable,
    Busy,
    Broken,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, failure) = match &self {
            PageError::NotFound => (StatusCode::NOT_FOUND, Failure::NotFound),
            PageError::SessionExpired => (StatusCode::UNAUTHORIZED, Failure::SessionExpired),
            PageError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, Failure::Unavailable),
            PageError::Busy(_) => (StatusCode::TOO_MANY_REQUESTS, Failure::Busy),
            PageError::Unexpected(_) => (StatusCode::BAD_GATEWAY, Failure::Broken),
            PageError::Template(_) => (StatusCode::INTERNAL_SERVER_ERROR, Failure::Broken),
        };
        if status.is_server_error() {
            tracing::warn!(error = %self, "page failed");
        }
        let mut response = status.into_response();
        response.extensions_mut().insert(failure);
        response
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    layout: Layout,
    code: u16,
    heading: &'static str,
    message: &'static str,
}

/// Turns a [`PageError`] response into a whole page. It runs as a layer because the error page
/// needs the shop name and the request path, which an error value does not carry.
pub async fn error_pages(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let path = req
        .uri()
        .path_and_query()
        .map_or_else(|| "/".to_string(), |p| p.as_str().to_string());
    let is_get = req.method() == axum::http::Method::GET;
    let session = Session::from_headers(req.headers());
    let response = next.run(req).await;
    let Some(failure) = response.extensions().get::<Failure>().copied() else {
        return response;
    };
    if failure == Failure::SessionExpired {
        // A form post cannot be replayed after login; come back to the home page instead.
        let next = if is_get { path.as_str() } else { "/" };
        let mut redirect = login_redirect(next).into_response();
        redirect
            .headers_mut()
            .insert(SET_COOKIE, state.cookies.clear());
        return redirect;
    }
    let (heading, message) = match failure {
        Failure::NotFound => (
            "Page not found",
            "We could not find what you were looking for. It may have been removed, or the link may be mistyped.",
        ),
        Failure::Unavailable => (
            "The shop is taking a short break",
            "We cannot reach our shop systems right now. Please try again in a minute; nothing in your cart is lost.",
        ),
        Failure::Busy => (
            "Too many requests",
            "You are going a little fast for us. Please wait a few seconds and try again.",
        ),
        Failure::Broken | Failure::SessionExpired => (
            "Something went wrong",
            "Something went wrong on our side. Please try again; if it keeps happening, contact us.",
        ),
    };
    let status = response.status();
    let page = ErrorPage {
        layout: Layout::plain(&state, &session, heading),
        code: status.as_u16(),
        heading,
        message,
    };
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "the error page itself failed to render");
            (status, heading).into_response()
        }
    }
}

/// The browser-side safety net on every answer: the pages use no scripts, no inline styles and
/// no frames, so the policy can forbid all three; product images may live on other HTTPS hosts.
pub async fn security_headers(req: Request, next: Next) -> Response {
    use axum::http::HeaderValue;
    let mut response = next.run(req).await;
    let headers = response.headers_mut();
    headers.insert(
        "content-security-policy",
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' https: data:; script-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        "referrer-policy",
        HeaderValue::from_static("strict-origin-when-cross-origin"),
    );
    response
}

/// Answers paths no page matches with the HTML 404 page.
pub async fn not_found() -> PageError {
    PageError::NotFound
}

/// A shopper-supplied id is worth asking the API about only if it looks like one.
pub fn looks_like_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The first API error's message for a form, when the API gave one worth showing.
pub fn api_message(err: &UpstreamError, fallback: &str) -> String {
    match err {
        UpstreamError::Status { message, .. } if !message.trim().is_empty() => message.clone(),
        _ => fallback.to_string(),
    }
}
