//! The two modes of `storefront-local`'s platform: plain processes on the host's loopback, and
//! the same processes each in a network namespace of its own (`--isolation netns`), which needs
//! Linux, root, `ip` and `nft`; without them that row is skipped with the reason. The netns run
//! uses a prefix and subnet of its own (`sfb-`, 10.217/16) so it never meets a run beside it.

use std::path::Path;
use std::time::Instant;

use storefront_local::netns::{Plan, topology};
use storefront_local::platform::{self, Scope, StartOptions};
use storefront_testkit::free_port;

use super::load::{lifted_limits, loadgen, rss_mib};
use super::report::{Mode, Row, result};
use super::{BenchError, RunModesOptions};

/// The netns run's names and addresses.
const NETNS_PREFIX: &str = "sfb-";
const NETNS_SUBNET: [u8; 2] = [10, 217];

/// Measures the platform in `mode` ([`Mode::Plain`] or [`Mode::Netns`]).
pub(super) async fn measure(
    options: &RunModesOptions,
    work: &Path,
    mode: Mode,
) -> Result<Row, BenchError> {
    let plan = match mode {
        Mode::Netns => {
            if let Err(why) = topology::preflight() {
                return Ok(Row::skipped(mode, why.to_string()));
            }
            Some(Plan::new(NETNS_PREFIX, NETNS_SUBNET).map_err(platform::PlatformError::from)?)
        }
        _ => None,
    };
    eprintln!(
        "[bench] {}: starting storefront-local's platform (binaries from {})",
        mode.label(),
        options.bins.display()
    );
    let start = StartOptions {
        bins: options.bins.clone(),
        scope: Scope::Full {
            gateway_port: free_port(),
        },
        admin_email: "admin@bench.local".into(),
        admin_password: "bench-admin-password".into(),
        log_dir: Some(work.join(format!("{}-logs", mode.name()))),
        rust_log: "warn".into(),
        extra_env: lifted_limits(),
        bus: Default::default(),
        replicas: Default::default(),
    };
    let started = Instant::now();
    let mut platform = match plan {
        Some(plan) => platform::start_isolated(start, plan).await?,
        None => platform::start(start).await?,
    };
    let start_secs = started.elapsed().as_secs_f64();
    let gateway = platform.url("gateway").unwrap_or_default().to_owned();
    let outcome = loadgen(options, mode.label(), &gateway, work).await;
    let rss = rss_mib(platform.services.iter().map(|s| s.pid()));
    platform.stop().await;
    Ok(Row::Measured(result(mode, outcome?, rss, start_secs)))
}
