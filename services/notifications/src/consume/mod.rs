//! Consuming order events, the same on every bus: the bus adapter ([`redis_stream`],
//! [`rabbitmq`]) hands each delivery to [`Handler::handle`], acknowledges it when that succeeds,
//! and after `max_attempts` failed deliveries moves it to the dead letter and counts it.
//!
//! Invariants: an event is acknowledged only after its notification is stored (at least once);
//! storing is idempotent by event id (a redelivery makes no second notification); a database
//! outage is waited out in place and never uses up an event's tries, but an event the database
//! refuses for what it holds (SQLSTATE classes 22 and 23, e.g. a NUL byte in its id) fails like
//! any poison event, so it is dead-lettered instead of stalling the consumer.

pub mod rabbitmq;
pub mod redis_stream;

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use sqlx::PgPool;
use storefront_common::events::{EnvelopeError, EventEnvelope};
use tracing::Instrument;

use crate::email::{Emailed, Mailer};
use crate::message::{self, BadEvent};
use crate::store::{self, Stored};

/// What became of one delivery that was handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    Created,
    /// Already stored from an earlier delivery: acknowledged, nothing new.
    Duplicate,
    /// An event type customers are not told about.
    Ignored,
}

/// Why a delivery failed: retrying may or may not help, so it counts as one try.
#[derive(Debug, thiserror::Error)]
pub enum Failed {
    #[error(transparent)]
    Unreadable(#[from] EnvelopeError),
    #[error(transparent)]
    Bad(#[from] BadEvent),
    #[error("the database refused the notification: {0}")]
    Refused(sqlx::Error),
}

/// Whether the database refused this write for its content (retrying cannot help), as opposed to
/// being unreachable or overloaded (waiting can).
fn refused_for_content(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|code| code.starts_with("22") || code.starts_with("23")),
        sqlx::Error::Encode(_) => true,
        _ => false,
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    bus: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BusLabels {
    bus: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EmailLabels {
    outcome: &'static str,
}

/// The consumer's metrics: `notifications_events_total{bus,outcome}`,
/// `notifications_dead_lettered_total{bus}` and `notifications_emails_total{outcome}`.
#[derive(Clone, Default)]
pub struct ConsumerMetrics {
    events: Family<OutcomeLabels, Counter>,
    dead_lettered: Family<BusLabels, Counter>,
    emails: Family<EmailLabels, Counter>,
}

impl ConsumerMetrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "notifications_events",
            "Order-event deliveries handled, by bus and outcome (created, duplicate, ignored, failed)",
            self.events.clone(),
        );
        registry.register(
            "notifications_dead_lettered",
            "Order events moved to the dead letter after their last failed try, by bus",
            self.dead_lettered.clone(),
        );
        registry.register(
            "notifications_emails",
            "Confirmation e-mails, by outcome (sent, refused: not retried)",
            self.emails.clone(),
        );
    }

    fn count(&self, bus: &'static str, outcome: &'static str) {
        self.events
            .get_or_create(&OutcomeLabels { bus, outcome })
            .inc();
    }

    fn email(&self, outcome: &'static str) {
        self.emails.get_or_create(&EmailLabels { outcome }).inc();
    }

    pub fn dead_lettered(&self, bus: &'static str) {
        self.dead_lettered.get_or_create(&BusLabels { bus }).inc();
    }
}

/// Turns deliveries into notifications.
#[derive(Clone)]
pub struct Handler {
    pub pool: PgPool,
    pub metrics: ConsumerMetrics,
    pub bus: &'static str,
    /// Sends each notification by e-mail too, when `SMTP_URL` is set.
    pub mailer: Option<Arc<Mailer>>,
}

/// The longest wait between two tries of a database write during an outage.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

impl Handler {
    /// Handles one delivery, in a span that continues the producer's trace.
    pub async fn handle(
        &self,
        event: Result<EventEnvelope, EnvelopeError>,
    ) -> Result<Handled, Failed> {
        let (event_id, event_type, traceparent) = match &event {
            Ok(e) => (
                e.event_id.clone(),
                e.event_type.clone(),
                e.traceparent.clone(),
            ),
            Err(_) => (String::new(), String::new(), None),
        };
        let span = tracing::info_span!(
            "consume order event",
            otel.name = %format!("consume {event_type}"),
            otel.kind = "consumer",
            bus = self.bus,
            event_id = %event_id,
            event_type = %event_type,
        );
        storefront_common::telemetry::continue_trace(&span, traceparent.as_deref());
        let result = self.handle_in_span(event).instrument(span.clone()).await;
        let outcome = match &result {
            Ok(Handled::Created) => "created",
            Ok(Handled::Duplicate) => "duplicate",
            Ok(Handled::Ignored) => "ignored",
            Err(e) => {
                span.in_scope(|| tracing::warn!(error = %e, "order event failed"));
                "failed"
            }
        };
        self.metrics.count(self.bus, outcome);
        result
    }

    async fn handle_in_span(
        &self,
        event: Result<EventEnvelope, EnvelopeError>,
    ) -> Result<Handled, Failed> {
        let Some(notification) = message::interpret(&event?)? else {
            return Ok(Handled::Ignored);
        };
        let mut backoff = Duration::from_millis(100);
        let handled = loop {
            match store::insert(&self.pool, &notification).await {
                Ok(Stored::Created) => {
                    tracing::info!(user_id = %notification.user_id, "notification stored");
                    break Handled::Created;
                }
                Ok(Stored::Duplicate) => break Handled::Duplicate,
                Err(e) if refused_for_content(&e) => return Err(Failed::Refused(e)),
                Err(e) => {
                    tracing::warn!(error = %e, "storing a notification failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        };
        if let Some(mailer) = &self.mailer {
            let mut backoff = Duration::from_millis(100);
            loop {
                match mailer
                    .deliver(&self.pool, &notification, handled == Handled::Created)
                    .await
                {
                    Ok(Emailed::Sent) => self.metrics.email("sent"),
                    Ok(Emailed::Refused) => self.metrics.email("refused"),
                    Ok(Emailed::Already) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "e-mailing a notification failed; retrying");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                        continue;
                    }
                }
                break;
            }
        }
        Ok(handled)
    }
}
