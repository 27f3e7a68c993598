//! The background task that gives expired holds back to the shelf. Several replicas may run it at
//! once: each reservation is claimed with `FOR UPDATE SKIP LOCKED`, so none is released twice.

use std::time::Duration;

use sqlx::PgPool;

/// Most reservations released per tick, so one tick never runs unbounded.
const BATCH: u32 = 500;

/// Spawns the sweeper on the current runtime; it ends with the runtime.
pub fn spawn(pool: PgPool, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match crate::store::release_expired(&pool, BATCH).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(released = n, "expired reservations released"),
                // A database outage must not kill the sweeper; the next tick tries again.
                Err(e) => tracing::warn!(error = %e, "sweeping expired reservations failed"),
            }
        }
    })
}
