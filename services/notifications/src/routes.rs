//! The HTTP surface of notifications, as CONTRACT.md lists it: a customer's own list and
//! marking one read. Another user's notification is a 404, never a 403.

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use storefront_common::auth::{AuthUser, Role};
use storefront_common::extract::Path;
use storefront_common::{ApiError, ApiResult};
use uuid::Uuid;

use crate::AppState;
use crate::store;

/// The most notifications one list returns.
const LIST_LIMIT: i64 = 100;

pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/notifications", get(mine))
        .route("/api/notifications/{id}/read", post(mark_read))
        .with_state(state)
}

fn people_only(caller: &AuthUser) -> ApiResult<()> {
    if caller.role == Role::Service {
        return Err(ApiError::forbidden(
            "notifications belong to people; services have none",
        ));
    }
    Ok(())
}

async fn mine(State(state): State<AppState>, caller: AuthUser) -> ApiResult<Json<Value>> {
    people_only(&caller)?;
    let (items, unread) = store::list_for_user(&state.pool, caller.id, LIST_LIMIT).await?;
    Ok(Json(json!({"items": items, "unread": unread})))
}

async fn mark_read(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<store::Notification>> {
    people_only(&caller)?;
    store::mark_read(&state.pool, caller.id, id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("notification"))
}
