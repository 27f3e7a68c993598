//! `storefront-compose bench-run-modes`: the loadgen mix against the shop as plain processes, in
//! network namespaces and in Docker Compose, in one run (see `bench`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use storefront_compose::bench::{self, Mode, RunModesOptions};

#[derive(Parser)]
#[command(name = "storefront-compose", version, about)]
struct Cli {
    /// Directory holding the release binaries; defaults to this binary's own directory.
    #[arg(long, global = true, env = "STOREFRONT_BIN_DIR")]
    bin_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The same loadgen mix against storefront-local's processes (plain, and in network
    /// namespaces: root), the Compose stack, and the real-pod cluster (not measured: says why).
    BenchRunModes {
        /// loadgen users (no think time).
        #[arg(long, default_value_t = 32)]
        users: u32,
        /// How long each mode is measured.
        #[arg(long, default_value = "20s", value_parser = parse_duration)]
        duration: Duration,
        /// Which modes, in order: plain, netns, compose, cluster. One that cannot run here is
        /// a row saying why.
        #[arg(
            long,
            value_delimiter = ',',
            value_parser = Mode::parse,
            default_value = "plain,netns,compose,cluster"
        )]
        modes: Vec<Mode>,
        /// Image prefix of the Compose stack (what `make images` built).
        #[arg(
            long,
            env = "REGISTRY",
            default_value = "ghcr.io/storefront-dev/storefront"
        )]
        registry: String,
        /// Service image tag; defaults to the workspace version.
        #[arg(long, env = "VERSION", default_value = env!("CARGO_PKG_VERSION"))]
        version: String,
        /// Also write the figures as JSON to this file.
        #[arg(long)]
        json: Option<PathBuf>,
    },
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    storefront_common::config::parse_duration(s)
        .ok_or_else(|| format!("{s:?} is not a duration such as 500ms, 20s or 2m"))
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let bins = cli
        .bin_dir
        .or_else(|| std::env::current_exe().ok()?.parent().map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("target/release"));
    let Command::BenchRunModes {
        users,
        duration,
        modes,
        registry,
        version,
        json,
    } = cli.command;
    let outcome = bench::run(RunModesOptions {
        bins,
        users,
        duration,
        modes,
        registry,
        version,
        json,
    })
    .await
    .map_err(|e| e.to_string())
    .and_then(|r| bench::check(&r).map_err(|e| e.to_string()));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("storefront-compose: {e}");
            ExitCode::FAILURE
        }
    }
}
