//! Bringing the planned topology up and down with `ip` and `nft`. Nothing is made on the host:
//! the bridges live in the router namespace, each veth pair is created there with its far end
//! moved straight into the component's namespace, and forwarding (sysctl) and the nftables
//! table are set inside the router namespace only. Deleting the namespaces removes it all.

use std::io::Write;
use std::process::{Command, Stdio};

use super::plan::Plan;
use super::ruleset::ruleset;

#[derive(Debug, thiserror::Error)]
pub enum TopologyError {
    #[error("--isolation netns needs Linux (network namespaces, veth, nftables)")]
    NotLinux,
    #[error("--isolation netns must run as root (it creates network namespaces); try sudo")]
    NotRoot,
    #[error("`{tool}` is not installed; install it with: apt-get install -y {package}")]
    Missing {
        tool: &'static str,
        package: &'static str,
    },
    #[error("`{command}` failed: {detail}")]
    Command { command: String, detail: String },
}

pub(super) fn find_tool(
    tool: &'static str,
    package: &'static str,
) -> Result<String, TopologyError> {
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .chain(["/usr/sbin", "/sbin"])
        .map(|dir| std::path::Path::new(dir).join(tool))
        .find(|p| p.is_file())
        .map(|p| p.display().to_string())
        .ok_or(TopologyError::Missing { tool, package })
}

/// Why this machine cannot run netns mode, if it cannot: not Linux, not root, no `ip` or `nft`.
pub fn preflight() -> Result<(), TopologyError> {
    if !cfg!(target_os = "linux") {
        return Err(TopologyError::NotLinux);
    }
    if !is_root() {
        return Err(TopologyError::NotRoot);
    }
    find_tool("ip", "iproute2")?;
    find_tool("nft", "nftables")?;
    Ok(())
}

#[allow(unsafe_code)]
pub(super) fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Runs `ip` (found on `PATH` or in the sbin directories) with `args`, `stdin` piped in.
fn run(args: &[&str], stdin: Option<&str>) -> Result<String, TopologyError> {
    let command_text = format!("ip {}", args.join(" "));
    let failed = |detail: String| TopologyError::Command {
        command: command_text.clone(),
        detail,
    };
    let mut child = Command::new(find_tool("ip", "iproute2")?)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| failed(e.to_string()))?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes())
            .map_err(|e| failed(e.to_string()))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| failed(e.to_string()))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(failed(
            String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        ))
    }
}

pub(super) fn ip(args: &[&str]) -> Result<String, TopologyError> {
    run(args, None)
}

/// The namespaces that exist now and carry `prefix`.
pub fn namespaces_with(prefix: &str) -> Vec<String> {
    ip(&["netns", "list"])
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(prefix))
        .map(str::to_owned)
        .collect()
}

/// Kills what still runs in `netns` and deletes it (with every link in it).
fn remove_namespace(netns: &str) {
    for pid in ip(&["netns", "pids", netns]).unwrap_or_default().lines() {
        if let Ok(pid) = pid.trim().parse::<i32>() {
            kill(pid);
        }
    }
    let _ = ip(&["netns", "delete", netns]);
}

#[allow(unsafe_code)]
fn kill(pid: i32) {
    // SAFETY: kill(2) on a pid that `ip netns pids` listed inside our own namespace.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
    }
}

/// Removes what a crashed run with this prefix left behind, found by name.
pub fn remove_leftovers(prefix: &str) -> Vec<String> {
    let found = namespaces_with(prefix);
    for netns in &found {
        remove_namespace(netns);
    }
    found
}

/// The running topology; dropping it (or [`Topology::down`]) removes it.
pub struct Topology {
    pub plan: Plan,
    up: bool,
}

impl Topology {
    /// Cleans leftovers of the prefix, then creates the namespaces, bridges, veth pairs,
    /// routes, forwarding and policy of `plan`. On failure, what was made is removed again.
    pub fn up(plan: Plan) -> Result<Self, TopologyError> {
        preflight()?;
        for netns in remove_leftovers(&plan.prefix) {
            eprintln!("removed the leftover network namespace {netns}");
        }
        let mut topology = Self { plan, up: true };
        if let Err(e) = topology.create() {
            topology.down();
            return Err(e);
        }
        Ok(topology)
    }

    fn create(&self) -> Result<(), TopologyError> {
        let plan = &self.plan;
        let router = plan.router.as_str();
        ip(&["netns", "add", router])?;
        ip(&["-n", router, "link", "set", "lo", "up"])?;
        for bridge in &plan.bridges {
            let name = bridge.name.as_str();
            ip(&["-n", router, "link", "add", name, "type", "bridge"])?;
            ip(&[
                "-n",
                router,
                "addr",
                "add",
                &format!("{}/24", bridge.router),
                "dev",
                name,
            ])?;
            ip(&["-n", router, "link", "set", name, "up"])?;
        }
        for node in &plan.nodes {
            let netns = node.netns.as_str();
            let Some(bridge) = plan.bridge(node.tier) else {
                continue;
            };
            ip(&["netns", "add", netns])?;
            ip(&["-n", netns, "link", "set", "lo", "up"])?;
            ip(&[
                "-n", router, "link", "add", &node.peer, "type", "veth", "peer", "name", "eth0",
                "netns", netns,
            ])?;
            ip(&[
                "-n",
                router,
                "link",
                "set",
                &node.peer,
                "master",
                &bridge.name,
                "up",
            ])?;
            ip(&[
                "-n",
                netns,
                "addr",
                "add",
                &format!("{}/24", node.address),
                "dev",
                "eth0",
            ])?;
            ip(&["-n", netns, "link", "set", "eth0", "up"])?;
            ip(&[
                "-n",
                netns,
                "route",
                "add",
                "default",
                "via",
                &bridge.router.to_string(),
            ])?;
        }
        // Per-namespace sysctl: the host's own net.ipv4.ip_forward is not touched.
        let sysctl = find_tool("sysctl", "procps")?;
        ip(&[
            "netns",
            "exec",
            router,
            &sysctl,
            "-q",
            "-w",
            "net.ipv4.ip_forward=1",
        ])?;
        let nft = find_tool("nft", "nftables")?;
        run(
            &["netns", "exec", router, &nft, "-f", "-"],
            Some(&ruleset(plan)),
        )?;
        Ok(())
    }

    /// The ruleset as nftables reads it back from the router namespace.
    pub fn loaded_ruleset(&self) -> Result<String, TopologyError> {
        ip(&[
            "netns",
            "exec",
            &self.plan.router,
            &find_tool("nft", "nftables")?,
            "list",
            "table",
            "inet",
            &self.plan.table,
        ])
    }

    /// Removes every namespace of the plan, killing what still runs inside.
    pub fn down(&mut self) {
        if !self.up {
            return;
        }
        for netns in self.plan.namespaces() {
            remove_namespace(netns);
        }
        self.up = false;
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        self.down();
    }
}
