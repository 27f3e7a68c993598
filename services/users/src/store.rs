//! SQL for accounts. E-mails arrive already normalised; uniqueness is the database's job.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use storefront_common::auth::Role;
use storefront_common::ids::UserId;

use crate::account::NewAccount;

/// An account as clients see it (never the hash).
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: UserId,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, sqlx::FromRow)]
pub struct Credentials {
    pub id: UserId,
    pub password_hash: String,
}

const USER_COLUMNS: &str = "id, email, name, role, created_at";

/// Inserts a customer; `None` when the e-mail is taken.
pub async fn insert_customer(
    pool: &PgPool,
    account: &NewAccount,
    hash: &str,
) -> Result<Option<User>, sqlx::Error> {
    sqlx::query_as::<_, User>(&format!(
        "INSERT INTO users (id, email, password_hash, name, role) VALUES ($1, $2, $3, $4, 'customer')
         ON CONFLICT (email) DO NOTHING RETURNING {USER_COLUMNS}"
    ))
    .bind(UserId::new())
    .bind(&account.email)
    .bind(hash)
    .bind(&account.name)
    .fetch_optional(pool)
    .await
}

/// Creates the admin account, or makes an existing account with that e-mail an admin. An
/// existing password is never replaced, so a password changed since is not reset on restart.
/// Returns whether the account was created.
pub async fn ensure_admin(
    pool: &PgPool,
    account: &NewAccount,
    hash: &str,
) -> Result<bool, sqlx::Error> {
    let created: Option<UserId> = sqlx::query_scalar(
        "INSERT INTO users (id, email, password_hash, name, role) VALUES ($1, $2, $3, $4, 'admin')
         ON CONFLICT (email) DO NOTHING RETURNING id",
    )
    .bind(UserId::new())
    .bind(&account.email)
    .bind(hash)
    .bind(&account.name)
    .fetch_optional(pool)
    .await?;
    if created.is_none() {
        sqlx::query("UPDATE users SET role = 'admin', updated_at = now() WHERE email = $1 AND role <> 'admin'")
            .bind(&account.email)
            .execute(pool)
            .await?;
    }
    Ok(created.is_some())
}

pub async fn credentials(pool: &PgPool, email: &str) -> Result<Option<Credentials>, sqlx::Error> {
    sqlx::query_as("SELECT id, password_hash FROM users WHERE email = $1")
        .bind(email)
        .fetch_optional(pool)
        .await
}

pub async fn credentials_by_id(
    pool: &PgPool,
    id: UserId,
) -> Result<Option<Credentials>, sqlx::Error> {
    sqlx::query_as("SELECT id, password_hash FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await
}

pub async fn user(pool: &PgPool, id: UserId) -> Result<Option<User>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await
}

/// Applies the given changes in one statement; `None` fields stay as they are.
pub async fn update_profile(
    pool: &PgPool,
    id: UserId,
    name: Option<&str>,
    password_hash: Option<&str>,
) -> Result<Option<User>, sqlx::Error> {
    sqlx::query_as(&format!(
        "UPDATE users SET name = COALESCE($2, name), password_hash = COALESCE($3, password_hash),
                updated_at = now()
         WHERE id = $1 RETURNING {USER_COLUMNS}"
    ))
    .bind(id)
    .bind(name)
    .bind(password_hash)
    .fetch_optional(pool)
    .await
}
