//! Sends a request to its backend and reads the answer back, with a timeout per route, retries
//! of idempotent requests on connection errors and 502/503/504 (small doubling backoff), and the
//! backend's circuit breaker consulted before every attempt. Invariants: a non-idempotent request
//! is sent at most once; a failure (connection error, timeout, 5xx) is reported to the breaker
//! once per attempt; answers are buffered up to a bound, so a runaway backend cannot exhaust the
//! gateway's memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, Method, StatusCode};
use bytes::{Bytes, BytesMut};
use storefront_common::ApiError;
use storefront_common::client::ServiceClient;

use crate::breaker::{Admission, Breaker, Outcome};
use crate::metrics::GatewayMetrics;
use crate::routing::{Backend, Target};

/// How long each backend may take, per attempt.
#[derive(Debug, Clone)]
pub struct Timeouts {
    pub per_backend: HashMap<Backend, Duration>,
    /// Checkout and cancellation: a saga over inventory and payments.
    pub long_running: Duration,
}

impl Timeouts {
    pub fn for_target(&self, target: &Target) -> Duration {
        if target.long_running {
            return self.long_running;
        }
        self.per_backend
            .get(&target.backend)
            .copied()
            .unwrap_or(Duration::from_secs(5))
    }

    pub fn longest(&self) -> Duration {
        self.per_backend
            .values()
            .copied()
            .chain([self.long_running])
            .max()
            .unwrap_or_default()
    }
}

#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in all, the first included; 1 disables retries.
    pub max_attempts: u32,
    /// Wait before the second attempt; doubled before each later one.
    pub backoff: Duration,
}

#[derive(Debug, Clone, Copy)]
pub struct BreakerPolicy {
    pub failures: u32,
    pub open_for: Duration,
}

/// The request as the backend will receive it.
pub struct Outgoing {
    pub method: Method,
    pub path_and_query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// The backend's answer, buffered.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("{backend} is failing; its circuit breaker is open")]
    Open {
        backend: &'static str,
        retry_after: Duration,
    },
    #[error("{backend} did not answer in time")]
    Timeout { backend: &'static str },
    #[error("{backend} is unreachable: {reason}")]
    Unreachable {
        backend: &'static str,
        reason: String,
    },
    #[error("{backend} answered with a body larger than the gateway relays")]
    TooLarge { backend: &'static str },
}

impl From<ProxyError> for ApiError {
    fn from(err: ProxyError) -> Self {
        tracing::warn!(error = %err, "backend call failed");
        let message = format!("{err}; try again shortly");
        match err {
            ProxyError::Open { retry_after, .. } => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "backend_unavailable",
                message,
            )
            .with_retry_after(retry_after.as_secs_f64().ceil().max(1.0) as u64),
            ProxyError::Timeout { .. } => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "backend_timeout", message)
            }
            ProxyError::Unreachable { .. } => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "backend_unreachable",
                message,
            ),
            ProxyError::TooLarge { .. } => {
                ApiError::new(StatusCode::BAD_GATEWAY, "backend_answer_too_large", message)
            }
        }
    }
}

struct Upstream {
    client: ServiceClient,
    breaker: Mutex<Breaker>,
}

pub struct Proxy {
    upstreams: HashMap<Backend, Upstream>,
    timeouts: Timeouts,
    retry: RetryPolicy,
    max_answer_bytes: usize,
    metrics: Arc<GatewayMetrics>,
}

/// An admitted attempt; dropping it unreported (the client went away) frees a half-open probe.
struct Ticket<'a> {
    upstream: &'a Upstream,
    backend: Backend,
    probe: bool,
    reported: bool,
    metrics: &'a GatewayMetrics,
}

impl Ticket<'_> {
    fn report(mut self, outcome: Outcome) {
        self.reported = true;
        let mut breaker = lock(&self.upstream.breaker);
        let before = breaker.state_name();
        breaker.record(outcome, self.probe, Instant::now());
        let after = breaker.state_name();
        if after != before {
            self.metrics.breaker_moved(self.backend, after);
        }
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        if self.probe && !self.reported {
            lock(&self.upstream.breaker).abandon_probe();
        }
    }
}

fn lock(breaker: &Mutex<Breaker>) -> std::sync::MutexGuard<'_, Breaker> {
    // The breaker's state is valid after any panic (every transition is one assignment).
    breaker
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Proxy {
    pub fn new(
        bases: &HashMap<Backend, String>,
        http: reqwest::Client,
        timeouts: Timeouts,
        retry: RetryPolicy,
        breaker: BreakerPolicy,
        max_answer_bytes: usize,
        metrics: Arc<GatewayMetrics>,
    ) -> Self {
        let upstreams = bases
            .iter()
            .map(|(backend, base)| {
                let upstream = Upstream {
                    client: ServiceClient::new(backend.name(), base.clone(), http.clone()),
                    breaker: Mutex::new(Breaker::new(breaker.failures, breaker.open_for)),
                };
                metrics.breaker_moved(*backend, "closed");
                (*backend, upstream)
            })
            .collect();
        Self {
            upstreams,
            timeouts,
            retry,
            max_answer_bytes,
            metrics,
        }
    }

    pub async fn forward(&self, target: &Target, request: Outgoing) -> Result<Answer, ProxyError> {
        let backend = target.backend.name();
        let upstream =
            self.upstreams
                .get(&target.backend)
                .ok_or_else(|| ProxyError::Unreachable {
                    backend,
                    reason: "no URL configured".into(),
                })?;
        let timeout = self.timeouts.for_target(target);
        let attempts = if target.retryable {
            self.retry.max_attempts.max(1)
        } else {
            1
        };
        let mut backoff = self.retry.backoff;
        let mut attempt = 1;
        loop {
            let admission = {
                let mut breaker = lock(&upstream.breaker);
                let before = breaker.state_name();
                let admission = breaker.admit(Instant::now());
                // Open → half-open happens here, when the first request after the open
                // period becomes the probe.
                if breaker.state_name() != before {
                    self.metrics
                        .breaker_moved(target.backend, breaker.state_name());
                }
                admission
            };
            let probe = match admission {
                Admission::Allowed => false,
                Admission::Probe => true,
                Admission::Rejected { retry_after } => {
                    return Err(ProxyError::Open {
                        backend,
                        retry_after,
                    });
                }
            };
            let ticket = Ticket {
                upstream,
                backend: target.backend,
                probe,
                reported: false,
                metrics: &self.metrics,
            };
            let result = self.attempt(upstream, &request, timeout, backend).await;
            let failed = match &result {
                Ok(answer) => answer.status.is_server_error(),
                Err(_) => true,
            };
            ticket.report(if failed {
                Outcome::Failure
            } else {
                Outcome::Success
            });
            let worth_retrying = match &result {
                Ok(answer) => matches!(
                    answer.status,
                    StatusCode::BAD_GATEWAY
                        | StatusCode::SERVICE_UNAVAILABLE
                        | StatusCode::GATEWAY_TIMEOUT
                ),
                // A timeout is not retried: the backend may still be working on it, and a
                // retry would multiply the client's wait.
                Err(ProxyError::Unreachable { .. }) => true,
                Err(_) => false,
            };
            if !worth_retrying || attempt >= attempts {
                return result;
            }
            tracing::info!(backend, attempt, "retrying an idempotent request");
            tokio::time::sleep(backoff).await;
            backoff = backoff.saturating_mul(2);
            attempt += 1;
        }
    }

    async fn attempt(
        &self,
        upstream: &Upstream,
        request: &Outgoing,
        timeout: Duration,
        backend: &'static str,
    ) -> Result<Answer, ProxyError> {
        let outgoing = upstream
            .client
            .request(request.method.clone(), &request.path_and_query, None)
            .headers(request.headers.clone())
            .timeout(timeout)
            .body(request.body.clone());
        // The instance is chosen here, when the backend's URL lists several (see
        // `storefront_common::balance`); a connection that could not be made moves on to the next.
        let sent = upstream.client.execute(outgoing).await;
        let classify = |e: reqwest::Error| {
            if e.is_timeout() {
                ProxyError::Timeout { backend }
            } else {
                ProxyError::Unreachable {
                    backend,
                    reason: e.to_string(),
                }
            }
        };
        let mut response = sent.map_err(classify)?;
        let status = response.status();
        let headers = std::mem::take(response.headers_mut());
        let mut body = BytesMut::new();
        while let Some(chunk) = response.chunk().await.map_err(classify)? {
            if body.len() + chunk.len() > self.max_answer_bytes {
                return Err(ProxyError::TooLarge { backend });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Answer {
            status,
            headers,
            body: body.freeze(),
        })
    }
}
