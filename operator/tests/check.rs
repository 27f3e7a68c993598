//! `storefront-operator check`, the chart's `helm test` probe: the binary against a local HTTP
//! server, and the chart's test hook against the binary's flags.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Output};

/// A server on 127.0.0.1 answering every request with `status`; returns its /readyz URL.
fn server(status: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/readyz", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut buf = [0u8; 1024];
            let _ = stream.read(&mut buf);
            let answer =
                format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            let _ = stream.write_all(answer.as_bytes());
        }
    });
    url
}

fn check(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_storefront-operator"))
        .arg("check")
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn a_ready_operator_passes() {
    let url = server("200 OK");
    let out = check(&["--url", &url, "--timeout-seconds", "0"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("is ready"));
}

#[test]
fn a_not_ready_operator_fails_naming_the_answer() {
    let url = server("503 Service Unavailable");
    let out = check(&["--url", &url, "--timeout-seconds", "0"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("answered 503"), "{stderr}");
}

#[test]
fn an_unreachable_operator_fails_saying_so() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/readyz", listener.local_addr().unwrap());
    drop(listener);
    let out = check(&["--url", &url, "--timeout-seconds", "0"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("failed"), "{stderr}");
}

#[test]
fn the_charts_test_hook_runs_check_with_flags_the_binary_has() {
    let template = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../charts/storefront-operator/templates/tests/check.yaml"),
    )
    .unwrap();
    assert!(template.contains("helm.sh/hook: test"));
    assert!(template.contains("helm.sh/hook-delete-policy:"));
    assert!(template.contains("- check\n"));
    assert!(template.contains("ecommerceplatforms.storefront.dev"));
    let help = Command::new(env!("CARGO_BIN_EXE_storefront-operator"))
        .args(["check", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for line in template.lines().map(str::trim) {
        if let Some(flag) = line.strip_prefix("- --") {
            let name = flag.split('=').next().unwrap();
            assert!(
                help.contains(&format!("--{name}")),
                "the chart passes --{name}, which `check` does not know:\n{help}"
            );
        }
    }
}
