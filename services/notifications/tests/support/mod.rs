//! The notifications tests' vocabulary: the app (started by the testkit harness) on a fresh
//! Redis database, order events published the way the orders outbox publishes them, and what is
//! stored and counted.

#![allow(dead_code, unused_imports)] // each test file uses a different part of this

use std::time::Duration;

use serde_json::{Value, json};
use storefront_common::amqp::lapin::options::ConfirmSelectOptions;
use storefront_common::amqp::lapin::{Channel, Connection};
use storefront_common::auth::Role;
use storefront_common::events::{EventEnvelope, ORDER_EVENTS_STREAM};
use storefront_common::ids::{OrderId, UserId};
use storefront_notifications::{Config, build};
pub use storefront_testkit::app::{Caller, Reply, TestApp, caller, eventually, service_token};
use storefront_testkit::shared_redis;

/// A channel in confirm mode on `url` with the order-events topology declared; keep the
/// connection as long as the channel.
pub async fn rabbit_channel(url: &str) -> (Connection, Channel) {
    let connection = storefront_common::amqp::connect("test", url, Duration::from_secs(10))
        .await
        .unwrap();
    let channel = connection.create_channel().await.unwrap();
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    storefront_common::amqp::declare_order_events(&channel)
        .await
        .unwrap();
    (connection, channel)
}

pub struct App {
    pub app: TestApp,
    pub alice: Caller,
    pub bob: Caller,
}

impl std::ops::Deref for App {
    type Target = TestApp;
    fn deref(&self) -> &TestApp {
        &self.app
    }
}

pub async fn start(extra: &[(&str, &str)]) -> App {
    let app = TestApp::builder("notifications")
        .postgres()
        .redis()
        .env("NOTIFICATIONS_RETRY_AFTER", "100ms")
        .envs(extra)
        .start(|env| async move { Ok(build(Config::from_source(&env)?).await?) })
        .await;
    App {
        app,
        alice: caller(Role::Customer),
        bob: caller(Role::Customer),
    }
}

/// An order event as the outbox writes it: the order after the change is the payload.
pub fn order_event(event_id: &str, event_type: &str, user: UserId) -> EventEnvelope {
    let order = OrderId::new();
    EventEnvelope {
        event_id: event_id.to_string(),
        event_type: event_type.to_string(),
        order_id: order.to_string(),
        traceparent: Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into()),
        payload: json!({
            "id": order,
            "userId": user,
            "status": event_type.trim_start_matches("order."),
            "items": [],
            "total": {"amount": 1999, "currency": "USD"},
        }),
    }
}

pub async fn redis(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// Appends stream entries with these fields, as `XADD` does.
pub async fn publish_fields(url: &str, entries: &[Vec<(&str, String)>]) {
    let mut conn = redis(url).await;
    let mut pipe = redis::pipe();
    for fields in entries {
        let cmd = pipe.cmd("XADD").arg(ORDER_EVENTS_STREAM).arg("*");
        for (k, v) in fields {
            cmd.arg(*k).arg(v);
        }
        cmd.ignore();
    }
    let _: () = pipe.query_async(&mut conn).await.unwrap();
}

pub async fn publish(url: &str, events: &[EventEnvelope]) {
    let entries: Vec<_> = events.iter().map(EventEnvelope::fields).collect();
    publish_fields(url, &entries).await;
}

impl App {
    pub async fn publish(&self, events: &[EventEnvelope]) {
        publish(self.redis_url(), events).await;
    }

    pub async fn list(&self, who: &Caller) -> Value {
        let reply = self.get("/api/notifications", Some(&who.token)).await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        reply.body
    }

    /// Waits until `who` has `n` notifications and returns the list.
    pub async fn wait_for(&self, who: &Caller, n: usize) -> Value {
        let started = tokio::time::Instant::now();
        loop {
            let list = self.list(who).await;
            if list["items"].as_array().map_or(0, Vec::len) >= n {
                return list;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "expected {n} notifications, have {list}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The value of metric `name` whose labels include `labels`, 0 when there is none.
    pub async fn metric(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let text = self
            .http
            .get(self.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        storefront_testkit::metric_sample(&text, name, labels).unwrap_or(0.0)
    }

    pub async fn rows(&self, sql: &str) -> i64 {
        count(self.database_url(), sql).await
    }
}

pub async fn count(database_url: &str, sql: &str) -> i64 {
    let pool = sqlx::PgPool::connect(database_url).await.unwrap();
    let n: i64 = sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap();
    pool.close().await;
    n
}
