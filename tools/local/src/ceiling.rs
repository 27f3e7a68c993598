//! What the machine's PostgreSQL allows, and what one checkout costs it, for `bench-checkout`.
//!
//! The cost is read from the servers themselves, never assumed: PostgreSQL's
//! `pg_stat_database` counts the transactions committed and rolled back in the services'
//! databases, and every service's `/metrics` counts the HTTP requests it served. Both are read
//! before and after the measured window; an idle window of the same length, read first, takes
//! out what the background workers (outbox relay, recovery sweep, readiness probes) do anyway.
//!
//! The ceiling is pgbench's TPC-B-like script on the same server (so the same settings), at the
//! same concurrency, divided by the transactions one checkout makes.

use std::path::Path;
use std::time::Duration;

use sqlx::Connection;

/// Transactions (commits + rollbacks) so far in `databases`, from `pg_stat_database`.
///
/// The statistics collector flushes a backend's counts when its transaction ends (and at most
/// every second while idle), so the caller waits a moment before reading a closing figure.
pub async fn transactions(admin_url: &str, databases: &[&str]) -> Result<u64, String> {
    let mut conn = sqlx::PgConnection::connect(admin_url)
        .await
        .map_err(|e| format!("connecting to PostgreSQL: {e}"))?;
    // A fresh snapshot: otherwise the second read in one transaction repeats the first.
    sqlx::query("SELECT pg_stat_clear_snapshot()")
        .execute(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
    let names: Vec<String> = databases.iter().map(|d| (*d).to_owned()).collect();
    let total: Option<i64> = sqlx::query_scalar(
        "SELECT sum(xact_commit + xact_rollback)::bigint FROM pg_stat_database WHERE datname = ANY($1)",
    )
    .bind(&names)
    .fetch_one(&mut conn)
    .await
    .map_err(|e| format!("reading pg_stat_database: {e}"))?;
    let _ = conn.close().await;
    Ok(total.unwrap_or(0).max(0) as u64)
}

/// HTTP requests served by one service so far: the sum of its `http_requests_total` series
/// (the operational routes are not counted by the services' middleware).
pub async fn served(http: &reqwest::Client, base: &str) -> Result<u64, String> {
    let text = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| format!("{base}/metrics: {e}"))?
        .text()
        .await
        .map_err(|e| format!("{base}/metrics: {e}"))?;
    Ok(counter_sum(&text, "http_requests_total"))
}

/// The sum of every sample of the counter `name` in a Prometheus text exposition.
pub fn counter_sum(text: &str, name: &str) -> u64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// pgbench's result: transactions per second, and what it ran.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Pgbench {
    pub clients: usize,
    pub threads: usize,
    pub scale: usize,
    pub duration_secs: u64,
    pub tps: f64,
}

/// Initialises a `pgbench` database (scale = clients, as pgbench's documentation advises so
/// that the branches table does not serialise them) and runs TPC-B-like for `duration`.
pub async fn pgbench(
    pgbench: &Path,
    port: u16,
    clients: usize,
    duration: Duration,
) -> Result<Pgbench, String> {
    let clients = clients.max(1);
    let scale = clients;
    // pgbench refuses more threads than clients.
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(clients);
    let base = |command: &mut tokio::process::Command| {
        command
            .args(["-h", "127.0.0.1", "-U", "postgres", "-p", &port.to_string()])
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
    };
    eprintln!("pgbench: initialising scale {scale}...");
    let mut init = tokio::process::Command::new(pgbench);
    base(&mut init);
    init.args(["-i", "-q", "-s", &scale.to_string(), "pgbench"]);
    run(init).await?;
    let secs = duration.as_secs().max(1);
    eprintln!("pgbench: TPC-B-like, {clients} clients, {secs}s...");
    let mut bench = tokio::process::Command::new(pgbench);
    base(&mut bench);
    bench.args([
        "-n",
        "-c",
        &clients.to_string(),
        "-j",
        &threads.to_string(),
        "-T",
        &secs.to_string(),
        "pgbench",
    ]);
    let out = run(bench).await?;
    let tps = parse_tps(&out).ok_or_else(|| format!("pgbench printed no tps line:\n{out}"))?;
    Ok(Pgbench {
        clients,
        threads,
        scale,
        duration_secs: secs,
        tps,
    })
}

async fn run(mut command: tokio::process::Command) -> Result<String, String> {
    let output = command
        .output()
        .await
        .map_err(|e| format!("running pgbench: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        return Err(format!(
            "pgbench failed ({}): {}{}",
            output.status,
            stdout,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(stdout)
}

/// `tps = 2929.1 (without initial connection time)` → 2929.1.
pub fn parse_tps(text: &str) -> Option<f64> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("tps = "))
        .find_map(|rest| rest.split_whitespace().next()?.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_summed_over_labels_and_other_names_left_out() {
        let text = "# HELP http_requests_total HTTP requests\n\
                    # TYPE http_requests_total counter\n\
                    http_requests_total{method=\"GET\",status=\"200\"} 12\n\
                    http_requests_total{method=\"POST\",status=\"201\"} 3\n\
                    http_requests_total_created 1700000000\n\
                    http_request_duration_seconds_count 99\n";
        assert_eq!(counter_sum(text, "http_requests_total"), 15);
        assert_eq!(counter_sum("", "http_requests_total"), 0);
    }

    #[test]
    fn tps_is_read_from_pgbench_output() {
        let out = "number of failed transactions: 0 (0.000%)\n\
                   latency average = 10.9 ms\n\
                   initial connection time = 21.3 ms\n\
                   tps = 2929.123 (without initial connection time)\n";
        assert_eq!(parse_tps(out), Some(2929.123));
        assert_eq!(parse_tps("latency average = 1 ms\n"), None);
    }
}
