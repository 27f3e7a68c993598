//! `storefront-local bench-checkout`: checkout throughput and latency across the real commerce
//! services (users, catalog, cart, inventory, payments, orders as separate processes on real
//! PostgreSQL and Redis), and the memory each service holds under that load.
//!
//! Closed loop: `concurrency` workers each place an order (1 to 3 demo products, a fresh
//! Idempotency-Key, the succeeding test card) directly at the orders service, wait for the
//! answer, and go again. Stock is set high first so every checkout can succeed: anything but
//! 201 counts as an error.
//!
//! Then the same PostgreSQL runs pgbench at the same concurrency, and [`ceiling`] turns that and
//! the transactions one checkout was seen to make into the checkouts/s the database allows.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;
use serde_json::json;
use storefront_common::demo::PRODUCTS;
use tokio::sync::Mutex;

use crate::ceiling::{self, Pgbench};
use crate::platform::{self, Scope, StartOptions};
use crate::procfs;

pub struct BenchOptions {
    pub bins: PathBuf,
    pub duration: Duration,
    pub concurrency: usize,
    pub customers: usize,
    pub json: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error(transparent)]
    Platform(#[from] platform::PlatformError),
    #[error("setting up the benchmark failed: {0}")]
    Setup(String),
    #[error("writing {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

#[derive(Serialize)]
struct ServiceMemory {
    service: &'static str,
    peak_rss_under_load_mib: f64,
    peak_rss_since_start_mib: f64,
}

#[derive(Serialize)]
struct Summary {
    duration_secs: f64,
    concurrency: usize,
    customers: usize,
    checkouts: u64,
    errors: u64,
    checkouts_per_sec: f64,
    latency_ms: Percentiles,
    memory: Vec<ServiceMemory>,
    cost: CheckoutCost,
    pgbench: Pgbench,
    /// pgbench tps ÷ PostgreSQL transactions per checkout.
    ceiling_checkouts_per_sec: f64,
    /// checkouts/s ÷ the ceiling.
    ratio_to_ceiling: f64,
}

/// What one checkout costs, from the servers' own counters over the measured window, less
/// what the same services do in an idle window of the same length.
#[derive(Serialize)]
struct CheckoutCost {
    postgres_transactions: f64,
    /// HTTP requests the services served, the checkout itself included.
    http_requests: f64,
    idle_transactions_per_sec: f64,
    idle_http_requests_per_sec: f64,
}

/// Transactions and served requests so far, over all the platform's services.
async fn counters(
    platform: &platform::Platform,
    http: &reqwest::Client,
) -> Result<(u64, u64), String> {
    let xacts = ceiling::transactions(&platform.postgres.admin_url(), &platform::DATABASES).await?;
    let mut served = 0;
    for s in &platform.services {
        served += ceiling::served(http, &s.url).await?;
    }
    Ok((xacts, served))
}

/// The statistics collector reports a backend's counts at most once a second while it idles.
const STATS_SETTLE: Duration = Duration::from_millis(1200);

#[derive(Serialize)]
struct Percentiles {
    p50: f64,
    p90: f64,
    p99: f64,
    max: f64,
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

async fn post(
    http: &reqwest::Client,
    url: String,
    token: Option<&str>,
    body: serde_json::Value,
) -> Result<serde_json::Value, String> {
    let mut req = http.post(&url).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.map_err(|e| format!("{url}: {e}"))?;
    let status = resp.status();
    let body: serde_json::Value = resp.json().await.unwrap_or_default();
    if status.is_success() {
        Ok(body)
    } else {
        Err(format!("{url}: {status} {body}"))
    }
}

async fn login(
    http: &reqwest::Client,
    users: &str,
    email: &str,
    password: &str,
) -> Result<String, String> {
    let body = post(
        http,
        format!("{users}/api/users/login"),
        None,
        json!({"email": email, "password": password}),
    )
    .await?;
    body["token"]
        .as_str()
        .map(String::from)
        .ok_or_else(|| "login answered without a token".into())
}

pub async fn run(options: BenchOptions) -> Result<(), BenchError> {
    eprintln!(
        "starting the commerce services (binaries from {})...",
        options.bins.display()
    );
    let mut platform = platform::start(StartOptions {
        bins: options.bins.clone(),
        scope: Scope::Commerce,
        admin_email: "admin@bench.local".into(),
        admin_password: "bench-admin-password".into(),
        log_dir: None,
        rust_log: "info".into(),
        extra_env: vec![],
        bus: Default::default(),
        replicas: Default::default(),
    })
    .await?;
    let outcome = measure(&platform, &options).await;
    platform.stop().await;
    let summary = outcome?;
    print(&summary);
    if let Some(path) = &options.json {
        let text = serde_json::to_string_pretty(&summary).unwrap_or_default();
        std::fs::write(path, text).map_err(|source| BenchError::Write {
            path: path.display().to_string(),
            source,
        })?;
    }
    Ok(())
}

async fn measure(
    platform: &platform::Platform,
    options: &BenchOptions,
) -> Result<Summary, BenchError> {
    let setup = |e: String| BenchError::Setup(e);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(options.concurrency * 2)
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| setup(e.to_string()))?;
    let url = |name: &str| platform.url(name).unwrap_or_default().to_string();
    let (users, inventory, orders) = (url("users"), url("inventory"), url("orders"));

    let admin = login(&http, &users, &platform.admin.0, &platform.admin.1)
        .await
        .map_err(setup)?;
    for p in PRODUCTS {
        let resp = http
            .put(format!("{inventory}/api/inventory/{}", p.id()))
            .bearer_auth(&admin)
            .json(&json!({"available": 1_000_000}))
            .send()
            .await
            .map_err(|e| setup(e.to_string()))?;
        if !resp.status().is_success() {
            return Err(setup(format!("setting stock answered {}", resp.status())));
        }
    }
    eprintln!("registering {} customers...", options.customers);
    let mut tokens = Vec::with_capacity(options.customers);
    for i in 0..options.customers {
        let email = format!("bench-{i}@bench.local");
        post(
            &http,
            format!("{users}/api/users/register"),
            None,
            json!({"email": email, "password": "bench-password", "name": format!("Bench {i}")}),
        )
        .await
        .map_err(setup)?;
        tokens.push(
            login(&http, &users, &email, "bench-password")
                .await
                .map_err(setup)?,
        );
    }
    let tokens = Arc::new(tokens);

    let idle = Duration::from_secs(3);
    eprintln!("counting what the services do while idle for {idle:?}...");
    tokio::time::sleep(STATS_SETTLE).await;
    let idle_before = counters(platform, &http).await.map_err(setup)?;
    tokio::time::sleep(idle).await;
    let idle_after = counters(platform, &http).await.map_err(setup)?;
    let per_sec = |a: u64, b: u64| b.saturating_sub(a) as f64 / idle.as_secs_f64();
    let idle_xacts = per_sec(idle_before.0, idle_after.0);
    let idle_served = per_sec(idle_before.1, idle_after.1);

    let warm_up = Duration::from_secs(2);
    eprintln!(
        "warming up for {warm_up:?}, then measuring for {:?} with {} checkouts in flight...",
        options.duration, options.concurrency
    );
    let recording = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicU64::new(0));
    let first_error = Arc::new(Mutex::new(None::<String>));
    let histogram = Arc::new(Mutex::new(
        Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).map_err(|e| setup(e.to_string()))?,
    ));

    let mut workers = Vec::new();
    for w in 0..options.concurrency {
        let (http, tokens, orders) = (http.clone(), tokens.clone(), orders.clone());
        let (recording, stop, errors, first_error, histogram) = (
            recording.clone(),
            stop.clone(),
            errors.clone(),
            first_error.clone(),
            histogram.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ ((w as u64 + 1) * 0x1000_0001));
            let mut local = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).ok();
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let token = &tokens[rng.below(tokens.len())];
                let lines = 1 + rng.below(3);
                let mut items = Vec::new();
                for _ in 0..lines {
                    let p = &PRODUCTS[rng.below(PRODUCTS.len())];
                    if !items.iter().any(|i: &serde_json::Value| i["productId"] == json!(p.id())) {
                        items.push(json!({"productId": p.id(), "quantity": 1}));
                    }
                }
                n += 1;
                let body = json!({"items": items, "payment": {"cardNumber": "4242424242424242", "expMonth": 12, "expYear": 2030, "cvc": "123"}});
                let started = Instant::now();
                let result = http
                    .post(format!("{orders}/api/orders"))
                    .bearer_auth(token)
                    .header("Idempotency-Key", format!("bench-{w}-{n}"))
                    .json(&body)
                    .send()
                    .await;
                let elapsed = started.elapsed();
                let ok = match result {
                    Ok(resp) if resp.status() == reqwest::StatusCode::CREATED => {
                        let _ = resp.bytes().await;
                        true
                    }
                    Ok(resp) => {
                        let status = resp.status();
                        let text = resp.text().await.unwrap_or_default();
                        first_error.lock().await.get_or_insert(format!("{status} {text}"));
                        false
                    }
                    Err(e) => {
                        first_error.lock().await.get_or_insert(e.to_string());
                        false
                    }
                };
                if recording.load(Ordering::Relaxed) {
                    if ok {
                        if let Some(h) = local.as_mut() {
                            let _ = h.record(elapsed.as_micros() as u64);
                        }
                    } else {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            if let Some(h) = local {
                let _ = histogram.lock().await.add(h);
            }
        }));
    }

    tokio::time::sleep(warm_up).await;
    // Count only what the measured window contains: workers drop samples from the warm-up.
    recording.store(true, Ordering::Relaxed);
    let started = Instant::now();
    let window_before = counters(platform, &http).await.map_err(setup)?;
    let mut peaks: Vec<(&'static str, u32, u64)> = platform
        .services
        .iter()
        .map(|s| (s.name, s.pid(), 0))
        .collect();
    while started.elapsed() < options.duration {
        tokio::time::sleep(Duration::from_millis(500)).await;
        for (_, pid, peak) in peaks.iter_mut() {
            if let Some(m) = procfs::memory(*pid) {
                *peak = (*peak).max(m.rss_kib);
            }
        }
    }
    let window_after = counters(platform, &http).await.map_err(setup)?;
    recording.store(false, Ordering::Relaxed);
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.await;
    }
    platform.postgres.create_named_database("pgbench").await;
    let pgbench = ceiling::pgbench(
        &storefront_testkit::postgres_bin("pgbench").map_err(|e| setup(e.to_string()))?,
        platform.postgres.port(),
        options.concurrency,
        options.duration,
    )
    .await
    .map_err(setup)?;

    let histogram = histogram.lock().await;
    let ms = |q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
    let errors = errors.load(Ordering::Relaxed);
    if let Some(e) = first_error.lock().await.as_ref() {
        eprintln!("first error seen: {e}");
    }
    let memory = peaks
        .iter()
        .map(|(name, pid, peak)| ServiceMemory {
            service: name,
            peak_rss_under_load_mib: *peak as f64 / 1024.0,
            peak_rss_since_start_mib: procfs::memory(*pid)
                .map_or(0.0, |m| m.peak_kib as f64 / 1024.0),
        })
        .collect();
    let checkouts = histogram.len();
    let window = elapsed.as_secs_f64();
    let per_checkout = |before: u64, after: u64, idle_rate: f64| {
        let busy = after.saturating_sub(before) as f64 - idle_rate * window;
        if checkouts > 0 {
            busy.max(0.0) / checkouts as f64
        } else {
            0.0
        }
    };
    let cost = CheckoutCost {
        postgres_transactions: per_checkout(window_before.0, window_after.0, idle_xacts),
        http_requests: per_checkout(window_before.1, window_after.1, idle_served),
        idle_transactions_per_sec: idle_xacts,
        idle_http_requests_per_sec: idle_served,
    };
    let ceiling_checkouts_per_sec = if cost.postgres_transactions > 0.0 {
        pgbench.tps / cost.postgres_transactions
    } else {
        0.0
    };
    let checkouts_per_sec = checkouts as f64 / window;
    Ok(Summary {
        ceiling_checkouts_per_sec,
        ratio_to_ceiling: if ceiling_checkouts_per_sec > 0.0 {
            checkouts_per_sec / ceiling_checkouts_per_sec
        } else {
            0.0
        },
        cost,
        pgbench,
        duration_secs: elapsed.as_secs_f64(),
        concurrency: options.concurrency,
        customers: options.customers,
        checkouts,
        errors,
        checkouts_per_sec,
        latency_ms: Percentiles {
            p50: ms(0.50),
            p90: ms(0.90),
            p99: ms(0.99),
            max: histogram.max() as f64 / 1000.0,
        },
        memory,
    })
}

fn print(s: &Summary) {
    println!();
    println!(
        "checkout benchmark: {} in flight, {:.1}s measured",
        s.concurrency, s.duration_secs
    );
    println!("  checkouts        {:>10}", s.checkouts);
    println!("  errors           {:>10}", s.errors);
    println!("  checkouts/s      {:>10.1}", s.checkouts_per_sec);
    println!(
        "  latency ms       p50 {:.1}  p90 {:.1}  p99 {:.1}  max {:.1}",
        s.latency_ms.p50, s.latency_ms.p90, s.latency_ms.p99, s.latency_ms.max
    );
    println!(
        "  per checkout     {:.2} PostgreSQL transactions, {:.2} HTTP requests served (idle: {:.1} transactions/s, {:.1} requests/s taken out)",
        s.cost.postgres_transactions,
        s.cost.http_requests,
        s.cost.idle_transactions_per_sec,
        s.cost.idle_http_requests_per_sec
    );
    println!(
        "  pgbench          {:.0} tps (TPC-B-like, {} clients, scale {}, {}s, same server)",
        s.pgbench.tps, s.pgbench.clients, s.pgbench.scale, s.pgbench.duration_secs
    );
    println!(
        "  ceiling          {:.1} checkouts/s (pgbench tps / transactions per checkout); this run {:.2} of it",
        s.ceiling_checkouts_per_sec, s.ratio_to_ceiling
    );
    println!(
        "  memory (MiB)     {:<10} {:>14} {:>16}",
        "service", "peak under load", "peak since start"
    );
    for m in &s.memory {
        println!(
            "                   {:<10} {:>14.1} {:>16.1}",
            m.service, m.peak_rss_under_load_mib, m.peak_rss_since_start_mib
        );
    }
}
