//! Child processes tied to our life: each gets a parent-death signal, is spawned from a thread
//! that never exits (the signal follows the spawning thread), and is stopped and its directory
//! removed by an exit hook.

use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};

use crate::{StartError, io_err};

/// A free loopback port, as the kernel hands it out; the caller binds it soon after.
///
/// The kernel may hand a released port out again, and tests in one binary start servers in
/// parallel, so this process never hands out the same port twice: otherwise two platforms could
/// be given one port, and the second server's readiness probe would be answered by the first.
pub fn free_port() -> u16 {
    static HANDED_OUT: OnceLock<Mutex<std::collections::HashSet<u16>>> = OnceLock::new();
    let handed_out = HANDED_OUT.get_or_init(Mutex::default);
    for _ in 0..64 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or(0);
        let mut seen = handed_out.lock().unwrap_or_else(|e| e.into_inner());
        if port != 0 && seen.insert(port) {
            return port;
        }
    }
    0
}

struct Tracked {
    pid: u32,
    stop_signal: i32,
    dir: Option<PathBuf>,
}

fn tracked() -> &'static Mutex<Vec<Tracked>> {
    static TRACKED: OnceLock<Mutex<Vec<Tracked>>> = OnceLock::new();
    TRACKED.get_or_init(|| {
        // SAFETY: registering a plain `extern "C" fn` with no captured state.
        unsafe { libc::atexit(stop_all_at_exit) };
        Mutex::new(Vec::new())
    })
}

extern "C" fn stop_all_at_exit() {
    let Ok(mut all) = tracked().lock() else {
        return;
    };
    for t in all.iter() {
        stop_pid(t.pid, t.stop_signal);
    }
    for t in all.drain(..) {
        wait_gone(t.pid);
        if let Some(dir) = t.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

pub(crate) fn stop_pid(pid: u32, signal: i32) {
    if let Ok(pid) = i32::try_from(pid) {
        // SAFETY: kill(2) with a pid we started; a stale pid only yields ESRCH.
        unsafe { libc::kill(pid, signal) };
    }
}

pub(crate) fn wait_gone(pid: u32) {
    for _ in 0..100 {
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            return;
        }
        // Reap it if it is our child (it is, unless something else already did).
        let mut status = 0;
        // SAFETY: non-blocking waitpid on our own child.
        unsafe { libc::waitpid(pid as i32, &mut status, libc::WNOHANG) };
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

type SpawnJob = (Command, i32, mpsc::Sender<std::io::Result<Child>>);

fn spawner() -> &'static Mutex<mpsc::Sender<SpawnJob>> {
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<SpawnJob>>> = OnceLock::new();
    SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnJob>();
        std::thread::Builder::new()
            .name("testkit-spawner".into())
            .spawn(move || {
                for (mut command, death_signal, reply) in rx {
                    use std::os::unix::process::CommandExt;
                    // SAFETY: prctl is async-signal-safe; it runs between fork and exec.
                    unsafe {
                        command.pre_exec(move || {
                            if libc::prctl(libc::PR_SET_PDEATHSIG, death_signal) != 0 {
                                return Err(std::io::Error::last_os_error());
                            }
                            Ok(())
                        });
                    }
                    let _ = reply.send(command.spawn());
                }
            })
            .ok();
        Mutex::new(tx)
    })
}

/// Spawns `command` so that it gets `death_signal` if we die, and is stopped with the same signal
/// (and `dir` removed) when we exit normally.
pub(crate) fn spawn_tied(
    command: Command,
    death_signal: i32,
    dir: Option<PathBuf>,
) -> Result<Child, StartError> {
    let (reply_tx, reply_rx) = mpsc::channel();
    spawner()
        .lock()
        .map_err(|_| StartError::Failed {
            what: "spawning".into(),
            detail: "spawner lock poisoned".into(),
        })?
        .send((command, death_signal, reply_tx))
        .map_err(|_| StartError::Failed {
            what: "spawning".into(),
            detail: "spawner thread is gone".into(),
        })?;
    let child = reply_rx
        .recv()
        .map_err(|_| StartError::Failed {
            what: "spawning".into(),
            detail: "spawner thread is gone".into(),
        })?
        .map_err(io_err("spawning a server process"))?;
    if let Ok(mut all) = tracked().lock() {
        all.push(Tracked {
            pid: child.id(),
            stop_signal: death_signal,
            dir,
        });
    }
    Ok(child)
}

/// Forgets a process stopped by its owner, so the exit hook does not signal a reused pid.
pub(crate) fn untrack(pid: u32) {
    if let Ok(mut all) = tracked().lock() {
        all.retain(|t| t.pid != pid);
    }
}

/// A fresh directory for one server's files: `<tmp>/storefront-<what>-<pid>-<uuid>`.
pub(crate) fn temp_dir(what: &str) -> Result<PathBuf, StartError> {
    let dir = std::env::temp_dir().join(format!(
        "storefront-{what}-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).map_err(io_err("creating a temp dir"))?;
    Ok(dir)
}

/// Spawns a long-running helper process (a service binary) tied to our life like the stores:
/// it gets `death_signal` if we die and is stopped with it when we exit.
pub fn spawn_tied_process(command: Command, death_signal: i32) -> Result<Child, StartError> {
    spawn_tied(command, death_signal, None)
}

/// Like [`spawn_tied_process`], and `dir` is removed once the process is stopped at exit (for a
/// process whose owner lives in a static and so is never dropped).
pub fn spawn_tied_process_in(
    command: Command,
    death_signal: i32,
    dir: PathBuf,
) -> Result<Child, StartError> {
    spawn_tied(command, death_signal, Some(dir))
}

/// Stops a process started by [`spawn_tied_process`] or [`spawn_tied_process_in`] with `signal`,
/// waits for it to go, and forgets it so the exit hook does not signal a reused pid.
pub fn stop_tied_process(child: &mut Child, signal: i32) {
    stop_pid(child.id(), signal);
    wait_gone(child.id());
    let _ = child.try_wait();
    untrack(child.id());
}
