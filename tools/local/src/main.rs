//! `storefront-local`: the whole platform on this machine (throwaway PostgreSQL, Redis and RabbitMQ, every
//! service as its own process) for a person to use (`up`) or to measure (`bench-checkout`,
//! `bench-gateway`, `bench-events`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use storefront_common::events::EventBus;

use storefront_local::netns::capture::{Capture, CaptureRequest};
use storefront_local::replicas::Replicas;
use storefront_local::{bench, bench_events, bench_gateway, netns, platform};

#[derive(Parser)]
#[command(name = "storefront-local", version, about)]
struct Cli {
    /// Directory holding the service binaries; defaults to this binary's own directory.
    #[arg(long, global = true, env = "STOREFRONT_BIN_DIR")]
    bin_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the platform and keep it running until Ctrl-C or SIGTERM.
    Up {
        /// Port of the gateway (the shop's front door).
        #[arg(long, env = "STOREFRONT_PORT", default_value_t = 8080)]
        port: u16,
        #[arg(
            long,
            env = "STOREFRONT_ADMIN_EMAIL",
            default_value = "admin@storefront.local"
        )]
        admin_email: String,
        #[arg(
            long,
            env = "STOREFRONT_ADMIN_PASSWORD",
            default_value = "storefront-admin"
        )]
        admin_password: String,
        /// Where service logs go; defaults to a fresh temp directory.
        #[arg(long)]
        log_dir: Option<PathBuf>,
        /// What carries the order events to notifications: `redis` (a stream) or `rabbitmq`
        /// (starts a throwaway rabbitmq-server; it must be installed).
        #[arg(long, default_value = "redis")]
        bus: EventBus,
        /// `plain` (every process on the host's loopback) or `netns` (Linux, root: each in its
        /// own network namespace on edge/app/data bridges, under an nftables policy).
        #[arg(long, default_value = "plain")]
        isolation: Isolation,
        /// netns mode: the prefix of every namespace, link and nftables table it creates (at
        /// most 4 characters); leftovers with it are removed at start.
        #[arg(long, default_value = netns::DEFAULT_PREFIX)]
        netns_prefix: String,
        /// netns mode: the /16 the tier subnets are cut from (`<a>.<b>.1.0/24` edge, `.2` app,
        /// `.3` data).
        #[arg(long, default_value = "10.213", value_parser = parse_subnet)]
        subnet: [u8; 2],
        /// Several instances of a service, each on its own port: `catalog=3` or
        /// `catalog=3,cart=2`. Its callers get the list of instances and balance across it.
        #[arg(long, default_value = "")]
        replicas: Replicas,
    },
    /// Checkout throughput, latency and per-service memory across the real services, beside
    /// the ceiling pgbench sets on the same PostgreSQL.
    BenchCheckout {
        /// How long to measure (after a short warm-up).
        #[arg(long, default_value = "20s", value_parser = parse_duration)]
        duration: Duration,
        /// Checkouts in flight at once (closed loop, no think time).
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        /// Distinct customers placing orders.
        #[arg(long, default_value_t = 64)]
        customers: usize,
        /// Also write the summary as JSON to this file.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Gateway requests/s and latency beside nginx (wrk): cached reads against nginx's static
    /// file and proxy_cache, uncached reads, a one-client flood against nginx limit_req, and
    /// the loadgen mix.
    /// Order events per second the notifications consumer stores on each bus, beside the
    /// ceiling of its own insert made back to back with no bus.
    BenchEvents {
        /// Events published before the consumer starts.
        #[arg(long, default_value_t = 20_000)]
        events: usize,
        /// Which buses to measure (comma-separated).
        #[arg(long, value_delimiter = ',', default_value = "redis,rabbitmq")]
        bus: Vec<EventBus>,
        /// Also write the summary as JSON to this file.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Look at a running `up --isolation netns`.
    Net {
        #[command(subcommand)]
        command: NetCommand,
    },
    BenchGateway {
        /// wrk threads.
        #[arg(short = 't', long, default_value_t = 2)]
        threads: u32,
        /// wrk connections (and loadgen users).
        #[arg(short = 'c', long, default_value_t = 64)]
        connections: u32,
        /// How long each scenario is measured.
        #[arg(short = 'd', long, default_value = "15s", value_parser = parse_duration)]
        duration: Duration,
        /// Uncounted run before each wrk scenario.
        #[arg(long, default_value = "3s", value_parser = parse_duration)]
        warm_up: Duration,
        /// nginx worker_processes (a number or auto).
        #[arg(long, default_value = "auto")]
        nginx_workers: String,
        /// RUST_LOG of the services (warn: no per-request log lines, like nginx's access_log off).
        #[arg(long, default_value = "warn")]
        rust_log: String,
        #[arg(long, default_value = "/usr/bin/wrk")]
        wrk: PathBuf,
        #[arg(long, default_value = "/usr/sbin/nginx")]
        nginx: PathBuf,
        /// Also write the summary as JSON to this file.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Also count the gateway's instructions per cached read and per 429 under callgrind.
        #[arg(long)]
        callgrind: bool,
        #[arg(long, default_value = "/usr/bin/valgrind")]
        valgrind: PathBuf,
    },
}

#[derive(Subcommand)]
enum NetCommand {
    /// Write an SVG of the namespaces, bridges, addresses and allowed flows, with the live
    /// connection counts from conntrack in the router namespace (Linux, root, `conntrack`).
    Topology {
        /// The prefix the run was started with.
        #[arg(long, default_value = netns::DEFAULT_PREFIX)]
        netns_prefix: String,
        /// The /16 the run was started with.
        #[arg(long, default_value = "10.213", value_parser = parse_subnet)]
        subnet: [u8; 2],
        /// Where the SVG goes.
        #[arg(long, default_value = "topology.svg")]
        out: PathBuf,
    },
    /// Record a pcap of one tier's bridge (edge, app or data) in the router namespace for a
    /// bounded time (Linux, root, `tcpdump`).
    Capture {
        /// The tier whose bridge is recorded: edge, app or data.
        #[arg(value_parser = parse_tier)]
        tier: netns::Tier,
        /// The prefix the run was started with.
        #[arg(long, default_value = netns::DEFAULT_PREFIX)]
        netns_prefix: String,
        /// How long to record: 5s unless given, at most 1h.
        #[arg(long, value_parser = parse_duration)]
        duration: Option<Duration>,
        /// Stop earlier, after this many packets.
        #[arg(long)]
        packets: Option<u64>,
        /// Only the packets this tcpdump filter expression matches, e.g. "tcp port 5432".
        #[arg(long)]
        filter: Option<String>,
        /// Where the pcap goes; defaults to `<tier>.pcap`.
        #[arg(long)]
        output: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Isolation {
    Plain,
    Netns,
}

fn parse_subnet(s: &str) -> Result<[u8; 2], String> {
    netns::plan::parse_subnet(s).map_err(|e| e.to_string())
}

fn parse_tier(s: &str) -> Result<netns::Tier, String> {
    netns::Tier::parse(s).map_err(|e| e.to_string())
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    storefront_common::config::parse_duration(s)
        .ok_or_else(|| format!("{s:?} is not a duration such as 500ms, 20s or 2m"))
}

fn bin_dir(cli: Option<PathBuf>) -> PathBuf {
    cli.or_else(|| std::env::current_exe().ok()?.parent().map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("target/release"))
}

/// `net capture`: checks the request, records, prints what was written.
fn capture(
    tier: netns::Tier,
    prefix: &str,
    duration: Option<Duration>,
    packets: Option<u64>,
    filter: Option<String>,
    output: Option<PathBuf>,
) -> Result<(), String> {
    let request = CaptureRequest::new(tier, duration, packets, filter.as_deref())
        .map_err(|e| e.to_string())?;
    let output = output.unwrap_or_else(|| PathBuf::from(format!("{}.pcap", tier.name())));
    let running = Capture::start(prefix, &request, &output).map_err(|e| e.to_string())?;
    eprintln!(
        "recording the {} tier for up to {}s...",
        tier.name(),
        request.duration.as_secs_f64()
    );
    let summary = running.finish().map_err(|e| e.to_string())?;
    println!("{summary}");
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let bins = bin_dir(cli.bin_dir);
    let outcome = match cli.command {
        Command::Up {
            port,
            admin_email,
            admin_password,
            log_dir,
            bus,
            isolation,
            netns_prefix,
            subnet,
            replicas,
        } => match (isolation == Isolation::Netns)
            .then(|| netns::Plan::new(&netns_prefix, subnet))
            .transpose()
        {
            Err(e) => Err(e.to_string()),
            Ok(plan) => platform::up(platform::UpOptions {
                bins,
                bus,
                port,
                admin_email,
                admin_password,
                log_dir,
                netns: plan,
                replicas,
            })
            .await
            .map_err(|e| e.to_string()),
        },
        Command::BenchCheckout {
            duration,
            concurrency,
            customers,
            json,
        } => bench::run(bench::BenchOptions {
            bins,
            duration,
            concurrency,
            customers,
            json,
        })
        .await
        .map_err(|e| e.to_string()),
        Command::BenchEvents { events, bus, json } => {
            bench_events::run(bench_events::EventsOptions {
                bins,
                events,
                buses: bus,
                json,
            })
            .await
            .map(|_| ())
        }
        Command::Net {
            command:
                NetCommand::Topology {
                    netns_prefix,
                    subnet,
                    out,
                },
        } => netns::topology::preflight()
            .map_err(|e| e.to_string())
            .and_then(|()| {
                netns::live::draw(&netns_prefix, subnet, &out).map_err(|e| e.to_string())
            })
            .map(|tracked| {
                println!(
                    "wrote {} ({tracked} connections tracked in {netns_prefix}router)",
                    out.display()
                );
            }),
        Command::Net {
            command:
                NetCommand::Capture {
                    tier,
                    netns_prefix,
                    duration,
                    packets,
                    filter,
                    output,
                },
        } => capture(tier, &netns_prefix, duration, packets, filter, output),
        Command::BenchGateway {
            threads,
            connections,
            duration,
            warm_up,
            nginx_workers,
            rust_log,
            wrk,
            nginx,
            json,
            callgrind,
            valgrind,
        } => bench_gateway::run(bench_gateway::GatewayBenchOptions {
            bins,
            threads,
            connections,
            duration,
            warm_up,
            nginx_workers,
            rust_log,
            wrk,
            nginx,
            json,
            valgrind: callgrind.then_some(valgrind),
        })
        .await
        .map_err(|e| e.to_string()),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("storefront-local: {e}");
            ExitCode::FAILURE
        }
    }
}
