//! One load run: discover the catalog, start the virtual users (spread over the ramp-up), stop
//! them at the deadline, after the request budget, or at once on interrupt, and merge their
//! figures. Each user owns its statistics; only the progress counters and the timeline (a
//! short lock per finished operation, bounded in size) are shared.

use std::future::Future;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::SeedableRng;
use rand::rngs::StdRng;
use reqwest::{Client, Url};
use serde::Serialize;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::mix::{Mix, Operation};
use crate::pacing::{Think, start_offset};
use crate::scenario::{Card, Catalog, Session, SetupError, Target};
use crate::stats::{Outcome, Stats, Summary};
use crate::timeline::{Timeline, Timeseries};

#[derive(Debug, Clone)]
pub struct Config {
    pub url: Url,
    pub users: u32,
    pub limit: Limit,
    pub think: Think,
    pub mix: Mix,
    pub ramp_up: Duration,
    pub seed: u64,
    pub card: Card,
    pub request_timeout: Duration,
    /// `None` prints no progress.
    pub progress_every: Option<Duration>,
}

/// When the run ends by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Duration(Duration),
    /// Mix operations in total, over all users.
    Requests(u64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    Duration,
    Requests,
    Interrupted,
    /// No virtual user got through register and login.
    NoUsers,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot build the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    #[error(transparent)]
    Setup(#[from] SetupError),
}

/// A finished run, whatever stopped it.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub config: Config,
    /// Part of every user's e-mail, so that runs never collide on registration.
    pub run_id: String,
    pub started_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
    pub stopped_by: StopReason,
    pub users_ready: u32,
    /// Why the first user that failed register or login did, for the report.
    pub first_setup_error: Option<String>,
    pub summary: Summary,
    /// The same operations, second by second.
    pub timeline: Timeseries,
}

struct Shared {
    target: Arc<Target>,
    catalog: Arc<Catalog>,
    config: Config,
    run_id: String,
    started: Instant,
    deadline: Option<Instant>,
    /// Operations still allowed under `--requests`; `None` when the run is bounded by time.
    budget: Option<AtomicU64>,
    ops_done: AtomicU64,
    errors: AtomicU64,
    users_ready: AtomicU32,
    first_setup_error: OnceLock<String>,
    timeline: Mutex<Timeline>,
}

impl Shared {
    /// Counts a finished operation in the user's figures and on the run's timeline.
    fn record(&self, stats: &mut Stats, op: Operation, outcome: Outcome, began: Instant) {
        let now = Instant::now();
        let latency = now - began;
        stats.record(op, outcome, latency);
        // A user that panicked while holding the lock left whole buckets behind: keep them.
        self.timeline
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .record(now - self.started, op, outcome, latency);
    }

    fn past_deadline(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    fn take_ticket(&self) -> bool {
        match &self.budget {
            None => true,
            Some(left) => left
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
                .is_ok(),
        }
    }

    /// Waits `pause` (cut short by the deadline); false when the user should stop.
    async fn pause(&self, pause: Duration, cancel: &CancellationToken) -> bool {
        let mut until = Instant::now() + pause;
        if let Some(deadline) = self.deadline {
            until = until.min(deadline);
        }
        if until > Instant::now() {
            tokio::select! {
                () = cancel.cancelled() => return false,
                () = tokio::time::sleep_until(until) => {}
            }
        }
        !cancel.is_cancelled() && !self.past_deadline()
    }
}

/// Runs the load until its limit or until `interrupt` completes; then returns the figures so far.
pub async fn run(
    config: Config,
    interrupt: impl Future<Output = ()>,
) -> Result<RunOutcome, RunError> {
    let client = Client::builder()
        .timeout(config.request_timeout)
        .pool_max_idle_per_host(config.users as usize)
        .user_agent(concat!("storefront-loadgen/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(RunError::Client)?;
    let target = Arc::new(Target::new(client, &config.url));
    let catalog = Arc::new(target.discover_catalog().await?);

    let started = Instant::now();
    let started_at = Utc::now();
    let run_id = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
    let shared = Arc::new(Shared {
        target,
        catalog,
        deadline: match config.limit {
            Limit::Duration(d) => Some(started + d),
            Limit::Requests(_) => None,
        },
        budget: match config.limit {
            Limit::Duration(_) => None,
            Limit::Requests(n) => Some(AtomicU64::new(n)),
        },
        config,
        run_id,
        started,
        ops_done: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        users_ready: AtomicU32::new(0),
        first_setup_error: OnceLock::new(),
        timeline: Mutex::new(Timeline::default()),
    });

    let cancel = CancellationToken::new();
    let mut users = JoinSet::new();
    for index in 0..shared.config.users {
        users.spawn(virtual_user(index, Arc::clone(&shared), cancel.clone()));
    }
    let finished = CancellationToken::new();
    let progress = shared.config.progress_every.map(|every| {
        tokio::spawn(report_progress(
            Arc::clone(&shared),
            every,
            started,
            finished.clone(),
        ))
    });

    let mut stats = Stats::default();
    let mut interrupted = false;
    let mut interrupt = std::pin::pin!(interrupt);
    loop {
        tokio::select! {
            () = &mut interrupt, if !interrupted => {
                interrupted = true;
                cancel.cancel();
            }
            joined = users.join_next() => match joined {
                None => break,
                Some(Ok(user_stats)) => stats.merge(&user_stats),
                // A user task can only fail by panicking; its figures are lost, the others count.
                Some(Err(_)) => {}
            },
        }
    }
    finished.cancel();
    if let Some(progress) = progress {
        let _ = progress.await;
    }

    let elapsed = started.elapsed();
    let users_ready = shared.users_ready.load(Ordering::Acquire);
    let stopped_by = if interrupted {
        StopReason::Interrupted
    } else if users_ready == 0 {
        StopReason::NoUsers
    } else {
        match shared.config.limit {
            Limit::Duration(_) => StopReason::Duration,
            Limit::Requests(_) => StopReason::Requests,
        }
    };
    Ok(RunOutcome {
        config: shared.config.clone(),
        run_id: shared.run_id.clone(),
        started_at,
        ended_at: Utc::now(),
        stopped_by,
        users_ready,
        first_setup_error: shared.first_setup_error.get().cloned(),
        summary: stats.summarize(elapsed),
        timeline: shared
            .timeline
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .series(elapsed),
    })
}

async fn virtual_user(index: u32, shared: Arc<Shared>, cancel: CancellationToken) -> Stats {
    let mut stats = Stats::default();
    let config = &shared.config;
    // Each user has its own stream so a seed fixes every user's sequence of choices.
    let rng = StdRng::seed_from_u64(config.seed.wrapping_add(u64::from(index)));
    if !shared
        .pause(start_offset(index, config.users, config.ramp_up), &cancel)
        .await
    {
        return stats;
    }
    let email = format!("loadgen-{}-{index}@example.test", shared.run_id);
    let token = tokio::select! {
        () = cancel.cancelled() => None,
        token = log_in(&shared, &email, &mut stats, &cancel) => token,
    };
    let Some(token) = token else {
        return stats;
    };
    shared.users_ready.fetch_add(1, Ordering::AcqRel);

    let mut session = Session::new(
        Arc::clone(&shared.target),
        Arc::clone(&shared.catalog),
        config.card.clone(),
        token,
        rng,
    );
    // The deadline and the budget are checked before an operation starts and never cut one
    // short, so every operation the server finished is counted; only an interrupt abandons one.
    while !shared.past_deadline() && shared.take_ticket() {
        let op = config.mix.pick(session.rng());
        let started = Instant::now();
        let outcome = tokio::select! {
            () = cancel.cancelled() => break,
            outcome = session.perform(op) => outcome,
        };
        shared.record(&mut stats, op, outcome, started);
        shared.ops_done.fetch_add(1, Ordering::Relaxed);
        if outcome.is_failure() {
            shared.errors.fetch_add(1, Ordering::Relaxed);
        }
        let think = config.think.sample(session.rng());
        if !shared.pause(think, &cancel).await {
            break;
        }
    }
    stats
}

/// How often setup tries a step that was rate limited (429) before giving the user up; the
/// gateway limits anonymous requests per IP, and every user of a run shares one.
const SETUP_ATTEMPTS: u32 = 6;
/// The longest wait between two setup attempts, whatever `Retry-After` asks for.
const MAX_SETUP_WAIT: Duration = Duration::from_secs(10);

/// Registers and logs in, recording every attempt; the token when both succeeded.
async fn log_in(
    shared: &Shared,
    email: &str,
    stats: &mut Stats,
    cancel: &CancellationToken,
) -> Option<String> {
    for op in Operation::SETUP {
        let mut attempt = 1;
        loop {
            let started = Instant::now();
            let step = match op {
                Operation::Register => shared.target.register(email).await,
                _ => shared.target.login(email).await,
            };
            shared.record(stats, op, step.outcome, started);
            match step.outcome {
                Outcome::Ok if op == Operation::Login => return step.token,
                Outcome::Ok => break,
                Outcome::Expected(429) if attempt < SETUP_ATTEMPTS => {
                    // Without Retry-After, back off 0.5s, 1s, 2s, ...
                    let backoff = Duration::from_millis(250 << attempt);
                    let wait = step.retry_after.unwrap_or(backoff).min(MAX_SETUP_WAIT);
                    attempt += 1;
                    if !shared.pause(wait, cancel).await {
                        return None;
                    }
                }
                failed => {
                    let _ = shared
                        .first_setup_error
                        .set(format!("{op} {email}: {}", describe(failed)));
                    return None;
                }
            }
        }
    }
    None
}

fn describe(outcome: Outcome) -> String {
    match outcome {
        Outcome::Ok => "ok".into(),
        Outcome::Expected(status) => format!("answered {status}"),
        Outcome::Failed(failure) => format!("failed with {failure}"),
    }
}

async fn report_progress(
    shared: Arc<Shared>,
    every: Duration,
    started: Instant,
    finished: CancellationToken,
) {
    let mut ticks = tokio::time::interval_at(started + every, every);
    let mut last_ops = 0;
    loop {
        tokio::select! {
            () = finished.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let ops = shared.ops_done.load(Ordering::Relaxed);
        let errors = shared.errors.load(Ordering::Relaxed);
        let rate = ops.saturating_sub(last_ops) as f64 / every.as_secs_f64();
        last_ops = ops;
        eprintln!(
            "[{:>6.1}s] {ops} ops, {rate:.1} ops/s now, {errors} errors, {} users ready",
            started.elapsed().as_secs_f64(),
            shared.users_ready.load(Ordering::Relaxed),
        );
    }
}
