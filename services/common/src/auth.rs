//! JWT authentication shared by every service: HS256 tokens signed by the users service, verified
//! everywhere (signature, expiry, issuer, and the logout denylist in Redis). Only HS256 is
//! accepted, so `alg: none` and algorithm-confusion tokens are refused.

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;
use chrono::{DateTime, TimeZone, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::ApiError;
use crate::ids::UserId;
use crate::redis_store::Redis;

pub const ISSUER: &str = "storefront";

/// What a caller may do. `Service` is held only by short-lived tokens services mint for calls to
/// each other's internal routes; the gateway never routes those.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "postgres",
    derive(sqlx::Type),
    sqlx(type_name = "text", rename_all = "lowercase")
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Customer,
    Admin,
    Service,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Customer => "customer",
            Role::Admin => "admin",
            Role::Service => "service",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: UserId,
    pub role: Role,
    pub iss: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
}

/// A token just issued, as the login response shows it.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub claims: Claims,
}

/// Signs and verifies tokens; optionally consults the denylist.
pub struct Authenticator {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    denylist: Option<Denylist>,
}

impl Authenticator {
    pub fn new(secret: &str, denylist: Option<Denylist>) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        // Not issued by users, but a token that carries one is refused until it holds.
        validation.validate_nbf = true;
        validation.leeway = 5;
        Self {
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
            validation,
            denylist,
        }
    }

    pub fn issue(
        &self,
        user: UserId,
        role: Role,
        ttl: std::time::Duration,
    ) -> Result<IssuedToken, ApiError> {
        let now = Utc::now();
        let ttl = chrono::Duration::from_std(ttl).map_err(ApiError::internal)?;
        let expires_at = now + ttl;
        let claims = Claims {
            sub: user,
            role,
            iss: ISSUER.into(),
            iat: now.timestamp(),
            exp: expires_at.timestamp(),
            jti: Uuid::new_v4().to_string(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(ApiError::internal)?;
        Ok(IssuedToken {
            token,
            expires_at,
            claims,
        })
    }

    /// A one-minute token for calling another service's internal routes.
    pub fn service_token(&self, service: &str) -> Result<String, ApiError> {
        let id = UserId(Uuid::new_v5(&Uuid::NAMESPACE_OID, service.as_bytes()));
        Ok(self
            .issue(id, Role::Service, std::time::Duration::from_secs(60))?
            .token)
    }

    /// Checks signature, algorithm, issuer and expiry. Does not consult the denylist.
    pub fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| {
                use jsonwebtoken::errors::ErrorKind;
                match e.kind() {
                    ErrorKind::ExpiredSignature => {
                        ApiError::unauthorized("the token has expired; log in again")
                    }
                    _ => ApiError::unauthorized("the token is invalid"),
                }
            })
    }

    /// Full check of a bearer token: [`Self::verify`] plus the denylist.
    pub async fn authenticate(&self, token: &str) -> Result<AuthUser, ApiError> {
        let claims = self.verify(token)?;
        if let Some(denylist) = &self.denylist
            && denylist.contains(&claims.jti).await?
        {
            return Err(ApiError::unauthorized(
                "the token was revoked by logout; log in again",
            ));
        }
        Ok(AuthUser {
            id: claims.sub,
            role: claims.role,
            token: token.to_string(),
            jti: claims.jti,
            expires_at: Utc
                .timestamp_opt(claims.exp, 0)
                .single()
                .unwrap_or_else(Utc::now),
        })
    }

    pub fn denylist(&self) -> Option<&Denylist> {
        self.denylist.as_ref()
    }
}

/// The token verifier of a service whose only use of Redis is the denylist: with `REDIS_URL` set
/// it connects (waiting up to 30 s for Redis to come up) and adds Redis to `readiness`; without
/// it, tokens are verified without a denylist.
pub async fn verifier(
    common: &crate::config::CommonConfig,
    readiness: crate::health::Readiness,
) -> Result<(Arc<Authenticator>, crate::health::Readiness), crate::redis_store::RedisError> {
    match &common.redis_url {
        Some(url) => {
            let redis = Redis::connect(url, std::time::Duration::from_secs(30)).await?;
            let auth = Authenticator::new(&common.jwt_secret, Some(Denylist::new(redis.clone())));
            Ok((Arc::new(auth), readiness.redis(redis)))
        }
        None => Ok((
            Arc::new(Authenticator::new(&common.jwt_secret, None)),
            readiness,
        )),
    }
}

/// Revoked token ids, kept in Redis until the token would have expired anyway. Every look-up is
/// bounded by a short timeout: when Redis is down, authenticated requests fail closed with a
/// fast 503 rather than hanging while the connection manager reconnects.
#[derive(Clone)]
pub struct Denylist {
    redis: Redis,
}

const DENYLIST_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(500);

fn denylist_down() -> ApiError {
    ApiError::unavailable("the token denylist (Redis) is unavailable; try again shortly")
}

impl Denylist {
    pub fn new(redis: Redis) -> Self {
        Self { redis }
    }

    fn key(jti: &str) -> String {
        format!("storefront:denylist:{jti}")
    }

    pub async fn revoke(&self, jti: &str, expires_at: DateTime<Utc>) -> Result<(), ApiError> {
        let mut conn = self.redis.conn();
        let mut cmd = redis::cmd("SET");
        cmd.arg(Self::key(jti))
            .arg(1)
            .arg("EXAT")
            .arg(expires_at.timestamp().max(Utc::now().timestamp() + 1));
        tokio::time::timeout(DENYLIST_TIMEOUT, cmd.query_async::<()>(&mut conn))
            .await
            .map_err(|_| denylist_down())?
            .map_err(|e| {
                tracing::error!(error = %e, "revoking a token failed");
                denylist_down()
            })
    }

    pub async fn contains(&self, jti: &str) -> Result<bool, ApiError> {
        let mut conn = self.redis.conn();
        let mut cmd = redis::cmd("EXISTS");
        cmd.arg(Self::key(jti));
        let n = tokio::time::timeout(DENYLIST_TIMEOUT, cmd.query_async::<i64>(&mut conn))
            .await
            .map_err(|_| denylist_down())?
            .map_err(|e| {
                tracing::error!(error = %e, "checking the token denylist failed");
                denylist_down()
            })?;
        Ok(n > 0)
    }
}

/// The authenticated caller. Extracting it from a request answers 401 when the bearer token is
/// missing, invalid, expired or revoked.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub id: UserId,
    pub role: Role,
    pub token: String,
    pub jti: String,
    pub expires_at: DateTime<Utc>,
}

impl AuthUser {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(ApiError::forbidden("this action needs the admin role"))
        }
    }

    pub fn require_service(&self) -> Result<(), ApiError> {
        if self.role == Role::Service {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "this route is for Storefront services only",
            ))
        }
    }

    /// The caller may act on `owner`'s data: it is theirs, or they are an admin or a service.
    pub fn require_owner_or_staff(&self, owner: UserId) -> Result<(), ApiError> {
        if self.id == owner || matches!(self.role, Role::Admin | Role::Service) {
            Ok(())
        } else {
            Err(ApiError::forbidden("this belongs to another user"))
        }
    }
}

pub fn bearer_token(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

impl<S> FromRequestParts<S> for AuthUser
where
    S: Send + Sync,
    Arc<Authenticator>: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let auth = Arc::<Authenticator>::from_ref(state);
        let token = bearer_token(parts).ok_or_else(|| {
            ApiError::unauthorized("send a bearer token: Authorization: Bearer <token>")
        })?;
        auth.authenticate(token).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn issued_token_verifies_and_carries_role() {
        let auth = Authenticator::new(SECRET, None);
        let user = UserId::new();
        let issued = auth
            .issue(user, Role::Admin, Duration::from_secs(60))
            .unwrap();
        let claims = auth.verify(&issued.token).unwrap();
        assert_eq!(claims.sub, user);
        assert_eq!(claims.role, Role::Admin);
    }

    #[test]
    fn token_signed_with_another_key_is_refused() {
        let other = Authenticator::new("ffffffffffffffffffffffffffffffff", None);
        let token = other
            .issue(UserId::new(), Role::Admin, Duration::from_secs(60))
            .unwrap()
            .token;
        assert_eq!(
            Authenticator::new(SECRET, None)
                .verify(&token)
                .unwrap_err()
                .status,
            401
        );
    }

    #[test]
    fn alg_none_token_is_refused() {
        use base64_like::encode;
        let header = encode(br#"{"alg":"none","typ":"JWT"}"#);
        let payload = encode(
            format!(
                r#"{{"sub":"{}","role":"admin","iss":"storefront","iat":0,"exp":9999999999,"jti":"x"}}"#,
                Uuid::new_v4()
            )
            .as_bytes(),
        );
        let token = format!("{header}.{payload}.");
        assert!(Authenticator::new(SECRET, None).verify(&token).is_err());
    }

    #[test]
    fn expired_token_is_refused_with_a_clear_message() {
        let auth = Authenticator::new(SECRET, None);
        let claims = Claims {
            sub: UserId::new(),
            role: Role::Customer,
            iss: ISSUER.into(),
            iat: 0,
            exp: Utc::now().timestamp() - 3600,
            jti: "j".into(),
        };
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap();
        let err = auth.verify(&token).unwrap_err();
        assert!(err.message.contains("expired"), "{err}");
    }

    /// GHSA-h395-gr6q-cpjc: jsonwebtoken before 10.3 treated a registered claim of the wrong
    /// type as absent, so a string `nbf` far in the future skipped the not-before check. A string
    /// `exp` is refused by our typed claims whatever the library does; it stays as a guard.
    #[test]
    fn a_registered_claim_of_the_wrong_type_is_refused() {
        let auth = Authenticator::new(SECRET, None);
        let key = EncodingKey::from_secret(SECRET.as_bytes());
        let sub = UserId::new().0.to_string();
        for payload in [
            serde_json::json!({"sub": sub, "role": "customer", "iss": ISSUER, "iat": 0,
                "exp": "99999999999", "jti": "j"}),
            serde_json::json!({"sub": sub, "role": "customer", "iss": ISSUER, "iat": 0,
                "exp": Utc::now().timestamp() + 600, "nbf": "99999999999", "jti": "j"}),
        ] {
            let token =
                jsonwebtoken::encode(&Header::new(Algorithm::HS256), &payload, &key).unwrap();
            assert!(auth.verify(&token).is_err(), "accepted {payload}");
        }
    }

    /// Minimal URL-safe base64 without padding, enough to forge a test token.
    mod base64_like {
        const ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        pub fn encode(input: &[u8]) -> String {
            let mut out = String::new();
            for chunk in input.chunks(3) {
                let b = [
                    chunk[0],
                    *chunk.get(1).unwrap_or(&0),
                    *chunk.get(2).unwrap_or(&0),
                ];
                let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
                let chars = chunk.len() + 1;
                for i in 0..chars {
                    out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
                }
            }
            out
        }
    }
}
