//! The run over time: per operation, how many operations finished, how many failed and their
//! latencies, in buckets of one second from the run's start. Memory is bounded whatever the
//! run's length: past [`MAX_BUCKETS`] buckets, neighbours are merged and the width doubles.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::mix::Operation;
use crate::stats::Outcome;

/// At most this many buckets are kept: ten minutes at one second each, then 2 s, 4 s, ...
pub const MAX_BUCKETS: usize = 600;

/// Latencies over time only feed a chart: one significant digit keeps a bucket's histogram
/// under 2 KB where the run's own (three digits) takes about 190 KB.
const HIGHEST_MICROS: u64 = 3_600_000_000;
const SIGNIFICANT_DIGITS: u8 = 1;

/// A last bucket covering less than this share of its width is left off the series: a rate
/// over a few milliseconds says nothing.
const LAST_BUCKET_MIN_SHARE: f64 = 0.5;

#[derive(Debug, Clone)]
struct Cell {
    count: u64,
    errors: u64,
    latency_us: Histogram<u32>,
    /// Exact: with one digit the histogram's bucket edge can be 6% above the slowest one.
    max_us: u64,
}

impl Cell {
    #[expect(
        clippy::expect_used,
        reason = "the bounds are constants, not input: a refusal would be a bug that every test catches"
    )]
    fn new() -> Cell {
        Cell {
            count: 0,
            errors: 0,
            latency_us: Histogram::new_with_bounds(1, HIGHEST_MICROS, SIGNIFICANT_DIGITS)
                .expect("constant histogram bounds are valid"),
            max_us: 0,
        }
    }

    fn merge(&mut self, other: &Cell) {
        self.count += other.count;
        self.errors += other.errors;
        // Same bounds everywhere, so adding cannot run out of range.
        let _ = self.latency_us.add(&other.latency_us);
        self.max_us = self.max_us.max(other.max_us);
    }
}

type Bucket = BTreeMap<Operation, Cell>;

/// What each bucket of the run saw, filled as operations finish.
#[derive(Debug, Clone)]
pub struct Timeline {
    width_seconds: u64,
    /// Bucket `i` holds the operations that finished in `[i * width, (i + 1) * width)`.
    buckets: Vec<Bucket>,
}

impl Default for Timeline {
    fn default() -> Self {
        Timeline {
            width_seconds: 1,
            buckets: Vec::new(),
        }
    }
}

impl Timeline {
    /// Records an operation that finished `at` after the run's start.
    pub fn record(&mut self, at: Duration, op: Operation, outcome: Outcome, latency: Duration) {
        let mut index = self.index(at);
        while index >= MAX_BUCKETS {
            self.coarsen();
            index = self.index(at);
        }
        if self.buckets.len() <= index {
            self.buckets.resize_with(index + 1, Bucket::new);
        }
        let Some(bucket) = self.buckets.get_mut(index) else {
            return;
        };
        let cell = bucket.entry(op).or_insert_with(Cell::new);
        cell.count += 1;
        if outcome.is_failure() {
            cell.errors += 1;
        }
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        cell.latency_us
            .saturating_record(micros.clamp(1, HIGHEST_MICROS));
        cell.max_us = cell.max_us.max(micros);
    }

    pub fn width_seconds(&self) -> u64 {
        self.width_seconds
    }

    fn index(&self, at: Duration) -> usize {
        usize::try_from(at.as_secs() / self.width_seconds).unwrap_or(usize::MAX)
    }

    /// Doubles the width, merging each pair of buckets into one.
    fn coarsen(&mut self) {
        let old = std::mem::take(&mut self.buckets);
        self.width_seconds *= 2;
        for pair in old.chunks(2) {
            let mut merged = Bucket::new();
            for bucket in pair {
                for (op, cell) in bucket {
                    match merged.get_mut(op) {
                        Some(into) => into.merge(cell),
                        None => {
                            merged.insert(*op, cell.clone());
                        }
                    }
                }
            }
            self.buckets.push(merged);
        }
    }

    /// The chart's figures for a run that lasted `elapsed`: a point per bucket for every
    /// operation that ran (zero where it did not), and the total of the mix operations.
    pub fn series(&self, elapsed: Duration) -> Timeseries {
        // A run that went quiet long before its end has not widened its buckets by itself.
        if self.index(elapsed.saturating_sub(Duration::from_nanos(1))) >= MAX_BUCKETS {
            let mut wider = self.clone();
            while wider.index(elapsed.saturating_sub(Duration::from_nanos(1))) >= MAX_BUCKETS {
                wider.coarsen();
            }
            return wider.series(elapsed);
        }
        let width = self.width_seconds as f64;
        let elapsed_seconds = elapsed.as_secs_f64();
        // Every operation finished before the run's end was taken, so `elapsed` covers them all;
        // the max only guards against a caller's clock that disagrees.
        let count = ((elapsed_seconds / width).ceil() as usize)
            .max(self.buckets.len())
            .min(MAX_BUCKETS);
        let covered = elapsed_seconds.max(self.buckets.len() as f64 * width - width);
        let mut spans: Vec<(f64, f64)> = (0..count)
            .map(|i| {
                let start = i as f64 * width;
                (start, (covered - start).clamp(0.0, width))
            })
            .collect();
        while spans
            .last()
            .is_some_and(|(_, span)| *span < width * LAST_BUCKET_MIN_SHARE)
        {
            spans.pop();
        }
        let empty = Bucket::new();
        let buckets = || {
            spans
                .iter()
                .enumerate()
                .map(|(i, &span)| (span, self.buckets.get(i).unwrap_or(&empty)))
        };
        let ran = |op: &Operation| self.buckets.iter().any(|b| b.contains_key(op));
        let series_of = |op: Operation| OpSeries {
            operation: op,
            points: buckets()
                .map(|((start, span), bucket)| point(start, span, bucket.get(&op)))
                .collect(),
        };
        let total = buckets()
            .map(|((start, span), bucket)| {
                let mut sum: Option<Cell> = None;
                for cell in bucket
                    .iter()
                    .filter(|(op, _)| !op.is_setup())
                    .map(|(_, c)| c)
                {
                    match &mut sum {
                        Some(into) => into.merge(cell),
                        None => sum = Some(cell.clone()),
                    }
                }
                point(start, span, sum.as_ref())
            })
            .collect();
        Timeseries {
            bucket_seconds: self.width_seconds,
            elapsed_seconds,
            operations: Operation::MIXABLE
                .into_iter()
                .filter(ran)
                .map(series_of)
                .collect(),
            setup: Operation::SETUP
                .into_iter()
                .filter(ran)
                .map(series_of)
                .collect(),
            total,
        }
    }
}

fn point(start: f64, span: f64, cell: Option<&Cell>) -> Point {
    let per_second = |n: u64| if span > 0.0 { n as f64 / span } else { 0.0 };
    Point {
        at_seconds: start + span / 2.0,
        ops_per_second: cell.map_or(0.0, |c| per_second(c.count)),
        errors_per_second: cell.map_or(0.0, |c| per_second(c.errors)),
        p99_ms: cell
            .filter(|c| !c.latency_us.is_empty())
            .map(|c| c.latency_us.value_at_quantile(0.99).min(c.max_us) as f64 / 1000.0),
    }
}

/// The run over time, ready to draw.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Timeseries {
    /// Width of every bucket: 1 unless the run was longer than [`MAX_BUCKETS`] seconds.
    pub bucket_seconds: u64,
    pub elapsed_seconds: f64,
    /// The mix operations that ran, in report order.
    pub operations: Vec<OpSeries>,
    /// Register and login, when any ran.
    pub setup: Vec<OpSeries>,
    /// All mix operations together.
    pub total: Vec<Point>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OpSeries {
    pub operation: Operation,
    pub points: Vec<Point>,
}

/// One bucket of one series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// The middle of the part of the bucket the run covered, in seconds from the start.
    pub at_seconds: f64,
    pub ops_per_second: f64,
    pub errors_per_second: f64,
    /// `None` when nothing finished in the bucket.
    pub p99_ms: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::{Failure, TransportKind};

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[test]
    fn operations_land_in_the_second_they_finished() {
        let mut timeline = Timeline::default();
        for at in [0.1, 0.5, 0.9, 1.2, 2.7] {
            timeline.record(
                secs(at),
                Operation::Browse,
                Outcome::Ok,
                Duration::from_millis(10),
            );
        }
        timeline.record(
            secs(1.5),
            Operation::Checkout,
            Outcome::Failed(Failure::Status(500)),
            Duration::from_millis(200),
        );
        let series = timeline.series(secs(3.0));
        assert_eq!(series.bucket_seconds, 1);
        let browse = &series.operations[0];
        assert_eq!(browse.operation, Operation::Browse);
        let rates: Vec<f64> = browse.points.iter().map(|p| p.ops_per_second).collect();
        assert_eq!(rates, [3.0, 1.0, 1.0]);
        assert_eq!(browse.points[0].at_seconds, 0.5);
        let checkout = &series.operations[1];
        assert_eq!(checkout.points[0].p99_ms, None, "nothing finished then");
        assert_eq!(checkout.points[1].errors_per_second, 1.0);
        assert_eq!(
            checkout.points[1].p99_ms,
            Some(200.0),
            "capped at the slowest"
        );
        let total: Vec<f64> = series.total.iter().map(|p| p.ops_per_second).collect();
        assert_eq!(total, [3.0, 2.0, 1.0]);
    }

    #[test]
    fn a_short_last_bucket_is_left_off_and_a_longer_one_is_a_rate_over_its_part() {
        let mut timeline = Timeline::default();
        for at in [0.5, 1.5, 1.6, 2.1] {
            timeline.record(secs(at), Operation::Browse, Outcome::Ok, Duration::ZERO);
        }
        let short = timeline.series(secs(2.2));
        assert_eq!(short.total.len(), 2);
        let longer = timeline.series(secs(2.5));
        assert_eq!(longer.total.len(), 3);
        assert_eq!(longer.total[2].ops_per_second, 2.0);
        assert_eq!(longer.total[2].at_seconds, 2.25);
    }

    #[test]
    fn setup_steps_have_their_own_series_and_stay_out_of_the_total() {
        let mut timeline = Timeline::default();
        timeline.record(secs(0.2), Operation::Register, Outcome::Ok, Duration::ZERO);
        timeline.record(
            secs(0.3),
            Operation::Login,
            Outcome::Failed(Failure::Transport(TransportKind::Timeout)),
            Duration::ZERO,
        );
        let series = timeline.series(secs(1.0));
        assert!(series.operations.is_empty());
        assert_eq!(series.setup.len(), 2);
        assert_eq!(series.setup[1].points[0].errors_per_second, 1.0);
        assert_eq!(series.total[0].ops_per_second, 0.0);
    }

    #[test]
    fn a_long_run_keeps_at_most_max_buckets_by_widening_them() {
        let mut timeline = Timeline::default();
        let seconds = MAX_BUCKETS as u64 * 3;
        for s in 0..seconds {
            timeline.record(
                Duration::from_secs(s),
                Operation::ViewCart,
                Outcome::Ok,
                Duration::ZERO,
            );
        }
        assert_eq!(timeline.width_seconds(), 4);
        assert!(timeline.buckets.len() <= MAX_BUCKETS);
        let series = timeline.series(Duration::from_secs(seconds));
        assert_eq!(series.bucket_seconds, 4);
        let points = &series.operations[0].points;
        assert!(
            points.iter().all(|p| p.ops_per_second == 1.0),
            "one per second throughout"
        );
        let counted: f64 = points.iter().map(|p| p.ops_per_second * 4.0).sum();
        assert_eq!(counted, seconds as f64, "no operation lost in the merges");
    }

    #[test]
    fn quiet_seconds_at_the_end_are_zeros_up_to_the_run_end() {
        let mut timeline = Timeline::default();
        timeline.record(secs(0.5), Operation::Browse, Outcome::Ok, Duration::ZERO);
        let series = timeline.series(secs(4.0));
        let rates: Vec<f64> = series.operations[0]
            .points
            .iter()
            .map(|p| p.ops_per_second)
            .collect();
        assert_eq!(rates, [1.0, 0.0, 0.0, 0.0]);
    }

    #[test]
    fn an_empty_run_has_no_series_and_a_zero_total() {
        let series = Timeline::default().series(secs(2.0));
        assert!(series.operations.is_empty() && series.setup.is_empty());
        assert_eq!(series.total.len(), 2);
        assert!(series.total.iter().all(|p| p.ops_per_second == 0.0));
    }
}
