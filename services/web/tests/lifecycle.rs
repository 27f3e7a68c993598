//! The real `storefront-web` binary as Kubernetes runs it: `--help` and `--version` instead of
//! starting, and SIGTERM while a page is being rendered. The page waits on a fake public API
//! that answers slowly, so the request is still in flight when the signal arrives.

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
    fn start(gateway: &str, delay: &str, drain: &str) -> Web {
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
            .env("SHUTDOWN_DELAY_SECONDS", delay)
            .env("SHUTDOWN_DRAIN_SECONDS", drain)
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
    let web = Web::start(&gateway, "1", "20");
    let http = reqwest::Client::new();
    web.wait_ready(&http).await;

    let page = tokio::spawn({
        let (http, url) = (http.clone(), format!("{}/", web.base));
        async move {
            let r = http.get(url).send().await.unwrap();
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
    assert!(
        http.get(format!("{base}/healthz")).send().await.is_err(),
        "still listening after exit"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_outliving_the_drain_bound_does_not_hold_the_process() {
    let gateway = slow_gateway(Duration::from_secs(40)).await;
    let web = Web::start(&gateway, "0", "1");
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
