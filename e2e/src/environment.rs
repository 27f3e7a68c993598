//! Decides whether the cluster tests can run here, and with what settings.
//!
//! The order of the checks is the order a user fixes them in: opt in, install the tools, start
//! the cluster. Nothing touches the network before the opt-in.

use std::path::Path;
use std::time::Duration;

use kube::Client;

/// What the cluster tests need, found on this machine.
#[derive(Clone)]
pub struct Cluster {
    pub client: Client,
    /// Namespace and name of the platform under test (`manifests/platform.yaml`: shop/shop).
    pub namespace: String,
    pub name: String,
    /// Base URL of the Istio ingress gateway, as mapped to the host by `e2e/kind.yaml`.
    pub ingress_url: String,
    /// Host header the platform's Istio Gateway answers to.
    pub ingress_host: String,
    /// Base URL of Jaeger's query API (`e2e/run.sh` port-forwards it).
    pub jaeger_url: String,
}

/// Why the cluster tests do not run here.
#[derive(Debug, PartialEq, Eq)]
pub enum Skip {
    NotRequested,
    MissingTool(&'static str),
    NoCluster(String),
}

impl std::fmt::Display for Skip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotRequested => write!(f, "STOREFRONT_E2E=1 is not set"),
            Self::MissingTool(tool) => write!(f, "`{tool}` is not on PATH"),
            Self::NoCluster(why) => write!(f, "no reachable Kubernetes cluster ({why})"),
        }
    }
}

const HOW_TO_RUN: &str = "to run the end-to-end suite: e2e/run.sh (needs docker or podman, kind, \
     kubectl, helm and istioctl; it creates the kind cluster, installs Istio, Prometheus, the \
     operator and the shop, then runs these tests with STOREFRONT_E2E=1)";

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|dir| is_executable(&dir.join(tool)))
    })
}

fn is_executable(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        path.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        path.is_file()
    }
}

/// The checks that need no network, in the order a user fixes them.
pub fn local_prerequisites(
    requested: Option<&str>,
    on_path: impl Fn(&str) -> bool,
) -> Result<(), Skip> {
    if requested != Some("1") {
        return Err(Skip::NotRequested);
    }
    for tool in ["kind", "kubectl"] {
        if !on_path(tool) {
            return Err(Skip::MissingTool(tool));
        }
    }
    Ok(())
}

async fn connect() -> Result<Client, Skip> {
    let client = Client::try_default()
        .await
        .map_err(|e| Skip::NoCluster(format!("no kubeconfig or in-cluster config: {e}")))?;
    match tokio::time::timeout(Duration::from_secs(10), client.apiserver_version()).await {
        Ok(Ok(_)) => Ok(client),
        Ok(Err(e)) => Err(Skip::NoCluster(format!(
            "the API server did not answer: {e}"
        ))),
        Err(_) => Err(Skip::NoCluster(
            "the API server did not answer within 10 s".into(),
        )),
    }
}

/// Tells why `test` did not run. Written to stderr directly rather than with `eprintln!`, which
/// the test harness captures: a skip must be visible in a plain `cargo test`.
pub fn print_skip(test: &str, why: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIP {test}: {why}; {HOW_TO_RUN}");
}

/// The cluster under test, or `None` after printing why the calling test is skipped.
pub async fn cluster_or_skip(test: &str) -> Option<Cluster> {
    let requested = std::env::var("STOREFRONT_E2E").ok();
    let found = match local_prerequisites(requested.as_deref(), on_path) {
        Ok(()) => connect().await,
        Err(skip) => Err(skip),
    };
    match found {
        Ok(client) => Some(Cluster {
            client,
            namespace: env_or("STOREFRONT_E2E_NAMESPACE", "shop"),
            name: env_or("STOREFRONT_E2E_PLATFORM", "shop"),
            ingress_url: env_or("STOREFRONT_E2E_INGRESS_URL", "http://127.0.0.1:8080"),
            ingress_host: env_or("STOREFRONT_E2E_HOST", "shop.example.com"),
            jaeger_url: env_or("STOREFRONT_E2E_JAEGER_URL", "http://127.0.0.1:16686"),
        }),
        Err(skip) => {
            print_skip(test, &skip.to_string());
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_runs_without_the_opt_in() {
        assert_eq!(local_prerequisites(None, |_| true), Err(Skip::NotRequested));
        assert_eq!(
            local_prerequisites(Some("0"), |_| true),
            Err(Skip::NotRequested)
        );
    }

    #[test]
    fn a_missing_tool_is_named() {
        let skip = local_prerequisites(Some("1"), |tool| tool != "kubectl").unwrap_err();
        assert_eq!(skip, Skip::MissingTool("kubectl"));
        assert_eq!(skip.to_string(), "`kubectl` is not on PATH");
    }

    #[test]
    fn opted_in_with_both_tools_goes_on_to_the_cluster_check() {
        assert_eq!(local_prerequisites(Some("1"), |_| true), Ok(()));
    }
}
