//! The HTML report as a browser reads it: a report rendered from a synthetic run is loaded from
//! a file by headless Chromium (`--dump-dom`), and the DOM it built must hold the three charts
//! as SVG (the parser kept `viewBox`'s case, which it does only inside SVG) with the expected
//! number of series, and the tables.
//!
//! Skips with a message when no Chromium is found, unless `CI=true` or
//! `STOREFRONT_BROWSER_TESTS=1`, where that is a failure. `STOREFRONT_CHROMIUM` names the binary.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use chrono::Utc;
use storefront_loadgen::mix::{Mix, Operation};
use storefront_loadgen::pacing::Think;
use storefront_loadgen::report;
use storefront_loadgen::scenario::Card;
use storefront_loadgen::stats::{Outcome, Stats};
use storefront_loadgen::timeline::Timeline;
use storefront_loadgen::{Config, Limit, RunOutcome, StopReason};

/// The first browser found: `STOREFRONT_CHROMIUM`, Debian's chromium, then Chrome (GitHub's
/// Ubuntu runners ship it).
fn chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("STOREFRONT_CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    [
        "/usr/bin/chromium",
        "/usr/bin/google-chrome",
        "/usr/bin/google-chrome-stable",
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|p| p.is_file())
}

fn required() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
        || std::env::var("STOREFRONT_BROWSER_TESTS").is_ok_and(|v| v == "1")
}

/// Twelve seconds of four operations, checkouts failing with a 500 one time in five.
fn synthetic_run() -> RunOutcome {
    let mut stats = Stats::default();
    let mut timeline = Timeline::default();
    let ops = [
        Operation::Browse,
        Operation::Browse,
        Operation::ViewCart,
        Operation::AddToCart,
        Operation::Checkout,
    ];
    for n in 0..1200u64 {
        let op = ops[(n % 5) as usize];
        let outcome = if op == Operation::Checkout && n % 25 == 4 {
            Outcome::from_status(500)
        } else {
            Outcome::Ok
        };
        let latency = Duration::from_millis(3 + (n * 7) % 40);
        stats.record(op, outcome, latency);
        timeline.record(Duration::from_millis(n * 10), op, outcome, latency);
    }
    let elapsed = Duration::from_secs(12);
    let started_at = Utc::now();
    RunOutcome {
        config: Config {
            url: "http://127.0.0.1:8080".parse().unwrap(),
            users: 8,
            limit: Limit::Duration(elapsed),
            think: Think::Exponential(Duration::from_millis(50)),
            mix: Mix::default(),
            ramp_up: Duration::ZERO,
            seed: 1,
            card: Card {
                number: "4242424242424242".into(),
                exp_month: 12,
                exp_year: 2030,
                cvc: "123".into(),
            },
            request_timeout: Duration::from_secs(10),
            progress_every: None,
        },
        run_id: "browser".into(),
        started_at,
        ended_at: started_at + chrono::Duration::seconds(12),
        stopped_by: StopReason::Duration,
        users_ready: 8,
        first_setup_error: None,
        summary: stats.summarize(elapsed),
        timeline: timeline.series(elapsed),
    }
}

/// The serialized `<svg>` element whose `data-chart` is `id`.
fn chart<'a>(dom: &'a str, id: &str) -> &'a str {
    let at = dom
        .find(&format!(r#"data-chart="{id}""#))
        .unwrap_or_else(|| panic!("no {id} chart in the DOM:\n{dom}"));
    let start = dom[..at].rfind("<svg").unwrap();
    let end = at + dom[at..].find("</svg>").unwrap();
    &dom[start..end]
}

#[test]
fn chromium_builds_the_report_charts_as_svg_with_a_series_per_operation() {
    let Some(browser) = chromium() else {
        assert!(
            !required(),
            "CI=true (or STOREFRONT_BROWSER_TESTS=1) but no Chromium: apt-get install -y chromium, \
             or set STOREFRONT_CHROMIUM"
        );
        println!(
            "SKIPPED html report browser test: no Chromium (apt-get install -y chromium, or set \
             STOREFRONT_CHROMIUM). Set CI=true to make this a failure."
        );
        return;
    };
    let dir = std::env::temp_dir().join(format!("loadgen-html-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let page = dir.join("report.html");
    std::fs::write(&page, report::html(&synthetic_run())).unwrap();

    let output = Command::new(&browser)
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", dir.join("profile").display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", browser.display()));
    let _ = std::fs::remove_dir_all(&dir);
    let dom = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && dom.contains("</html>"),
        "{} --dump-dom failed ({}):\n{}",
        browser.display(),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );

    let series = |id: &str| chart(&dom, id).matches(r#"class="series""#).count();
    // Four operations and the total; p99 per operation; only checkout had errors.
    assert_eq!(series("throughput"), 5);
    assert_eq!(series("p99"), 4);
    assert_eq!(series("errors"), 1);
    for id in ["throughput", "p99", "errors"] {
        // The HTML parser keeps an attribute's camel case only for elements it put in SVG.
        assert!(
            chart(&dom, id).contains(r#"viewBox="0 0 960 260""#),
            "{id} is not SVG in the DOM"
        );
    }
    assert_eq!(dom.matches("<svg").count(), 3);
    for table in [r#"id="latency""#, r#"id="errors""#, r#"id="parameters""#] {
        assert!(dom.contains(table), "{table} missing from the DOM");
    }
    assert!(!dom.contains("no-traffic"));
}
