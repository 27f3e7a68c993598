//! One real node for the local cluster, as Kubernetes' `hack/local-up-cluster.sh` makes one:
//! containerd (Debian's) with its CRI plugin and the CNI plugins from Debian's
//! `containernetworking-plugins` (a bridge, host-local addresses, portmap, loopback), the kubelet
//! and kube-proxy from the same Kubernetes build as the control plane, and CoreDNS as a pod.
//! The sandbox (pause) image is compiled here from `node/pause.c`; every image is imported into
//! containerd's `k8s.io` namespace, so nothing is pulled.
//!
//! What this machine needs, and why:
//! - cgroup v1: the kubelet refuses it unless `failCgroupV1: false`; the cgroup driver is
//!   `cgroupfs`. The host's cgroups are used as they are mounted.
//! - No CAP_SYS_RESOURCE in these VMs: a pod sandbox's negative `oom_score_adj` is refused by the
//!   kernel ("can't get final child's PID from pipe"), so containerd runs with
//!   `restrict_oom_score_adj`.
//! - The pod network (a bridge, its subnet, kube-proxy's iptables chains) belongs to the host:
//!   one real node runs at a time on a machine, which a lock file enforces.
//!
//! Invariants: the node's processes are the cluster's children (they stop with it); stopping
//! deletes every pod first (so the CNI plugins release their addresses and rules), then kills
//! what is left in the pods' cgroups, unmounts the node's directories, removes the bridge and
//! kube-proxy's rules.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use storefront_testkit::free_port;

use crate::image_archive::{self, ImageSpec};
use crate::pki::Pki;
use crate::tools;

/// The node's name (and its kubelet's hostname override).
pub const NODE_NAME: &str = "storefront-node";
/// The pods' subnet on the bridge.
pub const POD_SUBNET: &str = "10.244.0.0/24";
/// The cluster DNS Service's address (inside the API server's service range).
pub const DNS_SERVICE_IP: &str = "10.96.0.10";
/// The sandbox image the kubelet's pods start with.
pub const PAUSE_IMAGE: &str = "storefront.local/pause:3.10";
/// The CoreDNS image made from the binary kube-tools builds.
pub const COREDNS_IMAGE: &str = "storefront.local/coredns:local";
/// The pods' bridge on the host.
pub const BRIDGE: &str = "sfbr0";
const LOCK: &str = "/tmp/storefront-real-node.lock";

/// The binaries a real node needs besides the control plane's.
pub const NODE_TOOLS: [&str; 3] = ["kubelet", "kube-proxy", "coredns"];

/// Why the node could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("{what}: {detail}")]
    Setup { what: String, detail: String },
    #[error(
        "another real-node cluster runs on this machine ({LOCK} is locked): the pod network \
         is the host's, so one runs at a time"
    )]
    Busy,
}

fn setup(what: impl Into<String>) -> impl FnOnce(String) -> NodeError {
    let what = what.into();
    move |detail| NodeError::Setup { what, detail }
}

fn run(command: &mut Command) -> Result<String, String> {
    let output = command.output().map_err(|e| format!("{command:?}: {e}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(format!(
            "{command:?}: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// The files and settings of one node, made before its processes start.
pub struct NodeFiles {
    pub dir: PathBuf,
    pub containerd_config: PathBuf,
    pub socket: PathBuf,
    pub kubelet_config: PathBuf,
    pub kubelet_kubeconfig: PathBuf,
    pub proxy_kubeconfig: PathBuf,
    pub coredns_dir: PathBuf,
    pub dns_port: u16,
    pub dns_ready_port: u16,
    /// Held while the node exists: one real node per machine.
    _lock: File,
}

/// Takes the machine's real-node lock, or says who holds it.
fn lock() -> Result<File, NodeError> {
    let file = File::create(LOCK).map_err(|e| setup("creating the node lock")(e.to_string()))?;
    use std::os::fd::AsRawFd;
    // SAFETY: flock on a descriptor this function owns; the lock ends when the file closes.
    #[allow(unsafe_code)]
    let taken = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
    if taken {
        Ok(file)
    } else {
        Err(NodeError::Busy)
    }
}

/// containerd's configuration: its own root, state and socket under `dir`, the CRI plugin with
/// the local pause image and Debian's CNI plugins, runc with cgroupfs.
pub fn containerd_config(dir: &Path) -> String {
    let d = dir.display();
    format!(
        r#"version = 2
root = "{d}/containerd/root"
state = "{d}/containerd/state"
[grpc]
  address = "{d}/containerd.sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{d}/cni"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
"#
    )
}

/// The pod network: one bridge with the host as the pods' gateway, masquerading outside.
pub fn cni_conflist() -> String {
    serde_json::json!({
        "cniVersion": "1.0.0",
        "name": "storefront",
        "plugins": [
            {
                "type": "bridge", "bridge": BRIDGE, "isGateway": true, "ipMasq": true,
                "hairpinMode": true,
                "ipam": {"type": "host-local", "ranges": [[{"subnet": POD_SUBNET}]],
                         "routes": [{"dst": "0.0.0.0/0"}]},
            },
            {"type": "portmap", "capabilities": {"portMappings": true}},
            // Accepts the pods' traffic in the FORWARD chain: a Docker engine on the same host
            // sets that chain's policy to DROP, and bridged traffic passes it here.
            {"type": "firewall"},
            {"type": "loopback"},
        ],
    })
    .to_string()
}

/// The kubelet's configuration for this machine (cgroup v1, cgroupfs, no swap check, eviction
/// thresholds that a busy shared disk does not trip, the API server's CA for its clients).
pub fn kubelet_config(dir: &Path, ca: &Path, port: u16) -> String {
    let d = dir.display();
    let ca = ca.display();
    format!(
        r#"apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://{d}/containerd.sock
authentication:
  anonymous: {{enabled: false}}
  webhook: {{enabled: false}}
  x509: {{clientCAFile: {ca}}}
authorization: {{mode: AlwaysAllow}}
address: 0.0.0.0
port: {port}
readOnlyPort: 0
healthzPort: 0
clusterDomain: cluster.local
clusterDNS: [{DNS_SERVICE_IP}]
resolvConf: /etc/resolv.conf
failSwapOn: false
enforceNodeAllocatable: []
evictionHard: {{memory.available: "100Mi", nodefs.available: "2%", imagefs.available: "2%"}}
imageGCHighThresholdPercent: 100
serializeImagePulls: false
"#
    )
}

/// CoreDNS as a host-network pod (it reaches the API server on the loopback address, which a
/// pod network cannot), behind the cluster DNS Service.
pub fn coredns_manifests(coredns_dir: &Path, dns_port: u16, ready_port: u16) -> String {
    let d = coredns_dir.display();
    format!(
        r#"apiVersion: v1
kind: ConfigMap
metadata: {{name: coredns, namespace: kube-system}}
data:
  Corefile: |
    .:{dns_port} {{
        errors
        ready :{ready_port}
        kubernetes cluster.local in-addr.arpa ip6.arpa {{
            kubeconfig {d}/coredns.kubeconfig storefront-local
            pods insecure
            fallthrough in-addr.arpa ip6.arpa
        }}
        forward . /etc/resolv.conf
        cache 30
        loop
    }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {{name: "system:coredns"}}
rules:
- apiGroups: [""]
  resources: [endpoints, services, pods, namespaces]
  verbs: [list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {{name: "system:coredns"}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:coredns"}}
subjects:
- {{apiGroup: rbac.authorization.k8s.io, kind: User, name: "system:coredns"}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: coredns, namespace: kube-system, labels: {{k8s-app: kube-dns}}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{k8s-app: kube-dns}}}}
  template:
    metadata: {{labels: {{k8s-app: kube-dns}}}}
    spec:
      hostNetwork: true
      dnsPolicy: Default
      automountServiceAccountToken: false
      containers:
      - name: coredns
        image: {COREDNS_IMAGE}
        imagePullPolicy: Never
        args: ["-conf", "/etc/coredns/Corefile"]
        securityContext:
          runAsNonRoot: true
          allowPrivilegeEscalation: false
          readOnlyRootFilesystem: true
          capabilities: {{drop: [ALL]}}
        readinessProbe:
          httpGet: {{path: /ready, port: {ready_port}}}
          periodSeconds: 2
        volumeMounts:
        - {{name: config, mountPath: /etc/coredns}}
        - {{name: credentials, mountPath: "{d}", readOnly: true}}
      volumes:
      - name: config
        configMap: {{name: coredns}}
      - name: credentials
        hostPath: {{path: "{d}", type: Directory}}
---
apiVersion: v1
kind: Service
metadata: {{name: kube-dns, namespace: kube-system, labels: {{k8s-app: kube-dns}}}}
spec:
  clusterIP: {DNS_SERVICE_IP}
  selector: {{k8s-app: kube-dns}}
  ports:
  - {{name: dns, port: 53, protocol: UDP, targetPort: {dns_port}}}
  - {{name: dns-tcp, port: 53, protocol: TCP, targetPort: {dns_port}}}
"#
    )
}

/// Compiles the pause binary (static, so the image needs no libc).
fn build_pause(out: &Path) -> Result<(), NodeError> {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("node/pause.c");
    run(Command::new("cc")
        .args(["-static", "-Os", "-o"])
        .arg(out)
        .arg(&source))
    .map(|_| ())
    .map_err(setup(
        "compiling the pause binary (needs gcc and libc6-dev)",
    ))
}

impl NodeFiles {
    /// Writes the node's configuration under `cluster_dir/node`, its certificates (signed by the
    /// cluster's CA) and the two images, and takes the machine's lock.
    pub fn prepare(cluster_dir: &Path, pki: &Pki, server: &str) -> Result<Self, NodeError> {
        let lock = lock()?;
        tools::require(&NODE_TOOLS).map_err(|e| setup("the node's binaries")(e.to_string()))?;
        let dir = cluster_dir.join("node");
        let coredns_dir = dir.join("coredns");
        for sub in ["cni", "containerd", "images", "kubelet"] {
            std::fs::create_dir_all(dir.join(sub))
                .map_err(|e| setup("creating the node directory")(e.to_string()))?;
        }
        std::fs::create_dir_all(&coredns_dir)
            .map_err(|e| setup("creating the node directory")(e.to_string()))?;
        let write = |path: &Path, text: &str| {
            std::fs::write(path, text)
                .map_err(|e| setup(format!("writing {}", path.display()))(e.to_string()))
        };
        let containerd_config = dir.join("containerd.toml");
        write(&containerd_config, &self::containerd_config(&dir))?;
        write(&dir.join("cni/10-storefront.conflist"), &cni_conflist())?;
        let kubelet_config = dir.join("kubelet.yaml");
        write(
            &kubelet_config,
            &self::kubelet_config(&dir, &pki.ca.cert, free_port()),
        )?;

        let kubeconfig = |name: &str, user: &str, groups: &[&str], out: &Path| {
            let pair = pki
                .client(name, user, groups)
                .map_err(|e| setup(format!("a certificate for {user}"))(e.to_string()))?;
            write(
                out,
                &crate::kubeconfig::render(
                    server,
                    &pki.ca.cert,
                    user,
                    &crate::kubeconfig::Credentials::Certificate {
                        cert: &pair.cert,
                        key: &pair.key,
                    },
                ),
            )?;
            Ok::<_, NodeError>(pair)
        };
        let kubelet_kubeconfig = dir.join("kubelet.kubeconfig");
        kubeconfig(
            "node",
            &format!("system:node:{NODE_NAME}"),
            &["system:nodes"],
            &kubelet_kubeconfig,
        )?;
        let proxy_kubeconfig = dir.join("kube-proxy.kubeconfig");
        kubeconfig("kube-proxy", "system:kube-proxy", &[], &proxy_kubeconfig)?;
        // CoreDNS runs as uid 65532 and reads its credentials from a hostPath: its own copies,
        // readable by it, in a directory that holds nothing else.
        let pair = pki
            .client("coredns", "system:coredns", &[])
            .map_err(|e| setup("a certificate for CoreDNS")(e.to_string()))?;
        for (from, to) in [
            (&pair.cert, "coredns.crt"),
            (&pair.key, "coredns.key"),
            (&pki.ca.cert, "ca.crt"),
        ] {
            std::fs::copy(from, coredns_dir.join(to))
                .map_err(|e| setup("copying CoreDNS's credentials")(e.to_string()))?;
        }
        write(
            &coredns_dir.join("coredns.kubeconfig"),
            &crate::kubeconfig::render(
                server,
                &coredns_dir.join("ca.crt"),
                "system:coredns",
                &crate::kubeconfig::Credentials::Certificate {
                    cert: &coredns_dir.join("coredns.crt"),
                    key: &coredns_dir.join("coredns.key"),
                },
            ),
        )?;
        use std::os::unix::fs::PermissionsExt;
        for entry in std::fs::read_dir(&coredns_dir)
            .into_iter()
            .flatten()
            .flatten()
        {
            let _ = std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(0o644));
        }
        let _ = std::fs::set_permissions(&coredns_dir, std::fs::Permissions::from_mode(0o755));

        Ok(Self {
            socket: dir.join("containerd.sock"),
            containerd_config,
            kubelet_config,
            kubelet_kubeconfig,
            proxy_kubeconfig,
            coredns_dir,
            dns_port: free_port(),
            dns_ready_port: free_port(),
            dir,
            _lock: lock,
        })
    }

    /// The two images every node needs: the sandbox and CoreDNS.
    pub fn base_images(&self) -> Result<Vec<PathBuf>, NodeError> {
        let images = self.dir.join("images");
        let pause = images.join("pause");
        build_pause(&pause)?;
        let coredns = tools::binary("coredns").map_err(|e| setup("CoreDNS")(e.to_string()))?;
        let archive = |spec: &ImageSpec<'_>, name: &str| {
            image_archive::write(
                spec,
                &images.join(format!("{name}-work")),
                &images.join(format!("{name}.tar")),
            )
            .map_err(|e| setup(format!("the {name} image"))(e.to_string()))
        };
        Ok(vec![
            archive(
                &ImageSpec {
                    reference: PAUSE_IMAGE,
                    entrypoint: &["/pause"],
                    user: "65532:65532",
                    files: &[(&pause, "/pause")],
                },
                "pause",
            )?,
            archive(
                &ImageSpec {
                    reference: COREDNS_IMAGE,
                    entrypoint: &["/coredns"],
                    user: "65532:65532",
                    files: &[(&coredns, "/coredns")],
                },
                "coredns",
            )?,
        ])
    }

    /// `ctr images import` of one archive into the `k8s.io` namespace.
    pub fn import(&self, archive: &Path) -> Result<(), NodeError> {
        run(Command::new("ctr")
            .arg("--address")
            .arg(&self.socket)
            .args(["--namespace", "k8s.io", "images", "import", "--no-unpack"])
            .arg(archive))
        .map(|_| ())
        .map_err(setup(format!("importing {}", archive.display())))
    }

    /// How many containers (sandboxes included) containerd runs; 0 when it does not answer.
    pub fn running_tasks(&self) -> usize {
        run(Command::new("ctr")
            .arg("--address")
            .arg(&self.socket)
            .args(["--namespace", "k8s.io", "tasks", "ls", "--quiet"]))
        .map_or(0, |out| {
            out.lines().filter(|l| !l.trim().is_empty()).count()
        })
    }

    /// Whether containerd answers on its socket.
    pub fn containerd_ready(&self) -> bool {
        run(Command::new("ctr")
            .arg("--address")
            .arg(&self.socket)
            .arg("version"))
        .is_ok()
    }

    /// Kills whatever the pods left running, unmounts the node's directories, and removes the
    /// bridge and kube-proxy's rules. Runs after the node's processes have stopped.
    pub fn clean_up(&self) {
        for controller in ["pids", "memory", "cpu", "freezer"] {
            kill_cgroup_tree(
                &Path::new("/sys/fs/cgroup")
                    .join(controller)
                    .join("kubepods"),
            );
        }
        // Shims of this containerd, matched by its socket on their command line.
        let socket = self.socket.display().to_string();
        let _ = run(Command::new("pkill").args(["-KILL", "-f", &socket]));
        let prefix = self.dir.display().to_string();
        let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
        let mut ours: Vec<&str> = mounts
            .lines()
            .filter_map(|l| l.split_whitespace().nth(1))
            .filter(|m| m.starts_with(&prefix))
            .collect();
        ours.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for mount in ours {
            let _ = run(Command::new("umount").args(["-l", mount]));
        }
        // Network namespaces the CNI plugins made for sandboxes that are gone.
        for entry in std::fs::read_dir("/var/run/netns")
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = entry.file_name().to_string_lossy().into_owned();
            let empty = run(Command::new("ip").args(["netns", "pids", &name]))
                .is_ok_and(|pids| pids.trim().is_empty());
            if name.starts_with("cni-") && empty {
                let _ = run(Command::new("ip").args(["netns", "delete", &name]));
            }
        }
        remove_masquerade_rules();
        let _ = run(Command::new("ip").args(["link", "delete", BRIDGE]));
        if let Ok(proxy) = tools::binary("kube-proxy") {
            let _ = run(Command::new(proxy).arg("--cleanup"));
        }
    }
}

/// The bridge plugin's per-sandbox NAT chains of this network that a killed sandbox left.
fn remove_masquerade_rules() {
    let rules =
        run(Command::new("iptables").args(["-t", "nat", "-S", "POSTROUTING"])).unwrap_or_default();
    for rule in rules.lines().filter(|r| r.contains("name: \"storefront\"")) {
        let Some(chain) = rule.split_whitespace().skip_while(|w| *w != "-j").nth(1) else {
            continue;
        };
        let chain = chain.to_owned();
        // `-A POSTROUTING ...` becomes `-D POSTROUTING ...`, argument for argument (the
        // comment is one quoted argument, so the rule is re-split the way a shell would).
        let words = shell_words(rule.trim_start_matches("-A "));
        let _ = run(Command::new("iptables")
            .args(["-t", "nat", "-D"])
            .args(&words));
        let _ = run(Command::new("iptables").args(["-t", "nat", "-F", &chain]));
        let _ = run(Command::new("iptables").args(["-t", "nat", "-X", &chain]));
    }
}

/// Splits iptables-save output the way a shell would: spaces separate, double quotes group,
/// a backslash escapes the next character.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let (mut quoted, mut escaped, mut any) = (false, false, false);
    for c in line.chars() {
        if escaped {
            word.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
            any = true;
        } else if c == ' ' && !quoted {
            if any || !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
            any = false;
        } else {
            word.push(c);
        }
    }
    if any || !word.is_empty() {
        words.push(word);
    }
    words
}

/// SIGKILL to every process in a cgroup directory and the ones below it.
fn kill_cgroup_tree(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.path().is_dir() {
            kill_cgroup_tree(&entry.path());
        }
    }
    let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
    for pid in procs.lines().filter_map(|p| p.trim().parse::<i32>().ok()) {
        #[allow(unsafe_code)]
        // SAFETY: kill(2) on a pid read from the cgroup; a stale pid only yields ESRCH.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
    }
}

/// Polls `ready` for up to `limit`.
pub fn wait_until(limit: Duration, mut ready: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        if ready() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kubelet_accepts_cgroup_v1_with_cgroupfs() {
        let config = kubelet_config(Path::new("/n"), Path::new("/ca.crt"), 1234);
        assert!(config.contains("failCgroupV1: false"));
        assert!(config.contains("cgroupDriver: cgroupfs"));
        assert!(config.contains("containerRuntimeEndpoint: unix:///n/containerd.sock"));
        assert!(config.contains("port: 1234"));
    }

    #[test]
    fn containerd_uses_the_local_pause_image_and_keeps_oom_scores() {
        let config = containerd_config(Path::new("/n"));
        assert!(config.contains(&format!("sandbox_image = \"{PAUSE_IMAGE}\"")));
        assert!(config.contains("restrict_oom_score_adj = true"));
        assert!(config.contains("SystemdCgroup = false"));
    }

    #[test]
    fn an_iptables_rule_splits_like_a_shell_would() {
        let rule = r#"POSTROUTING -s 10.244.0.9/32 -m comment --comment "name: \"storefront\" id: \"ab\"" -j CNI-1"#;
        assert_eq!(
            shell_words(rule),
            [
                "POSTROUTING",
                "-s",
                "10.244.0.9/32",
                "-m",
                "comment",
                "--comment",
                r#"name: "storefront" id: "ab""#,
                "-j",
                "CNI-1"
            ]
        );
    }

    #[test]
    fn the_dns_service_forwards_to_the_host_network_port() {
        let manifests = coredns_manifests(Path::new("/n/coredns"), 5353, 8181);
        assert!(manifests.contains(&format!("clusterIP: {DNS_SERVICE_IP}")));
        assert!(manifests.contains("targetPort: 5353"));
        assert!(manifests.contains(".:5353 {"));
    }
}
