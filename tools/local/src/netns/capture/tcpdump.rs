//! Recording a tier's bridge for `net capture`: tcpdump started inside the run's router
//! namespace with the arguments of [`super::request`], its pcap stream copied into the output
//! file, and SIGINT when the time is up (tcpdump then flushes and prints its counts).
//! Invariants: the run is only read, the output file is the one thing written, and no tcpdump
//! outlives its [`Capture`].

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::request::{self, CaptureRequest};
use crate::netns::plan::{DEFAULT_SUBNET, Plan, PlanError};
use crate::netns::topology::{self, TopologyError, find_tool, ip};

/// How long tcpdump may take to open the bridge.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long tcpdump may take to stop after SIGINT before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("net capture needs Linux (network namespaces)")]
    NotLinux,
    #[error(
        "net capture must run as root (it records inside the run's router namespace); try sudo"
    )]
    NotRoot,
    #[error(
        "no netns run with the prefix {0:?} is running (no {0}router namespace); start one with `storefront-local up --isolation netns`, or pass its --netns-prefix"
    )]
    NotRunning(String),
    #[error(
        "the router namespace {router} has no bridge {bridge}; is it a run of this version of storefront-local?"
    )]
    NoBridge { router: String, bridge: String },
    #[error("cannot write the capture to {path}: {source}; pass --output with a writable path")]
    Output {
        path: String,
        source: std::io::Error,
    },
    #[error("tcpdump did not start capturing on {bridge}: {detail}")]
    Start { bridge: String, detail: String },
    #[error("tcpdump on {bridge} failed: {detail}")]
    Failed { bridge: String, detail: String },
    #[error("{0}")]
    Plan(#[from] PlanError),
    #[error("{0}")]
    Tool(#[from] TopologyError),
}

/// What a finished capture recorded.
#[derive(Clone, Debug)]
pub struct Summary {
    pub bridge: String,
    pub output: PathBuf,
    /// As tcpdump counted them (`None` if it printed no count).
    pub packets: Option<u64>,
    pub dropped_by_kernel: Option<u64>,
    /// Size of the pcap file.
    pub bytes: u64,
    pub elapsed: Duration,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let count = |n: Option<u64>| n.map_or_else(|| "?".to_owned(), |n| n.to_string());
        write!(
            f,
            "wrote {} ({} bytes): {} packets from {} in {:.1}s, {} dropped by the kernel",
            self.output.display(),
            self.bytes,
            count(self.packets),
            self.bridge,
            self.elapsed.as_secs_f64(),
            count(self.dropped_by_kernel)
        )
    }
}

/// Why this machine cannot capture: not Linux, not root, no `ip` or `tcpdump`.
pub fn preflight() -> Result<(), CaptureError> {
    if !cfg!(target_os = "linux") {
        return Err(CaptureError::NotLinux);
    }
    if !topology::is_root() {
        return Err(CaptureError::NotRoot);
    }
    find_tool("ip", "iproute2")?;
    find_tool("tcpdump", "tcpdump")?;
    Ok(())
}

/// A tcpdump recording one bridge; [`Capture::finish`] or [`Capture::stop`] ends it, and
/// dropping it kills tcpdump.
pub struct Capture {
    child: Child,
    bridge: String,
    output: PathBuf,
    started: Instant,
    deadline: Instant,
    copier: Option<JoinHandle<std::io::Result<u64>>>,
    stderr: Receiver<String>,
    /// tcpdump's standard error so far.
    said: Vec<String>,
}

impl Capture {
    /// Starts recording `request`'s tier of the run with `prefix` into `output`; returns once
    /// tcpdump says it is listening.
    pub fn start(
        prefix: &str,
        request: &CaptureRequest,
        output: &Path,
    ) -> Result<Self, CaptureError> {
        preflight()?;
        // The names do not depend on the subnet.
        let plan = Plan::new(prefix, DEFAULT_SUBNET)?;
        if !topology::namespaces_with(prefix).contains(&plan.router) {
            return Err(CaptureError::NotRunning(prefix.to_owned()));
        }
        let bridge = plan
            .bridge(request.tier)
            .map(|b| b.name.clone())
            .unwrap_or_default();
        if ip(&["-n", &plan.router, "link", "show", "dev", &bridge]).is_err() {
            return Err(CaptureError::NoBridge {
                router: plan.router.clone(),
                bridge,
            });
        }
        let file = File::create(output).map_err(|source| CaptureError::Output {
            path: output.display().to_string(),
            source,
        })?;
        let tcpdump = find_tool("tcpdump", "tcpdump")?;
        let started_fail = |detail: String| CaptureError::Start {
            bridge: bridge.clone(),
            detail,
        };
        // `ip netns exec` execs tcpdump in place, so the child's pid is tcpdump's own.
        let mut child = Command::new(find_tool("ip", "iproute2")?)
            .args(["netns", "exec", &plan.router, &tcpdump])
            .args(request.tcpdump_args(&bridge))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| started_fail(e.to_string()))?;
        let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(started_fail("its output pipes were not opened".into()));
        };
        let copier = std::thread::spawn(move || {
            let mut out = BufWriter::new(file);
            let bytes = std::io::copy(&mut BufReader::new(stdout), &mut out)?;
            out.flush()?;
            Ok(bytes)
        });
        let (lines, stderr_rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        let started = Instant::now();
        let mut capture = Self {
            child,
            bridge: bridge.clone(),
            output: output.to_path_buf(),
            started,
            deadline: started + request.duration,
            copier: Some(copier),
            stderr: stderr_rx,
            said: Vec::new(),
        };
        let listening_by = started + START_TIMEOUT;
        loop {
            let left = listening_by.saturating_duration_since(Instant::now());
            match capture.stderr.recv_timeout(left) {
                Ok(line) => {
                    let listening = request::is_listening(&line);
                    capture.said.push(line);
                    if listening {
                        return Ok(capture);
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let _ = capture.child.wait();
                    return Err(started_fail(capture.said.join("\n")));
                }
                Err(RecvTimeoutError::Timeout) => {
                    return Err(started_fail(format!(
                        "it did not say it was listening within {}s",
                        START_TIMEOUT.as_secs()
                    )));
                }
            }
        }
    }

    /// Waits until the duration is up (or tcpdump has its `--packets`), then stops.
    pub fn finish(mut self) -> Result<Summary, CaptureError> {
        let deadline = self.deadline;
        self.end(deadline)
    }

    /// Stops now.
    pub fn stop(mut self) -> Result<Summary, CaptureError> {
        self.end(Instant::now())
    }

    fn end(&mut self, deadline: Instant) -> Result<Summary, CaptureError> {
        let failed = |detail: String| CaptureError::Failed {
            bridge: self.bridge.clone(),
            detail,
        };
        let mut interrupted: Option<Instant> = None;
        let status = loop {
            if let Some(status) = self.child.try_wait().map_err(|e| failed(e.to_string()))? {
                break status;
            }
            let now = Instant::now();
            match interrupted {
                None if now >= deadline => {
                    interrupt(self.child.id());
                    interrupted = Some(now);
                }
                Some(at) if now.duration_since(at) > STOP_TIMEOUT => {
                    let _ = self.child.kill();
                }
                _ => {}
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let elapsed = self.started.elapsed();
        let copied = self.copier.take().map(|c| c.join());
        // The stderr reader ends with the pipe, once tcpdump has exited.
        self.said.extend(self.stderr.iter());
        let said = self.said.join("\n");
        if !status.success() {
            return Err(failed(format!("{status}: {said}")));
        }
        let bytes = match copied {
            Some(Ok(Ok(bytes))) => bytes,
            Some(Ok(Err(source))) => {
                return Err(CaptureError::Output {
                    path: self.output.display().to_string(),
                    source,
                });
            }
            _ => return Err(failed("copying its output stopped".into())),
        };
        let counts = request::counts(&said);
        Ok(Summary {
            bridge: self.bridge.clone(),
            output: self.output.clone(),
            packets: counts.captured,
            dropped_by_kernel: counts.dropped_by_kernel,
            bytes,
            elapsed,
        })
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[allow(unsafe_code)]
fn interrupt(pid: u32) {
    let Ok(pid) = i32::try_from(pid) else {
        return;
    };
    // SAFETY: kill(2) with SIGINT on our own child, which has not been reaped yet.
    unsafe {
        libc::kill(pid, libc::SIGINT);
    }
}
