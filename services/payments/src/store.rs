//! The SQL of payments. Invariants: one payment per idempotency key (a unique index decides
//! races, never a read-then-write); at most one successful payment per order; a payment is
//! refunded at most once, in full, with its refund row written in the same transaction.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgPool, Row};
use storefront_common::db::is_unique_violation;
use storefront_common::ids::{OrderId, PaymentId, UserId};
use storefront_common::money::{Currency, Money};
use uuid::Uuid;

use crate::card::DeclineCode;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error("this idempotency key was used for another request")]
    KeyReused,
    #[error("this order already has a successful payment")]
    AlreadyPaid,
    #[error("this order has no successful payment")]
    NoPayment,
    #[error("stored payment {0} is unreadable: {1}")]
    Corrupt(Uuid, String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Succeeded,
    Declined,
    Refunded,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Succeeded => "succeeded",
            Status::Declined => "declined",
            Status::Refunded => "refunded",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "succeeded" => Some(Status::Succeeded),
            "declined" => Some(Status::Declined),
            "refunded" => Some(Status::Refunded),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Payment {
    pub id: PaymentId,
    pub order_id: OrderId,
    pub user_id: UserId,
    pub amount: Money,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decline_code: Option<&'static str>,
    pub card_brand: String,
    pub card_last4: String,
    pub created_at: DateTime<Utc>,
}

/// A charge attempt to record: what was asked, and what the gateway decided.
pub struct NewCharge<'a> {
    pub idempotency_key: &'a str,
    pub order_id: OrderId,
    pub user_id: UserId,
    pub amount: Money,
    pub decline: Option<DeclineCode>,
    pub card_brand: &'a str,
    pub card_last4: &'a str,
}

/// Whether a charge was recorded by this call or an earlier one with the same key.
pub enum Charged {
    Created(Payment),
    Replayed(Payment),
}

const COLUMNS: &str = "id, order_id, user_id, amount, currency, status, decline_code, \
                       card_brand, card_last4, created_at";

fn payment(row: &sqlx::postgres::PgRow) -> Result<Payment, StoreError> {
    let id: Uuid = row.try_get("id")?;
    let corrupt = |what: &str| StoreError::Corrupt(id, what.to_string());
    let currency: String = row.try_get("currency")?;
    let status: String = row.try_get("status")?;
    let decline: Option<String> = row.try_get("decline_code")?;
    Ok(Payment {
        id: PaymentId(id),
        order_id: row.try_get("order_id")?,
        user_id: row.try_get("user_id")?,
        amount: Money::new(
            row.try_get("amount")?,
            Currency::try_from(currency.as_str()).map_err(|_| corrupt("currency"))?,
        ),
        status: Status::parse(&status).ok_or_else(|| corrupt("status"))?,
        decline_code: match decline {
            None => None,
            Some(code) => Some(
                DeclineCode::parse(&code)
                    .ok_or_else(|| corrupt("decline_code"))?
                    .as_str(),
            ),
        },
        card_brand: row.try_get("card_brand")?,
        card_last4: row.try_get("card_last4")?,
        created_at: row.try_get("created_at")?,
    })
}

/// Records a charge once per key. A repeat with the same order, user and amount gets the stored
/// payment back (whatever it became since); anything else under that key is refused.
pub async fn charge(pool: &PgPool, new: &NewCharge<'_>) -> Result<Charged, StoreError> {
    let status = if new.decline.is_some() {
        Status::Declined
    } else {
        Status::Succeeded
    };
    // A concurrent insert of the same key makes this wait for that transaction, then do nothing;
    // the read below then sees the winner's row.
    let inserted = sqlx::query(&format!(
        "INSERT INTO payments (id, idempotency_key, order_id, user_id, amount, currency, status, \
         decline_code, card_brand, card_last4) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         ON CONFLICT (idempotency_key) DO NOTHING RETURNING {COLUMNS}"
    ))
    .bind(Uuid::new_v4())
    .bind(new.idempotency_key)
    .bind(new.order_id)
    .bind(new.user_id)
    .bind(new.amount.amount)
    .bind(new.amount.currency.as_str())
    .bind(status.as_str())
    .bind(new.decline.map(DeclineCode::as_str))
    .bind(new.card_brand)
    .bind(new.card_last4)
    .fetch_optional(pool)
    .await;
    match inserted {
        Ok(Some(row)) => return Ok(Charged::Created(payment(&row)?)),
        Ok(None) => {}
        // Either another key already paid this order, or a concurrent request with this very key
        // tripped the one-success-per-order index before the key index; the read below tells.
        Err(e) if is_unique_violation(&e) => {}
        Err(e) => return Err(e.into()),
    }
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM payments WHERE idempotency_key = $1"
    ))
    .bind(new.idempotency_key)
    .fetch_optional(pool)
    .await?
    .ok_or(StoreError::AlreadyPaid)?;
    let existing = payment(&row)?;
    if existing.order_id == new.order_id
        && existing.user_id == new.user_id
        && existing.amount == new.amount
    {
        Ok(Charged::Replayed(existing))
    } else {
        Err(StoreError::KeyReused)
    }
}

/// Refunds the order's successful payment in full, once. Repeats, with this key or another,
/// return the refunded payment; a key already used for another order's refund is refused.
pub async fn refund(pool: &PgPool, order: OrderId, key: &str) -> Result<Payment, StoreError> {
    let mut tx = pool.begin().await?;
    let earlier: Option<OrderId> = sqlx::query_scalar(
        "SELECT p.order_id FROM refunds r JOIN payments p ON p.id = r.payment_id \
         WHERE r.idempotency_key = $1",
    )
    .bind(key)
    .fetch_optional(&mut *tx)
    .await?;
    if earlier.is_some_and(|o| o != order) {
        return Err(StoreError::KeyReused);
    }
    // The row lock makes concurrent refunds of one order take turns; the second sees `refunded`.
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM payments WHERE order_id = $1 \
         AND status IN ('succeeded', 'refunded') FOR UPDATE"
    ))
    .bind(order)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(StoreError::NoPayment)?;
    let mut found = payment(&row)?;
    if found.status == Status::Refunded {
        tx.commit().await?;
        return Ok(found);
    }
    let recorded = sqlx::query(
        "INSERT INTO refunds (id, payment_id, idempotency_key, amount) VALUES ($1, $2, $3, $4)",
    )
    .bind(Uuid::new_v4())
    .bind(found.id)
    .bind(key)
    .bind(found.amount.amount)
    .execute(&mut *tx)
    .await;
    match recorded {
        // The same key was just used for another order's refund, committed after our check.
        Err(e) if is_unique_violation(&e) => return Err(StoreError::KeyReused),
        other => other?,
    };
    sqlx::query("UPDATE payments SET status = 'refunded', updated_at = now() WHERE id = $1")
        .bind(found.id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    found.status = Status::Refunded;
    tracing::info!(payment = %found.id, order = %order, "payment refunded");
    Ok(found)
}

/// Every payment of an order, oldest first.
pub async fn by_order(pool: &PgPool, order: OrderId) -> Result<Vec<Payment>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM payments WHERE order_id = $1 ORDER BY created_at, id"
    ))
    .bind(order)
    .fetch_all(pool)
    .await?;
    rows.iter().map(payment).collect()
}
