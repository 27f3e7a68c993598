//! Serve mode, how loadgen runs in a cluster: the same virtual users and mix as a run, but with
//! no end. It serves `/healthz`, `/readyz` (ready once the target has answered a product
//! listing) and `/metrics`, and stops on the shutdown signal.
//!
//! Invariants: nothing the target does ends the process: an unreachable target is retried until
//! it answers, a user whose register or login fails tries again after a pause, and a user whose
//! token is refused (401, e.g. expired) logs in again. Only the shutdown signal stops it.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use rand::SeedableRng;
use rand::rngs::StdRng;
use reqwest::{Client, Url};
use storefront_common::health::{self, Readiness};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::metrics::LoadMetrics;
use crate::mix::{Mix, Operation};
use crate::pacing::{Think, start_offset};
use crate::scenario::{Card, Catalog, Session, Target};
use crate::stats::{Failure, Outcome};

/// First wait after a failed attempt (discovery or setup); it doubles up to [`MAX_RETRY_WAIT`].
const FIRST_RETRY_WAIT: Duration = Duration::from_millis(500);
const MAX_RETRY_WAIT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub url: Url,
    pub users: u32,
    pub think: Think,
    pub mix: Mix,
    pub ramp_up: Duration,
    pub seed: u64,
    pub card: Card,
    pub request_timeout: Duration,
    /// Sent with every request (`--header`).
    pub header: Option<RequestHeader>,
}

/// One request header, as `--header` gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHeader {
    pub name: reqwest::header::HeaderName,
    pub value: reqwest::header::HeaderValue,
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot build the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    #[error("serving /healthz, /readyz and /metrics failed: {0}")]
    Http(#[source] std::io::Error),
}

/// What the handlers and the users share.
struct Shared {
    config: ServeConfig,
    target: Arc<Target>,
    metrics: LoadMetrics,
    /// The target answered a product listing at least once.
    reached: AtomicBool,
    /// Why the last attempt to reach the target failed, for `/readyz`.
    last_error: Mutex<Option<String>>,
    run_id: String,
}

/// Serves on `listener` and drives the load until `shutdown` completes, then stops the users
/// and finishes the requests in flight on the listener.
pub async fn serve(
    config: ServeConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(h) = &config.header {
        headers.insert(h.name.clone(), h.value.clone());
    }
    let client = Client::builder()
        .timeout(config.request_timeout)
        .pool_max_idle_per_host(config.users as usize)
        .user_agent(concat!("storefront-loadgen/", env!("CARGO_PKG_VERSION")))
        .default_headers(headers)
        .build()
        .map_err(ServeError::Client)?;
    let shared = Arc::new(Shared {
        target: Arc::new(Target::new(client, &config.url)),
        config,
        metrics: LoadMetrics::default(),
        reached: AtomicBool::new(false),
        last_error: Mutex::new(None),
        run_id: uuid::Uuid::new_v4().simple().to_string()[..12].to_string(),
    });
    let stop = CancellationToken::new();
    let load = tokio::spawn(drive(Arc::clone(&shared), stop.clone()));
    let stopping = stop.clone();
    let served = storefront_common::http::serve_listener(router(shared), listener, async move {
        shutdown.await;
        stopping.cancel();
    })
    .await;
    // The server may also end by failing; the users stop either way.
    stop.cancel();
    let _ = load.await;
    served.map_err(ServeError::Http)
}

fn router(shared: Arc<Shared>) -> Router {
    let reached = Arc::clone(&shared);
    let readiness = Readiness::new().check("target", move || {
        let shared = Arc::clone(&reached);
        async move {
            if shared.reached.load(Ordering::Acquire) {
                return Ok(());
            }
            let why = shared
                .last_error
                .lock()
                .ok()
                .and_then(|e| e.clone())
                .unwrap_or_else(|| "no answer yet".to_owned());
            Err(format!("{} has not answered: {why}", shared.target.base))
        }
    });
    Router::new()
        .route("/healthz", get(health::healthz).with_state("loadgen"))
        .route("/readyz", get(health::readyz).with_state(readiness))
        .route("/metrics", get(metrics).with_state(shared))
}

async fn metrics(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        shared.metrics.render(),
    )
}

/// Reaches the target, then runs every virtual user until `stop`.
async fn drive(shared: Arc<Shared>, stop: CancellationToken) {
    let Some(catalog) = discover(&shared, &stop).await else {
        return;
    };
    let catalog = Arc::new(catalog);
    let mut users = JoinSet::new();
    for index in 0..shared.config.users {
        users.spawn(virtual_user(
            index,
            Arc::clone(&shared),
            Arc::clone(&catalog),
            stop.clone(),
        ));
    }
    while users.join_next().await.is_some() {}
}

/// The first product listing, retried until it succeeds; `None` when stopped first.
async fn discover(shared: &Shared, stop: &CancellationToken) -> Option<Catalog> {
    let mut wait = FIRST_RETRY_WAIT;
    loop {
        let attempt = tokio::select! {
            () = stop.cancelled() => return None,
            attempt = shared.target.discover_catalog() => attempt,
        };
        match attempt {
            Ok(catalog) => {
                shared.reached.store(true, Ordering::Release);
                tracing::info!(url = %shared.target.base, products = catalog.product_ids.len(), "target reached; starting the users");
                return Some(catalog);
            }
            Err(error) => {
                tracing::warn!(%error, retry_in = ?wait, "target not reachable yet");
                if let Ok(mut last) = shared.last_error.lock() {
                    *last = Some(error.to_string());
                }
            }
        }
        if !pause(wait, stop).await {
            return None;
        }
        wait = (wait * 2).min(MAX_RETRY_WAIT);
    }
}

/// Sleeps `duration`; false when stopped meanwhile.
async fn pause(duration: Duration, stop: &CancellationToken) -> bool {
    tokio::select! {
        () = stop.cancelled() => false,
        () = tokio::time::sleep(duration) => true,
    }
}

/// One user for as long as the process serves: set up, run the mix until the token is refused,
/// set up again.
async fn virtual_user(
    index: u32,
    shared: Arc<Shared>,
    catalog: Arc<Catalog>,
    stop: CancellationToken,
) {
    let config = &shared.config;
    if !pause(start_offset(index, config.users, config.ramp_up), &stop).await {
        return;
    }
    let email = format!("loadgen-{}-{index}@example.test", shared.run_id);
    let mut registered = false;
    // Each session draws from its own stream, so a seed fixes every user's choices.
    for session_number in 0u64.. {
        let Some(token) = set_up(&shared, &email, &mut registered, &stop).await else {
            return;
        };
        let seed = config
            .seed
            .wrapping_add(u64::from(index))
            .wrapping_add(session_number.wrapping_mul(u64::from(config.users)));
        let mut session = Session::new(
            Arc::clone(&shared.target),
            Arc::clone(&catalog),
            config.card.clone(),
            token,
            StdRng::seed_from_u64(seed),
        );
        shared.metrics.user_ready();
        let stopped = run_session(&shared, &mut session, &stop).await;
        shared.metrics.user_gone();
        if stopped {
            return;
        }
    }
}

/// Runs the mix until the token is refused (false) or the stop (true).
async fn run_session(shared: &Shared, session: &mut Session, stop: &CancellationToken) -> bool {
    let config = &shared.config;
    loop {
        let op = config.mix.pick(session.rng());
        let started = Instant::now();
        let outcome = tokio::select! {
            () = stop.cancelled() => return true,
            outcome = session.perform(op) => outcome,
        };
        shared.metrics.record(op, outcome, started.elapsed());
        if outcome == Outcome::Failed(Failure::Status(401)) {
            return false;
        }
        let think = config.think.sample(session.rng());
        if !pause(think, stop).await {
            return true;
        }
    }
}

/// Registers (once) and logs in, retrying until both succeed; the token, or `None` if stopped.
/// A 409 on register means the account exists, which is as good as created.
async fn set_up(
    shared: &Shared,
    email: &str,
    registered: &mut bool,
    stop: &CancellationToken,
) -> Option<String> {
    let mut wait = FIRST_RETRY_WAIT;
    loop {
        let op = if *registered {
            Operation::Login
        } else {
            Operation::Register
        };
        let started = Instant::now();
        let step = tokio::select! {
            () = stop.cancelled() => return None,
            step = async {
                match op {
                    Operation::Register => shared.target.register(email).await,
                    _ => shared.target.login(email).await,
                }
            } => step,
        };
        shared.metrics.record(op, step.outcome, started.elapsed());
        match (op, step.outcome) {
            (Operation::Register, Outcome::Ok | Outcome::Expected(409)) => {
                *registered = true;
                wait = FIRST_RETRY_WAIT;
                continue;
            }
            (Operation::Login, Outcome::Ok) => {
                if let Some(token) = step.token {
                    return Some(token);
                }
            }
            _ => {}
        }
        let delay = step.retry_after.unwrap_or(wait).min(MAX_RETRY_WAIT);
        if !pause(delay, stop).await {
            return None;
        }
        wait = (wait * 2).min(MAX_RETRY_WAIT);
    }
}
