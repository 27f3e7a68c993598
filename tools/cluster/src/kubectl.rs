//! kubectl from the kube-tools cache, as a small builder: arguments, optional stdin, and an
//! error that carries kubectl's own message.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::tools;

/// kubectl failed, or could not be run.
#[derive(Debug, thiserror::Error)]
pub enum KubectlError {
    #[error(transparent)]
    Missing(#[from] tools::MissingTool),
    #[error("running kubectl {args}: {source}")]
    Run {
        args: String,
        source: std::io::Error,
    },
    #[error("kubectl {args} failed ({status}): {stderr}")]
    Failed {
        args: String,
        status: String,
        stderr: String,
        stdout: String,
    },
}

impl KubectlError {
    /// kubectl's error output (empty when it could not run).
    pub fn stderr(&self) -> &str {
        match self {
            Self::Failed { stderr, .. } => stderr,
            _ => "",
        }
    }
}

/// One kubectl invocation.
#[derive(Clone, Debug)]
pub struct Kubectl {
    kubeconfig: PathBuf,
    args: Vec<String>,
    stdin: Option<String>,
    quiet: bool,
    /// A directory searched first for `kubectl-<name>` plugins.
    plugins: Option<PathBuf>,
}

impl Kubectl {
    pub fn new(kubeconfig: &Path) -> Self {
        Self {
            kubeconfig: kubeconfig.to_owned(),
            args: Vec::new(),
            stdin: None,
            quiet: false,
            plugins: None,
        }
    }

    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Text piped to kubectl's standard input (for `-f -`).
    pub fn stdin(mut self, text: &str) -> Self {
        self.stdin = Some(text.to_owned());
        self
    }

    /// Find kubectl plugins (`kubectl-<name>` executables) in `dir` before the PATH.
    pub fn plugins(mut self, dir: &Path) -> Self {
        self.plugins = Some(dir.to_owned());
        self
    }

    /// Do not echo the command line (polling loops).
    pub fn quiet(mut self) -> Self {
        self.quiet = true;
        self
    }

    /// Runs it; standard output on success.
    pub fn run(&self) -> Result<String, KubectlError> {
        let line = self.args.join(" ");
        if !self.quiet {
            eprintln!("[kubectl] {line}");
        }
        let mut command = Command::new(tools::binary("kubectl")?);
        // Discovery is cached beside the kubeconfig, not in ~/.kube: each cluster its own.
        let cache = self.kubeconfig.parent().map_or_else(
            || PathBuf::from("kubectl-cache"),
            |d| d.join("kubectl-cache"),
        );
        command
            .env("KUBECONFIG", &self.kubeconfig)
            .env("KUBECACHEDIR", cache)
            .args(&self.args)
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let run_error = |source| KubectlError::Run {
            args: line.clone(),
            source,
        };
        if let Some(dir) = &self.plugins {
            let path = std::env::var_os("PATH").unwrap_or_default();
            let dirs = std::iter::once(dir.clone()).chain(std::env::split_paths(&path));
            if let Ok(joined) = std::env::join_paths(dirs) {
                command.env("PATH", joined);
            }
        }
        let mut child = command.spawn().map_err(run_error)?;
        if let (Some(text), Some(mut pipe)) = (&self.stdin, child.stdin.take()) {
            pipe.write_all(text.as_bytes()).map_err(run_error)?;
        }
        let out = child.wait_with_output().map_err(run_error)?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() {
            Ok(stdout)
        } else {
            Err(KubectlError::Failed {
                args: line,
                status: out.status.to_string(),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
                stdout,
            })
        }
    }
}
