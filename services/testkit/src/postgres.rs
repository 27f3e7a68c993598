//! A throwaway PostgreSQL cluster: `initdb` into a temp dir, `postgres` on a random loopback port
//! with durability off (fsync, synchronous_commit) because the data is thrown away. When run as
//! root (CI, containers) the server runs as the `postgres` user, since PostgreSQL refuses root.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::binaries::postgres_bin;
use crate::netns::Placement;
use crate::process::{spawn_tied, stop_pid, temp_dir, untrack, wait_gone};
use crate::{StartError, io_err};

pub struct PostgresServer {
    host: std::net::IpAddr,
    port: u16,
    dir: PathBuf,
    child: std::sync::Mutex<Option<Child>>,
}

/// The uid/gid to run as: ours, or the `postgres` account's when we are root.
fn run_as() -> Result<Option<(u32, u32)>, StartError> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    let passwd = std::fs::read_to_string("/etc/passwd").map_err(io_err("reading /etc/passwd"))?;
    passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.first() == Some(&"postgres") && f.len() > 3)
        .and_then(|f| Some((f[2].parse().ok()?, f[3].parse().ok()?)))
        .map(Some)
        .ok_or_else(|| StartError::Failed {
            what: "choosing a user for PostgreSQL".into(),
            detail: "running as root and there is no `postgres` user; PostgreSQL refuses to run as root \
                     (create one with: useradd --system postgres)"
                .into(),
        })
}

fn chown_tree(path: &std::path::Path, uid: u32, gid: u32) -> Result<(), StartError> {
    std::os::unix::fs::chown(path, Some(uid), Some(gid)).map_err(io_err("chown of the data dir"))
}

impl PostgresServer {
    pub fn start() -> Result<Self, StartError> {
        Self::start_at(&Placement::default())
    }

    /// Starts listening on `placement.host` (port `placement.port`, or a random free one), in
    /// its network namespace when it names one. There `ip netns exec` starts it, and when we
    /// are root `setpriv` (not the spawn's uid switch, which would come before `ip`) drops to
    /// the `postgres` account.
    pub fn start_at(placement: &Placement) -> Result<Self, StartError> {
        let initdb = postgres_bin("initdb")?;
        let postgres = postgres_bin("postgres")?;
        let dir = temp_dir("pg")?;
        let data = dir.join("data");
        let user = run_as()?;
        if let Some((uid, gid)) = user {
            chown_tree(&dir, uid, gid)?;
        }

        let mut init = Command::new(&initdb);
        init.args(["-D"])
            .arg(&data)
            .args([
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some((uid, gid)) = user {
            use std::os::unix::process::CommandExt;
            init.uid(uid).gid(gid);
        }
        let out = init.output().map_err(io_err("running initdb"))?;
        if !out.status.success() {
            return Err(StartError::Failed {
                what: "initdb".into(),
                detail: String::from_utf8_lossy(&out.stderr).into_owned(),
            });
        }

        if !placement.host.is_loopback() {
            // initdb trusts loopback only; off loopback the namespace's policy decides who
            // reaches the server, so any address may log in like a local one.
            use std::io::Write;
            std::fs::OpenOptions::new()
                .append(true)
                .open(data.join("pg_hba.conf"))
                .and_then(|mut f| f.write_all(b"host all all 0.0.0.0/0 trust\n"))
                .map_err(io_err("opening pg_hba.conf to other addresses"))?;
        }

        let mut last_error = String::new();
        for _attempt in 0..3 {
            let port = placement.port.unwrap_or_else(crate::free_port);
            let mut wrapper = placement.exec_prefix()?;
            if let (false, Some((uid, gid))) = (wrapper.is_empty(), user) {
                wrapper.extend([
                    crate::netns::system_tool("setpriv", "util-linux")?,
                    format!("--reuid={uid}"),
                    format!("--regid={gid}"),
                    "--clear-groups".into(),
                ]);
            }
            let mut cmd = match wrapper.split_first() {
                Some((first, rest)) => {
                    let mut cmd = Command::new(first);
                    cmd.args(rest).arg(&postgres);
                    cmd
                }
                None => Command::new(&postgres),
            };
            cmd.arg("-D")
                .arg(&data)
                .args([
                    "-p",
                    &port.to_string(),
                    "-h",
                    &placement.host.to_string(),
                    "-k",
                ])
                .arg(&dir)
                .args([
                    "-c",
                    "fsync=off",
                    "-c",
                    "synchronous_commit=off",
                    "-c",
                    "full_page_writes=off",
                    "-c",
                    "max_connections=400",
                    "-c",
                    "shared_buffers=128MB",
                    "-c",
                    "log_min_messages=warning",
                ])
                .stdout(Stdio::null())
                .stderr(
                    std::fs::File::create(dir.join("postgres.log"))
                        .map(Stdio::from)
                        .unwrap_or(Stdio::null()),
                );
            if let (None, Some((uid, gid))) = (&placement.netns, user) {
                use std::os::unix::process::CommandExt;
                cmd.uid(uid).gid(gid);
            }
            let child = spawn_tied(cmd, libc::SIGQUIT, Some(dir.clone()))?;
            let server = Self {
                host: placement.host,
                port,
                dir: dir.clone(),
                child: std::sync::Mutex::new(Some(child)),
            };
            match server.wait_ready(&data, Duration::from_secs(30)) {
                Ok(()) => return Ok(server),
                Err(e) => {
                    last_error = e;
                    server.stop();
                }
            }
        }
        Err(StartError::Failed {
            what: "starting postgres".into(),
            detail: last_error,
        })
    }

    /// Ready when `postmaster.pid` says so (PostgreSQL 10+ writes "ready" on its status line).
    fn wait_ready(&self, data: &std::path::Path, limit: Duration) -> Result<(), String> {
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Ok(Some(Some(status))) = self
                .child
                .lock()
                .map_err(|_| "lock poisoned".to_string())?
                .as_mut()
                .map(|c| c.try_wait())
                .transpose()
            {
                let log =
                    std::fs::read_to_string(self.dir.join("postgres.log")).unwrap_or_default();
                return Err(format!("postgres exited ({status:?}): {log}"));
            }
            let pid_file = std::fs::read_to_string(data.join("postmaster.pid")).unwrap_or_default();
            if pid_file.lines().nth(7).is_some_and(|l| l.trim() == "ready") {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!("postgres not ready within {limit:?}"))
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The superuser URL of the `postgres` database.
    pub fn admin_url(&self) -> String {
        self.url_for("postgres")
    }

    pub fn url_for(&self, database: &str) -> String {
        format!("postgres://postgres@{}:{}/{database}", self.host, self.port)
    }

    /// Creates a database named `<prefix>_<random>` and returns its URL.
    pub async fn create_database(&self, prefix: &str) -> String {
        let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
        self.create_named_database(&name).await;
        self.url_for(&name)
    }

    /// Creates `name` if it does not exist yet.
    pub async fn create_named_database(&self, name: &str) {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&self.admin_url())
            .await
            .unwrap_or_else(|e| panic!("connecting to the throwaway postgres: {e}"));
        let exists: Option<i32> =
            sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
                .bind(name)
                .fetch_optional(&mut conn)
                .await
                .unwrap_or_else(|e| panic!("looking up database {name}: {e}"));
        if exists.is_none() {
            sqlx::query(&format!("CREATE DATABASE \"{name}\""))
                .execute(&mut conn)
                .await
                .unwrap_or_else(|e| panic!("creating database {name}: {e}"));
        }
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join("postgres.log")
    }

    /// Stops the server (immediate shutdown) and removes its files.
    pub fn stop(&self) {
        if let Ok(mut guard) = self.child.lock()
            && let Some(mut child) = guard.take()
        {
            stop_pid(child.id(), libc::SIGQUIT);
            let _ = child.wait();
            wait_gone(child.id());
            untrack(child.id());
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        self.stop();
    }
}
