//! One Compose project of the repository's `compose.yaml`: its name, images, secrets directory
//! and published ports, and the operations the tests and the benchmark need (up and wait for
//! health, down, a service's container, crash it, read its state).
//!
//! Invariant: every call names the project (`-p`), so two stacks (a test and a person's shop)
//! never touch each other's containers, networks or volumes.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio::process::Command;

use crate::engine::{Engine, EngineError, failed, run};

pub struct StackOptions {
    /// Compose project name (containers are `<project>-<service>-1`).
    pub project: String,
    /// Image repository prefix and service tag (compose.yaml's STOREFRONT_REGISTRY/VERSION).
    pub registry: String,
    pub version: String,
    /// Directory of the env files (scripts/compose-secrets.sh writes them).
    pub secrets: PathBuf,
    pub gateway_port: u16,
    pub jaeger_port: u16,
    /// More environment for compose.yaml's interpolation (RUST_LOG, GATEWAY_RATE_LIMIT_*).
    pub env: Vec<(String, String)>,
}

/// What `down` removes besides the containers and networks.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Down {
    KeepData,
    /// Named volumes too.
    Volumes,
    /// Named volumes and every image the project uses.
    Everything,
}

pub struct Stack {
    pub engine: Engine,
    pub options: StackOptions,
}

impl Stack {
    pub fn new(engine: Engine, options: StackOptions) -> Self {
        Self { engine, options }
    }

    pub fn gateway_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.options.gateway_port)
    }

    pub fn jaeger_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.options.jaeger_port)
    }

    fn compose(&self, args: &[&str]) -> Command {
        let o = &self.options;
        let mut command = Command::new(&self.engine.compose);
        command
            .current_dir(&self.engine.root)
            .env("DOCKER_HOST", &self.engine.docker_host)
            .env("STOREFRONT_REGISTRY", &o.registry)
            .env("STOREFRONT_VERSION", &o.version)
            .env("STOREFRONT_SECRETS", &o.secrets)
            .env("STOREFRONT_PORT", o.gateway_port.to_string())
            .env("STOREFRONT_JAEGER_PORT", o.jaeger_port.to_string())
            .envs(o.env.iter().map(|(k, v)| (k, v)))
            .args(["--file", "compose.yaml", "--project-name", &o.project])
            .args(args);
        command
    }

    async fn compose_out(&self, args: &[&str]) -> Result<String, EngineError> {
        run(
            self.compose(args),
            &format!("docker compose {}", args.join(" ")),
        )
        .await
    }

    /// `up --wait`: every service healthy (or the error says which is not, with its logs).
    pub async fn up(&self) -> Result<Duration, EngineError> {
        let started = Instant::now();
        let status = self
            .compose(&["up", "--detach", "--wait", "--wait-timeout", "300"])
            .status()
            .await
            .map_err(|e| failed("docker compose up", e))?;
        if status.success() {
            return Ok(started.elapsed());
        }
        let ps = self.compose_out(&["ps", "--all"]).await.unwrap_or_default();
        let logs = self
            .compose_out(&["logs", "--no-color", "--tail", "15"])
            .await
            .unwrap_or_default();
        Err(failed(
            "docker compose up --wait",
            format!("{status}\n{ps}\n{logs}"),
        ))
    }

    pub async fn down(&self, what: Down) -> Result<(), EngineError> {
        let mut args = vec!["--profile", "load", "down", "--remove-orphans"];
        if what != Down::KeepData {
            args.push("--volumes");
        }
        if what == Down::Everything {
            args.extend(["--rmi", "all"]);
        }
        self.compose_out(&args).await.map(drop)
    }

    /// The container id of a service's (first) container.
    pub async fn container(&self, service: &str) -> Result<String, EngineError> {
        let id = self.compose_out(&["ps", "--quiet", service]).await?;
        let id = id.lines().next().unwrap_or_default().trim().to_owned();
        if id.is_empty() {
            return Err(failed(
                format!("finding the {service} container"),
                "none is running",
            ));
        }
        Ok(id)
    }

    /// `docker inspect --format <format> <container>`, trimmed.
    pub async fn inspect(&self, container: &str, format: &str) -> Result<String, EngineError> {
        let out = self
            .engine
            .docker_out(&["inspect", "--format", format, container])
            .await?;
        Ok(out.trim().to_owned())
    }

    /// The host PID of a service's main process (the engine runs on this machine).
    pub async fn pid(&self, service: &str) -> Result<u32, EngineError> {
        let id = self.container(service).await?;
        let pid = self.inspect(&id, "{{.State.Pid}}").await?;
        pid.parse()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| failed(format!("the PID of {service}"), pid))
    }

    /// Kills a service's process with SIGKILL from the host, as a crash or the OOM killer would
    /// (`docker kill` counts as a manual stop, after which no restart policy applies).
    pub async fn crash(&self, service: &str) -> Result<(), EngineError> {
        let pid = self.pid(service).await?;
        let pid_arg = pid.to_string();
        if send_sigkill(pid) {
            return Ok(());
        }
        // A non-root user beside a root engine (GitHub's runners): the container's user is not
        // ours to signal, but sudo is.
        let mut sudo = Command::new("sudo");
        sudo.args(["-n", "kill", "-KILL", &pid_arg]);
        run(sudo, &format!("sudo kill -KILL {pid} ({service})"))
            .await
            .map(drop)
    }

    /// Waits until the service's container is healthy and has restarted at least
    /// `min_restarts` times (so a crash that Docker has not noticed yet does not pass for a
    /// recovery), returning its restart count.
    pub async fn wait_healthy(
        &self,
        service: &str,
        min_restarts: u32,
        limit: Duration,
    ) -> Result<u32, EngineError> {
        let started = Instant::now();
        let mut last = String::new();
        while started.elapsed() < limit {
            if let Ok(id) = self.container(service).await
                && let Ok(state) = self
                    .inspect(&id, "{{.State.Health.Status}} {{.RestartCount}}")
                    .await
            {
                let mut parts = state.split_whitespace();
                let healthy = parts.next() == Some("healthy");
                let restarts: u32 = parts.next().and_then(|n| n.parse().ok()).unwrap_or(0);
                if healthy && restarts >= min_restarts {
                    return Ok(restarts);
                }
                last = state;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Err(failed(
            format!("waiting for {service} to be healthy"),
            format!("still {last:?} after {}s", limit.as_secs()),
        ))
    }

    /// Runs `/probe <url>` inside a service's container: whether that container reaches the URL.
    pub async fn probe_from(&self, service: &str, url: &str) -> Result<String, String> {
        let id = self.container(service).await.map_err(|e| e.to_string())?;
        let output = self
            .engine
            .docker()
            .args(["exec", &id, "/probe", url])
            .output()
            .await
            .map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&output.stderr).trim().to_owned();
        if output.status.success() {
            Ok(text)
        } else {
            Err(text)
        }
    }

    /// Names of this project's volumes that exist.
    pub async fn volumes(&self) -> Result<Vec<String>, EngineError> {
        let filter = format!("label=com.docker.compose.project={}", self.options.project);
        let out = self
            .engine
            .docker_out(&["volume", "ls", "--quiet", "--filter", &filter])
            .await?;
        Ok(out.lines().map(str::to_owned).collect())
    }

    /// Images under this stack's registry prefix (what `scripts/offline-images.sh` built).
    pub async fn images(&self) -> Result<Vec<String>, EngineError> {
        let filter = format!("reference={}/*", self.options.registry);
        let out = self
            .engine
            .docker_out(&[
                "image",
                "ls",
                "--filter",
                &filter,
                "--format",
                "{{.Repository}}:{{.Tag}}",
            ])
            .await?;
        Ok(out.lines().map(str::to_owned).collect())
    }

    /// Removes every image under this stack's registry prefix.
    pub async fn remove_images(&self) -> Result<(), EngineError> {
        let images = self.images().await?;
        if images.is_empty() {
            return Ok(());
        }
        let mut args = vec!["image", "rm", "--force"];
        args.extend(images.iter().map(String::as_str));
        self.engine.docker_out(&args).await.map(drop)
    }
}

#[allow(unsafe_code)]
fn send_sigkill(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe { libc::kill(pid, libc::SIGKILL) == 0 }
}
