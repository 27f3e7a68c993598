//! What every cluster test shares: one local cluster per test binary (or a clear skip), the
//! operator's chart installed into it, the real operator binary run as the chart's
//! ServiceAccount, platforms from `manifests/` moved into a test's own namespace, and polling.
//!
//! The cluster tests run when the kube-tools cache holds the binaries. `make test` sets
//! `STOREFRONT_CLUSTER_TESTS=1`, which turns a missing binary into a failure instead of a skip.

#![allow(dead_code)] // each test binary uses its own part of this module

pub mod prometheus;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;
use storefront_cluster::{ClusterOptions, LocalCluster, tools};

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Whether the cluster tests must run (`STOREFRONT_CLUSTER_TESTS=1`): then what they need
/// missing is a failure, not a skip.
pub fn required() -> bool {
    std::env::var("STOREFRONT_CLUSTER_TESTS").as_deref() == Ok("1")
}

/// Whether the control plane's binaries and `extra` are in the cache: `false` (with a message)
/// when they are not and the cluster tests were not required, a panic when they were.
pub fn tools_present_for(extra: &[&str]) -> bool {
    let all: Vec<&str> = tools::CONTROL_PLANE.iter().chain(extra).copied().collect();
    match tools::require(&all) {
        Ok(()) => true,
        Err(missing) => {
            assert!(
                !required(),
                "STOREFRONT_CLUSTER_TESTS=1 but the cluster cannot start: {missing}"
            );
            eprintln!("SKIPPED (no local cluster): {missing}");
            false
        }
    }
}

/// This binary's cluster, started on first use; `None` (with a message) when the binaries are
/// missing and the cluster tests were not required.
pub fn cluster_with(options: ClusterOptions) -> Option<&'static LocalCluster> {
    static CLUSTER: OnceLock<Option<LocalCluster>> = OnceLock::new();
    CLUSTER
        .get_or_init(|| {
            if !tools_present_for(&[]) {
                return None;
            }
            match LocalCluster::start(&options) {
                Ok(cluster) => Some(cluster),
                Err(error) => panic!("the local cluster did not start: {error}"),
            }
        })
        .as_ref()
}

/// A cluster of its own with one real node (not shared: one real node runs per machine, and
/// dropping it cleans the host up), or `None` with the reason where one cannot run: the node
/// needs root (mounts, iptables, the pod bridge) and its binaries.
pub fn real_node_cluster() -> Option<LocalCluster> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    #[allow(unsafe_code)]
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        eprintln!("SKIPPED (a real node needs root: mounts, iptables and the pod bridge)");
        return None;
    }
    if !tools_present_for(&storefront_cluster::real_node::NODE_TOOLS) {
        return None;
    }
    let options = ClusterOptions {
        nodes: 0,
        istio_crds: false,
        real_node: true,
        ..ClusterOptions::default()
    };
    Some(LocalCluster::start(&options).expect("a cluster with a real node starts"))
}

/// A cluster with the Istio CRDs.
pub fn cluster() -> Option<&'static LocalCluster> {
    cluster_with(ClusterOptions::default())
}

/// Where cargo put this workspace's binaries (the test binary lives in `<that>/deps`).
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    exe.parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// Cargo's target directory (the parent of the profile directory).
pub fn target_dir() -> PathBuf {
    profile_dir()
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// A binary of this workspace, built by `cargo build --workspace --bins`.
pub fn target_bin(name: &str) -> PathBuf {
    let path = profile_dir().join(name);
    assert!(
        path.is_file(),
        "{} is missing: run `cargo build --workspace --bins` first (make test does)",
        path.display()
    );
    path
}

/// Creates namespace `name` (unique per test) and returns it.
pub fn namespace(cluster: &LocalCluster, name: &str) -> String {
    cluster
        .kubectl()
        .args(["create", "namespace", name])
        .run()
        .expect("create namespace");
    name.to_owned()
}

/// A manifest from `manifests/` as JSON documents.
pub fn manifest_documents(file: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(repo().join("manifests").join(file))
        .unwrap_or_else(|e| panic!("reading manifests/{file}: {e}"));
    documents(&text)
}

/// Every YAML document of `text`, as JSON (empty documents dropped).
pub fn documents(text: &str) -> Vec<Value> {
    use serde::Deserialize;
    serde_norway::Deserializer::from_str(text)
        .map(|d| Value::deserialize(d).expect("valid YAML"))
        .filter(|v| !v.is_null())
        .collect()
}

/// The first EcommercePlatform of a manifest, moved into `namespace`.
pub fn platform_from(file: &str, namespace: &str) -> Value {
    let mut platform = manifest_documents(file)
        .into_iter()
        .find(|d| d["kind"] == "EcommercePlatform")
        .unwrap_or_else(|| panic!("manifests/{file} holds no EcommercePlatform"));
    platform["metadata"]["namespace"] = Value::String(namespace.to_owned());
    platform
}

/// `kubectl apply -f -` of one object as the administrator.
pub fn apply(cluster: &LocalCluster, object: &Value) {
    cluster
        .kubectl()
        .args(["apply", "-f", "-"])
        .stdin(&object.to_string())
        .run()
        .unwrap_or_else(|e| panic!("{e}"));
}

/// `kubectl get -o json`, or `None` when it does not exist.
pub fn get(cluster: &LocalCluster, namespace: &str, what: &[&str]) -> Option<Value> {
    cluster
        .kubectl()
        .args(["get", "-n", namespace, "-o", "json"])
        .args(what.iter().copied())
        .quiet()
        .run()
        .ok()
        .and_then(|out| serde_json::from_str(&out).ok())
}

/// Polls `check` every half second until it returns `Some`, or panics with `what` and the last
/// state `describe` gives.
pub fn eventually<T>(
    what: &str,
    limit: Duration,
    mut check: impl FnMut() -> Option<T>,
    describe: impl Fn() -> String,
) -> T {
    let started = Instant::now();
    loop {
        if let Some(v) = check() {
            eprintln!(
                "[test] {what}: after {:.1} s",
                started.elapsed().as_secs_f64()
            );
            return v;
        }
        assert!(
            started.elapsed() < limit,
            "{what}: not within {limit:?}; last state:\n{}",
            describe()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Helm, with the cluster's kubeconfig.
pub fn helm(cluster: &LocalCluster, args: &[&str]) -> Result<String, String> {
    let out = Command::new(tools::binary("helm").expect("helm"))
        .env("KUBECONFIG", cluster.kubeconfig())
        .env("HELM_CACHE_HOME", cluster.dir().join("helm/cache"))
        .env("HELM_CONFIG_HOME", cluster.dir().join("helm/config"))
        .env("HELM_DATA_HOME", cluster.dir().join("helm/data"))
        .args(args)
        .output()
        .map_err(|e| format!("running helm: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "helm {} failed: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Where the chart puts the operator (namespace, release and ServiceAccount name).
pub const OPERATOR_NAMESPACE: &str = "storefront-system";
pub const OPERATOR_SA: &str = "storefront-operator";

/// Installs the operator's chart once per cluster (CRD, ServiceAccount, RBAC; its Deployment's
/// pods are kwok's and run nothing).
pub fn install_chart(cluster: &LocalCluster) {
    install_chart_with(cluster, &[]);
}

/// The same with more `helm install` arguments (last one wins, e.g. `--wait=false`).
pub fn install_chart_with(cluster: &LocalCluster, extra: &[&str]) {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let chart = repo().join("charts/storefront-operator");
        let chart = chart.display().to_string();
        let mut args = vec![
            "install",
            "storefront-operator",
            &chart,
            "--namespace",
            OPERATOR_NAMESPACE,
            "--create-namespace",
            "--wait",
            "--timeout",
            "2m",
        ];
        args.extend_from_slice(extra);
        helm(cluster, &args).unwrap_or_else(|e| panic!("{e}"));
        wait_crd_established(cluster);
    });
}

/// Waits until the EcommercePlatform CRD is served.
pub fn wait_crd_established(cluster: &LocalCluster) {
    cluster
        .kubectl()
        .args([
            "wait",
            "--for=condition=Established",
            "crd/ecommerceplatforms.storefront.dev",
            "--timeout=60s",
        ])
        .run()
        .expect("CRD established");
}

/// A merge patch of platform `shop`'s spec, as `kubectl patch --type=merge` sends it.
pub fn patch_spec(cluster: &LocalCluster, namespace: &str, spec: Value) {
    cluster
        .kubectl()
        .args([
            "patch",
            "ecp",
            "shop",
            "-n",
            namespace,
            "--type=merge",
            "-p",
        ])
        .arg(serde_json::json!({ "spec": spec }).to_string())
        .run()
        .unwrap_or_else(|e| panic!("{e}"));
}

/// A kubeconfig that authenticates as the chart's ServiceAccount (a TokenRequest token), so the
/// operator run with it meets exactly the chart's RBAC.
pub fn operator_kubeconfig(cluster: &LocalCluster) -> PathBuf {
    install_chart(cluster);
    let token = cluster
        .kubectl()
        .args([
            "create",
            "token",
            OPERATOR_SA,
            "-n",
            OPERATOR_NAMESPACE,
            "--duration=2h",
        ])
        .run()
        .expect("TokenRequest for the operator's ServiceAccount");
    cluster
        .token_kubeconfig("operator", token.trim())
        .expect("operator kubeconfig")
}

/// The operator's user name in the audit log.
pub fn operator_user() -> String {
    format!("system:serviceaccount:{OPERATOR_NAMESPACE}:{OPERATOR_SA}")
}

/// One running `storefront-operator run` process; killed on drop.
pub struct Operator {
    child: Child,
    pub identity: String,
    pub log: PathBuf,
    pub metrics_port: u16,
}

impl Operator {
    /// Starts the real operator binary as the chart's ServiceAccount. `args` are passed
    /// through (e.g. a short lease for the leader-election test).
    pub fn start(cluster: &LocalCluster, identity: &str, args: &[&str]) -> Self {
        let kubeconfig = operator_kubeconfig(cluster);
        let port = storefront_testkit::free_port();
        let log = cluster.dir().join(format!("operator-{identity}.log"));
        let file = std::fs::File::create(&log).expect("operator log");
        let child = Command::new(target_bin("storefront-operator"))
            .arg("run")
            .arg(format!("--listen=127.0.0.1:{port}"))
            .arg(format!("--identity={identity}"))
            .arg(format!("--lease-namespace={OPERATOR_NAMESPACE}"))
            .args(args)
            .env("KUBECONFIG", kubeconfig)
            .env("RUST_LOG", "info,kube=warn,storefront_operator=debug")
            .stdin(Stdio::null())
            .stdout(Stdio::from(file.try_clone().expect("log")))
            .stderr(Stdio::from(file))
            .spawn()
            .expect("start storefront-operator");
        Self {
            child,
            identity: identity.to_owned(),
            log,
            metrics_port: port,
        }
    }

    /// The end of this operator's log.
    pub fn log_tail(&self) -> String {
        storefront_cluster::control_plane::tail(&self.log)
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGKILL: no graceful release of the Lease, as when a node dies.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait: a graceful stop.
    pub fn terminate(&mut self) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            // No libc here: kill(1) is enough for a test.
            let _ = Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
        let _ = self.child.wait();
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The platform's status, or `Value::Null`.
pub fn platform_status(cluster: &LocalCluster, namespace: &str, name: &str) -> Value {
    get(cluster, namespace, &["ecp", name])
        .map(|p| p["status"].clone())
        .unwrap_or(Value::Null)
}

/// The status of condition `type_` ("True"/"False"/"Unknown"), if any.
pub fn condition(status: &Value, type_: &str) -> Option<(String, String)> {
    status["conditions"].as_array()?.iter().find_map(|c| {
        (c["type"] == type_).then(|| {
            (
                c["status"].as_str().unwrap_or_default().to_owned(),
                c["message"].as_str().unwrap_or_default().to_owned(),
            )
        })
    })
}

/// `kubectl wait --for=condition=Ready ecp/<name>`, as a user would.
pub fn wait_ready(cluster: &LocalCluster, namespace: &str, name: &str, timeout: &str) {
    let result = cluster
        .kubectl()
        .args([
            "wait",
            "-n",
            namespace,
            "--for=condition=Ready",
            &format!("ecp/{name}"),
            &format!("--timeout={timeout}"),
        ])
        .run();
    if let Err(e) = result {
        panic!(
            "{e}\nstatus: {:#}",
            platform_status(cluster, namespace, name)
        );
    }
}

/// A Secret with plain string values.
pub fn secret(namespace: &str, name: &str, data: &[(&str, &str)]) -> Value {
    let mut string_data = serde_json::Map::new();
    for (k, v) in data {
        string_data.insert((*k).to_owned(), Value::String((*v).to_owned()));
    }
    serde_json::json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "stringData": string_data,
    })
}
