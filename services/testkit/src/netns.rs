//! Running code and servers inside a named network namespace (`/run/netns/<name>`, as `ip netns
//! add` makes them): [`in_netns`] runs a closure on a thread moved into it, so every socket the
//! closure opens lives there; [`Placement`] tells a store where to listen.

use std::net::IpAddr;

use crate::{StartError, io_err};

/// Where a store listens: on loopback of this process's namespace (the default), or on `host`
/// inside the named network namespace.
#[derive(Clone, Debug)]
pub struct Placement {
    pub host: IpAddr,
    /// A fixed port (inside a namespace of its own the usual port is free); random when `None`.
    pub port: Option<u16>,
    pub netns: Option<String>,
}

impl Default for Placement {
    fn default() -> Self {
        Self {
            host: IpAddr::from([127, 0, 0, 1]),
            port: None,
            netns: None,
        }
    }
}

impl Placement {
    /// `ip netns exec <name>` (the absolute path of `ip` from `PATH`), to go before a command.
    pub(crate) fn exec_prefix(&self) -> Result<Vec<String>, StartError> {
        match &self.netns {
            None => Ok(Vec::new()),
            Some(name) => Ok(vec![
                ip_command()?,
                "netns".into(),
                "exec".into(),
                name.clone(),
            ]),
        }
    }

    /// Runs `f` in this placement's namespace (or right here when it has none).
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> Result<T, StartError> {
        match &self.netns {
            None => Ok(f()),
            Some(name) => in_netns(name, f),
        }
    }
}

/// `tool`'s path, from `PATH` or else the usual system directories (root's `PATH` under sudo
/// may lack the sbin ones).
pub(crate) fn system_tool(tool: &str, package: &str) -> Result<String, StartError> {
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"])
        .map(|dir| std::path::Path::new(dir).join(tool))
        .find(|p| p.is_file())
        .map(|p| p.display().to_string())
        .ok_or_else(|| StartError::Failed {
            what: format!("finding `{tool}`"),
            detail: format!("`{tool}` is not installed: apt-get install -y {package}"),
        })
}

/// The `ip` binary (iproute2).
pub fn ip_command() -> Result<String, StartError> {
    system_tool("ip", "iproute2")
}

/// Runs `f` on a fresh thread that has joined the network namespace `/run/netns/<name>`; the
/// calling thread stays where it is. Sockets keep the namespace they were made in.
pub fn in_netns<T: Send>(name: &str, f: impl FnOnce() -> T + Send) -> Result<T, StartError> {
    use std::os::fd::AsRawFd;
    let path = format!("/run/netns/{name}");
    let file = std::fs::File::open(&path).map_err(io_err("opening the network namespace"))?;
    std::thread::scope(|scope| {
        scope
            .spawn(move || {
                // SAFETY: setns on a descriptor we own; it affects only this thread.
                if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                    return Err(StartError::Failed {
                        what: format!("joining the network namespace {path}"),
                        detail: std::io::Error::last_os_error().to_string(),
                    });
                }
                Ok(f())
            })
            .join()
            .map_err(|_| StartError::Failed {
                what: format!("running code in the network namespace {name}"),
                detail: "the thread panicked".into(),
            })?
    })
}
