//! `kubectl storefront rollout status [<service>] [-w]` and
//! `kubectl storefront rollout pause|resume|promote|abort <service>`.
//!
//! kubectl runs any `kubectl-storefront` on the PATH as `kubectl storefront`. The commands write
//! the annotation `rollout.storefront.dev/<service>` on the EcommercePlatform, which the
//! operator acts on (and removes, for the one-shot ones); the plugin needs `patch` on
//! `ecommerceplatforms` in the namespace, nothing else.

use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};
use kube::api::{Api, Patch, PatchParams};
use kube::{Client, Config};
use kubectl_storefront::table;
use storefront_operator::crd::{EcommercePlatform, RolloutStrategy};
use storefront_operator::rollout::Command;
use storefront_operator::rollout::command::annotation_key;

#[derive(Parser)]
#[command(
    name = "kubectl storefront",
    version,
    about = "Storefront rollouts from kubectl"
)]
struct Cli {
    /// Namespace of the platform (default: the kubeconfig context's, else `default`).
    #[arg(short, long, global = true)]
    namespace: Option<String>,
    /// Name of the EcommercePlatform (default: the only one in the namespace).
    #[arg(short, long, global = true)]
    platform: Option<String>,
    #[command(subcommand)]
    what: What,
}

#[derive(Subcommand)]
enum What {
    /// Show or steer rollouts.
    #[command(subcommand)]
    Rollout(Rollout),
}

#[derive(Subcommand)]
enum Rollout {
    /// The rollouts as a table: phase, step, weights, versions, last analysis.
    Status {
        /// Only this service.
        service: Option<String>,
        /// Print again whenever it changes (every 2 s), until interrupted.
        #[arg(short, long)]
        watch: bool,
    },
    /// Hold the rollout where it is until resumed.
    Pause { service: String },
    /// Continue a paused rollout.
    Resume { service: String },
    /// Skip the remaining steps: the canary becomes stable now.
    Promote { service: String },
    /// Roll back now; the version is not retried while the spec names it.
    Abort { service: String },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = Config::infer()
        .await
        .context("no Kubernetes configuration (KUBECONFIG, ~/.kube/config or in-cluster)")?;
    let namespace = cli
        .namespace
        .clone()
        .unwrap_or_else(|| config.default_namespace.clone());
    let client = Client::try_from(config).context("cannot build a Kubernetes client")?;
    let api: Api<EcommercePlatform> = Api::namespaced(client, &namespace);
    let name = platform_name(&api, &namespace, cli.platform.as_deref()).await?;
    let Cli {
        what: What::Rollout(rollout),
        ..
    } = cli;
    let (service, command) = match rollout {
        Rollout::Status { service, watch } => {
            return status(&api, &name, service.as_deref(), watch).await;
        }
        Rollout::Pause { service } => (service, Command::Pause),
        Rollout::Resume { service } => (service, Command::Resume),
        Rollout::Promote { service } => (service, Command::Promote),
        Rollout::Abort { service } => (service, Command::Abort),
    };
    let platform = api
        .get(&name)
        .await
        .with_context(|| format!("cannot read ecp/{name} in {namespace}"))?;
    match table::strategy(&platform, &service) {
        None => bail!("{service} is not a Storefront service"),
        Some(RolloutStrategy::Canary | RolloutStrategy::Manual | RolloutStrategy::BlueGreen) => {}
        Some(strategy) => bail!(
            "{service} rolls out with {strategy:?}; commands steer Canary, Manual and BlueGreen rollouts only"
        ),
    }
    let key = annotation_key(&service);
    let patch = serde_json::json!({"metadata": {"annotations": {key.as_str(): command.as_str()}}});
    api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .with_context(|| format!("cannot annotate ecp/{name} in {namespace}"))?;
    println!("ecp/{name}: {key}={command}; the operator acts on it at once");
    Ok(())
}

/// The platform to act on: the one named, or the only one in the namespace.
async fn platform_name(
    api: &Api<EcommercePlatform>,
    namespace: &str,
    given: Option<&str>,
) -> anyhow::Result<String> {
    if let Some(name) = given {
        return Ok(name.to_owned());
    }
    let list = api
        .list(&Default::default())
        .await
        .with_context(|| format!("cannot list EcommercePlatforms in {namespace}"))?;
    let names: Vec<String> = list
        .items
        .into_iter()
        .filter_map(|p| p.metadata.name)
        .collect();
    match names.as_slice() {
        [one] => Ok(one.clone()),
        [] => bail!("no EcommercePlatform in namespace {namespace}; pass -n"),
        many => bail!(
            "{} EcommercePlatforms in {namespace} ({}); pick one with --platform",
            many.len(),
            many.join(", ")
        ),
    }
}

async fn status(
    api: &Api<EcommercePlatform>,
    name: &str,
    service: Option<&str>,
    watch: bool,
) -> anyhow::Result<()> {
    let mut last = String::new();
    loop {
        let platform = api
            .get(name)
            .await
            .with_context(|| format!("cannot read ecp/{name}"))?;
        let table = table::render(&platform, service);
        if table != last {
            if watch && !last.is_empty() {
                println!();
            }
            print!("{table}");
            last = table;
        }
        if !watch {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}
