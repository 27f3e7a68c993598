//! The run-mode benchmark: the same loadgen mix (same users, no think time, same duration, same
//! release binaries) against the shop as plain processes and in network namespaces
//! (`storefront-local`'s platform, [`processes`]) and in Docker Compose ([`compose`]), one after
//! the other in one run. All get RUST_LOG=warn and the gateway's rate limits lifted, as
//! `bench-gateway` does. A mode that cannot run here (not root, a tool or the Docker engine
//! missing) is a row that says why instead of a failed run; the local Kubernetes cluster's row
//! always is (see [`CLUSTER_NOT_MEASURED`]).
//!
//! Invariant: the figures come from loadgen's own JSON summary of each run; nothing is assumed
//! ([`report`] reads them).

mod compose;
mod load;
mod processes;
pub mod report;

use std::path::PathBuf;
use std::time::Duration;

use storefront_local::platform;

use crate::engine::EngineError;
pub use report::{Mode, ModeResult, ReportError, Row, check};

/// Why the real-pod cluster has no figures from this command.
pub const CLUSTER_NOT_MEASURED: &str = "not measured by this command: the shop on the local cluster's real node needs the operator run beside the cluster, the Helm chart and the images imported into containerd, which only tools/cluster's real_shop test sets up (cargo test -p storefront-cluster --test real_shop)";

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
    /// Which modes, in this order.
    pub modes: Vec<Mode>,
    /// Images to run in Compose (`make images` built them).
    pub registry: String,
    pub version: String,
    pub json: Option<PathBuf>,
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

pub async fn run(options: RunModesOptions) -> Result<Vec<Row>, BenchError> {
    let work = std::env::temp_dir().join(format!(
        "storefront-bench-run-modes-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&work).map_err(|source| BenchError::Write {
        path: work.display().to_string(),
        source,
    })?;
    let mut rows = Vec::new();
    for mode in &options.modes {
        let row = match mode {
            Mode::Plain | Mode::Netns => processes::measure(&options, &work, *mode).await?,
            Mode::Compose => compose::measure(&options, &work).await?,
            Mode::Cluster => Row::skipped(*mode, CLUSTER_NOT_MEASURED),
        };
        if let Row::Skipped { mode, skipped } = &row {
            eprintln!("[bench] {mode}: skipped: {skipped}");
        }
        rows.push(row);
    }
    println!();
    print!("{}", report::table(options.users, options.duration, &rows));
    if let Some(path) = &options.json {
        let document = report::document(options.users, options.duration, &rows);
        let text = serde_json::to_string_pretty(&document).unwrap_or_default();
        std::fs::write(path, text).map_err(|source| BenchError::Write {
            path: path.display().to_string(),
            source,
        })?;
    }
    let _ = std::fs::remove_dir_all(&work);
    Ok(rows)
}
