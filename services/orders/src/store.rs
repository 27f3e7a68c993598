//! SQL of the orders service. Every status change is a guarded `UPDATE ... WHERE status = <from>`
//! in a transaction that also writes its outbox event, so each change happens once and is
//! announced once, whoever (request handler, recovery worker, another replica) gets there first.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Postgres, Row, Transaction};
use storefront_common::ids::{OrderId, ProductId, UserId};
use storefront_common::money::{Currency, Money};

use crate::model::{Order, OrderLine, OrderStatus};

/// An order found by its idempotency key, with the answer stored for it (if final).
pub struct Keyed {
    pub id: OrderId,
    pub request_hash: String,
    pub response: Option<(u16, Value)>,
}

pub struct NewOrder<'a> {
    pub id: OrderId,
    pub user: UserId,
    pub key: &'a str,
    pub request_hash: &'a str,
    pub from_cart: bool,
    pub total: Money,
    pub lines: &'a [OrderLine],
}

pub async fn find_by_key(
    pool: &PgPool,
    user: UserId,
    key: &str,
) -> Result<Option<Keyed>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT id, request_hash, response_status, response_body FROM orders
         WHERE user_id = $1 AND idempotency_key = $2",
    )
    .bind(user)
    .bind(key)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| {
        let status: Option<i32> = r.get("response_status");
        let body: Option<Value> = r.get("response_body");
        Keyed {
            id: r.get("id"),
            request_hash: r.get("request_hash"),
            response: status.and_then(|s| u16::try_from(s).ok()).zip(body),
        }
    }))
}

/// Inserts a pending order and its lines in one statement (so one round trip, and atomic by
/// itself); false when the key is already taken (a concurrent request with the same key won
/// the race: the insert waits for its outcome, then does nothing).
pub async fn insert_pending(pool: &PgPool, order: &NewOrder<'_>) -> Result<bool, sqlx::Error> {
    let products: Vec<ProductId> = order.lines.iter().map(|l| l.product_id).collect();
    let names: Vec<&str> = order.lines.iter().map(|l| l.name.as_str()).collect();
    let amounts: Vec<i64> = order.lines.iter().map(|l| l.unit_price.amount).collect();
    let quantities: Vec<i32> = order.lines.iter().map(|l| l.quantity).collect();
    let inserted: i64 = sqlx::query_scalar(
        "WITH new_order AS (
             INSERT INTO orders (id, user_id, status, idempotency_key, request_hash, from_cart, currency, total_amount)
             VALUES ($1, $2, 'pending', $3, $4, $5, $6, $7)
             ON CONFLICT (user_id, idempotency_key) DO NOTHING
             RETURNING id),
         new_items AS (
             INSERT INTO order_items (order_id, product_id, name, unit_amount, quantity)
             SELECT new_order.id, line.product_id, line.name, line.unit_amount, line.quantity
             FROM new_order,
                  unnest($8::uuid[], $9::text[], $10::bigint[], $11::int[])
                      AS line(product_id, name, unit_amount, quantity))
         SELECT count(*) FROM new_order",
    )
    .bind(order.id)
    .bind(order.user)
    .bind(order.key)
    .bind(order.request_hash)
    .bind(order.from_cart)
    .bind(order.total.currency.as_str())
    .bind(order.total.amount)
    .bind(&products)
    .bind(&names)
    .bind(&amounts)
    .bind(&quantities)
    .fetch_one(pool)
    .await?;
    Ok(inserted == 1)
}

/// Removes a pending order that never reached the card (a dependency was down before the
/// charge), so a retry with the same key starts afresh.
pub async fn delete_pending(pool: &PgPool, id: OrderId) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM orders WHERE id = $1 AND status = 'pending'")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(())
}

/// What a status change records beside the new status.
pub struct Change<'a> {
    pub from: OrderStatus,
    pub to: OrderStatus,
    pub failure_reason: Option<&'a str>,
    /// For the end of checkout: the answer to store for replays. `None` stores the order itself
    /// with this status code.
    pub response: Option<(u16, Option<Value>)>,
}

/// Applies `change` if the order is still in `change.from`; writes the outbox event (and the
/// stored answer, if any) in the same transaction. Returns the updated order, or `None` when
/// someone else changed it first.
///
/// Two statements: the guarded update returns the order with its lines, then one statement
/// stores the answer and writes the event, both of which need the order as it now is.
pub async fn change_status(
    pool: &PgPool,
    id: OrderId,
    change: Change<'_>,
) -> Result<Option<Order>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let rows = sqlx::query(
        "WITH changed AS (
             UPDATE orders SET status = $3, failure_reason = COALESCE($4, failure_reason), updated_at = now()
             WHERE id = $1 AND status = $2
             RETURNING id, user_id, status, currency, total_amount, failure_reason, created_at, updated_at)
         SELECT changed.*, item.product_id, item.name, item.unit_amount, item.quantity
         FROM changed LEFT JOIN order_items item ON item.order_id = changed.id
         ORDER BY item.name, item.product_id",
    )
    .bind(id)
    .bind(change.from.as_str())
    .bind(change.to.as_str())
    .bind(change.failure_reason)
    .fetch_all(&mut *tx)
    .await?;
    let Some(head) = rows.first() else {
        return Ok(None);
    };
    let items: Vec<&PgRow> = rows
        .iter()
        .filter(|r| matches!(r.try_get::<Option<ProductId>, _>("product_id"), Ok(Some(_))))
        .collect();
    let order = order_from(head, &items);
    let order_json = serde_json::to_value(&order).unwrap_or(Value::Null);
    let event_type = format!("order.{}", change.to.as_str());
    let traceparent = storefront_common::telemetry::current_traceparent();
    match change.response {
        Some((status, body)) => {
            sqlx::query(
                "WITH answered AS (
                     UPDATE orders SET response_status = $5, response_body = $6 WHERE id = $1)
                 INSERT INTO order_events (order_id, event_type, payload, traceparent)
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(id)
            .bind(&event_type)
            .bind(&order_json)
            .bind(traceparent)
            .bind(i32::from(status))
            .bind(body.as_ref().unwrap_or(&order_json))
            .execute(&mut *tx)
            .await?;
        }
        None => {
            sqlx::query(
                "INSERT INTO order_events (order_id, event_type, payload, traceparent)
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(id)
            .bind(&event_type)
            .bind(&order_json)
            .bind(traceparent)
            .execute(&mut *tx)
            .await?;
        }
    }
    tx.commit().await?;
    Ok(Some(order))
}

pub async fn load(pool: &PgPool, id: OrderId) -> Result<Option<Order>, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    load_in(&mut conn, id).await
}

async fn load_in(conn: &mut sqlx::PgConnection, id: OrderId) -> Result<Option<Order>, sqlx::Error> {
    let Some(row) = sqlx::query(
        "SELECT id, user_id, status, currency, total_amount, failure_reason, created_at, updated_at
         FROM orders WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let items = sqlx::query(
        "SELECT product_id, name, unit_amount, quantity FROM order_items WHERE order_id = $1 ORDER BY name, product_id",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(Some(order_from(&row, &items.iter().collect::<Vec<_>>())))
}

/// An order from its row and its lines' rows (any rows with these columns).
fn order_from(row: &PgRow, items: &[&PgRow]) -> Order {
    let currency_text: String = row.get("currency");
    let currency = Currency::try_from(currency_text.as_str()).unwrap_or(Currency::USD);
    let items = items
        .iter()
        .map(|r| {
            let unit = Money::new(r.get("unit_amount"), currency);
            let quantity: i32 = r.get("quantity");
            OrderLine {
                product_id: r.get::<ProductId, _>("product_id"),
                name: r.get("name"),
                unit_price: unit,
                quantity,
                line_total: Money::new(unit.amount.saturating_mul(i64::from(quantity)), currency),
            }
        })
        .collect();
    let status: String = row.get("status");
    Order {
        id: row.get("id"),
        user_id: row.get("user_id"),
        status: OrderStatus::parse(&status).unwrap_or(OrderStatus::Pending),
        items,
        total: Money::new(row.get("total_amount"), currency),
        failure_reason: row.get("failure_reason"),
        created_at: row.get::<DateTime<Utc>, _>("created_at"),
        updated_at: row.get::<DateTime<Utc>, _>("updated_at"),
    }
}

/// A user's orders, newest first (at most `limit`).
pub async fn list_for_user(
    pool: &PgPool,
    user: UserId,
    limit: i64,
) -> Result<Vec<Order>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, user_id, status, currency, total_amount, failure_reason, created_at, updated_at
         FROM orders WHERE user_id = $1 ORDER BY created_at DESC, id LIMIT $2",
    )
    .bind(user)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    let ids: Vec<OrderId> = rows.iter().map(|r| r.get("id")).collect();
    let mut items = sqlx::query(
        "SELECT order_id, product_id, name, unit_amount, quantity FROM order_items
         WHERE order_id = ANY($1) ORDER BY name, product_id",
    )
    .bind(&ids)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let id: OrderId = row.get("id");
            let (mine, rest): (Vec<_>, Vec<_>) = items
                .drain(..)
                .partition(|r| r.get::<OrderId, _>("order_id") == id);
            items = rest;
            order_from(&row, &mine.iter().collect::<Vec<_>>())
        })
        .collect())
}

/// Orders left `pending` for longer than `older_than_secs`, claimed for this worker by touching
/// `updated_at` (so another replica's worker skips them for the same period).
pub async fn claim_stale_pending(
    pool: &PgPool,
    older_than_secs: f64,
    limit: i64,
) -> Result<Vec<(OrderId, UserId, bool)>, sqlx::Error> {
    let rows = sqlx::query(
        "UPDATE orders SET updated_at = now()
         WHERE id IN (SELECT id FROM orders
                      WHERE status = 'pending' AND updated_at < now() - make_interval(secs => $1)
                      ORDER BY updated_at LIMIT $2 FOR UPDATE SKIP LOCKED)
         RETURNING id, user_id, from_cart",
    )
    .bind(older_than_secs)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.get("id"), r.get("user_id"), r.get("from_cart")))
        .collect())
}

pub struct Event {
    pub id: i64,
    pub order_id: OrderId,
    pub event_type: String,
    pub payload: Value,
    pub traceparent: Option<String>,
}

impl Event {
    pub fn envelope(&self) -> storefront_common::events::EventEnvelope {
        storefront_common::events::EventEnvelope {
            event_id: self.id.to_string(),
            event_type: self.event_type.clone(),
            order_id: self.order_id.to_string(),
            traceparent: self.traceparent.clone(),
            payload: self.payload.clone(),
        }
    }
}

/// Locks up to `limit` unpublished events in `tx` (skipping those another relay holds).
pub async fn unpublished(
    tx: &mut Transaction<'_, Postgres>,
    limit: i64,
) -> Result<Vec<Event>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, order_id, event_type, payload, traceparent FROM order_events
         WHERE published_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
    )
    .bind(limit)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Event {
            id: r.get("id"),
            order_id: r.get("order_id"),
            event_type: r.get("event_type"),
            payload: r.get("payload"),
            traceparent: r.get("traceparent"),
        })
        .collect())
}

pub async fn mark_published(
    tx: &mut Transaction<'_, Postgres>,
    ids: &[i64],
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE order_events SET published_at = now() WHERE id = ANY($1)")
        .bind(ids)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
