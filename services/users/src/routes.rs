//! HTTP handlers of the users service: thin, they validate, call the store, and shape answers.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use storefront_common::auth::{AuthUser, Role};
use storefront_common::extract::{Json, Path};
use storefront_common::ids::UserId;
use storefront_common::{ApiError, ApiResult};

use crate::account::{self, AccountError, NewAccount};
use crate::store::{self, User};
use crate::{AppState, password};

pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/users/register", post(register))
        .route("/api/users/login", post(login))
        .route("/api/users/logout", post(logout))
        .route("/api/users/profile", get(profile).put(update_profile))
        .route("/internal/users/{id}/contact", get(contact))
        .with_state(state)
}

impl From<AccountError> for ApiError {
    fn from(e: AccountError) -> Self {
        ApiError::validation(e.to_string())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Register {
    email: String,
    password: String,
    name: String,
}

async fn register(
    State(state): State<AppState>,
    Json(body): Json<Register>,
) -> ApiResult<impl IntoResponse> {
    let account = NewAccount::validate(&body.email, &body.password, &body.name)?;
    let hash = password::hash(account.password.clone()).await?;
    let user = store::insert_customer(&state.pool, &account, &hash)
        .await?
        .ok_or_else(|| {
            ApiError::conflict(
                "email_taken",
                "an account with this email already exists; log in instead",
            )
        })?;
    tracing::info!(user_id = %user.id, "account registered");
    Ok((StatusCode::CREATED, axum::Json(user)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Login {
    email: String,
    password: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LoginAnswer {
    token: String,
    expires_at: DateTime<Utc>,
    user: User,
}

fn invalid_credentials() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
        "email or password is wrong",
    )
}

async fn login(
    State(state): State<AppState>,
    Json(body): Json<Login>,
) -> ApiResult<axum::Json<LoginAnswer>> {
    // A malformed e-mail cannot belong to an account; answer as for a wrong password.
    let email = account::normalise_email(&body.email).unwrap_or_default();
    let creds = if email.is_empty() {
        None
    } else {
        store::credentials(&state.pool, &email).await?
    };
    let stale = creds
        .as_ref()
        .is_some_and(|c| !password::is_current(&c.password_hash));
    let typed = stale.then(|| body.password.clone());
    let matches = password::verify(
        body.password,
        creds.as_ref().map(|c| c.password_hash.clone()),
    )
    .await?;
    let Some(creds) = creds.filter(|_| matches) else {
        return Err(invalid_credentials());
    };
    if let Some(typed) = typed {
        upgrade_hash(&state, creds.id, typed).await;
    }
    let user = store::user(&state.pool, creds.id)
        .await?
        .ok_or_else(invalid_credentials)?;
    let issued = state.auth.issue(user.id, user.role, state.token_ttl)?;
    tracing::info!(user_id = %user.id, "logged in");
    Ok(axum::Json(LoginAnswer {
        token: issued.token,
        expires_at: issued.expires_at,
        user,
    }))
}

/// Rehashes a password stored with older parameters, now that login has it in clear. A failure
/// only delays the upgrade to the next login; the login itself goes on.
async fn upgrade_hash(state: &AppState, id: UserId, typed: String) {
    let outcome = match password::hash(typed).await {
        Ok(hash) => store::update_profile(&state.pool, id, None, Some(&hash))
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.message),
    };
    match outcome {
        Ok(()) => tracing::info!(user_id = %id, "password hash upgraded to the current parameters"),
        Err(e) => {
            tracing::warn!(user_id = %id, error = %e, "password hash upgrade failed; next login retries")
        }
    }
}

async fn logout(State(state): State<AppState>, caller: AuthUser) -> ApiResult<StatusCode> {
    let denylist = state
        .auth
        .denylist()
        .ok_or_else(|| ApiError::internal("users runs without a denylist"))?;
    denylist.revoke(&caller.jti, caller.expires_at).await?;
    tracing::info!(user_id = %caller.id, "logged out; token revoked");
    Ok(StatusCode::NO_CONTENT)
}

fn require_person(caller: &AuthUser) -> ApiResult<()> {
    if caller.role == Role::Service {
        return Err(ApiError::forbidden("service tokens have no profile"));
    }
    Ok(())
}

async fn profile(State(state): State<AppState>, caller: AuthUser) -> ApiResult<axum::Json<User>> {
    require_person(&caller)?;
    let user = store::user(&state.pool, caller.id)
        .await?
        .ok_or_else(|| ApiError::not_found("this account no longer exists"))?;
    Ok(axum::Json(user))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ProfileUpdate {
    name: Option<String>,
    password: Option<String>,
    current_password: Option<String>,
}

async fn update_profile(
    State(state): State<AppState>,
    caller: AuthUser,
    Json(body): Json<ProfileUpdate>,
) -> ApiResult<axum::Json<User>> {
    require_person(&caller)?;
    let name = body.name.as_deref().map(account::check_name).transpose()?;
    let new_hash = match body.password {
        None => None,
        Some(new_password) => {
            account::check_password(&new_password)?;
            let current = body.current_password.ok_or_else(|| {
                ApiError::validation("currentPassword is required to change the password")
            })?;
            let creds = store::credentials_by_id(&state.pool, caller.id)
                .await?
                .ok_or_else(|| ApiError::not_found("this account no longer exists"))?;
            if !password::verify(current, Some(creds.password_hash)).await? {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "wrong_current_password",
                    "currentPassword does not match",
                ));
            }
            Some(password::hash(new_password).await?)
        }
    };
    let user = store::update_profile(&state.pool, caller.id, name.as_deref(), new_hash.as_deref())
        .await?
        .ok_or_else(|| ApiError::not_found("this account no longer exists"))?;
    Ok(axum::Json(user))
}

/// Where to reach a user, for other Storefront services only (notifications' e-mail); not
/// routed by the gateway.
#[derive(Serialize)]
struct Contact {
    email: String,
    name: String,
}

async fn contact(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<UserId>,
) -> ApiResult<axum::Json<Contact>> {
    caller.require_service()?;
    let user = store::user(&state.pool, id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such user"))?;
    Ok(axum::Json(Contact {
        email: user.email,
        name: user.name,
    }))
}
