//! What the end-to-end tests share: where the binaries and the repository are, and starting the
//! whole platform (every service a real process) with the gateway on a free port.

#![allow(dead_code)]

pub mod pcap;

use std::path::{Path, PathBuf};
use std::process::Command;

use storefront_common::events::EventBus;
use storefront_local::platform::{self, Platform, PlatformError, Scope, StartOptions};
use storefront_local::replicas::Replicas;

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// `target/debug`, where cargo put the service binaries next to this test's own directory.
pub fn bin_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("STOREFRONT_BIN_DIR") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().unwrap();
    exe.parent()
        .and_then(|deps| deps.parent())
        .unwrap()
        .to_path_buf()
}

/// Starts everything; `extra` is extra environment for every service (e.g. gateway limits).
pub async fn start_platform(admin_email: &str, extra: &[(&str, &str)]) -> Platform {
    try_start_platform(EventBus::Redis, admin_email, extra)
        .await
        .unwrap_or_else(|e| {
            panic!("{e}\n(build the binaries first: cargo build --workspace --bins)")
        })
}

/// Starts everything with the order events on `bus`.
pub async fn try_start_platform(
    bus: EventBus,
    admin_email: &str,
    extra: &[(&str, &str)],
) -> Result<Platform, PlatformError> {
    try_start_replicated(bus, admin_email, extra, Replicas::none()).await
}

/// Starts everything, with several instances of the services `replicas` names.
pub async fn start_replicated(
    admin_email: &str,
    extra: &[(&str, &str)],
    replicas: Replicas,
) -> Platform {
    try_start_replicated(EventBus::Redis, admin_email, extra, replicas)
        .await
        .unwrap_or_else(|e| {
            panic!("{e}\n(build the binaries first: cargo build --workspace --bins)")
        })
}

async fn try_start_replicated(
    bus: EventBus,
    admin_email: &str,
    extra: &[(&str, &str)],
    replicas: Replicas,
) -> Result<Platform, PlatformError> {
    let port = storefront_testkit::free_port();
    platform::start(StartOptions {
        bins: bin_dir(),
        scope: Scope::Full { gateway_port: port },
        admin_email: admin_email.into(),
        admin_password: "admin-password".into(),
        log_dir: None,
        rust_log: "info".into(),
        extra_env: extra
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        bus,
        replicas,
    })
    .await
}

/// A netns test that cannot run here fails instead of skipping (CI, or asked for).
pub fn netns_must_run() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
        || std::env::var("STOREFRONT_NETNS_TESTS").is_ok_and(|v| v == "1")
}

/// Runs the test `name` of this binary again as root through password-less sudo; `None` when
/// sudo cannot (or this already is that run).
pub fn under_sudo(name: &str) -> Option<bool> {
    if std::env::var_os("STOREFRONT_NETNS_UNDER_SUDO").is_some() {
        return None;
    }
    let sudo_works = Command::new("sudo")
        .args(["-n", "true"])
        .status()
        .is_ok_and(|s| s.success());
    if !sudo_works {
        return None;
    }
    let exe = std::env::current_exe().unwrap();
    let status = Command::new("sudo")
        .args([
            "-n",
            "--preserve-env=PATH,CI,STOREFRONT_BIN_DIR,STOREFRONT_NETNS_TESTS",
            "STOREFRONT_NETNS_UNDER_SUDO=1",
        ])
        .arg(exe)
        .args([name, "--exact", "--nocapture"])
        .status()
        .unwrap();
    Some(status.success())
}
