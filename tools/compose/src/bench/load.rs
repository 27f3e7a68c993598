//! What every mode shares: loadgen's full mix against a gateway URL (its JSON summary read
//! back), the services' memory, and the environment that lifts the gateway's rate limits.

use std::path::Path;
use std::process::Stdio;

use serde_json::Value;
use storefront_local::bench_gateway::UNLIMITED;
use storefront_local::procfs;

use super::{BenchError, RunModesOptions};

/// The gateway's limits lifted, as `bench-gateway` does: the benchmark measures the shop, not
/// its rate limiter.
pub(super) fn lifted_limits() -> Vec<(String, String)> {
    UNLIMITED
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Resident memory of `pids` together, MiB.
pub(super) fn rss_mib(pids: impl IntoIterator<Item = u32>) -> f64 {
    let kib: u64 = pids
        .into_iter()
        .filter_map(procfs::memory)
        .map(|m| m.rss_kib)
        .sum();
    kib as f64 / 1024.0
}

/// loadgen's full mix: `users` users, no think time, for the duration; its JSON summary.
pub(super) async fn loadgen(
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
