//! The real `storefront-web` binary as Kubernetes runs it: `--help` and `--version` instead of
//! starting; SIGTERM while a page is being rendered (the page waits on a fake public API that
//! answers slowly, so the request is still in flight when the signal arrives); and its traces
//! reaching a real Jaeger over OTLP gRPC and HTTP, named by the standard `OTEL_*` variables.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

#[allow(dead_code)] // this binary uses only the fake's start
mod fake_gateway;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use reqwest::StatusCode;

const BINARY: &str = env!("CARGO_BIN_EXE_storefront-web");
/// The trace id a caller sends in `traceparent`.
const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

/// A public API that forwards to the fake after `delay`, so every page takes at least that long.
async fn slow_gateway(delay: Duration) -> String {
    let (fake, _log) = fake_gateway::start().await;
    async fn forward(
        State((fake, delay)): State<(String, Duration)>,
        request: Request,
    ) -> Response {
        tokio::time::sleep(delay).await;
        let path = request
            .uri()
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_string();
        let answer = reqwest::Client::new()
            .request(request.method().clone(), format!("{fake}{path}"))
            .headers(request.headers().clone())
            .send()
            .await
            .unwrap();
        let status = answer.status();
        let headers = answer.headers().clone();
        let body = answer.bytes().await.unwrap();
        (status, headers, body).into_response()
    }
    let app = Router::new().fallback(forward).with_state((fake, delay));
    storefront_common::service::spawn_local(app).await.unwrap()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Web {
    child: Child,
    base: String,
}

impl Web {
    fn start(gateway: &str, env: &[(&str, &str)]) -> Web {
        let port = free_port();
        let child = Command::new(BINARY)
            .env_clear()
            .env("STOREFRONT_HTTP_ADDR", format!("127.0.0.1:{port}"))
            .env(
                "STOREFRONT_JWT_SECRET",
                "a-test-secret-of-at-least-32-bytes!!",
            )
            .env("GATEWAY_URL", gateway)
            .env("STOREFRONT_REQUEST_TIMEOUT", "60s")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        Web {
            child,
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    async fn wait_ready(&self, http: &reqwest::Client) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = http.get(format!("{}/readyz", self.base)).send().await
                && r.status() == StatusCode::OK
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the web front never became ready"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit (at most a minute, so a hang fails instead of blocking)
    /// and returns its exit code and everything it logged.
    fn wait_exit(mut self) -> (i32, String) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                self.child.kill().unwrap();
                panic!("the web front did not exit after SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let output = self.child.wait_with_output().unwrap();
        let mut logs = String::from_utf8_lossy(&output.stdout).into_owned();
        logs.push_str(&String::from_utf8_lossy(&output.stderr));
        (output.status.code().unwrap_or(-1), logs)
    }
}

#[test]
fn help_and_version_answer_without_starting_and_unknown_arguments_exit_2() {
    let help = Command::new(BINARY)
        .arg("--help")
        .env_clear()
        .output()
        .unwrap();
    assert!(help.status.success());
    let text = String::from_utf8(help.stdout).unwrap();
    assert!(text.starts_with("storefront-web "), "{text}");
    assert!(text.contains("STOREFRONT_JWT_SECRET"), "{text}");

    let version = Command::new(BINARY)
        .arg("--version")
        .env_clear()
        .output()
        .unwrap();
    assert!(version.status.success());
    assert_eq!(
        String::from_utf8(version.stdout).unwrap(),
        format!("storefront-web {}\n", env!("CARGO_PKG_VERSION"))
    );

    let refused = Command::new(BINARY)
        .arg("--port=1")
        .env_clear()
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        String::from_utf8(refused.stderr)
            .unwrap()
            .contains("--port=1")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_turns_readiness_off_then_finishes_the_page_in_flight_and_exits_0() {
    let gateway = slow_gateway(Duration::from_millis(1500)).await;
    let web = Web::start(
        &gateway,
        &[
            ("SHUTDOWN_DELAY_SECONDS", "1"),
            ("SHUTDOWN_DRAIN_SECONDS", "20"),
        ],
    );
    let http = reqwest::Client::new();
    web.wait_ready(&http).await;

    let page = tokio::spawn({
        let (http, url) = (http.clone(), format!("{}/", web.base));
        async move {
            let r = http
                .get(url)
                .header(
                    "traceparent",
                    format!("00-{CALLER_TRACE}-00f067aa0ba902b7-01"),
                )
                .send()
                .await
                .unwrap();
            (r.status(), r.text().await.unwrap())
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    web.terminate();

    // Through the delay the listener still answers, and readiness says why it is off.
    let deadline = Instant::now() + Duration::from_secs(5);
    let draining = loop {
        let r = http
            .get(format!("{}/readyz", web.base))
            .send()
            .await
            .unwrap();
        if r.status() == StatusCode::SERVICE_UNAVAILABLE {
            break r.json::<serde_json::Value>().await.unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "/readyz stayed ready after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(draining["status"], "draining");

    let (status, body) = page.await.unwrap();
    assert_eq!(status, StatusCode::OK, "the page in flight was cut: {body}");
    assert!(body.contains("<html"), "{body}");

    let base = web.base.clone();
    let (code, logs) = tokio::task::spawn_blocking(move || web.wait_exit())
        .await
        .unwrap();
    assert_eq!(code, 0, "{logs}");
    assert!(logs.contains("stop requested"), "{logs}");
    assert!(!logs.contains("drain bound ran out"), "{logs}");
    // The page's log lines carry the caller's trace and the request's own span.
    let page_line = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|l| l["span"]["route"] == "/" && l["status"] == 200)
        .unwrap_or_else(|| panic!("no log line for the page: {logs}"));
    assert_eq!(page_line["span"]["trace_id"], CALLER_TRACE, "{page_line}");
    let span_id = page_line["span"]["span_id"].as_str().unwrap();
    assert!(
        span_id.len() == 16 && span_id != "00f067aa0ba902b7",
        "the request's own span: {page_line}"
    );
    assert!(page_line["span"]["request_id"].is_string(), "{page_line}");
    assert!(
        http.get(format!("{base}/healthz")).send().await.is_err(),
        "still listening after exit"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_outliving_the_drain_bound_does_not_hold_the_process() {
    let gateway = slow_gateway(Duration::from_secs(40)).await;
    let web = Web::start(&gateway, &[("SHUTDOWN_DRAIN_SECONDS", "1")]);
    let http = reqwest::Client::new();
    web.wait_ready(&http).await;
    let _stuck = tokio::spawn({
        let (http, url) = (http.clone(), format!("{}/", web.base));
        async move { http.get(url).send().await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    web.terminate();
    let (code, logs) = tokio::task::spawn_blocking(move || web.wait_exit())
        .await
        .unwrap();
    assert_eq!(code, 0, "{logs}");
    assert!(logs.contains("drain bound ran out"), "{logs}");
}

/// A real Jaeger v2 (the OpenTelemetry-collector build, from scripts/container-tools.sh) on
/// random loopback ports, keeping traces in memory.
struct Jaeger {
    child: Child,
    otlp_grpc: String,
    otlp_http: String,
    query: String,
    _dir: tempfile_dir::Dir,
}

mod tempfile_dir {
    /// A directory removed on drop.
    pub struct Dir(pub std::path::PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl Jaeger {
    fn start() -> Jaeger {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let built = Command::new("bash")
            .arg(root.join("scripts/container-tools.sh"))
            .arg("jaeger")
            .stderr(Stdio::inherit())
            .output()
            .unwrap();
        assert!(built.status.success(), "building Jaeger failed");
        let bin = String::from_utf8(built.stdout).unwrap();
        let bin = std::path::Path::new(bin.lines().last().unwrap().trim()).join("jaeger");
        let [grpc, http, query, query_grpc] = [free_port(), free_port(), free_port(), free_port()];
        let dir = std::env::temp_dir().join(format!("storefront-jaeger-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let config = format!(
            "service:\n  extensions: [jaeger_storage, jaeger_query]\n  telemetry:\n    metrics:\n      level: none\n  pipelines:\n    traces:\n      receivers: [otlp]\n      processors: [batch]\n      exporters: [jaeger_storage_exporter]\n\
             extensions:\n  jaeger_query:\n    storage:\n      traces: memstore\n    http:\n      endpoint: 127.0.0.1:{query}\n    grpc:\n      endpoint: 127.0.0.1:{query_grpc}\n  jaeger_storage:\n    backends:\n      memstore:\n        memory:\n          max_traces: 1000\n\
             receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: 127.0.0.1:{grpc}\n      http:\n        endpoint: 127.0.0.1:{http}\n\
             processors:\n  batch:\n    timeout: 100ms\n\
             exporters:\n  jaeger_storage_exporter:\n    trace_storage: memstore\n"
        );
        let path = dir.join("jaeger.yaml");
        std::fs::write(&path, config).unwrap();
        let child = Command::new(bin)
            .arg("--config")
            .arg(format!("file:{}", path.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Jaeger {
            child,
            otlp_grpc: format!("http://127.0.0.1:{grpc}"),
            otlp_http: format!("http://127.0.0.1:{http}"),
            query: format!("http://127.0.0.1:{query}"),
            _dir: tempfile_dir::Dir(dir),
        }
    }

    /// Waits until the query API and both OTLP ports accept connections.
    async fn wait_ready(&self, http: &reqwest::Client) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let query = http
                .get(format!("{}/api/services", self.query))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            let listening = [&self.otlp_grpc, &self.otlp_http]
                .iter()
                .all(|url| std::net::TcpStream::connect(url.trim_start_matches("http://")).is_ok());
            if query && listening {
                return;
            }
            assert!(Instant::now() < deadline, "Jaeger did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The traces Jaeger holds for `service`, waiting up to 30 s for the first.
    async fn traces(&self, http: &reqwest::Client, service: &str) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = http
                .get(format!("{}/api/traces?service={service}", self.query))
                .send()
                .await
                && let Ok(body) = r.json::<serde_json::Value>().await
                && body["data"].as_array().is_some_and(|d| !d.is_empty())
            {
                return body;
            }
            assert!(
                Instant::now() < deadline,
                "no trace of {service} reached Jaeger"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for Jaeger {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traces_reach_a_real_jaeger_over_grpc_and_http_under_the_otel_service_name() {
    let jaeger = Jaeger::start();
    let gateway = slow_gateway(Duration::ZERO).await;
    let http = reqwest::Client::new();
    jaeger.wait_ready(&http).await;
    for (protocol, endpoint, name, trace_id) in [
        (
            "grpc",
            jaeger.otlp_grpc.clone(),
            "shopfront-grpc",
            "0af7651916cd43dd8448eb211c80319c",
        ),
        (
            "http/protobuf",
            jaeger.otlp_http.clone(),
            "shopfront-http",
            "5b8efff798038103d269b633813fc60c",
        ),
    ] {
        let web = Web::start(
            &gateway,
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
                ("OTEL_SERVICE_NAME", name),
                ("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=test"),
            ],
        );
        web.wait_ready(&http).await;
        let page = http
            .get(format!("{}/", web.base))
            .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        web.terminate();
        let (code, logs) = tokio::task::spawn_blocking(move || web.wait_exit())
            .await
            .unwrap();
        assert_eq!(code, 0, "{logs}");

        let traces = jaeger.traces(&http, name).await;
        let trace = traces["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["traceID"] == trace_id)
            .unwrap_or_else(|| {
                panic!("the caller's trace is not in Jaeger ({protocol}): {traces}")
            });
        let spans = trace["spans"].as_array().unwrap();
        assert!(
            spans.iter().any(|s| s["operationName"] == "GET /"),
            "{protocol}: {trace}"
        );
        let process = trace["processes"]
            .as_object()
            .unwrap()
            .values()
            .next()
            .unwrap();
        assert_eq!(process["serviceName"], name, "{protocol}");
        assert!(
            process["tags"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t["key"] == "deployment.environment" && t["value"] == "test"),
            "{protocol}: OTEL_RESOURCE_ATTRIBUTES reached the trace: {process}"
        );
    }
}
