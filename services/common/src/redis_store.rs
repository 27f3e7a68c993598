//! The one Redis connection setup: a multiplexed, auto-reconnecting connection shared by all
//! handlers of a service.

use std::time::Duration;

pub use redis::RedisError;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

#[derive(Clone)]
pub struct Redis {
    manager: ConnectionManager,
}

impl Redis {
    /// Connects, retrying for up to `wait` so that a service started beside its Redis comes up.
    pub async fn connect(url: &str, wait: Duration) -> Result<Self, redis::RedisError> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Duration::from_secs(2))
            .set_response_timeout(Duration::from_secs(2))
            .set_number_of_retries(2);
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match ConnectionManager::new_with_config(client.clone(), config.clone()).await {
                Ok(manager) => return Ok(Self { manager }),
                Err(e) if tokio::time::Instant::now() < deadline => {
                    tracing::warn!(error = %e, "redis not reachable yet; retrying");
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// A handle for one or more commands; cheap to clone, multiplexed underneath.
    pub fn conn(&self) -> ConnectionManager {
        self.manager.clone()
    }

    pub async fn ping(&self) -> Result<(), redis::RedisError> {
        let mut conn = self.conn();
        let _: String = redis::cmd("PING").query_async(&mut conn).await?;
        Ok(())
    }
}
