//! Instructions a service spends per request, counted by valgrind's callgrind: stable where wall
//! time is not (a shared 2-core machine). The service binary runs under callgrind twice with the
//! same settings, answers the same warm-up, then `few` requests in one run and `many` in the
//! other, one after another on one keep-alive connection; start-up, warm-up and shutdown cancel
//! out and `(I(many) - I(few)) / (many - few)` is the cost of one request. What still differs
//! between the runs is background work that ticks with wall time (timers, pollers), which the
//! longer run does more of, so the figure errs a little high.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use serde::Serialize;
use storefront_testkit::{free_port, spawn_tied_process};

/// One request counted: what was sent and what it cost.
#[derive(Debug, Serialize, Clone)]
pub struct Count {
    pub name: &'static str,
    pub what: &'static str,
    pub path: String,
    /// The status every counted request had to get.
    pub status: u16,
    pub instructions_per_request: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum CallgrindError {
    #[error("valgrind not found at {0}; install it (apt-get install -y valgrind)")]
    Missing(String),
    #[error("{0}")]
    Run(String),
}

fn run_error(e: impl std::fmt::Display) -> CallgrindError {
    CallgrindError::Run(e.to_string())
}

/// The `totals:` (or `summary:`) line of a callgrind output file: instructions executed.
pub fn totals(text: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let rest = line
            .strip_prefix("totals:")
            .or_else(|| line.strip_prefix("summary:"))?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// The cost of one request from two runs' totals.
pub fn per_request(few: (u64, u64), many: (u64, u64)) -> Option<f64> {
    let requests = many.0.checked_sub(few.0).filter(|n| *n > 0)?;
    let instructions = many.1.checked_sub(few.1)?;
    Some(instructions as f64 / requests as f64)
}

/// A service to count: its binary and environment (its listen address is replaced).
pub struct Target<'a> {
    pub valgrind: &'a Path,
    pub binary: &'a Path,
    pub env: &'a [(String, String)],
    pub work: &'a Path,
}

/// Runs `target` under callgrind for `warm_up` then `n` requests of `path`, each answered
/// `status`; returns its total instructions.
async fn instructions(
    target: &Target<'_>,
    path: &str,
    status: u16,
    warm_up: u64,
    n: u64,
) -> Result<u64, CallgrindError> {
    let port = free_port();
    let out: PathBuf = target.work.join(format!("callgrind.{port}.out"));
    let log = target.work.join(format!("callgrind.{port}.log"));
    let log_file = std::fs::File::create(&log).map_err(run_error)?;
    let mut command = std::process::Command::new(target.valgrind);
    command
        .arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(target.binary)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(target.env.iter().map(|(k, v)| (k, v)))
        .env("STOREFRONT_HTTP_ADDR", format!("127.0.0.1:{port}"))
        .env("SHUTDOWN_DELAY_SECONDS", "0")
        .env("SHUTDOWN_DRAIN_SECONDS", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(log_file));
    let mut child = spawn_tied_process(command, libc::SIGTERM).map_err(run_error)?;
    let sent = send(port, path, status, warm_up, n).await;
    if let Ok(pid) = i32::try_from(child.id()) {
        crate::procfs::signal(pid, libc::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(run_error(
                "the service under callgrind did not stop in 60 s",
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    sent.map_err(|e| {
        let tail = std::fs::read_to_string(&log).unwrap_or_default();
        run_error(format!("{e}; its log ends:\n{}", last_lines(&tail, 10)))
    })?;
    let text = std::fs::read_to_string(&out).map_err(run_error)?;
    let _ = std::fs::remove_file(&out);
    totals(&text).ok_or_else(|| run_error(format!("no totals in {}", out.display())))
}

fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Waits for the service to listen, then sends the requests one after another on one
/// connection, each one required to be answered `status`.
async fn send(port: u16, path: &str, status: u16, warm_up: u64, n: u64) -> Result<(), String> {
    let addr = format!("127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(120);
    let stream = loop {
        match tokio::net::TcpStream::connect(&addr).await {
            Ok(stream) => break stream,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => return Err(format!("the service never listened on {addr}: {e}")),
        }
    };
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    let driver = tokio::spawn(conn);
    for i in 0..warm_up + n {
        let request = hyper::Request::get(path)
            .header(hyper::header::HOST, addr.as_str())
            .body(Empty::<Bytes>::new())
            .map_err(|e| e.to_string())?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("request {i}: {e}"))?;
        let got = response.status().as_u16();
        response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("request {i}'s body: {e}"))?;
        // The warm-up's first answers may differ (the cache filling, the burst being spent).
        if i >= warm_up && got != status {
            return Err(format!("request {i} got {got}, not {status}"));
        }
    }
    drop(sender);
    driver.abort();
    Ok(())
}

/// Instructions per request of `path` answered `status`, from a run of `few` and one of `many`.
pub async fn count(
    target: &Target<'_>,
    (name, what): (&'static str, &'static str),
    path: &str,
    status: u16,
    (few, many): (u64, u64),
) -> Result<Count, CallgrindError> {
    if !target.valgrind.is_file() {
        return Err(CallgrindError::Missing(
            target.valgrind.display().to_string(),
        ));
    }
    let warm_up = 200;
    eprintln!("callgrind: {name}, {few} then {many} requests of {path} (slow: valgrind)...");
    let small = instructions(target, path, status, warm_up, few).await?;
    let large = instructions(target, path, status, warm_up, many).await?;
    let instructions_per_request = per_request((few, small), (many, large)).ok_or_else(|| {
        run_error(format!(
            "the longer run counted fewer instructions ({large} after {small})"
        ))
    })?;
    Ok(Count {
        name,
        what,
        path: path.to_string(),
        status,
        instructions_per_request,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_totals_line_is_read_and_nothing_else() {
        let text =
            "version: 1\ncreator: callgrind-3.19.0\nevents: Ir\nfn=main\n5 10\ntotals: 123456789\n";
        assert_eq!(totals(text), Some(123_456_789));
        assert_eq!(totals("summary: 42\n"), Some(42));
        assert_eq!(totals("events: Ir\nfn=x\n1 2\n"), None);
    }

    #[test]
    fn the_cost_of_a_request_is_the_difference_over_the_extra_requests() {
        assert_eq!(
            per_request((1000, 5_000_000), (3000, 9_000_000)),
            Some(2000.0)
        );
        assert_eq!(per_request((1000, 5), (1000, 9)), None);
        assert_eq!(per_request((1000, 9), (3000, 5)), None);
    }
}
