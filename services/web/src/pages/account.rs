//! Log in, create an account, log out. Failed forms are shown again with the error beside them
//! and what was typed kept, except passwords, which are never written into a page.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use storefront_common::client::UpstreamError;

use super::{AppState, Layout, PageError, api_message, render};
use crate::session::{Session, safe_next};

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    layout: Layout,
    email: String,
    next: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "register.html")]
struct RegisterPage {
    layout: Layout,
    name: String,
    email: String,
    next: String,
    error: Option<String>,
    email_error: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct NextParam {
    next: Option<String>,
}

pub async fn login_form(
    State(state): State<AppState>,
    session: Session,
    Query(params): Query<NextParam>,
) -> Response {
    let page = LoginPage {
        layout: Layout::plain(&state, &session, "Log in"),
        email: String::new(),
        next: safe_next(params.next.as_deref()).to_string(),
        error: None,
    };
    render(StatusCode::OK, &page)
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    next: Option<String>,
}

pub async fn login(
    State(state): State<AppState>,
    session: Session,
    axum::Form(form): axum::Form<LoginForm>,
) -> Result<Response, PageError> {
    let next = safe_next(form.next.as_deref()).to_string();
    let email = form.email.trim().to_string();
    let failed = |status: StatusCode, message: String| {
        let page = LoginPage {
            layout: Layout::plain(&state, &session, "Log in"),
            email: email.clone(),
            next: next.clone(),
            error: Some(message),
        };
        render(status, &page)
    };
    if email.is_empty() || form.password.is_empty() {
        return Ok(failed(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Enter your email and password.".into(),
        ));
    }
    match start_session(&state, &email, &form.password, &next).await {
        Ok(response) => Ok(response),
        Err(e) if e.status() == Some(StatusCode::UNAUTHORIZED) => Ok(failed(
            StatusCode::UNAUTHORIZED,
            "That email and password do not match an account.".into(),
        )),
        Err(e)
            if e.status()
                .is_some_and(|s| s.is_client_error() && s != StatusCode::TOO_MANY_REQUESTS) =>
        {
            Ok(failed(
                StatusCode::UNPROCESSABLE_ENTITY,
                api_message(&e, "Please check your email and password."),
            ))
        }
        Err(e) => Err(e.into()),
    }
}

/// Logs in and answers with the cookie set and a redirect to `next`.
async fn start_session(
    state: &AppState,
    email: &str,
    password: &str,
    next: &str,
) -> Result<Response, UpstreamError> {
    let login = state.api.login(email, password).await?;
    let max_age = chrono::DateTime::parse_from_rfc3339(&login.expires_at)
        .map(|at| (at.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_seconds())
        // Unknown expiry: an hour, the users service's default token lifetime.
        .unwrap_or(3600);
    Ok(state
        .cookies
        .redirect_with(next, state.cookies.set(&login.token, max_age)))
}

pub async fn register_form(
    State(state): State<AppState>,
    session: Session,
    Query(params): Query<NextParam>,
) -> Response {
    let page = RegisterPage {
        layout: Layout::plain(&state, &session, "Create account"),
        name: String::new(),
        email: String::new(),
        next: safe_next(params.next.as_deref()).to_string(),
        error: None,
        email_error: None,
    };
    render(StatusCode::OK, &page)
}

#[derive(Debug, Deserialize)]
pub struct RegisterForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    next: Option<String>,
}

pub async fn register(
    State(state): State<AppState>,
    session: Session,
    axum::Form(form): axum::Form<RegisterForm>,
) -> Result<Response, PageError> {
    let next = safe_next(form.next.as_deref()).to_string();
    let name = form.name.trim().to_string();
    let email = form.email.trim().to_string();
    let failed = |status: StatusCode, error: Option<String>, email_error: Option<String>| {
        let page = RegisterPage {
            layout: Layout::plain(&state, &session, "Create account"),
            name: name.clone(),
            email: email.clone(),
            next: next.clone(),
            error,
            email_error,
        };
        render(status, &page)
    };
    match state.api.register(&email, &form.password, &name).await {
        Ok(()) => {}
        Err(e) if e.code() == Some("email_taken") => {
            return Ok(failed(
                StatusCode::CONFLICT,
                None,
                Some("An account with this email already exists. Log in instead?".into()),
            ));
        }
        Err(e)
            if e.status()
                .is_some_and(|s| s.is_client_error() && s != StatusCode::TOO_MANY_REQUESTS) =>
        {
            return Ok(failed(
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(api_message(&e, "Please check the details you entered.")),
                None,
            ));
        }
        Err(e) => return Err(e.into()),
    }
    Ok(start_session(&state, &email, &form.password, &next).await?)
}

pub async fn logout(State(state): State<AppState>, session: Session) -> Response {
    if let Some(token) = &session.token
        && let Err(e) = state.api.logout(token).await
    {
        // The cookie goes either way: the shopper asked to be logged out of this browser, and
        // the token expires on its own.
        tracing::warn!(error = %e, "logout was not recorded by the API");
    }
    state.cookies.redirect_with("/", state.cookies.clear())
}
