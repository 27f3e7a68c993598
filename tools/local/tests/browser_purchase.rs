//! A person's purchase in a real browser: the whole platform (debug binaries, real PostgreSQL and
//! Redis), then headless Chromium driven by `tests/browser/purchase.mjs` (playwright-core)
//! through the gateway's web pages. Screenshots land in `target/browser-artifacts/`.
//!
//! Skips with a message when node, Chromium or `tests/browser/node_modules` is missing, unless
//! `STOREFRONT_BROWSER_TESTS=1`, where a missing piece fails the test (CI installs them).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use support::workspace_root;

fn chromium() -> PathBuf {
    std::env::var_os("STOREFRONT_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

/// What is missing to run the browser test, with how to get it.
fn missing_pieces(root: &Path) -> Vec<String> {
    let mut missing = Vec::new();
    let node = Command::new("node").arg("--version").output();
    if !matches!(node, Ok(ref out) if out.status.success()) {
        missing.push("node (apt-get install -y nodejs npm)".to_string());
    }
    if !chromium().is_file() {
        missing.push(format!(
            "{} (apt-get install -y chromium)",
            chromium().display()
        ));
    }
    if !root
        .join("tests/browser/node_modules/playwright-core")
        .is_dir()
    {
        missing.push("tests/browser/node_modules (npm ci --prefix tests/browser)".to_string());
    }
    missing
}

fn required() -> bool {
    std::env::var("STOREFRONT_BROWSER_TESTS").is_ok_and(|v| v == "1")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shopper_registers_searches_pays_and_sees_the_order_paid_in_a_browser() {
    let root = workspace_root();
    let missing = missing_pieces(&root);
    if !missing.is_empty() {
        let list = missing.join(", ");
        assert!(
            !required(),
            "STOREFRONT_BROWSER_TESTS=1 but the browser test cannot run; missing: {list}"
        );
        println!(
            "SKIPPED browser purchase test: missing {list}. Set STOREFRONT_BROWSER_TESTS=1 to make this a failure."
        );
        return;
    }

    // Every page view is one browser request plus several web → gateway calls, all from
    // 127.0.0.1: the default per-IP limit is for the internet, not for this test.
    let mut platform = support::start_platform(
        "admin@browser.test",
        &[
            ("GATEWAY_RATE_LIMIT_IP", "1000/s"),
            ("GATEWAY_RATE_LIMIT_BURST_IP", "2000"),
            ("GATEWAY_RATE_LIMIT_USER", "1000/s"),
            ("GATEWAY_RATE_LIMIT_BURST_USER", "2000"),
        ],
    )
    .await;
    let shop = platform.url("gateway").unwrap().to_string();

    let artifacts = root.join("target/browser-artifacts");
    let _ = std::fs::remove_dir_all(&artifacts);
    std::fs::create_dir_all(&artifacts).unwrap();
    let script = root.join("tests/browser/purchase.mjs");
    let run = tokio::process::Command::new("node")
        .arg(&script)
        .arg(&shop)
        .arg(&artifacts)
        .current_dir(root.join("tests/browser"))
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(240), run).await;
    let exited = platform.exited();
    let log_dir = platform.log_dir.clone();
    platform.stop().await;

    let output = output
        .expect("the browser purchase did not finish within 240s")
        .expect("node could not be started");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        exited.is_none(),
        "a service died during the browser test: {exited:?}"
    );
    assert!(
        output.status.success(),
        "the browser purchase failed ({}); screenshots in {}, service logs in {}\n{stdout}\n{stderr}",
        output.status,
        artifacts.display(),
        log_dir.display()
    );
    assert!(stdout.contains("PASS purchase"), "{stdout}");

    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(artifacts.join("purchase.json")).unwrap())
            .unwrap();
    let steps: Vec<&str> = summary["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["step"].as_str())
        .collect();
    assert_eq!(
        steps,
        [
            "home",
            "register",
            "search",
            "product",
            "add-to-cart",
            "cart",
            "checkout",
            "declined",
            "confirmation",
            "order-history"
        ]
    );
    for name in ["confirmation", "order-history"] {
        let shot = summary["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["step"] == name)
            .and_then(|s| s["screenshot"].as_str())
            .map(PathBuf::from)
            .unwrap();
        let size = std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0);
        assert!(
            size > 10_000,
            "screenshot {} is {size} bytes",
            shot.display()
        );
    }
}
