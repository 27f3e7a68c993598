//! A real Prometheus for the dashboard test: the binary `scripts/prometheus.sh` builds into the
//! cache (located, never built here), run on a loopback port with a throwaway TSDB, scraping
//! the given targets every second. Dropping it kills the process and removes its directory.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Whether a missing Prometheus fails the test instead of skipping it.
pub fn required() -> bool {
    std::env::var("STOREFRONT_CLUSTER_TESTS").as_deref() == Ok("1")
        || std::env::var("CI").as_deref() == Ok("true")
}

/// The cached binary: `$STOREFRONT_PROMETHEUS_BIN`, else `prometheus/bin/prometheus` in
/// `$STOREFRONT_CACHE` (default `$XDG_CACHE_HOME/storefront`, then `~/.cache/storefront`),
/// where `scripts/prometheus.sh` puts it.
pub fn binary() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("STOREFRONT_PROMETHEUS_BIN").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!(
                "STOREFRONT_PROMETHEUS_BIN={} is not a file",
                path.display()
            ))
        };
    }
    let cache = std::env::var_os("STOREFRONT_CACHE")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("XDG_CACHE_HOME")
                .filter(|d| !d.is_empty())
                .map(|d| PathBuf::from(d).join("storefront"))
        })
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/storefront")))
        .unwrap_or_else(|| PathBuf::from("/tmp/storefront-cache"));
    let path = cache.join("prometheus/bin/prometheus");
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "{} is missing: run scripts/prometheus.sh (it builds the pinned Prometheus)",
            path.display()
        ))
    }
}

pub struct Prometheus {
    pub url: String,
    child: Child,
    dir: PathBuf,
    http: reqwest::Client,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Prometheus {
    /// Starts `binary` scraping `targets` (job name, `host:port`) every second, keeping the
    /// labels the services expose (`honor_labels`), and waits until its API answers.
    pub async fn start(binary: &std::path::Path, targets: &[(String, String)]) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "storefront-prometheus-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(dir.join("data")).unwrap();
        let mut config = String::from(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\nscrape_configs:\n",
        );
        for (job, address) in targets {
            config.push_str(&format!(
                "  - job_name: {job}\n    honor_labels: true\n    metrics_path: /metrics\n    static_configs:\n      - targets: ['{address}']\n"
            ));
        }
        std::fs::write(dir.join("prometheus.yml"), &config).unwrap();
        let port = storefront_testkit::free_port();
        let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
        let mut command = Command::new(binary);
        command
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log));
        let child = storefront_testkit::spawn_tied_process(command, libc::SIGKILL).unwrap();
        let mut prometheus = Self {
            url: format!("http://127.0.0.1:{port}"),
            child,
            dir,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap(),
        };
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = prometheus.child.try_wait() {
                panic!("prometheus exited ({status}):\n{}", prometheus.log());
            }
            if let Ok(resp) = prometheus
                .http
                .get(format!("{}/-/ready", prometheus.url))
                .send()
                .await
                && resp.status().is_success()
            {
                return prometheus;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "prometheus not ready after 60s:\n{}",
                prometheus.log()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default()
    }

    async fn api(&self, path: &str, params: &[(&str, String)]) -> Value {
        let resp = self
            .http
            .get(format!("{}{path}", self.url))
            .query(params)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["status"], "success", "{path} {params:?}: {body}");
        body["data"].clone()
    }

    /// Waits until every scrape target is up; panics with their states after `limit`.
    pub async fn wait_targets_up(&self, expected: usize, limit: Duration) {
        let started = Instant::now();
        loop {
            let data = self.api("/api/v1/targets", &[]).await;
            let active = data["activeTargets"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let up = active.iter().filter(|t| t["health"] == "up").count();
            if active.len() == expected && up == expected {
                return;
            }
            assert!(
                started.elapsed() < limit,
                "{up} of {expected} targets up after {limit:?}: {active:#?}"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// An instant query's result vector.
    pub async fn query(&self, expr: &str) -> Vec<Value> {
        let data = self
            .api("/api/v1/query", &[("query", expr.to_owned())])
            .await;
        data["result"].as_array().cloned().unwrap_or_default()
    }

    /// The largest value `expr` took between `start` and now (Unix seconds), every second;
    /// `None` when it had no samples (NaN samples are skipped).
    pub async fn max_since(&self, expr: &str, start: f64) -> Option<f64> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let data = self
            .api(
                "/api/v1/query_range",
                &[
                    ("query", expr.to_owned()),
                    ("start", format!("{start:.3}")),
                    ("end", format!("{now:.3}")),
                    ("step", "1".to_owned()),
                ],
            )
            .await;
        data["result"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|series| series["values"].as_array().cloned().unwrap_or_default())
            .filter_map(|pair| pair[1].as_str().and_then(|v| v.parse::<f64>().ok()))
            .filter(|v| !v.is_nan())
            .reduce(f64::max)
    }
}
