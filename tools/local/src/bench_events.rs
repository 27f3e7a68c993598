//! `storefront-local bench-events`: how many order events per second the real notifications
//! consumer turns into stored notifications, on each bus, beside a peer measured in the same run
//! on the same PostgreSQL: the consumer's own insert made back to back from one connection with no
//! bus at all. The consumer handles one event at a time, so that is roughly its limit; the ratio
//! says what the bus costs (run-to-run noise on these machines is about ±20%).
//!
//! Each bus gets a fresh database and `events` events published before the consumer starts
//! (the Redis stream, or RabbitMQ with publisher confirms); the rate counts from the first
//! stored notification to the last, so start-up and migrations are left out. The insert alone runs
//! last, on the same server as warm as the consumers found it.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;
use storefront_common::amqp::lapin::BasicProperties;
use storefront_common::amqp::lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use storefront_common::events::{
    EventBus, EventEnvelope, ORDER_EVENTS_EXCHANGE, ORDER_EVENTS_STREAM,
};
use storefront_common::ids::{OrderId, UserId};
use storefront_testkit::{
    PostgresServer, RabbitServer, RedisServer, free_port, spawn_tied_process, stop_tied_process,
};

use crate::procfs;

pub struct EventsOptions {
    pub bins: PathBuf,
    pub events: usize,
    pub buses: Vec<EventBus>,
    pub json: Option<PathBuf>,
}

#[derive(Debug, Serialize)]
pub struct BusRun {
    pub bus: &'static str,
    pub events: usize,
    pub events_per_sec: f64,
    /// The consumer's peak resident memory (VmHWM), MiB.
    pub peak_rss_mib: f64,
    /// This bus's rate over the insert alone.
    pub of_insert_alone: f64,
}

#[derive(Debug, Serialize)]
pub struct EventsReport {
    pub insert_alone_per_sec: f64,
    pub buses: Vec<BusRun>,
}

fn step(what: &str) {
    eprintln!("bench-events: {what}");
}

fn event(i: usize, user: UserId) -> EventEnvelope {
    let order = OrderId::new();
    EventEnvelope {
        event_id: format!("bench-{i}"),
        event_type: "order.paid".into(),
        order_id: order.to_string(),
        traceparent: None,
        payload: serde_json::json!({
            "id": order,
            "userId": user,
            "status": "paid",
            "items": [],
            "total": {"amount": 1999, "currency": "USD"},
        }),
    }
}

async fn publish_redis(url: &str, events: &[EventEnvelope]) -> Result<(), String> {
    let client = redis::Client::open(url).map_err(|e| e.to_string())?;
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .map_err(|e| e.to_string())?;
    for chunk in events.chunks(1000) {
        let mut pipe = redis::pipe();
        for e in chunk {
            let cmd = pipe.cmd("XADD").arg(ORDER_EVENTS_STREAM).arg("*");
            for (k, v) in e.fields() {
                cmd.arg(k).arg(v);
            }
            cmd.ignore();
        }
        let () = pipe
            .query_async(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

async fn publish_rabbitmq(url: &str, events: &[EventEnvelope]) -> Result<(), String> {
    let connection = storefront_common::amqp::connect("bench", url, Duration::from_secs(10))
        .await
        .map_err(|e| e.to_string())?;
    let channel = connection
        .create_channel()
        .await
        .map_err(|e| e.to_string())?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .map_err(|e| e.to_string())?;
    storefront_common::amqp::declare_order_events(&channel)
        .await
        .map_err(|e| e.to_string())?;
    for chunk in events.chunks(1000) {
        let mut confirms = Vec::with_capacity(chunk.len());
        for e in chunk {
            let body = serde_json::to_vec(e).map_err(|e| e.to_string())?;
            confirms.push(
                channel
                    .basic_publish(
                        ORDER_EVENTS_EXCHANGE,
                        &e.event_type,
                        BasicPublishOptions::default(),
                        &body,
                        BasicProperties::default().with_delivery_mode(2),
                    )
                    .await
                    .map_err(|e| e.to_string())?,
            );
        }
        for confirm in confirms {
            let confirmation = confirm.await.map_err(|e| e.to_string())?;
            if !confirmation.is_ack() {
                return Err("the broker refused an event".into());
            }
        }
    }
    let _ = connection.close(200, "done").await;
    Ok(())
}

async fn stored(pool: &sqlx::PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM notifications")
        .fetch_one(pool)
        .await
        .unwrap_or(0)
}

/// Runs the consumer binary against pre-published events; events/s from first to last stored.
async fn run_bus(
    options: &EventsOptions,
    bus: EventBus,
    postgres: &PostgresServer,
    redis_url: &str,
    rabbitmq_url: Option<&str>,
) -> Result<(f64, f64), String> {
    let user = UserId::new();
    let events: Vec<EventEnvelope> = (0..options.events).map(|i| event(i, user)).collect();
    step(&format!("publishing {} events to {bus}", events.len()));
    match (bus, rabbitmq_url) {
        (EventBus::Redis, _) => publish_redis(redis_url, &events).await?,
        (EventBus::RabbitMq, Some(url)) => publish_rabbitmq(url, &events).await?,
        (EventBus::RabbitMq, None) => return Err("no broker for the RabbitMQ run".into()),
    }
    let database_url = postgres.create_database("notifications").await;
    let binary = options.bins.join("storefront-notifications");
    if !binary.is_file() {
        return Err(format!(
            "{} is missing: build it first (cargo build --release --bins)",
            binary.display()
        ));
    }
    let mut command = Command::new(&binary);
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("STOREFRONT_HTTP_ADDR", format!("127.0.0.1:{}", free_port()))
        .env(
            "STOREFRONT_JWT_SECRET",
            format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4()),
        )
        .env("DATABASE_URL", &database_url)
        .env("REDIS_URL", redis_url)
        .env("STOREFRONT_EVENT_BUS", bus.as_str())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    if let Some(url) = rabbitmq_url {
        command.env("RABBITMQ_URL", url);
    }
    let mut child = spawn_tied_process(command, libc::SIGTERM).map_err(|e| e.to_string())?;
    let pool = sqlx::PgPool::connect(&database_url)
        .await
        .map_err(|e| e.to_string())?;
    let total = options.events as i64;
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut first: Option<(Instant, i64)> = None;
    let mut last_print = Instant::now();
    let result = loop {
        if Instant::now() > deadline {
            break Err(format!(
                "the consumer stored {} of {total} in 10 minutes",
                stored(&pool).await
            ));
        }
        if let Ok(Some(status)) = child.try_wait() {
            break Err(format!("the consumer exited: {status}"));
        }
        let n = stored(&pool).await;
        let now = Instant::now();
        if n > 0 && first.is_none() {
            first = Some((now, n));
        }
        if n >= total {
            let (t0, n0) = first.unwrap_or((now, 0));
            let secs = now.duration_since(t0).as_secs_f64().max(1e-3);
            break Ok((total - n0) as f64 / secs);
        }
        if last_print.elapsed() > Duration::from_secs(2) {
            step(&format!("{bus}: {n}/{total} stored"));
            last_print = now;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let peak = procfs::memory(child.id())
        .map(|m| m.peak_kib as f64 / 1024.0)
        .unwrap_or(0.0);
    stop_tied_process(&mut child, libc::SIGTERM);
    pool.close().await;
    result.map(|rate| (rate, peak))
}

/// The consumer's own insert, back to back from one connection: roughly what one-at-a-time
/// handling can reach.
async fn insert_alone(postgres: &PostgresServer, n: usize) -> Result<f64, String> {
    let database_url = postgres.create_database("notifications_ceiling").await;
    // As the service's own pool is set up: no ping before each use.
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .test_before_acquire(false)
        .connect(&database_url)
        .await
        .map_err(|e| e.to_string())?;
    storefront_notifications::MIGRATOR
        .run(&pool)
        .await
        .map_err(|e| e.to_string())?;
    let user = UserId::new();
    let notes: Vec<_> = (0..n)
        .filter_map(|i| {
            storefront_notifications::message::interpret(&event(i, user))
                .ok()
                .flatten()
        })
        .collect();
    let started = Instant::now();
    for note in &notes {
        storefront_notifications::store::insert(&pool, note)
            .await
            .map_err(|e| e.to_string())?;
    }
    let rate = notes.len() as f64 / started.elapsed().as_secs_f64().max(1e-3);
    pool.close().await;
    Ok(rate)
}

pub async fn run(options: EventsOptions) -> Result<EventsReport, String> {
    step("starting PostgreSQL and Redis");
    let with_rabbit = options.buses.contains(&EventBus::RabbitMq);
    let (postgres, redis, rabbitmq) = tokio::task::spawn_blocking(move || {
        let rabbitmq = if with_rabbit {
            Some(RabbitServer::start().map_err(|e| e.to_string())?)
        } else {
            None
        };
        Ok::<_, String>((
            PostgresServer::start().map_err(|e| e.to_string())?,
            RedisServer::start().map_err(|e| e.to_string())?,
            rabbitmq,
        ))
    })
    .await
    .map_err(|e| e.to_string())??;

    let mut runs = Vec::new();
    for bus in &options.buses {
        let rabbit_url = match (bus, &rabbitmq) {
            (EventBus::RabbitMq, Some(r)) => Some(r.fresh_url().map_err(|e| e.to_string())?),
            _ => None,
        };
        let (rate, peak) = run_bus(
            &options,
            *bus,
            &postgres,
            &redis.fresh_url(),
            rabbit_url.as_deref(),
        )
        .await?;
        runs.push((*bus, rate, peak));
    }
    // Last, so that it meets PostgreSQL as warm as the consumers did (a fresh cluster first
    // creates its WAL segments).
    step(&format!(
        "the insert alone: {} inserts from one connection",
        options.events
    ));
    let alone = insert_alone(&postgres, options.events).await?;
    let buses = runs
        .into_iter()
        .map(|(bus, rate, peak)| BusRun {
            bus: bus.as_str(),
            events: options.events,
            events_per_sec: rate,
            peak_rss_mib: peak,
            of_insert_alone: rate / alone,
        })
        .collect();
    if let Some(r) = &rabbitmq {
        r.stop();
    }
    redis.stop();
    postgres.stop();
    let report = EventsReport {
        insert_alone_per_sec: alone,
        buses,
    };
    print(&report);
    if let Some(path) = &options.json {
        let text = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
        std::fs::write(path, text).map_err(|e| format!("writing {}: {e}", path.display()))?;
    }
    Ok(report)
}

fn print(report: &EventsReport) {
    println!();
    println!(
        "{:<28} {:>12} {:>15} {:>14}",
        "", "events/s", "÷ insert alone", "peak RSS MiB"
    );
    println!(
        "{:<28} {:>12.0} {:>15} {:>14}",
        "the insert alone (no bus)", report.insert_alone_per_sec, "1.00", "-"
    );
    for b in &report.buses {
        println!(
            "{:<28} {:>12.0} {:>15.2} {:>14.1}",
            format!("consumer on {}", b.bus),
            b.events_per_sec,
            b.of_insert_alone,
            b.peak_rss_mib
        );
    }
}
