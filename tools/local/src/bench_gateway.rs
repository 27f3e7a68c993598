//! `storefront-local bench-gateway`: the gateway's throughput and latency beside nginx doing the
//! same jobs, in one run on one machine. wrk measures:
//! - nginx serving the exact body of `GET /api/products` from a file (the static ceiling);
//! - nginx as a caching reverse proxy in front of the catalog (`proxy_cache`, keepalive
//!   upstream), the set-up the seed platforms use, and the gateway answering that URL from its
//!   response cache;
//! - the gateway with every request a distinct catalog query (a miss in the gateway cache and in
//!   the catalog's Redis cache, so the catalog reads PostgreSQL);
//! - a flood from one client far over its limit: nginx `limit_req` in front of the catalog
//!   against the gateway restarted with a per-IP limit;
//!
//! then loadgen runs its full user mix. The platform otherwise runs with rate limits raised out
//! of the way; each wrk scenario has a short warm-up that is not counted. Figures are only
//! comparable within one run.
//!
//! wrk is closed-loop, so the tail it reports hides queueing; an open-loop load at half of each
//! peak rate (nginx `proxy_cache` and the gateway's cached reads) gives the latency a steady
//! stream of clients meets. With `--callgrind` the gateway binary also runs under valgrind to
//! count the instructions of one cached read and of one 429, which do not vary with the
//! machine's load.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;
use storefront_testkit::{free_port, spawn_tied_process};

use crate::callgrind::{self, Count};
use crate::open_loop::{self, OpenLoop};
use crate::platform::{self, Platform, Scope, StartOptions};

pub struct GatewayBenchOptions {
    pub bins: PathBuf,
    pub threads: u32,
    pub connections: u32,
    pub duration: Duration,
    pub warm_up: Duration,
    /// nginx `worker_processes`: a number or `auto` (one per core).
    pub nginx_workers: String,
    pub rust_log: String,
    pub wrk: PathBuf,
    pub nginx: PathBuf,
    pub json: Option<PathBuf>,
    /// valgrind, to count instructions per request (`--callgrind`); `None` skips the count.
    pub valgrind: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum GatewayBenchError {
    #[error(transparent)]
    Platform(#[from] platform::PlatformError),
    #[error(transparent)]
    OpenLoop(#[from] open_loop::OpenLoopError),
    #[error(transparent)]
    Callgrind(#[from] callgrind::CallgrindError),
    #[error("{0} not found; install it (apt-get install -y wrk nginx-light) or pass its path")]
    MissingTool(String),
    #[error("setting up the benchmark failed: {0}")]
    Setup(String),
    #[error("{tool} failed: {detail}")]
    Tool { tool: String, detail: String },
    #[error("writing {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

fn setup(e: impl std::fmt::Display) -> GatewayBenchError {
    GatewayBenchError::Setup(e.to_string())
}

#[derive(Serialize, Default, Clone)]
pub struct Scenario {
    pub name: &'static str,
    pub what: &'static str,
    pub requests: u64,
    pub requests_per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub non_2xx: u64,
    pub socket_errors: u64,
    /// This scenario's requests/s over nginx's static file.
    pub ratio_to_nginx: f64,
    /// 429 answers per second (the flood scenarios).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejections_per_sec: Option<f64>,
    /// Gateway cache lookups during the measured window (from its /metrics).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_hits: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_misses: Option<u64>,
}

#[derive(Serialize)]
struct Summary {
    threads: u32,
    connections: u32,
    duration_secs: f64,
    nginx_workers: String,
    services_rust_log: String,
    body_bytes: usize,
    scenarios: Vec<Scenario>,
    ratios: Ratios,
    /// Open-loop runs at half of each peer's wrk rate (latency from the due time).
    open_loop: Vec<OpenLoop>,
    /// Each service's peak resident memory since it started (VmHWM), MiB: after loadgen, and
    /// the flood's gateway after the flood.
    peak_rss_mib: Vec<(String, f64)>,
    /// Instructions per request under callgrind (`--callgrind`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    instructions: Vec<Count>,
    /// loadgen's own JSON summary of the mix run.
    loadgen: serde_json::Value,
}

/// The figures issue 14 sets goals for, each the gateway over its peer in this run.
#[derive(Serialize, Default)]
struct Ratios {
    cached_over_nginx_proxy_cache: f64,
    cached_over_nginx_static: f64,
    rejections_over_cached_reads: f64,
    rejections_over_nginx_limit_req: f64,
    /// p99 of the gateway's cached reads at half their wrk rate, open loop (goal: at most 5 ms).
    cached_p99_ms_at_half_rate: f64,
}

/// The flood scenarios' limit: one client at wrk's pace is far over it, so nearly every
/// request is refused.
const FLOOD_RATE: u32 = 100;

/// Rates far above what one machine can send: the benchmark measures forwarding and caching,
/// not the limiter's refusals (the limiter's Redis calls still run on every request).
pub const UNLIMITED: [(&str, &str); 4] = [
    ("GATEWAY_RATE_LIMIT_IP", "10000000/s"),
    ("GATEWAY_RATE_LIMIT_BURST_IP", "10000000"),
    ("GATEWAY_RATE_LIMIT_USER", "10000000/s"),
    ("GATEWAY_RATE_LIMIT_BURST_USER", "10000000"),
];

/// Every request a distinct `maxPrice` above every price, so the answer is the same page as
/// `/api/products` while neither the gateway nor the catalog has it cached. The run offset
/// (wrk's script argument) keeps the warm-up's queries out of the measured run.
const DISTINCT_QUERIES_LUA: &str = r#"
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("id", threads)
end
function init(args)
  offset = tonumber(args[1]) or 0
  counter = 0
end
function request()
  counter = counter + 1
  return wrk.format("GET", "/api/products?maxPrice=" .. (1000000000 + offset + id * 100000000000 + counter))
end
"#;

pub async fn run(options: GatewayBenchOptions) -> Result<(), GatewayBenchError> {
    for tool in [&options.wrk, &options.nginx] {
        if !tool.is_file() {
            return Err(GatewayBenchError::MissingTool(tool.display().to_string()));
        }
    }
    if options.bins.ends_with("debug") {
        eprintln!(
            "warning: {} holds debug binaries; figures need `cargo build --release`",
            options.bins.display()
        );
    }
    let work = std::env::temp_dir().join(format!(
        "storefront-bench-gateway-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&work).map_err(setup)?;

    eprintln!(
        "starting the platform (binaries from {})...",
        options.bins.display()
    );
    let mut platform = platform::start(StartOptions {
        bins: options.bins.clone(),
        scope: Scope::Full {
            gateway_port: free_port(),
        },
        admin_email: "admin@bench.local".into(),
        admin_password: "bench-admin-password".into(),
        log_dir: Some(work.join("logs")),
        rust_log: options.rust_log.clone(),
        extra_env: UNLIMITED
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        bus: Default::default(),
        replicas: Default::default(),
    })
    .await?;
    let outcome = measure(&mut platform, &options, &work).await;
    let exited = platform.exited();
    platform.stop().await;
    let summary = outcome?;
    if let Some((service, status, log)) = exited {
        return Err(setup(format!(
            "{service} exited during the benchmark ({status}); see {}",
            log.display()
        )));
    }
    print(&summary);
    if let Some(path) = &options.json {
        let text = serde_json::to_string_pretty(&summary).unwrap_or_default();
        std::fs::write(path, text).map_err(|source| GatewayBenchError::Write {
            path: path.display().to_string(),
            source,
        })?;
    }
    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}

async fn measure(
    platform: &mut Platform,
    options: &GatewayBenchOptions,
    work: &Path,
) -> Result<Summary, GatewayBenchError> {
    let gateway = platform.url("gateway").unwrap_or_default().to_string();
    let http = reqwest::Client::new();
    let listing = format!("{gateway}/api/products");
    let body = http
        .get(&listing)
        .send()
        .await
        .map_err(setup)?
        .error_for_status()
        .map_err(setup)?
        .bytes()
        .await
        .map_err(setup)?;
    // The gateway stores a miss in the background, so the next request may still miss.
    let mut hit = false;
    for _ in 0..20 {
        let again = http.get(&listing).send().await.map_err(setup)?;
        hit = again.headers().get("x-cache").and_then(|v| v.to_str().ok()) == Some("HIT");
        if hit {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if !hit {
        return Err(setup(
            "a repeated GET /api/products was not answered from the gateway cache within 2 s (no x-cache: HIT)",
        ));
    }
    let miss = http
        .get(format!("{listing}?maxPrice=999999999999"))
        .send()
        .await
        .map_err(setup)?;
    let missed = miss.headers().get("x-cache").and_then(|v| v.to_str().ok()) == Some("MISS");
    if !missed || miss.bytes().await.map_err(setup)? != body {
        return Err(setup(
            "a listing with a distinct maxPrice is not the same uncached page",
        ));
    }

    let script = work.join("distinct-queries.lua");
    std::fs::write(&script, DISTINCT_QUERIES_LUA).map_err(setup)?;
    let catalog = platform.url("catalog").unwrap_or_default().to_string();

    let mut scenarios = Vec::new();
    let nginx = Nginx::start(options, work, "static", &Site::Static(&body))?;
    let static_file = wrk(options, &format!("{}/api/products", nginx.url), None).await;
    drop(nginx);
    let mut static_file = static_file?;
    static_file.name = "nginx-static";
    static_file.what = "nginx serving the same body from a file";
    scenarios.push(static_file);

    let nginx = Nginx::start(options, work, "proxy-cache", &Site::ProxyCache(&catalog))?;
    let proxied = format!("{}/api/products", nginx.url);
    let through = http.get(&proxied).send().await.map_err(setup)?;
    if through.bytes().await.map_err(setup)? != body {
        return Err(setup(
            "nginx in front of the catalog does not answer the gateway's body",
        ));
    }
    let proxy_cache = wrk(options, &proxied, None).await;
    let mut proxy_cache = proxy_cache?;
    let mut open = vec![half_rate(options, &proxied, proxy_cache.requests_per_sec).await?];
    drop(nginx);
    proxy_cache.name = "nginx-proxy-cache";
    proxy_cache.what = "nginx proxy_cache in front of the catalog, keepalive upstream";
    scenarios.push(proxy_cache);

    let before = cache_lookups(&http, &gateway).await;
    let mut cached = wrk(options, &listing, None).await?;
    let after = cache_lookups(&http, &gateway).await;
    cached.name = "gateway-cached";
    cached.what = "GET /api/products again and again: gateway cache HIT";
    (cached.cache_hits, cached.cache_misses) = delta(before, after);
    open.push(half_rate(options, &listing, cached.requests_per_sec).await?);
    scenarios.push(cached);

    let before = cache_lookups(&http, &gateway).await;
    let mut uncached = wrk(options, &gateway, Some(&script)).await?;
    let after = cache_lookups(&http, &gateway).await;
    uncached.name = "gateway-uncached";
    uncached.what = "distinct maxPrice each request: gateway and catalog caches miss, PostgreSQL";
    (uncached.cache_hits, uncached.cache_misses) = delta(before, after);
    scenarios.push(uncached);

    let nginx = Nginx::start(options, work, "limit-req", &Site::LimitReq(&catalog))?;
    let flood = wrk(options, &format!("{}/api/products", nginx.url), None).await;
    drop(nginx);
    let mut flood = rejections(flood?, "nginx limit_req")?;
    flood.name = "nginx-flood";
    flood.what = "one client over nginx limit_req (429) in front of the catalog";
    scenarios.push(flood);

    let loadgen = loadgen(options, &gateway, work).await?;
    let instructions = match &options.valgrind {
        Some(valgrind) => count_instructions(platform, valgrind, work).await?,
        None => Vec::new(),
    };

    let mut peak_rss_mib = peak_rss(platform);
    // Last, since it restarts the gateway with a limit the other scenarios must not meet.
    let rate = format!("{FLOOD_RATE}/s");
    let burst = FLOOD_RATE.to_string();
    platform
        .restart_service_with(
            "gateway",
            &[
                ("GATEWAY_RATE_LIMIT_IP", &rate),
                ("GATEWAY_RATE_LIMIT_BURST_IP", &burst),
            ],
        )
        .await?;
    let flood = wrk(options, &listing, None).await?;
    let mut flood = rejections(flood, "the gateway")?;
    for (name, mib) in peak_rss(platform) {
        if name == "gateway"
            && let Some(entry) = peak_rss_mib.iter_mut().find(|(n, _)| *n == name)
        {
            entry.1 = entry.1.max(mib);
        }
    }
    flood.name = "gateway-flood";
    flood.what = "one client over the gateway's per-IP limit (429)";
    scenarios.push(flood);

    let baseline = scenarios[0].requests_per_sec;
    for s in &mut scenarios {
        s.ratio_to_nginx = if baseline > 0.0 {
            s.requests_per_sec / baseline
        } else {
            0.0
        };
    }
    let figure = |name: &str| {
        scenarios
            .iter()
            .find(|s| s.name == name)
            .map_or(0.0, |s| s.rejections_per_sec.unwrap_or(s.requests_per_sec))
    };
    let over = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    let ratios = Ratios {
        cached_over_nginx_proxy_cache: over(figure("gateway-cached"), figure("nginx-proxy-cache")),
        cached_over_nginx_static: over(figure("gateway-cached"), figure("nginx-static")),
        rejections_over_cached_reads: over(figure("gateway-flood"), figure("gateway-cached")),
        rejections_over_nginx_limit_req: over(figure("gateway-flood"), figure("nginx-flood")),
        cached_p99_ms_at_half_rate: open.last().map_or(0.0, |o| o.p99_ms),
    };
    Ok(Summary {
        threads: options.threads,
        connections: options.connections,
        duration_secs: options.duration.as_secs_f64(),
        nginx_workers: options.nginx_workers.clone(),
        services_rust_log: options.rust_log.clone(),
        body_bytes: body.len(),
        scenarios,
        ratios,
        open_loop: open,
        peak_rss_mib,
        instructions,
        loadgen,
    })
}

/// Every service's peak resident memory since it started, MiB.
fn peak_rss(platform: &Platform) -> Vec<(String, f64)> {
    platform
        .services
        .iter()
        .filter_map(|s| {
            let memory = crate::procfs::memory(s.pid())?;
            Some((s.label(), memory.peak_kib as f64 / 1024.0))
        })
        .collect()
}

/// An open-loop run at half of `peak` requests per second, over wrk's connection count.
async fn half_rate(
    options: &GatewayBenchOptions,
    url: &str,
    peak: f64,
) -> Result<OpenLoop, GatewayBenchError> {
    let rate = (peak / 2.0).max(1.0);
    eprintln!(
        "open loop {}s at {rate:.0}/s: {url}",
        options.duration.as_secs()
    );
    Ok(open_loop::run(url, rate, options.connections as usize, options.duration).await?)
}

/// Instructions per cached read and per 429 of the gateway binary under callgrind, with the
/// platform's settings (and, for the 429s, a limit of one request an hour).
async fn count_instructions(
    platform: &Platform,
    valgrind: &Path,
    work: &Path,
) -> Result<Vec<Count>, GatewayBenchError> {
    let Some((binary, env)) = platform.launch_spec("gateway") else {
        return Err(setup("the platform has no gateway to count"));
    };
    let runs = (1000, 3000);
    let target = callgrind::Target {
        valgrind,
        binary,
        env,
        work,
    };
    let cached = callgrind::count(
        &target,
        (
            "gateway-cached",
            "GET /api/products answered from the cache",
        ),
        "/api/products",
        200,
        runs,
    )
    .await?;
    let mut limited_env: Vec<(String, String)> = env
        .iter()
        .filter(|(k, _)| !k.starts_with("GATEWAY_RATE_LIMIT_"))
        .cloned()
        .collect();
    limited_env.extend(
        [
            ("GATEWAY_RATE_LIMIT_IP", "1/h"),
            ("GATEWAY_RATE_LIMIT_BURST_IP", "1"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    let limited = callgrind::Target {
        env: &limited_env,
        ..target
    };
    let refused = callgrind::count(
        &limited,
        (
            "gateway-429",
            "GET /api/products over the per-IP limit: 429",
        ),
        "/api/products",
        429,
        runs,
    )
    .await?;
    Ok(vec![cached, refused])
}

/// A flood run's 429s per second; a flood that was mostly admitted measured nothing.
fn rejections(mut s: Scenario, who: &str) -> Result<Scenario, GatewayBenchError> {
    if s.requests == 0 || s.non_2xx * 10 < s.requests * 9 {
        return Err(setup(format!(
            "{who} refused only {} of {} flood requests; the limit did not hold",
            s.non_2xx, s.requests
        )));
    }
    s.rejections_per_sec = Some(s.requests_per_sec * s.non_2xx as f64 / s.requests as f64);
    Ok(s)
}

/// nginx as our child on a loopback port, with everything it writes inside `work`.
struct Nginx {
    url: String,
    child: Child,
}

/// What an nginx peer does.
enum Site<'a> {
    /// Serves this body at `/api/products` from a file.
    Static(&'a [u8]),
    /// A caching reverse proxy in front of the catalog at this base URL.
    ProxyCache(&'a str),
    /// A reverse proxy in front of the catalog that refuses a client over [`FLOOD_RATE`].
    LimitReq(&'a str),
}

impl Site<'_> {
    /// The `http` block's extra directives and the server's locations.
    fn config(&self, d: &std::path::Display<'_>) -> (String, String) {
        let upstream = |base: &str| {
            format!(
                "upstream catalog {{ server {}; keepalive 64; }}\n",
                base.trim_start_matches("http://")
            )
        };
        let proxy = "proxy_pass http://catalog; proxy_http_version 1.1; \
                     proxy_set_header Connection \"\";";
        match self {
            Site::Static(_) => (
                String::new(),
                format!("root {d}/www; location / {{ try_files $uri =404; }}"),
            ),
            Site::ProxyCache(base) => (
                format!(
                    "{}proxy_cache_path {d}/cache keys_zone=catalog:10m;\n",
                    upstream(base)
                ),
                format!(
                    "location / {{ {proxy} proxy_cache catalog; proxy_cache_valid 200 5s; \
                     proxy_cache_lock on; proxy_cache_key $request_uri; \
                     proxy_ignore_headers Cache-Control Expires Set-Cookie; }}"
                ),
            ),
            Site::LimitReq(base) => (
                format!(
                    "{}limit_req_zone $binary_remote_addr zone=flood:10m rate={FLOOD_RATE}r/s;\n",
                    upstream(base)
                ),
                format!(
                    "location / {{ limit_req zone=flood burst={FLOOD_RATE} nodelay; \
                     limit_req_status 429; {proxy} }}"
                ),
            ),
        }
    }
}

impl Nginx {
    fn start(
        options: &GatewayBenchOptions,
        work: &Path,
        name: &str,
        site: &Site<'_>,
    ) -> Result<Self, GatewayBenchError> {
        let dir = work.join(format!("nginx-{name}"));
        std::fs::create_dir_all(dir.join("temp")).map_err(setup)?;
        if let Site::Static(body) = site {
            let www = dir.join("www/api");
            std::fs::create_dir_all(&www).map_err(setup)?;
            std::fs::write(www.join("products"), body).map_err(setup)?;
        }
        let port = free_port();
        let d = dir.display();
        let (http_extra, locations) = site.config(&d);
        let config = format!(
            "worker_processes {workers};\n\
             daemon off;\n\
             pid {d}/nginx.pid;\n\
             error_log {d}/error.log warn;\n\
             events {{ worker_connections 4096; }}\n\
             http {{\n\
             \x20 access_log off;\n\
             \x20 client_body_temp_path {d}/temp/body;\n\
             \x20 proxy_temp_path {d}/temp/proxy;\n\
             \x20 keepalive_requests 10000000;\n\
             \x20 types {{ }}\n\
             \x20 default_type application/json;\n\
             {http_extra}\
             \x20 server {{\n\
             \x20   listen 127.0.0.1:{port};\n\
             \x20   {locations}\n\
             \x20 }}\n\
             }}\n",
            workers = options.nginx_workers,
        );
        std::fs::write(dir.join("nginx.conf"), config).map_err(setup)?;
        let mut command = Command::new(&options.nginx);
        command
            .arg("-p")
            .arg(&dir)
            .arg("-e")
            .arg(dir.join("error.log"))
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = spawn_tied_process(command, libc::SIGTERM).map_err(setup)?;
        let mut nginx = Nginx {
            url: format!("http://127.0.0.1:{port}"),
            child,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let answer = std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
            if answer {
                return Ok(nginx);
            }
            if let Ok(Some(status)) = nginx.child.try_wait() {
                let log = std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();
                return Err(GatewayBenchError::Tool {
                    tool: "nginx".into(),
                    detail: format!("exited at start ({status}): {log}"),
                });
            }
            if Instant::now() > deadline {
                return Err(setup("nginx did not listen within 10s"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGQUIT is nginx's graceful stop; the master takes its workers with it.
        if let Ok(pid) = i32::try_from(self.child.id()) {
            crate::procfs::signal(pid, libc::SIGQUIT);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A warm-up run, then the measured one.
async fn wrk(
    options: &GatewayBenchOptions,
    url: &str,
    script: Option<&Path>,
) -> Result<Scenario, GatewayBenchError> {
    let secs = |d: Duration| format!("{}s", d.as_secs().max(1));
    let mut last = String::new();
    for (duration, offset) in [(options.warm_up, "0"), (options.duration, "500000000")] {
        let mut command = tokio::process::Command::new(&options.wrk);
        command
            .arg(format!("-t{}", options.threads))
            .arg(format!("-c{}", options.connections))
            .arg(format!("-d{}", secs(duration)))
            .arg("--latency")
            .arg("--timeout")
            .arg("10s");
        if let Some(script) = script {
            command.arg("-s").arg(script);
        }
        command.arg(url);
        if script.is_some() {
            command.arg("--").arg(offset);
        }
        eprintln!("wrk {} for {}: {url}", secs(duration), {
            if offset == "0" { "warm-up" } else { "measure" }
        });
        let output = command
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output()
            .await
            .map_err(|e| GatewayBenchError::Tool {
                tool: "wrk".into(),
                detail: e.to_string(),
            })?;
        last = String::from_utf8_lossy(&output.stdout).into_owned();
        if !output.status.success() {
            return Err(GatewayBenchError::Tool {
                tool: "wrk".into(),
                detail: format!("{}{}", last, String::from_utf8_lossy(&output.stderr)),
            });
        }
    }
    parse_wrk(&last).ok_or_else(|| GatewayBenchError::Tool {
        tool: "wrk".into(),
        detail: format!("unreadable output:\n{last}"),
    })
}

/// Reads wrk's `--latency` report: requests, requests/s, the 50% and 99% lines and errors.
pub fn parse_wrk(text: &str) -> Option<Scenario> {
    let mut s = Scenario::default();
    let mut seen = (false, false, false);
    for line in text.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["50%", v] => {
                s.p50_ms = duration_ms(v)?;
                seen.0 = true;
            }
            ["99%", v] => {
                s.p99_ms = duration_ms(v)?;
                seen.1 = true;
            }
            ["Requests/sec:", v] => {
                s.requests_per_sec = v.parse().ok()?;
                seen.2 = true;
            }
            [n, "requests", "in", ..] => s.requests = n.parse().ok()?,
            ["Non-2xx", "or", "3xx", "responses:", n] => s.non_2xx = n.parse().ok()?,
            ["Socket", "errors:", rest @ ..] => {
                s.socket_errors = rest
                    .iter()
                    .filter_map(|w| w.trim_end_matches(',').parse::<u64>().ok())
                    .sum();
            }
            _ => {}
        }
    }
    (seen == (true, true, true)).then_some(s)
}

fn duration_ms(v: &str) -> Option<f64> {
    let split = v.find(|c: char| c.is_ascii_alphabetic())?;
    let (n, unit) = v.split_at(split);
    let n: f64 = n.parse().ok()?;
    match unit {
        "us" => Some(n / 1000.0),
        "ms" => Some(n),
        "s" => Some(n * 1000.0),
        "m" => Some(n * 60_000.0),
        _ => None,
    }
}

/// `gateway_cache_lookups_total` by result, from the gateway's /metrics.
async fn cache_lookups(http: &reqwest::Client, gateway: &str) -> Option<(u64, u64)> {
    let text = http
        .get(format!("{gateway}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let count = |result: &str| {
        text.lines()
            .filter(|l| l.starts_with("gateway_cache_lookups_total") && l.contains(result))
            .filter_map(|l| l.split_whitespace().last()?.parse::<f64>().ok())
            .sum::<f64>() as u64
    };
    Some((count("\"hit\""), count("\"miss\"")))
}

fn delta(before: Option<(u64, u64)>, after: Option<(u64, u64)>) -> (Option<u64>, Option<u64>) {
    match (before, after) {
        (Some(b), Some(a)) => (Some(a.0.saturating_sub(b.0)), Some(a.1.saturating_sub(b.1))),
        _ => (None, None),
    }
}

/// The full user mix by `storefront-loadgen` (one user per wrk connection, no think time).
async fn loadgen(
    options: &GatewayBenchOptions,
    gateway: &str,
    work: &Path,
) -> Result<serde_json::Value, GatewayBenchError> {
    let binary = options.bins.join("storefront-loadgen");
    if !binary.is_file() {
        return Err(GatewayBenchError::MissingTool(binary.display().to_string()));
    }
    let json = work.join("loadgen.json");
    eprintln!(
        "loadgen: {} users, no think time, {}s...",
        options.connections,
        options.duration.as_secs()
    );
    let output = tokio::process::Command::new(&binary)
        .arg("--url")
        .arg(gateway)
        .arg("--users")
        .arg(options.connections.to_string())
        .arg("--duration")
        .arg(format!("{}s", options.duration.as_secs().max(1)))
        .arg("--think")
        .arg("0")
        .arg("--quiet")
        .arg("--json")
        .arg(&json)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| GatewayBenchError::Tool {
            tool: "loadgen".into(),
            detail: e.to_string(),
        })?;
    if !output.status.success() {
        return Err(GatewayBenchError::Tool {
            tool: "loadgen".into(),
            detail: String::from_utf8_lossy(&output.stderr).into_owned(),
        });
    }
    let text = std::fs::read_to_string(&json).map_err(setup)?;
    serde_json::from_str(&text).map_err(setup)
}

fn print(s: &Summary) {
    println!();
    println!(
        "gateway benchmark: wrk -t{} -c{} -d{}s (after a warm-up), nginx worker_processes {}, services RUST_LOG={}, body {} bytes",
        s.threads,
        s.connections,
        s.duration_secs,
        s.nginx_workers,
        s.services_rust_log,
        s.body_bytes
    );
    println!(
        "  {:<18} {:>12} {:>9} {:>9} {:>9} {:>8} {:>10}",
        "scenario", "requests/s", "p50 ms", "p99 ms", "x nginx", "non-2xx", "hit/miss"
    );
    for c in &s.scenarios {
        let cache = match (c.cache_hits, c.cache_misses) {
            (Some(h), Some(m)) => format!("{h}/{m}"),
            _ => "-".into(),
        };
        println!(
            "  {:<18} {:>12.0} {:>9.2} {:>9.2} {:>9.3} {:>8} {:>10}",
            c.name,
            c.requests_per_sec,
            c.p50_ms,
            c.p99_ms,
            c.ratio_to_nginx,
            c.non_2xx + c.socket_errors,
            cache
        );
    }
    let r = &s.ratios;
    println!(
        "  ratios: cached / nginx proxy_cache {:.2}, cached / nginx static {:.2}, gateway 429s / cached reads {:.2}, gateway 429s / nginx limit_req 429s {:.2}",
        r.cached_over_nginx_proxy_cache,
        r.cached_over_nginx_static,
        r.rejections_over_cached_reads,
        r.rejections_over_nginx_limit_req
    );
    let total = &s.loadgen["total"];
    let baseline = s.scenarios.first().map_or(0.0, |c| c.requests_per_sec);
    let ops = total["throughput"].as_f64().unwrap_or(0.0);
    println!(
        "  {:<18} {:>12.0} {:>9.2} {:>9.2} {:>9.3} {:>8} {:>10}",
        "loadgen-mix (ops)",
        ops,
        total["latencyMs"]["p50"].as_f64().unwrap_or(0.0),
        total["latencyMs"]["p99"].as_f64().unwrap_or(0.0),
        if baseline > 0.0 { ops / baseline } else { 0.0 },
        total["errorCount"].as_u64().unwrap_or(0),
        "-"
    );
    println!(
        "  (loadgen counts mix operations: a browse may be two requests, a checkout runs the saga)"
    );
    println!("  open loop at half the wrk rate (latency from each request's due time):");
    for o in &s.open_loop {
        println!(
            "    {:<44} {:>8.0}/s asked {:>8.0}/s sent  p50 {:>6.2} ms  p90 {:>6.2} ms  p99 {:>6.2} ms  max {:>7.2} ms  errors {}",
            o.target, o.rate, o.achieved, o.p50_ms, o.p90_ms, o.p99_ms, o.max_ms, o.errors
        );
    }
    let peaks: Vec<String> = s
        .peak_rss_mib
        .iter()
        .map(|(name, mib)| format!("{name} {mib:.1}"))
        .collect();
    println!("  peak RSS since start, MiB: {}", peaks.join(", "));
    for c in &s.instructions {
        println!(
            "  callgrind: {:<16} {:>10.0} instructions per request ({}, {})",
            c.name, c.instructions_per_request, c.status, c.what
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WRK: &str = "Running 15s test @ http://127.0.0.1:1/api/products
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.52ms    2.10ms  40.00ms   90.00%
    Req/Sec    20.00k     1.00k   22.00k    70.00%
  Latency Distribution
     50%  850.00us
     75%    1.20ms
     90%    2.00ms
     99%    1.10s
  600000 requests in 15.00s, 3.00GB read
  Socket errors: connect 0, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 7
Requests/sec:  40000.12
Transfer/sec:    204.80MB
";

    #[test]
    fn wrk_report_is_read_into_milliseconds_and_counts() {
        let s = parse_wrk(WRK).unwrap();
        assert_eq!(s.requests, 600_000);
        assert!((s.requests_per_sec - 40000.12).abs() < 1e-6);
        assert!((s.p50_ms - 0.85).abs() < 1e-9);
        assert!((s.p99_ms - 1100.0).abs() < 1e-9);
        assert_eq!(s.non_2xx, 7);
        assert_eq!(s.socket_errors, 5);
    }

    #[test]
    fn a_wrk_report_without_percentiles_is_refused() {
        assert!(parse_wrk("Requests/sec: 10\n").is_none());
    }
}
