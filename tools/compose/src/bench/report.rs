//! The run-mode benchmark's figures, pure: which modes there are, one row per mode (measured,
//! or skipped with the reason), the figures read from loadgen's JSON summary, the printed table
//! and the JSON document. Invariant: a figure loadgen did not report is NaN, never zero, and a
//! skipped mode always carries its reason.

use std::time::Duration;

use serde_json::{Value, json};

/// A way of running the shop that the benchmark knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `storefront-local`'s platform: every component a process on the host's loopback.
    Plain,
    /// The same processes, each in its own network namespace on tier bridges under nftables.
    Netns,
    /// `compose.yaml` from the offline images.
    Compose,
    /// The local Kubernetes cluster's real node, with the operator.
    Cluster,
}

impl Mode {
    pub const ALL: [Mode; 4] = [Mode::Plain, Mode::Netns, Mode::Compose, Mode::Cluster];

    /// The name on the command line (`--modes`).
    pub fn name(self) -> &'static str {
        match self {
            Mode::Plain => "plain",
            Mode::Netns => "netns",
            Mode::Compose => "compose",
            Mode::Cluster => "cluster",
        }
    }

    /// The name in the table.
    pub fn label(self) -> &'static str {
        match self {
            Mode::Plain => "plain processes",
            Mode::Netns => "netns",
            Mode::Compose => "Docker Compose",
            Mode::Cluster => "Kubernetes pods",
        }
    }

    pub fn parse(name: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|m| m.name() == name)
            .ok_or_else(|| {
                format!("{name:?} is not a run mode; use plain, netns, compose or cluster")
            })
    }
}

/// One measured mode's figures.
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

/// A mode's line in the table.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(untagged)]
pub enum Row {
    Measured(ModeResult),
    Skipped { mode: &'static str, skipped: String },
}

impl Row {
    pub fn skipped(mode: Mode, reason: impl Into<String>) -> Self {
        Row::Skipped {
            mode: mode.label(),
            skipped: reason.into(),
        }
    }
}

/// The figures of one loadgen run (`storefront-loadgen --json`) in `mode`.
pub fn result(mode: Mode, loadgen: Value, rss_mib: f64, start_secs: f64) -> ModeResult {
    let total = &loadgen["total"];
    let ms = |k: &str| total["latencyMs"][k].as_f64().unwrap_or(f64::NAN);
    ModeResult {
        mode: mode.label(),
        ops_per_sec: total["throughput"].as_f64().unwrap_or(f64::NAN),
        p50_ms: ms("p50"),
        p90_ms: ms("p90"),
        p99_ms: ms("p99"),
        errors: total["errorCount"].as_u64().unwrap_or(0),
        operations: total["count"].as_u64().unwrap_or(0),
        services_rss_mib: rss_mib,
        start_secs,
        loadgen,
    }
}

/// The table printed at the end of a run.
pub fn table(users: u32, duration: Duration, rows: &[Row]) -> String {
    let mut out = format!(
        "run modes: loadgen mix, {users} users, no think time, {}s each, services RUST_LOG=warn\n",
        duration.as_secs()
    );
    out.push_str(&format!(
        "  {:<16} {:>8} {:>9} {:>9} {:>9} {:>7} {:>12} {:>9}\n",
        "mode", "ops/s", "p50 ms", "p90 ms", "p99 ms", "errors", "services MiB", "start s"
    ));
    for row in rows {
        match row {
            Row::Measured(r) => out.push_str(&format!(
                "  {:<16} {:>8.0} {:>9.2} {:>9.2} {:>9.2} {:>7} {:>12.0} {:>9.1}\n",
                r.mode,
                r.ops_per_sec,
                r.p50_ms,
                r.p90_ms,
                r.p99_ms,
                r.errors,
                r.services_rss_mib,
                r.start_secs
            )),
            Row::Skipped { mode, skipped } => {
                out.push_str(&format!("  {mode:<16} skipped: {skipped}\n"));
            }
        }
    }
    out
}

/// The `--json` document.
pub fn document(users: u32, duration: Duration, rows: &[Row]) -> Value {
    json!({
        "users": users,
        "durationSeconds": duration.as_secs(),
        "modes": rows,
    })
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReportError {
    #[error("the {0} run: loadgen reported no operations; its log is in the summary above")]
    NoOperations(String),
    #[error(
        "no run mode could be measured here; each row above says why (install what it names, or run as root)"
    )]
    NothingMeasured,
}

/// A loadgen summary without figures is a failed run, not a zero; and a run where every mode
/// was skipped measured nothing.
pub fn check(rows: &[Row]) -> Result<(), ReportError> {
    let mut measured = 0;
    for row in rows {
        if let Row::Measured(r) = row {
            if r.operations == 0 || !r.ops_per_sec.is_finite() {
                return Err(ReportError::NoOperations(r.mode.to_owned()));
            }
            measured += 1;
        }
    }
    if measured == 0 {
        return Err(ReportError::NothingMeasured);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(throughput: f64, count: u64) -> Value {
        json!({"total": {"throughput": throughput, "count": count, "errorCount": 2,
               "latencyMs": {"p50": 1.5, "p90": 4.0, "p99": 12.25}}})
    }

    #[test]
    fn figures_come_from_loadgens_summary() {
        let r = result(Mode::Netns, summary(812.4, 16_248), 80.5, 6.25);
        assert_eq!(r.mode, "netns");
        assert_eq!((r.ops_per_sec, r.operations, r.errors), (812.4, 16_248, 2));
        assert_eq!((r.p50_ms, r.p90_ms, r.p99_ms), (1.5, 4.0, 12.25));
    }

    #[test]
    fn a_missing_figure_is_not_a_zero() {
        let r = result(Mode::Plain, json!({"total": {}}), 1.0, 1.0);
        assert!(r.ops_per_sec.is_nan() && r.p99_ms.is_nan());
        assert_eq!(
            check(&[Row::Measured(r)]),
            Err(ReportError::NoOperations("plain processes".into()))
        );
    }

    #[test]
    fn a_skipped_mode_says_why_in_the_table_and_the_json() {
        let rows = vec![
            Row::Measured(result(Mode::Plain, summary(745.0, 14_900), 79.0, 5.3)),
            Row::skipped(Mode::Netns, "must run as root"),
        ];
        let text = table(32, Duration::from_secs(20), &rows);
        assert!(text.contains("32 users"), "{text}");
        assert!(text.contains("plain processes       745"), "{text}");
        assert!(
            text.contains("netns            skipped: must run as root"),
            "{text}"
        );
        let doc = document(32, Duration::from_secs(20), &rows);
        assert_eq!(
            doc["modes"][1],
            json!({"mode": "netns", "skipped": "must run as root"})
        );
        assert_eq!(doc["modes"][0]["ops_per_sec"], 745.0);
        assert_eq!(check(&rows), Ok(()));
    }

    #[test]
    fn a_run_that_skipped_every_mode_measured_nothing() {
        let rows = vec![
            Row::skipped(Mode::Netns, "not root"),
            Row::skipped(Mode::Compose, "no engine"),
        ];
        assert_eq!(check(&rows), Err(ReportError::NothingMeasured));
    }

    #[test]
    fn modes_are_named_on_the_command_line_by_their_short_names() {
        for mode in Mode::ALL {
            assert_eq!(Mode::parse(mode.name()), Ok(mode));
        }
        assert!(Mode::parse("docker").is_err());
    }
}
