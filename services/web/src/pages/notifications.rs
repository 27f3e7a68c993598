//! The account page: what the shop has told the shopper about their orders (made by the
//! notifications service from the order events), newest first, each with a link to its order
//! and, while unread, a button that marks it read. When notifications are unavailable the page
//! still renders, saying so.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use super::{AppState, Layout, PageError, looks_like_id, render};
use crate::api::Notification;
use crate::format;
use crate::session::Session;

pub struct NotificationView {
    pub id: String,
    pub order_id: String,
    pub short_order_id: String,
    pub title: String,
    pub body: String,
    pub read: bool,
    pub when: String,
}

impl From<&Notification> for NotificationView {
    fn from(n: &Notification) -> Self {
        Self {
            id: n.id.clone(),
            order_id: n.order_id.clone(),
            short_order_id: n.order_id.chars().take(8).collect(),
            title: n.title.clone(),
            body: n.body.clone(),
            read: n.read,
            when: format::date(&n.created_at),
        }
    }
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    layout: Layout,
    notifications: Vec<NotificationView>,
    unavailable: bool,
}

pub async fn account(
    State(state): State<AppState>,
    session: Session,
) -> Result<Response, PageError> {
    let token = match session.require("/account") {
        Ok(token) => token,
        Err(redirect) => return Ok(redirect.into_response()),
    };
    let (found, layout) = tokio::join!(
        state.api.notifications(token),
        Layout::load(&state, &session, "Your account")
    );
    let (notifications, unavailable) = match found {
        Ok(list) => (
            list.items.iter().map(NotificationView::from).collect(),
            false,
        ),
        Err(e) if e.status() == Some(StatusCode::UNAUTHORIZED) => return Err(e.into()),
        Err(e) => {
            tracing::warn!(error = %e, "notifications unavailable for the account page");
            (Vec::new(), true)
        }
    };
    let page = AccountPage {
        layout,
        notifications,
        unavailable,
    };
    Ok(render(StatusCode::OK, &page))
}

pub async fn mark_read(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let token = match session.require("/account") {
        Ok(token) => token,
        Err(redirect) => return Ok(redirect.into_response()),
    };
    if !looks_like_id(&id) {
        return Err(PageError::NotFound);
    }
    state.api.mark_notification_read(token, &id).await?;
    Ok(Redirect::to("/account").into_response())
}
