//! The notifications table. An event is stored at most once (`event_id` is unique), so storing
//! a redelivered event reports [`Stored::Duplicate`] and changes nothing.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgPool, Row};
use storefront_common::ids::{OrderId, UserId};
use uuid::Uuid;

use crate::message::NewNotification;

/// A notification as clients see it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    pub id: Uuid,
    pub order_id: OrderId,
    /// The event type it came from, e.g. `order.paid`.
    pub kind: String,
    pub title: String,
    pub body: String,
    pub read: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    Created,
    Duplicate,
}

pub async fn insert(pool: &PgPool, n: &NewNotification) -> Result<Stored, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO notifications (id, event_id, user_id, order_id, kind, title, body, traceparent)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(Uuid::new_v4())
    .bind(&n.event_id)
    .bind(n.user_id)
    .bind(n.order_id)
    .bind(n.kind.event_type())
    .bind(&n.title)
    .bind(&n.body)
    .bind(&n.traceparent)
    .execute(pool)
    .await?
    .rows_affected();
    Ok(if inserted == 1 {
        Stored::Created
    } else {
        Stored::Duplicate
    })
}

const COLUMNS: &str = "id, order_id, kind, title, body, read_at, created_at";

fn from_row(row: &sqlx::postgres::PgRow) -> Notification {
    let read_at: Option<DateTime<Utc>> = row.get("read_at");
    Notification {
        id: row.get("id"),
        order_id: row.get("order_id"),
        kind: row.get("kind"),
        title: row.get("title"),
        body: row.get("body"),
        read: read_at.is_some(),
        read_at,
        created_at: row.get("created_at"),
    }
}

/// A user's newest `limit` notifications, newest first, and how many of all theirs are unread.
pub async fn list_for_user(
    pool: &PgPool,
    user: UserId,
    limit: i64,
) -> Result<(Vec<Notification>, i64), sqlx::Error> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM notifications WHERE user_id = $1
         ORDER BY created_at DESC, id DESC LIMIT $2"
    ))
    .bind(user)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    let unread: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM notifications WHERE user_id = $1 AND read_at IS NULL",
    )
    .bind(user)
    .fetch_one(pool)
    .await?;
    Ok((rows.iter().map(from_row).collect(), unread))
}

/// Marks `id` read if it is `user`'s (the first read time is kept); `None` when it is not theirs.
pub async fn mark_read(
    pool: &PgPool,
    user: UserId,
    id: Uuid,
) -> Result<Option<Notification>, sqlx::Error> {
    let row = sqlx::query(&format!(
        "UPDATE notifications SET read_at = COALESCE(read_at, now())
         WHERE id = $1 AND user_id = $2 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(user)
    .fetch_optional(pool)
    .await?;
    Ok(row.as_ref().map(from_row))
}
