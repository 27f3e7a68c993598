//! `make cluster`: a local control plane for a person. Prints the two lines a shell can eval,
//! then stays in the foreground until Ctrl-C or SIGTERM stops everything.

use clap::Parser;
use storefront_cluster::{ClusterOptions, LocalCluster, tools};

/// A local Kubernetes control plane with simulated (kwok) nodes, or one real node.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// How many kwok nodes to create, or `real` for one real node (containerd, kubelet,
    /// kube-proxy, CoreDNS) that runs the pods' containers.
    #[arg(long, env = "NODES", default_value = "1")]
    nodes: String,
    /// Do not install the Istio CRDs.
    #[arg(long)]
    no_istio_crds: bool,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let real_node = args.nodes == "real";
    let nodes = if real_node {
        0
    } else {
        match args.nodes.parse() {
            Ok(n) => n,
            Err(_) => {
                eprintln!(
                    "storefront-cluster: --nodes takes a number or `real`, not {:?}",
                    args.nodes
                );
                return std::process::ExitCode::from(2);
            }
        }
    };
    let options = ClusterOptions {
        nodes,
        istio_crds: !args.no_istio_crds,
        real_node,
        ..ClusterOptions::default()
    };
    let cluster = match LocalCluster::start(&options) {
        Ok(cluster) => cluster,
        Err(error) => {
            eprintln!("storefront-cluster: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    if real_node {
        eprintln!(
            "\nThe cluster is up with one real node: pods run in containerd. Import images with \
             `ctr --address {}/node/containerd.sock -n k8s.io images import <archive>`.\nIn another shell:\n",
            cluster.dir().display()
        );
    } else {
        eprintln!(
            "\nThe cluster is up. Its nodes are kwok's: pods are scheduled and report Running and \
             Ready, but no container runs.\nIn another shell:\n"
        );
    }
    println!("export KUBECONFIG={}", cluster.kubeconfig().display());
    println!("export PATH={}:$PATH", tools::bin_dir().display());
    eprintln!("\nCtrl-C (or SIGTERM) stops the cluster and removes its files.");
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("storefront-cluster: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
        }
    });
    eprintln!("stopping the cluster");
    cluster.stop();
    std::process::ExitCode::SUCCESS
}
