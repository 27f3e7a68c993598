//! A throwaway `redis-server` on a random loopback port, no persistence, many logical databases
//! so each test can take its own index.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::StartError;
use crate::binaries::redis_bin;
use crate::netns::Placement;
use crate::process::{spawn_tied, stop_pid, temp_dir, untrack, wait_gone};

const DATABASES: u32 = 10_000;

pub struct RedisServer {
    placement: Placement,
    port: u16,
    dir: PathBuf,
    next_db: AtomicU32,
    child: std::sync::Mutex<Option<Child>>,
}

impl RedisServer {
    pub fn start() -> Result<Self, StartError> {
        Self::start_on(None)
    }

    /// Starts on `port`, or on a random free port when `None`.
    pub fn start_on(port: Option<u16>) -> Result<Self, StartError> {
        Self::start_at(&Placement {
            port,
            ..Placement::default()
        })
    }

    /// Starts listening on `placement.host` (and its port, or a random free one), inside its
    /// network namespace when it names one; the readiness ping runs there too.
    pub fn start_at(placement: &Placement) -> Result<Self, StartError> {
        let bin = redis_bin()?;
        let dir = temp_dir("redis")?;
        let mut last_error = String::new();
        for _attempt in 0..3 {
            let port = placement.port.unwrap_or_else(crate::free_port);
            let wrapper = placement.exec_prefix()?;
            let mut cmd = match wrapper.split_first() {
                Some((first, rest)) => {
                    let mut cmd = Command::new(first);
                    cmd.args(rest).arg(&bin);
                    cmd
                }
                None => Command::new(&bin),
            };
            cmd.args([
                "--port",
                &port.to_string(),
                "--bind",
                &placement.host.to_string(),
                "--save",
                "",
                "--appendonly",
                "no",
                "--databases",
                &DATABASES.to_string(),
                "--loglevel",
                "warning",
            ])
            .arg("--dir")
            .arg(&dir);
            if !placement.host.is_loopback() {
                // Protected mode refuses every client not on loopback when there is no password;
                // off a loopback address only the namespace's policy decides who reaches it.
                cmd.args(["--protected-mode", "no"]);
            }
            cmd.stdout(
                std::fs::File::create(dir.join("redis.log"))
                    .map(Stdio::from)
                    .unwrap_or(Stdio::null()),
            )
            .stderr(Stdio::null());
            let child = spawn_tied(cmd, libc::SIGTERM, Some(dir.clone()))?;
            let server = Self {
                placement: placement.clone(),
                port,
                dir: dir.clone(),
                next_db: AtomicU32::new(0),
                child: std::sync::Mutex::new(Some(child)),
            };
            if server
                .placement
                .run(|| server.wait_ready(Duration::from_secs(10)))?
            {
                return Ok(server);
            }
            last_error = std::fs::read_to_string(dir.join("redis.log")).unwrap_or_default();
            server.stop();
        }
        Err(StartError::Failed {
            what: "starting redis-server".into(),
            detail: last_error,
        })
    }

    fn wait_ready(&self, limit: Duration) -> bool {
        let started = Instant::now();
        while started.elapsed() < limit {
            if self.ping() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    fn ping(&self) -> bool {
        let Ok(mut stream) = std::net::TcpStream::connect((self.placement.host, self.port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
        if stream.write_all(b"PING\r\n").is_err() {
            return false;
        }
        let mut buf = [0u8; 7];
        stream.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// A URL to a logical database no other caller of this method has been given.
    pub fn fresh_url(&self) -> String {
        let db = self.next_db.fetch_add(1, Ordering::Relaxed) % DATABASES;
        format!("redis://{}:{}/{db}", self.placement.host, self.port)
    }

    /// The URL of logical database 0.
    pub fn url(&self) -> String {
        format!("redis://{}:{}/0", self.placement.host, self.port)
    }

    pub fn stop(&self) {
        if let Ok(mut guard) = self.child.lock()
            && let Some(mut child) = guard.take()
        {
            stop_pid(child.id(), libc::SIGTERM);
            let _ = child.wait();
            wait_gone(child.id());
            untrack(child.id());
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}
