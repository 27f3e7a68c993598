//! The outbox relay publishing to a real `rabbitmq-server` (skipped, saying so, when it is not
//! installed), and the broker killed (SIGKILL) in the middle of the flow: the relay keeps
//! retrying, and once the broker is back every event is in the queue at least once and every
//! outbox row is marked published. Its own test binary, because it kills the process's broker.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use storefront_common::amqp::lapin::options::{BasicAckOptions, BasicGetOptions};
use storefront_common::amqp::{ORDER_EVENTS_QUEUE, declare_order_events};
use storefront_orders::outbox::{self, Publisher, RabbitPublisher};
use storefront_testkit::{shared_postgres, shared_rabbitmq};

const EVENTS: i64 = 2000;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

async fn count(pool: &sqlx::PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

async fn published(pool: &sqlx::PgPool) -> i64 {
    count(
        pool,
        "SELECT count(*) FROM order_events WHERE published_at IS NOT NULL",
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_killed_mid_flow_loses_no_event() {
    let Some(broker) = shared_rabbitmq() else {
        return;
    };
    let url = broker.fresh_url().unwrap();
    let database_url = shared_postgres().create_database("orders").await;
    let pool = sqlx::PgPool::connect(&database_url).await.unwrap();
    MIGRATOR.run(&pool).await.unwrap();
    sqlx::query(
        "INSERT INTO order_events (order_id, event_type, payload)
         SELECT gen_random_uuid(), 'order.paid', jsonb_build_object('n', n)
         FROM generate_series(1, $1) AS n",
    )
    .bind(EVENTS)
    .execute(&pool)
    .await
    .unwrap();

    let publisher = Publisher::RabbitMq(Arc::new(RabbitPublisher::new(&url)));
    let relay = tokio::spawn(outbox::run(
        pool.clone(),
        publisher,
        Duration::from_millis(20),
    ));

    let started = tokio::time::Instant::now();
    while published(&pool).await < 300 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the relay never got going"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    broker.kill();
    let at_kill = published(&pool).await;
    assert!(
        at_kill < EVENTS,
        "killed too late to be mid-flow ({at_kill} published)"
    );
    // The relay fails against the dead broker and keeps its rows.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let while_down = published(&pool).await;
    assert!(
        while_down < EVENTS,
        "every event counted published while the broker was down"
    );
    broker.restart().unwrap();

    let started = tokio::time::Instant::now();
    while published(&pool).await < EVENTS {
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "after the restart only {} of {EVENTS} events were published",
            published(&pool).await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    relay.abort();

    // Every outbox row is in the queue, at least once (a batch confirmed just before the kill
    // but not yet marked is published again: at least once, never lost).
    let connection = storefront_common::amqp::connect("test", &url, Duration::from_secs(10))
        .await
        .unwrap();
    let channel = connection.create_channel().await.unwrap();
    declare_order_events(&channel).await.unwrap();
    let ids: HashSet<String> = sqlx::query_scalar::<_, i64>("SELECT id FROM order_events")
        .fetch_all(&pool)
        .await
        .unwrap()
        .into_iter()
        .map(|id| id.to_string())
        .collect();
    let mut seen = HashSet::new();
    let mut deliveries = 0;
    while let Some(message) = channel
        .basic_get(ORDER_EVENTS_QUEUE, BasicGetOptions::default())
        .await
        .unwrap()
    {
        let id = message
            .delivery
            .properties
            .message_id()
            .as_ref()
            .map(|id| id.to_string())
            .expect("every message carries its event id");
        seen.insert(id);
        deliveries += 1;
        message.ack(BasicAckOptions::default()).await.unwrap();
    }
    assert_eq!(seen.len(), ids.len(), "{deliveries} deliveries");
    assert_eq!(seen, ids);
}
