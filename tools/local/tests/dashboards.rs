//! The Grafana dashboards in `observability/dashboards/` against the real shop: every metric a
//! panel or an alert rule names is one the code exposes, and every panel of the shop overview
//! shows data in a real Prometheus scraping the local platform under traffic (loadgen plus a
//! paid and a declined checkout, a rate-limited burst and a breaker that opens and closes).
//!
//! Series only the operator or Istio produce cannot come from this platform: `storefront_*`
//! names are checked by the operator's own unit test against its metrics text
//! (`controller::metrics::tests::every_operator_series_the_dashboards_and_alerts_query_is_exposed`),
//! and the Istio series are listed in [`ISTIO_SERIES`].

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[path = "dashboards/prometheus.rs"]
mod prometheus;
#[path = "dashboards/promql.rs"]
mod promql;
mod support;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use storefront_local::platform::Platform;
use storefront_testkit::shop::{DECLINED_CARD, Shop, card};

const BOARDS: [&str; 3] = ["shop-overview.json", "operator.json", "canary.json"];

/// Istio's standard metrics, which only Envoy sidecars produce; the operator's canary analysis
/// (`operator/src/rollout/analysis.rs`) reads the same two.
const ISTIO_SERIES: [&str; 2] = [
    "istio_requests_total",
    "istio_request_duration_milliseconds_bucket",
];

/// Shop-overview panels whose value is 0 in a healthy shop: the test asserts they return data,
/// not that the data is above 0.
const ZERO_WHEN_HEALTHY: [(&str, &str); 4] = [
    (
        "Pending orders",
        "an order is pending only for the milliseconds of its checkout; the 5-second gauge \
         rarely sees one (orders' own tests pin a stuck order)",
    ),
    (
        "Oldest pending order (age)",
        "0 when no order is pending, as above",
    ),
    (
        "Order events not yet published",
        "the outbox relay publishes every 500 ms, so a healthy bus leaves nothing behind",
    ),
    (
        "Oldest unpublished order event (age)",
        "0 when nothing is unpublished, as above",
    ),
];

/// Metrics alert rules read whose series only appear with their first event (prometheus-client
/// writes nothing for a family without series), which this traffic does not cause.
const RULE_SERIES_FROM_FIRST_EVENT: [(&str, &str); 1] = [(
    "notifications_dead_lettered_total",
    "created by the first dead-lettered order event; services/notifications/tests (api.rs, \
     rabbitmq.rs) dead-letter one and read this series",
)];

struct PanelQuery {
    board: &'static str,
    panel: String,
    expr: String,
}

fn observability() -> std::path::PathBuf {
    support::workspace_root().join("observability")
}

fn board(name: &str) -> Value {
    let path = observability().join("dashboards").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name} is not JSON: {e}"))
}

fn panels(doc: &Value) -> Vec<&Value> {
    doc["panels"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["type"] != "row")
        .collect()
}

fn queries(name: &'static str) -> Vec<PanelQuery> {
    let doc = board(name);
    panels(&doc)
        .into_iter()
        .flat_map(|p| {
            let title = p["title"].as_str().unwrap_or_default().to_owned();
            p["targets"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(move |t| PanelQuery {
                    board: name,
                    panel: title.clone(),
                    expr: t["expr"].as_str().unwrap_or_default().to_owned(),
                })
        })
        .collect()
}

/// The alert and recording rules' expressions, and the names the recording rules define.
fn rules() -> (Vec<(String, String)>, BTreeSet<String>) {
    let path = observability().join("alerts/storefront.rules.yaml");
    let doc: Value = serde_norway::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut exprs = Vec::new();
    let mut recorded = BTreeSet::new();
    for group in doc["groups"].as_array().unwrap() {
        for rule in group["rules"].as_array().unwrap() {
            let name = rule["alert"].as_str().or(rule["record"].as_str()).unwrap();
            if let Some(record) = rule["record"].as_str() {
                recorded.insert(record.to_owned());
            }
            exprs.push((name.to_owned(), rule["expr"].as_str().unwrap().to_owned()));
        }
    }
    (exprs, recorded)
}

/// Grafana's variables as this test runs the queries: every namespace, a one-minute window.
fn substitute(expr: &str) -> String {
    expr.replace("$__rate_interval", "1m")
        .replace("$__interval", "15s")
        .replace("$__range", "5m")
        .replace("$namespace", ".*")
        .replace("$service", ".*")
}

fn is_operator_series(name: &str) -> bool {
    name.starts_with("storefront_")
}

#[test]
fn every_panel_has_a_title_a_description_and_the_templated_prometheus() {
    for name in BOARDS {
        let doc = board(name);
        assert_eq!(doc["schemaVersion"], 39, "{name}");
        let vars = doc["templating"]["list"].as_array().unwrap();
        assert!(
            vars.iter().any(|v| v["name"] == "DS_PROMETHEUS"
                && v["type"] == "datasource"
                && v["query"] == "prometheus"),
            "{name} has no DS_PROMETHEUS datasource variable"
        );
        for var in vars.iter().filter(|v| v["type"] == "query") {
            assert_eq!(
                var["allValue"], ".*",
                "{name}: {} must match series without the label",
                var["name"]
            );
        }
        let panels = panels(&doc);
        assert!(!panels.is_empty(), "{name}");
        for p in panels {
            let title = p["title"].as_str().unwrap_or_default();
            assert!(!title.is_empty(), "{name}: a panel without a title: {p}");
            let description = p["description"].as_str().unwrap_or_default();
            assert!(
                description.len() >= 80,
                "{name}: {title:?} needs a description that says what it shows and what to do"
            );
            assert_eq!(
                p["datasource"]["uid"], "${DS_PROMETHEUS}",
                "{name}: {title}"
            );
            let targets = p["targets"].as_array().unwrap();
            assert!(!targets.is_empty(), "{name}: {title} has no query");
            for t in targets {
                assert_eq!(
                    t["datasource"]["uid"], "${DS_PROMETHEUS}",
                    "{name}: {title}"
                );
                let expr = t["expr"].as_str().unwrap_or_default();
                assert!(
                    !expr.contains("namespace=\"") && !expr.contains("namespace=~\"$namespace|"),
                    "{name}: {title}: filter namespace with =~\"$namespace\" only: {expr}"
                );
            }
        }
    }
}

#[test]
fn the_operator_and_canary_dashboards_name_only_operator_and_istio_series() {
    let mut istio = BTreeSet::new();
    for name in ["operator.json", "canary.json"] {
        for q in queries(name) {
            for metric in promql::metric_names(&q.expr) {
                if metric.starts_with("istio_") {
                    istio.insert(metric.clone());
                }
                assert!(
                    is_operator_series(&metric) || ISTIO_SERIES.contains(&metric.as_str()),
                    "{}: {:?} names {metric}, which neither the operator nor Istio exposes",
                    q.board,
                    q.panel
                );
            }
        }
    }
    assert_eq!(
        istio,
        ISTIO_SERIES.iter().map(|s| s.to_string()).collect(),
        "the canary board compares the tracks with the series the canary analysis reads"
    );
}

/// The sample names in a Prometheus text exposition (prometheus-client writes nothing, not even
/// `# TYPE`, for a family without series).
fn sample_names(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.split(['{', ' ']).next())
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
        .collect()
}

fn now_unix() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Loadgen against the gateway, in the background: a few users browsing, filling carts and
/// paying with a good card.
fn start_loadgen(platform: &Platform, seconds: u64) -> std::process::Child {
    let log = std::fs::File::create(platform.log_dir.join("loadgen.log")).unwrap();
    let mut command = Command::new(support::bin_dir().join("storefront-loadgen"));
    command
        .args(["--url", platform.url("gateway").unwrap()])
        .args([
            "--users", "3", "--think", "150ms", "--quiet", "--seed", "15",
        ])
        .args(["--duration", &format!("{seconds}s")])
        .stdin(Stdio::null())
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log));
    storefront_testkit::spawn_tied_process(command, libc::SIGTERM)
        .unwrap_or_else(|e| panic!("storefront-loadgen: {e} (cargo build -p storefront-loadgen)"))
}

/// The traffic loadgen does not make: cache misses then hits, a paid and a declined checkout,
/// a burst the rate limiter refuses, and the catalog stopped until the breaker opens.
async fn shop_events(platform: &mut Platform, shop: &Shop) {
    for i in 0..3 {
        for _ in 0..3 {
            let (status, body) = shop
                .call(
                    Method::GET,
                    &format!("/api/products?q=dash-{i}"),
                    None,
                    None,
                    None,
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
    }
    eprintln!("  catalog reads: 3 misses then 6 hits");

    let token = shop.customer("paid@dashboards.test").await;
    let aeropress = shop.purchase(&token, 1, "dash-paid").await.product;
    eprintln!("  a paid checkout");

    let (status, body) = shop
        .call(
            Method::POST,
            "/api/orders",
            Some(&token),
            Some(json!({"items": [{"productId": aeropress["id"], "quantity": 1}], "payment": card(DECLINED_CARD)})),
            Some("dash-declined"),
        )
        .await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED, "{body}");
    eprintln!("  a declined checkout (its stock reservation is released)");

    let burst = shop.customer("burst@dashboards.test").await;
    let mut limited = 0;
    for _ in 0..80 {
        let (status, _) = shop
            .call(Method::GET, "/api/cart", Some(&burst), None, None)
            .await;
        limited += usize::from(status == StatusCode::TOO_MANY_REQUESTS);
    }
    assert!(
        limited > 0,
        "80 quick requests against a burst of 20 must hit the limit"
    );
    eprintln!("  a burst of 80 requests from one user: {limited} refused with 429");

    platform.stop_service("catalog").await;
    for i in 0..6 {
        let (status, body) = shop
            .call(
                Method::GET,
                &format!("/api/products?q=down-{i}"),
                None,
                None,
                None,
            )
            .await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    }
    // Long enough for several scrapes to see the breaker open.
    tokio::time::sleep(Duration::from_secs(3)).await;
    platform.restart_service("catalog").await.unwrap();
    let started = Instant::now();
    loop {
        let (status, _) = shop
            .call(Method::GET, "/api/products?q=up", None, None, None)
            .await;
        if status == StatusCode::OK {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the breaker should close once catalog is back"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!("  catalog stopped: the gateway's breaker opened, and closed once it was back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shop_overview_shows_data_from_a_real_shop_under_traffic() {
    let binary = match prometheus::binary() {
        Ok(binary) => binary,
        Err(missing) => {
            assert!(
                !prometheus::required(),
                "STOREFRONT_CLUSTER_TESTS=1 or CI=true, but {missing}"
            );
            eprintln!("SKIPPED (no Prometheus): {missing}");
            return;
        }
    };
    eprintln!("starting the platform");
    let mut platform = support::start_platform(
        "admin@dashboards.test",
        &[
            ("GATEWAY_RATE_LIMIT_IP", "500/s"),
            ("GATEWAY_RATE_LIMIT_BURST_IP", "1000"),
            ("GATEWAY_RATE_LIMIT_USER", "20/s"),
            ("GATEWAY_RATE_LIMIT_BURST_USER", "20"),
            ("GATEWAY_BREAKER_FAILURES", "3"),
            ("GATEWAY_BREAKER_OPEN", "1s"),
        ],
    )
    .await;
    let targets: Vec<(String, String)> = platform
        .services
        .iter()
        .map(|s| {
            let address = s.url.trim_start_matches("http://").to_owned();
            (s.name.to_owned(), address)
        })
        .collect();
    eprintln!(
        "starting {} scraping {} services",
        binary.display(),
        targets.len()
    );
    let prometheus = prometheus::Prometheus::start(&binary, &targets).await;
    prometheus
        .wait_targets_up(targets.len(), Duration::from_secs(60))
        .await;
    eprintln!("every target is up at {}", prometheus.url);

    let traffic_started = now_unix();
    let mut loadgen = start_loadgen(&platform, 25);
    eprintln!("loadgen runs for 25s; meanwhile:");
    let shop = Shop::new(platform.url("gateway").unwrap().to_string());
    shop_events(&mut platform, &shop).await;
    let status = tokio::task::spawn_blocking(move || loadgen.wait())
        .await
        .unwrap()
        .unwrap();
    let loadgen_log = std::fs::read_to_string(platform.log_dir.join("loadgen.log")).unwrap();
    eprintln!(
        "loadgen finished ({status}):\n{}",
        loadgen_log
            .lines()
            .rev()
            .take(12)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n")
    );
    // A few more scrapes after the last request.
    tokio::time::sleep(Duration::from_secs(3)).await;

    // (a) Every metric a shop-overview query or an alert rule names, in the services' own
    // `/metrics` answers.
    let http = reqwest::Client::new();
    let mut samples = BTreeSet::new();
    for service in &platform.services {
        let text = http
            .get(format!("{}/metrics", service.url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        samples.extend(sample_names(&text));
    }
    let overview = queries("shop-overview.json");
    let mut named = BTreeSet::new();
    for q in &overview {
        for metric in promql::metric_names(&q.expr) {
            assert!(
                samples.contains(&metric),
                "shop-overview {:?} names {metric}, which no service's /metrics shows",
                q.panel
            );
            named.insert(metric);
        }
    }
    eprintln!(
        "(a) all {} metrics the shop overview names are scraped: {named:?}",
        named.len()
    );
    let (rule_exprs, recorded) = rules();
    let from_first_event: BTreeMap<&str, &str> = RULE_SERIES_FROM_FIRST_EVENT.into_iter().collect();
    for (rule, expr) in &rule_exprs {
        for metric in promql::metric_names(expr) {
            if recorded.contains(&metric)
                || is_operator_series(&metric)
                || samples.contains(&metric)
            {
                continue;
            }
            if let Some(reason) = from_first_event.get(metric.as_str()) {
                eprintln!("(a) rule {rule}: {metric} not checked here: {reason}");
                continue;
            }
            panic!("rule {rule} reads {metric}, which no service's /metrics shows");
        }
    }
    eprintln!(
        "(a) every service metric the {} alert and recording rules read is scraped too",
        rule_exprs.len()
    );

    // (b) Every shop-overview query returns data from Prometheus, and the panels this traffic
    // moved show it.
    let exempt: BTreeMap<&str, &str> = ZERO_WHEN_HEALTHY.into_iter().collect();
    let mut empty = Vec::new();
    let mut with_data = 0;
    let mut panel_max: BTreeMap<String, f64> = BTreeMap::new();
    for q in &overview {
        let expr = substitute(&q.expr);
        let result = prometheus.query(&expr).await;
        if result.is_empty() {
            empty.push(format!("{:?}: {expr}", q.panel));
            continue;
        }
        with_data += 1;
        let max = prometheus
            .max_since(&expr, traffic_started)
            .await
            .unwrap_or(0.0);
        let entry = panel_max.entry(q.panel.clone()).or_insert(0.0);
        *entry = entry.max(max);
        eprintln!(
            "  {:<48} {} series, max {max:.3} since the traffic began",
            q.panel,
            result.len()
        );
    }
    eprintln!(
        "(b) {with_data} of {} shop-overview queries returned data",
        overview.len()
    );
    assert!(
        empty.is_empty(),
        "queries without data:\n{}",
        empty.join("\n")
    );
    let flat: Vec<&String> = panel_max
        .iter()
        .filter(|(panel, max)| **max <= 0.0 && !exempt.contains_key(panel.as_str()))
        .map(|(panel, _)| panel)
        .collect();
    assert!(
        flat.is_empty(),
        "panels that stayed at 0 although the traffic should move them: {flat:?}"
    );
    for (panel, reason) in ZERO_WHEN_HEALTHY {
        assert!(
            panel_max.contains_key(panel),
            "exempted panel {panel:?} is not on the board"
        );
        eprintln!("  may stay 0: {panel:?}: {reason}");
    }
    drop(prometheus);
    platform.stop().await;
}
