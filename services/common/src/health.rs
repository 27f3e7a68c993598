//! `/healthz` (the process is alive) and `/readyz` (its dependencies answer). Readiness runs every
//! registered check with a short timeout and reports each by name.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use futures::future::BoxFuture;
use serde_json::json;

type CheckFn = dyn Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync;

/// The dependencies a service must reach to be ready.
#[derive(Clone, Default)]
pub struct Readiness {
    checks: Vec<(&'static str, std::sync::Arc<CheckFn>)>,
}

impl Readiness {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a check of any other dependency (an HTTP backend, say) under `name`.
    pub fn check<F, Fut>(mut self, name: &'static str, check: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<(), String>> + Send + 'static,
    {
        self.checks
            .push((name, std::sync::Arc::new(move || Box::pin(check()))));
        self
    }

    #[cfg(feature = "postgres")]
    pub fn postgres(mut self, pool: sqlx::PgPool) -> Self {
        self.checks.push((
            "postgres",
            std::sync::Arc::new(move || {
                let pool = pool.clone();
                Box::pin(async move {
                    sqlx::query("SELECT 1")
                        .execute(&pool)
                        .await
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                })
            }),
        ));
        self
    }

    #[cfg(feature = "redis")]
    pub fn redis(mut self, redis: crate::redis_store::Redis) -> Self {
        self.checks.push((
            "redis",
            std::sync::Arc::new(move || {
                let redis = redis.clone();
                Box::pin(async move { redis.ping().await.map_err(|e| e.to_string()) })
            }),
        ));
        self
    }

    pub async fn run(&self) -> (bool, serde_json::Value) {
        let mut ok = true;
        let mut report = serde_json::Map::new();
        for (name, check) in &self.checks {
            let outcome = match tokio::time::timeout(Duration::from_secs(2), check()).await {
                Ok(Ok(())) => json!("ok"),
                Ok(Err(e)) => {
                    ok = false;
                    json!(format!("failing: {e}"))
                }
                Err(_) => {
                    ok = false;
                    json!("failing: no answer within 2s")
                }
            };
            report.insert((*name).to_string(), outcome);
        }
        (ok, serde_json::Value::Object(report))
    }
}

/// Alive, and which service answered: a local runner that hands out ports checks the name, so a
/// port another process holds is caught instead of trusted.
pub async fn healthz(State(service): State<&'static str>) -> impl IntoResponse {
    Json(json!({"status": "ok", "service": service}))
}

/// Set once the process is stopping: from then on `/readyz` answers 503 `draining` without
/// running its checks, so the load balancer stops sending before the listener closes. One flag
/// per process, as there is one service per process wherever it is set.
static DRAINING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub fn mark_draining() {
    DRAINING.store(true, std::sync::atomic::Ordering::SeqCst);
}

pub fn is_draining() -> bool {
    DRAINING.load(std::sync::atomic::Ordering::SeqCst)
}

pub async fn readyz(State(readiness): State<Readiness>) -> impl IntoResponse {
    if is_draining() {
        let body = json!({"status": "draining", "checks": {}});
        return (StatusCode::SERVICE_UNAVAILABLE, Json(body));
    }
    let (ok, checks) = readiness.run().await;
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({"status": if ok { "ready" } else { "not ready" }, "checks": checks});
    (status, Json(body))
}
