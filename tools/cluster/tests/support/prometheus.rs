//! The one stand-in of the cluster tests: Prometheus, played by a small HTTP server that answers
//! the real `/api/v1/query` API (instant vectors) from a script the test changes as it goes. The
//! same server plays a rollout hook (`POST /hook`), a receiver the test scripts too.
//! Istio's Envoy, which would produce the real figures, cannot run here.

use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

/// What the canary's metrics look like right now.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Figures {
    pub requests: f64,
    pub errors: f64,
    pub p99_ms: f64,
}

impl Figures {
    pub const HEALTHY: Self = Self {
        requests: 200.0,
        errors: 0.0,
        p99_ms: 40.0,
    };
    pub const FAILING: Self = Self {
        requests: 200.0,
        errors: 80.0,
        p99_ms: 40.0,
    };
}

#[derive(Default)]
struct Script {
    figures: Option<Figures>,
    /// Answers for custom queries: a query containing the marker gets the value.
    custom: Vec<(String, f64)>,
    queries: Vec<String>,
    /// What `POST /hook` (a rollout hook) answers, and the bodies it received.
    hook_status: u16,
    hook_calls: Vec<Value>,
}

/// A running scripted Prometheus.
#[derive(Clone)]
pub struct ScriptedPrometheus {
    pub url: String,
    script: Arc<Mutex<Script>>,
}

impl ScriptedPrometheus {
    /// Starts on a random loopback port, answering with `figures`.
    pub fn start(figures: Figures) -> Self {
        let script = Arc::new(Mutex::new(Script {
            figures: Some(figures),
            custom: Vec::new(),
            queries: Vec::new(),
            hook_status: 200,
            hook_calls: Vec::new(),
        }));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let state = script.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                let app = Router::new()
                    .route("/api/v1/query", get(query))
                    .route("/hook", axum::routing::post(hook))
                    .with_state(state);
                let _ = axum::serve(listener, app).await;
            });
        });
        Self { url, script }
    }

    /// From now on, answer with `figures`.
    pub fn set(&self, figures: Figures) {
        if let Ok(mut s) = self.script.lock() {
            s.figures = Some(figures);
        }
    }

    /// From now on, answer every query that contains `marker` with `value`.
    pub fn set_custom(&self, marker: &str, value: f64) {
        if let Ok(mut s) = self.script.lock() {
            s.custom.retain(|(m, _)| m != marker);
            s.custom.push((marker.to_owned(), value));
        }
    }

    /// The queries sent so far that contain `marker`.
    pub fn queries_with(&self, marker: &str) -> Vec<String> {
        self.script.lock().map_or_else(
            |_| Vec::new(),
            |s| {
                s.queries
                    .iter()
                    .filter(|q| q.contains(marker))
                    .cloned()
                    .collect()
            },
        )
    }

    /// From now on, `POST /hook` answers `status`.
    pub fn set_hook_status(&self, status: u16) {
        if let Ok(mut s) = self.script.lock() {
            s.hook_status = status;
        }
    }

    /// The bodies `POST /hook` received so far.
    pub fn hook_calls(&self) -> Vec<Value> {
        self.script
            .lock()
            .map_or_else(|_| Vec::new(), |s| s.hook_calls.clone())
    }

    /// How many queries the operator has sent so far.
    pub fn queries(&self) -> usize {
        self.script.lock().map_or(0, |s| s.queries.len())
    }
}

async fn query(
    State(script): State<Arc<Mutex<Script>>>,
    Query(params): Query<std::collections::HashMap<String, String>>,
) -> Json<Value> {
    let q = params.get("query").cloned().unwrap_or_default();
    let (figures, custom) = script.lock().map_or((None, None), |mut s| {
        s.queries.push(q.clone());
        let custom = s
            .custom
            .iter()
            .find(|(marker, _)| q.contains(marker.as_str()))
            .map(|(_, v)| *v);
        (s.figures, custom)
    });
    let value = custom.or_else(|| {
        figures.map(|f| {
            if q.contains("histogram_quantile") {
                f.p99_ms
            } else if q.contains("response_code=~\"5..\"") || q.contains("status=~\"5..\"") {
                f.errors
            } else {
                f.requests
            }
        })
    });
    let result: Vec<Value> = value
        .map(|v| json!({"metric": {}, "value": [0, v.to_string()]}))
        .into_iter()
        .collect();
    Json(json!({"status": "success", "data": {"resultType": "vector", "result": result}}))
}

/// A rollout hook beside the scripted Prometheus (same server): records the call, answers the
/// scripted status.
async fn hook(
    State(script): State<Arc<Mutex<Script>>>,
    Json(body): Json<Value>,
) -> axum::http::StatusCode {
    let status = script.lock().map_or(500, |mut s| {
        s.hook_calls.push(body);
        s.hook_status
    });
    axum::http::StatusCode::from_u16(status)
        .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR)
}
