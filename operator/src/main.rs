//! Command line entry: `crd` prints the CRD, `render` prints a platform's objects offline,
//! `run` starts the controller, `check` probes a running one (the chart's `helm test`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};

use storefront_operator::build::secrets::RandomSecrets;
use storefront_operator::check;
use storefront_operator::controller::leader::LeaseConfig;
use storefront_operator::controller::run::{RunOptions, run};

#[derive(Parser)]
#[command(
    name = "storefront-operator",
    version,
    about = "Runs a Storefront e-commerce platform from one EcommercePlatform resource"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the EcommercePlatform CustomResourceDefinition as YAML.
    Crd,
    /// Print every object the operator would apply for the platforms in a file, without a cluster.
    Render {
        /// YAML file holding one or more EcommercePlatform documents (- for stdin).
        #[arg(long, short)]
        file: PathBuf,
        /// Fail (exit 1, nothing printed on stdout) when a document has a field the schema does
        /// not know; without it each such field is a warning on stderr.
        #[arg(long)]
        strict: bool,
    },
    /// Run the controller (needs a cluster: in-cluster config or KUBECONFIG).
    Run {
        /// Address of /metrics, /healthz and /readyz.
        #[arg(
            long,
            default_value = "0.0.0.0:8080",
            env = "STOREFRONT_OPERATOR_LISTEN"
        )]
        listen: SocketAddr,
        /// Name of the leader-election Lease.
        #[arg(long, default_value = "storefront-operator")]
        lease_name: String,
        /// Watch only this namespace (for an install with a namespaced Role); default: all.
        #[arg(long, env = "STOREFRONT_WATCH_NAMESPACE")]
        watch_namespace: Option<String>,
        /// Namespace of the Lease (the operator's own namespace).
        #[arg(long, env = "POD_NAMESPACE", default_value = "storefront-system")]
        lease_namespace: String,
        /// This replica's identity in the Lease and in Events.
        #[arg(long, env = "POD_NAME")]
        identity: Option<String>,
        /// Seconds a Lease holds without renewal.
        #[arg(long, default_value_t = 15)]
        lease_seconds: u64,
    },
    /// Check a running operator: its /readyz answers 2xx and, with --crd, the CRD is
    /// established (needs in-cluster config or KUBECONFIG). Exits 1 naming what failed.
    Check {
        /// URL of the operator's readiness endpoint, e.g. http://storefront-operator-metrics:8080/readyz.
        #[arg(long)]
        url: String,
        /// Name of a CustomResourceDefinition that must be established, e.g.
        /// ecommerceplatforms.storefront.dev.
        #[arg(long)]
        crd: Option<String>,
        /// Seconds each check keeps retrying before it fails.
        #[arg(long, default_value_t = 60)]
        timeout_seconds: u64,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Crd => print!("{}", storefront_operator::crd::crd_yaml()?),
        Command::Render { file, strict } => {
            let yaml = if file.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin()).context("reading stdin")?
            } else {
                std::fs::read_to_string(&file)
                    .with_context(|| format!("reading {}", file.display()))?
            };
            let out = storefront_operator::render::render_yaml(&yaml, &mut RandomSecrets)
                .with_context(|| format!("rendering {}", file.display()))?;
            // Worded as kubectl prints the API server's field-validation warnings.
            for field in &out.unknown_fields {
                eprintln!("Warning: {field} in {}", file.display());
            }
            if strict && !out.unknown_fields.is_empty() {
                anyhow::bail!(
                    "{} has {} unknown field(s) (--strict); fix or remove them",
                    file.display(),
                    out.unknown_fields.len()
                );
            }
            print!("{}", out.yaml);
        }
        Command::Run {
            listen,
            lease_name,
            watch_namespace,
            lease_namespace,
            identity,
            lease_seconds,
        } => {
            tracing_subscriber::fmt()
                .json()
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_from_default_env()
                        .unwrap_or_else(|_| "info,kube=warn".into()),
                )
                .init();
            let identity = identity.unwrap_or_else(|| {
                std::env::var("HOSTNAME").unwrap_or_else(|_| "storefront-operator".into())
            });
            let options = RunOptions {
                listen,
                lease: LeaseConfig {
                    name: lease_name,
                    namespace: lease_namespace,
                    identity,
                    duration: Duration::from_secs(lease_seconds),
                    renew_every: Duration::from_secs((lease_seconds / 5).max(1)),
                },
                watch_namespace,
            };
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?
                .block_on(run(options))?;
        }
        Command::Check {
            url,
            crd,
            timeout_seconds,
        } => {
            tracing_subscriber::fmt()
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_from_default_env()
                        .unwrap_or_else(|_| "info,kube=warn".into()),
                )
                .init();
            let within = Duration::from_secs(timeout_seconds);
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?
                .block_on(async {
                    check::ready(&url, within).await?;
                    println!("ok: {url} is ready");
                    if let Some(name) = crd {
                        let client = kube::Client::try_default()
                            .await
                            .context("connecting to the API server")?;
                        check::crd_established(client, &name, within).await?;
                        println!("ok: CustomResourceDefinition {name} is established");
                    }
                    anyhow::Ok(())
                })?;
        }
    }
    Ok(())
}
