//! The Docker engine and the Compose binary: found or started by the repository's scripts
//! (`scripts/docker-engine.sh`, `scripts/container-tools.sh`), then every `docker` and
//! `docker-compose` call goes through [`Engine`] with its `DOCKER_HOST`.
//!
//! Invariant: [`EngineError::Unavailable`] means only "no engine can run here" (the scripts'
//! exit status 3); anything else that fails is [`EngineError::Failed`] and never a reason to skip.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::process::Command;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("no Docker engine can be started here: {0}")]
    Unavailable(String),
    #[error("{what} failed: {detail}")]
    Failed { what: String, detail: String },
}

pub fn failed(what: impl Into<String>, detail: impl std::fmt::Display) -> EngineError {
    EngineError::Failed {
        what: what.into(),
        detail: detail.to_string(),
    }
}

/// A running engine and the Compose v2 binary that talks to it.
#[derive(Debug, Clone)]
pub struct Engine {
    pub docker_host: String,
    pub compose: PathBuf,
    pub root: PathBuf,
}

/// The repository root (this crate lives in `tools/compose`).
pub fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    here.canonicalize().unwrap_or(here)
}

impl Engine {
    /// Finds or starts the engine, and builds the Compose binary if it is missing (its progress
    /// goes to stderr).
    pub async fn start(root: &Path) -> Result<Self, EngineError> {
        let script = root.join("scripts/docker-engine.sh");
        let output = Command::new(&script)
            .arg("start")
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .await
            .map_err(|e| failed(format!("running {}", script.display()), e))?;
        if output.status.code() == Some(3) {
            return Err(EngineError::Unavailable(
                "scripts/docker-engine.sh found no engine and cannot start dockerd (see its message above)"
                    .into(),
            ));
        }
        if !output.status.success() {
            return Err(failed("scripts/docker-engine.sh start", output.status));
        }
        let docker_host = String::from_utf8_lossy(&output.stdout).trim().to_owned();

        let tools = root.join("scripts/container-tools.sh");
        let output = Command::new(&tools)
            .arg("compose")
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .await
            .map_err(|e| failed(format!("running {}", tools.display()), e))?;
        if !output.status.success() {
            return Err(failed(
                "scripts/container-tools.sh compose (building Docker Compose v2)",
                output.status,
            ));
        }
        let bin = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        Ok(Self {
            docker_host,
            compose: bin.join("docker-compose"),
            root: root.to_path_buf(),
        })
    }

    pub fn docker(&self) -> Command {
        let mut command = Command::new("docker");
        command
            .env("DOCKER_HOST", &self.docker_host)
            .stdin(Stdio::null());
        command
    }

    /// `docker <args>`, its stdout on success.
    pub async fn docker_out(&self, args: &[&str]) -> Result<String, EngineError> {
        let mut command = self.docker();
        command.args(args);
        run(command, &format!("docker {}", args.join(" "))).await
    }

    /// Runs a repository script with this engine (e.g. `scripts/offline-images.sh`), its output
    /// shown as it comes.
    pub async fn script(
        &self,
        script: &str,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Result<(), EngineError> {
        let status = Command::new(self.root.join(script))
            .args(args)
            .env("DOCKER_HOST", &self.docker_host)
            .envs(env.iter().copied())
            .current_dir(&self.root)
            .stdin(Stdio::null())
            .status()
            .await
            .map_err(|e| failed(script, e))?;
        if status.success() {
            Ok(())
        } else {
            Err(failed(script, status))
        }
    }
}

/// Runs a command to the end; its stdout, or an error naming it with its stderr.
pub async fn run(mut command: Command, what: &str) -> Result<String, EngineError> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| failed(what, e))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(failed(
            what,
            format!(
                "{}: {}{}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim(),
                String::from_utf8_lossy(&output.stdout).trim()
            ),
        ))
    }
}
