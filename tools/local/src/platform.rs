//! Starting and stopping the platform on one machine: throwaway PostgreSQL and Redis from the
//! testkit (the same fixtures the tests use), one database per service, every service binary as
//! its own process on a loopback port, started in dependency order and each waited on until its
//! `/readyz` answers. Children die with us (parent-death signal) and are stopped with SIGTERM.
//! A service may run as several instances (`--replicas`), each on its own port: its callers get
//! the list of them, comma-separated, in `<NAME>_URL` and balance across it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use storefront_common::events::EventBus;
use storefront_testkit::{
    Placement, PostgresServer, RabbitServer, RedisServer, free_port, ip_command, spawn_tied_process,
};

use crate::netns::{self, Plan, Topology, TopologyError};
use crate::replicas::Replicas;

#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    #[error("{0}")]
    Store(#[from] storefront_testkit::StartError),
    #[error(
        "{binary} not found in {dir}; build the services first with `cargo build --release` (or pass --bin-dir)"
    )]
    MissingBinary { binary: String, dir: String },
    #[error("{service} did not become ready within {secs}s; last log lines:\n{log}")]
    NotReady {
        service: String,
        secs: u64,
        log: String,
    },
    #[error("{service} exited during start-up ({status}); last log lines:\n{log}")]
    Exited {
        service: String,
        status: String,
        log: String,
    },
    #[error(
        "{service}'s address {url} is answered by {answered_by}, not by {service}: the port was taken; last log lines:\n{log}"
    )]
    PortTaken {
        service: String,
        url: String,
        answered_by: String,
        log: String,
    },
    #[error("{0}")]
    Netns(#[from] TopologyError),
    #[error("{0}")]
    Plan(#[from] netns::plan::PlanError),
    #[error("--isolation netns does not support {0} yet")]
    NetnsUnsupported(&'static str),
    #[error("cannot listen on the host's {addr} for the gateway: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
    #[error("cannot create the log file {path}: {source}")]
    Log {
        path: String,
        source: std::io::Error,
    },
}

/// Which services to run.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Everything (notifications consuming the order events too), with the gateway on the
    /// given port.
    Full { gateway_port: u16 },
    /// The six commerce services only (for benchmarks of the services themselves).
    Commerce,
}

pub struct Service {
    pub name: &'static str,
    /// Which instance of the service this is, from 1.
    pub instance: usize,
    pub url: String,
    pub log: PathBuf,
    binary: PathBuf,
    env: Vec<(String, String)>,
    /// Its network namespace, in netns mode.
    netns: Option<String>,
    child: Child,
}

impl Service {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `catalog` for the first instance, `catalog-2` for the second, and so on.
    pub fn label(&self) -> String {
        label(self.name, self.instance)
    }
}

fn label(name: &str, instance: usize) -> String {
    if instance == 1 {
        name.to_owned()
    } else {
        format!("{name}-{instance}")
    }
}

pub struct Platform {
    pub services: Vec<Service>,
    pub log_dir: PathBuf,
    pub admin: (String, String),
    pub postgres: PostgresServer,
    pub redis: RedisServer,
    /// The broker, when the order events go over RabbitMQ.
    pub rabbitmq: Option<RabbitServer>,
    /// The namespaces, bridges and policy, in netns mode.
    pub topology: Option<Topology>,
    /// The host's address of the gateway (the forwarder's), in netns mode.
    front: Option<String>,
    forwarder: Option<tokio::task::JoinHandle<()>>,
}

pub struct StartOptions {
    pub bins: PathBuf,
    pub scope: Scope,
    pub admin_email: String,
    pub admin_password: String,
    pub log_dir: Option<PathBuf>,
    pub rust_log: String,
    /// Extra environment for every service (e.g. `GATEWAY_RATE_LIMIT_IP` for a test).
    pub extra_env: Vec<(String, String)>,
    /// What carries the order events from orders to notifications: the Redis stream, or a
    /// throwaway `rabbitmq-server` started here.
    pub bus: EventBus,
    /// How many instances of each service to start.
    pub replicas: Replicas,
}

/// The services that own a PostgreSQL database, each named after its service.
pub const DATABASES: [&str; 6] = [
    "users",
    "catalog",
    "inventory",
    "payments",
    "orders",
    "notifications",
];

fn binary(bins: &Path, service: &str) -> Result<PathBuf, PlatformError> {
    let path = bins.join(format!("storefront-{service}"));
    if path.is_file() {
        Ok(path)
    } else {
        Err(PlatformError::MissingBinary {
            binary: format!("storefront-{service}"),
            dir: bins.display().to_string(),
        })
    }
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

pub async fn start(options: StartOptions) -> Result<Platform, PlatformError> {
    start_in(options, None).await
}

/// Like [`start`], with every component in its own network namespace of `plan` (brought up
/// here, torn down by [`Platform::stop`]) and the gateway's port forwarded from the host.
pub async fn start_isolated(options: StartOptions, plan: Plan) -> Result<Platform, PlatformError> {
    if options.bus == EventBus::RabbitMq {
        return Err(PlatformError::NetnsUnsupported("--bus rabbitmq"));
    }
    if options.scope == Scope::Commerce {
        return Err(PlatformError::NetnsUnsupported("the commerce-only scope"));
    }
    let mut plan = plan;
    for name in crate::replicas::REPLICABLE {
        plan = plan.with_instances(name, options.replicas.count(name))?;
    }
    let topology = tokio::task::spawn_blocking(move || Topology::up(plan))
        .await
        .map_err(|e| TopologyError::Command {
            command: "bringing the topology up".into(),
            detail: e.to_string(),
        })??;
    start_in(options, Some(topology)).await
}

async fn start_in(
    options: StartOptions,
    topology: Option<Topology>,
) -> Result<Platform, PlatformError> {
    let with_edge = matches!(options.scope, Scope::Full { .. });
    let mut names = vec![
        "users",
        "catalog",
        "inventory",
        "payments",
        "cart",
        "orders",
    ];
    if with_edge {
        names.extend(["notifications", "web", "gateway"]);
    }
    let binaries = names
        .iter()
        .map(|n| Ok((*n, binary(&options.bins, n)?)))
        .collect::<Result<BTreeMap<_, _>, PlatformError>>()?;

    let log_dir = match options.log_dir {
        Some(dir) => dir,
        None => {
            std::env::temp_dir().join(format!("storefront-logs-{}", uuid::Uuid::new_v4().simple()))
        }
    };
    std::fs::create_dir_all(&log_dir).map_err(|source| PlatformError::Log {
        path: log_dir.display().to_string(),
        source,
    })?;

    let bus = options.bus;
    let (pg_at, redis_at) = match &topology {
        Some(t) => (
            netns::reach::placement(t, "postgres", netns::plan::POSTGRES_PORT),
            netns::reach::placement(t, "redis", netns::plan::REDIS_PORT),
        ),
        None => (Placement::default(), Placement::default()),
    };
    let (postgres, redis, rabbitmq) = tokio::task::spawn_blocking(move || {
        let rabbitmq = match bus {
            EventBus::RabbitMq => Some(RabbitServer::start()?),
            EventBus::Redis => None,
        };
        Ok::<_, PlatformError>((
            PostgresServer::start_at(&pg_at)?,
            RedisServer::start_at(&redis_at)?,
            rabbitmq,
        ))
    })
    .await
    .map_err(|e| {
        PlatformError::Store(storefront_testkit::StartError::Failed {
            what: "starting the stores".into(),
            detail: e.to_string(),
        })
    })??;
    let router = topology.as_ref().map(|t| t.plan.router.clone());
    match &router {
        Some(router) => netns::reach::from_router(router, async {
            for db in DATABASES {
                postgres.create_named_database(db).await;
            }
        })?,
        None => {
            for db in DATABASES {
                postgres.create_named_database(db).await;
            }
        }
    }

    let jwt_secret = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    // In netns mode each service has a namespace of its own, so all share one port there.
    let mut addrs: BTreeMap<&str, Vec<String>> = names
        .iter()
        .map(|n| {
            let instances = (1..=options.replicas.count(n))
                .map(|instance| match &topology {
                    Some(t) => format!(
                        "{}:{}",
                        netns::reach::instance_placement(t, n, instance, 0).host,
                        netns::plan::SERVICE_PORT
                    ),
                    None => format!("127.0.0.1:{}", free_port()),
                })
                .collect();
            (*n, instances)
        })
        .collect();
    let mut front = None;
    if let Scope::Full { gateway_port } = options.scope {
        let host = format!("127.0.0.1:{gateway_port}");
        if topology.is_some() {
            front = Some(host);
        } else {
            addrs.insert("gateway", vec![host]);
        }
    }
    // What a caller is given: the runner knows what it started, so the list is static.
    let urls = |name: &str| {
        addrs
            .get(name)
            .map(|instances| {
                instances
                    .iter()
                    .map(|addr| format!("http://{addr}"))
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_else(|| "http://127.0.0.1:0".into())
    };

    let mut platform = Platform {
        services: Vec::new(),
        log_dir: log_dir.clone(),
        admin: (options.admin_email.clone(), options.admin_password.clone()),
        postgres,
        redis,
        rabbitmq,
        topology,
        front: None,
        forwarder: None,
    };
    for (name, instance) in names.iter().flat_map(|&name| {
        (1..=addrs.get(name).map_or(1, Vec::len)).map(move |instance| (name, instance))
    }) {
        let addr = addrs[name][instance - 1].clone();
        let mut env: Vec<(String, String)> = vec![
            ("STOREFRONT_HTTP_ADDR".into(), addr.clone()),
            ("STOREFRONT_JWT_SECRET".into(), jwt_secret.clone()),
            ("REDIS_URL".into(), platform.redis.url()),
            ("RUST_LOG".into(), options.rust_log.clone()),
            ("OTEL_SERVICE_NAME".into(), name.into()),
        ];
        if DATABASES.contains(&name) {
            env.push(("DATABASE_URL".into(), platform.postgres.url_for(name)));
        }
        if matches!(name, "orders" | "notifications") {
            env.push(("STOREFRONT_EVENT_BUS".into(), bus.as_str().into()));
            if let Some(rabbitmq) = &platform.rabbitmq {
                env.push(("RABBITMQ_URL".into(), rabbitmq.url()));
            }
        }
        for dep in [
            "users",
            "catalog",
            "cart",
            "inventory",
            "payments",
            "orders",
            "notifications",
            "web",
            "gateway",
        ] {
            if addrs.contains_key(dep) {
                env.push((format!("{}_URL", dep.to_uppercase()), urls(dep)));
            }
        }
        env.extend(options.extra_env.iter().cloned());
        match name {
            "users" => {
                env.push(("STOREFRONT_ADMIN_EMAIL".into(), options.admin_email.clone()));
                env.push((
                    "STOREFRONT_ADMIN_PASSWORD".into(),
                    options.admin_password.clone(),
                ));
            }
            "catalog" | "inventory" => env.push(("STOREFRONT_SEED_DEMO".into(), "true".into())),
            _ => {}
        }
        let netns = platform
            .topology
            .as_ref()
            .and_then(|t| t.plan.instance(name, instance))
            .map(|n| n.netns.clone());
        let mut service = match spawn(
            (name, instance),
            &binaries[name],
            &env,
            &log_dir,
            format!("http://{addr}"),
            netns,
        ) {
            Ok(service) => service,
            Err(e) => {
                platform.stop().await;
                return Err(e);
            }
        };
        let ready = platform.wait_ready(&mut service).await;
        platform.services.push(service);
        if let Err(e) = ready {
            platform.stop().await;
            return Err(e);
        }
    }
    if let (Some(host), Some(router)) = (front, router) {
        let listener = match tokio::net::TcpListener::bind(&host).await {
            Ok(listener) => listener,
            Err(source) => {
                platform.stop().await;
                return Err(PlatformError::Listen { addr: host, source });
            }
        };
        let gateway = addrs["gateway"][0]
            .parse()
            .map_err(|_| PlatformError::Listen {
                addr: addrs["gateway"][0].clone(),
                source: std::io::Error::other("not a socket address"),
            })?;
        platform.forwarder = Some(tokio::spawn(netns::forward::forward(
            listener, router, gateway,
        )));
        platform.front = Some(format!("http://{host}"));
    }
    Ok(platform)
}

fn spawn(
    (name, instance): (&'static str, usize),
    binary: &Path,
    env: &[(String, String)],
    log_dir: &Path,
    url: String,
    netns: Option<String>,
) -> Result<Service, PlatformError> {
    let log = log_dir.join(format!("{}.log", label(name, instance)));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .map_err(|source| PlatformError::Log {
            path: log.display().to_string(),
            source,
        })?;
    let err_file = file.try_clone().map_err(|source| PlatformError::Log {
        path: log.display().to_string(),
        source,
    })?;
    let mut command = match &netns {
        Some(netns) => {
            let mut command = Command::new(ip_command()?);
            command.args(["netns", "exec", netns]).arg(binary);
            command
        }
        None => Command::new(binary),
    };
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::from(file))
        .stderr(Stdio::from(err_file));
    if let Ok(endpoint) = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT") {
        command.env("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint);
    }
    let child = spawn_tied_process(command, libc::SIGTERM)?;
    Ok(Service {
        name,
        instance,
        url,
        log,
        binary: binary.to_path_buf(),
        env: env.to_vec(),
        netns,
        child,
    })
}

async fn wait_ready(service: &mut Service) -> Result<(), PlatformError> {
    let limit = Duration::from_secs(60);
    let started = Instant::now();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap_or_default();
    while started.elapsed() < limit {
        if let Ok(Some(status)) = service.child.try_wait() {
            return Err(PlatformError::Exited {
                service: service.name.into(),
                status: status.to_string(),
                log: tail(&service.log, 15),
            });
        }
        if let Some(answered_by) = who_answers(&http, &service.url).await {
            if answered_by != service.name {
                return Err(PlatformError::PortTaken {
                    service: service.name.into(),
                    url: service.url.clone(),
                    answered_by,
                    log: tail(&service.log, 15),
                });
            }
            if let Ok(resp) = http.get(format!("{}/readyz", service.url)).send().await
                && resp.status().is_success()
            {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(PlatformError::NotReady {
        service: service.name.into(),
        secs: limit.as_secs(),
        log: tail(&service.log, 15),
    })
}

/// Who answers `/healthz` at `url`, once something listens there: the service name a Storefront
/// service reports, or a description of whatever else answered HTTP.
async fn who_answers(http: &reqwest::Client, url: &str) -> Option<String> {
    let resp = http.get(format!("{url}/healthz")).send().await.ok()?;
    let body: serde_json::Value = resp.json().await.unwrap_or_default();
    Some(
        body["service"]
            .as_str()
            .unwrap_or("a server that is not a Storefront service")
            .to_owned(),
    )
}

impl Platform {
    /// What carries the order events: RabbitMQ when this platform started a broker.
    pub fn bus(&self) -> EventBus {
        if self.rabbitmq.is_some() {
            EventBus::RabbitMq
        } else {
            EventBus::Redis
        }
    }

    /// Where `name` answers: for the gateway in netns mode, the host's forwarded port.
    pub fn url(&self, name: &str) -> Option<&str> {
        if let (Some(front), "gateway") = (&self.front, name) {
            return Some(front);
        }
        self.services
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.url.as_str())
    }

    /// How `name`'s first instance was started: its binary and environment (to start another
    /// copy of it elsewhere, under a profiler say).
    pub fn launch_spec(&self, name: &str) -> Option<(&Path, &[(String, String)])> {
        self.services
            .iter()
            .find(|s| s.name == name)
            .map(|s| (s.binary.as_path(), s.env.as_slice()))
    }

    /// The first service that has exited, with its status.
    pub fn exited(&mut self) -> Option<(&'static str, String, PathBuf)> {
        self.services
            .iter_mut()
            .find_map(|s| match s.child.try_wait() {
                Ok(Some(status)) => Some((s.name, status.to_string(), s.log.clone())),
                _ => None,
            })
    }

    /// The instances that have exited, each with its label, status and log.
    pub fn exited_instances(&mut self) -> Vec<(String, String, PathBuf)> {
        self.services
            .iter_mut()
            .filter_map(|s| match s.child.try_wait() {
                Ok(Some(status)) => Some((s.label(), status.to_string(), s.log.clone())),
                _ => None,
            })
            .collect()
    }

    /// The first service of which no instance runs any more, with its last one's status.
    pub fn lost(&mut self) -> Option<(&'static str, String, PathBuf)> {
        let mut last_exit: BTreeMap<&'static str, (String, PathBuf)> = BTreeMap::new();
        let mut running: BTreeMap<&'static str, usize> = BTreeMap::new();
        for s in &mut self.services {
            match s.child.try_wait() {
                Ok(Some(status)) => {
                    last_exit.insert(s.name, (status.to_string(), s.log.clone()));
                }
                _ => *running.entry(s.name).or_default() += 1,
            }
        }
        last_exit
            .into_iter()
            .find(|(name, _)| !running.contains_key(name))
            .map(|(name, (status, log))| (name, status, log))
    }

    /// Stops the services in reverse start order, then the stores.
    pub async fn stop(&mut self) {
        for service in self.services.iter_mut().rev() {
            terminate(&mut service.child).await;
        }
        self.services.clear();
        self.redis.stop();
        if let Some(rabbitmq) = &self.rabbitmq {
            rabbitmq.stop();
        }
        self.postgres.stop();
        if let Some(forwarder) = self.forwarder.take() {
            forwarder.abort();
        }
        if let Some(mut topology) = self.topology.take() {
            tokio::task::block_in_place(|| topology.down());
        }
    }

    /// Waits for `service` to be ready, asking from the router namespace in netns mode.
    async fn wait_ready(&self, service: &mut Service) -> Result<(), PlatformError> {
        match &self.topology {
            Some(topology) => {
                netns::reach::from_router(&topology.plan.router, wait_ready(service))?
            }
            None => wait_ready(service).await,
        }
    }

    /// Every running instance of `name`, in start order.
    pub fn instances(&self, name: &str) -> Vec<&Service> {
        self.services.iter().filter(|s| s.name == name).collect()
    }

    /// Kills instance `instance` (from 1) of `name` with SIGKILL, as a crash would, and reaps it.
    pub fn kill(&mut self, name: &str, instance: usize) {
        if let Some(service) = self
            .services
            .iter_mut()
            .find(|s| s.name == name && s.instance == instance)
            && let Ok(None) = service.child.try_wait()
        {
            // std's kill is SIGKILL: no graceful shutdown, connections are cut mid-flight.
            let _ = service.child.kill();
            let _ = service.child.wait();
        }
    }

    /// Stops one service (to see how the others cope); [`Self::restart_service`] brings it back
    /// on the same port with the same settings.
    pub async fn stop_service(&mut self, name: &str) {
        if let Some(service) = self.services.iter_mut().find(|s| s.name == name) {
            terminate(&mut service.child).await;
        }
    }

    pub async fn restart_service(&mut self, name: &str) -> Result<(), PlatformError> {
        self.restart_service_with(name, &[]).await
    }

    /// Stops `name` and starts it again on the same port with `overrides` in its environment
    /// (a benchmark scenario that needs other limits, say).
    pub async fn restart_service_with(
        &mut self,
        name: &str,
        overrides: &[(&str, &str)],
    ) -> Result<(), PlatformError> {
        let Some(index) = self.services.iter().position(|s| s.name == name) else {
            return Ok(());
        };
        terminate(&mut self.services[index].child).await;
        let old = &self.services[index];
        let mut env: Vec<(String, String)> = old
            .env
            .iter()
            .filter(|(k, _)| !overrides.iter().any(|(o, _)| o == k))
            .cloned()
            .collect();
        env.extend(
            overrides
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        let mut fresh = spawn(
            (old.name, old.instance),
            &old.binary,
            &env,
            &self.log_dir,
            old.url.clone(),
            old.netns.clone(),
        )?;
        self.wait_ready(&mut fresh).await?;
        self.services[index] = fresh;
        Ok(())
    }
}

/// SIGTERM, then SIGKILL if the process has not exited after 10 s.
async fn terminate(child: &mut Child) {
    // Already gone (and reaped): its pid may belong to someone else by now.
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    if let Ok(pid) = i32::try_from(child.id()) {
        crate::procfs::signal(pid, libc::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
}

pub struct UpOptions {
    pub bins: PathBuf,
    pub bus: EventBus,
    pub port: u16,
    pub admin_email: String,
    pub admin_password: String,
    pub log_dir: Option<PathBuf>,
    /// Every component in its own network namespace of this plan (`--isolation netns`).
    pub netns: Option<Plan>,
    /// How many instances of each service (`--replicas catalog=3`).
    pub replicas: Replicas,
}

/// `storefront-local up`: start everything, print where it is, run until told to stop.
pub async fn up(options: UpOptions) -> Result<(), PlatformError> {
    eprintln!(
        "starting PostgreSQL, Redis{} and the Storefront services...",
        if options.bus == EventBus::RabbitMq {
            ", RabbitMQ"
        } else {
            ""
        }
    );
    let start_options = StartOptions {
        bins: options.bins,
        scope: Scope::Full {
            gateway_port: options.port,
        },
        admin_email: options.admin_email,
        admin_password: options.admin_password,
        log_dir: options.log_dir,
        rust_log: std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
        extra_env: vec![],
        bus: options.bus,
        replicas: options.replicas,
    };
    let mut platform = match options.netns {
        Some(plan) => start_isolated(start_options, plan).await?,
        None => start(start_options).await?,
    };
    println!();
    println!(
        "  Storefront is running at http://127.0.0.1:{}",
        options.port
    );
    println!(
        "  admin login:  {} / {}",
        platform.admin.0, platform.admin.1
    );
    println!(
        "  API:          http://127.0.0.1:{}/api/openapi.json",
        options.port
    );
    println!("  order events: {}", platform.bus());
    if let Some(rabbitmq) = &platform.rabbitmq {
        println!("  rabbitmq:     {}", rabbitmq.url());
    }
    println!(
        "  logs:         {}/<service>.log",
        platform.log_dir.display()
    );
    for s in &platform.services {
        println!("    {:<13} {}  (pid {})", s.label(), s.url, s.pid());
    }
    if let Some(topology) = &platform.topology {
        print!("{}", netns::summary::summary(&topology.plan));
    }
    println!("  Ctrl-C (or SIGTERM) stops everything.");
    println!();

    let mut shutdown = Box::pin(storefront_common::shutdown::signal());
    let mut told = std::collections::BTreeSet::new();
    let outcome = loop {
        tokio::select! {
            () = &mut shutdown => break Ok(()),
            () = tokio::time::sleep(Duration::from_secs(1)) => {
                // A service with instances left carries on: its callers skip the lost one.
                if let Some((name, status, log)) = platform.lost() {
                    break Err(PlatformError::Exited { service: name.into(), status, log: tail(&log, 15) });
                }
                for (label, status, log) in platform.exited_instances() {
                    if told.insert(label.clone()) {
                        eprintln!("{label} exited ({status}); the other instances carry on (log: {})", log.display());
                    }
                }
            }
        }
    };
    eprintln!("stopping...");
    platform.stop().await;
    eprintln!("stopped; logs kept in {}", platform.log_dir.display());
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A loopback server answering every request with `body`, on a port of its own.
    fn answering(body: &'static str) -> String {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut request = [0u8; 1024];
                let _ = stream.read(&mut request);
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        url
    }

    /// A gateway whose process is alive, but whose address `url` belongs to someone else.
    fn gateway_at(url: String) -> Service {
        let log = std::env::temp_dir().join(format!("platform-test-{}.log", uuid::Uuid::new_v4()));
        std::fs::write(&log, "listen failed: address in use\n").unwrap();
        let child = Command::new("sleep").arg("30").spawn().unwrap();
        Service {
            name: "gateway",
            instance: 1,
            url,
            log,
            binary: PathBuf::from("sleep"),
            env: Vec::new(),
            netns: None,
            child,
        }
    }

    async fn taken_by(body: &'static str) -> String {
        let mut service = gateway_at(answering(body));
        let outcome = wait_ready(&mut service).await;
        let _ = service.child.kill();
        let _ = service.child.wait();
        let _ = std::fs::remove_file(&service.log);
        match outcome {
            Err(PlatformError::PortTaken {
                service,
                answered_by,
                log,
                ..
            }) => {
                assert_eq!(service, "gateway");
                assert!(log.contains("address in use"), "{log}");
                answered_by
            }
            other => panic!("expected PortTaken, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn another_service_on_the_port_is_caught_not_trusted() {
        assert_eq!(taken_by(r#"{"status":"ok","service":"web"}"#).await, "web");
    }

    #[tokio::test]
    async fn a_foreign_server_on_the_port_is_caught_too() {
        assert_eq!(
            taken_by("hello").await,
            "a server that is not a Storefront service"
        );
    }
}
