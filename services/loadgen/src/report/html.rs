//! The HTML report: one self-contained page (inline CSS and SVG, no script, nothing fetched)
//! with the run's parameters, throughput over time, latency percentiles, p99 over time and the
//! errors. Pure: [`html`] turns a [`RunOutcome`] into a `String`; every text it did not write
//! itself is escaped.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use super::markup::escape;
use super::stop_reason;
use super::svg::{Line, LineChart};
use crate::mix::Operation;
use crate::run::{Limit, RunOutcome};
use crate::stats::Row;
use crate::timeline::{OpSeries, Point};

/// Inlined into the page: the report fetches nothing.
const STYLE: &str = include_str!("report.css");

/// The whole page.
pub fn html(outcome: &RunOutcome) -> String {
    let summary = &outcome.summary;
    let config = &outcome.config;
    let mut page = String::new();
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Load test {url} {start}</title><style>{STYLE}</style></head><body><main>",
        url = escape(config.url.as_str()),
        start = escape(&when(outcome.started_at)),
    );
    let _ = write!(
        page,
        "<h1>Load test report</h1><p class=\"sub\">{users} users against {url}, started {start}, \
         ran {elapsed:.1} s, stopped by {stop}</p>",
        users = config.users,
        url = escape(config.url.as_str()),
        start = escape(&when(outcome.started_at)),
        elapsed = summary.elapsed_seconds,
        stop = escape(stop_reason(outcome.stopped_by)),
    );

    parameters(&mut page, outcome);
    if summary.total.count == 0 {
        let _ = write!(
            page,
            "<section><h2>No traffic</h2><p class=\"empty\" id=\"no-traffic\">There was no \
             traffic: no mix operation finished during this run ({ready} of {users} users \
             logged in).</p>{cause}</section>",
            ready = outcome.users_ready,
            users = config.users,
            cause = outcome
                .first_setup_error
                .as_deref()
                .map(|e| format!("<p>First setup failure: {}</p>", escape(e)))
                .unwrap_or_default(),
        );
    } else {
        tiles(&mut page, &summary.total);
        throughput(&mut page, outcome);
        latency(&mut page, outcome);
        errors(&mut page, outcome);
    }
    let _ = writeln!(
        page,
        "<footer>Written by storefront-loadgen {} at {}.</footer></main></body></html>",
        env!("CARGO_PKG_VERSION"),
        escape(&when(outcome.ended_at)),
    );
    page
}

fn when(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn tiles(page: &mut String, total: &Row) {
    let error_share = share(total.error_count, total.count);
    let _ = write!(
        page,
        "<div class=\"tiles\">\
         <div class=\"tile\"><b>{count}</b><span>operations</span></div>\
         <div class=\"tile\"><b>{rate:.1}/s</b><span>throughput</span></div>\
         <div class=\"tile\"><b>{p99:.1} ms</b><span>p99 latency</span></div>\
         <div class=\"tile{bad}\"><b>{errors} ({error_share})</b><span>errors</span></div>\
         </div>",
        count = total.count,
        rate = total.throughput,
        p99 = total.latency_ms.p99,
        bad = if total.error_count > 0 { " bad" } else { "" },
        errors = total.error_count,
    );
}

fn share(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "0%".into();
    }
    format!("{:.1}%", part as f64 * 100.0 / whole as f64)
}

fn throughput(page: &mut String, outcome: &RunOutcome) {
    let timeline = &outcome.timeline;
    let mut lines: Vec<Line> = timeline
        .operations
        .iter()
        .map(|s| series_line(s, |p| Some(p.ops_per_second)))
        .collect();
    lines.push(Line {
        name: "total".into(),
        points: points(&timeline.total, |p| Some(p.ops_per_second)),
        colour: 0,
        is_total: true,
    });
    let chart = LineChart {
        id: "throughput".into(),
        title: "Throughput per operation and in total".into(),
        x_label: "seconds since the start".into(),
        y_label: "operations per second".into(),
        x_max: timeline.elapsed_seconds,
        lines,
    };
    let _ = write!(
        page,
        "<section><h2>Throughput</h2>{}{}</section>",
        chart.render(),
        bucket_note(outcome),
    );
}

fn bucket_note(outcome: &RunOutcome) -> String {
    let width = outcome.timeline.bucket_seconds;
    if width <= 1 {
        "<p class=\"note\">Every finished operation counts, expected answers and errors \
         included; one point per second, at its middle.</p>"
            .into()
    } else {
        format!(
            "<p class=\"note\">Every finished operation counts, expected answers and errors \
             included; one point per {width} seconds, as a run this long keeps wider buckets.</p>"
        )
    }
}

fn series_line(series: &OpSeries, value: impl Fn(&Point) -> Option<f64>) -> Line {
    Line {
        name: series.operation.name().into(),
        points: points(&series.points, value),
        colour: colour_of(series.operation),
        is_total: false,
    }
}

/// An operation's place in the report's order, so it has one colour in every chart.
fn colour_of(op: Operation) -> usize {
    Operation::MIXABLE
        .into_iter()
        .chain(Operation::SETUP)
        .position(|o| o == op)
        .unwrap_or(0)
}

fn points(points: &[Point], value: impl Fn(&Point) -> Option<f64>) -> Vec<(f64, Option<f64>)> {
    points.iter().map(|p| (p.at_seconds, value(p))).collect()
}

fn latency(page: &mut String, outcome: &RunOutcome) {
    let summary = &outcome.summary;
    page.push_str(
        "<section><h2>Latency</h2><table id=\"latency\"><thead><tr><th>operation</th>\
         <th>count</th><th>ok</th><th>expected</th><th>errors</th><th>ops/s</th>\
         <th>p50 ms</th><th>p90 ms</th><th>p99 ms</th><th>max ms</th><th>mean ms</th>\
         </tr></thead><tbody>",
    );
    for row in &summary.operations {
        latency_row(page, row, "");
    }
    latency_row(page, &summary.total, "total");
    for row in &summary.setup {
        latency_row(page, row, "setup");
    }
    page.push_str("</tbody></table>");
    let chart = LineChart {
        id: "p99".into(),
        title: "p99 latency per operation, second by second".into(),
        x_label: "seconds since the start".into(),
        y_label: "p99 latency (ms)".into(),
        x_max: outcome.timeline.elapsed_seconds,
        lines: outcome
            .timeline
            .operations
            .iter()
            .map(|s| series_line(s, |p| p.p99_ms))
            .collect(),
    };
    let _ = write!(
        page,
        "<h2>p99 over time</h2>{}<p class=\"note\">Setup steps (register, login) are in the \
         table only. A gap is a second in which the operation did not finish once.</p></section>",
        chart.render()
    );
}

fn latency_row(page: &mut String, row: &Row, class: &str) {
    let l = &row.latency_ms;
    let _ = write!(
        page,
        "<tr class=\"{class}\"><td>{name}</td><td>{count}</td><td>{ok}</td><td>{expected}</td>\
         <td>{errors}</td><td>{rate:.1}</td><td>{p50:.2}</td><td>{p90:.2}</td><td>{p99:.2}</td>\
         <td>{max:.2}</td><td>{mean:.2}</td></tr>",
        name = escape(&row.operation),
        count = row.count,
        ok = row.ok,
        expected = row.expected_count,
        errors = row.error_count,
        rate = row.throughput,
        p50 = l.p50,
        p90 = l.p90,
        p99 = l.p99,
        max = l.max,
        mean = l.mean,
    );
}

fn errors(page: &mut String, outcome: &RunOutcome) {
    let summary = &outcome.summary;
    let rows: Vec<&Row> = summary.operations.iter().chain(&summary.setup).collect();
    page.push_str("<section><h2>Errors</h2>");
    let total_errors: u64 = rows.iter().map(|r| r.error_count).sum();
    if total_errors == 0 {
        page.push_str("<p class=\"note\" id=\"no-errors\">No errors.</p>");
    } else {
        breakdown(page, "errors", &rows, |r| (&r.errors, r.count));
        let lines: Vec<Line> = outcome
            .timeline
            .operations
            .iter()
            .chain(&outcome.timeline.setup)
            .filter(|s| s.points.iter().any(|p| p.errors_per_second > 0.0))
            .map(|s| series_line(s, |p| Some(p.errors_per_second)))
            .collect();
        let chart = LineChart {
            id: "errors".into(),
            title: "Errors per second by operation".into(),
            x_label: "seconds since the start".into(),
            y_label: "errors per second".into(),
            x_max: outcome.timeline.elapsed_seconds,
            lines,
        };
        page.push_str(&chart.render());
    }
    let expected: u64 = rows.iter().map(|r| r.expected_count).sum();
    if expected > 0 {
        page.push_str(
            "<h2>Expected answers (not errors)</h2><p class=\"note\">402 declined card, 409 out \
             of stock, 429 rate limited: what a healthy shop answers under load.</p>",
        );
        breakdown(page, "expected", &rows, |r| (&r.expected, r.count));
    }
    page.push_str("</section>");
}

/// A table of `kind` by operation, with each one's share of the operation's count.
fn breakdown(
    page: &mut String,
    id: &str,
    rows: &[&Row],
    by: impl Fn(&Row) -> (&std::collections::BTreeMap<String, u64>, u64),
) {
    let _ = write!(
        page,
        "<table id=\"{id}\" class=\"breakdown\"><thead><tr><th>operation</th><th>kind</th>\
         <th>count</th><th>share of the operation</th></tr></thead><tbody>"
    );
    for row in rows {
        let (kinds, of) = by(row);
        for (kind, n) in kinds {
            let _ = write!(
                page,
                "<tr><td>{op}</td><td>{kind}</td><td>{n}</td><td>{share}</td></tr>",
                op = escape(&row.operation),
                kind = escape(kind),
                share = share(*n, of),
            );
        }
    }
    page.push_str("</tbody></table>");
}

fn parameters(page: &mut String, outcome: &RunOutcome) {
    let config = &outcome.config;
    let limit = match config.limit {
        Limit::Duration(d) => format!("{} s", d.as_secs_f64()),
        Limit::Requests(n) => format!("{n} mix operations"),
    };
    let think = format!(
        "{} ms mean, {}",
        config.think.mean().as_millis(),
        config.think.distribution()
    );
    let ready = format!("{} of {}", outcome.users_ready, config.users);
    let items: Vec<(&str, String)> = vec![
        ("target", config.url.to_string()),
        ("started", when(outcome.started_at)),
        ("ended", when(outcome.ended_at)),
        ("limit", limit),
        (
            "elapsed",
            format!("{:.1} s", outcome.summary.elapsed_seconds),
        ),
        ("stopped by", stop_reason(outcome.stopped_by).to_string()),
        ("virtual users (concurrency)", config.users.to_string()),
        ("users logged in", ready),
        ("think time", think),
        ("ramp-up", format!("{} s", config.ramp_up.as_secs_f64())),
        // Spaces after the commas let a long mix wrap between its entries.
        ("mix", config.mix.to_string().replace(',', ", ")),
        ("card", format!("…{}", config.card.last4())),
        (
            "request timeout",
            format!("{} s", config.request_timeout.as_secs_f64()),
        ),
        ("seed", config.seed.to_string()),
        ("run id", outcome.run_id.clone()),
        ("loadgen version", env!("CARGO_PKG_VERSION").to_string()),
    ];
    page.push_str("<section><h2>Run parameters</h2><dl id=\"parameters\">");
    for (name, value) in items {
        let _ = write!(page, "<dt>{}</dt><dd>{}</dd>", escape(name), escape(&value));
    }
    if let Some(error) = &outcome.first_setup_error {
        let _ = write!(
            page,
            "<dt>first setup failure</dt><dd>{}</dd>",
            escape(error)
        );
    }
    page.push_str("</dl></section>");
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::TimeZone;

    use super::*;
    use crate::mix::Mix;
    use crate::pacing::Think;
    use crate::run::{Config, StopReason};
    use crate::scenario::Card;
    use crate::stats::{Failure, Outcome, Stats, TransportKind};
    use crate::timeline::Timeline;

    /// A run of `seconds` in which each call of `each` may record one operation per 100 ms.
    fn run(seconds: u64, each: impl Fn(u64) -> Option<(Operation, Outcome)>) -> RunOutcome {
        let mut stats = Stats::default();
        let mut timeline = Timeline::default();
        for tenth in 0..seconds * 10 {
            if let Some((op, outcome)) = each(tenth) {
                let latency = Duration::from_millis(5 + tenth % 20);
                stats.record(op, outcome, latency);
                timeline.record(
                    Duration::from_millis(tenth * 100 + 50),
                    op,
                    outcome,
                    latency,
                );
            }
        }
        let elapsed = Duration::from_secs(seconds);
        let started_at = Utc.with_ymd_and_hms(2026, 3, 1, 9, 30, 0).unwrap();
        RunOutcome {
            config: Config {
                url: "http://127.0.0.1:8080".parse().unwrap(),
                users: 4,
                limit: Limit::Duration(elapsed),
                think: Think::Exponential(Duration::from_millis(100)),
                mix: Mix::default(),
                ramp_up: Duration::ZERO,
                seed: 7,
                card: Card {
                    number: "4242424242424242".into(),
                    exp_month: 12,
                    exp_year: 2030,
                    cvc: "123".into(),
                },
                request_timeout: Duration::from_secs(10),
                progress_every: None,
            },
            run_id: "r1".into(),
            started_at,
            ended_at: started_at + chrono::Duration::seconds(seconds as i64),
            stopped_by: StopReason::Duration,
            users_ready: 4,
            first_setup_error: None,
            summary: stats.summarize(elapsed),
            timeline: timeline.series(elapsed),
        }
    }

    fn busy(tenth: u64) -> Option<(Operation, Outcome)> {
        Some(match tenth % 5 {
            0 | 1 => (Operation::Browse, Outcome::Ok),
            2 => (Operation::ViewCart, Outcome::Ok),
            3 => (Operation::AddToCart, Outcome::from_status(409)),
            _ if tenth % 20 == 4 => (
                Operation::Checkout,
                Outcome::Failed(Failure::Transport(TransportKind::Timeout)),
            ),
            _ => (Operation::Checkout, Outcome::from_status(500)),
        })
    }

    /// The `<svg>` of one chart.
    fn chart<'a>(page: &'a str, id: &str) -> &'a str {
        let start = page
            .find(&format!(r#"data-chart="{id}""#))
            .unwrap_or_else(|| panic!("no {id} chart"));
        let end = start + page[start..].find("</svg>").unwrap();
        &page[start..end]
    }

    #[test]
    fn a_busy_run_has_every_chart_with_a_line_per_operation() {
        let page = html(&run(10, busy));
        assert!(page.starts_with("<!DOCTYPE html>") && page.trim_end().ends_with("</html>"));
        // one per mix operation and the total
        assert_eq!(
            chart(&page, "throughput")
                .matches(r#"class="series""#)
                .count(),
            5
        );
        assert!(chart(&page, "throughput").contains(r#"data-series="total""#));
        assert_eq!(chart(&page, "p99").matches(r#"class="series""#).count(), 4);
        // only checkout failed
        assert_eq!(
            chart(&page, "errors").matches(r#"class="series""#).count(),
            1
        );
        assert!(
            page.contains("<td>checkout</td><td>500</td><td>15</td><td>75.0%</td>"),
            "{page}"
        );
        assert!(page.contains("<td>checkout</td><td>timeout</td><td>5</td><td>25.0%</td>"));
        assert!(page.contains("<td>add_to_cart</td><td>409</td><td>20</td><td>100.0%</td>"));
        assert!(!page.contains("no-traffic"));
    }

    #[test]
    fn an_operation_has_the_same_colour_in_every_chart() {
        let page = html(&run(10, busy));
        let colour = |id: &str| {
            let svg = chart(&page, id);
            let at = svg.find(r#"data-series="checkout""#).unwrap();
            let stroke = &svg[at..].split(r#"stroke=""#).nth(1).unwrap()[..7];
            stroke.to_string()
        };
        assert_eq!(colour("errors"), colour("throughput"));
        assert_eq!(colour("p99"), colour("throughput"));
    }

    #[test]
    fn the_page_names_the_run_parameters_and_the_version() {
        let page = html(&run(3, busy));
        for text in [
            "<dt>target</dt><dd>http://127.0.0.1:8080/</dd>",
            "<dt>started</dt><dd>2026-03-01 09:30:00 UTC</dd>",
            "<dt>limit</dt><dd>3 s</dd>",
            "<dt>virtual users (concurrency)</dt><dd>4</dd>",
            "<dt>think time</dt><dd>100 ms mean, exponential</dd>",
            "<dt>seed</dt><dd>7</dd>",
        ] {
            assert!(page.contains(text), "{text} missing");
        }
        assert!(page.contains(&format!(
            "<dt>loadgen version</dt><dd>{}</dd>",
            env!("CARGO_PKG_VERSION")
        )));
        assert!(
            !page.contains("4242424242424242"),
            "the card number stays out"
        );
    }

    #[test]
    fn the_page_is_self_contained() {
        let page = html(&run(3, busy));
        for outside in ["<script", "<link", "src=", "@import", "url("] {
            assert!(!page.contains(outside), "{outside} in the page");
        }
        // The only address is the SVG namespace, which is a name, not a fetch.
        let addresses = page.matches("http://").count() + page.matches("https://").count();
        let named = page.matches("http://127.0.0.1:8080").count()
            + page.matches("http://www.w3.org/2000/svg").count();
        assert_eq!(addresses, named);
    }

    #[test]
    fn text_from_outside_is_escaped() {
        let mut outcome = run(0, |_| None);
        outcome.users_ready = 0;
        outcome.first_setup_error = Some("register <b>x</b>@example.test: \"failed\" & 503".into());
        outcome.config.url = "http://shop.test/a?<script>".parse().unwrap();
        let page = html(&outcome);
        assert!(
            !page.contains("<b>x</b>") && !page.contains("<script"),
            "{page}"
        );
        assert!(
            page.contains(
                "register &lt;b&gt;x&lt;/b&gt;@example.test: &quot;failed&quot; &amp; 503"
            )
        );
    }

    #[test]
    fn a_run_without_traffic_is_a_whole_page_that_says_so() {
        let mut outcome = run(2, |_| None);
        outcome.users_ready = 0;
        outcome.stopped_by = StopReason::NoUsers;
        let page = html(&outcome);
        assert!(page.starts_with("<!DOCTYPE html>") && page.contains("</html>"));
        assert!(page.contains("There was no traffic"), "{page}");
        assert!(page.contains("0 of 4 users logged in"));
        assert!(!page.contains("<svg"), "no empty charts");
        assert!(page.contains("<h2>Run parameters</h2>"));
        // Every element opened is closed, in order.
        let mut open = Vec::new();
        for tag in page.split('<').skip(1) {
            let name: String = tag
                .trim_start_matches('/')
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            if tag.starts_with('!') || matches!(name.as_str(), "meta") {
                continue;
            }
            if tag.starts_with('/') {
                assert_eq!(
                    open.pop().as_deref(),
                    Some(name.as_str()),
                    "unbalanced </{name}>"
                );
            } else {
                open.push(name);
            }
        }
        assert!(open.is_empty(), "left open: {open:?}");
    }

    #[test]
    fn a_run_without_errors_says_so_instead_of_an_empty_chart() {
        let page = html(&run(2, |_| Some((Operation::Browse, Outcome::Ok))));
        assert!(page.contains("No errors."));
        assert!(!page.contains(r#"data-chart="errors""#));
    }
}
