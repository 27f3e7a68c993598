//! The SQL of inventory. Invariants: `available` and `reserved` never go negative (CHECKs back
//! this up); a reservation takes all its units or none, in one transaction that updates stock rows
//! in sorted product order; each status change holds the reservation row lock, so its stock
//! effect happens exactly once. Expiry is judged by the database clock only.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool, Row};
use storefront_common::ids::ProductId;
use uuid::Uuid;

use crate::reservation::{self, Action, Line, Status, TransitionError};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error("no such reservation")]
    NotFound,
    #[error("some items are out of stock")]
    OutOfStock(Vec<Shortage>),
    #[error("a reservation with this id exists with other items")]
    Conflict,
    #[error(transparent)]
    Transition(#[from] TransitionError),
    #[error("stored reservation {0} has unknown status {1:?}")]
    Corrupt(Uuid, String),
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct Stock {
    pub product_id: ProductId,
    pub available: i32,
    pub reserved: i32,
}

/// A line that could not be reserved, and how many units were on the shelf.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Shortage {
    pub product_id: ProductId,
    pub requested: i32,
    pub available: i32,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Reservation {
    pub reservation_id: Uuid,
    pub status: Status,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub items: Vec<Line>,
}

pub async fn stock(pool: &PgPool, product: ProductId) -> Result<Option<Stock>, sqlx::Error> {
    sqlx::query_as("SELECT product_id, available, reserved FROM stock WHERE product_id = $1")
        .bind(product)
        .fetch_optional(pool)
        .await
}

/// Sets the units on the shelf, creating the row if needed; units held by reservations stay.
pub async fn set_available(
    pool: &PgPool,
    product: ProductId,
    available: i32,
) -> Result<Stock, sqlx::Error> {
    sqlx::query_as(
        "INSERT INTO stock (product_id, available) VALUES ($1, $2) \
         ON CONFLICT (product_id) DO UPDATE SET available = EXCLUDED.available, updated_at = now() \
         RETURNING product_id, available, reserved",
    )
    .bind(product)
    .bind(available)
    .fetch_one(pool)
    .await
}

/// Adds stock for every demo product that has none yet.
pub async fn seed_demo(pool: &PgPool) -> Result<u64, sqlx::Error> {
    let mut inserted = 0;
    for product in storefront_common::demo::PRODUCTS {
        inserted += sqlx::query(
            "INSERT INTO stock (product_id, available) VALUES ($1, $2) \
             ON CONFLICT (product_id) DO NOTHING",
        )
        .bind(product.id())
        .bind(product.stock)
        .execute(pool)
        .await?
        .rows_affected();
    }
    Ok(inserted)
}

/// Reserves every line or none. Returns the reservation and whether this call created it; an
/// existing reservation with the same id is returned when its items equal `lines`.
pub async fn reserve(
    pool: &PgPool,
    id: Uuid,
    lines: &[Line],
    ttl: Duration,
) -> Result<(Reservation, bool), StoreError> {
    let (products, quantities): (Vec<Uuid>, Vec<i32>) =
        lines.iter().map(|l| (l.product_id.0, l.quantity)).unzip();
    let mut tx = pool.begin().await?;
    // A concurrent insert of the same id makes this wait for that transaction's outcome, so a
    // repeat never sees a half-made reservation. The lines go in with the head (one round trip);
    // a shortage below rolls both back.
    let inserted = sqlx::query(
        "WITH held AS ( \
             INSERT INTO reservations (id, status, expires_at) \
             VALUES ($1, 'held', now() + make_interval(secs => $2)) \
             ON CONFLICT (id) DO NOTHING RETURNING id, expires_at, created_at), \
         held_items AS ( \
             INSERT INTO reservation_items (reservation_id, product_id, quantity) \
             SELECT held.id, line.p, line.q \
             FROM held, unnest($3::uuid[], $4::int[]) AS line(p, q)) \
         SELECT expires_at, created_at FROM held",
    )
    .bind(id)
    .bind(ttl.as_secs_f64())
    .bind(&products)
    .bind(&quantities)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = inserted else {
        tx.rollback().await?;
        let existing = reservation(pool, id).await?.ok_or(StoreError::NotFound)?;
        return if existing.items == lines {
            Ok((existing, false))
        } else {
            Err(StoreError::Conflict)
        };
    };

    let mut short = Vec::new();
    for line in lines {
        let taken = sqlx::query(
            "UPDATE stock SET available = available - $2, reserved = reserved + $2, \
             updated_at = now() WHERE product_id = $1 AND available >= $2",
        )
        .bind(line.product_id)
        .bind(line.quantity)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if taken == 0 {
            let available: Option<i32> =
                sqlx::query_scalar("SELECT available FROM stock WHERE product_id = $1")
                    .bind(line.product_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            short.push(Shortage {
                product_id: line.product_id,
                requested: line.quantity,
                available: available.unwrap_or(0),
            });
        }
    }
    if !short.is_empty() {
        tx.rollback().await?;
        return Err(StoreError::OutOfStock(short));
    }
    tx.commit().await?;
    Ok((
        Reservation {
            reservation_id: id,
            status: Status::Held,
            expires_at: row.try_get("expires_at")?,
            created_at: row.try_get("created_at")?,
            items: lines.to_vec(),
        },
        true,
    ))
}

pub async fn reservation(pool: &PgPool, id: Uuid) -> Result<Option<Reservation>, StoreError> {
    let mut conn = pool.acquire().await?;
    let Some((head, items)) = head_and_items(&mut conn, id, false).await? else {
        return Ok(None);
    };
    Ok(Some(head.into_reservation(id, items)))
}

/// Applies `action` exactly once. A held reservation found past its expiry is released first
/// (and stays released even when the action is then refused), as the sweeper would have done.
pub async fn transition(
    pool: &PgPool,
    id: Uuid,
    action: Action,
) -> Result<Reservation, StoreError> {
    let mut tx = pool.begin().await?;
    let (mut head, items) = head_and_items(&mut tx, id, true)
        .await?
        .ok_or(StoreError::NotFound)?;
    if head.status == Status::Held && head.expired {
        move_stock(&mut tx, Action::Release, &items).await?;
        set_status(&mut tx, id, Status::Released).await?;
        head.status = Status::Released;
        tracing::info!(reservation = %id, "expired reservation released on access");
    }
    let planned = reservation::plan(head.status, action);
    if let Ok(true) = planned {
        move_stock(&mut tx, action, &items).await?;
        set_status(&mut tx, id, action.target()).await?;
        head.status = action.target();
        tracing::info!(reservation = %id, status = head.status.as_str(), "reservation moved");
    }
    tx.commit().await?;
    planned?;
    Ok(head.into_reservation(id, items))
}

/// Releases held reservations past their expiry, one transaction each, skipping rows another
/// replica (or a request) is working on. Returns how many it released.
pub async fn release_expired(pool: &PgPool, limit: u32) -> Result<u32, StoreError> {
    let mut released = 0;
    while released < limit {
        let mut tx = pool.begin().await?;
        let next: Option<Uuid> = sqlx::query_scalar(
            "SELECT id FROM reservations WHERE status = 'held' AND expires_at <= now() \
             ORDER BY expires_at LIMIT 1 FOR UPDATE SKIP LOCKED",
        )
        .fetch_optional(&mut *tx)
        .await?;
        let Some(id) = next else {
            tx.commit().await?;
            break;
        };
        let items = items(&mut tx, id).await?;
        move_stock(&mut tx, Action::Release, &items).await?;
        set_status(&mut tx, id, Status::Released).await?;
        tx.commit().await?;
        tracing::info!(reservation = %id, "expired reservation released");
        released += 1;
    }
    Ok(released)
}

struct Head {
    status: Status,
    expires_at: DateTime<Utc>,
    created_at: DateTime<Utc>,
    expired: bool,
}

impl Head {
    fn into_reservation(self, id: Uuid, items: Vec<Line>) -> Reservation {
        Reservation {
            reservation_id: id,
            status: self.status,
            expires_at: self.expires_at,
            created_at: self.created_at,
            items,
        }
    }
}

/// The reservation and its lines (in product order) in one round trip; with `lock`, the
/// reservation row is locked for the rest of the transaction. Lines never change once written,
/// so reading them in the same statement as the lock is as good as after it.
async fn head_and_items(
    conn: &mut PgConnection,
    id: Uuid,
    lock: bool,
) -> Result<Option<(Head, Vec<Line>)>, StoreError> {
    let sql = if lock {
        "SELECT r.status, r.expires_at, r.created_at, r.expires_at <= now() AS expired, \
         i.product_id, i.quantity \
         FROM reservations r LEFT JOIN reservation_items i ON i.reservation_id = r.id \
         WHERE r.id = $1 ORDER BY i.product_id FOR UPDATE OF r"
    } else {
        "SELECT r.status, r.expires_at, r.created_at, r.expires_at <= now() AS expired, \
         i.product_id, i.quantity \
         FROM reservations r LEFT JOIN reservation_items i ON i.reservation_id = r.id \
         WHERE r.id = $1 ORDER BY i.product_id"
    };
    let rows = sqlx::query(sql).bind(id).fetch_all(conn).await?;
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    let text: String = row.try_get("status")?;
    let status = Status::parse(&text).ok_or(StoreError::Corrupt(id, text))?;
    let head = Head {
        status,
        expires_at: row.try_get("expires_at")?,
        created_at: row.try_get("created_at")?,
        expired: row.try_get("expired")?,
    };
    let mut items = Vec::with_capacity(rows.len());
    for row in &rows {
        let product: Option<ProductId> = row.try_get("product_id")?;
        let quantity: Option<i32> = row.try_get("quantity")?;
        if let (Some(product_id), Some(quantity)) = (product, quantity) {
            items.push(Line {
                product_id,
                quantity,
            });
        }
    }
    Ok(Some((head, items)))
}

async fn items(conn: &mut PgConnection, id: Uuid) -> Result<Vec<Line>, sqlx::Error> {
    let rows: Vec<(ProductId, i32)> = sqlx::query_as(
        "SELECT product_id, quantity FROM reservation_items \
         WHERE reservation_id = $1 ORDER BY product_id",
    )
    .bind(id)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(product_id, quantity)| Line {
            product_id,
            quantity,
        })
        .collect())
}

/// The stock effect of an action, row by row in product order (the same order reserve locks in).
async fn move_stock(
    conn: &mut PgConnection,
    action: Action,
    items: &[Line],
) -> Result<(), sqlx::Error> {
    let sql = match action {
        Action::Commit => {
            "UPDATE stock SET reserved = reserved - $2, updated_at = now() \
                           WHERE product_id = $1"
        }
        Action::Release => {
            "UPDATE stock SET available = available + $2, \
                            reserved = reserved - $2, updated_at = now() WHERE product_id = $1"
        }
        Action::Restock => {
            "UPDATE stock SET available = available + $2, updated_at = now() \
                            WHERE product_id = $1"
        }
    };
    for line in items {
        sqlx::query(sql)
            .bind(line.product_id)
            .bind(line.quantity)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

async fn set_status(conn: &mut PgConnection, id: Uuid, status: Status) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE reservations SET status = $2, updated_at = now() WHERE id = $1")
        .bind(id)
        .bind(status.as_str())
        .execute(conn)
        .await?;
    Ok(())
}
