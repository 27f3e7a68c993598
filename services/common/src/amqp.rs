//! The one AMQP connection setup (feature `amqp`): lapin driven by the tokio runtime, with the
//! connection named after the service so the broker's management view says who is who.

use std::time::Duration;

pub use lapin;
use lapin::{Connection, ConnectionProperties};

/// Connects to `url`, retrying for up to `wait` so that a service started beside its broker
/// comes up.
pub async fn connect(service: &str, url: &str, wait: Duration) -> Result<Connection, lapin::Error> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let properties = ConnectionProperties::default()
            .with_connection_name(service.into())
            .with_executor(tokio_executor_trait::Tokio::current())
            .with_reactor(tokio_reactor_trait::Tokio::current());
        match Connection::connect(url, properties).await {
            Ok(connection) => return Ok(connection),
            Err(e) if tokio::time::Instant::now() < deadline => {
                tracing::warn!(error = %e, "rabbitmq not reachable yet; retrying");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => return Err(e),
        }
    }
}
