//! The shopper's session: the JWT from login kept in one cookie, `HttpOnly` (page scripts never
//! see it) and `SameSite=Lax` (other sites cannot make the browser post forms with it), `Secure`
//! when configured. The web front stores nothing else; the token is the whole session.

use axum::extract::FromRequestParts;
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};

pub const COOKIE_NAME: &str = "sf_session";

/// The token of the shopper making the request, if they are logged in.
#[derive(Debug, Clone, Default)]
pub struct Session {
    pub token: Option<String>,
}

impl Session {
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let token = headers
            .get_all(COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, _)| *name == COOKIE_NAME)
            .map(|(_, value)| value.trim().to_string())
            .filter(|v| is_token_text(v));
        Self { token }
    }

    /// The token, or a redirect to the login page that comes back to `next` afterwards.
    pub fn require(&self, next: &str) -> Result<&str, Redirect> {
        self.token.as_deref().ok_or_else(|| login_redirect(next))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Session {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Session::from_headers(&parts.headers))
    }
}

/// JWTs are base64url segments joined by dots; anything else in the cookie is not ours.
fn is_token_text(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 4096
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// How the session cookie is written.
#[derive(Debug, Clone, Copy)]
pub struct CookiePolicy {
    pub secure: bool,
}

impl CookiePolicy {
    /// A cookie holding `token` for `max_age_secs` (the token's own lifetime, so the browser
    /// drops it when the server would refuse it anyway).
    pub fn set(&self, token: &str, max_age_secs: i64) -> HeaderValue {
        let secure = if self.secure { "; Secure" } else { "" };
        let text = format!(
            "{COOKIE_NAME}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
            max_age_secs.max(0)
        );
        // The token passed `is_token_text`-like checks upstream, but a header value must never
        // be trusted blindly: fall back to a clearing cookie rather than panic.
        HeaderValue::from_str(&text).unwrap_or_else(|_| self.clear())
    }

    pub fn clear(&self) -> HeaderValue {
        let secure = if self.secure { "; Secure" } else { "" };
        HeaderValue::from_str(&format!(
            "{COOKIE_NAME}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}"
        ))
        .unwrap_or(HeaderValue::from_static("sf_session=; Path=/; Max-Age=0"))
    }

    /// A redirect to `to` that also sets or clears the session cookie.
    pub fn redirect_with(&self, to: &str, cookie: HeaderValue) -> Response {
        let mut response = Redirect::to(to).into_response();
        response.headers_mut().insert(SET_COOKIE, cookie);
        response
    }
}

/// `/login?next=...` for a page that needs a logged-in shopper.
pub fn login_redirect(next: &str) -> Redirect {
    let query = serde_urlencoded::to_string([("next", safe_next(Some(next)))]).unwrap_or_default();
    Redirect::to(&format!("/login?{query}"))
}

/// Where to go after login: only a path on this site, so a crafted `next` cannot send the
/// shopper to another origin (`//evil.example`, `https://...`, `/\evil`).
pub fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n,
        _ => "/",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(cookie: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(COOKIE, HeaderValue::from_str(cookie).unwrap());
        h
    }

    #[test]
    fn session_reads_its_cookie_among_others() {
        let s = Session::from_headers(&headers("theme=dark; sf_session=aa.bb-cc.d_d; x=1"));
        assert_eq!(s.token.as_deref(), Some("aa.bb-cc.d_d"));
    }

    #[test]
    fn session_ignores_missing_or_foreign_cookie_text() {
        assert!(Session::from_headers(&HeaderMap::new()).token.is_none());
        assert!(
            Session::from_headers(&headers("sf_session=a b<c>"))
                .token
                .is_none()
        );
        assert!(
            Session::from_headers(&headers("sf_session="))
                .token
                .is_none()
        );
    }

    #[test]
    fn cookie_is_httponly_lax_and_secure_only_when_asked() {
        let plain = CookiePolicy { secure: false }.set("t.o.k", 3600);
        let plain = plain.to_str().unwrap();
        assert!(plain.contains("HttpOnly") && plain.contains("SameSite=Lax"));
        assert!(plain.contains("Max-Age=3600") && !plain.contains("Secure"));
        let secure = CookiePolicy { secure: true }.set("t.o.k", 3600);
        assert!(secure.to_str().unwrap().ends_with("; Secure"));
        assert!(
            CookiePolicy { secure: false }
                .clear()
                .to_str()
                .unwrap()
                .contains("Max-Age=0")
        );
    }

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(safe_next(Some("/cart")), "/cart");
        assert_eq!(safe_next(Some("//evil.example")), "/");
        assert_eq!(safe_next(Some("https://evil.example")), "/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/");
        assert_eq!(safe_next(None), "/");
    }
}
