//! A throwaway `rabbitmq-server` (Debian's package) on random loopback ports: its own node name,
//! Erlang cookie, epmd port, database and log directories in a temp dir. It takes seconds to
//! start, so tests share one per process ([`crate::shared_rabbitmq`]) and isolate themselves by
//! virtual host. [`RabbitServer::kill`] and [`RabbitServer::restart`] let crash tests take the
//! broker away and bring it back on the same port with its durable state.
//!
//! The Erlang port mapper (`epmd`) is started here, in the foreground and tied to this process,
//! before the broker: left to itself the broker would start a daemon `epmd` that outlives the
//! tests.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::StartError;
use crate::binaries::rabbitmq_bin;
use crate::process::{spawn_tied, stop_pid, temp_dir, untrack, wait_gone};

pub struct RabbitServer {
    port: u16,
    dist_port: u16,
    epmd_port: u16,
    dir: PathBuf,
    node: String,
    child: Mutex<Option<Child>>,
    epmd: Mutex<Option<Child>>,
}

impl RabbitServer {
    pub fn start() -> Result<Self, StartError> {
        let dir = temp_dir("rabbitmq")?;
        let home = dir.join("home");
        std::fs::create_dir_all(&home).map_err(crate::io_err("creating the broker's home"))?;
        let cookie = home.join(".erlang.cookie");
        std::fs::write(&cookie, uuid::Uuid::new_v4().simple().to_string())
            .map_err(crate::io_err("writing the Erlang cookie"))?;
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&cookie, std::fs::Permissions::from_mode(0o400))
                .map_err(crate::io_err("protecting the Erlang cookie"))?;
        }
        let server = Self {
            port: crate::free_port(),
            dist_port: crate::free_port(),
            epmd_port: crate::free_port(),
            node: format!("storefront-{}@localhost", uuid::Uuid::new_v4().simple()),
            dir,
            child: Mutex::new(None),
            epmd: Mutex::new(None),
        };
        server.start_epmd()?;
        server.launch()?;
        Ok(server)
    }

    /// `epmd -port <ours>` in the foreground, ready once it accepts connections.
    fn start_epmd(&self) -> Result<(), StartError> {
        let epmd = crate::binaries::epmd_bin()?;
        let mut cmd = Command::new(epmd);
        cmd.arg("-port")
            .arg(self.epmd_port.to_string())
            .arg("-address")
            .arg("127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = spawn_tied(cmd, libc::SIGTERM, None)?;
        if let Ok(mut guard) = self.epmd.lock() {
            *guard = Some(child);
        }
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if std::net::TcpStream::connect(("127.0.0.1", self.epmd_port)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(StartError::Failed {
            what: format!("starting epmd on port {}", self.epmd_port),
            detail: "it did not accept connections within 10s".into(),
        })
    }

    fn launch(&self) -> Result<(), StartError> {
        let bin = rabbitmq_bin()?;
        let log = self.dir.join("server.log");
        let mut cmd = Command::new(bin);
        // The start script otherwise forks the VM and stays as a signal proxy, so killing the
        // child would leave the VM running; this makes it exec the VM in place.
        cmd.env("RUNNING_UNDER_SYSTEMD", "true")
            // Our epmd only: never a daemon one that would outlive the tests.
            .env("RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS", "-start_epmd false")
            .env("HOME", self.dir.join("home"))
            .env("RABBITMQ_NODENAME", &self.node)
            .env("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
            .env("RABBITMQ_NODE_PORT", self.port.to_string())
            .env("RABBITMQ_DIST_PORT", self.dist_port.to_string())
            .env("ERL_EPMD_PORT", self.epmd_port.to_string())
            .env("RABBITMQ_MNESIA_BASE", self.dir.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", self.dir.join("log"))
            .env(
                "RABBITMQ_ENABLED_PLUGINS_FILE",
                self.dir.join("enabled_plugins"),
            )
            .env("RABBITMQ_CONFIG_FILE", self.dir.join("rabbitmq"))
            .stdout(
                std::fs::File::create(&log)
                    .map(Stdio::from)
                    .unwrap_or(Stdio::null()),
            )
            .stderr(Stdio::null());
        let child = spawn_tied(cmd, libc::SIGTERM, Some(self.dir.clone()))?;
        if let Ok(mut guard) = self.child.lock() {
            *guard = Some(child);
        }
        if self.wait_ready(Duration::from_secs(90)) {
            return Ok(());
        }
        let detail = std::fs::read_to_string(&log).unwrap_or_default();
        self.stop_child(libc::SIGKILL);
        Err(StartError::Failed {
            what: "starting rabbitmq-server".into(),
            detail,
        })
    }

    /// Ready when the AMQP port answers the protocol header with a connection.start frame.
    fn wait_ready(&self, limit: Duration) -> bool {
        use std::io::{Read, Write};
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                let mut first = [0u8; 1];
                if stream.write_all(b"AMQP\x00\x00\x09\x01").is_ok()
                    && stream.read_exact(&mut first).is_ok()
                    && first[0] == 1
                {
                    return true;
                }
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        false
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of the default virtual host (guest may log in from loopback).
    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    /// A new virtual host no other caller has been given, and its URL.
    pub fn fresh_url(&self) -> Result<String, StartError> {
        let vhost = format!("t-{}", uuid::Uuid::new_v4().simple());
        for args in [
            vec!["add_vhost", vhost.as_str()],
            vec![
                "set_permissions",
                "-p",
                vhost.as_str(),
                "guest",
                ".*",
                ".*",
                ".*",
            ],
        ] {
            self.ctl(&args)?;
        }
        Ok(format!(
            "amqp://guest:guest@127.0.0.1:{}/{vhost}",
            self.port
        ))
    }

    fn ctl(&self, args: &[&str]) -> Result<(), StartError> {
        let ctl = rabbitmq_bin()?.with_file_name("rabbitmqctl");
        let out = Command::new(ctl)
            .env("HOME", self.dir.join("home"))
            .env("ERL_EPMD_PORT", self.epmd_port.to_string())
            .env("RABBITMQ_CTL_ERL_ARGS", "-start_epmd false")
            .arg("-n")
            .arg(&self.node)
            .args(args)
            .output()
            .map_err(crate::io_err("running rabbitmqctl"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(StartError::Failed {
                what: format!("rabbitmqctl {}", args.join(" ")),
                detail: String::from_utf8_lossy(&out.stderr).into_owned(),
            })
        }
    }

    /// Kills the broker at once (SIGKILL), as a crash would; its files stay for [`restart`].
    ///
    /// [`restart`]: RabbitServer::restart
    pub fn kill(&self) {
        self.stop_child(libc::SIGKILL);
    }

    /// Starts the broker again on the same ports with the same node and durable state.
    pub fn restart(&self) -> Result<(), StartError> {
        self.launch()
    }

    fn stop_child(&self, signal: i32) {
        stop(&self.child, signal);
    }

    pub fn stop(&self) {
        self.stop_child(libc::SIGTERM);
        stop(&self.epmd, libc::SIGTERM);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn stop(slot: &Mutex<Option<Child>>, signal: i32) {
    if let Ok(mut guard) = slot.lock()
        && let Some(mut child) = guard.take()
    {
        stop_pid(child.id(), signal);
        let _ = child.wait();
        wait_gone(child.id());
        untrack(child.id());
    }
}

impl Drop for RabbitServer {
    fn drop(&mut self) {
        self.stop();
    }
}
