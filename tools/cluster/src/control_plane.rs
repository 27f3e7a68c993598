//! Starts and stops one local cluster: etcd, kube-apiserver (client certificates, RBAC, an audit
//! log), kube-controller-manager, kube-scheduler and kwok, each a child process tied to ours on
//! random loopback ports, with every file under one temporary directory.
//!
//! Invariants: every process dies with the process that started it (parent-death signal and an
//! exit hook); stopping the cluster removes its directory; nothing listens beyond 127.0.0.1
//! except a real node's kubelet (on every address, client certificates of the cluster CA only).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use storefront_testkit::{free_port, spawn_tied_process, spawn_tied_process_in, stop_tied_process};

use crate::audit::{self, AuditLog};
use crate::kubeconfig::{self, Credentials};
use crate::kubectl::{Kubectl, KubectlError};
use crate::nodes;
use crate::pki::{Pki, PkiError};
use crate::real_node::{self, NodeError, NodeFiles};
use crate::tools::{self, MissingTool};

/// What kind of cluster to start.
#[derive(Clone, Debug)]
pub struct ClusterOptions {
    /// Fake nodes that kwok runs (pods on them are simulated: scheduled, Running, Ready).
    pub nodes: usize,
    /// Install the Istio CRDs (from istio.io/api) once the API server is up.
    pub istio_crds: bool,
    /// Pre-made PersistentVolumes of the default StorageClass `standard` (hostPath, Retain).
    pub volumes: usize,
    /// One real node (containerd, kubelet, kube-proxy, CoreDNS) that runs the pods' containers.
    pub real_node: bool,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        Self {
            nodes: 1,
            istio_crds: true,
            volumes: 24,
            real_node: false,
        }
    }
}

/// Why a cluster did not start.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(transparent)]
    MissingTool(#[from] MissingTool),
    #[error(transparent)]
    Pki(#[from] PkiError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("starting {name}: {detail}")]
    Spawn { name: String, detail: String },
    #[error("{name} exited during start-up ({status}); the end of {log}:\n{tail}")]
    Exited {
        name: String,
        status: String,
        log: String,
        tail: String,
    },
    #[error("{what} not ready after {seconds} s; the end of {log}:\n{tail}")]
    Timeout {
        what: String,
        seconds: u64,
        log: String,
        tail: String,
    },
    #[error(transparent)]
    Kubectl(#[from] KubectlError),
    #[error(transparent)]
    Node(#[from] NodeError),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ClusterError {
    let what = what.into();
    move |source| ClusterError::Io { what, source }
}

/// A running local cluster. Dropping it stops every process and removes its files.
pub struct LocalCluster {
    dir: PathBuf,
    server: String,
    admin_kubeconfig: PathBuf,
    ca: PathBuf,
    audit: AuditLog,
    processes: Mutex<Vec<(String, Child)>>,
    node: Option<NodeFiles>,
    stopped: std::sync::atomic::AtomicBool,
}

const START_LIMIT: Duration = Duration::from_secs(90);

impl LocalCluster {
    /// Starts a cluster and waits until its nodes are Ready.
    pub fn start(options: &ClusterOptions) -> Result<Self, ClusterError> {
        tools::require(&tools::CONTROL_PLANE)?;
        let started = Instant::now();
        let dir = fresh_dir()?;
        progress(&format!("cluster files in {}", dir.display()));
        let pki = Pki::create(&dir.join("pki"))?;
        let etcd_port = free_port();
        let api_port = free_port();
        let server = format!("https://127.0.0.1:{api_port}");
        let audit_log = dir.join("audit.log");
        std::fs::write(dir.join("audit-policy.yaml"), audit::POLICY)
            .map_err(io("writing the audit policy"))?;

        let admin = pki.client("admin", "storefront-admin", &["system:masters"])?;
        let admin_kubeconfig = dir.join("admin.kubeconfig");
        write_kubeconfig(
            &admin_kubeconfig,
            &server,
            &pki.ca.cert,
            "storefront-admin",
            &Credentials::Certificate {
                cert: &admin.cert,
                key: &admin.key,
            },
        )?;
        let cluster = Self {
            dir: dir.clone(),
            server: server.clone(),
            admin_kubeconfig: admin_kubeconfig.clone(),
            ca: pki.ca.cert.clone(),
            audit: AuditLog::new(&audit_log),
            processes: Mutex::new(Vec::new()),
            node: None,
            stopped: std::sync::atomic::AtomicBool::new(false),
        };
        let mut cluster = cluster;

        let etcd_dir = dir.join("etcd");
        let mut etcd = Command::new(tools::binary("etcd")?);
        etcd.arg("--name=storefront")
            .arg(format!("--data-dir={}", etcd_dir.display()))
            .arg(format!("--listen-client-urls=http://127.0.0.1:{etcd_port}"))
            .arg(format!(
                "--advertise-client-urls=http://127.0.0.1:{etcd_port}"
            ))
            .arg(format!(
                "--listen-peer-urls=http://127.0.0.1:{}",
                free_port()
            ))
            .arg("--initial-cluster-state=new")
            .arg("--unsafe-no-fsync")
            .arg("--log-level=warn");
        // The peer URL defaults to localhost:2380, which may be taken: pin it to the listen port.
        let peer = etcd
            .get_args()
            .filter_map(|a| a.to_str())
            .find_map(|a| a.strip_prefix("--listen-peer-urls=").map(str::to_owned))
            .unwrap_or_default();
        etcd.arg(format!("--initial-advertise-peer-urls={peer}"))
            .arg(format!("--initial-cluster=storefront={peer}"));
        cluster.spawn("etcd", etcd, true)?;
        cluster.wait("etcd", || etcd_healthy(etcd_port))?;
        progress(&format!("etcd ready on 127.0.0.1:{etcd_port}"));

        // How the API server reaches a real node's kubelet (logs, exec, port-forward).
        let kubelet_client = pki.client(
            "apiserver-kubelet-client",
            "kube-apiserver-kubelet-client",
            &["system:masters"],
        )?;
        let mut apiserver = Command::new(tools::binary("kube-apiserver")?);
        apiserver
            .arg(format!("--etcd-servers=http://127.0.0.1:{etcd_port}"))
            .arg("--bind-address=127.0.0.1")
            .arg("--advertise-address=127.0.0.1")
            .arg(format!("--secure-port={api_port}"))
            .arg(format!("--tls-cert-file={}", pki.apiserver.cert.display()))
            .arg(format!(
                "--tls-private-key-file={}",
                pki.apiserver.key.display()
            ))
            .arg(format!("--client-ca-file={}", pki.ca.cert.display()))
            .arg("--service-account-issuer=https://kubernetes.default.svc.cluster.local")
            .arg(format!(
                "--service-account-key-file={}",
                pki.service_account_pub.display()
            ))
            .arg(format!(
                "--service-account-signing-key-file={}",
                pki.service_account_key.display()
            ))
            .arg("--service-cluster-ip-range=10.96.0.0/16")
            .arg("--authorization-mode=Node,RBAC")
            .arg(format!(
                "--audit-policy-file={}",
                dir.join("audit-policy.yaml").display()
            ))
            .arg(format!("--audit-log-path={}", audit_log.display()))
            .arg("--audit-log-format=json")
            .arg("--allow-privileged=true")
            .arg(format!(
                "--kubelet-client-certificate={}",
                kubelet_client.cert.display()
            ))
            .arg(format!(
                "--kubelet-client-key={}",
                kubelet_client.key.display()
            ))
            .arg("--kubelet-preferred-address-types=InternalIP")
            // The loopback address cannot be an Endpoints address; nothing in-cluster calls the
            // API server through the `kubernetes` Service here.
            .arg("--endpoint-reconciler-type=none")
            .arg(format!("--cert-dir={}", dir.join("apiserver").display()))
            .arg("--profiling=false")
            .arg("--v=1");
        cluster.spawn("kube-apiserver", apiserver, false)?;
        cluster.wait("kube-apiserver", || {
            cluster
                .kubectl()
                .args(["get", "--raw", "/readyz"])
                .quiet()
                .run()
                .is_ok_and(|out| out.trim() == "ok")
        })?;
        progress(&format!("kube-apiserver ready at {server}"));

        let kcm_cert = pki.client("controller-manager", "system:kube-controller-manager", &[])?;
        let kcm_config = dir.join("controller-manager.kubeconfig");
        write_kubeconfig(
            &kcm_config,
            &server,
            &pki.ca.cert,
            "system:kube-controller-manager",
            &Credentials::Certificate {
                cert: &kcm_cert.cert,
                key: &kcm_cert.key,
            },
        )?;
        let mut kcm = Command::new(tools::binary("kube-controller-manager")?);
        kcm.arg(format!("--kubeconfig={}", kcm_config.display()))
            .arg(format!(
                "--authentication-kubeconfig={}",
                kcm_config.display()
            ))
            .arg(format!(
                "--authorization-kubeconfig={}",
                kcm_config.display()
            ))
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--secure-port={}", free_port()))
            .arg(format!(
                "--cert-dir={}",
                dir.join("controller-manager").display()
            ))
            .arg("--controllers=*")
            // kwok is the kubelet here and renews its node Lease every 10 s; on a loaded
            // machine a gap past the default grace would mark every pod NotReady, and kwok
            // never marks them Ready again.
            .arg("--node-monitor-grace-period=2m")
            .arg("--leader-elect=false")
            .arg("--use-service-account-credentials=true")
            .arg(format!(
                "--service-account-private-key-file={}",
                pki.service_account_key.display()
            ))
            .arg(format!("--root-ca-file={}", pki.ca.cert.display()))
            .arg(format!(
                "--cluster-signing-cert-file={}",
                pki.ca.cert.display()
            ))
            .arg(format!(
                "--cluster-signing-key-file={}",
                pki.ca.key.display()
            ))
            .arg("--v=1");
        cluster.spawn("kube-controller-manager", kcm, false)?;

        let scheduler_cert = pki.client("scheduler", "system:kube-scheduler", &[])?;
        let scheduler_config = dir.join("scheduler.kubeconfig");
        write_kubeconfig(
            &scheduler_config,
            &server,
            &pki.ca.cert,
            "system:kube-scheduler",
            &Credentials::Certificate {
                cert: &scheduler_cert.cert,
                key: &scheduler_cert.key,
            },
        )?;
        let mut scheduler = Command::new(tools::binary("kube-scheduler")?);
        scheduler
            .arg(format!("--kubeconfig={}", scheduler_config.display()))
            .arg(format!(
                "--authentication-kubeconfig={}",
                scheduler_config.display()
            ))
            .arg(format!(
                "--authorization-kubeconfig={}",
                scheduler_config.display()
            ))
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--secure-port={}", free_port()))
            .arg(format!("--cert-dir={}", dir.join("scheduler").display()))
            .arg("--leader-elect=false")
            .arg("--v=1");
        cluster.spawn("kube-scheduler", scheduler, false)?;
        if options.real_node {
            cluster.start_real_node(&pki)?;
        }

        let mut kwok = Command::new(tools::binary("kwok")?);
        kwok.arg(format!("--kubeconfig={}", admin_kubeconfig.display()))
            .arg("--manage-all-nodes=false")
            .arg(format!(
                "--manage-nodes-with-annotation-selector={}",
                nodes::KWOK_ANNOTATION
            ))
            .arg("--node-lease-duration-seconds=40")
            .arg("--cidr=10.244.0.1/16")
            .arg("--node-ip=127.0.0.1");
        cluster.spawn("kwok", kwok, false)?;

        // On a real node the volumes are these directories, and the stores run as their own
        // users (postgres 70, redis 999): hostPath volumes take no fsGroup, so anyone may write.
        for i in 0..options.volumes {
            let path = dir.join("volumes").join(format!("pv-{i}"));
            std::fs::create_dir_all(&path).map_err(io("creating a volume directory"))?;
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777))
                .map_err(io("opening a volume directory"))?;
        }
        cluster
            .kubectl()
            .args(["apply", "-f", "-"])
            .stdin(&nodes::manifests(
                options.nodes,
                options.volumes,
                &dir.join("volumes"),
            ))
            .run()?;
        cluster.wait("kwok nodes", || {
            cluster
                .kubectl()
                .args([
                    "wait",
                    "--for=condition=Ready",
                    "node",
                    "--all",
                    "--timeout=5s",
                ])
                .quiet()
                .run()
                .is_ok()
        })?;
        // Pods need their namespace's `default` ServiceAccount: proof the controllers run.
        cluster.wait("kube-controller-manager", || {
            cluster
                .kubectl()
                .args(["get", "serviceaccount", "default", "-n", "default"])
                .quiet()
                .run()
                .is_ok()
        })?;
        progress(&format!(
            "{} kwok node(s) Ready; controller-manager and scheduler running",
            options.nodes
        ));
        if options.istio_crds {
            cluster.install_istio_crds()?;
        }
        progress(&format!(
            "cluster up in {:.1} s",
            started.elapsed().as_secs_f64()
        ));
        Ok(cluster)
    }

    /// The API server's URL.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// The cluster administrator's kubeconfig (group `system:masters`).
    pub fn kubeconfig(&self) -> &Path {
        &self.admin_kubeconfig
    }

    /// The directory holding every file of this cluster.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The API server's audit log.
    pub fn audit(&self) -> &AuditLog {
        &self.audit
    }

    /// kubectl as the administrator.
    pub fn kubectl(&self) -> Kubectl {
        Kubectl::new(&self.admin_kubeconfig)
    }

    /// Installs the Istio CRDs and waits until they are served.
    pub fn install_istio_crds(&self) -> Result<(), ClusterError> {
        let crds = tools::istio_crds()?;
        self.kubectl()
            .args(["apply", "--server-side", "-f"])
            .arg(crds.display().to_string())
            .quiet()
            .run()?;
        self.kubectl()
            .args([
                "wait",
                "--for=condition=Established",
                "crd",
                "virtualservices.networking.istio.io",
                "destinationrules.networking.istio.io",
                "telemetries.telemetry.istio.io",
                "--timeout=60s",
            ])
            .quiet()
            .run()?;
        progress("Istio CRDs installed");
        Ok(())
    }

    /// A kubeconfig (written under the cluster's directory) that authenticates with `token`.
    pub fn token_kubeconfig(&self, name: &str, token: &str) -> Result<PathBuf, ClusterError> {
        let path = self.dir.join(format!("{name}.kubeconfig"));
        write_kubeconfig(
            &path,
            &self.server,
            &self.ca,
            name,
            &Credentials::Token(token),
        )?;
        Ok(path)
    }

    /// The log file of one of the cluster's processes.
    pub fn log_of(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.log"))
    }

    /// Starts containerd, the kubelet, kube-proxy and CoreDNS, and waits until the node and
    /// cluster DNS are Ready.
    fn start_real_node(&mut self, pki: &Pki) -> Result<(), ClusterError> {
        let node = NodeFiles::prepare(&self.dir, pki, &self.server)?;
        let mut containerd = Command::new("containerd");
        containerd.arg("--config").arg(&node.containerd_config);
        self.spawn("containerd", containerd, false)?;
        self.wait("containerd", || node.containerd_ready())?;
        for archive in node.base_images()? {
            node.import(&archive)?;
        }
        progress("containerd ready; pause and CoreDNS images imported");

        let mut kubelet = Command::new(tools::binary("kubelet")?);
        kubelet
            .arg(format!("--config={}", node.kubelet_config.display()))
            .arg(format!(
                "--kubeconfig={}",
                node.kubelet_kubeconfig.display()
            ))
            .arg(format!("--hostname-override={}", real_node::NODE_NAME))
            .arg(format!("--root-dir={}", node.dir.join("kubelet").display()))
            .arg(format!(
                "--cert-dir={}",
                node.dir.join("kubelet/pki").display()
            ))
            .arg("--v=1");
        self.spawn("kubelet", kubelet, false)?;
        let mut proxy = Command::new(tools::binary("kube-proxy")?);
        proxy
            .arg(format!("--kubeconfig={}", node.proxy_kubeconfig.display()))
            .arg(format!("--hostname-override={}", real_node::NODE_NAME))
            .arg("--proxy-mode=iptables")
            .arg("--cluster-cidr=10.244.0.0/16")
            .arg(format!("--healthz-bind-address=127.0.0.1:{}", free_port()))
            .arg(format!("--metrics-bind-address=127.0.0.1:{}", free_port()))
            .arg("--conntrack-max-per-core=0")
            .arg("--v=1");
        self.spawn("kube-proxy", proxy, false)?;
        self.wait("kubelet", || {
            self.kubectl()
                .args([
                    "wait",
                    "--for=condition=Ready",
                    "node",
                    real_node::NODE_NAME,
                    "--timeout=5s",
                ])
                .quiet()
                .run()
                .is_ok()
        })?;
        progress(&format!(
            "node {} Ready (kubelet, containerd, kube-proxy)",
            real_node::NODE_NAME
        ));
        self.kubectl()
            .args(["apply", "-f", "-"])
            .stdin(&real_node::coredns_manifests(
                &node.coredns_dir,
                node.dns_port,
                node.dns_ready_port,
            ))
            .run()?;
        self.node = Some(node);
        self.wait("kubelet", || {
            self.kubectl()
                .args([
                    "wait",
                    "--for=condition=Available",
                    "deployment/coredns",
                    "-n",
                    "kube-system",
                    "--timeout=5s",
                ])
                .quiet()
                .run()
                .is_ok()
        })?;
        progress(&format!(
            "CoreDNS Ready behind {}",
            real_node::DNS_SERVICE_IP
        ));
        Ok(())
    }

    /// Imports an image archive (`docker save`, `ctr export`) into the real node's containerd.
    pub fn import_image(&self, archive: &Path) -> Result<(), ClusterError> {
        match &self.node {
            Some(node) => Ok(node.import(archive)?),
            None => Err(ClusterError::Spawn {
                name: "import_image".into(),
                detail: "this cluster has no real node; start it with real_node: true".into(),
            }),
        }
    }

    /// Stops every process (newest first) and removes the cluster's files.
    pub fn stop(&self) {
        if self.stopped.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        if self.node.is_some() {
            // Pods first, while the kubelet runs, so the CNI plugins give back their addresses;
            // their controllers before them, so nothing makes new ones.
            for what in [
                "deployments,statefulsets,daemonsets,replicasets,jobs",
                "pods",
            ] {
                let _ = self
                    .kubectl()
                    .args(["delete", what, "--all", "--all-namespaces"])
                    .args(["--grace-period=0", "--force", "--wait=false"])
                    .quiet()
                    .run();
            }
            // The kubelet tears the sandboxes down (and the CNI plugins their addresses) after
            // the objects are gone.
            if let Some(node) = &self.node {
                real_node::wait_until(Duration::from_secs(30), || node.running_tasks() == 0);
            }
        }
        let Ok(mut processes) = self.processes.lock() else {
            return;
        };
        while let Some((_, mut child)) = processes.pop() {
            stop_tied_process(&mut child, libc::SIGTERM);
            if matches!(child.try_wait(), Ok(None)) {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        if let Some(node) = &self.node {
            node.clean_up();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }

    fn spawn(&self, name: &str, mut command: Command, owns_dir: bool) -> Result<(), ClusterError> {
        let log = std::fs::File::create(self.log_of(name)).map_err(io("creating a log file"))?;
        let log2 = log.try_clone().map_err(io("creating a log file"))?;
        command
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log2));
        // The first process carries the directory, so the exit hook removes it even when this
        // cluster lives in a static that is never dropped.
        let child = if owns_dir {
            spawn_tied_process_in(command, libc::SIGTERM, self.dir.clone())
        } else {
            spawn_tied_process(command, libc::SIGTERM)
        }
        .map_err(|e| ClusterError::Spawn {
            name: name.to_owned(),
            detail: e.to_string(),
        })?;
        if let Ok(mut processes) = self.processes.lock() {
            processes.push((name.to_owned(), child));
        }
        Ok(())
    }

    /// Polls `ready` until it holds, failing early when a process has exited.
    fn wait(&self, what: &str, mut ready: impl FnMut() -> bool) -> Result<(), ClusterError> {
        let started = Instant::now();
        while started.elapsed() < START_LIMIT {
            if ready() {
                return Ok(());
            }
            self.check_alive()?;
            std::thread::sleep(Duration::from_millis(250));
        }
        let log = self.log_of(what.split_whitespace().next().unwrap_or(what));
        Err(ClusterError::Timeout {
            what: what.to_owned(),
            seconds: START_LIMIT.as_secs(),
            tail: tail(&log),
            log: log.display().to_string(),
        })
    }

    /// An error naming the first process that has exited, with the end of its log.
    pub fn check_alive(&self) -> Result<(), ClusterError> {
        let Ok(mut processes) = self.processes.lock() else {
            return Ok(());
        };
        for (name, child) in processes.iter_mut() {
            if let Ok(Some(status)) = child.try_wait() {
                let log = self.log_of(name);
                return Err(ClusterError::Exited {
                    name: name.clone(),
                    status: status.to_string(),
                    tail: tail(&log),
                    log: log.display().to_string(),
                });
            }
        }
        Ok(())
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One line of start-up progress on stderr.
pub fn progress(message: &str) {
    eprintln!("[cluster] {message}");
}

fn write_kubeconfig(
    path: &Path,
    server: &str,
    ca: &Path,
    user: &str,
    credentials: &Credentials<'_>,
) -> Result<(), ClusterError> {
    std::fs::write(path, kubeconfig::render(server, ca, user, credentials))
        .map_err(io(format!("writing {}", path.display())))
}

fn fresh_dir() -> Result<PathBuf, ClusterError> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let dir = std::env::temp_dir().join(format!(
        "storefront-cluster-{}-{nanos:x}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).map_err(io("creating the cluster directory"))?;
    Ok(dir)
}

fn etcd_healthy(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream
        .write_all(b"GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.contains("\"health\":\"true\"")
}

/// The last 40 lines of a log file.
pub fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}
