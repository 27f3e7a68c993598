//! The business side of `/metrics`: how checkouts end (the funnel a dashboard shows), the saga's
//! compensations, and two backlogs an on-call person is paged for: orders left `pending` and
//! order events the outbox has not published yet. The backlogs are read from PostgreSQL by
//! [`watch`] every few seconds, so every replica reports the same shared figure.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use sqlx::PgPool;

use crate::model::FailureReason;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActionLabels {
    action: &'static str,
}

/// How a checkout request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    Paid,
    Failed(FailureReason),
    /// A retry with the same Idempotency-Key, answered from the stored order.
    Replayed,
    /// Refused or unavailable before an order was settled (an error answer).
    Error,
}

impl Ending {
    fn label(self) -> &'static str {
        match self {
            Ending::Paid => "paid",
            Ending::Failed(reason) => reason.as_str(),
            Ending::Replayed => "replayed",
            Ending::Error => "error",
        }
    }
}

/// How recovery resolved an order left pending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovered {
    /// Charged: stock committed, order paid.
    Paid,
    /// Charged, but the reservation had lapsed: refunded and failed.
    Refunded,
    /// Not charged: stock released, order failed.
    Failed,
}

impl Recovered {
    const ALL: [Recovered; 3] = [Recovered::Paid, Recovered::Refunded, Recovered::Failed];

    fn label(self) -> &'static str {
        match self {
            Recovered::Paid => "paid",
            Recovered::Refunded => "refunded",
            Recovered::Failed => "failed",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResolutionLabels {
    resolution: &'static str,
}

/// A step the saga took back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compensation {
    ReleaseStock,
    Refund,
}

type SecondsGauge = Gauge<f64, AtomicU64>;

#[derive(Clone, Default)]
pub struct OrderMetrics {
    checkouts: Family<OutcomeLabels, Counter>,
    compensations: Family<ActionLabels, Counter>,
    recoveries: Family<ResolutionLabels, Counter>,
    pending: Gauge,
    pending_oldest: SecondsGauge,
    unpublished: Gauge,
    unpublished_oldest: SecondsGauge,
}

impl OrderMetrics {
    pub fn new() -> Arc<Self> {
        let metrics = Self::default();
        // Every series exists from the start, so a dashboard shows 0 instead of no data.
        for outcome in [
            Ending::Paid,
            Ending::Failed(FailureReason::CardDeclined),
            Ending::Failed(FailureReason::InsufficientFunds),
            Ending::Failed(FailureReason::OutOfStock),
            Ending::Failed(FailureReason::ReservationExpired),
            Ending::Replayed,
            Ending::Error,
        ] {
            let _ = metrics.checkouts.get_or_create(&OutcomeLabels {
                outcome: outcome.label(),
            });
        }
        for action in [Compensation::ReleaseStock, Compensation::Refund] {
            let _ = metrics.compensations.get_or_create(&action_labels(action));
        }
        for resolution in Recovered::ALL {
            let _ = metrics.recoveries.get_or_create(&ResolutionLabels {
                resolution: resolution.label(),
            });
        }
        Arc::new(metrics)
    }

    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "orders_checkouts",
            "Checkout requests by how they ended: paid, a failure reason, replayed or error",
            self.checkouts.clone(),
        );
        registry.register(
            "orders_compensations",
            "Saga steps taken back, by action (release_stock, refund), once the backend confirmed",
            self.compensations.clone(),
        );
        registry.register(
            "orders_recoveries",
            "Pending orders the recovery worker of this replica resolved, by resolution (paid, \
             refunded, failed); workers claim across replicas, so the order may be another's",
            self.recoveries.clone(),
        );
        registry.register(
            "orders_pending",
            "Orders in status pending now (all replicas; read from PostgreSQL)",
            self.pending.clone(),
        );
        registry.register(
            "orders_pending_oldest_age_seconds",
            "Age of the oldest pending order in seconds, 0 when there is none",
            self.pending_oldest.clone(),
        );
        registry.register(
            "orders_outbox_unpublished_events",
            "Order events written but not yet accepted by the event bus",
            self.unpublished.clone(),
        );
        registry.register(
            "orders_outbox_oldest_age_seconds",
            "Age of the oldest unpublished order event in seconds, 0 when there is none",
            self.unpublished_oldest.clone(),
        );
    }

    pub fn checkout(&self, outcome: Ending) {
        self.checkouts
            .get_or_create(&OutcomeLabels {
                outcome: outcome.label(),
            })
            .inc();
    }

    pub fn recovered(&self, resolution: Recovered) {
        self.recoveries
            .get_or_create(&ResolutionLabels {
                resolution: resolution.label(),
            })
            .inc();
    }

    pub fn compensated(&self, action: Compensation) {
        self.compensations
            .get_or_create(&action_labels(action))
            .inc();
    }
}

fn action_labels(action: Compensation) -> ActionLabels {
    ActionLabels {
        action: match action {
            Compensation::ReleaseStock => "release_stock",
            Compensation::Refund => "refund",
        },
    }
}

/// Count and age of the oldest row of each backlog, from one query.
async fn backlogs(pool: &PgPool) -> Result<(i64, f64, i64, f64), sqlx::Error> {
    sqlx::query_as(
        "SELECT \
           (SELECT count(*) FROM orders WHERE status = 'pending'), \
           (SELECT COALESCE(EXTRACT(EPOCH FROM now() - min(created_at)), 0)::float8 \
              FROM orders WHERE status = 'pending'), \
           (SELECT count(*) FROM order_events WHERE published_at IS NULL), \
           (SELECT COALESCE(EXTRACT(EPOCH FROM now() - min(created_at)), 0)::float8 \
              FROM order_events WHERE published_at IS NULL)",
    )
    .fetch_one(pool)
    .await
}

/// Refreshes the backlog gauges every `every`; a failed read keeps the last figures and is
/// logged (readiness reports the database itself).
pub async fn watch(pool: PgPool, metrics: Arc<OrderMetrics>, every: Duration) {
    loop {
        match backlogs(&pool).await {
            Ok((pending, pending_age, unpublished, unpublished_age)) => {
                metrics.pending.set(pending);
                metrics.pending_oldest.set(pending_age);
                metrics.unpublished.set(unpublished);
                metrics.unpublished_oldest.set(unpublished_age);
            }
            Err(e) => tracing::warn!(error = %e, "reading the order backlogs for /metrics failed"),
        }
        tokio::time::sleep(every).await;
    }
}
