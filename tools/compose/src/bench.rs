//! The run-mode benchmark: the same loadgen mix (same users, no think time, same duration, same
//! release binaries) against the shop as plain processes (`storefront-local`'s platform) and
//! in Docker Compose (the offline images of those binaries), one after the other in one run.
//! Both get RUST_LOG=warn and the gateway's rate limits lifted, as `bench-gateway` does.
//!
//! Invariant: the figures come from loadgen's own JSON summary of each run; nothing is assumed.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use storefront_local::bench_gateway::UNLIMITED;
use storefront_local::platform::{self, Scope, StartOptions};
use storefront_local::procfs;
use storefront_testkit::free_port;

use crate::engine::{Engine, EngineError, failed, workspace_root};
use crate::stack::{Down, Stack, StackOptions};

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("the local platform: {0}")]
    Local(#[from] platform::PlatformError),
    #[error("loadgen against {mode}: {detail}")]
    Loadgen { mode: &'static str, detail: String },
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

pub struct RunModesOptions {
    /// Release binaries (the services, loadgen).
    pub bins: PathBuf,
    pub users: u32,
    pub duration: Duration,
    /// Images to run in Compose (`make images` built them).
    pub registry: String,
    pub version: String,
    pub json: Option<PathBuf>,
}

/// One mode's figures.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ModeResult {
    pub mode: &'static str,
    pub ops_per_sec: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub errors: u64,
    pub operations: u64,
    /// Resident memory of the nine services' processes after the run, MiB.
    pub services_rss_mib: f64,
    /// From start to every service ready.
    pub start_secs: f64,
    pub loadgen: Value,
}

const SERVICES: [&str; 9] = [
    "users",
    "catalog",
    "inventory",
    "payments",
    "cart",
    "orders",
    "notifications",
    "web",
    "gateway",
];

fn lifted_limits() -> Vec<(String, String)> {
    UNLIMITED
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn rss_mib(pids: impl IntoIterator<Item = u32>) -> f64 {
    let kib: u64 = pids
        .into_iter()
        .filter_map(procfs::memory)
        .map(|m| m.rss_kib)
        .sum();
    kib as f64 / 1024.0
}

pub async fn run(options: RunModesOptions) -> Result<Vec<ModeResult>, BenchError> {
    let work = std::env::temp_dir().join(format!(
        "storefront-bench-run-modes-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&work).map_err(|source| BenchError::Write {
        path: work.display().to_string(),
        source,
    })?;
    let local = local_mode(&options, &work).await?;
    let compose = compose_mode(&options, &work).await?;
    let results = vec![local, compose];
    print(&options, &results);
    if let Some(path) = &options.json {
        let text = serde_json::to_string_pretty(&json!({
            "users": options.users,
            "durationSeconds": options.duration.as_secs(),
            "modes": results,
        }))
        .unwrap_or_default();
        std::fs::write(path, text).map_err(|source| BenchError::Write {
            path: path.display().to_string(),
            source,
        })?;
    }
    let _ = std::fs::remove_dir_all(&work);
    Ok(results)
}

async fn local_mode(options: &RunModesOptions, work: &Path) -> Result<ModeResult, BenchError> {
    eprintln!(
        "[bench] plain processes: starting storefront-local's platform (binaries from {})",
        options.bins.display()
    );
    let started = Instant::now();
    let mut platform = platform::start(StartOptions {
        bins: options.bins.clone(),
        scope: Scope::Full {
            gateway_port: free_port(),
        },
        admin_email: "admin@bench.local".into(),
        admin_password: "bench-admin-password".into(),
        log_dir: Some(work.join("local-logs")),
        rust_log: "warn".into(),
        extra_env: lifted_limits(),
        bus: Default::default(),
        replicas: Default::default(),
    })
    .await?;
    let start_secs = started.elapsed().as_secs_f64();
    let gateway = platform.url("gateway").unwrap_or_default().to_owned();
    let outcome = loadgen(options, "plain processes", &gateway, work).await;
    let rss = rss_mib(platform.services.iter().map(|s| s.pid()));
    platform.stop().await;
    Ok(result("plain processes", outcome?, rss, start_secs))
}

async fn compose_mode(options: &RunModesOptions, work: &Path) -> Result<ModeResult, BenchError> {
    let root = workspace_root();
    let engine = Engine::start(&root).await?;
    let secrets = work.join("secrets");
    engine
        .script(
            "scripts/compose-secrets.sh",
            &[],
            &[("STOREFRONT_SECRETS", &secrets.display().to_string())],
        )
        .await?;
    let mut env = lifted_limits();
    env.push(("RUST_LOG".into(), "warn".into()));
    let stack = Stack::new(
        engine,
        StackOptions {
            project: format!(
                "storefront-bench-{}",
                &uuid::Uuid::new_v4().simple().to_string()[..8]
            ),
            registry: options.registry.clone(),
            version: options.version.clone(),
            secrets,
            gateway_port: free_port(),
            jaeger_port: free_port(),
            env,
        },
    );
    eprintln!(
        "[bench] Docker Compose: up --wait ({} images {})",
        options.registry, options.version
    );
    let start = stack.up().await;
    let outcome = match start {
        Ok(elapsed) => {
            let gateway = stack.gateway_url();
            let run = loadgen(options, "Docker Compose", &gateway, work).await;
            let mut pids = Vec::new();
            for s in SERVICES {
                if let Ok(pid) = stack.pid(s).await {
                    pids.push(pid);
                }
            }
            run.map(|v| (v, rss_mib(pids), elapsed.as_secs_f64()))
        }
        Err(e) => Err(BenchError::Engine(e)),
    };
    eprintln!("[bench] Docker Compose: down --volumes");
    stack.down(Down::Volumes).await?;
    let (value, rss, start_secs) = outcome?;
    Ok(result("Docker Compose", value, rss, start_secs))
}

/// loadgen's full mix: `users` users, no think time, for the duration; its JSON summary.
async fn loadgen(
    options: &RunModesOptions,
    mode: &'static str,
    gateway: &str,
    work: &Path,
) -> Result<Value, BenchError> {
    let binary = options.bins.join("storefront-loadgen");
    let json = work.join(format!("loadgen-{}.json", mode.replace(' ', "-")));
    eprintln!(
        "[bench] {mode}: loadgen, {} users, no think time, {}s against {gateway}",
        options.users,
        options.duration.as_secs()
    );
    let output = tokio::process::Command::new(&binary)
        .arg("--url")
        .arg(gateway)
        .arg("--users")
        .arg(options.users.to_string())
        .arg("--duration")
        .arg(format!("{}s", options.duration.as_secs().max(1)))
        .arg("--think")
        .arg("0")
        .arg("--quiet")
        .arg("--json")
        .arg(&json)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| BenchError::Loadgen {
            mode,
            detail: format!("{}: {e}", binary.display()),
        })?;
    if !output.status.success() {
        return Err(BenchError::Loadgen {
            mode,
            detail: String::from_utf8_lossy(&output.stderr).into_owned(),
        });
    }
    let text = std::fs::read_to_string(&json).map_err(|e| BenchError::Loadgen {
        mode,
        detail: e.to_string(),
    })?;
    serde_json::from_str(&text).map_err(|e| BenchError::Loadgen {
        mode,
        detail: e.to_string(),
    })
}

fn result(mode: &'static str, loadgen: Value, rss: f64, start_secs: f64) -> ModeResult {
    let total = &loadgen["total"];
    let ms = |k: &str| total["latencyMs"][k].as_f64().unwrap_or(f64::NAN);
    ModeResult {
        mode,
        ops_per_sec: total["throughput"].as_f64().unwrap_or(f64::NAN),
        p50_ms: ms("p50"),
        p90_ms: ms("p90"),
        p99_ms: ms("p99"),
        errors: total["errorCount"].as_u64().unwrap_or(0),
        operations: total["count"].as_u64().unwrap_or(0),
        services_rss_mib: rss,
        start_secs,
        loadgen,
    }
}

fn print(options: &RunModesOptions, results: &[ModeResult]) {
    println!();
    println!(
        "run modes: loadgen mix, {} users, no think time, {}s each, services RUST_LOG=warn",
        options.users,
        options.duration.as_secs()
    );
    println!(
        "  {:<16} {:>8} {:>9} {:>9} {:>9} {:>7} {:>12} {:>9}",
        "mode", "ops/s", "p50 ms", "p90 ms", "p99 ms", "errors", "services MiB", "start s"
    );
    for r in results {
        println!(
            "  {:<16} {:>8.0} {:>9.2} {:>9.2} {:>9.2} {:>7} {:>12.0} {:>9.1}",
            r.mode,
            r.ops_per_sec,
            r.p50_ms,
            r.p90_ms,
            r.p99_ms,
            r.errors,
            r.services_rss_mib,
            r.start_secs
        );
    }
}

/// A loadgen summary without figures is a failed run, not a zero.
pub fn check(results: &[ModeResult]) -> Result<(), EngineError> {
    for r in results {
        if r.operations == 0 || !r.ops_per_sec.is_finite() {
            return Err(failed(
                format!("the {} run", r.mode),
                "loadgen reported no operations",
            ));
        }
    }
    Ok(())
}
