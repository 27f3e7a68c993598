//! Crash tests against the real binary, on each bus: a consumer killed (SIGKILL) in the middle
//! of a batch, then restarted, ends with every event stored exactly once and nothing left
//! pending. The RabbitMQ one needs `rabbitmq-server` and is skipped, saying so, without it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

mod support;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use storefront_common::amqp::ORDER_EVENTS_QUEUE;
use storefront_common::amqp::lapin::options::{BasicPublishOptions, QueueDeclareOptions};
use storefront_common::amqp::lapin::types::FieldTable;
use storefront_common::amqp::lapin::{BasicProperties, Channel};
use storefront_common::events::{ORDER_EVENTS_EXCHANGE, ORDER_EVENTS_STREAM};
use storefront_common::ids::UserId;
use storefront_testkit::app::TEST_JWT_SECRET;
use storefront_testkit::{
    free_port, shared_postgres, shared_rabbitmq, shared_redis, spawn_tied_process,
    stop_tied_process,
};
use support::*;

const EVENTS: usize = 3000;

fn spawn_consumer(env: &[(&str, String)]) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_storefront-notifications"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("STOREFRONT_JWT_SECRET", TEST_JWT_SECRET)
        .env("STOREFRONT_HTTP_ADDR", format!("127.0.0.1:{}", free_port()))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    spawn_tied_process(cmd, libc::SIGKILL).unwrap()
}

async fn pending(redis_url: &str) -> i64 {
    let mut conn = redis(redis_url).await;
    let summary: (i64, redis::Value, redis::Value, redis::Value) = redis::cmd("XPENDING")
        .arg(ORDER_EVENTS_STREAM)
        .arg("notifications")
        .query_async(&mut conn)
        .await
        .unwrap();
    summary.0
}

#[tokio::test]
async fn a_consumer_killed_mid_batch_makes_no_duplicate_and_loses_nothing() {
    let database_url = shared_postgres().create_database("notifications").await;
    let redis_url = shared_redis().fresh_url();
    let user = UserId::new();
    let events: Vec<_> = (0..EVENTS)
        .map(|i| order_event(&format!("crash-{i}"), "order.paid", user))
        .collect();
    publish(&redis_url, &events).await;
    let env = [
        ("DATABASE_URL", database_url.clone()),
        ("REDIS_URL", redis_url.clone()),
        ("NOTIFICATIONS_CONSUMER", "crash-test".to_string()),
        ("NOTIFICATIONS_RETRY_AFTER", "300ms".to_string()),
        ("NOTIFICATIONS_BATCH", "200".to_string()),
    ];

    let mut first = spawn_consumer(&env);
    let stored = || count(&database_url, "SELECT count(*) FROM notifications");
    let started = tokio::time::Instant::now();
    // The table appears when the first consumer has migrated; kill it once it is well into
    // the events but not through them.
    loop {
        let n = stored_once_migrated(&database_url).await;
        if n >= 500 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the consumer never got going"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stop_tied_process(&mut first, libc::SIGKILL);
    let at_kill = stored().await;
    let unacked = pending(&redis_url).await;
    assert!(
        at_kill < EVENTS as i64,
        "killed too late to be mid-flow ({at_kill} stored)"
    );
    assert!(unacked > 0, "killed between batches; nothing was in flight");

    let mut second = spawn_consumer(&env);
    let done = eventually(Duration::from_secs(60), || async {
        stored().await == EVENTS as i64 && pending(&redis_url).await == 0
    })
    .await;
    stop_tied_process(&mut second, libc::SIGKILL);
    assert!(
        done,
        "stored {} of {EVENTS}, {} pending",
        stored().await,
        pending(&redis_url).await
    );
    assert_eq!(
        count(
            &database_url,
            "SELECT count(DISTINCT event_id) FROM notifications"
        )
        .await,
        EVENTS as i64
    );
}

/// The notifications row count, or 0 while the first consumer has not created the table yet.
async fn stored_once_migrated(database_url: &str) -> i64 {
    let pool = sqlx::PgPool::connect(database_url).await.unwrap();
    let n = sqlx::query_scalar::<_, i64>("SELECT count(*) FROM notifications")
        .fetch_one(&pool)
        .await
        .unwrap_or(0);
    pool.close().await;
    n
}

/// Messages ready in the consumer's queue (unacknowledged ones are not counted).
async fn ready(channel: &Channel) -> u32 {
    channel
        .queue_declare(
            ORDER_EVENTS_QUEUE,
            QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap()
        .message_count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rabbitmq_consumer_killed_mid_batch_makes_no_duplicate_and_loses_nothing() {
    let Some(broker) = shared_rabbitmq() else {
        return;
    };
    let url = broker.fresh_url().unwrap();
    let database_url = shared_postgres().create_database("notifications").await;
    let (_connection, channel) = rabbit_channel(&url).await;
    let user = UserId::new();
    let mut confirms = Vec::with_capacity(EVENTS);
    for i in 0..EVENTS {
        let event = order_event(&format!("rabbit-crash-{i}"), "order.paid", user);
        let confirm = channel
            .basic_publish(
                ORDER_EVENTS_EXCHANGE,
                "order.paid",
                BasicPublishOptions::default(),
                &serde_json::to_vec(&event).unwrap(),
                BasicProperties::default().with_delivery_mode(2),
            )
            .await
            .unwrap();
        confirms.push(confirm);
    }
    for confirm in confirms {
        assert!(confirm.await.unwrap().is_ack());
    }
    let env = [
        ("DATABASE_URL", database_url.clone()),
        ("REDIS_URL", shared_redis().fresh_url()),
        ("STOREFRONT_EVENT_BUS", "rabbitmq".to_string()),
        ("RABBITMQ_URL", url.clone()),
        ("NOTIFICATIONS_CONSUMER", "crash-test".to_string()),
        ("NOTIFICATIONS_BATCH", "200".to_string()),
    ];

    let mut first = spawn_consumer(&env);
    let stored = || count(&database_url, "SELECT count(*) FROM notifications");
    let started = tokio::time::Instant::now();
    while stored_once_migrated(&database_url).await < 500 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the consumer never got going"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stop_tied_process(&mut first, libc::SIGKILL);
    let at_kill = stored().await;
    assert!(
        at_kill < EVENTS as i64,
        "killed too late to be mid-flow ({at_kill} stored)"
    );

    let mut second = spawn_consumer(&env);
    let done = eventually(Duration::from_secs(60), || async {
        stored().await == EVENTS as i64
    })
    .await;
    // Killing the second consumer too hands any delivery it had not acked back to the queue,
    // where it would show as ready.
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop_tied_process(&mut second, libc::SIGKILL);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(done, "stored {} of {EVENTS}", stored().await);
    assert_eq!(ready(&channel).await, 0, "deliveries were left unacked");
    assert_eq!(
        count(
            &database_url,
            "SELECT count(DISTINCT event_id) FROM notifications"
        )
        .await,
        EVENTS as i64
    );
    assert_eq!(stored().await, EVENTS as i64);
}
