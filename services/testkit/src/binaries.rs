//! Finding the server binaries, with an error that says how to install them.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
#[error("`{name}` was not found on PATH{extra}; install it with: {install}")]
pub struct MissingBinary {
    pub name: &'static str,
    pub install: &'static str,
    pub extra: String,
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// `initdb`/`postgres` from PATH, else from the newest `/usr/lib/postgresql/<major>/bin`.
pub fn postgres_bin(name: &'static str) -> Result<PathBuf, MissingBinary> {
    if let Some(p) = on_path(name) {
        return Ok(p);
    }
    let mut majors: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin").join(name))
        .filter(|p| p.is_file())
        .collect();
    majors.sort_by_key(|p| {
        p.ancestors()
            .nth(2)
            .and_then(Path::file_name)
            .and_then(|n| n.to_str())
            .and_then(|n| n.parse::<u32>().ok())
            .unwrap_or(0)
    });
    majors.pop().ok_or_else(|| MissingBinary {
        name,
        install: "apt-get install postgresql (Debian/Ubuntu) or brew install postgresql (macOS)",
        extra: " nor in /usr/lib/postgresql/*/bin".into(),
    })
}

pub fn redis_bin() -> Result<PathBuf, MissingBinary> {
    on_path("redis-server").ok_or_else(|| MissingBinary {
        name: "redis-server",
        install: "apt-get install redis-server (Debian/Ubuntu) or brew install redis (macOS)",
        extra: String::new(),
    })
}

/// `rabbitmq-server` from PATH, else Debian's `/usr/lib/rabbitmq/bin`.
pub fn rabbitmq_bin() -> Result<PathBuf, MissingBinary> {
    on_path("rabbitmq-server")
        .filter(|p| !p.starts_with("/usr/sbin"))
        .or_else(|| {
            let debian = PathBuf::from("/usr/lib/rabbitmq/bin/rabbitmq-server");
            debian.is_file().then_some(debian)
        })
        .ok_or_else(|| MissingBinary {
            name: "rabbitmq-server",
            install: "apt-get install rabbitmq-server (Debian/Ubuntu) or brew install rabbitmq (macOS)",
            extra: " nor in /usr/lib/rabbitmq/bin".into(),
        })
}

/// The Erlang port mapper, installed with Erlang (a dependency of `rabbitmq-server`).
pub fn epmd_bin() -> Result<PathBuf, MissingBinary> {
    on_path("epmd")
        .or_else(|| {
            let debian = PathBuf::from("/usr/lib/erlang/bin/epmd");
            debian.is_file().then_some(debian)
        })
        .ok_or_else(|| MissingBinary {
            name: "epmd",
            install: "apt-get install erlang-base (it comes with rabbitmq-server)",
            extra: " nor in /usr/lib/erlang/bin".into(),
        })
}
