//! Rendering a finished run: the table for people, the JSON summary for machines and the HTML
//! report with charts (in [`html`]), all from the same [`RunOutcome`] so they never disagree.
//! Pure: strings out, the caller writes them.

pub mod html;
mod markup;
mod svg;

pub use html::html;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::mix::Mix;
use crate::run::{Limit, RunOutcome, StopReason};
use crate::stats::{Latency, Row};

/// The table: a header naming the run, one line per operation, the total, the setup steps, and
/// the expected answers and errors broken down by status.
pub fn table(outcome: &RunOutcome) -> String {
    let config = &outcome.config;
    let summary = &outcome.summary;
    let mut out = String::new();
    let limit = match config.limit {
        Limit::Duration(d) => format!("for {}s", d.as_secs_f64()),
        Limit::Requests(n) => format!("for {n} operations"),
    };
    let _ = writeln!(
        out,
        "storefront-loadgen: {} users against {} {limit}, mix {}, seed {}",
        config.users, config.url, config.mix, config.seed
    );
    let _ = writeln!(
        out,
        "ran {:.1}s, stopped by {}, {} of {} users logged in",
        summary.elapsed_seconds,
        stop_reason(outcome.stopped_by),
        outcome.users_ready,
        config.users
    );
    if let Some(error) = &outcome.first_setup_error {
        let _ = writeln!(out, "first setup failure: {error}");
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:<12} {:>8} {:>8} {:>8} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "operation",
        "count",
        "ok",
        "expected",
        "errors",
        "ops/s",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "max ms"
    );
    for row in &summary.operations {
        line(&mut out, row);
    }
    let _ = writeln!(out, "{}", "-".repeat(102));
    line(&mut out, &summary.total);
    for row in &summary.setup {
        line(&mut out, row);
    }
    breakdown(
        &mut out,
        "expected (not errors)",
        summary.operations.iter().chain(&summary.setup),
        |r| &r.expected,
    );
    breakdown(
        &mut out,
        "errors",
        summary.operations.iter().chain(&summary.setup),
        |r| &r.errors,
    );
    out
}

fn line(out: &mut String, row: &Row) {
    let Latency {
        p50, p90, p99, max, ..
    } = row.latency_ms;
    let _ = writeln!(
        out,
        "{:<12} {:>8} {:>8} {:>8} {:>8} {:>9.1} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
        row.operation,
        row.count,
        row.ok,
        row.expected_count,
        row.error_count,
        row.throughput,
        p50,
        p90,
        p99,
        max
    );
}

/// One line per operation that has any, e.g. `  checkout: 409 x12, 500 x1`.
fn breakdown<'a>(
    out: &mut String,
    title: &str,
    rows: impl IntoIterator<Item = &'a Row>,
    by: impl Fn(&Row) -> &BTreeMap<String, u64>,
) {
    let lines: Vec<String> = rows
        .into_iter()
        .filter(|row| !by(row).is_empty())
        .map(|row| {
            let parts: Vec<String> = by(row).iter().map(|(k, n)| format!("{k} x{n}")).collect();
            format!("  {}: {}", row.operation, parts.join(", "))
        })
        .collect();
    if !lines.is_empty() {
        let _ = writeln!(out, "\n{title}:");
        for l in lines {
            let _ = writeln!(out, "{l}");
        }
    }
}

fn stop_reason(reason: StopReason) -> &'static str {
    match reason {
        StopReason::Duration => "the duration",
        StopReason::Requests => "the request count",
        StopReason::Interrupted => "an interrupt (figures so far)",
        StopReason::NoUsers => "setup: no user could register and log in",
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonSummary<'a> {
    config: JsonConfig<'a>,
    run_id: &'a str,
    started_at: String,
    ended_at: String,
    elapsed_seconds: f64,
    stopped_by: StopReason,
    users_ready: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    first_setup_error: Option<&'a str>,
    operations: BTreeMap<&'a str, &'a Row>,
    total: &'a Row,
    setup: BTreeMap<&'a str, &'a Row>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonConfig<'a> {
    url: &'a str,
    users: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    duration_seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    requests: Option<u64>,
    think_ms: f64,
    think_distribution: &'static str,
    mix: &'a Mix,
    ramp_up_seconds: f64,
    seed: u64,
    card_last4: &'a str,
    request_timeout_seconds: f64,
}

/// The JSON summary: the configuration, start and end times, and the table's figures.
pub fn json(outcome: &RunOutcome) -> Result<String, serde_json::Error> {
    let config = &outcome.config;
    let summary = &outcome.summary;
    let document = JsonSummary {
        config: JsonConfig {
            url: config.url.as_str(),
            users: config.users,
            duration_seconds: match config.limit {
                Limit::Duration(d) => Some(d.as_secs_f64()),
                Limit::Requests(_) => None,
            },
            requests: match config.limit {
                Limit::Requests(n) => Some(n),
                Limit::Duration(_) => None,
            },
            think_ms: config.think.mean().as_secs_f64() * 1000.0,
            think_distribution: config.think.distribution(),
            mix: &config.mix,
            ramp_up_seconds: config.ramp_up.as_secs_f64(),
            seed: config.seed,
            card_last4: config.card.last4(),
            request_timeout_seconds: config.request_timeout.as_secs_f64(),
        },
        run_id: &outcome.run_id,
        started_at: timestamp(outcome.started_at),
        ended_at: timestamp(outcome.ended_at),
        elapsed_seconds: summary.elapsed_seconds,
        stopped_by: outcome.stopped_by,
        users_ready: outcome.users_ready,
        first_setup_error: outcome.first_setup_error.as_deref(),
        operations: summary
            .operations
            .iter()
            .map(|r| (r.operation.as_str(), r))
            .collect(),
        total: &summary.total,
        setup: summary
            .setup
            .iter()
            .map(|r| (r.operation.as_str(), r))
            .collect(),
    };
    serde_json::to_string_pretty(&document)
}

fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::TimeZone;

    use super::*;
    use crate::mix::Operation;
    use crate::pacing::Think;
    use crate::run::Config;
    use crate::scenario::Card;
    use crate::stats::{Outcome, Stats};
    use crate::timeline::Timeline;

    fn outcome() -> RunOutcome {
        let mut stats = Stats::default();
        for op in Operation::SETUP {
            stats.record(op, Outcome::Ok, Duration::from_millis(4));
        }
        for n in 1..=8 {
            stats.record(Operation::Browse, Outcome::Ok, Duration::from_millis(n));
        }
        stats.record(Operation::Checkout, Outcome::Ok, Duration::from_millis(20));
        stats.record(
            Operation::Checkout,
            Outcome::from_status(409),
            Duration::from_millis(30),
        );
        stats.record(
            Operation::Checkout,
            Outcome::from_status(500),
            Duration::from_millis(40),
        );
        let started_at = Utc.with_ymd_and_hms(2025, 5, 1, 12, 0, 0).unwrap();
        RunOutcome {
            config: Config {
                url: "http://127.0.0.1:8080".parse().unwrap(),
                users: 2,
                limit: Limit::Duration(Duration::from_secs(2)),
                think: Think::Exponential(Duration::from_millis(100)),
                mix: Mix::default(),
                ramp_up: Duration::ZERO,
                seed: 42,
                card: Card {
                    number: "4242424242424242".into(),
                    exp_month: 12,
                    exp_year: 2030,
                    cvc: "123".into(),
                },
                request_timeout: Duration::from_secs(10),
                progress_every: None,
            },
            run_id: "abc123".into(),
            started_at,
            ended_at: started_at + chrono::Duration::seconds(2),
            stopped_by: StopReason::Duration,
            users_ready: 2,
            first_setup_error: None,
            summary: stats.summarize(Duration::from_secs(2)),
            timeline: Timeline::default().series(Duration::from_secs(2)),
        }
    }

    #[test]
    fn table_has_a_line_per_operation_the_total_and_the_breakdowns() {
        let table = table(&outcome());
        let lines: Vec<&str> = table.lines().collect();
        let row = |name: &str| {
            lines
                .iter()
                .find(|l| l.split_whitespace().next() == Some(name))
                .map(|l| l.split_whitespace().collect::<Vec<_>>())
                .unwrap_or_else(|| panic!("no {name} line in\n{table}"))
        };
        assert_eq!(
            row("operation")[1..6],
            ["count", "ok", "expected", "errors", "ops/s"]
        );
        // count, ok, expected, errors, ops/s, p50, p90, p99, max
        assert_eq!(row("browse")[1..6], ["8", "8", "0", "0", "4.0"]);
        assert_eq!(row("browse")[6], "4.00");
        assert_eq!(row("browse")[9], "8.00");
        assert_eq!(row("checkout")[1..6], ["3", "1", "1", "1", "1.5"]);
        assert_eq!(row("total")[1..6], ["11", "9", "1", "1", "5.5"]);
        assert_eq!(row("register")[1], "1");
        assert!(
            !lines.iter().any(|l| l.starts_with("view_cart")),
            "operations that never ran have no line"
        );
        assert!(
            table.contains("expected (not errors):\n  checkout: 409 x1"),
            "{table}"
        );
        assert!(table.contains("errors:\n  checkout: 500 x1"), "{table}");
        assert!(
            table.contains("2 users against http://127.0.0.1:8080/ for 2s"),
            "{table}"
        );
        assert!(table.contains("stopped by the duration"), "{table}");
    }

    #[test]
    fn table_names_the_first_setup_failure() {
        let mut run = outcome();
        run.users_ready = 0;
        run.stopped_by = StopReason::NoUsers;
        run.first_setup_error = Some("register x@example.test: failed with 503".into());
        let table = table(&run);
        assert!(table.contains("0 of 2 users logged in"), "{table}");
        assert!(table.contains("first setup failure: register x@example.test: failed with 503"));
    }

    #[test]
    fn json_carries_the_configuration_times_and_figures() {
        let json: serde_json::Value = serde_json::from_str(&json(&outcome()).unwrap()).unwrap();
        assert_eq!(json["config"]["users"], 2);
        assert_eq!(json["config"]["durationSeconds"], 2.0);
        assert!(json["config"].get("requests").is_none());
        assert_eq!(json["config"]["mix"]["browse"], 10);
        assert_eq!(json["config"]["thinkDistribution"], "exponential");
        assert_eq!(json["config"]["cardLast4"], "4242");
        assert!(
            !json.to_string().contains("4242424242424242"),
            "the card number stays out"
        );
        assert_eq!(json["startedAt"], "2025-05-01T12:00:00.000Z");
        assert_eq!(json["endedAt"], "2025-05-01T12:00:02.000Z");
        assert_eq!(json["stoppedBy"], "duration");
        assert_eq!(json["operations"]["checkout"]["count"], 3);
        assert_eq!(json["operations"]["checkout"]["expected"]["409"], 1);
        assert_eq!(json["operations"]["checkout"]["errors"]["500"], 1);
        assert_eq!(json["operations"]["checkout"]["errorCount"], 1);
        assert_eq!(json["operations"]["browse"]["latencyMs"]["max"], 8.0);
        assert_eq!(json["total"]["count"], 11);
        assert_eq!(json["total"]["throughput"], 5.5);
        assert_eq!(json["setup"]["login"]["ok"], 1);
    }
}
