//! Runs the load generator against a small fake of the public API (an axum app on a random port)
//! that answers some checkouts 409 (out of stock) and some 500, and checks that the figures add
//! up, follow the mix, and count 409s as expected answers and 500s as errors; and that serve
//! mode becomes ready once the fake answers, reports what it drives on /metrics, logs in again
//! when its tokens are refused, and stops on SIGTERM.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use storefront_loadgen::mix::{Mix, Operation};
use storefront_loadgen::pacing::Think;
use storefront_loadgen::scenario::Card;
use storefront_loadgen::stats::Row;
use storefront_loadgen::{Config, Limit, ServeConfig, StopReason, run, serve};

#[derive(Default)]
struct Counters {
    register: AtomicU64,
    login: AtomicU64,
    list: AtomicU64,
    detail: AtomicU64,
    cart_view: AtomicU64,
    cart_add: AtomicU64,
    cart_clear: AtomicU64,
    orders: AtomicU64,
    orders_409: AtomicU64,
    orders_500: AtomicU64,
    /// Checkouts that found the cart empty: the generator must fill it first, so this stays 0.
    orders_empty_cart: AtomicU64,
}

#[derive(Default)]
struct Fake {
    counters: Counters,
    /// Units in each user's cart, by bearer token.
    carts: Mutex<HashMap<String, u64>>,
    refuse_registration: AtomicBool,
    /// This many registrations are answered 429 first, as the gateway's per-IP limit would.
    rate_limited_registrations: AtomicU64,
    /// Tokens from logins numbered below this are refused (401), as expired JWTs are.
    valid_from_login: AtomicU64,
    /// Product listings that came without `x-canary: always`.
    lists_without_canary_header: AtomicU64,
}

type Shared = Arc<Fake>;

const PRODUCTS: [(&str, &str, &str); 4] = [
    ("p1", "Wool Socks", "apparel"),
    ("p2", "Chef Knife", "kitchen"),
    ("p3", "Coffee Grinder", "kitchen"),
    ("p4", "Rain Jacket", "apparel"),
];

fn product(id: &str, name: &str, category: &str) -> Value {
    json!({"id": id, "name": name, "category": category, "description": "",
           "price": {"amount": 1000, "currency": "USD"}})
}

fn error(status: StatusCode, code: &str) -> Response {
    (
        status,
        Json(json!({"error": {"code": code, "message": code}})),
    )
        .into_response()
}

fn token(headers: &HeaderMap) -> Option<String> {
    headers
        .get("authorization")?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::to_string)
}

fn cart_body(units: u64) -> Json<Value> {
    Json(json!({"items": [], "itemCount": units, "total": {"amount": 0, "currency": "USD"}}))
}

async fn register(State(fake): State<Shared>, Json(body): Json<Value>) -> Response {
    fake.counters.register.fetch_add(1, Ordering::SeqCst);
    if fake.refuse_registration.load(Ordering::SeqCst) {
        return error(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    }
    let limited =
        fake.rate_limited_registrations
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
    if limited.is_ok() {
        let mut response = error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
        response
            .headers_mut()
            .insert("retry-after", axum::http::HeaderValue::from_static("0"));
        return response;
    }
    (
        StatusCode::CREATED,
        Json(json!({"id": "u", "email": body["email"]})),
    )
        .into_response()
}

async fn login(State(fake): State<Shared>, Json(body): Json<Value>) -> Response {
    let n = fake.counters.login.fetch_add(1, Ordering::SeqCst);
    let email = body["email"].as_str().unwrap_or_default();
    Json(json!({"token": format!("t-{email}-{n}"), "expiresAt": "", "user": {}})).into_response()
}

/// Whether a token is still accepted: the login it came from is not below `valid_from_login`.
fn accepted(fake: &Fake, token: &str) -> bool {
    let login = token
        .rsplit('-')
        .next()
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0);
    login >= fake.valid_from_login.load(Ordering::SeqCst)
}

async fn list(State(fake): State<Shared>, headers: HeaderMap) -> Response {
    fake.counters.list.fetch_add(1, Ordering::SeqCst);
    if headers.get("x-canary").is_none_or(|v| v != "always") {
        fake.lists_without_canary_header
            .fetch_add(1, Ordering::SeqCst);
    }
    let items: Vec<Value> = PRODUCTS.iter().map(|(i, n, c)| product(i, n, c)).collect();
    Json(json!({"items": items, "total": 4, "page": 1, "pageSize": 20})).into_response()
}

async fn detail(State(fake): State<Shared>, Path(id): Path<String>) -> Response {
    fake.counters.detail.fetch_add(1, Ordering::SeqCst);
    match PRODUCTS.iter().find(|(i, _, _)| *i == id) {
        Some((i, n, c)) => Json(product(i, n, c)).into_response(),
        None => error(StatusCode::NOT_FOUND, "not_found"),
    }
}

async fn view_cart(State(fake): State<Shared>, headers: HeaderMap) -> Response {
    fake.counters.cart_view.fetch_add(1, Ordering::SeqCst);
    let Some(user) = token(&headers).filter(|t| accepted(&fake, t)) else {
        return error(StatusCode::UNAUTHORIZED, "unauthorized");
    };
    let units = fake.carts.lock().unwrap().get(&user).copied().unwrap_or(0);
    cart_body(units).into_response()
}

async fn add_item(
    State(fake): State<Shared>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    fake.counters.cart_add.fetch_add(1, Ordering::SeqCst);
    let Some(user) = token(&headers) else {
        return error(StatusCode::UNAUTHORIZED, "unauthorized");
    };
    let quantity = body["quantity"].as_u64().unwrap_or(0);
    if !(1..=2).contains(&quantity) || !PRODUCTS.iter().any(|(i, _, _)| body["productId"] == *i) {
        return error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    }
    let mut carts = fake.carts.lock().unwrap();
    let units = carts.entry(user).or_default();
    *units += quantity;
    cart_body(*units).into_response()
}

async fn clear_cart(State(fake): State<Shared>, headers: HeaderMap) -> Response {
    fake.counters.cart_clear.fetch_add(1, Ordering::SeqCst);
    if let Some(user) = token(&headers) {
        fake.carts.lock().unwrap().remove(&user);
    }
    StatusCode::NO_CONTENT.into_response()
}

/// Every 4th checkout is out of stock (409) and every 7th fails (500); the rest are paid.
async fn checkout(
    State(fake): State<Shared>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let n = fake.counters.orders.fetch_add(1, Ordering::SeqCst);
    let Some(user) = token(&headers) else {
        return error(StatusCode::UNAUTHORIZED, "unauthorized");
    };
    if headers.get("idempotency-key").is_none()
        || body["payment"]["cardNumber"] != "4242424242424242"
    {
        return error(StatusCode::BAD_REQUEST, "bad_request");
    }
    let mut carts = fake.carts.lock().unwrap();
    if carts.get(&user).copied().unwrap_or(0) == 0 {
        fake.counters
            .orders_empty_cart
            .fetch_add(1, Ordering::SeqCst);
        return error(StatusCode::UNPROCESSABLE_ENTITY, "cart_empty");
    }
    if n % 4 == 1 {
        fake.counters.orders_409.fetch_add(1, Ordering::SeqCst);
        return error(StatusCode::CONFLICT, "out_of_stock");
    }
    if n % 7 == 3 {
        fake.counters.orders_500.fetch_add(1, Ordering::SeqCst);
        return error(StatusCode::INTERNAL_SERVER_ERROR, "internal");
    }
    carts.remove(&user);
    (
        StatusCode::CREATED,
        Json(json!({"id": n, "status": "paid"})),
    )
        .into_response()
}

async fn start_fake() -> (SocketAddr, Shared) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    start_fake_on(listener)
}

fn start_fake_on(listener: tokio::net::TcpListener) -> (SocketAddr, Shared) {
    let fake = Shared::default();
    let app = Router::new()
        .route("/api/users/register", post(register))
        .route("/api/users/login", post(login))
        .route("/api/products", get(list))
        .route("/api/products/{id}", get(detail))
        .route("/api/cart", get(view_cart).delete(clear_cart))
        .route("/api/cart/items", post(add_item))
        .route("/api/orders", post(checkout))
        .with_state(Arc::clone(&fake));
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, fake)
}

fn config(addr: SocketAddr, users: u32, limit: Limit) -> Config {
    Config {
        url: format!("http://{addr}").parse().unwrap(),
        users,
        limit,
        think: Think::Exponential(Duration::from_millis(2)),
        mix: Mix::default(),
        ramp_up: Duration::ZERO,
        seed: 1,
        card: Card {
            number: "4242424242424242".into(),
            exp_month: 12,
            exp_year: 2099,
            cvc: "123".into(),
        },
        request_timeout: Duration::from_secs(5),
        progress_every: None,
    }
}

fn count(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::SeqCst)
}

fn assert_rows_add_up(rows: &[Row], total: &Row) {
    for row in rows.iter().chain([total]) {
        assert_eq!(
            row.count,
            row.ok + row.expected_count + row.error_count,
            "{}",
            row.operation
        );
        assert_eq!(row.expected_count, row.expected.values().sum::<u64>());
        assert_eq!(row.error_count, row.errors.values().sum::<u64>());
    }
    assert_eq!(total.count, rows.iter().map(|r| r.count).sum::<u64>());
    assert_eq!(total.ok, rows.iter().map(|r| r.ok).sum::<u64>());
    assert_eq!(
        total.error_count,
        rows.iter().map(|r| r.error_count).sum::<u64>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_run_counts_409_as_expected_and_500_as_errors() {
    let (addr, fake) = start_fake().await;
    let limit = Limit::Duration(Duration::from_secs(2));
    let outcome = run(config(addr, 4, limit), std::future::pending())
        .await
        .unwrap();
    let c = &fake.counters;
    let summary = &outcome.summary;
    let row = |op: Operation| {
        summary
            .operations
            .iter()
            .find(|r| r.operation == op.name())
            .unwrap_or_else(|| panic!("no {op} row"))
    };

    assert_eq!(outcome.stopped_by, StopReason::Duration);
    assert_eq!(outcome.users_ready, 4);
    assert!(
        (1.9..3.0).contains(&summary.elapsed_seconds),
        "{}",
        summary.elapsed_seconds
    );
    assert_eq!((count(&c.register), count(&c.login)), (4, 4));
    assert_eq!(
        summary.setup.iter().map(|r| r.ok).collect::<Vec<_>>(),
        [4, 4]
    );
    assert_rows_add_up(&summary.operations, &summary.total);
    assert!(
        summary.total.count > 200,
        "too few operations: {}",
        summary.total.count
    );

    // Every request the fake served is in the figures: nothing is lost at the deadline.
    // (The discovery listing before the run is the one list request that is not a browse.)
    assert_eq!(row(Operation::Browse).count + 1, count(&c.list));
    assert_eq!(row(Operation::ViewCart).count, count(&c.cart_view));
    assert_eq!(row(Operation::Checkout).count, count(&c.orders));
    assert!(count(&c.detail) > 0, "browses sometimes open a product");
    assert_eq!(
        count(&c.orders_empty_cart),
        0,
        "a checkout fills an empty cart first"
    );

    let checkout = row(Operation::Checkout);
    assert!(count(&c.orders_409) > 0 && count(&c.orders_500) > 0);
    assert_eq!(
        checkout.expected,
        [("409".to_string(), count(&c.orders_409))].into()
    );
    assert_eq!(
        checkout.errors,
        [("500".to_string(), count(&c.orders_500))].into()
    );
    assert_eq!(
        summary.total.error_count,
        count(&c.orders_500),
        "only the 500s are errors"
    );
    assert_eq!(
        count(&c.cart_clear),
        count(&c.orders_409),
        "an out-of-stock cart is cleared"
    );

    let total = summary.total.count as f64;
    for op in Operation::MIXABLE {
        let share = row(op).count as f64 / total;
        let expected = Mix::default().share(op);
        assert!(
            (share - expected).abs() < 0.08,
            "{op}: {share:.3} vs {expected:.3}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_limited_run_performs_exactly_that_many_operations() {
    let (addr, fake) = start_fake().await;
    let outcome = run(
        config(addr, 3, Limit::Requests(150)),
        std::future::pending(),
    )
    .await
    .unwrap();
    assert_eq!(outcome.stopped_by, StopReason::Requests);
    assert_eq!(outcome.summary.total.count, 150);
    assert_rows_add_up(&outcome.summary.operations, &outcome.summary.total);
    assert_eq!(count(&fake.counters.register), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupt_stops_the_run_with_the_figures_so_far() {
    let (addr, _fake) = start_fake().await;
    let limit = Limit::Duration(Duration::from_secs(60));
    let started = std::time::Instant::now();
    let interrupt = tokio::time::sleep(Duration::from_millis(500));
    let outcome = run(config(addr, 3, limit), interrupt).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(outcome.stopped_by, StopReason::Interrupted);
    assert!(outcome.summary.total.count > 0);
    assert_rows_add_up(&outcome.summary.operations, &outcome.summary.total);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_that_cannot_register_end_the_run_as_a_setup_failure() {
    let (addr, fake) = start_fake().await;
    fake.refuse_registration.store(true, Ordering::SeqCst);
    let limit = Limit::Duration(Duration::from_secs(30));
    let outcome = run(config(addr, 2, limit), std::future::pending())
        .await
        .unwrap();
    assert_eq!(outcome.stopped_by, StopReason::NoUsers);
    assert_eq!(outcome.users_ready, 0);
    assert_eq!(outcome.summary.total.count, 0);
    assert_eq!(outcome.summary.setup[0].errors["503"], 2);
    let reason = outcome.first_setup_error.unwrap();
    assert!(
        reason.contains("register loadgen-") && reason.contains("503"),
        "{reason}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limited_registrations_are_retried_and_reported_as_expected() {
    let (addr, fake) = start_fake().await;
    fake.rate_limited_registrations.store(3, Ordering::SeqCst);
    let outcome = run(config(addr, 2, Limit::Requests(20)), std::future::pending())
        .await
        .unwrap();
    assert_eq!(outcome.users_ready, 2);
    assert_eq!(outcome.summary.total.count, 20);
    let register = &outcome.summary.setup[0];
    assert_eq!(register.operation, "register");
    assert_eq!((register.count, register.ok), (5, 2));
    assert_eq!(register.expected["429"], 3);
    assert_eq!(register.error_count, 0);
}

const BIN: &str = env!("CARGO_BIN_EXE_storefront-loadgen");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_writes_a_table_and_a_json_summary_that_agree_with_the_server() {
    let (addr, fake) = start_fake().await;
    let dir = std::env::temp_dir().join(format!("loadgen-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let json_path = dir.join("summary.json");
    let output = tokio::process::Command::new(BIN)
        .args([
            "--users",
            "3",
            "--duration",
            "2s",
            "--think",
            "2ms",
            "--seed",
            "5",
        ])
        .arg("--json")
        .arg(&json_path)
        .env("LOADGEN_URL", format!("http://{addr}"))
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "exit {:?}\n{stdout}\n{stderr}",
        output.status
    );
    assert!(stdout.contains("stopped by the duration"), "{stdout}");
    assert!(
        stdout.lines().any(|l| l.starts_with("checkout ")),
        "{stdout}"
    );
    assert!(stdout.contains("expected (not errors):"), "{stdout}");

    let json: Value = serde_json::from_slice(&std::fs::read(&json_path).unwrap()).unwrap();
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(json["config"]["users"], 3);
    assert_eq!(json["config"]["seed"], 5);
    assert_eq!(json["config"]["url"], format!("http://{addr}/"));
    assert_eq!(json["stoppedBy"], "duration");
    assert!(json["startedAt"].as_str().unwrap() < json["endedAt"].as_str().unwrap());
    let ops = json["operations"].as_object().unwrap();
    let sum: u64 = ops.values().map(|r| r["count"].as_u64().unwrap()).sum();
    assert_eq!(json["total"]["count"].as_u64().unwrap(), sum);
    let c = &fake.counters;
    assert_eq!(json["operations"]["checkout"]["count"], count(&c.orders));
    assert_eq!(json["total"]["errorCount"], count(&c.orders_500));
    assert_eq!(json["total"]["expected"]["409"], count(&c.orders_409));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_writes_an_html_report_whose_errors_agree_with_the_server() {
    let (addr, fake) = start_fake().await;
    let dir = std::env::temp_dir().join(format!("loadgen-html-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let html_path = dir.join("report.html");
    let output = tokio::process::Command::new(BIN)
        .args([
            "--users",
            "3",
            "--duration",
            "2s",
            "--think",
            "2ms",
            "--quiet",
        ])
        .arg("--html")
        .arg(&html_path)
        .env("LOADGEN_URL", format!("http://{addr}"))
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "exit {:?}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let page = std::fs::read_to_string(&html_path).unwrap();
    std::fs::remove_dir_all(&dir).ok();
    for chart in ["throughput", "p99"] {
        assert!(
            page.contains(&format!(r#"data-chart="{chart}""#)),
            "no {chart} chart"
        );
    }
    assert!(page.contains(&format!("<dd>http://{addr}/</dd>")));
    let errors = count(&fake.counters.orders_500);
    assert!(errors > 0, "the fake answers every seventh order 500");
    assert!(page.contains(r#"data-chart="errors""#));
    assert!(
        page.contains(&format!("<td>checkout</td><td>500</td><td>{errors}</td>")),
        "{errors} checkouts answered 500; the report says otherwise"
    );
}

#[tokio::test]
async fn the_binary_exits_1_naming_the_url_when_the_platform_is_unreachable() {
    // A port that was just free: nothing listens there.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let html =
        std::env::temp_dir().join(format!("loadgen-unreachable-{}.html", std::process::id()));
    let output = tokio::process::Command::new(BIN)
        .args(["--url", &format!("http://{addr}"), "--duration", "1s"])
        .arg("--html")
        .arg(&html)
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        !html.exists(),
        "a run that never started leaves no report behind"
    );
    assert!(
        stderr.contains(&format!("cannot reach the platform at http://{addr}")),
        "{stderr}"
    );
}

#[tokio::test]
async fn the_binary_exits_2_on_bad_arguments() {
    for args in [
        &["--mix", "browse=1,teleport=1"][..],
        &["--duration", "forever"],
        &["--mix", "browse=0"],
    ] {
        let output = tokio::process::Command::new(BIN)
            .args(args)
            .output()
            .await
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(args[1]), "{stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_prints_progress_lines_unless_quiet() {
    let (addr, _fake) = start_fake().await;
    let url = format!("http://{addr}");
    let common = [
        "--users",
        "2",
        "--duration",
        "1s",
        "--think",
        "5ms",
        "--progress-interval",
        "300ms",
    ];
    let loud = tokio::process::Command::new(BIN)
        .args(common)
        .args(["--url", &url])
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&loud.stderr);
    assert!(loud.status.success(), "{stderr}");
    let progress: Vec<&str> = stderr.lines().filter(|l| l.contains("ops/s now")).collect();
    assert!(progress.len() >= 2, "{stderr}");
    assert!(progress[0].contains(" errors, 2 users ready"), "{stderr}");

    let quiet = tokio::process::Command::new(BIN)
        .args(common)
        .args(["--url", &url, "--quiet"])
        .output()
        .await
        .unwrap();
    assert!(quiet.status.success());
    assert!(!String::from_utf8_lossy(&quiet.stderr).contains("ops/s now"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_stops_the_binary_which_prints_the_summary_so_far_and_exits_0() {
    let (addr, _fake) = start_fake().await;
    let child = tokio::process::Command::new(BIN)
        .args([
            "--users",
            "2",
            "--duration",
            "60s",
            "--think",
            "5ms",
            "--quiet",
            "--json",
            "-",
        ])
        .args(["--url", &format!("http://{addr}")])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let pid = child.id().unwrap().to_string();
    // Through the shell's builtin, which exists wherever `sh` does, unlike a `kill` binary.
    let killed = tokio::process::Command::new("sh")
        .args(["-c", &format!("kill -INT {pid}")])
        .status()
        .await
        .unwrap();
    assert!(killed.success());
    let output = tokio::time::timeout(Duration::from_secs(10), child.wait_with_output())
        .await
        .expect("the run stops soon after the interrupt")
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("stopped by an interrupt"),
        "the table goes to stderr: {stderr}"
    );
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["stoppedBy"], "interrupted");
    assert!(json["total"]["count"].as_u64().unwrap() > 0);
    assert!(json["elapsedSeconds"].as_f64().unwrap() < 10.0);
}

fn serve_config(addr: SocketAddr, users: u32) -> ServeConfig {
    let run = config(addr, users, Limit::Requests(1));
    ServeConfig {
        url: run.url,
        users,
        think: run.think,
        mix: run.mix,
        ramp_up: Duration::ZERO,
        seed: 3,
        card: run.card,
        request_timeout: run.request_timeout,
        header: None,
    }
}

/// A serve on a random port, stopped by sending on the returned channel.
async fn start_serve(
    config: ServeConfig,
) -> (
    String,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<Result<(), storefront_loadgen::ServeError>>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(serve(config, listener, async move {
        let _ = stopped.await;
    }));
    (base, stop, task)
}

async fn fetch(url: &str) -> (u16, String) {
    match reqwest::get(url).await {
        Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
        Err(e) => (0, e.to_string()),
    }
}

/// Polls `url` until `done` holds for its answer, or panics after `within`.
async fn wait_for(url: &str, within: Duration, done: impl Fn(u16, &str) -> bool) -> String {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let (status, body) = fetch(url).await;
        if done(status, &body) {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{url} still answers {status}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The value of the sample line starting with `series` (name and labels) in Prometheus text.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_mode_becomes_ready_and_reports_the_traffic_it_drives_on_metrics() {
    let (addr, fake) = start_fake().await;
    let (base, stop, task) = start_serve(serve_config(addr, 3)).await;
    let (status, body) = fetch(&format!("{base}/healthz")).await;
    assert_eq!(status, 200, "{body}");
    wait_for(&format!("{base}/readyz"), Duration::from_secs(5), |s, _| {
        s == 200
    })
    .await;

    let browse_ok = r#"loadgen_operations_total{operation="browse",outcome="ok"}"#;
    let checkout_409 = r#"loadgen_unsuccessful_operations_total{operation="checkout",outcome="expected",reason="409"}"#;
    let metrics = wait_for(
        &format!("{base}/metrics"),
        Duration::from_secs(10),
        |_, b| sample(b, browse_ok) >= 20.0 && sample(b, checkout_409) >= 1.0,
    )
    .await;
    assert_eq!(sample(&metrics, "loadgen_users_ready"), 3.0, "{metrics}");
    assert_eq!(
        sample(
            &metrics,
            r#"loadgen_operations_total{operation="register",outcome="ok"}"#
        ),
        3.0
    );
    assert!(
        sample(
            &metrics,
            r#"loadgen_operation_duration_seconds_count{operation="browse"}"#
        ) >= 20.0,
        "{metrics}"
    );
    // What /metrics says is what the platform saw.
    assert!(count(&fake.counters.list) > 20);
    assert_eq!(count(&fake.counters.register), 3);

    stop.send(()).unwrap();
    let stopped = tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("serve stops soon after the signal");
    stopped.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_mode_sends_its_header_with_every_request() {
    let (addr, fake) = start_fake().await;
    let config = ServeConfig {
        header: Some(storefront_loadgen::RequestHeader {
            name: "x-canary".parse().unwrap(),
            value: "always".parse().unwrap(),
        }),
        ..serve_config(addr, 2)
    };
    let (_base, stop, task) = start_serve(config).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while count(&fake.counters.list) < 10 {
        assert!(tokio::time::Instant::now() < deadline, "no load");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
    assert_eq!(
        fake.lists_without_canary_header.load(Ordering::SeqCst),
        0,
        "a listing without the header"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_mode_is_not_ready_until_the_target_answers_and_keeps_trying() {
    // A port that was just free: nothing listens there yet.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (base, stop, task) = start_serve(serve_config(addr, 2)).await;
    let body = wait_for(&format!("{base}/readyz"), Duration::from_secs(5), |s, b| {
        s == 503 && b.contains("has not answered")
    })
    .await;
    assert!(body.contains(&addr.to_string()), "{body}");
    assert_eq!(fetch(&format!("{base}/healthz")).await.0, 200);

    // The platform comes up later, on that address.
    let (_, fake) = start_fake_on(tokio::net::TcpListener::bind(addr).await.unwrap());
    wait_for(
        &format!("{base}/readyz"),
        Duration::from_secs(15),
        |s, _| s == 200,
    )
    .await;
    wait_for(
        &format!("{base}/metrics"),
        Duration::from_secs(5),
        |_, b| sample(b, "loadgen_users_ready") == 2.0,
    )
    .await;
    assert!(count(&fake.counters.list) >= 1);
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_mode_logs_in_again_when_its_tokens_are_refused() {
    let (addr, fake) = start_fake().await;
    let (base, stop, task) = start_serve(serve_config(addr, 2)).await;
    wait_for(
        &format!("{base}/metrics"),
        Duration::from_secs(5),
        |_, b| {
            sample(
                b,
                r#"loadgen_operations_total{operation="view_cart",outcome="ok"}"#,
            ) >= 2.0
        },
    )
    .await;
    let logins_before = count(&fake.counters.login);
    // Every token issued so far expires.
    fake.valid_from_login.store(logins_before, Ordering::SeqCst);
    let view_ok = r#"loadgen_operations_total{operation="view_cart",outcome="ok"}"#;
    let ok_at_expiry = sample(&fetch(&format!("{base}/metrics")).await.1, view_ok);
    let metrics = wait_for(
        &format!("{base}/metrics"),
        Duration::from_secs(10),
        |_, b| sample(b, view_ok) >= ok_at_expiry + 4.0,
    )
    .await;
    assert!(
        count(&fake.counters.login) >= logins_before + 2,
        "each user logged in again"
    );
    assert_eq!(
        count(&fake.counters.register),
        2,
        "without registering again"
    );
    assert!(
        sample(
            &metrics,
            r#"loadgen_unsuccessful_operations_total{operation="view_cart",outcome="error",reason="401"}"#
        ) >= 1.0,
        "{metrics}"
    );
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_serves_from_its_environment_and_stops_on_sigterm() {
    let (addr, _fake) = start_fake().await;
    let listen = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut child = tokio::process::Command::new(BIN)
        .env("LOADGEN_MODE", "serve")
        .env("STOREFRONT_HTTP_ADDR", listen.to_string())
        .env("LOADGEN_URL", format!("http://{addr}"))
        .env("LOADGEN_USERS", "2")
        .env("LOADGEN_THINK", "5ms")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://{listen}");
    wait_for(
        &format!("{base}/readyz"),
        Duration::from_secs(10),
        |s, _| s == 200,
    )
    .await;
    wait_for(
        &format!("{base}/metrics"),
        Duration::from_secs(5),
        |_, b| sample(b, "loadgen_users_ready") == 2.0,
    )
    .await;
    let pid = child.id().unwrap().to_string();
    let killed = tokio::process::Command::new("sh")
        .args(["-c", &format!("kill -TERM {pid}")])
        .status()
        .await
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("serve stops soon after SIGTERM")
        .unwrap();
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn the_binary_refuses_a_bounded_serve() {
    let output = tokio::process::Command::new(BIN)
        .env("LOADGEN_MODE", "serve")
        .args(["--duration", "5s"])
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--duration"), "{stderr}");
}
