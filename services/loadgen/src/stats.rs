//! Outcome counts and latency histograms per operation, and the summary computed from them. Pure
//! and lock-free: every virtual user fills its own [`Stats`] and the run merges them at the end.
//! Expected business answers (402 declined, 409 conflict, 429 rate limited) are counted apart
//! from errors, which are transport failures and every other non-2xx status.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::mix::Operation;

/// Statuses a healthy shop answers under load: declined card, out of stock, rate limited.
pub const EXPECTED_STATUSES: [u16; 3] = [402, 409, 429];

/// Latencies are kept in microseconds from 1 µs to one hour with 3 significant digits.
const HIGHEST_MICROS: u64 = 3_600_000_000;
const SIGNIFICANT_DIGITS: u8 = 3;

/// Why a request never produced a status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TransportKind {
    Connect,
    Timeout,
    /// The status arrived but the body could not be read or was not the JSON expected.
    Body,
    Other,
}

impl TransportKind {
    pub const fn name(self) -> &'static str {
        match self {
            TransportKind::Connect => "connect",
            TransportKind::Timeout => "timeout",
            TransportKind::Body => "body",
            TransportKind::Other => "transport",
        }
    }
}

/// An error as the report lists it: by status code, or by the kind of transport failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Failure {
    Status(u16),
    Transport(TransportKind),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Status(code) => write!(f, "{code}"),
            Failure::Transport(kind) => f.write_str(kind.name()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// A business answer the shop is meant to give under load; not an error.
    Expected(u16),
    Failed(Failure),
}

impl Outcome {
    pub fn from_status(status: u16) -> Outcome {
        match status {
            200..=299 => Outcome::Ok,
            s if EXPECTED_STATUSES.contains(&s) => Outcome::Expected(s),
            s => Outcome::Failed(Failure::Status(s)),
        }
    }

    pub fn is_failure(self) -> bool {
        matches!(self, Outcome::Failed(_))
    }
}

/// Counts and latencies of one operation.
#[derive(Debug, Clone)]
pub struct OpStats {
    pub count: u64,
    pub ok: u64,
    pub expected: BTreeMap<u16, u64>,
    pub errors: BTreeMap<Failure, u64>,
    latency_us: Histogram<u64>,
    /// Exact, because the histogram rounds its maximum up to its bucket's edge.
    max_us: u64,
}

impl Default for OpStats {
    fn default() -> Self {
        OpStats {
            count: 0,
            ok: 0,
            expected: BTreeMap::new(),
            errors: BTreeMap::new(),
            latency_us: new_histogram(),
            max_us: 0,
        }
    }
}

#[expect(
    clippy::expect_used,
    reason = "the bounds are constants, not input: a refusal would be a bug that every test catches"
)]
fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HIGHEST_MICROS, SIGNIFICANT_DIGITS)
        .expect("constant histogram bounds are valid")
}

impl OpStats {
    /// Every finished operation is timed, whatever its outcome, so slow failures show up in the
    /// percentiles instead of hiding behind the successes.
    pub fn record(&mut self, outcome: Outcome, latency: Duration) {
        self.count += 1;
        match outcome {
            Outcome::Ok => self.ok += 1,
            Outcome::Expected(status) => *self.expected.entry(status).or_default() += 1,
            Outcome::Failed(failure) => *self.errors.entry(failure).or_default() += 1,
        }
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.latency_us
            .saturating_record(micros.clamp(1, HIGHEST_MICROS));
        self.max_us = self.max_us.max(micros);
    }

    pub fn merge(&mut self, other: &OpStats) {
        self.count += other.count;
        self.ok += other.ok;
        for (status, n) in &other.expected {
            *self.expected.entry(*status).or_default() += n;
        }
        for (failure, n) in &other.errors {
            *self.errors.entry(*failure).or_default() += n;
        }
        // Every histogram here has the same bounds, so adding cannot run out of range.
        let _ = self.latency_us.add(&other.latency_us);
        self.max_us = self.max_us.max(other.max_us);
    }

    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    pub fn expected_count(&self) -> u64 {
        self.expected.values().sum()
    }

    /// The latency at `quantile` (0..=1) in milliseconds; 0 when nothing was recorded. Never
    /// above the exact maximum, which the histogram's bucket edge can pass.
    pub fn quantile_ms(&self, quantile: f64) -> f64 {
        if self.latency_us.is_empty() {
            return 0.0;
        }
        micros_to_ms(self.latency_us.value_at_quantile(quantile).min(self.max_us))
    }

    pub fn max_ms(&self) -> f64 {
        micros_to_ms(self.max_us)
    }

    pub fn mean_ms(&self) -> f64 {
        if self.latency_us.is_empty() {
            return 0.0;
        }
        self.latency_us.mean() / 1000.0
    }
}

fn micros_to_ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

/// All operations of one virtual user, or of the whole run after merging.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    ops: BTreeMap<Operation, OpStats>,
}

impl Stats {
    pub fn record(&mut self, op: Operation, outcome: Outcome, latency: Duration) {
        self.ops.entry(op).or_default().record(outcome, latency);
    }

    pub fn merge(&mut self, other: &Stats) {
        for (op, stats) in &other.ops {
            self.ops.entry(*op).or_default().merge(stats);
        }
    }

    pub fn get(&self, op: Operation) -> Option<&OpStats> {
        self.ops.get(&op)
    }

    /// The report's figures. `elapsed` is the run's wall time, the divisor of every throughput.
    pub fn summarize(&self, elapsed: Duration) -> Summary {
        let seconds = elapsed.as_secs_f64();
        let row = |name: &str, stats: &OpStats| Row::new(name, stats, seconds);
        let mut total = OpStats::default();
        let mut operations = Vec::new();
        for op in Operation::MIXABLE {
            if let Some(stats) = self.ops.get(&op) {
                total.merge(stats);
                operations.push(row(op.name(), stats));
            }
        }
        let setup = Operation::SETUP
            .into_iter()
            .filter_map(|op| self.ops.get(&op).map(|stats| row(op.name(), stats)))
            .collect();
        Summary {
            elapsed_seconds: seconds,
            operations,
            total: row("total", &total),
            setup,
        }
    }
}

/// The figures of one report line.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Row {
    pub operation: String,
    pub count: u64,
    pub ok: u64,
    /// Expected business answers by status code ("409": 3).
    pub expected: BTreeMap<String, u64>,
    pub expected_count: u64,
    /// Errors by status code or transport failure kind ("500": 2, "timeout": 1).
    pub errors: BTreeMap<String, u64>,
    pub error_count: u64,
    /// Operations per second over the whole run.
    pub throughput: f64,
    pub latency_ms: Latency,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
}

impl Row {
    fn new(name: &str, stats: &OpStats, seconds: f64) -> Row {
        Row {
            operation: name.to_string(),
            count: stats.count,
            ok: stats.ok,
            expected: stats
                .expected
                .iter()
                .map(|(s, n)| (s.to_string(), *n))
                .collect(),
            expected_count: stats.expected_count(),
            errors: stats
                .errors
                .iter()
                .map(|(f, n)| (f.to_string(), *n))
                .collect(),
            error_count: stats.error_count(),
            throughput: if seconds > 0.0 {
                stats.count as f64 / seconds
            } else {
                0.0
            },
            latency_ms: Latency {
                p50: stats.quantile_ms(0.50),
                p90: stats.quantile_ms(0.90),
                p99: stats.quantile_ms(0.99),
                max: stats.max_ms(),
                mean: stats.mean_ms(),
            },
        }
    }
}

/// The run's figures: one row per mix operation that ran, their total, and the setup steps
/// (register, login), which are reported but left out of the total.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub elapsed_seconds: f64,
    pub operations: Vec<Row>,
    pub total: Row,
    pub setup: Vec<Row>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn statuses_are_classified_as_ok_expected_or_error() {
        assert_eq!(Outcome::from_status(200), Outcome::Ok);
        assert_eq!(Outcome::from_status(204), Outcome::Ok);
        for s in [402, 409, 429] {
            assert_eq!(Outcome::from_status(s), Outcome::Expected(s));
        }
        for s in [400, 401, 404, 422, 500, 503, 302] {
            assert_eq!(Outcome::from_status(s), Outcome::Failed(Failure::Status(s)));
        }
    }

    #[test]
    fn percentiles_of_one_to_a_hundred_milliseconds() {
        let mut stats = OpStats::default();
        for n in 1..=100 {
            stats.record(Outcome::Ok, ms(n));
        }
        // 3 significant digits: each value is within 0.1% of the exact one.
        let close = |got: f64, want: f64| (got - want).abs() <= want * 0.001 + 1e-9;
        assert!(
            close(stats.quantile_ms(0.5), 50.0),
            "{}",
            stats.quantile_ms(0.5)
        );
        assert!(
            close(stats.quantile_ms(0.9), 90.0),
            "{}",
            stats.quantile_ms(0.9)
        );
        assert!(
            close(stats.quantile_ms(0.99), 99.0),
            "{}",
            stats.quantile_ms(0.99)
        );
        assert_eq!(stats.max_ms(), 100.0);
        assert!(close(stats.mean_ms(), 50.5), "{}", stats.mean_ms());
    }

    #[test]
    fn microsecond_latencies_keep_their_precision() {
        let mut stats = OpStats::default();
        stats.record(Outcome::Ok, Duration::from_micros(1234));
        assert_eq!(stats.max_ms(), 1.234);
    }

    #[test]
    fn no_percentile_exceeds_the_maximum() {
        let mut stats = OpStats::default();
        stats.record(Outcome::Ok, Duration::from_micros(164_550));
        assert_eq!(stats.quantile_ms(0.99), 164.55);
        assert_eq!(stats.max_ms(), 164.55);
    }

    #[test]
    fn empty_stats_report_zero_latency() {
        let stats = OpStats::default();
        assert_eq!(stats.quantile_ms(0.99), 0.0);
        assert_eq!(stats.max_ms(), 0.0);
    }

    #[test]
    fn expected_answers_are_not_errors() {
        let mut stats = OpStats::default();
        stats.record(Outcome::from_status(201), ms(1));
        stats.record(Outcome::from_status(409), ms(1));
        stats.record(Outcome::from_status(409), ms(1));
        stats.record(Outcome::from_status(500), ms(1));
        stats.record(
            Outcome::Failed(Failure::Transport(TransportKind::Timeout)),
            ms(1),
        );
        assert_eq!(stats.count, 5);
        assert_eq!(stats.ok, 1);
        assert_eq!(stats.expected_count(), 2);
        assert_eq!(stats.error_count(), 2);
        assert_eq!(stats.errors[&Failure::Status(500)], 1);
        assert_eq!(stats.errors[&Failure::Transport(TransportKind::Timeout)], 1);
    }

    #[test]
    fn merging_adds_counts_and_histograms() {
        let mut a = Stats::default();
        let mut b = Stats::default();
        a.record(Operation::Browse, Outcome::Ok, ms(10));
        b.record(Operation::Browse, Outcome::from_status(503), ms(30));
        b.record(Operation::Checkout, Outcome::from_status(402), ms(20));
        a.merge(&b);
        let browse = a.get(Operation::Browse).unwrap();
        assert_eq!((browse.count, browse.ok, browse.error_count()), (2, 1, 1));
        assert_eq!(browse.max_ms(), 30.0);
        assert_eq!(a.get(Operation::Checkout).unwrap().expected[&402], 1);
    }

    #[test]
    fn summary_totals_the_mix_operations_but_not_setup() {
        let mut stats = Stats::default();
        stats.record(Operation::Register, Outcome::Ok, ms(5));
        stats.record(Operation::Login, Outcome::Ok, ms(5));
        for _ in 0..6 {
            stats.record(Operation::Browse, Outcome::Ok, ms(2));
        }
        stats.record(Operation::Checkout, Outcome::from_status(409), ms(8));
        stats.record(Operation::Checkout, Outcome::from_status(500), ms(8));
        let summary = stats.summarize(Duration::from_secs(2));
        let names: Vec<_> = summary
            .operations
            .iter()
            .map(|r| r.operation.as_str())
            .collect();
        assert_eq!(names, ["browse", "checkout"]);
        assert_eq!(summary.total.count, 8);
        assert_eq!(summary.total.ok, 6);
        assert_eq!(summary.total.expected["409"], 1);
        assert_eq!(summary.total.errors["500"], 1);
        assert_eq!(summary.total.throughput, 4.0);
        assert_eq!(summary.operations[0].throughput, 3.0);
        assert_eq!(summary.setup.len(), 2);
    }
}
