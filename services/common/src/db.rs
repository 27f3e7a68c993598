//! The one PostgreSQL setup: a pool with bounded waits, connected with retries at start-up, and
//! the service's embedded migrations applied before it serves. A pooled connection is pinged
//! before reuse only when it has sat idle for a while (see [`PING_IF_IDLE_FOR`]).

use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgPool};

/// A connection idle for longer than this is pinged before it is handed out again. sqlx's
/// default pings on every acquire: one extra round trip to PostgreSQL per transaction under
/// load, where connections are never idle long enough to have died unnoticed. A connection that
/// died sooner fails its statement, and sqlx drops it from the pool.
pub const PING_IF_IDLE_FOR: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error(
        "cannot connect to PostgreSQL at DATABASE_URL ({0}); check the URL and that the server is up"
    )]
    Connect(#[source] sqlx::Error),
    #[error("applying migrations failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

pub struct DbOptions {
    pub max_connections: u32,
    pub connect_wait: Duration,
}

impl Default for DbOptions {
    fn default() -> Self {
        Self {
            max_connections: 10,
            connect_wait: Duration::from_secs(30),
        }
    }
}

pub async fn connect(url: &str, options: DbOptions) -> Result<PgPool, DbError> {
    let deadline = tokio::time::Instant::now() + options.connect_wait;
    loop {
        let attempt = PgPoolOptions::new()
            .max_connections(options.max_connections)
            .acquire_timeout(Duration::from_secs(5))
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for > PING_IF_IDLE_FOR {
                        conn.ping().await?;
                    }
                    Ok(true)
                })
            })
            .connect(url)
            .await;
        match attempt {
            Ok(pool) => return Ok(pool),
            Err(e) if tokio::time::Instant::now() < deadline => {
                tracing::warn!(error = %e, "postgres not reachable yet; retrying");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => return Err(DbError::Connect(e)),
        }
    }
}

/// Connects and applies `migrator`; concurrent replicas are serialised by sqlx's advisory lock.
pub async fn connect_and_migrate(
    url: &str,
    options: DbOptions,
    migrator: &Migrator,
) -> Result<PgPool, DbError> {
    let pool = connect(url, options).await?;
    migrator.run(&pool).await?;
    Ok(pool)
}

/// True when `err` is a unique-constraint violation (SQLSTATE 23505).
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.code().as_deref() == Some("23505"))
}
