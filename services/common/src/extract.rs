//! Extractors that turn every malformed request into a clear JSON error instead of axum's plain
//! text: `Json` (bad syntax 400, wrong shape 422, wrong content type 415, too large 413), `Query`
//! and `Path` (400), and the `Idempotency-Key` header of a request that must take effect once.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON body; rejections become [`ApiError`]s.
pub struct Json<T>(pub T);

impl<S, T> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Json(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::JsonDataError(e) => ApiError::validation(e.body_text()),
        JsonRejection::JsonSyntaxError(e) => ApiError::bad_request("malformed_json", e.body_text()),
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as JSON with content-type: application/json",
        ),
        JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "the request body is larger than this service accepts",
            )
        }
        other => ApiError::bad_request("bad_request", other.body_text()),
    }
}

/// Query-string parameters; rejections become 400s that name the bad parameter.
pub struct Query<T>(pub T);

impl<S, T> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Query(value)),
            Err(rejection) => Err(query_rejection(rejection)),
        }
    }
}

fn query_rejection(rejection: QueryRejection) -> ApiError {
    ApiError::bad_request("bad_query", rejection.body_text())
}

/// Path parameters; a malformed id is a 400, not a 500 and not a 404.
pub struct Path<T>(pub T);

impl<S, T> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Path(value)),
            Err(rejection) => Err(path_rejection(rejection)),
        }
    }
}

fn path_rejection(rejection: PathRejection) -> ApiError {
    ApiError::bad_request("bad_path", rejection.body_text())
}

/// The `Idempotency-Key` of a request that must take effect at most once (an order, a charge):
/// 1 to [`IdempotencyKey::MAX_LEN`] visible ASCII characters. As a header extractor it refuses a
/// request without one (400 `missing_idempotency_key`) or with a malformed one (400
/// `bad_idempotency_key`); a key seen before with a different request is the handler's to refuse,
/// with [`IdempotencyKey::reused`] (422 `idempotency_key_reused`), and a key whose first request is
/// still running is a 409 the handler names. The codes follow the IETF httpapi
/// Idempotency-Key draft.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub const HEADER: &'static str = "idempotency-key";
    pub const MAX_LEN: usize = 200;

    /// Checks a key that arrived in a header or a JSON field.
    pub fn parse(key: &str) -> Result<Self, ApiError> {
        Self::from_bytes(key.as_bytes())
    }

    /// The rule on the raw bytes, so a header that is not text at all (obs-text) gets the same
    /// refusal as any other malformed key.
    fn from_bytes(key: &[u8]) -> Result<Self, ApiError> {
        let ok =
            !key.is_empty() && key.len() <= Self::MAX_LEN && key.iter().all(u8::is_ascii_graphic);
        match std::str::from_utf8(key) {
            Ok(text) if ok => Ok(Self(text.to_owned())),
            _ => Err(ApiError::bad_request(
                "bad_idempotency_key",
                format!(
                    "the idempotency key must be 1 to {} visible ASCII characters",
                    Self::MAX_LEN
                ),
            )),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }

    /// The answer to a key used before for a different request.
    pub fn reused(what: &str) -> ApiError {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            format!("this idempotency key was already used for a different {what}; use a new key"),
        )
    }
}

impl std::fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let header = parts.headers.get(Self::HEADER).ok_or_else(|| {
            ApiError::bad_request(
                "missing_idempotency_key",
                "send an Idempotency-Key header, unique per attempt, so that a retry takes effect once",
            )
        })?;
        Self::from_bytes(header.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn key_of(header: Option<&[u8]>) -> Result<IdempotencyKey, ApiError> {
        let mut request = axum::http::Request::builder();
        if let Some(value) = header {
            request = request.header(IdempotencyKey::HEADER, value);
        }
        let (mut parts, ()) = request.body(()).unwrap().into_parts();
        IdempotencyKey::from_request_parts(&mut parts, &()).await
    }

    fn code(result: Result<IdempotencyKey, ApiError>) -> String {
        let err = result.unwrap_err();
        assert_eq!(err.status, StatusCode::BAD_REQUEST, "{err:?}");
        err.code.to_string()
    }

    #[tokio::test]
    async fn a_missing_key_and_a_malformed_key_are_told_apart() {
        assert_eq!(code(key_of(None).await), "missing_idempotency_key");
        for bad in [&b""[..], b"a b", "\u{e9}t\u{e9}".as_bytes(), &[b'k'; 201]] {
            assert_eq!(
                code(key_of(Some(bad)).await),
                "bad_idempotency_key",
                "{bad:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_visible_ascii_key_up_to_the_limit_is_taken_as_sent() {
        assert_eq!(
            key_of(Some(b"order-42")).await.unwrap().as_str(),
            "order-42"
        );
        let longest = "k".repeat(IdempotencyKey::MAX_LEN);
        assert_eq!(
            key_of(Some(longest.as_bytes())).await.unwrap().as_str(),
            longest
        );
    }

    #[test]
    fn reuse_is_unprocessable() {
        let err = IdempotencyKey::reused("order");
        assert_eq!(err.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(err.code, "idempotency_key_reused");
    }
}
